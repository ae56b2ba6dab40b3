"""Monitoring HTML report: every section, optional sections, drift order, escaping, size."""

from __future__ import annotations

import copy
import html
import json
import math
import re
import time
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest
from markupsafe import escape
from plotly.offline import get_plotlyjs

from cycleml.errors import InvalidInput
from cycleml.reports import render_monitoring_html, write_html
from cycleml.reports._html import _COLORS

HOSTILE = "<img src=x onerror=alert(1)>"
T0 = 1_795_737_600_000  # epoch ms, 2026-11-27T00:00:00Z
HOUR = 3_600_000
EDGES = [0.0, 1.0, 2.0, 3.0, 4.0]
SECTIONS = {
    "drift": "drift",
    "prediction_drift": "prediction-drift",
    "multivariate": "multivariate",
    "quality": "quality",
    "performance": "performance",
    "estimated_performance": "estimated-performance",
    "fairness": "fairness",
    "history": "history",
    "alerts": "alerts",
}


def numeric_item(name: str, **overrides: Any) -> dict[str, Any]:
    item = {
        "column": name,
        "kind": "numeric",
        "method": "ks",
        "statistic": 0.41,
        "p_value": 0.0001,
        "threshold": 0.05,
        "drifted": True,
        "reference_rows": 1000,
        "current_rows": 250,
        "reference_distribution": {"edges": EDGES, "counts": [100, 400, 400, 100]},
        "current_distribution": {"edges": EDGES, "counts": [10, 40, 100, 100]},
    }
    return item | overrides


def categorical_item(name: str, **overrides: Any) -> dict[str, Any]:
    item = {
        "column": name,
        "kind": "categorical",
        "method": "psi",
        "statistic": 0.31,
        "p_value": None,
        "threshold": 0.1,
        "drifted": True,
        "reference_rows": 1000,
        "current_rows": 250,
        "reference_distribution": {"categories": ["a", "b", HOSTILE], "counts": [500, 300, 200]},
        "current_distribution": {"categories": ["a", "b", HOSTILE], "counts": [50, 100, 100]},
    }
    return item | overrides


def full_report() -> dict[str, Any]:
    windows = [
        {
            "window_start": T0 + i * HOUR,
            "window_end": T0 + (i + 1) * HOUR,
            "rows": 100,
            "labelled": 20 * i,
            "accuracy": 0.9 - 0.05 * i,
            "f1": 0.8 - 0.04 * i,
        }
        for i in range(4)
    ]
    return {
        "generated_at": "2026-11-27T16:30:00Z",
        "monitor": {
            "name": "churn-prod",
            "target": "churned",
            "model": "models:/churn/3",
            "reference_id": "ref_01",
            "window": "1h",
            "checks": ["drift", "quality", "performance", "fairness"],
        },
        "window": {"start": T0, "end": T0 + HOUR, "rows": 250},
        "drift": {
            "share": 0.5,
            "drifted": True,
            "drift_share_threshold": 0.5,
            "number_drifted": 2,
            "correction": "bonferroni",
            "columns": [
                numeric_item("tenure", drifted=False, p_value=0.4, statistic=0.05),
                numeric_item("income"),
                categorical_item("plan"),
                numeric_item(
                    "age",
                    drifted=False,
                    p_value=0.9,
                    statistic=0.01,
                    current_distribution={"edges": EDGES, "counts": [25, 100, 100, 25]},
                ),
            ],
        },
        "prediction_drift": categorical_item(
            "prediction",
            kind="boolean",
            drifted=False,
            statistic=0.02,
            reference_distribution={"categories": ["false", "true"], "counts": [700, 300]},
            current_distribution={"categories": ["false", "true"], "counts": [170, 80]},
        ),
        "multivariate": {
            "method": "domain_classifier",
            "statistic": 0.71,
            "threshold": 0.55,
            "p_value": None,
            "drifted": True,
            "description": "ROC AUC of a classifier telling reference from current rows.",
        },
        "quality": {
            "rows": 250,
            "ok": False,
            "issues": ["income: missing rate rose by 12.0 pp", "plan: 2 unseen categories"],
            "schema": {
                "added": ["promo_code"],
                "removed": ["region"],
                "retyped": [["age", "int64", "double"]],
            },
            "row_count": {
                "rows": 250,
                "expected": 240.0,
                "low": 180.0,
                "high": 300.0,
                "anomalous": False,
            },
            "columns": [
                {
                    "column": "tenure",
                    "kind": "numeric",
                    "reference_missing_rate": 0.0,
                    "current_missing_rate": 0.0,
                    "missing_change": 0.0,
                    "out_of_range": 0.0,
                    "unseen_categories": [],
                    "unseen_share": None,
                    "issues": [],
                },
                {
                    "column": "income",
                    "kind": "numeric",
                    "reference_missing_rate": 0.01,
                    "current_missing_rate": 0.13,
                    "missing_change": 0.12,
                    "out_of_range": 0.04,
                    "unseen_categories": [],
                    "unseen_share": None,
                    "issues": ["missing rate rose by 12.0 pp"],
                },
                {
                    "column": "plan",
                    "kind": "categorical",
                    "reference_missing_rate": 0.0,
                    "current_missing_rate": 0.0,
                    "missing_change": 0.0,
                    "out_of_range": None,
                    "unseen_categories": ["platinum", "zz_unseen_plan"],
                    "unseen_share": 0.03,
                    "issues": ["2 unseen categories"],
                },
            ],
        },
        "performance": {
            "task": "classification",
            "metrics": ["accuracy", "f1"],
            "windows": windows,
            "checks": [
                {
                    "metric": "accuracy",
                    "threshold": 0.8,
                    "direction": "maximize",
                    "window_end": T0 + 4 * HOUR,
                    "value": 0.75,
                    "passed": False,
                    "reason": "accuracy 0.75 < 0.8",
                }
            ],
        },
        "estimated_performance": {
            "method": "CBPE",
            "metrics": {"accuracy": 0.78},
            "assumptions": ["scores are calibrated", "no concept drift"],
            "windows": windows,
        },
        "fairness": {
            "attributes": [
                {
                    "attribute": "gender",
                    "groups": [
                        {
                            "group": "f",
                            "count": 120,
                            "selection_rate": 0.3,
                            "tpr": 0.7,
                            "fpr": 0.1,
                            "precision": 0.6,
                            "accuracy": 0.85,
                        },
                        {
                            "group": "m",
                            "count": 130,
                            "selection_rate": 0.45,
                            "tpr": 0.8,
                            "fpr": 0.2,
                            "precision": 0.65,
                            "accuracy": 0.82,
                        },
                    ],
                    "demographic_parity_difference": 0.15,
                    "demographic_parity_ratio": 0.6667,
                    "equalized_odds_difference": 0.1,
                    "checks": [
                        {
                            "metric": "demographic_parity_ratio",
                            "threshold": 0.8,
                            "value": 0.6667,
                            "passed": False,
                        },
                        {
                            "metric": "equalized_odds_difference",
                            "threshold": 0.2,
                            "value": 0.1,
                            "passed": True,
                        },
                    ],
                }
            ]
        },
        "history": {
            "metrics": {
                "drift.share": [[T0 + i * HOUR, 0.1 * i] for i in range(5)],
                "accuracy": [[T0 + i * HOUR, 0.9 - 0.01 * i] for i in range(5)],
            }
        },
        "alerts": [
            {
                "rule": "accuracy-low",
                "metric": "accuracy",
                "kind": "fired",
                "value": 0.75,
                "threshold": 0.8,
                "time": T0 + 4 * HOUR,
                "severity": "critical",
            },
            {
                "rule": "drift-high",
                "metric": "drift.share",
                "kind": "resolved",
                "value": 0.2,
                "threshold": 0.3,
                "time": T0 + 2 * HOUR,
                "severity": "warning",
            },
        ],
    }


def _charts(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="cycleml-charts">(.*?)</script>', page)
    assert match is not None

    def reject(token: str) -> None:
        raise AssertionError(f"non-standard JSON constant {token}")

    charts: dict[str, Any] = json.loads(match.group(1), parse_constant=reject)
    for spec in charts.values():
        go.Figure(data=spec["data"], layout=spec["layout"])  # raises on an invalid figure
    assert set(re.findall(r'data-chart="([^"]+)"', page)) == set(charts)
    return charts


def _nav(page: str) -> str:
    match = re.search(r"<nav>(.*?)</nav>", page, re.S)
    assert match is not None
    return match.group(1)


def _body(page: str) -> str:
    """The page without plotly.js (trusted, and large)."""
    bundle = get_plotlyjs()
    assert page.count(bundle) == 1
    return page.replace(bundle, "")


@pytest.fixture(scope="module")
def full_page() -> str:
    return render_monitoring_html(full_report(), title="Churn monitor")


def test_every_section_renders(full_page: str) -> None:
    nav = _nav(full_page)
    for anchor in ("summary", *SECTIONS.values()):
        assert f'<section id="{anchor}">' in full_page
        assert f'href="#{anchor}"' in nav
    charts = _charts(full_page)
    assert {f"chart-feature-{i}" for i in range(4)} <= set(charts)
    assert {"chart-prediction", "chart-fairness-0", "chart-performance-rows"} <= set(charts)
    assert {"chart-performance-0", "chart-performance-1", "chart-estimated-0"} <= set(charts)
    assert {"chart-history-0", "chart-history-1"} <= set(charts)
    # Summary badges: dataset drift with its share, quality issues, alerts.
    assert "Dataset drift: yes (50.0% of columns drifted)" in full_page
    assert "Quality: 2 issues" in full_page
    assert "Alerts: 1 fired, 1 resolved" in full_page
    assert "Performance: 1 check failed" in full_page
    assert "Fairness: 1 check failed" in full_page
    assert "models:/churn/3" in full_page
    assert "bonferroni" in full_page
    assert "scores are calibrated" in full_page
    assert "Demographic parity ratio" in full_page
    assert "promo_code" in full_page
    assert "zz_unseen_plan" in full_page
    assert "2026-11-27T01:00:00Z" in full_page  # times shown as ISO 8601


def test_distribution_overlays_compare_as_densities(full_page: str) -> None:
    charts = _charts(full_page)
    numeric = charts["chart-feature-1"]  # income: 1000 reference rows, 250 current rows
    assert [t["name"] for t in numeric["data"]] == ["reference", "current"]
    assert numeric["layout"]["barmode"] == "overlay"
    for trace in numeric["data"]:
        assert trace["type"] == "bar"
        widths = trace["width"] if isinstance(trace["width"], list) else [trace["width"]] * 4
        area = sum(y * w for y, w in zip(trace["y"], widths, strict=True))
        assert area == pytest.approx(1.0, rel=1e-5)
    assert numeric["data"][0]["x"] == [0.5, 1.5, 2.5, 3.5]
    categorical = charts["chart-feature-2"]
    assert categorical["layout"]["barmode"] == "group"
    for trace in categorical["data"]:
        assert sum(trace["y"]) == pytest.approx(1.0, rel=1e-5)
    assert categorical["data"][0]["y"] == pytest.approx([0.5, 0.3, 0.2])


def test_performance_and_history_charts(full_page: str) -> None:
    charts = _charts(full_page)
    accuracy = charts["chart-performance-0"]
    assert accuracy["data"][0]["x"][:2] == ["2026-11-27T01:00:00Z", "2026-11-27T02:00:00Z"]
    assert [s["y0"] for s in accuracy["layout"]["shapes"]] == [0.8]
    assert charts["chart-performance-1"]["layout"]["shapes"] == []  # no check on f1
    rows, labelled = charts["chart-performance-rows"]["data"]
    assert (rows["name"], labelled["name"]) == ("rows", "labelled")
    assert rows["y"] == [100, 100, 100, 100]
    assert labelled["y"] == [0, 20, 40, 60]
    estimated = charts["chart-estimated-0"]["data"]
    assert [t["name"] for t in estimated] == ["estimated accuracy", "realized accuracy"]
    history = charts["chart-history-0"]["data"][0]
    assert all(isinstance(x, str) and x.endswith("Z") for x in history["x"])
    assert history["y"] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    fairness = charts["chart-fairness-0"]["data"]
    assert [t["name"] for t in fairness] == ["selection rate", "TPR", "FPR"]
    assert fairness[0]["x"] == ["f", "m"]


@pytest.mark.parametrize("key", list(SECTIONS))
@pytest.mark.parametrize("absent", ["missing", "none"])
def test_an_absent_section_is_left_out(key: str, absent: str) -> None:
    report = full_report()
    if absent == "missing":
        del report[key]
    else:
        report[key] = None
    page = render_monitoring_html(report, title="t")
    anchor = SECTIONS[key]
    assert f'<section id="{anchor}">' not in page
    assert f'href="#{anchor}"' not in _nav(page)
    for other_key, other in SECTIONS.items():
        if other_key != key:
            assert f'<section id="{other}">' in page
    _charts(page)


def test_an_empty_report_has_only_a_summary() -> None:
    page = render_monitoring_html({}, title="empty")
    body = _body(page)
    assert re.findall(r'<section id="([^"]+)">', body) == ["summary"]
    assert re.findall(r'href="#([^"]+)"', _nav(page)) == ["summary"]
    assert _charts(page) == {}
    assert "No checks in this report." in page


def test_drift_table_is_sorted_by_score() -> None:
    columns = [
        numeric_item("a_p03", p_value=0.03),  # drifted, score 0.05 / 0.03
        numeric_item("b_p001", p_value=0.001),  # drifted, score 50
        categorical_item("c_psi", statistic=0.3),  # drifted distance, score 3
        categorical_item("d_psi_ok", statistic=0.05, drifted=False),  # score 0.5
        numeric_item("e_p5", p_value=0.5, drifted=False),  # score 0.1
        numeric_item("f_p0", p_value=0.0, statistic=0.9),  # drifted, score inf
        numeric_item("g_p0", p_value=0.0, statistic=0.95),  # ties with f: larger statistic
        numeric_item("h_nan", statistic=math.nan, p_value=None, drifted=False),  # unknown
        numeric_item("i_p04", p_value=0.4, drifted=False),  # score 0.125
    ]
    report = {
        "drift": {"share": 0.5, "drifted": True, "drift_share_threshold": 0.5, "columns": columns}
    }
    page = render_monitoring_html(report, title="order")
    table = re.search(r'<section id="drift">(.*?)</section>', page, re.S)
    assert table is not None
    names = re.findall(r'<td><a href="#feature-\d+">([^<]+)</a></td>', table.group(1))
    expected = ["g_p0", "f_p0", "b_p001", "c_psi", "a_p03", "d_psi_ok", "i_p04", "e_p5", "h_nan"]
    assert names == expected
    nav_names = re.findall(r'<a href="#feature-\d+"[^>]*>([^<]+)</a>', _nav(page))
    assert nav_names == expected
    # Each row links to its column's section (anchors follow the input position).
    assert '<a href="#feature-6">g_p0</a>' in page
    assert '<section id="feature-6">' in page
    assert re.findall(r'class="changed">([^<]+)<', _nav(page)) == expected[:5]


def test_hostile_strings_are_escaped() -> None:
    report = full_report()
    report["monitor"]["name"] = HOSTILE
    report["drift"]["columns"].append(numeric_item(HOSTILE))
    report["fairness"]["attributes"][0]["groups"][0]["group"] = HOSTILE
    report["fairness"]["attributes"][0]["attribute"] = HOSTILE
    report["history"]["metrics"][HOSTILE] = [[T0, 1.0]]
    report["alerts"][0]["rule"] = HOSTILE
    report["quality"]["issues"].append(HOSTILE)
    report["estimated_performance"]["assumptions"].append(HOSTILE)
    page = render_monitoring_html(report, title=HOSTILE)
    body = _body(page)
    assert HOSTILE not in body
    assert body.count(str(escape(HOSTILE))) >= 10
    assert body.count("<script") == 4  # chart data, chart config, plotly.js, the loader
    assert body.count("</script>") == 4
    assert "<img" not in body
    charts = _charts(page)
    blob = json.dumps(charts, ensure_ascii=False)
    assert HOSTILE not in blob
    label = html.escape(HOSTILE, quote=False)
    assert charts["chart-feature-4"]["layout"]["xaxis"]["title"]["text"] == label
    assert charts["chart-feature-2"]["data"][0]["x"][2] == label  # a category
    assert charts["chart-fairness-0"]["data"][0]["x"][0] == label  # a group
    assert charts["chart-history-2"]["data"][0]["name"] == label  # a metric name


def test_nan_inf_and_none_render_as_dashes() -> None:
    report = full_report()
    column = report["drift"]["columns"][1]
    column |= {"statistic": math.nan, "p_value": None, "threshold": math.inf}
    column["current_distribution"] = {
        "edges": [-math.inf, 1.0, 2.0, 3.0, math.inf],
        "counts": [1, 2, 3, 4],
    }
    report["drift"]["share"] = math.nan
    report["performance"]["windows"][1]["accuracy"] = None
    report["performance"]["windows"][2]["accuracy"] = math.nan
    report["fairness"]["attributes"][0]["groups"][0]["tpr"] = None
    report["fairness"]["attributes"][0]["groups"][1]["fpr"] = math.inf
    report["history"]["metrics"]["drift.share"][0][1] = math.nan
    report["history"]["metrics"]["drift.share"][1][1] = None
    report["alerts"][0]["value"] = math.nan
    report["estimated_performance"]["metrics"]["accuracy"] = -math.inf
    page = render_monitoring_html(report, title="non-finite values")
    body = _body(page)
    assert not re.search(r"\b(nan|NaN|inf|Infinity)\b", body)
    assert "Dataset drift: yes (— of columns drifted)" in page
    section = re.search(r'<section id="feature-1">(.*?)</section>', page, re.S)
    assert section is not None
    assert section.group(1).count('<td class="num">—</td>') == 3  # statistic, p-value, threshold
    charts = _charts(page)
    assert charts["chart-performance-0"]["data"][0]["y"][1:3] == [None, None]
    assert charts["chart-history-0"]["data"][0]["y"][:2] == [None, None]
    assert charts["chart-fairness-0"]["data"][1]["y"][0] is None
    assert charts["chart-fairness-0"]["data"][2]["y"][1] is None
    current = charts["chart-feature-1"]["data"][1]
    assert all(math.isfinite(x) for x in current["x"])  # open outer bins closed for drawing


def test_chart_json_is_compact() -> None:
    report = full_report()
    report["drift"]["columns"][1]["reference_distribution"]["edges"] = [
        0.0,
        1 / 3,
        2 / 3,
        1.0,
        4 / 3,
    ]
    page = render_monitoring_html(report, title="compact")
    blob = re.search(r'id="cycleml-charts">(.*?)</script>', page)
    assert blob is not None
    assert not re.search(r"\d\.\d{7,}", blob.group(1))  # at most 6 significant digits
    assert ", " not in blob.group(1)[:2000]  # no whitespace padding
    assert _charts(page)["chart-feature-1"]["data"][0]["x"][0] == 0.166667


def test_three_hundred_drifted_columns_open_fast() -> None:
    columns = [
        numeric_item(f"feature_{i:03d}", p_value=10.0 ** -(i % 12 + 2), statistic=0.1 + i / 1000)
        if i % 2
        else categorical_item(f"feature_{i:03d}", statistic=0.2 + i / 1000)
        for i in range(300)
    ]
    for col in columns[1::2]:
        edges = [float(e) for e in range(21)]
        col["reference_distribution"] = {"edges": edges, "counts": list(range(100, 120))}
        col["current_distribution"] = {"edges": edges, "counts": list(range(20, 0, -1))}
    report = copy.deepcopy(full_report())
    report["drift"] |= {"columns": columns, "number_drifted": 300, "share": 1.0}
    start = time.perf_counter()
    page = render_monitoring_html(report, title="wide")
    elapsed = time.perf_counter() - start
    body = _body(page)
    assert elapsed < 2.0
    assert len(body.encode()) < 1_000_000  # everything but plotly.js
    assert len(page.encode()) < len(get_plotlyjs().encode()) + 1_000_000
    charts = _charts(page)
    assert sum(k.startswith("chart-feature-") for k in charts) == 300
    assert body.count('<section id="feature-') == 300


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must be a mapping"):
        render_monitoring_html([], title="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="'drift' section must be a mapping"):
        render_monitoring_html({"drift": [1, 2]}, title="x")
    with pytest.raises(InvalidInput, match="'alerts' section must be a list"):
        render_monitoring_html({"alerts": {"rule": "r"}}, title="x")


def test_write_html_writes_the_page(tmp_path: Path, full_page: str) -> None:
    target = tmp_path / "monitoring" / "report.html"
    assert write_html(full_page, target) == target
    assert target.read_text(encoding="utf-8") == full_page


def test_datetime_distributions_use_a_date_axis() -> None:
    edges = ["2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00", "2026-01-04T00:00:00+00:00"]
    item = numeric_item(
        "signup",
        kind="datetime",
        reference_distribution={"edges": edges, "counts": [10, 30]},
        current_distribution={"edges": edges, "counts": [5, 5]},
    )
    page = render_monitoring_html({"prediction_drift": item}, title="dates")
    chart = _charts(page)["chart-prediction"]
    assert chart["layout"]["xaxis"]["type"] == "date"
    reference = chart["data"][0]
    assert reference["x"][0].startswith("2026-01-01T12:00:00")
    assert reference["y"] == pytest.approx([0.25, 0.375])  # density per day


def test_performance_windows_given_as_iso_strings_and_unjudged_checks() -> None:
    # cycleml.monitoring.performance(...).to_dict() writes window times as ISO strings and
    # leaves a window with too few labels unjudged (passed None).
    report = {
        "performance": {
            "task": "binary",
            "metrics": ["accuracy"],
            "windows": [
                {"window_start": "2026-11-20T00:00:00+00:00",
                 "window_end": "2026-11-21T00:00:00+00:00", "rows": 10, "labelled": 10,
                 "accuracy": 0.9},
                {"window_start": "2026-11-21T00:00:00+00:00",
                 "window_end": "2026-11-22T00:00:00+00:00", "rows": 10, "labelled": 0,
                 "accuracy": None},
            ],
            "checks": [
                {"metric": "accuracy", "threshold": 0.8, "direction": "maximize",
                 "window_end": "2026-11-22T00:00:00+00:00", "value": None, "passed": None,
                 "reason": "not judged"},
            ],
        }
    }  # fmt: skip
    page = render_monitoring_html(report, title="t")
    chart = _charts(page)["chart-performance-0"]
    assert chart["data"][0]["x"] == ["2026-11-21T00:00:00Z", "2026-11-22T00:00:00Z"]
    assert "not judged" in page
    assert "Performance: checks passed" in page  # an unjudged check is not a failure


# -- the summary: a deployment's models ----------------------------------------------------
def _summary(page: str) -> dict[str, list[str]]:
    section = re.search(r'<section id="summary">(.*?)</section>', page, re.S)
    assert section is not None
    rows = re.findall(r"<tr><th>([^<]+)</th><td>(.*?)</td></tr>", section.group(1), re.S)
    return {label: re.findall(r"<div>(.*?)</div>", cell) for label, cell in rows}


def test_a_deployment_monitor_shows_its_models_and_their_shares() -> None:
    report = full_report()
    report["monitor"] |= {
        "model": None,
        "deployment_revision": 4,
        "models": [
            {"model": "models:/churn/2", "role": "primary", "share": 0.8},
            {"model": "models:/churn/3", "role": "canary", "share": 0.2},
            {"model": "models:/churn/4", "role": "shadow", "share": 0.0},
        ],
    }
    report["window"]["models"] = [
        {"model": "models:/churn/2", "arm": "primary", "rows": 200},
        {"model": "models:/churn/3", "arm": "canary", "rows": 50},
    ]
    summary = _summary(render_monitoring_html(report, title="t"))
    assert summary["Deployment"] == ["churned (revision 4)"]
    assert summary["Models"] == [
        "models:/churn/2 (primary, answers 80% of requests)",
        "models:/churn/3 (canary, answers 20% of requests)",
        "models:/churn/4 (shadow: scores a copy of every request)",
    ]
    assert summary["Rows by model"] == [
        "models:/churn/2 (primary): 200 rows",
        "models:/churn/3 (canary): 50 rows",
    ]
    assert "Model" not in summary
    # A model monitor keeps its one model.
    assert _summary(render_monitoring_html(full_report(), title="t"))["Model"] == [
        "models:/churn/3"
    ]


# -- alerts: the rule, as ``cycleml monitor alerts`` shows it -----------------------------------
def test_alert_rows_name_the_rule_and_its_condition() -> None:
    report = full_report()
    stored = {  # an AlertEventRecord.to_dict(), as Monitors.report() passes it
        "id": "e1", "monitor_name": "churn-prod", "rule_name": "feature-drift",
        "kind": "fired", "metric": "drift.share", "value": 0.93, "threshold": 0.3,
        "severity": "critical", "time": T0 + 3 * HOUR,
        "details": {"operator": ">=", "for_windows": 2, "window_end": T0 + 3 * HOUR},
    }  # fmt: skip
    report["alerts"] = [stored]
    report["monitor"]["rules"] = [
        {"name": "feature-drift", "metric": "drift.share", "operator": ">=", "threshold": 0.3,
         "for_windows": 2, "notify": ["ops", "retrain"], "severity": "critical"},
        {"name": "accuracy-drop", "metric": "performance.accuracy", "operator": "<",
         "threshold": 0.9, "for_windows": 1, "notify": ["ops"], "severity": "warning"},
    ]  # fmt: skip
    page = render_monitoring_html(report, title="t")
    section = re.search(r'<section id="alerts">(.*?)</section>', page, re.S)
    assert section is not None
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", section.group(1))
    assert rows[0] == ("2026-11-27T03:00:00Z", "feature-drift", "drift.share ≥ 0.3 for 2 windows")
    assert ("feature-drift", "drift.share ≥ 0.3 for 2 windows", "critical") in rows
    assert ("accuracy-drop", "performance.accuracy &lt; 0.9", "warning") in rows
    # The rule is drawn on its metric's chart, and the alert where it fired.
    drift = next(
        spec for spec in _charts(page).values()
        if any(t.get("name") == "alert fired" for t in spec["data"])
    )  # fmt: skip
    labels = [s["label"]["text"] for s in drift["layout"]["shapes"]]
    assert labels == ["dataset drift at 50%", "alert feature-drift: ≥ 30%"]


# -- time: open windows, gaps, axes ------------------------------------------------------------
def _window(i: int, **values: Any) -> dict[str, Any]:
    return {"window_start": T0 + i * HOUR, "window_end": T0 + (i + 1) * HOUR, "rows": 100,
            "labelled": 100, **values}  # fmt: skip


def test_an_open_window_ends_now_not_in_the_future() -> None:
    report = {
        "performance": {
            "task": "binary", "window": "1h", "metrics": ["accuracy"],
            "windows": [
                _window(0, accuracy=0.9),
                _window(1, accuracy=0.8) | {"window_end": "2026-11-27T01:40:00+00:00",
                                            "partial": True},
            ],
            "checks": [],
        }
    }  # fmt: skip
    page = render_monitoring_html(report, title="t")
    section = re.search(r'<section id="performance">(.*?)</section>', page, re.S)
    assert section is not None
    assert '<td>2026-11-27T01:40:00Z <span class="badge">open</span></td>' in section.group(1)
    assert "The newest window is still open" in section.group(1)
    chart = _charts(page)["chart-performance-0"]
    assert chart["data"][0]["x"][-1] == "2026-11-27T01:40:00Z"


def test_lines_break_at_missing_windows() -> None:
    windows = [_window(i, accuracy=0.9 - i / 100) for i in (0, 1, 4, 5)]  # hours 2, 3: no rows
    history = {
        "drift.share": [[T0 + (i + 1) * HOUR, 0.1 * i] for i in (0, 1, 4, 5)],
        "quality.rows": [[T0 + (i + 1) * HOUR, 100.0] for i in (0, 1, 4, 5)],
    }
    report = {
        "monitor": {"name": "m", "window": "1h", "window_ms": HOUR},
        "performance": {"task": "binary", "window": "1h", "metrics": ["accuracy"],
                        "windows": windows, "checks": []},
        "history": {"metrics": history},
    }  # fmt: skip
    charts = _charts(render_monitoring_html(report, title="t"))
    accuracy = charts["chart-performance-0"]["data"][0]
    assert accuracy["y"] == [0.9, 0.89, None, 0.86, 0.85]
    assert accuracy["x"][2] == "2026-11-27T04:00:00Z"  # the missing hours, as a break
    drift = charts["chart-history-0"]["data"][0]
    assert drift["y"] == [0.0, 0.1, None, 0.4, 0.5]
    lines = [t for spec in charts.values() for t in spec["data"] if t["type"] == "scatter"]
    assert lines
    assert all(t["connectgaps"] is False for t in lines if "lines" in t["mode"])
    rows = charts["chart-history-1"]["data"][0]  # bars: a missing window has no bar
    assert rows["type"] == "bar"
    assert len(rows["x"]) == 4


def test_history_charts_say_something_the_performance_section_does_not() -> None:
    report = full_report()
    report["monitor"] |= {"window_ms": HOUR}
    report["history"] = {"metrics": {
        "drift.share": [[T0 + i * HOUR, 0.1 * i] for i in range(1, 5)],
        "drift.number_drifted": [[T0 + i * HOUR, float(i)] for i in range(1, 5)],
        "prediction_drift.statistic": [[T0 + i * HOUR, 0.1 * i] for i in range(1, 5)],
        "prediction_drift.drifted": [[T0 + i * HOUR, float(i > 2)] for i in range(1, 5)],
        "quality.rows": [[T0 + i * HOUR, 100.0] for i in range(1, 5)],
        "quality.issues": [[T0 + i * HOUR, float(i == 3)] for i in range(1, 5)],
        "performance.precision": [[T0 + i * HOUR, 1.0] for i in range(1, 5)],
        "performance.labelled": [[T0 + i * HOUR, 300.0] for i in range(1, 5)],
    }}  # fmt: skip
    page = render_monitoring_html(report, title="t")
    section = re.search(r'<section id="history">(.*?)</section>', page, re.S)
    assert section is not None
    titles = re.findall(r"<h4>([^<]+) <span", section.group(1))
    # Performance is drawn (with late labels) in its own section; a flat count is not a chart.
    assert titles == ["Drifted columns", "Prediction drift", "Rows and data quality"]
    charts = _charts(page)
    drift, prediction, rows = (charts[f"chart-history-{i}"] for i in range(3))
    assert drift["layout"]["yaxis"] == {"range": [0, 1.05], "tickformat": ".0%"}
    assert "3 of" not in drift["data"][0]["text"][2]  # no column total in this report
    assert drift["data"][0]["text"][2].endswith("3 columns drifted")
    warn, plain = "#b5561b", _COLORS[0]
    assert prediction["data"][0]["marker"]["color"] == [plain, plain, warn, warn]
    assert rows["layout"]["yaxis"]["tickformat"] == ",d"
    assert rows["layout"]["yaxis"]["rangemode"] == "tozero"
    assert rows["data"][0]["marker"]["color"][2] == warn  # the window with an issue


def test_metric_axes_fit_the_metric() -> None:
    windows = [_window(i, precision=1.0, accuracy=0.93 + i / 100, log_loss=0.2) for i in range(4)]
    report = {"performance": {
        "task": "binary", "window": "1h", "metrics": ["precision", "accuracy", "log_loss"],
        "windows": windows,
        "checks": [{"metric": "accuracy", "threshold": 0.9, "direction": "maximize",
                    "window_end": T0 + HOUR, "value": 0.93, "passed": True}],
    }}  # fmt: skip
    charts = _charts(render_monitoring_html(report, title="t"))
    precision, accuracy, loss = (charts[f"chart-performance-{i}"] for i in range(3))
    low, high = precision["layout"]["yaxis"]["range"]
    assert 0.9 < low < 1.0
    assert high == 1.0  # a flat precision of 1 is not drawn on a 0-2 scale
    assert precision["layout"]["yaxis"]["tickformat"] == ".3~f"
    low, high = accuracy["layout"]["yaxis"]["range"]
    assert low < 0.9 < 0.96 < high <= 1.0  # the threshold line is in view
    low, high = loss["layout"]["yaxis"]["range"]
    assert 0.0 <= low < 0.2 < high
    assert "tickformat" not in loss["layout"]["yaxis"]  # unbounded: plotly's own ticks
    for spec in (precision, accuracy, loss):
        assert spec["layout"]["xaxis"]["title"]["text"] == "window end (UTC)"


# -- chart chrome and size ---------------------------------------------------------------------
def test_legends_sit_clear_of_the_mode_bar(full_page: str) -> None:
    match = re.search(r'id="cycleml-chart-config">(.*?)</script>', full_page)
    assert match is not None
    config = json.loads(match.group(1))
    assert config["modeBarButtons"] == [["toImage", "zoom2d", "pan2d", "resetScale2d"]]
    charts = _charts(full_page)
    legends = [spec["layout"] for spec in charts.values() if spec["layout"].get("showlegend")]
    assert len(legends) >= 5  # distributions, fairness, estimated, rows and labels
    for layout in (spec["layout"] for spec in charts.values()):
        assert layout["margin"]["t"] >= 30
    for layout in legends:
        legend = layout["legend"]
        assert (legend["orientation"], legend["x"], legend["xanchor"]) == ("h", 0, "left")
        assert (legend["y"] >= 1, legend["yanchor"]) == (True, "bottom")


def test_a_shared_report_is_small_and_loads_plotly_from_beside_it(tmp_path: Path) -> None:
    page = render_monitoring_html(full_report(), title="t", include_plotlyjs="shared")
    assert get_plotlyjs() not in page
    assert len(page.encode()) < 150_000
    path = write_html(page, tmp_path / "monitoring.html")
    [src] = re.findall(r'<script[^>]+src="([^"]+)"', page)
    assert (path.parent / src).read_text(encoding="utf-8") == get_plotlyjs()
    with pytest.raises(InvalidInput, match="include_plotlyjs"):
        render_monitoring_html(full_report(), title="t", include_plotlyjs="cdn")  # type: ignore[arg-type]
