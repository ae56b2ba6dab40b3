"""Plain, immutable records the metadata store returns.

The shapes follow MLflow's entities (``run.info.run_id``, ``run.data.metrics``) so users
and the MLflow-compatible API can map them one to one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

__all__ = [
    "ArtifactEntry",
    "AuditRecord",
    "DatasetPart",
    "DatasetVersion",
    "Experiment",
    "LineageEdge",
    "Metric",
    "ModelVersion",
    "RegisteredModel",
    "Run",
    "RunData",
    "RunInfo",
    "RunStatus",
    "Stage",
    "StageTransition",
]


class RunStatus(StrEnum):
    """Lifecycle of a run: RUNNING until it ends as FINISHED, FAILED or KILLED."""

    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        """True once the run has ended."""
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


class Stage(StrEnum):
    """Registry stages of a model version."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


@dataclass(frozen=True)
class Experiment:
    """A named group of runs."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = field(default_factory=dict)


class Metric(NamedTuple):
    """One logged metric point (a named tuple: logging creates millions of them)."""

    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True)
class RunInfo:
    """A run's attributes (MLflow's ``run.info``)."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str
    user_id: str
    artifact_uri: str
    parent_run_id: str | None = None
    error: str | None = None
    heartbeat_time: int | None = None

    @property
    def run_uuid(self) -> str:
        """MLflow's older name for ``run_id``."""
        return self.run_id


@dataclass(frozen=True)
class RunData:
    """A run's latest metrics, params and tags (MLflow's ``run.data``)."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Run:
    """A tracked run: ``info`` plus ``data``."""

    info: RunInfo
    data: RunData

    @property
    def run_id(self) -> str:
        """Shortcut for ``info.run_id``."""
        return self.info.run_id

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (used by ``--json`` output and the API)."""
        return {
            "info": {**self.info.__dict__},
            "data": {
                "metrics": dict(self.data.metrics),
                "params": dict(self.data.params),
                "tags": dict(self.data.tags),
            },
        }


@dataclass(frozen=True)
class ArtifactEntry:
    """One stored file of a run: logical path, content digest and size in bytes."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class RegisteredModel:
    """A named model in the registry."""

    name: str
    description: str
    creation_time: int
    last_updated_time: int
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_version: int | None = None


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: int
    model_version_id: str
    run_id: str | None
    source: str
    current_stage: str
    description: str
    metrics: dict[str, float]
    signature: dict[str, Any] | None
    user_id: str
    creation_time: int
    last_updated_time: int
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class StageTransition:
    """One recorded stage change of a model version: who, when, why."""

    name: str
    version: int
    from_stage: str
    to_stage: str
    actor: str
    time: int
    reason: str
    forced: bool


@dataclass(frozen=True)
class LineageEdge:
    """``src --relation--> dst`` between two entities of any kind."""

    src_kind: str
    src_id: str
    relation: str
    dst_kind: str
    dst_id: str
    created_at: int


@dataclass(frozen=True)
class AuditRecord:
    """One append-only audit row."""

    id: int
    time: int
    actor: str
    action: str
    entity_kind: str
    entity_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class DatasetPart:
    """One Parquet blob of a dataset version."""

    digest: str
    row_count: int
    bytes: int


@dataclass(frozen=True)
class DatasetVersion:
    """An immutable, content-addressed version of a dataset."""

    name: str
    version: int
    version_id: str
    digest: str
    schema: list[dict[str, Any]]
    row_count: int
    bytes: int
    source: dict[str, Any]
    parent_version: int | None
    watermark_column: str | None
    watermark_value: Any
    files: list[dict[str, Any]]
    validation: dict[str, Any] | None
    user_id: str
    creation_time: int
    parts: tuple[DatasetPart, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        """``datasets:/<name>/<version>``."""
        return f"datasets:/{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = {k: v for k, v in self.__dict__.items() if k != "parts"}
        data["parts"] = [part.__dict__ for part in self.parts]
        data["tags"] = list(self.tags)
        data["uri"] = self.uri
        return data
