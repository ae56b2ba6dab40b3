"""The rules of a deployment's configuration, pure: no SQL, no clock, no I/O.

A configuration is the plain dict a revision records (:data:`CONFIG_FIELDS`): a primary
model version, an optional canary with its share of the traffic, an optional shadow and a
description. The functions here decide what the next configuration is and refuse what is
not allowed; the repository (:mod:`cycleml.serving._sql_deployments`) reads the rows,
calls them inside its transaction and writes the result with its audit row and lineage.

- :func:`deployment_config` checks a whole configuration: a canary percent needs a canary,
  the canary is not the primary, the shadow is neither of the served arms;
- :func:`replace_config` and :func:`update_config` say what an argument left out means
  (``replace``: the arm is removed, the description kept; ``update``: everything is kept);
- :func:`promote_config`: the canary becomes the primary;
- :func:`rollback_target`: which revision a rollback restores, walking back from the
  revision the current one restored rather than toggling between two.

A model version is a :class:`Target`, the URI as given with what it resolved to; resolving
is the repository's business (it asks the registry).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from types import EllipsisType
from typing import Any, NamedTuple

from cycleml.errors import InvalidInput, InvalidState, NotFound

__all__ = [
    "CONFIG_FIELDS",
    "ConfigChange",
    "RollbackTarget",
    "Target",
    "check_description",
    "check_percent",
    "check_revision_number",
    "config_targets",
    "deployment_config",
    "promote_config",
    "recorded_config",
    "replace_config",
    "require_primary",
    "rollback_target",
    "update_config",
]

#: The keys of a configuration, as a revision records it.
CONFIG_FIELDS = (
    "model_uri",
    "model_name",
    "model_version",
    "canary_uri",
    "canary_name",
    "canary_version",
    "canary_percent",
    "shadow_uri",
    "shadow_name",
    "shadow_version",
    "description",
)
_HISTORY_HINT = "List them with `cycleml deploy history NAME`."


class Target(NamedTuple):
    """A model version of a configuration: the URI as given and what it resolved to."""

    uri: str
    name: str
    version: int


@dataclass(frozen=True)
class ConfigChange:
    """The next configuration of a replaced deployment, and the arms it no longer has."""

    config: dict[str, Any]
    removed: tuple[str, ...] = ()


class RollbackTarget(NamedTuple):
    """What a rollback brings back: the ``revision`` whose configuration it copies, and the
    revision it ``restores`` (the original, when that revision was itself a rollback)."""

    revision: int
    restores: int


# ---- input checks --------------------------------------------------------------------------


def check_percent(percent: object) -> float:
    """A canary's share of the traffic: a finite number from 0 to 100."""
    if (
        isinstance(percent, bool)
        or not isinstance(percent, numbers.Real)
        or not math.isfinite(float(percent))
        or not 0 <= float(percent) <= 100
    ):
        raise InvalidInput(
            f"Invalid canary percent {percent!r}: expected a number from 0 to 100.",
            hint="For example 10 sends one request in ten to the canary.",
        )
    return float(percent)


def check_description(description: object) -> str:
    """A deployment's description: a string."""
    if not isinstance(description, str):
        raise InvalidInput(
            f"Invalid description {description!r}: expected a string.",
            hint="Describe the deployment in words, e.g. 'churn scoring for the CRM'.",
        )
    return description


def require_primary(name: str, model_uri: object, *, existing: bool = False) -> None:
    """Refuse a configuration without a primary model.

    ``existing``: the deployment exists and the call changes it (``update``), so the
    primary would be *removed* rather than left out.
    """
    if model_uri is not None and model_uri != "":
        return
    if existing:
        raise InvalidInput(
            f"Deployment {name!r} needs a primary model; it cannot be removed.",
            hint="Pass another models:/ URI to replace it.",
        )
    raise InvalidInput(
        f"Deployment {name!r} needs a primary model; a canary or shadow alone is not a deployment.",
        hint="Pass --model models:/<model>@<alias>.",
    )


def check_revision_number(revision: object) -> int | None:
    """A revision to roll back to: a positive integer, or ``None`` for the previous one."""
    if revision is not None and (
        isinstance(revision, bool) or not isinstance(revision, int) or revision < 1
    ):
        raise InvalidInput(
            f"Invalid revision {revision!r}: expected a positive integer.",
            hint=_HISTORY_HINT,
        )
    return revision


# ---- configurations --------------------------------------------------------------------------


def deployment_config(
    primary: Target,
    canary: Target | None,
    percent: float | None,
    shadow: Target | None,
    description: str,
) -> dict[str, Any]:
    """Check a whole configuration and return it as a revision records it.

    A canary's percent defaults to 0; without a canary the percent is ``None``.

    Raises:
        InvalidInput: A percent without a canary, a canary that is the primary, or a
            shadow that is the primary or the canary.
    """
    if canary is None and percent not in (None, 0):
        raise InvalidInput(
            f"A canary percent ({percent:g}) needs a canary model.",
            hint="Pass the canary model too, e.g. --canary models:/churn/7 --percent 10.",
        )
    if canary is not None and (canary.name, canary.version) == (primary.name, primary.version):
        raise InvalidInput(
            f"The canary {canary.uri!r} is the primary model itself "
            f"({primary.name}/{primary.version}).",
            hint="A canary must be another model version.",
        )
    for other, role in ((primary, "primary"), (canary, "canary")):
        if (
            shadow is not None
            and other is not None
            and (shadow.name, shadow.version) == (other.name, other.version)
        ):
            raise InvalidInput(
                f"The shadow {shadow.uri!r} is the {role} model ({other.name}/{other.version}).",
                hint="A shadow must be a model version the deployment does not serve already.",
            )
    return {
        "model_uri": primary.uri,
        "model_name": primary.name,
        "model_version": primary.version,
        "canary_uri": canary.uri if canary else None,
        "canary_name": canary.name if canary else None,
        "canary_version": canary.version if canary else None,
        "canary_percent": (percent or 0.0) if canary else None,
        "shadow_uri": shadow.uri if shadow else None,
        "shadow_name": shadow.name if shadow else None,
        "shadow_version": shadow.version if shadow else None,
        "description": description,
    }


def config_targets(config: Mapping[str, Any]) -> tuple[Target, Target | None, Target | None]:
    """The primary, canary and shadow of a configuration (``None`` for an arm it lacks)."""

    def target(prefix: str) -> Target | None:
        if config.get(f"{prefix}_name") is None:
            return None
        return Target(
            config[f"{prefix}_uri"], config[f"{prefix}_name"], int(config[f"{prefix}_version"])
        )

    primary = target("model")
    assert primary is not None  # every configuration has one (deployment_config)
    return primary, target("canary"), target("shadow")


def recorded_config(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """A configuration as a stored revision holds it, with every field (missing: ``None``)."""
    return {key: recorded.get(key) for key in CONFIG_FIELDS}


def replace_config(
    current: Mapping[str, Any],
    primary: Target,
    canary: Target | None,
    percent: float | None,
    shadow: Target | None,
    description: str | None,
) -> ConfigChange | None:
    """The configuration that replaces ``current`` as a whole (``cycleml deploy NAME``).

    A canary or shadow not given (``None``) is removed and named in ``removed``; a
    ``description`` of ``None`` keeps the current one. ``None`` when nothing changes.
    """
    keep = current["description"] if description is None else description
    config = deployment_config(primary, canary, percent, shadow, keep)
    if config == dict(current):
        return None
    removed = tuple(
        arm
        for arm in ("canary", "shadow")
        if current.get(f"{arm}_name") is not None and config[f"{arm}_name"] is None
    )
    return ConfigChange(config, removed)


def update_config(
    current: Mapping[str, Any],
    *,
    primary: Target | EllipsisType = ...,
    canary: Target | EllipsisType | None = ...,
    percent: float | EllipsisType | None = ...,
    shadow: Target | EllipsisType | None = ...,
    description: str | EllipsisType = ...,
) -> dict[str, Any] | None:
    """The configuration ``current`` becomes when some of it changes.

    An argument left out (``...``) keeps its current value, and the version it resolved to;
    ``canary=None`` or ``shadow=None`` removes that arm. A kept canary keeps its percent, a
    new canary without one starts at 0. ``None`` when nothing changes.
    """
    old_primary, old_canary, old_shadow = config_targets(current)
    new_canary = old_canary if canary is ... else canary
    if percent is ...:
        new_percent = current["canary_percent"] if new_canary is not None else None
    else:
        new_percent = percent
    config = deployment_config(
        old_primary if primary is ... else primary,
        new_canary,
        new_percent,
        old_shadow if shadow is ... else shadow,
        current["description"] if description is ... else description,
    )
    return None if config == dict(current) else config


def promote_config(name: str, current: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration after promoting the canary: it becomes the primary, and the
    deployment has no canary any more. The shadow and description stay.

    Raises:
        InvalidState: The deployment has no canary.
    """
    _, canary, shadow = config_targets(current)
    if canary is None:
        raise InvalidState(
            f"Deployment {name!r} has no canary to promote "
            f"(it serves models:/{current['model_name']}/{current['model_version']} only).",
            hint="Add a canary first (`cycleml deploy NAME --model URI --canary URI "
            "--percent 10`).",
        )
    return deployment_config(canary, None, None, shadow, current["description"])


def rollback_target(
    name: str,
    current: int,
    restored: Mapping[int, int | None],
    to_revision: int | None = None,
) -> RollbackTarget:
    """Which revision a rollback of deployment ``name`` restores.

    Args:
        current: The current revision.
        restored: Every revision of the history -> the revision it restored (``None`` for
            one that was not a rollback).
        to_revision: The revision asked for, or ``None`` for the configuration in effect
            before the current one. Rolling back repeatedly walks further back: a
            rollback's "before" is the one before the revision it restored, so two
            rollbacks do not toggle between two revisions.

    Raises:
        InvalidState: There is no earlier configuration.
        NotFound: ``to_revision`` is not in the history.
        InvalidInput: ``to_revision`` is the current revision.
    """

    def base(revision: int) -> int:
        original = restored[revision]
        return int(original) if original is not None else revision

    if to_revision is None:
        target = base(current) - 1
        if target < 1 or target not in restored:
            raise InvalidState(
                f"Deployment {name!r} has no earlier configuration to roll back to "
                f"(revision {current} restores the first one).",
                hint=f"Change it with `cycleml deploy {name} --model URI` instead.",
            )
    else:
        if to_revision not in restored:
            raise NotFound(
                f"Deployment {name!r} has no revision {to_revision} (revisions 1-{current}).",
                hint=_HISTORY_HINT,
            )
        if to_revision == current:
            raise InvalidInput(
                f"Revision {to_revision} is the current revision of deployment {name!r}.",
                hint="Name an earlier revision.",
            )
        target = to_revision
    return RollbackTarget(target, base(target))
