"""``cycleml.store.SqlMetadataStore`` and the other names that moved to the stages.

Until issue 11 one store class held every stage's tables and operations. Each stage now owns
its repository; this module keeps the old names importable from ``cycleml.store`` for one
release, each with a ``DeprecationWarning`` naming its new home. It lives in ``lifecycle``
because it spans every stage, which the kernel may not import.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from cycleml.data import SqlDatasetRepository
from cycleml.monitoring import SqlMonitorRepository
from cycleml.registry import SqlModelRepository
from cycleml.serving import SqlDeploymentRepository
from cycleml.settings import Settings, default_actor
from cycleml.store import Database
from cycleml.tracking import SqlRunRepository

__all__ = ["MOVED", "SqlMetadataStore", "moved", "open_metadata_store"]

#: Old ``cycleml.store`` name -> the public module that has it now.
MOVED: dict[str, str] = {
    **dict.fromkeys(
        [
            "Experiment",
            "Metric",
            "Run",
            "RunData",
            "RunInfo",
            "RunStatus",
            "check_params",
            "param_conflict",
        ],
        "cycleml.tracking",
    ),
    **dict.fromkeys(
        [
            "ModelVersion",
            "RegisteredModel",
            "Stage",
            "StageTransition",
            "ArtifactLocation",
            "check_alias",
            "check_model_name",
            "parse_stage",
        ],
        "cycleml.registry",
    ),
    **dict.fromkeys(["DatasetPart", "DatasetVersion", "check_dataset_name"], "cycleml.data"),
    **dict.fromkeys(
        [
            "Deployment",
            "DeploymentRevision",
            "FeedbackRecord",
            "PredictionLogPart",
            "check_deployment_name",
        ],
        "cycleml.serving",
    ),
    **dict.fromkeys(
        [
            "Monitor",
            "MonitorReference",
            "MonitorEvaluation",
            "MonitorPoint",
            "AlertDelivery",
            "AlertEventRecord",
            "AlertStateRecord",
            "NewAlertEvent",
            "check_monitor_name",
        ],
        "cycleml.monitoring",
    ),
    "check_key": "cycleml.validation",
    "SqlMetadataStore": "cycleml.lifecycle",
    "open_metadata_store": "cycleml.lifecycle",
    "head_revision": "cycleml.lifecycle",
}

_INSTEAD = {
    "SqlMetadataStore": "each stage's repository (SqlRunRepository, SqlModelRepository, ...) "
    "on cycleml.store.Database",
    "open_metadata_store": "cycleml.store.open_database and the stages' repositories",
    "head_revision": "cycleml.store.head_revisions",
}


def moved(name: str, *, module: str) -> Any:
    """The object an old ``cycleml.store`` name stands for, with a DeprecationWarning."""
    home = MOVED.get(name)
    if home is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    instead = _INSTEAD.get(name, f"{home}.{name}")
    warnings.warn(
        f"{module}.{name} is deprecated and will be removed in the next release; use {instead}.",
        DeprecationWarning,
        stacklevel=3,
    )
    if home == "cycleml.lifecycle":
        return globals()[name]
    return getattr(importlib.import_module(home), name)


def head_revision() -> str:
    """The schema heads, sorted and joined by spaces (the old single revision's place)."""
    from cycleml.store import head_revisions

    return " ".join(sorted(head_revisions()))


class SqlMetadataStore(Database):
    """Every stage's SQL repository behind the old one-class interface (deprecated).

    Opens one :class:`~cycleml.store.Database` and answers each old method from the stage
    repository that owns it now.
    """

    def __init__(self, uri: str, *, actor: str, migrate: bool = True) -> None:
        super().__init__(uri, actor=actor, migrate=migrate)
        self.models = SqlModelRepository(self)
        self.deployments = SqlDeploymentRepository(self, models=self.models)
        self._parts: tuple[object, ...] = (
            SqlRunRepository(self),
            self.models,
            SqlDatasetRepository(self),
            self.deployments,
            SqlMonitorRepository(self, models=self.models, deployments=self.deployments),
        )

    def set_alias(self, name: str, alias: str, version: int | str) -> Any:
        """Point ``name@alias`` at a version, in the old ``(name, alias, version)`` order."""
        return self.models.set_alias(name, version, alias)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        for part in self.__dict__.get("_parts", ()):
            if hasattr(type(part), name):
                return getattr(part, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def open_metadata_store(settings: Settings | str, *, actor: str | None = None) -> SqlMetadataStore:
    """Open (and migrate) every stage's repository on one database (deprecated)."""
    if isinstance(settings, Settings):
        return SqlMetadataStore(settings.metadata_uri, actor=actor or settings.actor)
    return SqlMetadataStore(settings, actor=actor or default_actor())
