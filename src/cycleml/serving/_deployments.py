"""Deployments as a service: create, change, promote and roll back what a server serves.

A :class:`~cycleml.store.Deployment` names a primary model version, an optional canary that
answers ``canary_percent`` % of the requests and an optional shadow that scores them in the
background. :func:`route` picks the arm of one request: the same request key always lands
on the same arm (sticky routing), requests without a key are split at random.
"""

from __future__ import annotations

import builtins
import hashlib
import random
from typing import Literal

from cycleml.errors import InvalidInput, NotFound
from cycleml.settings import Settings
from cycleml.spec import project_settings
from cycleml.store import (
    Deployment,
    DeploymentRevision,
    SqlMetadataStore,
    open_metadata_store,
)

__all__ = [
    "Arm",
    "Deployment",
    "DeploymentRevision",
    "Deployments",
    "route",
    "route_point",
    "split",
]

#: The arm :func:`route` sends a request to.
Arm = Literal["primary", "canary"]


def route_point(request_key: str) -> float:
    """The request key's fixed point in ``[0, 100)``: SHA-256 of its UTF-8 bytes, scaled.

    The first 8 bytes of the digest, read big-endian, divided by 2**64: uniform over keys,
    identical across processes, servers and restarts.
    """
    digest = hashlib.sha256(request_key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100.0


def route(
    deployment: Deployment,
    request_key: str | None,
    *,
    rng: random.Random | None = None,
) -> Arm:
    """``"canary"`` for ``canary_percent`` % of requests, else ``"primary"``.

    With a key the choice is sticky: a key whose point (:func:`route_point`) is below the
    percent goes to the canary, always; raising the percent only moves more keys to the
    canary, never back. Without a key (``None``) the draw is random (``rng`` or the
    ``random`` module).
    """
    if deployment.canary_name is None:
        return "primary"
    return split(deployment.canary_percent or 0.0, request_key, rng=rng)


def split(percent: float, request_key: str | None, *, rng: random.Random | None = None) -> Arm:
    """``"canary"`` for ``percent`` % of requests (sticky by key, see :func:`route`)."""
    if percent <= 0:
        return "primary"
    if percent >= 100:
        return "canary"
    # A random draw is for traffic splitting, not security.
    point = (rng or random).random() * 100.0 if request_key is None else route_point(request_key)
    return "canary" if point < percent else "primary"


class Deployments:
    """Create and change deployments (the models a ``cycleml serve --deployment`` serves).

    Every change is a new revision in an append-only history (audited, with lineage from
    the model versions to the deployment); a running server picks it up without a restart.

    Args:
        settings: Where the stores are; default: the project's settings.
        store: An open metadata store to use.
    """

    def __init__(
        self, settings: Settings | None = None, *, store: SqlMetadataStore | None = None
    ) -> None:
        self.settings = settings or project_settings()
        self._owns_store = store is None
        self.store = store or open_metadata_store(self.settings)

    def create(
        self,
        name: str,
        model: str,
        *,
        canary: str | None = None,
        percent: float = 0,
        shadow: str | None = None,
        description: str = "",
        actor: str | None = None,
    ) -> Deployment:
        """Create deployment ``name`` serving ``model`` (a ``models:/`` URI).

        Args:
            name: The deployment's name (letters, digits, ``_ - .``).
            model: The primary, e.g. ``models:/churn@champion`` (resolved to a version now).
            canary: A second version answering ``percent`` % of requests.
            percent: The canary's share, 0-100 (only with a canary).
            shadow: A version that scores every request in the background, never answering.
            description: Free text.
            actor: Who the audit log names; default: the store's actor.

        Raises:
            InvalidInput: Bad name, URI or percent; a canary or shadow equal to the primary.
            NotFound: A URI names no registered version.
            AlreadyExists: The name is taken.
        """
        return self.store.create_deployment(
            name,
            model,
            canary_uri=canary,
            canary_percent=_percent(canary, percent),
            shadow_uri=shadow,
            description=description,
            actor=actor,
        )

    def apply(
        self,
        name: str,
        model: str,
        *,
        canary: str | None = None,
        percent: float = 0,
        shadow: str | None = None,
        description: str | None = None,
        reason: str = "",
        actor: str | None = None,
    ) -> Deployment:
        """Create ``name``, or make its whole configuration this one (a new revision).

        ``cycleml deploy NAME --model ...`` on an existing deployment: arms left out are
        removed, URIs are resolved again. Nothing changes if the result is the same.
        """
        try:
            self.store.get_deployment(name)
        except NotFound:
            return self.create(
                name,
                model,
                canary=canary,
                percent=percent,
                shadow=shadow,
                description=description or "",
                actor=actor,
            )
        return self.store.update_deployment(
            name,
            model_uri=model,
            canary_uri=canary,
            canary_percent=_percent(canary, percent),
            shadow_uri=shadow,
            description=... if description is None else description,
            reason=reason,
            actor=actor,
        )

    def get(self, name: str) -> Deployment:
        """A deployment's current configuration; :class:`NotFound` if there is none."""
        return self.store.get_deployment(name)

    def list(self) -> list[Deployment]:
        """Every deployment, by name."""
        return self.store.list_deployments()

    def update(
        self,
        name: str,
        *,
        model: str | None = None,
        description: str | None = None,
        reason: str = "",
        actor: str | None = None,
    ) -> Deployment:
        """Replace the primary (resolving the URI again) and/or the description."""
        return self.store.update_deployment(
            name,
            model_uri=... if model is None else model,
            description=... if description is None else description,
            reason=reason,
            actor=actor,
        )

    def set_canary(
        self,
        name: str,
        model: str | None,
        percent: float,
        *,
        reason: str = "",
        actor: str | None = None,
    ) -> Deployment:
        """Serve ``model`` to ``percent`` % of requests (``model=None`` removes the canary)."""
        return self.store.update_deployment(
            name,
            canary_uri=model,
            canary_percent=_percent(model, percent),
            reason=reason,
            actor=actor,
        )

    def set_shadow(
        self, name: str, model: str | None, *, reason: str = "", actor: str | None = None
    ) -> Deployment:
        """Shadow every request with ``model`` (``None`` removes the shadow)."""
        return self.store.update_deployment(name, shadow_uri=model, reason=reason, actor=actor)

    def promote(self, name: str, reason: str = "", *, actor: str | None = None) -> Deployment:
        """Make the canary the primary and remove the canary.

        Raises:
            InvalidState: The deployment has no canary.
        """
        return self.store.promote_deployment(name, reason=reason, actor=actor)

    def rollback(
        self,
        name: str,
        reason: str = "",
        *,
        to_revision: int | None = None,
        actor: str | None = None,
    ) -> Deployment:
        """Restore the configuration before the current one (or ``to_revision``'s).

        Rolling back again goes further back; see
        :meth:`~cycleml.store.SqlMetadataStore.rollback_deployment`.

        Raises:
            InvalidState: There is no earlier configuration.
        """
        return self.store.rollback_deployment(
            name, to_revision=to_revision, reason=reason, actor=actor
        )

    def revisions(self, name: str) -> builtins.list[DeploymentRevision]:
        """The deployment's configurations, oldest first."""
        return self.store.list_deployment_revisions(name)

    def close(self) -> None:
        """Release the metadata store's connections (unless the store was passed in)."""
        if self._owns_store:
            self.store.close()


def _percent(canary: str | None, percent: float) -> float | None:
    """The percent the store gets: ``None`` without a canary (0 is accepted there)."""
    if canary is None:
        if percent not in (0, None):
            raise InvalidInput(
                f"A canary percent ({percent!r}) needs a canary model.",
                hint="Pass the canary too, e.g. --canary models:/churn/7 --percent 10.",
            )
        return None
    return percent
