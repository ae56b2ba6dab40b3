"""The model registry (lifecycle stage 8): versions, aliases, stages and promotion gates.

registry = ModelRegistry()
version = registry.register_model(f"runs:/{run_id}/model", "churn")
registry.promote("churn", version.version, to="Production")   # checks deploy gates
registry.set_alias("churn", "champion", version.version)
"""

from __future__ import annotations

from cycleml.registry._entities import ModelVersion, RegisteredModel, Stage, StageTransition
from cycleml.registry._registry import GATED_STAGES, ModelRegistry
from cycleml.registry._repository import ArtifactLocation, ModelRepository, SqlModelRepository
from cycleml.registry._sql_models import check_alias, check_model_name, parse_stage
from cycleml.spec import GateCheck, GateReport, check_gates

__all__ = [
    "GATED_STAGES",
    "ArtifactLocation",
    "GateCheck",
    "GateReport",
    "ModelRegistry",
    "ModelRepository",
    "ModelVersion",
    "RegisteredModel",
    "SqlModelRepository",
    "Stage",
    "StageTransition",
    "check_alias",
    "check_gates",
    "check_model_name",
    "parse_stage",
]
