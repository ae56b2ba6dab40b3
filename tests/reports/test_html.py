"""HTML reports: self-contained, escaped, aggregates only, charts present, atomic writes."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from markupsafe import escape
from plotly.offline import get_plotlyjs
from sklearn.datasets import load_breast_cancer

from cycleml.data._compare import compare
from cycleml.data._profile import profile
from cycleml.reports._html import render_comparison_html, render_profile_html, write_html

HOSTILE = '<script>alert("col")</script>'
HOSTILE_ATTR = '"><img src=x onerror=alert(1)>'
HOSTILE_VALUE = "</script><script>alert('value')</script>"
SENTINEL = "zz_sentinel_7f3a_0042"
ROWS = 300


def hostile_table() -> pa.Table:
    rng = np.random.default_rng(5)
    return pa.table(
        {
            HOSTILE: rng.normal(size=ROWS),
            HOSTILE_ATTR: rng.choice(["a", "b", HOSTILE_VALUE], ROWS),
            "code": [f"zz_sentinel_7f3a_{i:04d}" for i in range(ROWS)],
            "when": pa.array(np.arange(ROWS) * 3_600_000_000, pa.timestamp("us")),
            "flag": rng.random(ROWS) < 0.3,
            "y": rng.integers(0, 2, ROWS),
        }
    )


@pytest.fixture(scope="module")
def hostile_profile() -> dict[str, Any]:
    return profile(hostile_table(), target="y").to_dict()


@pytest.fixture(scope="module")
def hostile_page(hostile_profile: dict[str, Any]) -> str:
    return render_profile_html(hostile_profile, title="<b>report</b> & co")


@pytest.fixture(scope="module")
def cancer_page() -> tuple[dict[str, Any], str]:
    frame = load_breast_cancer(as_frame=True).frame
    data = profile(pa.Table.from_pandas(frame, preserve_index=False), target="target").to_dict()
    return data, render_profile_html(data, title="Breast cancer")


def _charts(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="cycleml-charts">(.*?)</script>', page)
    assert match is not None
    charts: dict[str, Any] = json.loads(match.group(1))
    for spec in charts.values():
        go.Figure(data=spec["data"], layout=spec["layout"])  # raises on an invalid figure
    return charts


def test_every_column_has_a_section_and_a_chart(cancer_page: tuple[dict[str, Any], str]) -> None:
    data, page = cancer_page
    charts = _charts(page)
    referenced = re.findall(r'data-chart="([^"]+)"', page)
    assert set(referenced) == set(charts)
    for i, col in enumerate(data["columns"]):
        assert f'<section id="col-{i}">' in page
        assert escape(col["name"]) in page
        assert charts[f"chart-col-{i}"]["data"][0]["type"] == "bar"
    assert {"chart-corr-pearson", "chart-corr-spearman", "chart-target"} <= set(charts)
    heatmap = charts["chart-corr-pearson"]["data"][0]
    assert heatmap["type"] == "heatmap"
    assert len(heatmap["z"]) == len(data["columns"])
    assert "Rows" in page
    assert "569" in page
    assert "Association with the target" in page


def test_plotly_is_inlined_once(cancer_page: tuple[dict[str, Any], str]) -> None:
    _, page = cancer_page
    bundle = get_plotlyjs()
    assert page.count(bundle) == 1
    assert "cdn.plot.ly" not in page.replace(bundle, "")
    assert not re.search(r'<script[^>]+src=|<link[^>]+href="http', page)  # nothing fetched


def test_hostile_strings_are_escaped(hostile_page: str) -> None:
    bundle = get_plotlyjs()
    page = hostile_page.replace(bundle, "")  # plotly.js is trusted, inspect the rest
    for raw in (HOSTILE, HOSTILE_ATTR, HOSTILE_VALUE, "<b>report</b>"):
        assert raw not in page
    assert escape(HOSTILE) in page
    assert escape(HOSTILE_ATTR) in page
    assert "&lt;b&gt;report&lt;/b&gt; &amp; co" in page
    assert page.count("<script") == 3  # chart data, plotly.js, the lazy loader
    assert page.count("</script>") == 3
    charts = _charts(hostile_page)
    labels = json.dumps(charts)
    assert HOSTILE_VALUE not in labels
    assert html.escape(HOSTILE_VALUE, quote=False) in labels


def test_no_raw_rows_reach_the_page(hostile_profile: dict[str, Any], hostile_page: str) -> None:
    code = next(c for c in hostile_profile["columns"] if c["name"] == "code")
    assert code["top_values"] == []  # every code is unique: not a top value
    assert SENTINEL not in json.dumps(hostile_profile)
    assert SENTINEL not in hostile_page
    assert "zz_sentinel_7f3a_" not in hostile_page


def test_comparison_page(hostile_profile: dict[str, Any]) -> None:
    a = profile(hostile_table(), target="y")
    table = hostile_table().drop_columns(["flag"])
    table = table.set_column(0, HOSTILE, pc.add(table.column(0), 3.0))
    b = profile(table.append_column("new <col>", pa.array(np.ones(ROWS))), target="y")
    data = compare(a, b).to_dict()
    page = render_comparison_html(data, title="v1 → v2")
    assert page.count(get_plotlyjs()) == 1
    stripped = page.replace(get_plotlyjs(), "")
    assert HOSTILE not in stripped
    assert "new <col>" not in stripped
    assert escape("new <col>") in page
    assert escape("flag") in page
    assert 'class="badge alert">mean<' in page
    charts = _charts(page)
    assert set(re.findall(r'data-chart="([^"]+)"', page)) == set(charts)
    numeric = charts["chart-col-0"]
    assert [t["name"] for t in numeric["data"]] == ["a", "b"]
    assert numeric["layout"]["barmode"] == "overlay"


def test_write_html_is_atomic(tmp_path: Path, cancer_page: tuple[dict[str, Any], str]) -> None:
    _, page = cancer_page
    target = tmp_path / "reports" / "profile.html"
    assert write_html(page, target) == target
    assert target.read_text(encoding="utf-8") == page
    assert write_html("<p>second</p>", target) == target
    assert target.read_text(encoding="utf-8") == "<p>second</p>"
    with pytest.raises(UnicodeEncodeError):
        write_html("<p>broken \ud800</p>", target)  # a lone surrogate cannot be encoded
    assert target.read_text(encoding="utf-8") == "<p>second</p>"  # the old page survives
    assert sorted(p.name for p in target.parent.iterdir()) == ["profile.html"]
