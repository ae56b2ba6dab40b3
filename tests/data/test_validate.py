"""The validation engine on real Arrow tables, Parquet and CSV files: counts, samples, splits."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import statistics
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from cycleml.data._validate import RuleResult, ValidationReport, split_failing, validate
from cycleml.errors import InvalidInput, NotFound, ValidationFailed
from cycleml.spec._rules import NotNullRule, RangeRule, ValidationSpec

NOW = dt.datetime(2024, 3, 10, 12, 0, 0)


@pytest.fixture
def people() -> pa.Table:
    """Ten rows with known problems (row numbers are 1-based)."""
    return pa.table(
        {
            "id": [1, 2, 3, 4, 5, 5, 7, 8, 3, None],
            "age": [34, None, 17, 130, -2, 45, None, 60, 0, 120],
            "plan": ["free", "pro", "team", "gold", None, "free", "pro", "free", "Pro", "pro"],
            "email": ["a@x.io", "b@x.io", "bad", "c@x.io", None, "d@x", "e@x.io", "f@x.io",
                      "g@x.io", "a@x.io@"],
            "name": ["Ann", "Bo", "", "Cyd", "Dee", "Ed", "Flo", "Gus", "Héloïse", None],
            "score": [1.5, 2.5, float("nan"), 4.0, 5.0, None, 7.0, 8.0, 9.0, 10.0],
            "ts": pa.array([dt.datetime(2024, 3, d) for d in range(1, 11)], pa.timestamp("us")),
        }
    )  # fmt: skip


def one(data: Any, rule: dict[str, Any], **kwargs: Any) -> RuleResult:
    report = validate(data, [rule], now=NOW, **kwargs)
    assert len(report.results) == 1
    return report.results[0]


def rows(result: RuleResult) -> list[int]:
    return [s["row"] for s in result.samples]


# --- column presence and type -------------------------------------------------------------


def test_column_present_and_typed_passes(people: pa.Table) -> None:
    for column, expected in [("id", "int"), ("age", "number"), ("score", "float"),
                             ("plan", "string"), ("ts", "timestamp")]:  # fmt: skip
        result = one(people, {"rule": "column", "column": column, "type": expected})
        assert result.passed, result.message
        assert result.failing_count == 0
    assert one(people, {"rule": "column", "column": "plan"}).passed


def test_type_families_of_dates_bools_and_decimals() -> None:
    import decimal

    table = pa.table({
        "d": pa.array([dt.date(2024, 1, 1)]), "b": pa.array([True]),
        "m": pa.array([decimal.Decimal("1.50")], pa.decimal128(5, 2)),
        "tz": pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)], pa.timestamp("ms", "UTC")),
        "cat": pa.array(["a"]).dictionary_encode(),
    })  # fmt: skip
    rules = [{"rule": "column", "column": c, "type": t} for c, t in
             [("d", "date"), ("b", "bool"), ("m", "float"), ("tz", "timestamp"),
              ("cat", "string")]]  # fmt: skip
    report = validate(table, rules)
    assert [r.passed for r in report.results] == [True] * 5, [r.message for r in report.results]
    wrong = one(table, {"rule": "column", "column": "d", "type": "timestamp"})
    assert not wrong.passed


def test_wrong_column_type_fails_every_row(people: pa.Table) -> None:
    result = one(people, {"rule": "column", "column": "plan", "type": "int"})
    assert not result.passed
    assert result.failing_count == 10
    assert result.failing_fraction == 1.0
    assert result.message == "Column 'plan' has type VARCHAR, expected int."


def test_cast_rule_fails_only_uncastable_strings() -> None:
    table = pa.table({"raw": ["1", " 2 ", "x", "3.5", None, "-7", "99999999999999999999"]})
    as_int = one(table, {"rule": "column", "column": "raw", "type": "int", "cast": True})
    assert not as_int.passed
    assert as_int.failing_count == 3
    assert as_int.samples == [
        {"row": 3, "value": "x"}, {"row": 4, "value": "3.5"},
        {"row": 7, "value": "99999999999999999999"},
    ]  # fmt: skip
    as_float = one(table, {"rule": "column", "column": "raw", "type": "float", "cast": True})
    assert as_float.failing_count == 1
    assert rows(as_float) == [3]
    dates = pa.table({"d": ["2024-01-31", "2024-02-30", None, "yesterday"]})
    as_date = one(dates, {"rule": "column", "column": "d", "type": "date", "cast": True})
    assert rows(as_date) == [2, 4]


# --- not_null and mostly ------------------------------------------------------------------


def test_not_null_counts_nulls_and_samples_rows(people: pa.Table) -> None:
    result = one(people, {"rule": "not_null", "column": "age"})
    assert not result.passed
    assert result.failing_count == 2
    assert result.failing_fraction == 0.2
    assert result.samples == [{"row": 2, "value": None}, {"row": 7, "value": None}]
    assert result.message == "'age' must not be null; 2 of 10 rows (20.00%) do not."
    assert one(people, {"rule": "not_null", "column": "ts"}).passed


def test_not_null_treats_nan_as_null(people: pa.Table) -> None:
    result = one(people, {"rule": "not_null", "column": "score"})
    assert result.failing_count == 2
    assert rows(result) == [3, 6]


@pytest.mark.parametrize(
    ("nulls", "mostly", "passed"),
    [(5, 0.95, True), (6, 0.95, False), (4, 0.96, True), (5, 0.96, False), (0, 1.0, True),
     (1, 1.0, False), (100, 0.0, True), (43, 0.57, True), (44, 0.57, False)],
)  # fmt: skip
def test_mostly_is_exact_at_the_boundary(nulls: int, mostly: float, passed: bool) -> None:
    table = pa.table({"x": [None] * nulls + list(range(100 - nulls))})
    result = one(table, {"rule": "not_null", "column": "x", "mostly": mostly})
    assert result.passed is passed
    assert result.failing_count == nulls
    assert result.failing_fraction == nulls / 100
    if mostly < 1:
        word = "within" if passed else "more than"
        allowed = round(100 * (1 - mostly))
        assert f"{word} the {allowed} allowed by mostly={mostly:g}" in result.message


# --- unique -------------------------------------------------------------------------------


def test_unique_single_column_reports_repeats_after_the_first(people: pa.Table) -> None:
    result = one(people, {"rule": "unique", "column": "id"})
    assert not result.passed
    assert result.failing_count == 2  # 5 at row 6 repeats row 5; 3 at row 9 repeats row 3
    assert result.failing_fraction == 0.2
    assert result.samples == [
        {"row": 6, "value": 5, "first_row": 5},
        {"row": 9, "value": 3, "first_row": 3},
    ]
    assert one(people, {"rule": "unique", "column": "ts"}).passed


def test_unique_ignores_null_keys() -> None:
    table = pa.table({"k": [None, None, 1, None]})
    assert one(table, {"rule": "unique", "column": "k"}).passed


def test_unique_compound_keys() -> None:
    table = pa.table({"a": [1, 1, 1, 2, 1, 2, None], "b": ["x", "y", "x", "x", "x", "y", "x"]})
    result = one(table, {"rule": "unique", "columns": ["a", "b"]})
    assert result.failing_count == 2
    assert result.samples == [
        {"row": 3, "value": {"a": 1, "b": "x"}, "first_row": 1},
        {"row": 5, "value": {"a": 1, "b": "x"}, "first_row": 1},
    ]
    assert result.columns == ("a", "b")
    assert result.column is None
    assert one(table, {"rule": "unique", "columns": ["a", "b"]}, max_samples=1).samples == [
        {"row": 3, "value": {"a": 1, "b": "x"}, "first_row": 1}
    ]
    assert not one(table, {"rule": "unique", "column": "a"}).passed
    distinct = pa.table({"a": [1, 1], "b": [1, 2]})
    assert one(distinct, {"rule": "unique", "columns": ["a", "b"]}).passed


# --- range, allowed, regex, length ---------------------------------------------------------


def test_range_inclusive_and_nulls_pass(people: pa.Table) -> None:
    result = one(people, {"rule": "range", "column": "age", "min": 0, "max": 120})
    assert result.failing_count == 2
    assert result.samples == [{"row": 4, "value": 130}, {"row": 5, "value": -2}]
    assert result.failing_fraction == 0.2
    exclusive = one(people, {"rule": "range", "column": "age", "min": 0, "max": 120,
                             "min_inclusive": False, "max_inclusive": False})  # fmt: skip
    assert rows(exclusive) == [4, 5, 9, 10]
    assert rows(one(people, {"rule": "range", "column": "age", "min": 18})) == [3, 5, 9]
    assert one(people, {"rule": "range", "column": "age", "min": -5, "max": 200}).passed


def test_range_ignores_nan_and_works_on_timestamps(people: pa.Table) -> None:
    assert rows(one(people, {"rule": "range", "column": "score", "max": 9})) == [10]
    late = one(people, {"rule": "range", "column": "ts", "max": dt.datetime(2024, 3, 8)})
    assert rows(late) == [9, 10]
    early = one(people, {"rule": "range", "column": "ts", "min": "2024-03-09"})
    assert early.failing_count == 8


def test_allowed_values(people: pa.Table) -> None:
    result = one(people, {"rule": "allowed", "column": "plan", "values": ["free", "pro", "team"]})
    assert not result.passed
    assert result.failing_count == 2
    assert result.samples == [{"row": 4, "value": "gold"}, {"row": 9, "value": "Pro"}]
    ints = one(people, {"rule": "allowed", "column": "id", "values": [1, 2, 3, 4, 5]})
    assert rows(ints) == [7, 8]


def test_regex_is_a_full_match_and_nulls_pass(people: pa.Table) -> None:
    result = one(people, {"rule": "regex", "column": "email", "pattern": r"[a-z]+@[a-z]+\.io"})
    assert result.failing_count == 3
    assert result.samples == [
        {"row": 3, "value": "bad"}, {"row": 6, "value": "d@x"}, {"row": 10, "value": "a@x.io@"},
    ]  # fmt: skip
    partial = one(people, {"rule": "regex", "column": "email", "pattern": "@"})
    assert partial.failing_count == 9  # a full match of "@" fails every non-null email
    digits = one(people, {"rule": "regex", "column": "id", "pattern": "[1-4]"})
    assert rows(digits) == [5, 6, 7, 8]


def test_length_in_characters(people: pa.Table) -> None:
    result = one(people, {"rule": "length", "column": "name", "min": 1, "max": 5})
    assert result.samples == [{"row": 3, "value": ""}, {"row": 9, "value": "Héloïse"}]
    assert result.failing_count == 2
    assert one(people, {"rule": "length", "column": "name", "max": 7}).passed


# --- aggregate rules -----------------------------------------------------------------------


def test_row_count(people: pa.Table) -> None:
    ok = one(people, {"rule": "row_count", "min": 10, "max": 10})
    assert ok.passed
    assert ok.observed == {"row_count": 10}
    assert ok.failing_count == 0
    low = one(people, {"rule": "row_count", "min": 11})
    assert not low.passed
    assert low.message == "The data must have at least 11 rows; it has 10."
    assert not one(people, {"rule": "row_count", "max": 9}).passed


def test_freshness_against_a_fixed_now(people: pa.Table) -> None:
    fresh = one(people, {"rule": "freshness", "column": "ts", "max_age": "3d"})
    assert fresh.passed
    assert fresh.observed == {"newest": "2024-03-10T00:00:00+00:00", "age_seconds": 43200.0}
    stale = one(people, {"rule": "freshness", "column": "ts", "max_age": "6h"})
    assert not stale.passed
    assert "12h old" in stale.message
    assert one(people, {"rule": "freshness", "column": "ts", "max_age": 43200}).passed
    assert not one(people, {"rule": "freshness", "column": "ts", "max_age": 43199}).passed
    aware = dt.datetime(2024, 3, 10, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    result = validate(people, [{"rule": "freshness", "column": "ts", "max_age": "12h"}], now=aware)
    assert result.results[0].observed["age_seconds"] == 43200.0
    # now is a TimeLike: ISO-8601 text, ms since the epoch, a date (its midnight, UTC)
    for same in ("2024-03-10T12:00:00Z", 1_710_072_000_000):
        at = validate(people, [{"rule": "freshness", "column": "ts", "max_age": "12h"}], now=same)
        assert at.results[0].observed["age_seconds"] == 43200.0
    midnight = validate(people, [{"rule": "freshness", "column": "ts", "max_age": "1h"}],
                        now=dt.date(2024, 3, 10))  # fmt: skip
    assert midnight.results[0].observed["age_seconds"] == 0.0


def test_freshness_on_tz_aware_and_date_columns_and_nulls() -> None:
    table = pa.table({
        "tz": pa.array([dt.datetime(2024, 3, 10, 10, tzinfo=dt.UTC)], pa.timestamp("us", "UTC")),
        "d": pa.array([dt.date(2024, 3, 9)]),
        "empty": pa.array([None], pa.timestamp("us")),
    })  # fmt: skip
    assert one(table, {"rule": "freshness", "column": "tz", "max_age": "2h"}).passed
    assert not one(table, {"rule": "freshness", "column": "tz", "max_age": "1h"}).passed
    day = one(table, {"rule": "freshness", "column": "d", "max_age": "1d"})
    assert day.observed["age_seconds"] == 36 * 3600
    assert not day.passed
    empty = one(table, {"rule": "freshness", "column": "empty", "max_age": "1d"})
    assert not empty.passed
    assert "it has no values" in empty.message


def test_distribution_bounds_match_numpy() -> None:
    values = [float(v) for v in range(1, 101)] + [None, float("nan")]
    table = pa.table({"x": values})
    clean = np.arange(1, 101, dtype=float)
    rule = {"rule": "distribution", "column": "x", "mean": {"min": 50, "max": 51},
            "std": {"min": 29, "max": 30}, "quantiles": [{"q": 0.5, "min": 50, "max": 51},
                                                         {"q": 0.9, "max": 90}]}  # fmt: skip
    result = one(table, rule)
    assert result.observed["count"] == 100
    assert math.isclose(result.observed["mean"], clean.mean())
    assert math.isclose(result.observed["std"], statistics.stdev(clean))
    assert math.isclose(result.observed["q0.5"], float(np.quantile(clean, 0.5)))
    assert math.isclose(result.observed["q0.9"], float(np.quantile(clean, 0.9)))
    assert not result.passed  # q0.9 = 90.1 > 90
    assert [c["stat"] for c in result.details["checks"] if not c["passed"]] == ["q0.9"]
    assert "out of bounds: q0.9 90.1" in result.message
    assert result.failing_count == 0
    rule["quantiles"] = [{"q": 0.9, "max": 91}]
    assert one(table, rule).passed


def test_distribution_of_an_all_null_column_fails() -> None:
    table = pa.table({"x": pa.array([None, None], pa.float64())})
    result = one(table, {"rule": "distribution", "column": "x", "mean": {"min": 0}})
    assert not result.passed
    assert "mean n/a" in result.message


# --- missing columns, wrong types, errors ---------------------------------------------------


def test_missing_column_fails_the_rule_with_the_columns_listed(people: pa.Table) -> None:
    report = validate(people, [{"rule": "not_null", "column": "agee"},
                               {"rule": "row_count", "min": 1}])  # fmt: skip
    missing = report.results[0]
    assert not missing.passed
    assert missing.message == (
        "Column 'agee' not found; columns are: id, age, plan, email, name, score, ts."
    )
    assert missing.failing_count == 10
    assert report.results[1].passed
    assert report.failed_rules == [missing]


def test_strict_raises_before_scanning(people: pa.Table) -> None:
    with pytest.raises(InvalidInput) as info:
        validate(people, [{"rule": "range", "column": "nope", "min": 1},
                          {"rule": "length", "column": "age", "min": 1}], strict=True)  # fmt: skip
    assert "column 'nope' not found; columns are: id, age" in info.value.message
    assert "length needs a string column; 'age' has type BIGINT" in info.value.message
    assert set(info.value.details["rules"]) == {"range(nope)", "length(age)"}


def test_rules_that_cannot_use_the_column_type_fail(people: pa.Table) -> None:
    assert not one(people, {"rule": "freshness", "column": "plan", "max_age": "1d"}).passed
    bad = one(people, {"rule": "distribution", "column": "plan", "mean": {"min": 1}})
    assert bad.message == "Distribution needs a numeric column; 'plan' has type VARCHAR."


def test_an_expression_duckdb_rejects_fails_only_its_rule(people: pa.Table) -> None:
    report = validate(people, [{"rule": "allowed", "column": "id", "values": ["one", "two"]},
                               {"rule": "not_null", "column": "age"}])  # fmt: skip
    broken, fine = report.results
    assert not broken.passed
    assert broken.message.startswith("The rule cannot be evaluated: Conversion Error")
    assert fine.failing_count == 2


def test_bad_rules_and_arguments_raise_invalid_input(people: pa.Table) -> None:
    with pytest.raises(InvalidInput, match="unknown rule 'nul'"):
        validate(people, [{"rule": "nul", "column": "a"}])
    with pytest.raises(InvalidInput, match="max_samples"):
        validate(people, [], max_samples=-1)
    with pytest.raises(InvalidInput, match="Invalid now 'soon'"):
        validate(people, [], now="soon")
    with pytest.raises(InvalidInput, match="Cannot validate a dict"):
        validate({"a": [1]}, [])  # type: ignore[arg-type]


# --- inputs -------------------------------------------------------------------------------


RULES: list[dict[str, Any]] = [
    {"rule": "not_null", "column": "age"},
    {"rule": "unique", "column": "id"},
    {"rule": "range", "column": "age", "min": 0, "max": 120},
    {"rule": "regex", "column": "email", "pattern": r"[a-z]+@[a-z]+\.io"},
]


def _summary(report: ValidationReport) -> list[tuple[str, int, list[int]]]:
    return [(r.rule, r.failing_count, rows(r)) for r in report.results]


def test_parquet_path_glob_list_and_relation_agree(people: pa.Table, tmp_path: Path) -> None:
    expected = _summary(validate(people, RULES))
    assert expected == [("not_null(age)", 2, [2, 7]), ("unique(id)", 2, [6, 9]),
                        ("range(age)", 2, [4, 5]), ("regex(email)", 3, [3, 6, 10])]  # fmt: skip
    pq.write_table(people, tmp_path / "all.parquet")
    assert _summary(validate(str(tmp_path / "all.parquet"), RULES)) == expected
    assert _summary(validate(tmp_path / "all.parquet", RULES)) == expected
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, (start, stop) in enumerate([(0, 3), (3, 3), (3, 7), (7, 10)]):
        pq.write_table(people.slice(start, stop - start), parts / f"p{i}.parquet")
    assert _summary(validate(str(parts / "*.parquet"), RULES)) == expected
    assert _summary(validate(parts, RULES)) == expected
    files = [parts / f"p{i}.parquet" for i in range(4)]
    assert _summary(validate(files, RULES)) == expected
    relation = duckdb.connect().from_arrow(people)
    assert _summary(validate(relation, RULES)) == expected


def test_csv_path(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("id,age,email\n1,34,a@x.io\n2,,b@x.io\n2,200,bad\n")
    report = validate(path, RULES)
    assert _summary(report) == [("not_null(age)", 1, [2]), ("unique(id)", 1, [3]),
                                ("range(age)", 1, [3]), ("regex(email)", 1, [3])]  # fmt: skip
    assert report.row_count == 3


def test_row_numbers_follow_a_large_csv_file(tmp_path: Path) -> None:
    n = 200_000
    path = tmp_path / "big.csv"
    values = (np.arange(n) * 7919) % 100_003
    path.write_text("v\n" + "\n".join(map(str, values)) + "\n")
    result = one(path, {"rule": "range", "column": "v", "max": 99_990}, max_samples=50)
    expected = np.flatnonzero(values > 99_990) + 1
    assert result.failing_count == expected.size
    assert rows(result) == expected[:50].tolist()


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        validate(tmp_path / "nope.parquet", RULES)
    with pytest.raises(InvalidInput, match="No files match"):
        validate(str(tmp_path / "*.parquet"), RULES)
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InvalidInput, match="Cannot tell the format"):
        validate(tmp_path / "x.json", RULES)
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(InvalidInput, match="Cannot read the data"):
        validate(tmp_path / "broken.parquet", RULES)


def test_empty_data_passes_row_rules() -> None:
    table = pa.table({"age": pa.array([], pa.int64())})
    report = validate(table, [{"rule": "not_null", "column": "age"},
                              {"rule": "row_count", "min": 1}])  # fmt: skip
    assert report.row_count == 0
    assert report.results[0].passed
    assert report.results[0].failing_fraction == 0.0
    assert not report.results[1].passed


# --- the report ---------------------------------------------------------------------------


def test_report_accessors_json_and_fail_policy(people: pa.Table) -> None:
    spec = ValidationSpec.model_validate({"rules": [*RULES, {"rule": "row_count", "min": 1}]})
    report = validate(people, spec, now=NOW)
    assert not report.passed
    assert report.row_count == 10
    assert [r.rule for r in report.failed_rules] == [
        "not_null(age)", "unique(id)", "range(age)", "regex(email)",
    ]  # fmt: skip
    assert report["row_count"].passed
    with pytest.raises(NotFound):
        report["nope"]
    data = json.loads(json.dumps(report.to_dict()))
    assert data["failed_rules"] == [r.rule for r in report.failed_rules]
    assert data["results"][0]["samples"] == [{"row": 2, "value": None}, {"row": 7, "value": None}]
    assert data["results"][2]["details"] == {"column": "age", "mostly": 1.0, "min": 0,
                                             "max": 120, "min_inclusive": True,
                                             "max_inclusive": True}  # fmt: skip
    with pytest.raises(ValidationFailed) as info:
        report.raise_for_failures()
    assert "4 of 5 validation rules failed on 10 rows" in info.value.message
    assert info.value.details["row_count"] == 10
    validate(people, [{"rule": "row_count", "min": 1}]).raise_for_failures()


def test_to_dict_converts_dates_and_nan(people: pa.Table) -> None:
    report = validate(people, [{"rule": "range", "column": "ts", "max": dt.date(2024, 3, 9)},
                               {"rule": "not_null", "column": "score"}], now=NOW)  # fmt: skip
    data = json.loads(json.dumps(report.to_dict()))
    assert data["results"][0]["samples"] == [{"row": 10, "value": "2024-03-10T00:00:00"}]
    assert data["results"][1]["samples"][0] == {"row": 3, "value": "nan"}


def test_summary_renders_status_counts_and_samples(people: pa.Table) -> None:
    report = validate(people, [*RULES, {"rule": "row_count", "min": 1},
                               {"rule": "not_null", "column": "ts"}], now=NOW)  # fmt: skip
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(report.summary())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "Validation: 6 rules, 4 failed, 10 rows" in text
    assert "✗" in text
    assert "✓" in text
    assert "row 2: None" in text
    assert "row 6: 5 (= row 5)" in text
    assert "row_count=10" in text
    assert "20.00%" in text


def test_max_samples_limits_samples(people: pa.Table) -> None:
    result = one(people, {"rule": "regex", "column": "email", "pattern": "x"}, max_samples=2)
    assert result.failing_count == 9
    assert rows(result) == [1, 2]
    none = one(people, {"rule": "regex", "column": "email", "pattern": "x"}, max_samples=0)
    assert none.samples == []
    assert none.failing_count == 9


def test_rule_models_are_accepted(people: pa.Table) -> None:
    report = validate(people, [NotNullRule(column="age"), RangeRule(column="id", max=4)])
    assert [r.failing_count for r in report.results] == [2, 4]


# --- split_failing ------------------------------------------------------------------------


SPLIT_RULES: list[dict[str, Any]] = [
    *RULES,
    {"rule": "row_count", "min": 1000},  # aggregate rules never quarantine rows
    {"rule": "not_null", "column": "name", "mostly": 0.5},  # mostly is ignored
]


def test_split_failing_returns_exactly_the_failing_rows(people: pa.Table) -> None:
    passing, failing = split_failing(people, SPLIT_RULES)
    passed = passing.read_all()
    assert passed.column_names == people.column_names
    assert passed.column("id").to_pylist() == [1, 8]
    assert failing.column("_row").to_pylist() == [2, 3, 4, 5, 6, 7, 9, 10]
    assert failing.column("_rules").to_pylist() == [
        ["not_null(age)"],
        ["regex(email)"],
        ["range(age)"],
        ["range(age)"],
        ["unique(id)", "regex(email)"],
        ["not_null(age)"],
        ["unique(id)"],
        ["regex(email)", "not_null(name)"],
    ]
    assert failing.column_names == [*people.column_names, "_row", "_rules"]
    assert passed.num_rows + failing.num_rows == people.num_rows
    assert failing.column("email").to_pylist()[1] == "bad"


def test_split_failing_on_parquet_streams_passing_rows_in_order(tmp_path: Path) -> None:
    n = 50_000
    seq = np.arange(n)
    table = pa.table({"seq": seq, "v": (seq * 7919) % 1000, "k": seq % 45_000})
    for i, (start, stop) in enumerate([(0, 20_000), (20_000, 50_000)]):
        pq.write_table(table.slice(start, stop - start), tmp_path / f"p{i}.parquet")
    rules = [{"rule": "range", "column": "v", "max": 899}, {"rule": "unique", "column": "k"}]
    passing, failing = split_failing(str(tmp_path / "*.parquet"), rules, batch_size=4096)
    batches = list(passing)
    assert max(b.num_rows for b in batches) <= 4096
    kept = pa.Table.from_batches(batches).column("seq").to_numpy()
    bad = (table.column("v").to_numpy() > 899) | (seq >= 45_000)
    assert np.array_equal(kept, seq[~bad])
    assert np.array_equal(failing.column("_row").to_numpy(), seq[bad] + 1)
    assert kept.size + failing.num_rows == n


def test_split_failing_refuses_missing_columns_and_clashes(people: pa.Table) -> None:
    with pytest.raises(InvalidInput, match="column 'nope' not found"):
        split_failing(people, [{"rule": "not_null", "column": "nope"}])
    clash = people.append_column("_row", pa.array(range(10)))
    with pytest.raises(InvalidInput, match="_row"):
        split_failing(clash, RULES)


def test_split_failing_without_row_rules_keeps_everything(people: pa.Table) -> None:
    passing, failing = split_failing(people, [{"rule": "row_count", "max": 1}])
    assert passing.read_all().num_rows == 10
    assert failing.num_rows == 0
    assert failing.column_names[-2:] == ["_row", "_rules"]


def test_split_failing_quarantines_every_row_of_a_wrongly_typed_column(people: pa.Table) -> None:
    passing, failing = split_failing(people, [{"rule": "column", "column": "plan", "type": "int"}])
    assert passing.read_all().num_rows == 0
    assert failing.num_rows == 10


# --- a million rows ---------------------------------------------------------------------


def test_one_million_rows_from_parquet_with_ten_rules(tmp_path: Path) -> None:
    n = 1_000_000
    path = tmp_path / "big.parquet"
    duckdb.connect().execute(f"""
        COPY (SELECT i AS id,
                     CASE WHEN i % 97 = 0 THEN NULL ELSE (i % 100)::INTEGER END AS age,
                     ['free', 'pro', 'team', 'gold'][1 + (i % 4)::INTEGER] AS plan,
                     'user' || i || CASE WHEN i % 1000 = 0 THEN '' ELSE '@x.io' END AS email,
                     TIMESTAMP '2024-01-01' + to_seconds(i % 86400) AS ts,
                     (i % 1000) / 10.0 AS amount
              FROM range({n}) t(i)) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 100000)
    """)  # fmt: skip
    rules = [
        {"rule": "column", "column": "age", "type": "int"},
        {"rule": "not_null", "column": "age", "mostly": 0.95},
        {"rule": "unique", "column": "id"},
        {"rule": "range", "column": "age", "min": 0, "max": 90},
        {"rule": "allowed", "column": "plan", "values": ["free", "pro", "team"]},
        {"rule": "regex", "column": "email", "pattern": r"user[0-9]+@x\.io"},
        {"rule": "length", "column": "email", "min": 5, "max": 20},
        {"rule": "row_count", "min": n, "max": n},
        {"rule": "freshness", "column": "ts", "max_age": "1d"},
        {"rule": "distribution", "column": "amount", "mean": {"min": 49.9, "max": 50},
         "quantiles": [{"q": 0.5, "min": 49, "max": 51}]},
    ]  # fmt: skip
    report = validate(path, rules, now=dt.datetime(2024, 1, 2))
    ids = np.arange(n)
    nulls = ids % 97 == 0
    ages = ids % 100
    counts = {r.rule: r.failing_count for r in report.results}
    assert counts == {
        "column(age:int)": 0,
        "not_null(age)": int(nulls.sum()),
        "unique(id)": 0,
        "range(age)": int(((ages > 90) & ~nulls).sum()),
        "allowed(plan)": n // 4,
        "regex(email)": n // 1000,
        "length(email)": 0,
        "row_count": 0,
        "freshness(ts)": 0,
        "distribution(amount)": 0,
    }
    assert [r.rule for r in report.failed_rules] == ["range(age)", "allowed(plan)", "regex(email)"]
    assert report["regex(email)"].samples[:2] == [
        {"row": 1, "value": "user0"}, {"row": 1001, "value": "user1000"},
    ]  # fmt: skip
    first_bad_age = int(np.flatnonzero((ages > 90) & ~nulls)[0]) + 1
    assert report["range(age)"].samples[0] == {"row": first_bad_age, "value": 91}
    assert report["distribution(amount)"].observed["mean"] == pytest.approx(49.95)
    assert report.row_count == n
