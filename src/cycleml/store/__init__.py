"""Metadata store (SQL), artifact store (content-addressed blobs), lineage and audit.

Open both with :func:`open_metadata_store` and :func:`open_artifact_store`; the other layers
receive them explicitly.
"""

from __future__ import annotations

from cycleml.settings import Settings, default_actor
from cycleml.store._alerting import (
    AlertDelivery,
    AlertEventRecord,
    AlertStateRecord,
    NewAlertEvent,
)
from cycleml.store._artifacts import (
    ArtifactBackend,
    ArtifactStore,
    Blob,
    open_artifact_store,
    register_artifact_backend,
    safe_relpath,
)
from cycleml.store._datasets import check_dataset_name
from cycleml.store._deployments import Deployment, DeploymentRevision, check_deployment_name
from cycleml.store._entities import (
    ArtifactEntry,
    AuditRecord,
    DatasetPart,
    DatasetVersion,
    Experiment,
    LineageEdge,
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    Stage,
    StageTransition,
)
from cycleml.store._evaluations import MonitorEvaluation, MonitorPoint
from cycleml.store._history import ArtifactLocation, LineageGraph, SqlMetadataStore
from cycleml.store._journal import now_ms
from cycleml.store._migrate import head_revision
from cycleml.store._models import check_alias, check_model_name, parse_stage
from cycleml.store._monitoring import Monitor, MonitorReference, check_monitor_name
from cycleml.store._predictions import FeedbackRecord, PredictionLogPart
from cycleml.store._runs import check_key, check_params, param_conflict
from cycleml.store._uris import DatasetUri, ModelUri, RunUri, parse_dataset_uri, parse_uri

__all__ = [
    "AlertDelivery",
    "AlertEventRecord",
    "AlertStateRecord",
    "ArtifactBackend",
    "ArtifactEntry",
    "ArtifactLocation",
    "ArtifactStore",
    "AuditRecord",
    "Blob",
    "DatasetPart",
    "DatasetUri",
    "DatasetVersion",
    "Deployment",
    "DeploymentRevision",
    "Experiment",
    "FeedbackRecord",
    "LineageEdge",
    "LineageGraph",
    "Metric",
    "ModelUri",
    "ModelVersion",
    "Monitor",
    "MonitorEvaluation",
    "MonitorPoint",
    "MonitorReference",
    "NewAlertEvent",
    "PredictionLogPart",
    "RegisteredModel",
    "Run",
    "RunData",
    "RunInfo",
    "RunStatus",
    "RunUri",
    "SqlMetadataStore",
    "Stage",
    "StageTransition",
    "check_alias",
    "check_dataset_name",
    "check_deployment_name",
    "check_key",
    "check_model_name",
    "check_monitor_name",
    "check_params",
    "head_revision",
    "now_ms",
    "open_artifact_store",
    "open_metadata_store",
    "param_conflict",
    "parse_dataset_uri",
    "parse_stage",
    "parse_uri",
    "register_artifact_backend",
    "safe_relpath",
]


def open_metadata_store(settings: Settings | str, *, actor: str | None = None) -> SqlMetadataStore:
    """Open (and migrate) the metadata store named by settings or a database URI."""
    if isinstance(settings, Settings):
        return SqlMetadataStore(settings.metadata_uri, actor=actor or settings.actor)
    return SqlMetadataStore(settings, actor=actor or default_actor())
