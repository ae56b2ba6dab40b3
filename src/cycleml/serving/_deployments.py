"""Deployments as a service: create, change, promote and roll back what a server serves.

A :class:`~cycleml.store.Deployment` names a primary model version, an optional canary that
answers ``canary_percent`` % of the requests and an optional shadow that scores them in the
background. :func:`route` picks the arm of one request: the same request key always lands
on the same arm (sticky routing), requests without a key are split at random.

Every model a change names is checked first: its URI must resolve to a cycleml model folder
whose ``model.yaml`` lists its files with matching sha256 hashes, so a server never picks up
a configuration it cannot load.
"""

from __future__ import annotations

import builtins
import hashlib
import random
import tempfile
import warnings
from pathlib import Path
from typing import Literal

from cycleml._api import deprecated_method
from cycleml.errors import InvalidInput, ModelIntegrityError, NotFound
from cycleml.registry import ModelRepository, RestModelRepository, SqlModelRepository
from cycleml.serving._repository import DeploymentRepository, SqlDeploymentRepository, server_url
from cycleml.serving._rest import RestDeploymentRepository
from cycleml.serving._sql_deployments import Deployment, DeploymentRevision
from cycleml.settings import Settings
from cycleml.spec import project_settings
from cycleml.store import ArtifactStore, Database, database_of, open_artifact_store, open_database

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
    A change that names a model which is not servable (its URI does not resolve to a
    verified cycleml model folder) is refused before anything is written.

    Args:
        settings: Where the stores are; default: the project's settings.
        repository: The repository to use; default: :class:`RestDeploymentRepository` on the
            ``cycleml server`` an http(s) tracking URI names (with the settings' tracking
            token), else :class:`SqlDeploymentRepository` on ``store``.
        models: The registry the ``models:/`` URIs resolve in; default: the same backend's.
        store: An open database to use instead of opening one from settings.
        artifacts: An open artifact store to use (the models' files).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        repository: DeploymentRepository | None = None,
        models: ModelRepository | None = None,
        store: Database | None = None,
        artifacts: ArtifactStore | None = None,
    ) -> None:
        self.settings = settings or project_settings()
        self._owns_store = store is None and repository is None
        self._owned_models: ModelRepository | None = None
        remote = store is None and database_of(repository) is None
        url = server_url(self.settings) if remote else None
        if url is not None:  # an http(s) tracking URI: the server's registry and deployments
            token = self.settings.tracking_token
            if models is None:
                models = RestModelRepository(url, token=token)
                self._owned_models = models
            repository = repository or RestDeploymentRepository(url, token=token)
        elif repository is None or models is None:
            db = store or database_of(repository) or open_database(self.settings)
            models = models or SqlModelRepository(db)
            repository = repository or SqlDeploymentRepository(db, models=models)
        #: The registry the deployments' ``models:/`` URIs are resolved in.
        self.models: ModelRepository = models
        self.repository: DeploymentRepository = repository
        self._artifacts = artifacts

    def _check_servable(self, uri: str, role: str = "primary") -> None:
        """Check that ``uri`` names a model a server can load, without loading it.

        The URI must resolve (alias and all) to a registered version whose source is a
        run's cycleml model folder: a ``model.yaml`` of a format and flavor this cycleml
        reads, listing every file of the folder with its sha256. The files are downloaded
        into a temporary folder to check the hashes, then removed.

        Raises:
            NotFound: No such model, version or alias, or its source holds no files.
            InvalidInput: The source is not a cycleml model folder (no ``model.yaml``, or
                one this cycleml cannot read).
            ModelIntegrityError: A file is missing, changed or not listed.
        """
        from cycleml.models import MODEL_FILE, read_model_file, verify_model_folder

        if not isinstance(uri, str) or not uri.startswith("models:/"):
            return  # not a registry URI: the store refuses it with its own message
        where = f"Cannot deploy {uri!r} as the {role} model"
        try:
            location = self.models.resolve_artifact_uri(uri)
        except NotFound as exc:
            details = {"uri": uri, "role": role}
            hint = exc.hint or _SERVABLE_HINT
            raise NotFound(f"{where}: {exc.message}", hint=hint, details=details) from exc
        source = f"runs:/{location.run_id}/{location.path}".rstrip("/")
        prefix = f"{location.path}/" if location.path else ""
        names = {entry.path[len(prefix) :] for entry in location.entries}
        if MODEL_FILE not in names:
            found = ", ".join(sorted(names)[:5]) or "no files"
            raise InvalidInput(
                f"{where}: {source} is not a cycleml model folder (no {MODEL_FILE}; "
                f"it holds {found}).",
                hint=_SERVABLE_HINT,
                details={"uri": uri, "role": role, "files": sorted(names)},
            )
        artifacts = self._artifacts or open_artifact_store(self.settings.artifact_uri)
        with tempfile.TemporaryDirectory(prefix="cycleml-check-") as scratch:
            for entry in location.entries:
                artifacts.download(entry.digest, Path(scratch) / entry.path)
            folder = Path(scratch) / location.path if location.path else Path(scratch)
            try:
                verify_model_folder(folder, read_model_file(folder)["files"])
            except (InvalidInput, ModelIntegrityError) as exc:
                # Name what the user gave, not the temporary folder.
                message = exc.message.replace(repr(str(folder)), source)
                message = message.replace(str(folder), source)
                details = {**exc.details, "uri": uri, "role": role}
                hint = exc.hint or _SERVABLE_HINT
                raise type(exc)(f"{where}: {message}", hint=hint, details=details) from exc

    def _check_all(self, *arms: tuple[str | None, str]) -> None:
        for uri, role in arms:
            if uri is not None:
                self._check_servable(uri, role)

    def create(
        self,
        name: str,
        model: str,
        *,
        canary: str | None = None,
        percent: float = 0,
        shadow: str | None = None,
        description: str = "",
        reason: str = "",
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
            reason: Why (kept in the revision history).
            actor: Who the audit log names; default: the store's actor.

        Raises:
            InvalidInput: Bad name, URI or percent; a canary or shadow equal to the primary;
                a model that is not servable (not a verified cycleml model folder).
            NotFound: A URI names no registered version.
            AlreadyExists: The name is taken.
        """
        percent_ = _percent(canary, percent)
        self._check_all((model, "primary"), (canary, "canary"), (shadow, "shadow"))
        return self.repository.create_deployment(
            name,
            model,
            canary_uri=canary,
            canary_percent=percent_,
            shadow_uri=shadow,
            description=description,
            reason=reason,
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
        """Create ``name``, or replace its whole configuration with this one.

        What ``cycleml deploy NAME --model ...`` does. On an existing deployment this is
        its next revision (action ``replace``, audited as ``deployment.replace`` with the
        previous configuration): a canary or shadow left out is removed (the audit row names
        it, and ``rollback`` brings it back), every URI is resolved again, and the
        description is kept unless given. Every model is checked first (as in
        :meth:`create`). Nothing is written if the result is the same.
        """
        percent_ = _percent(canary, percent)
        self._check_all((model, "primary"), (canary, "canary"), (shadow, "shadow"))
        return self.repository.replace_deployment(
            name,
            model,
            canary_uri=canary,
            canary_percent=percent_,
            shadow_uri=shadow,
            description=... if description is None else description,
            reason=reason,
            actor=actor,
        )

    def get(self, name: str) -> Deployment:
        """A deployment's current configuration; :class:`NotFound` if there is none."""
        return self.repository.get_deployment(name)

    def list(self) -> list[Deployment]:
        """Every deployment, by name."""
        return self.repository.list_deployments()

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
        self._check_all((model, "primary"))
        return self.repository.update_deployment(
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
        percent_ = _percent(model, percent)
        self._check_all((model, "canary"))
        return self.repository.update_deployment(
            name,
            canary_uri=model,
            canary_percent=percent_,
            reason=reason,
            actor=actor,
        )

    def set_shadow(
        self, name: str, model: str | None, *, reason: str = "", actor: str | None = None
    ) -> Deployment:
        """Shadow every request with ``model`` (``None`` removes the shadow)."""
        self._check_all((model, "shadow"))
        return self.repository.update_deployment(name, shadow_uri=model, reason=reason, actor=actor)

    def promote(self, name: str, reason: str = "", *, actor: str | None = None) -> Deployment:
        """Make the canary the primary and remove the canary.

        Raises:
            InvalidState: The deployment has no canary.
        """
        return self.repository.promote_deployment(name, reason=reason, actor=actor)

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
        :meth:`~cycleml.store.Database.rollback_deployment`.

        Raises:
            InvalidState: There is no earlier configuration.
        """
        return self.repository.rollback_deployment(
            name, to_revision=to_revision, reason=reason, actor=actor
        )

    def list_revisions(self, name: str) -> builtins.list[DeploymentRevision]:
        """The deployment's configurations, oldest first."""
        return self.repository.list_deployment_revisions(name)

    revisions = deprecated_method(list_revisions, "revisions", "Deployments")

    def check_servable(self, uri: str, role: str = "primary") -> None:
        """Deprecated (removed after one release): every change checks its models itself.

        Raises:
            NotFound, InvalidInput, ModelIntegrityError: As :meth:`create` does for a model
                that is not servable.
        """
        warnings.warn(
            "Deployments.check_servable is deprecated and will be removed in the next "
            "release; create, apply, update, set_canary and set_shadow check every model "
            "they name before writing anything.",
            DeprecationWarning,
            stacklevel=2,
        )
        self._check_servable(uri, role)

    check_servable.__deprecated__ = "create"  # type: ignore[attr-defined]

    def close(self) -> None:
        """Release the metadata store's connections (unless the store was passed in)."""
        if self._owns_store:
            self.repository.close()
        if self._owned_models is not None:  # a server's registry client opened here
            self._owned_models.close()


_SERVABLE_HINT = (
    "Deploy a version registered from a model logged with cycleml.models.log_model(), "
    "e.g. `cycleml models register runs:/<run_id>/model NAME`."
)


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
