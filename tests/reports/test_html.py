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
from cycleml.errors import InvalidInput
from cycleml.reports._html import (
    plotly_asset_name,
    render_comparison_html,
    render_profile_html,
    write_html,
)

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
    assert page.count("<script") == 4  # chart data, chart config, plotly.js, the loader
    assert page.count("</script>") == 4
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


# -- the target, id-like columns -----------------------------------------------------------
def _section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match is not None, anchor
    return match.group(1)


def test_the_target_is_reported_as_the_target_not_a_feature(
    cancer_page: tuple[dict[str, Any], str],
) -> None:
    data, page = cancer_page
    overview = _section(page, "overview")
    assert "31 (30 features, 1 target)" in overview
    assert re.search(r"Feature kinds</th><td>numeric: 30<", overview)
    i = next(k for k, c in enumerate(data["columns"]) if c["name"] == "target")
    target = _section(page, f"col-{i}")
    assert '<span class="badge role">target</span>' in target
    assert "target (binary)" in target
    assert "Classes" in target
    for moment in ("Skewness", "Kurtosis", "Mean", "Quantiles"):
        assert f">{moment}<" not in target  # class labels have no moments
    chart = _charts(page)[f"chart-col-{i}"]
    assert chart["layout"]["xaxis"]["type"] == "category"  # one bar per class
    assert chart["data"][0]["y"] == pytest.approx([357 / 569, 212 / 569])
    assert f'<a href="#col-{i}">Target: target</a>' in _nav(page)


def test_id_like_columns_are_named_and_left_out_of_the_heatmaps() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    frame.insert(0, "patient_id", np.arange(1, len(frame) + 1))
    data = profile(pa.Table.from_pandas(frame, preserve_index=False), target="target").to_dict()
    page = render_profile_html(data, title="with ids")
    overview = _section(page, "overview")
    assert "32 (30 features, 1 target, 1 id-like)" in overview
    assert "Id-like columns are left out of the correlations: patient_id." in overview
    assert '<span class="badge role">id</span>' in _section(page, "col-0")
    for key in ("pearson", "spearman"):
        assert "patient_id" not in _charts(page)[f"chart-corr-{key}"]["data"][0]["x"]


def _nav(page: str) -> str:
    match = re.search(r"<nav>(.*?)</nav>", page, re.S)
    assert match is not None
    return match.group(1)


# -- chart chrome: legends and the mode bar ----------------------------------------------------
def _config(page: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="cycleml-chart-config">(.*?)</script>', page
    )
    assert match is not None
    config: dict[str, Any] = json.loads(match.group(1))
    return config


def assert_legends_clear_of_the_mode_bar(page: str) -> None:
    """Every legend sits in one row above the plot at the left; the mode bar is a few buttons
    at the right of the same margin, so the two never overlap (and neither covers data)."""
    config = _config(page)
    assert config["displaylogo"] is False
    [buttons] = config["modeBarButtons"]
    assert buttons == ["toImage", "zoom2d", "pan2d", "resetScale2d"]
    charts = _charts(page)
    assert charts
    for spec in charts.values():
        layout = spec["layout"]
        assert layout["margin"]["t"] >= 30  # the mode bar's row, above the plot area
        if layout.get("showlegend"):
            legend = layout["legend"]
            assert (legend["orientation"], legend["x"], legend["xanchor"]) == ("h", 0, "left")
            assert legend["y"] >= 1
            assert legend["yanchor"] == "bottom"


def test_comparison_legends_clear_of_the_mode_bar(hostile_profile: dict[str, Any]) -> None:
    a = profile(hostile_table(), target="y")
    b = profile(hostile_table(), target="y")
    page = render_comparison_html(compare(a, b).to_dict(), title="a vs b")
    assert any(spec["layout"].get("showlegend") for spec in _charts(page).values())
    assert_legends_clear_of_the_mode_bar(page)
    assert_legends_clear_of_the_mode_bar(render_profile_html(hostile_profile, title="p"))


# -- plotly.js: inline or one shared file -----------------------------------------------------
def test_shared_plotly_js_is_written_once_next_to_the_reports(
    tmp_path: Path, cancer_page: tuple[dict[str, Any], str], hostile_profile: dict[str, Any]
) -> None:
    data, inline = cancer_page
    page = render_profile_html(data, title="Breast cancer", include_plotlyjs="shared")
    assert get_plotlyjs() not in page
    assert len(page.encode()) < 200_000  # the inline page carries 4.8 MB of plotly.js
    assert len(inline.encode()) > len(get_plotlyjs().encode())
    name = plotly_asset_name()
    assert re.fullmatch(r"plotly-\d+\.\d+\.\d+\.min\.js", name)
    # Only a relative reference: nothing is fetched from the network.
    assert re.findall(r'<script[^>]+src="([^"]+)"', page) == [name]
    assert "http" not in re.sub(
        r'<script type="application/json".*?</script>', "", page, flags=re.S
    )

    folder = tmp_path / "reports"
    first = write_html(page, folder / "profile.html")
    asset = folder / name
    assert asset.read_text(encoding="utf-8") == get_plotlyjs()
    written = asset.stat().st_mtime_ns
    other = render_profile_html(hostile_profile, title="other", include_plotlyjs="shared")
    write_html(other, folder / "other.html")
    write_html(page, first)
    assert asset.stat().st_mtime_ns == written  # one copy, written once
    assert sorted(p.name for p in folder.iterdir()) == sorted([name, "other.html", "profile.html"])
    # An inline page writes no asset.
    write_html(inline, tmp_path / "alone" / "profile.html")
    assert [p.name for p in (tmp_path / "alone").iterdir()] == ["profile.html"]


def test_a_shared_page_without_its_asset_says_so(cancer_page: tuple[dict[str, Any], str]) -> None:
    data, inline = cancer_page
    page = render_profile_html(data, title="t", include_plotlyjs="shared")
    assert f"Charts need {plotly_asset_name()} in the folder of this page" in page
    assert "Charts need" not in inline.replace(get_plotlyjs(), "")


def test_an_unknown_include_plotlyjs_is_refused(hostile_profile: dict[str, Any]) -> None:
    with pytest.raises(
        InvalidInput, match=r"Invalid include_plotlyjs 'cdn': expected one of inline, shared"
    ) as caught:
        render_profile_html(hostile_profile, title="t", include_plotlyjs="cdn")  # type: ignore[arg-type]
    assert caught.value.details == {"include_plotlyjs": "cdn"}


def test_numbers_and_headers_do_not_wrap_inside_a_word(
    cancer_page: tuple[dict[str, Any], str],
) -> None:
    _, page = cancer_page
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None
    rules = dict(re.findall(r"^(th|td\.num) \{([^}]*)\}", style.group(1), re.M))
    assert "white-space: nowrap" in rules["td.num"]  # no "0.666" / "7" on two lines
    assert "overflow-wrap: normal" in rules["th"]  # no "Threshol" / "d"
