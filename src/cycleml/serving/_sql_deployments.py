"""Deployments and their revisions in the SQL metadata store.

A deployment names the model versions one model server answers with: a primary, an
optional canary that gets a percentage of the traffic and an optional shadow that scores
every request in the background. The ``models:/`` URIs are kept as given and resolved to
versions when the configuration is set; every change is a new *revision*, kept in an
append-only history so a rollback can restore an earlier configuration.

Each mutation writes its audit row (entity ``deployment``) and its lineage edges in the same
transaction: ``model_version --deployed_as|canary_of|shadow_of--> deployment``. The
prediction log index and feedback live in :mod:`cycleml.serving._sql_predictions`.

The rules (what a configuration may hold, what an argument left out means, promotion and
which revision a rollback restores) are pure functions of
:mod:`cycleml.serving._deployment_rules`; this module reads the rows, calls them inside its
transaction and writes what they return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import EllipsisType
from typing import Any, Literal

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from cycleml.errors import AlreadyExists, InvalidInput, NotFound
from cycleml.registry import ModelRepository, ModelVersion, SqlModelRepository
from cycleml.serving._deployment_rules import (
    CONFIG_FIELDS,
    Target,
    check_description,
    check_percent,
    check_revision_number,
    config_targets,
    deployment_config,
    promote_config,
    recorded_config,
    replace_config,
    require_primary,
    rollback_target,
    update_config,
)
from cycleml.serving._tables import deployment_requests, deployment_revisions, deployments
from cycleml.store import (
    REQUEST_ID_TTL_MS,
    Database,
    ModelUri,
    RequestLog,
    SqlRepository,
    now_ms,
    record_audit,
    record_edges,
)
from cycleml.validation import check_name

__all__ = [
    "REQUEST_ID_TTL_MS",
    "Deployment",
    "DeploymentOps",
    "DeploymentRevision",
    "check_deployment_name",
    "claim_request",
]

#: What a revision records: ``create``, ``update`` (some fields changed), ``replace`` (the
#: whole configuration given anew), ``promote`` or ``rollback``.
RevisionAction = Literal["create", "update", "replace", "promote", "rollback"]

_URI_HINT = "Name a registered version, e.g. models:/churn@champion or models:/churn/3."


def check_deployment_name(name: str) -> str:
    """Validate a deployment name (letters, digits, ``_ - .``)."""
    return check_name(name, kind="deployment name", max_len=200, example="'churn-prod'")


_REQUESTS = RequestLog(deployment_requests)


def claim_request(conn: Connection, request_id: str, action: str, entity_id: str) -> bool:
    """Record ``request_id`` in the caller's transaction; whether it was applied before.

    ``False``: the id is new and the caller applies its write (a rollback forgets the id
    again). ``True``: the id names a committed write of the same action and entity, which
    the caller must not apply again (:meth:`cycleml.store.RequestLog.claim`).

    Raises:
        InvalidInput: The id is malformed, or was used for another action or entity.
    """
    return _REQUESTS.claim(conn, request_id, action, entity_id, now_ms()) is not None


@dataclass(frozen=True)
class Deployment:
    """The models a deployment serves, as of its current ``revision``.

    ``*_uri`` are the URIs as given (``models:/churn@champion``); ``*_name`` and
    ``*_version`` what they resolved to when the revision was made. ``canary_percent`` is
    the share of requests (0-100) the canary answers.
    """

    name: str
    model_uri: str
    model_name: str
    model_version: int
    canary_uri: str | None
    canary_name: str | None
    canary_version: int | None
    canary_percent: float | None
    shadow_uri: str | None
    shadow_name: str | None
    shadow_version: int | None
    revision: int
    description: str
    created_by: str
    creation_time: int
    last_updated_time: int

    @property
    def model_version_uri(self) -> str:
        """The primary as a pinned URI, ``models:/<name>/<version>``."""
        return f"models:/{self.model_name}/{self.model_version}"

    @property
    def canary_version_uri(self) -> str | None:
        """The canary as a pinned URI, or ``None``."""
        if self.canary_name is None:
            return None
        return f"models:/{self.canary_name}/{self.canary_version}"

    @property
    def shadow_version_uri(self) -> str | None:
        """The shadow as a pinned URI, or ``None``."""
        if self.shadow_name is None:
            return None
        return f"models:/{self.shadow_name}/{self.shadow_version}"

    def config(self) -> dict[str, Any]:
        """The configuration a revision records (models, canary share, description)."""
        return {key: getattr(self, key) for key in CONFIG_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Deployment:
        """The deployment :meth:`to_dict` made."""
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class DeploymentRevision:
    """One configuration of a deployment, in its append-only history.

    ``restored_revision`` is the revision whose configuration a rollback brought back.
    """

    name: str
    revision: int
    config: dict[str, Any]
    action: str
    actor: str
    time: int
    reason: str
    restored_revision: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeploymentRevision:
        """The revision :meth:`to_dict` made."""
        return cls(**{key: data[key] for key in cls.__dataclass_fields__})


def _deployment(row: Any) -> Deployment:
    return Deployment(
        name=row.name,
        model_uri=row.model_uri,
        model_name=row.model_name,
        model_version=int(row.model_version),
        canary_uri=row.canary_uri,
        canary_name=row.canary_name,
        canary_version=row.canary_version,
        canary_percent=None if row.canary_percent is None else float(row.canary_percent),
        shadow_uri=row.shadow_uri,
        shadow_name=row.shadow_name,
        shadow_version=row.shadow_version,
        revision=int(row.revision),
        description=row.description,
        created_by=row.created_by,
        creation_time=int(row.creation_time),
        last_updated_time=int(row.last_updated_time),
    )


def _not_found(name: str) -> NotFound:
    return NotFound(
        f"No deployment named {name!r}.",
        hint="Create it with `cycleml deploy NAME --model models:/<model>@<alias>`.",
    )


class DeploymentOps(SqlRepository):
    """Deployment operations of the SQL metadata store."""

    def __init__(self, db: Database, *, models: ModelRepository | None = None) -> None:
        super().__init__(db)
        #: The registry a deployment's ``models:/`` URIs are resolved in.
        self.models = models if models is not None else SqlModelRepository(db)

    def resolve_model_uri(self, uri: str | ModelUri) -> ModelVersion:
        """The model version a ``models:/`` URI names now (see the registry)."""
        return self.models.resolve_model_uri(uri)

    # ---- helpers -----------------------------------------------------------------------
    def _target(self, uri: object, role: str) -> Target:
        """Resolve a ``models:/`` URI to the version it names now."""
        if not isinstance(uri, str) or not uri.startswith("models:/"):
            raise InvalidInput(
                f"Invalid {role} model {uri!r}: expected a models:/ URI.", hint=_URI_HINT
            )
        try:
            found = self.resolve_model_uri(uri)
        except NotFound as exc:
            raise NotFound(
                f"Cannot use {uri!r} as the {role} model: {exc.message}",
                hint=exc.hint or _URI_HINT,
                details={"uri": uri, "role": role},
            ) from exc
        return Target(uri, found.name, found.version)

    def _optional_target(self, uri: str | None, role: str) -> Target | None:
        return None if uri is None else self._target(uri, role)

    def _kept_or_target(
        self, uri: str | EllipsisType | None, role: str
    ) -> Target | EllipsisType | None:
        """An arm of an update: kept (``...``), removed (``None``) or resolved anew."""
        if uri is ... or uri is None:
            return uri
        return self._target(uri, role)

    @staticmethod
    def _locked_row(conn: Connection, name: str) -> Any:
        """The deployment's row, locked until the transaction ends (PostgreSQL)."""
        row = conn.execute(
            select(deployments).where(deployments.c.name == name).with_for_update()
        ).first()
        if row is None:
            raise _not_found(name)
        return row

    @staticmethod
    def _require(conn: Connection, name: str) -> None:
        if conn.execute(select(deployments.c.name).where(deployments.c.name == name)).first():
            return
        raise _not_found(name)

    def _edges(self, conn: Connection, name: str, config: Mapping[str, Any], stamp: int) -> None:
        """Lineage from the configuration's model versions to the deployment (new ones only)."""
        primary, canary, shadow = config_targets(config)
        wanted = [
            ("model_version", f"{t.name}/{t.version}", relation, "deployment", name)
            for t, relation in (
                (primary, "deployed_as"),
                (canary, "canary_of"),
                (shadow, "shadow_of"),
            )
            if t is not None
        ]
        record_edges(conn, wanted, at=stamp, only_new=True)

    def _new_revision(
        self,
        conn: Connection,
        row: Any,
        config: dict[str, Any],
        *,
        action: RevisionAction,
        reason: str,
        actor: str,
        restored: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Make ``config`` the deployment's next revision: row, history, lineage, audit.

        ``extra`` adds keys to the audit row's payload.
        """
        stamp = now_ms()
        revision = int(row.revision) + 1
        conn.execute(
            update(deployments)
            .where(deployments.c.name == row.name)
            .values(**config, revision=revision, last_updated_time=stamp)
        )
        conn.execute(
            insert(deployment_revisions).values(
                name=row.name,
                revision=revision,
                config=config,
                action=action,
                restored_revision=restored,
                actor=actor,
                time=stamp,
                reason=reason,
            )
        )
        self._edges(conn, row.name, config, stamp)
        record_audit(
            conn,
            actor=actor,
            action=f"deployment.{action}",
            entity_kind="deployment",
            entity_id=row.name,
            payload={
                "revision": revision,
                "previous_revision": int(row.revision),
                "restored_revision": restored,
                "config": config,
                "previous": _deployment(row).config(),
                "reason": reason,
                **(extra or {}),
            },
            at=stamp,
        )

    # ---- deployments ---------------------------------------------------------------------
    def create_deployment(
        self,
        name: str,
        model_uri: str,
        *,
        canary_uri: str | None = None,
        canary_percent: float | None = None,
        shadow_uri: str | None = None,
        description: str = "",
        reason: str = "",
        actor: str | None = None,
        request_id: str | None = None,
    ) -> Deployment:
        """Create a deployment serving ``model_uri`` (revision 1).

        With ``request_id``, a retry of a creation that was applied returns the deployment.

        Raises:
            InvalidInput: A bad name, URI or percent, a canary or shadow that is the primary.
            NotFound: A URI names no registered model version.
            AlreadyExists: The name is taken.
        """
        check_deployment_name(name)
        require_primary(name, model_uri)
        description = check_description(description)
        percent = None if canary_percent is None else check_percent(canary_percent)
        config = deployment_config(
            self._target(model_uri, "primary"),
            self._optional_target(canary_uri, "canary"),
            percent,
            self._optional_target(shadow_uri, "shadow"),
            description,
        )
        who = actor or self.actor

        def write(conn: Connection) -> None:
            if request_id is not None and claim_request(
                conn, request_id, "deployment.create", name
            ):
                return
            if conn.execute(select(deployments.c.name).where(deployments.c.name == name)).first():
                raise AlreadyExists(
                    f"A deployment named {name!r} already exists.",
                    hint=f"`cycleml deploy {name} --model URI` replaces its configuration; "
                    "or pick another name.",
                )
            self._insert(conn, name, config, who=who, reason=reason)

        try:
            self._write(write)
        except IntegrityError as exc:  # a concurrent create won the race
            raise AlreadyExists(f"A deployment named {name!r} already exists.") from exc
        return self.get_deployment(name)

    def _insert(
        self, conn: Connection, name: str, config: dict[str, Any], *, who: str, reason: str
    ) -> None:
        """Revision 1 of a new deployment: row, history, lineage, audit."""
        stamp = now_ms()
        conn.execute(
            insert(deployments).values(
                name=name,
                **config,
                revision=1,
                created_by=who,
                creation_time=stamp,
                last_updated_time=stamp,
            )
        )
        conn.execute(
            insert(deployment_revisions).values(
                name=name,
                revision=1,
                config=config,
                action="create",
                restored_revision=None,
                actor=who,
                time=stamp,
                reason=reason,
            )
        )
        self._edges(conn, name, config, stamp)
        record_audit(
            conn,
            actor=who,
            action="deployment.create",
            entity_kind="deployment",
            entity_id=name,
            payload={"revision": 1, "config": config, "reason": reason},
            at=stamp,
        )

    def replace_deployment(
        self,
        name: str,
        model_uri: str,
        *,
        canary_uri: str | None = None,
        canary_percent: float | None = None,
        shadow_uri: str | None = None,
        description: str | EllipsisType = ...,
        reason: str = "",
        actor: str | None = None,
        request_id: str | None = None,
    ) -> Deployment:
        """Make the deployment's whole configuration this one: create it, or replace it.

        What ``cycleml deploy NAME --model URI`` does. On an existing deployment the
        configuration given is the next revision (action ``replace``): a canary or shadow
        that is not given again is removed, every URI is resolved again, and the audit row
        (``deployment.replace``) keeps the previous configuration and names the removed
        arms. The description is kept unless given. Nothing is written when nothing changes.
        With ``request_id``, a retry of a change that was applied is not applied again.

        Raises:
            InvalidInput: A bad name, URI or percent, a canary or shadow that is the primary.
            NotFound: A URI names no registered model version.
        """
        check_deployment_name(name)
        require_primary(name, model_uri)
        if description is not ...:
            check_description(description)
        percent = None if canary_percent is None else check_percent(canary_percent)
        primary = self._target(model_uri, "primary")
        canary = self._optional_target(canary_uri, "canary")
        shadow = self._optional_target(shadow_uri, "shadow")
        given = None if description is ... else description
        # Check the combination before any transaction (refusals write nothing).
        deployment_config(primary, canary, percent, shadow, given or "")
        who = actor or self.actor

        def write(conn: Connection) -> None:
            row = conn.execute(
                select(deployments).where(deployments.c.name == name).with_for_update()
            ).first()
            change = None
            if row is not None:
                change = replace_config(
                    _deployment(row).config(), primary, canary, percent, shadow, given
                )
                if change is None:  # nothing to write (nor any request id to remember)
                    return
            if request_id is not None and claim_request(
                conn, request_id, "deployment.replace", name
            ):
                return
            if row is None or change is None:  # a new deployment
                config = deployment_config(primary, canary, percent, shadow, given or "")
                self._insert(conn, name, config, who=who, reason=reason)
                return
            self._new_revision(
                conn, row, change.config, action="replace", reason=reason, actor=who,
                extra={"removed": list(change.removed)},
            )  # fmt: skip

        try:
            self._write(write)
        except IntegrityError:  # a concurrent create of the same name won: replace it
            self._write(write)
        return self.get_deployment(name)

    def get_deployment(self, name: str) -> Deployment:
        """A deployment's current configuration."""
        with self._read() as conn:
            row = conn.execute(select(deployments).where(deployments.c.name == name)).first()
        if row is None:
            raise _not_found(name)
        return _deployment(row)

    def list_deployments(self) -> list[Deployment]:
        """Every deployment, by name."""
        with self._read() as conn:
            rows = conn.execute(select(deployments).order_by(deployments.c.name)).all()
        return [_deployment(row) for row in rows]

    def update_deployment(
        self,
        name: str,
        *,
        model_uri: str | EllipsisType = ...,
        canary_uri: str | EllipsisType | None = ...,
        canary_percent: float | EllipsisType | None = ...,
        shadow_uri: str | EllipsisType | None = ...,
        description: str | EllipsisType = ...,
        reason: str = "",
        actor: str | None = None,
        request_id: str | None = None,
    ) -> Deployment:
        """Change some of a deployment's configuration; the result is the next revision.

        Arguments left out (``...``) keep their current value, and the versions they
        resolved to; a URI that is passed is resolved again (so passing the same
        ``models:/churn@champion`` picks up where the alias points now). ``canary_uri=None``
        or ``shadow_uri=None`` removes that arm. Nothing is written when nothing changes.
        With ``request_id``, a retry of a change that was applied is not applied again.
        """
        require_primary(name, model_uri, existing=True)
        primary = ... if model_uri is ... else self._target(model_uri, "primary")
        canary = self._kept_or_target(canary_uri, "canary")
        shadow = self._kept_or_target(shadow_uri, "shadow")
        percent = (
            canary_percent
            if canary_percent is ... or canary_percent is None
            else check_percent(canary_percent)
        )
        if description is not ...:
            check_description(description)
        who = actor or self.actor

        def write(conn: Connection) -> bool:
            row = self._locked_row(conn, name)
            config = update_config(
                _deployment(row).config(),
                primary=primary,
                canary=canary,
                percent=percent,
                shadow=shadow,
                description=description,
            )
            if config is None:  # nothing to write (nor any request id to remember)
                return False
            if request_id is not None and claim_request(
                conn, request_id, "deployment.update", name
            ):
                return False
            self._new_revision(conn, row, config, action="update", reason=reason, actor=who)
            return True

        self._write(write)
        return self.get_deployment(name)

    def promote_deployment(
        self,
        name: str,
        *,
        reason: str = "",
        actor: str | None = None,
        request_id: str | None = None,
    ) -> Deployment:
        """Make the canary the primary (and remove the canary) as the next revision.

        With ``request_id``, a retry of a promotion that was applied returns the deployment
        as it is now (and does not refuse it for having no canary left).

        Raises:
            InvalidState: The deployment has no canary.
        """
        who = actor or self.actor

        def write(conn: Connection) -> None:
            row = self._locked_row(conn, name)
            if request_id is not None and claim_request(
                conn, request_id, "deployment.promote", name
            ):
                return
            config = promote_config(name, _deployment(row).config())
            self._new_revision(conn, row, config, action="promote", reason=reason, actor=who)

        self._write(write)
        return self.get_deployment(name)

    def rollback_deployment(
        self,
        name: str,
        *,
        to_revision: int | None = None,
        reason: str = "",
        actor: str | None = None,
        request_id: str | None = None,
    ) -> Deployment:
        """Restore an earlier configuration as the next revision.

        By default the configuration that was in effect before the current one: rolling
        back repeatedly walks further back (a rollback's own "previous" is the one before
        the revision it restored), it does not toggle between two revisions. With
        ``request_id``, a retry of a rollback that was applied does not roll back further.

        Raises:
            InvalidState: There is no earlier configuration.
            NotFound: ``to_revision`` does not exist.
            InvalidInput: ``to_revision`` is the current revision or not a positive integer.
        """
        check_revision_number(to_revision)
        who = actor or self.actor

        def write(conn: Connection) -> None:
            row = self._locked_row(conn, name)
            if request_id is not None and claim_request(
                conn, request_id, "deployment.rollback", name
            ):
                return
            history = {
                int(r.revision): r
                for r in conn.execute(
                    select(deployment_revisions).where(deployment_revisions.c.name == name)
                )
            }
            target = rollback_target(
                name,
                int(row.revision),
                {revision: r.restored_revision for revision, r in history.items()},
                to_revision,
            )
            self._new_revision(
                conn,
                row,
                recorded_config(history[target.revision].config),
                action="rollback",
                reason=reason,
                actor=who,
                restored=target.restores,
            )

        self._write(write)
        return self.get_deployment(name)

    def list_deployment_revisions(self, name: str) -> list[DeploymentRevision]:
        """A deployment's configurations, oldest first."""
        with self._read() as conn:
            self._require(conn, name)
            rows = conn.execute(
                select(deployment_revisions)
                .where(deployment_revisions.c.name == name)
                .order_by(deployment_revisions.c.revision)
            ).all()
        return [
            DeploymentRevision(
                name=row.name,
                revision=int(row.revision),
                config=dict(row.config),
                action=row.action,
                actor=row.actor,
                time=int(row.time),
                reason=row.reason,
                restored_revision=row.restored_revision,
            )
            for row in rows
        ]
