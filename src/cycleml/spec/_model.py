"""The pydantic models of ``cycleml.yaml``: the problem (stage 1) and the metrics (stage 4).

Models are strict (no silent ``"0.9"`` -> ``0.9`` coercion), frozen and forbid unknown
fields. Metric names are resolved against a :class:`MetricRegistry` taken from the
validation context key ``"metric_registry"`` (default: the built-ins), so
``ProjectSpec.model_validate(data, context={"metric_registry": reg})`` accepts custom
metrics.

Cross-field problems are raised as one ``PydanticCustomError`` of type ``spec_issues`` whose
``ctx["issues"]`` lists ``(relative_loc, message, valid_values)`` triples; the loader turns
each into its own line of the :class:`~cycleml.errors.SpecError`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from cycleml.errors import InvalidInput, NotFound
from cycleml.spec._metrics import Direction, MetricDef, Task
from cycleml.spec._registry import DEFAULT_METRICS, MetricRegistry, closest_name
from cycleml.spec._rules import ValidationSpec
from cycleml.spec._sources import SourceSpec

__all__ = [
    "FAIRNESS_METRICS",
    "GATE_STAGES",
    "GateStage",
    "MetricSpec",
    "ProblemSpec",
    "ProjectSpec",
    "StorageSpec",
]

#: The disparity measures ``problem.fairness`` may set thresholds for (monitoring computes
#: them for each sensitive attribute), with the direction that is better.
FAIRNESS_METRICS: dict[str, Direction] = {
    "demographic_parity_difference": "minimize",
    "demographic_parity_ratio": "maximize",
    "equal_opportunity_difference": "minimize",
    "equalized_odds_difference": "minimize",
}

#: Where a metric's threshold is enforced: run gate, deploy gate, monitoring alert. (Not
#: a model's registry stage, which is :class:`cycleml.registry.Stage`.)
GateStage = Literal["train", "deploy", "monitor"]
#: The gate stages a metric can apply to.
GATE_STAGES: tuple[GateStage, ...] = ("train", "deploy", "monitor")


Issue = tuple[tuple[str | int, ...], str, list[Any] | None]


def _registry(info: ValidationInfo) -> MetricRegistry:
    context = info.context if isinstance(info.context, dict) else {}
    registry = context.get("metric_registry")
    return registry if isinstance(registry, MetricRegistry) else DEFAULT_METRICS


def _issues_error(issues: list[Issue]) -> PydanticCustomError:
    text = "; ".join(f"{'.'.join(map(str, loc)) or '<root>'}: {msg}" for loc, msg, _ in issues)
    return PydanticCustomError("spec_issues", "{text}", {"text": text, "issues": issues})


def _none_to_list(value: Any) -> Any:
    return [] if value is None else value


class ProblemSpec(BaseModel):
    """Stage 1, problem definition: what is predicted, from which rows.

    Attributes:
        task: ``binary``, ``multiclass`` or ``regression``.
        target: Name of the label column.
        positive_class: The positive label of a binary task (default: the larger label).
            Not allowed for other tasks.
        entity_keys: Columns that identify the entity a row describes.
        timestamp: Event-time column, used for point-in-time joins and time splits.
        sensitive_attributes: Columns monitored for fairness (not required as features).
        fairness: Thresholds of the disparity measures in :data:`FAIRNESS_METRICS`, checked
            by monitoring for each sensitive attribute (a difference must stay at or below
            its threshold, the parity ratio at or above).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    task: Task
    target: str = Field(min_length=1)
    positive_class: str | int | float | bool | None = None
    entity_keys: list[str] = Field(default_factory=list)
    timestamp: str | None = None
    sensitive_attributes: list[str] = Field(default_factory=list)
    fairness: dict[str, float] = Field(default_factory=dict)

    @field_validator("fairness", mode="before")
    @classmethod
    def _fairness_thresholds(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            # YAML writes 0.1 as a float but 1 as an int: accept both as numbers.
            return {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                    for k, v in value.items()}  # fmt: skip
        return value

    _none_lists = field_validator("entity_keys", "sensitive_attributes", mode="before")(
        _none_to_list
    )

    @field_validator("positive_class", mode="before")
    @classmethod
    def _scalar_class(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | int | float | bool):
            raise PydanticCustomError(
                "scalar_type", "Input should be a string, number or boolean (a class label)"
            )
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> ProblemSpec:
        issues: list[Issue] = []
        if self.positive_class is not None and self.task != "binary":
            issues.append(
                (
                    ("positive_class",),
                    f"positive_class is only meaningful for task 'binary', "
                    f"not {self.task!r}; remove it",
                    None,
                )
            )
        for field in ("entity_keys", "sensitive_attributes"):
            values: list[str] = getattr(self, field)
            for i, value in enumerate(values):
                if value in values[:i]:
                    issues.append(((field, i), f"duplicate column {value!r}", None))
        if self.target in self.entity_keys:
            i = self.entity_keys.index(self.target)
            issues.append(
                (("entity_keys", i), f"the target {self.target!r} cannot be an entity key", None)
            )
        if self.timestamp is not None and self.timestamp == self.target:
            issues.append(
                (("timestamp",), f"the target {self.target!r} cannot be the timestamp", None)
            )
        for measure, limit in self.fairness.items():
            if measure not in FAIRNESS_METRICS:
                issues.append(
                    (("fairness", measure), f"unknown fairness measure {measure!r}",
                     list(FAIRNESS_METRICS))
                )  # fmt: skip
            elif not (math.isfinite(limit) and 0.0 <= limit <= 1.0):
                issues.append(
                    (("fairness", measure), f"the threshold must be within [0, 1], got {limit}",
                     None)
                )  # fmt: skip
        if self.fairness and not self.sensitive_attributes:
            issues.append(
                (("fairness",), "fairness thresholds need sensitive_attributes to apply to",
                 None)
            )  # fmt: skip
        if issues:
            raise _issues_error(issues)
        return self


class MetricSpec(BaseModel):
    """Stage 4, one metric: its name, direction, optional threshold and where it applies.

    Attributes:
        name: A name from the metric registry (see :func:`~cycleml.spec.list_metrics`).
        direction: ``maximize`` or ``minimize``; default: the metric's natural direction.
        threshold: The value a model must reach; ``None`` makes the metric informational.
        applies_to: Where the threshold is enforced: ``train`` (run gate), ``deploy``
            (deploy gate), ``monitor`` (alert). Default: all three.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str
    direction: Direction = "maximize"
    threshold: float | None = None
    applies_to: list[GateStage] = Field(default_factory=lambda: list(GATE_STAGES), min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _natural_direction(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and "direction" not in data:
            name = data.get("name")
            registry = _registry(info)
            if isinstance(name, str) and name in registry:
                data = {**data, "direction": registry.get(name).direction}
        return data

    @field_validator("name")
    @classmethod
    def _known_name(cls, value: str, info: ValidationInfo) -> str:
        registry = _registry(info)
        if value not in registry:
            names = registry.names()
            guess = closest_name(value, names)
            raise PydanticCustomError(
                "unknown_metric",
                "unknown metric {quoted}{suggestion}",
                {
                    "name": value,
                    "quoted": repr(value),
                    "suggestion": f"; did you mean {guess!r}?" if guess else "",
                    "guess": guess,
                    "valid": names,
                },
            )
        return value

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise PydanticCustomError("finite_number", "threshold must be a finite number")
        return value

    @field_validator("applies_to")
    @classmethod
    def _unique_stages(cls, value: list[GateStage]) -> list[GateStage]:
        for i, stage in enumerate(value):
            if stage in value[:i]:
                raise _issues_error([((i,), f"stage {stage!r} is listed twice", list(GATE_STAGES))])
        return value

    def definition(self, registry: MetricRegistry | None = None) -> MetricDef:
        """Return the registry's :class:`MetricDef` for this metric (to compute it)."""
        return (registry or DEFAULT_METRICS).get(self.name)

    def passes(self, value: float) -> bool:
        """Tell whether ``value`` meets the threshold.

        ``maximize``: ``value >= threshold``; ``minimize``: ``value <= threshold``. A metric
        without a threshold is informational and always passes. With a threshold, NaN fails.
        """
        if self.threshold is None:
            return True
        value = float(value)
        if math.isnan(value):
            return False
        if self.direction == "maximize":
            return value >= self.threshold
        return value <= self.threshold

    def describe_failure(self, value: float) -> str:
        """One line comparing ``value`` with the threshold.

        For example ``"roc_auc = 0.81 < threshold 0.9 (maximize)"``. A passing value is
        described with the satisfied comparison (``>=`` or ``<=``).
        """
        value = float(value)
        if self.threshold is None:
            return f"{self.name} = {value:.4g} (no threshold, {self.direction})"
        limit = f"threshold {self.threshold:.4g}"
        if math.isnan(value):
            return f"{self.name} = nan, not a number ({limit}, {self.direction})"
        ok = self.passes(value)
        ops = {"maximize": (">=", "<"), "minimize": ("<=", ">")}[self.direction]
        op = ops[0] if ok else ops[1]
        return f"{self.name} = {value:.4g} {op} {limit} ({self.direction})"


class StorageSpec(BaseModel):
    """Where the project's state lives; unset fields fall back to settings and defaults.

    Attributes:
        metadata_uri: SQLAlchemy URI of the metadata store.
        artifact_uri: Root URI of the artifact store (``file://``, ``s3://``, ...).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    metadata_uri: str | None = None
    artifact_uri: str | None = None

    def as_mapping(self) -> dict[str, str | None]:
        """The section as a plain mapping, the ``storage=`` argument of settings."""
        return {"metadata_uri": self.metadata_uri, "artifact_uri": self.artifact_uri}


class ProjectSpec(BaseModel):
    """The whole ``cycleml.yaml``.

    Attributes:
        name: Project name.
        description: Free text.
        problem: The problem definition, or ``None`` while exploring.
        metrics: Named metrics, reused as run gates, deploy gates and monitor alerts.
        storage: Optional store locations.
        sources: Named data sources (files or SQL queries) that ``cycleml data ingest``
            reads, keyed by the dataset name they feed.
        validation: Validation rules and policy per dataset name.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = Field(min_length=1)
    description: str | None = None
    problem: ProblemSpec | None = None
    metrics: list[MetricSpec] = Field(default_factory=list)
    storage: StorageSpec = Field(default_factory=StorageSpec)
    sources: dict[str, SourceSpec] = Field(default_factory=dict)
    validation: dict[str, ValidationSpec] = Field(default_factory=dict)

    _none_list = field_validator("metrics", mode="before")(_none_to_list)

    @field_validator("storage", mode="before")
    @classmethod
    def _none_storage(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> ProjectSpec:
        issues: list[Issue] = []
        seen: dict[str, int] = {}
        for i, metric in enumerate(self.metrics):
            if metric.name in seen:
                issues.append(
                    (
                        ("metrics", i, "name"),
                        f"duplicate metric {metric.name!r} (already metrics[{seen[metric.name]}]);"
                        " each metric may appear once",
                        None,
                    )
                )
            seen.setdefault(metric.name, i)
        if self.problem is not None:
            registry = _registry(info)
            task = self.problem.task
            fitting = registry.names(task)
            for i, metric in enumerate(self.metrics):
                if task not in registry.get(metric.name).tasks:
                    issues.append(
                        (
                            ("metrics", i, "name"),
                            f"metric {metric.name!r} does not apply to task {task!r}",
                            fitting,
                        )
                    )
        if issues:
            raise _issues_error(issues)
        return self

    def metrics_for(self, stage: str) -> list[MetricSpec]:
        """The metrics whose ``applies_to`` includes ``stage`` (train, deploy or monitor)."""
        if stage not in GATE_STAGES:
            raise InvalidInput(
                f"Unknown stage {stage!r}; valid stages: {', '.join(GATE_STAGES)}.",
                details={"valid": list(GATE_STAGES)},
            )
        return [m for m in self.metrics if stage in m.applies_to]

    def metric(self, name: str) -> MetricSpec:
        """The metric called ``name``.

        Raises:
            NotFound: The spec defines no such metric; the message lists those it does.
        """
        for metric in self.metrics:
            if metric.name == name:
                return metric
        names = [m.name for m in self.metrics]
        listed = ", ".join(names) if names else "none"
        raise NotFound(
            f"The project spec defines no metric {name!r}; it defines: {listed}.",
            hint="Add it under `metrics:` in cycleml.yaml.",
            details={"name": name, "valid": names},
        )
