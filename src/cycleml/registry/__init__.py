"""The model registry (lifecycle stage 8): versions, aliases, stages and promotion gates.

registry = ModelRegistry()
version = registry.register_model(f"runs:/{run_id}/model", "churn")
registry.promote("churn", version.version, to="Production")   # checks deploy gates
registry.set_alias("churn", "champion", version.version)
"""

from __future__ import annotations

from cycleml.registry._registry import GATED_STAGES, ModelRegistry
from cycleml.spec import GateCheck, GateReport, check_gates
from cycleml.store import ModelVersion, RegisteredModel, Stage, StageTransition

__all__ = [
    "GATED_STAGES",
    "GateCheck",
    "GateReport",
    "ModelRegistry",
    "ModelVersion",
    "RegisteredModel",
    "Stage",
    "StageTransition",
    "check_gates",
]
