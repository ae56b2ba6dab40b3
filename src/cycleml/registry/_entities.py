"""Registered models, their versions and stage transitions.

Each entity's ``to_dict`` is its JSON on the wire (the team server's answer) and
``from_dict`` reads it back, so the router and :class:`~cycleml.registry.RestModelRepository`
share one shape. Metric values JSON cannot hold travel as ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["ModelVersion", "RegisteredModel", "Stage", "StageTransition"]


class Stage(StrEnum):
    """Registry stages of a model version."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


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

    def to_dict(self) -> dict[str, Any]:
        """The registered model as JSON."""
        return {
            "name": self.name,
            "description": self.description,
            "creation_time": self.creation_time,
            "last_updated_time": self.last_updated_time,
            "tags": dict(self.tags),
            "aliases": dict(self.aliases),
            "latest_version": self.latest_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegisteredModel:
        """Read :meth:`to_dict`'s output back (keys it does not know are ignored)."""
        return cls(
            name=data["name"],
            description=data["description"],
            creation_time=data["creation_time"],
            last_updated_time=data["last_updated_time"],
            tags=dict(data.get("tags") or {}),
            aliases={str(k): int(v) for k, v in (data.get("aliases") or {}).items()},
            latest_version=data.get("latest_version"),
        )


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

    def to_dict(self) -> dict[str, Any]:
        """The model version as JSON (non-finite metrics spelled as strings)."""
        return {
            "name": self.name,
            "version": self.version,
            "model_version_id": self.model_version_id,
            "run_id": self.run_id,
            "source": self.source,
            "current_stage": self.current_stage,
            "description": self.description,
            "metrics": {key: _json_float(value) for key, value in self.metrics.items()},
            "signature": self.signature,
            "user_id": self.user_id,
            "creation_time": self.creation_time,
            "last_updated_time": self.last_updated_time,
            "tags": dict(self.tags),
            "aliases": list(self.aliases),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelVersion:
        """Read :meth:`to_dict`'s output back (keys it does not know are ignored)."""
        return cls(
            name=data["name"],
            version=int(data["version"]),
            model_version_id=data["model_version_id"],
            run_id=data.get("run_id"),
            source=data["source"],
            current_stage=data["current_stage"],
            description=data["description"],
            metrics={key: float(value) for key, value in (data.get("metrics") or {}).items()},
            signature=data.get("signature"),
            user_id=data["user_id"],
            creation_time=data["creation_time"],
            last_updated_time=data["last_updated_time"],
            tags=dict(data.get("tags") or {}),
            aliases=tuple(data.get("aliases") or ()),
        )


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

    def to_dict(self) -> dict[str, Any]:
        """The transition as JSON."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StageTransition:
        """Read :meth:`to_dict`'s output back (keys it does not know are ignored)."""
        return cls(
            name=data["name"],
            version=int(data["version"]),
            from_stage=data["from_stage"],
            to_stage=data["to_stage"],
            actor=data["actor"],
            time=data["time"],
            reason=data["reason"],
            forced=bool(data["forced"]),
        )


def _json_float(value: float) -> float | str:
    """``value`` as strict JSON holds it: NaN and infinities as ``"NaN"``, ``"Infinity"``."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"
