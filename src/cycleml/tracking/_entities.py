"""Experiments and runs as the tracking repository returns them.

The shapes follow MLflow's entities (``run.info.run_id``, ``run.data.metrics``) so users
and the MLflow-compatible API can map them one to one.

Each entity's ``to_dict`` is its JSON shape (``--json`` output, the server's answers) and
``from_dict`` reads it back (the REST repository), so the two sides cannot drift. JSON has no
NaN or infinities: a metric value that is not finite travels as ``"NaN"``, ``"Infinity"`` or
``"-Infinity"``, as MLflow's JSON writes them (:func:`json_float`, :func:`float_from_json`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, NamedTuple

from cycleml.store import DatasetRead

__all__ = [
    "DatasetInput",
    "Experiment",
    "Metric",
    "Run",
    "RunData",
    "RunInfo",
    "RunStatus",
    "float_from_json",
    "json_float",
]

#: The JSON spellings of the floats JSON cannot carry.
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def json_float(value: float) -> float | str:
    """``value`` as JSON carries it: the number, or ``"NaN"``/``"Infinity"``/``"-Infinity"``."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def float_from_json(value: float | int | str) -> float:
    """The float :func:`json_float` wrote (a number, or one of the non-finite spellings)."""
    if isinstance(value, str):
        return NON_FINITE[value] if value in NON_FINITE else float(value)
    return float(value)


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

    def to_dict(self) -> dict[str, Any]:
        """The experiment as JSON (the server's answer)."""
        return {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_location": self.artifact_location,
            "lifecycle_stage": self.lifecycle_stage,
            "creation_time": self.creation_time,
            "last_update_time": self.last_update_time,
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Experiment:
        """Read :meth:`to_dict`'s output back (keys it does not know are ignored)."""
        return cls(
            experiment_id=data["experiment_id"],
            name=data["name"],
            artifact_location=data["artifact_location"],
            lifecycle_stage=data["lifecycle_stage"],
            creation_time=data["creation_time"],
            last_update_time=data["last_update_time"],
            tags=dict(data.get("tags") or {}),
        )


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

    def to_dict(self) -> dict[str, Any]:
        """The run's attributes as JSON."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunInfo:
        """Read :meth:`to_dict`'s output back (keys it does not know are ignored)."""
        return cls(**{name: data[name] for name in _INFO_FIELDS if name in data})


@dataclass(frozen=True)
class RunData:
    """A run's latest metrics, params and tags (MLflow's ``run.data``)."""

    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The run's data as JSON (non-finite metric values spelled as strings)."""
        return {
            "metrics": {key: json_float(value) for key, value in self.metrics.items()},
            "params": dict(self.params),
            "tags": dict(self.tags),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunData:
        """Read :meth:`to_dict`'s output back."""
        return cls(
            metrics={k: float_from_json(v) for k, v in (data.get("metrics") or {}).items()},
            params=dict(data.get("params") or {}),
            tags=dict(data.get("tags") or {}),
        )


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
        """The run as JSON (used by ``--json`` output and the API)."""
        return {"info": self.info.to_dict(), "data": self.data.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Run:
        """Read :meth:`to_dict`'s output back."""
        return cls(info=RunInfo.from_dict(data["info"]), data=RunData.from_dict(data["data"]))


_INFO_FIELDS = tuple(f.name for f in fields(RunInfo))


#: What a run records of a dataset version it reads (``cycleml.data.DatasetVersion``):
#: identifiers only (name, version, uri, digest), so tracking never imports the data stage.
#: The same shape the kernel announces when a version is read.
DatasetInput = DatasetRead
