"""ProjectSpec models: valid specs, defaults, round-trip, cross-field checks, gates."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from cycleml.errors import InvalidInput, NotFound, SpecError
from cycleml.spec import (
    GATE_STAGES,
    MetricSpec,
    ProjectSpec,
    dump_spec,
    parse_spec,
)

VALID = """\
name: churn
description: Predict which customers leave next month.
problem:
  task: binary
  target: churned
  positive_class: yes_churn
  entity_keys: [customer_id]
  timestamp: event_time
  sensitive_attributes: [gender, age_band]
metrics:
  - name: roc_auc
    threshold: 0.8
    applies_to: [train, deploy, monitor]
  - name: log_loss
    threshold: 0.4
    applies_to: [monitor]
  - name: accuracy
storage:
  metadata_uri: sqlite:///tmp/meta.db
  artifact_uri: null
"""


def test_valid_spec_parses_every_field() -> None:
    spec = parse_spec(VALID, source="cycleml.yaml")
    assert spec.name == "churn"
    assert spec.description == "Predict which customers leave next month."
    assert spec.problem is not None
    assert spec.problem.task == "binary"
    assert spec.problem.target == "churned"
    assert spec.problem.positive_class == "yes_churn"
    assert spec.problem.entity_keys == ["customer_id"]
    assert spec.problem.timestamp == "event_time"
    assert spec.problem.sensitive_attributes == ["gender", "age_band"]
    assert [m.name for m in spec.metrics] == ["roc_auc", "log_loss", "accuracy"]
    assert spec.storage.metadata_uri == "sqlite:///tmp/meta.db"
    assert spec.storage.artifact_uri is None
    assert spec.storage.as_mapping() == {
        "metadata_uri": "sqlite:///tmp/meta.db",
        "artifact_uri": None,
    }


def test_metric_defaults_direction_from_registry_and_all_stages() -> None:
    spec = parse_spec(VALID)
    assert spec.metric("roc_auc").direction == "maximize"
    assert spec.metric("log_loss").direction == "minimize"
    accuracy = spec.metric("accuracy")
    assert accuracy.threshold is None
    assert accuracy.applies_to == list(GATE_STAGES)


@pytest.mark.parametrize(("old", "new"), [("Stage", "GateStage"), ("STAGES", "GATE_STAGES")])
def test_deprecated_stage_names_warn_and_still_work(old: str, new: str) -> None:
    import cycleml.spec

    with pytest.warns(DeprecationWarning, match=rf"cycleml\.spec\.{old} is deprecated.*"
                      rf"use cycleml\.spec\.{new}\."):  # fmt: skip
        value = getattr(cycleml.spec, old)
    assert value is getattr(cycleml.spec, new)
    assert old not in cycleml.spec.__all__
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        cycleml.spec.nope  # noqa: B018


def test_gate_stages_are_not_the_registry_stage() -> None:
    from typing import get_args

    import cycleml.registry
    from cycleml.spec import GateStage

    assert get_args(GateStage) == GATE_STAGES == ("train", "deploy", "monitor")
    assert cycleml.registry.Stage is not GateStage


def test_explicit_direction_overrides_natural_one() -> None:
    spec = parse_spec("name: p\nmetrics:\n  - name: rmse\n    direction: maximize\n")
    assert spec.metrics[0].direction == "maximize"


def test_round_trip_through_dump_spec() -> None:
    spec = parse_spec(VALID)
    again = parse_spec(dump_spec(spec))
    assert again == spec
    assert again.model_dump() == spec.model_dump()


def test_minimal_spec_defaults() -> None:
    spec = parse_spec("name: tiny\n")
    assert spec.problem is None
    assert spec.metrics == []
    assert spec.storage.metadata_uri is None
    assert spec.description is None


def test_empty_sections_mean_defaults() -> None:
    spec = parse_spec("name: tiny\nmetrics:\nstorage:\n")
    assert spec.metrics == []
    assert spec.storage.artifact_uri is None


def test_metrics_for_stage() -> None:
    spec = parse_spec(VALID)
    assert [m.name for m in spec.metrics_for("train")] == ["roc_auc", "accuracy"]
    assert [m.name for m in spec.metrics_for("monitor")] == ["roc_auc", "log_loss", "accuracy"]
    with pytest.raises(InvalidInput, match="train, deploy, monitor"):
        spec.metrics_for("serve")


def test_metric_lookup_unknown_lists_defined() -> None:
    spec = parse_spec(VALID)
    with pytest.raises(NotFound) as info:
        spec.metric("f1")
    assert "roc_auc, log_loss, accuracy" in str(info.value)


def test_models_are_frozen() -> None:
    spec = parse_spec(VALID)
    with pytest.raises(ValidationError):
        spec.name = "other"  # type: ignore[misc]


def test_model_validate_directly_reports_cross_field_problem() -> None:
    data = {"name": "p", "metrics": [{"name": "f1"}, {"name": "f1"}]}
    with pytest.raises(ValidationError, match="duplicate metric 'f1'"):
        ProjectSpec.model_validate(data)


# --- passes / describe_failure ---------------------------------------------------------


def test_passes_maximize() -> None:
    metric = MetricSpec(name="roc_auc", threshold=0.9)
    assert metric.direction == "maximize"
    assert metric.passes(0.95)
    assert metric.passes(0.9)
    assert not metric.passes(0.81)


def test_passes_minimize() -> None:
    metric = MetricSpec(name="rmse", threshold=2.5)
    assert metric.direction == "minimize"
    assert metric.passes(2.0)
    assert metric.passes(2.5)
    assert not metric.passes(3.2)


def test_nan_fails_any_threshold() -> None:
    assert not MetricSpec(name="roc_auc", threshold=0.5).passes(math.nan)
    assert not MetricSpec(name="rmse", threshold=100.0).passes(float("nan"))


def test_no_threshold_always_passes() -> None:
    metric = MetricSpec(name="accuracy")
    assert metric.passes(0.0)
    assert metric.passes(math.nan)


def test_describe_failure_texts() -> None:
    maximize = MetricSpec(name="roc_auc", threshold=0.9)
    assert maximize.describe_failure(0.81) == "roc_auc = 0.81 < threshold 0.9 (maximize)"
    minimize = MetricSpec(name="rmse", threshold=2.5)
    assert minimize.describe_failure(3.2) == "rmse = 3.2 > threshold 2.5 (minimize)"
    assert "nan" in maximize.describe_failure(math.nan)
    assert ">=" in maximize.describe_failure(0.95)


# --- cross-field checks through the loader ------------------------------------------


def test_duplicate_metric_names_error() -> None:
    text = "name: p\nmetrics:\n  - name: f1\n  - name: accuracy\n  - name: f1\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text, source="cycleml.yaml")
    err = info.value
    assert err.details["field"] == "metrics[2].name"
    assert err.details["line"] == 5
    assert "cycleml.yaml:5" in str(err)
    assert "duplicate metric 'f1'" in str(err)
    assert "metrics[0]" in str(err)


def test_positive_class_with_regression_error() -> None:
    text = "name: p\nproblem:\n  task: regression\n  target: price\n  positive_class: 1\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    assert info.value.details["field"] == "problem.positive_class"
    assert info.value.details["line"] == 5
    assert "regression" in str(info.value)


def test_classification_metric_on_regression_names_task_and_valid_metrics() -> None:
    text = (
        "name: p\nproblem:\n  task: regression\n  target: price\n"
        "metrics:\n  - name: rmse\n  - name: roc_auc\n"
    )
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    err = info.value
    assert err.details["field"] == "metrics[1].name"
    assert err.details["line"] == 7
    assert "'regression'" in str(err)
    assert "roc_auc" in str(err)
    assert "accuracy" not in err.details["valid"]
    assert {"mae", "rmse", "r2"} <= set(err.details["valid"])


def test_regression_metrics_allowed_for_classification() -> None:
    text = (
        "name: p\nproblem:\n  task: binary\n  target: y\n"
        "metrics:\n  - name: mse\n  - name: mae\n  - name: roc_auc\n"
    )
    spec = parse_spec(text)
    assert [m.name for m in spec.metrics] == ["mse", "mae", "roc_auc"]


def test_target_cannot_be_entity_key() -> None:
    text = "name: p\nproblem:\n  task: binary\n  target: id\n  entity_keys: [id]\n"
    with pytest.raises(SpecError) as info:
        parse_spec(text)
    assert info.value.details["field"] == "problem.entity_keys[0]"
