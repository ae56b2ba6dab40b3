"""Registered models, their versions and stage transitions."""

from __future__ import annotations

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
