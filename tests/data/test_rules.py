"""Validation rule models: parsing, derived names, durations, and errors naming the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from cycleml.errors import InvalidInput
from cycleml.spec._rules import (
    AGGREGATE_RULES,
    ROW_LEVEL_RULES,
    RULE_KINDS,
    AllowedRule,
    Bounds,
    ColumnRule,
    DistributionRule,
    FreshnessRule,
    LengthRule,
    NotNullRule,
    QuantileBounds,
    RangeRule,
    RegexRule,
    RowCountRule,
    UniqueRule,
    ValidationSpec,
    bounds_text,
    format_duration,
    parse_duration,
    parse_rules,
)

ONE_OF_EACH: list[dict[str, Any]] = [
    {"rule": "column", "column": "age", "type": "int"},
    {"rule": "not_null", "column": "age", "mostly": 0.99},
    {"rule": "unique", "columns": ["customer_id", "day"]},
    {"rule": "range", "column": "age", "min": 0, "max": 120, "max_inclusive": False},
    {"rule": "allowed", "column": "plan", "values": ["free", "pro"]},
    {"rule": "regex", "column": "email", "pattern": "[^@]+@[^@]+"},
    {"rule": "length", "column": "name", "min": 1, "max": 80},
    {"rule": "row_count", "min": 1000},
    {"rule": "freshness", "column": "event_time", "max_age": "2d"},
    {
        "rule": "distribution",
        "column": "amount",
        "mean": {"min": 10, "max": 20},
        "std": {"max": 5},
        "quantiles": [{"q": 0.5, "min": 10, "max": 20}],
    },
]


def _error(items: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        parse_rules(items)
    return info.value


def test_one_rule_of_each_kind_parses_with_derived_names() -> None:
    rules = parse_rules(ONE_OF_EACH)
    assert [type(r) for r in rules] == [
        ColumnRule, NotNullRule, UniqueRule, RangeRule, AllowedRule, RegexRule, LengthRule,
        RowCountRule, FreshnessRule, DistributionRule,
    ]  # fmt: skip
    assert [r.name for r in rules] == [
        "column(age:int)", "not_null(age)", "unique(customer_id,day)", "range(age)",
        "allowed(plan)", "regex(email)", "length(name)", "row_count", "freshness(event_time)",
        "distribution(amount)",
    ]  # fmt: skip
    assert [r.kind for r in rules] == list(RULE_KINDS)
    not_null, unique, range_ = rules[1], rules[2], rules[3]
    assert isinstance(not_null, NotNullRule)
    assert not_null.mostly == 0.99
    assert unique.column_names == ("customer_id", "day")
    assert isinstance(range_, RangeRule)
    assert (range_.min, range_.max, range_.min_inclusive, range_.max_inclusive) == (
        0, 120, True, False,
    )  # fmt: skip
    fresh = rules[8]
    assert isinstance(fresh, FreshnessRule)
    assert fresh.max_age == dt.timedelta(days=2)
    dist = rules[9]
    assert isinstance(dist, DistributionRule)
    assert [s for s, _ in dist.bounded_stats()] == ["mean", "std", "q0.5"]


def test_explicit_name_wins_and_defaults_apply() -> None:
    (rule,) = parse_rules([{"rule": "not_null", "column": "age", "name": "age present"}])
    assert rule.name == "age present"
    assert isinstance(rule, NotNullRule)
    assert rule.mostly == 1.0
    assert NotNullRule(column="age").name == "not_null(age)"
    assert ColumnRule(column="x").name == "column(x)"


def test_rule_kinds_split_into_row_level_and_aggregate() -> None:
    assert set(ROW_LEVEL_RULES) == {
        "column", "not_null", "unique", "range", "allowed", "regex", "length"
    }  # fmt: skip
    assert set(AGGREGATE_RULES) == {"row_count", "freshness", "distribution"}
    assert RowCountRule(min=1).row_level is False
    assert RangeRule(column="a", min=1).row_level is True


def test_rules_are_frozen() -> None:
    rule = NotNullRule(column="age")
    with pytest.raises(ValidationError):
        rule.column = "other"  # type: ignore[misc]


def test_unique_accepts_a_single_column_and_refuses_both_forms() -> None:
    (rule,) = parse_rules([{"rule": "unique", "column": "id"}])
    assert isinstance(rule, UniqueRule)
    assert rule.columns == ["id"]
    assert rule.name == "unique(id)"
    err = _error([{"rule": "unique", "column": "id", "columns": ["a"]}])
    assert err.details["field"] == "rules[0].column"
    err = _error([{"rule": "unique", "columns": ["a", "a"]}])
    assert err.details["field"] == "rules[0].columns[1]"
    assert "listed twice" in err.message


def test_unknown_rule_lists_every_valid_rule_and_suggests() -> None:
    err = _error([{"rule": "not_nul", "column": "a"}])
    assert err.details["field"] == "rules[0].rule"
    assert err.details["valid"] == list(RULE_KINDS)
    assert "unknown rule 'not_nul'" in err.message
    assert "did you mean 'not_null'?" in err.message
    for kind in RULE_KINDS:
        assert kind in err.message


def test_missing_rule_field_lists_the_rules() -> None:
    err = _error([{"rule": "row_count", "min": 1}, {"column": "a"}])
    assert err.details["field"] == "rules[1].rule"
    assert "required field `rule` is missing" in err.message
    assert "distribution" in err.message


def test_unknown_field_names_the_path_and_allowed_fields() -> None:
    err = _error([{"rule": "not_null", "column": "a", "mostlyy": 0.9}])
    assert err.details["field"] == "rules[0].mostlyy"
    assert "unknown field 'mostlyy' (did you mean 'mostly'?)" in err.message
    assert err.details["valid"] == ["rule", "name", "column", "mostly"]


def test_wrong_type_names_the_field_and_what_was_given() -> None:
    err = _error([{"rule": "row_count", "min": 1}, {"rule": "not_null", "column": "a",
                                                     "mostly": "0.9"}])  # fmt: skip
    assert err.details["field"] == "rules[1].mostly"
    assert "got str '0.9'" in err.message
    err = _error([{"rule": "row_count", "min": True}])
    assert err.details["field"] == "rules[0].min"
    err = _error([{"rule": "not_null", "column": "a", "mostly": 1.5}])
    assert err.details["field"] == "rules[0].mostly"
    assert "less than or equal to 1" in err.message


def test_every_problem_is_reported_on_its_own_line() -> None:
    err = _error([{"rule": "range", "column": "a"}, {"rule": "regex", "column": "b"}])
    assert [e["field"] for e in err.details["errors"]] == ["rules[0]", "rules[1].pattern"]
    assert "give at least one of min and max" in err.message
    assert err.message.count("\n") == 2


def test_bounds_are_checked() -> None:
    err = _error([{"rule": "range", "column": "a", "min": 5, "max": 1}])
    assert err.details["field"] == "rules[0].max"
    assert "max 1 is below min 5" in err.message
    err = _error([{"rule": "length", "column": "a", "min": -1}])
    assert err.details["field"] == "rules[0].min"
    err = _error([{"rule": "distribution", "column": "x"}])
    assert "give at least one of mean, std and quantiles" in err.message
    err = _error([{"rule": "distribution", "column": "x", "quantiles": [{"q": 1.5}]}])
    assert err.details["field"] == "rules[0].quantiles[0].q"
    err = _error([{"rule": "distribution", "column": "x",
                   "quantiles": [{"q": 0.5, "min": 1}, {"q": 0.5, "max": 2}]}])  # fmt: skip
    assert err.details["field"] == "rules[0].quantiles[1].q"
    assert Bounds(min=1, max=2).contains(1.5)
    assert not Bounds(max=2).contains(float("nan"))
    assert QuantileBounds(q=0.9, min=0).contains(3.0)


def test_range_accepts_dates_and_strings() -> None:
    (rule,) = parse_rules([{"rule": "range", "column": "d", "min": dt.date(2024, 1, 1)}])
    assert isinstance(rule, RangeRule)
    assert rule.min == dt.date(2024, 1, 1)
    (rule,) = parse_rules([{"rule": "range", "column": "s", "min": "a", "max": "m"}])
    assert isinstance(rule, RangeRule)
    assert rule.max == "m"


def test_invalid_regex_is_refused() -> None:
    err = _error([{"rule": "regex", "column": "a", "pattern": "(unclosed"}])
    assert err.details["field"] == "rules[0].pattern"
    assert "invalid regular expression" in err.message


def test_column_type_aliases_and_invalid_types() -> None:
    rules = parse_rules([{"rule": "column", "column": "a", "type": "integer", "name": "a"},
                         {"rule": "column", "column": "b", "type": "datetime"}])  # fmt: skip
    assert [getattr(r, "type", None) for r in rules] == ["int", "timestamp"]
    err = _error([{"rule": "column", "column": "a", "type": "integr"}])
    assert err.details["field"] == "rules[0].type"
    assert "'int'" in err.message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2d", 172800), ("6h", 21600), ("30m", 1800), ("45s", 45), ("1w", 604800),
     ("1d12h", 129600), ("1.5h", 5400), (90, 90), (2.5, 2.5)],
)  # fmt: skip
def test_durations_parse(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds
    (rule,) = parse_rules([{"rule": "freshness", "column": "t", "max_age": text}])
    assert isinstance(rule, FreshnessRule)
    assert rule.max_age.total_seconds() == seconds
    assert parse_duration(format_duration(rule.max_age)) == rule.max_age


@pytest.mark.parametrize("bad", ["2x", "", "d", "-1h", -5, True, "2 days"])
def test_bad_durations_are_refused(bad: Any) -> None:
    err = _error([{"rule": "freshness", "column": "t", "max_age": bad}])
    assert err.details["field"] == "rules[0].max_age"


def test_format_duration() -> None:
    assert format_duration(dt.timedelta(days=1, hours=6)) == "1d6h"
    assert format_duration(dt.timedelta(seconds=90)) == "1m30s"
    assert format_duration(dt.timedelta(0)) == "0s"
    assert format_duration(dt.timedelta(seconds=1.5)) == "1.5s"


def test_duplicate_names_are_refused() -> None:
    err = _error([{"rule": "not_null", "column": "a"}, {"rule": "not_null", "column": "a"}])
    assert err.details["field"] == "rules[1].name"
    assert "duplicate rule name 'not_null(a)' (already rules[0])" in err.message
    renamed = [
        {"rule": "not_null", "column": "a"},
        {"rule": "not_null", "column": "a", "name": "b"},
    ]
    assert [r.name for r in parse_rules(renamed)] == ["not_null(a)", "b"]


def test_parse_rules_needs_a_list_of_mappings() -> None:
    err = _error({"rule": "not_null", "column": "a"})
    assert "expected a list of rule mappings" in err.message
    err = _error(["not_null"])
    assert err.details["field"] == "rules[0]"
    assert "expected a mapping" in err.message


def test_parse_rules_accepts_models_and_a_custom_prefix() -> None:
    rule = NotNullRule(column="a")
    assert parse_rules([rule]) == [rule]
    with pytest.raises(InvalidInput) as info:
        parse_rules([{"rule": "nope"}], where="validation.rules")
    assert info.value.details["field"] == "validation.rules[0].rule"


def test_describe_phrases() -> None:
    rules = parse_rules(ONE_OF_EACH)
    assert [r.describe() for r in rules] == [
        "column 'age' must exist with type int",
        "'age' must not be null",
        "the key ('customer_id', 'day') must be unique",
        "'age' must be within [0, 120)",
        "'plan' must be one of 'free', 'pro'",
        "'email' must fully match '[^@]+@[^@]+'",
        "the length of 'name' must be between 1 and 80",
        "the data must have at least 1000 rows",
        "the newest 'event_time' must be at most 2d old",
        "'amount' must have mean between 10 and 20, std at most 5, q0.5 between 10 and 20",
    ]
    assert bounds_text(None, 3, high_inclusive=False) == "below 3"
    assert bounds_text(0, None, low_inclusive=False) == "above 0"


def test_validation_spec_defaults_and_policies() -> None:
    spec = ValidationSpec()
    assert spec.policy == "fail"
    assert spec.rules == []
    spec = ValidationSpec.model_validate({"policy": "quarantine", "rules": ONE_OF_EACH})
    assert spec.policy == "quarantine"
    assert len(spec.rules) == 10
    assert ValidationSpec.model_validate({"rules": None}).rules == []
    with pytest.raises(ValidationError) as info:
        ValidationSpec.model_validate({"policy": "explode"})
    assert info.value.errors()[0]["loc"] == ("policy",)


def test_validation_spec_refuses_duplicates_with_spec_issues() -> None:
    with pytest.raises(ValidationError) as info:
        ValidationSpec.model_validate(
            {"rules": [{"rule": "row_count", "min": 1}, {"rule": "row_count", "max": 5}]}
        )
    error = info.value.errors()[0]
    assert error["type"] == "spec_issues"
    (loc, message, _valid) = error["ctx"]["issues"][0]
    assert loc == ("rules", 1, "name")
    assert "duplicate rule name 'row_count'" in message


def test_validation_spec_round_trips_through_json_and_embeds() -> None:
    class Project(BaseModel):
        validation: ValidationSpec = ValidationSpec()

    spec = ValidationSpec.model_validate({"policy": "warn", "rules": ONE_OF_EACH})
    dumped = spec.model_dump(mode="json")
    assert dumped["rules"][8]["max_age"] == "2d"
    assert ValidationSpec.model_validate(dumped) == spec
    project = Project.model_validate({"validation": dumped})
    assert project.validation == spec
