"""Experiments and runs as the tracking repository returns them.

The shapes follow MLflow's entities (``run.info.run_id``, ``run.data.metrics``) so users
and the MLflow-compatible API can map them one to one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from cycleml.store import DatasetRead

__all__ = ["DatasetInput", "Experiment", "Metric", "Run", "RunData", "RunInfo", "RunStatus"]


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


#: What a run records of a dataset version it reads (``cycleml.data.DatasetVersion``):
#: identifiers only (name, version, uri, digest), so tracking never imports the data stage.
#: The same shape the kernel announces when a version is read.
DatasetInput = DatasetRead
