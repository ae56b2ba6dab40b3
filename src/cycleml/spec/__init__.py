"""The project spec: ``cycleml.yaml`` (lifecycle stage 1, problem definition, and stage 4,
metrics definition).

``load_spec`` reads and validates the file into a :class:`ProjectSpec`; every problem is
reported as a :class:`~cycleml.errors.SpecError` naming the file, line, field path and the
valid values. The metric registry (:func:`get_metric`, :func:`list_metrics`) maps metric
names to scikit-learn computations with a natural direction. ``init_project`` writes a
commented starter spec and the ``.cycleml/`` state folder.

``Stage`` and ``STAGES`` (where a metric's threshold applies) are now :data:`GateStage` and
:data:`GATE_STAGES`; the old names work for one release with a ``DeprecationWarning``
(``cycleml.registry.Stage`` is the one ``Stage``: a model version's stage).
"""

from typing import Any

from cycleml._api import warn_renamed
from cycleml.spec._gates import GateCheck, GateReport, check_gates
from cycleml.spec._load import dump_spec, find_spec, load_spec, parse_spec
from cycleml.spec._metrics import Direction, MetricDef, MetricInputs, MetricKind, Task
from cycleml.spec._model import (
    FAIRNESS_METRICS,
    GATE_STAGES,
    GateStage,
    MetricSpec,
    ProblemSpec,
    ProjectSpec,
    StorageSpec,
)
from cycleml.spec._project import load_project, project_settings, service_project
from cycleml.spec._registry import (
    DEFAULT_METRICS,
    MetricRegistry,
    get_metric,
    list_metrics,
    register_metric,
)
from cycleml.spec._rules import Policy, Rule, ValidationSpec, parse_rules
from cycleml.spec._sources import FileSourceSpec, SourceSpec, SqlSourceSpec
from cycleml.spec._template import init_project, render_template

__all__ = [
    "DEFAULT_METRICS",
    "FAIRNESS_METRICS",
    "GATE_STAGES",
    "Direction",
    "FileSourceSpec",
    "GateCheck",
    "GateReport",
    "GateStage",
    "MetricDef",
    "MetricInputs",
    "MetricKind",
    "MetricRegistry",
    "MetricSpec",
    "Policy",
    "ProblemSpec",
    "ProjectSpec",
    "Rule",
    "SourceSpec",
    "SqlSourceSpec",
    "StorageSpec",
    "Task",
    "ValidationSpec",
    "check_gates",
    "dump_spec",
    "find_spec",
    "get_metric",
    "init_project",
    "list_metrics",
    "load_project",
    "load_spec",
    "parse_rules",
    "parse_spec",
    "project_settings",
    "register_metric",
    "render_template",
    "service_project",
]

_RENAMED = {"Stage": "GateStage", "STAGES": "GATE_STAGES"}


def __getattr__(name: str) -> Any:
    """The names renamed in this release, for one release, with a DeprecationWarning."""
    new = _RENAMED.get(name)
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warn_renamed(f"cycleml.spec.{name}", f"cycleml.spec.{new}")
    return globals()[new]
