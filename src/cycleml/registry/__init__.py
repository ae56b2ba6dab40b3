"""The model registry (lifecycle stage 8): versions, aliases, stages and deploy gates.

models = Models()
version = register_model(f"runs:/{run_id}/model", "churn")   # cycleml.models: metrics snapshot
models.transition("churn", version.version, "Production")    # checks deploy gates
models.set_alias("churn", version.version, "champion")

``ModelRegistry``, the old name of :class:`Models` with its old signatures, still imports
from here for one release, with a ``DeprecationWarning``.
"""

from __future__ import annotations

from typing import Any

from cycleml.registry._entities import ModelVersion, RegisteredModel, Stage, StageTransition
from cycleml.registry._registry import GATED_STAGES, Models
from cycleml.registry._repository import ArtifactLocation, ModelRepository, SqlModelRepository
from cycleml.registry._rest import RestModelRepository
from cycleml.registry._sql_models import check_alias, check_model_name, parse_stage
from cycleml.spec import GateCheck, GateReport, check_gates

__all__ = [
    "GATED_STAGES",
    "ArtifactLocation",
    "GateCheck",
    "GateReport",
    "ModelRepository",
    "ModelVersion",
    "Models",
    "RegisteredModel",
    "RestModelRepository",
    "SqlModelRepository",
    "Stage",
    "StageTransition",
    "check_alias",
    "check_gates",
    "check_model_name",
    "parse_stage",
]


def __getattr__(name: str) -> Any:
    """``ModelRegistry``, deprecated (kept one release; it warns when constructed)."""
    if name == "ModelRegistry":
        # It snapshots run metrics through tracking, so it lives in cycleml.models.
        from cycleml.models._legacy_registry import ModelRegistry

        return ModelRegistry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
