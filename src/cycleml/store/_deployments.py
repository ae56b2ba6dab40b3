"""Deployments, the prediction log index and feedback in the SQL metadata store.

A deployment names the model versions one model server answers with: a primary, an
optional canary that gets a percentage of the traffic and an optional shadow that scores
every request in the background. The ``models:/`` URIs are kept as given and resolved to
versions when the configuration is set; every change is a new *revision*, kept in an
append-only history so a rollback can restore an earlier configuration.

Each mutation writes its audit row (entity ``deployment``) and its lineage edges in the same
transaction: ``model_version --deployed_as|canary_of|shadow_of--> deployment`` and
``deployment --produced--> prediction_log`` (one node per Parquet part).

Feedback is append-only: a second label for a request id is a new row, and readers take the
latest by ``time`` (ties: the one recorded last).
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from sqlalchemy import Connection, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from cycleml.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from cycleml.ids import check_id, new_id
from cycleml.store._base import StoreBase
from cycleml.store._journal import json_safe, now_ms, record_audit, record_edges
from cycleml.store._names import check_name
from cycleml.store._schema import (
    deployment_revisions,
    deployments,
    feedback,
    lineage_edges,
    prediction_log_parts,
)

if TYPE_CHECKING:
    from cycleml.store._entities import ModelVersion
    from cycleml.store._uris import ModelUri

__all__ = [
    "Deployment",
    "DeploymentOps",
    "DeploymentRevision",
    "FeedbackRecord",
    "PredictionLogPart",
    "check_deployment_name",
]

#: What a revision records: ``create``, ``update``, ``promote`` or ``rollback``.
RevisionAction = Literal["create", "update", "promote", "rollback"]

_CONFIG_FIELDS = (
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
_REQUEST_ID_MAX = 256
_NODE_MAX = 256  # the lineage table's id columns
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_URI_HINT = "Name a registered version, e.g. models:/churn@champion or models:/churn/3."


def check_deployment_name(name: str) -> str:
    """Validate a deployment name (letters, digits, ``_ - .``)."""
    return check_name(name, kind="deployment name", max_len=200, example="'churn-prod'")


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
        return {key: getattr(self, key) for key in _CONFIG_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


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


@dataclass(frozen=True)
class PredictionLogPart:
    """One Parquet part of a deployment's prediction log (a content-addressed blob).

    ``min_time`` and ``max_time`` bound the rows' ``time`` (ms since the epoch);
    ``model_versions`` lists the ``<name>/<version>`` that scored them.
    """

    id: str
    deployment: str
    digest: str
    path: str
    rows: int
    min_time: int
    max_time: int
    model_versions: tuple[str, ...]
    created_time: int
    bytes: int


class FeedbackRecord(NamedTuple):
    """One stored label (a named tuple: bulk feedback makes many of them)."""

    id: int
    deployment: str
    request_id: str
    label: Any
    time: int
    actor: str
    created_time: int


class _Target(NamedTuple):
    uri: str
    name: str
    version: int


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


def _check_percent(percent: object) -> float:
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


def _check_description(description: object) -> str:
    if not isinstance(description, str):
        raise InvalidInput(
            f"Invalid description {description!r}: expected a string.",
            hint="Describe the deployment in words, e.g. 'churn scoring for the CRM'.",
        )
    return description


def _config(
    primary: _Target,
    canary: _Target | None,
    percent: float | None,
    shadow: _Target | None,
    description: str,
) -> dict[str, Any]:
    """Check a whole configuration and return it as a revision records it."""
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


def _targets(config: Mapping[str, Any]) -> tuple[_Target, _Target | None, _Target | None]:
    def target(prefix: str) -> _Target | None:
        if config.get(f"{prefix}_name") is None:
            return None
        return _Target(
            config[f"{prefix}_uri"], config[f"{prefix}_name"], int(config[f"{prefix}_version"])
        )

    primary = target("model")
    assert primary is not None
    return primary, target("canary"), target("shadow")


def _not_found(name: str) -> NotFound:
    return NotFound(
        f"No deployment named {name!r}.",
        hint="Create it with `cycleml deploy NAME --model models:/<model>@<alias>`.",
    )


class DeploymentOps(StoreBase):
    """Deployment, prediction log and feedback operations of the SQL metadata store."""

    if TYPE_CHECKING:

        def resolve_model_uri(self, uri: str | ModelUri) -> ModelVersion: ...

    # ---- helpers -----------------------------------------------------------------------
    def _target(self, uri: object, role: str) -> _Target:
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
        return _Target(uri, found.name, found.version)

    def _optional_target(self, uri: str | None, role: str) -> _Target | None:
        return None if uri is None else self._target(uri, role)

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
        primary, canary, shadow = _targets(config)
        wanted = [
            ("model_version", f"{t.name}/{t.version}", relation, "deployment", name)
            for t, relation in (
                (primary, "deployed_as"),
                (canary, "canary_of"),
                (shadow, "shadow_of"),
            )
            if t is not None
        ]
        existing = {
            (row.src_kind, row.src_id, row.relation, row.dst_kind, row.dst_id)
            for row in conn.execute(
                select(lineage_edges).where(
                    and_(lineage_edges.c.dst_kind == "deployment", lineage_edges.c.dst_id == name)
                )
            )
        }
        record_edges(conn, [edge for edge in wanted if edge not in existing], at=stamp)

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
    ) -> None:
        """Make ``config`` the deployment's next revision: row, history, lineage, audit."""
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
    ) -> Deployment:
        """Create a deployment serving ``model_uri`` (revision 1).

        Raises:
            InvalidInput: A bad name, URI or percent, a canary or shadow that is the primary.
            NotFound: A URI names no registered model version.
            AlreadyExists: The name is taken.
        """
        check_deployment_name(name)
        if model_uri is None or model_uri == "":
            raise InvalidInput(
                f"Deployment {name!r} needs a primary model; a canary or shadow alone is "
                "not a deployment.",
                hint="Pass --model models:/<model>@<alias>.",
            )
        description = _check_description(description)
        percent = None if canary_percent is None else _check_percent(canary_percent)
        config = _config(
            self._target(model_uri, "primary"),
            self._optional_target(canary_uri, "canary"),
            percent,
            self._optional_target(shadow_uri, "shadow"),
            description,
        )
        who = actor or self.actor
        stamp = now_ms()

        def write(conn: Connection) -> None:
            if conn.execute(select(deployments.c.name).where(deployments.c.name == name)).first():
                raise AlreadyExists(
                    f"A deployment named {name!r} already exists.",
                    hint="Change it with update, promote or rollback, or pick another name.",
                )
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

        try:
            self._write(write)
        except IntegrityError as exc:  # a concurrent create won the race
            raise AlreadyExists(f"A deployment named {name!r} already exists.") from exc
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
    ) -> Deployment:
        """Change some of a deployment's configuration; the result is the next revision.

        Arguments left out (``...``) keep their current value, and the versions they
        resolved to; a URI that is passed is resolved again (so passing the same
        ``models:/churn@champion`` picks up where the alias points now). ``canary_uri=None``
        or ``shadow_uri=None`` removes that arm. Nothing is written when nothing changes.
        """
        if model_uri is None or model_uri == "":
            raise InvalidInput(
                f"Deployment {name!r} needs a primary model; it cannot be removed.",
                hint="Pass another models:/ URI to replace it.",
            )
        primary = None if model_uri is ... else self._target(model_uri, "primary")
        canary = None if canary_uri in (..., None) else self._target(canary_uri, "canary")
        shadow = None if shadow_uri in (..., None) else self._target(shadow_uri, "shadow")
        percent = (
            canary_percent
            if canary_percent is ... or canary_percent is None
            else _check_percent(canary_percent)
        )
        if description is not ...:
            _check_description(description)
        who = actor or self.actor

        def write(conn: Connection) -> bool:
            row = self._locked_row(conn, name)
            current = _deployment(row)
            old_primary, old_canary, old_shadow = _targets(current.config())
            new_canary = old_canary if canary_uri is ... else canary
            if percent is ...:
                new_percent = current.canary_percent if new_canary is not None else None
            else:
                new_percent = percent
            config = _config(
                primary or old_primary,
                new_canary,
                new_percent,
                old_shadow if shadow_uri is ... else shadow,
                current.description if description is ... else description,
            )
            if config == current.config():
                return False
            self._new_revision(conn, row, config, action="update", reason=reason, actor=who)
            return True

        self._write(write)
        return self.get_deployment(name)

    def promote_deployment(
        self, name: str, *, reason: str = "", actor: str | None = None
    ) -> Deployment:
        """Make the canary the primary (and remove the canary) as the next revision.

        Raises:
            InvalidState: The deployment has no canary.
        """
        who = actor or self.actor

        def write(conn: Connection) -> None:
            row = self._locked_row(conn, name)
            current = _deployment(row)
            _, canary, shadow = _targets(current.config())
            if canary is None:
                raise InvalidState(
                    f"Deployment {name!r} has no canary to promote "
                    f"(it serves {current.model_version_uri} only).",
                    hint="Add a canary first (`cycleml deploy NAME --canary URI --percent 10`).",
                )
            config = _config(canary, None, None, shadow, current.description)
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
    ) -> Deployment:
        """Restore an earlier configuration as the next revision.

        By default the configuration that was in effect before the current one: rolling
        back repeatedly walks further back (a rollback's own "previous" is the one before
        the revision it restored), it does not toggle between two revisions.

        Raises:
            InvalidState: There is no earlier configuration.
            NotFound: ``to_revision`` does not exist.
            InvalidInput: ``to_revision`` is the current revision or not a positive integer.
        """
        if to_revision is not None and (
            isinstance(to_revision, bool) or not isinstance(to_revision, int) or to_revision < 1
        ):
            raise InvalidInput(
                f"Invalid revision {to_revision!r}: expected a positive integer.",
                hint="List them with `cycleml deploy history NAME`.",
            )
        who = actor or self.actor

        def write(conn: Connection) -> None:
            row = self._locked_row(conn, name)
            history = {
                r.revision: r
                for r in conn.execute(
                    select(deployment_revisions).where(deployment_revisions.c.name == name)
                )
            }

            def base(revision: int) -> int:
                restored = history[revision].restored_revision
                return int(restored) if restored is not None else revision

            current = int(row.revision)
            if to_revision is None:
                target = base(current) - 1
                if target < 1 or target not in history:
                    raise InvalidState(
                        f"Deployment {name!r} has no earlier configuration to roll back to "
                        f"(revision {current} restores the first one).",
                        hint="Change it with an update instead.",
                    )
            else:
                if to_revision not in history:
                    raise NotFound(
                        f"Deployment {name!r} has no revision {to_revision} "
                        f"(revisions 1-{current}).",
                        hint="List them with `cycleml deploy history NAME`.",
                    )
                if to_revision == current:
                    raise InvalidInput(
                        f"Revision {to_revision} is the current revision of deployment {name!r}.",
                        hint="Name an earlier revision.",
                    )
                target = to_revision
            config = {key: history[target].config.get(key) for key in _CONFIG_FIELDS}
            self._new_revision(
                conn,
                row,
                config,
                action="rollback",
                reason=reason,
                actor=who,
                restored=base(target),
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

    # ---- prediction log index ----------------------------------------------------------
    def add_prediction_log_part(
        self,
        deployment: str,
        *,
        digest: str,
        path: str,
        rows: int,
        min_time: int,
        max_time: int,
        model_versions: Sequence[str] = (),
        bytes: int,
        part_id: str | None = None,
        actor: str | None = None,
    ) -> PredictionLogPart:
        """Index one Parquet part of a deployment's prediction log.

        Idempotent on ``part_id``: indexing the same part again (a retried write whose first
        attempt did commit) returns the stored row and writes nothing.

        Raises:
            InvalidInput: Bad digest, counts or times.
            NotFound: No such deployment.
            AlreadyExists: ``part_id`` is taken by another blob.
        """
        if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
            raise InvalidInput(f"Invalid blob digest {digest!r}: expected 64 lowercase hex.")
        for value, what in ((rows, "rows"), (bytes, "bytes"), (min_time, "min_time")):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(f"Invalid {what} {value!r}: expected a non-negative integer.")
        if isinstance(max_time, bool) or not isinstance(max_time, int) or max_time < min_time:
            raise InvalidInput(
                f"Invalid time range {min_time!r}..{max_time!r}: max_time must be an integer "
                "no smaller than min_time."
            )
        if rows < 1:
            raise InvalidInput("A prediction log part must hold at least one row.")
        part = check_id(part_id, kind="part id") if part_id is not None else new_id()
        versions = sorted({str(v) for v in model_versions})
        who = actor or self.actor
        stamp = now_ms()

        def write(conn: Connection) -> Any:
            self._require(conn, deployment)
            existing = conn.execute(
                select(prediction_log_parts).where(prediction_log_parts.c.id == part)
            ).first()
            if existing is not None:
                if existing.digest == digest and existing.deployment == deployment:
                    return existing
                raise AlreadyExists(f"Prediction log part {part} is already indexed.")
            values = {
                "id": part,
                "deployment": deployment,
                "digest": digest,
                "path": path,
                "rows": rows,
                "min_time": min_time,
                "max_time": max_time,
                "model_versions": versions,
                "created_time": stamp,
                "bytes": bytes,
            }
            conn.execute(insert(prediction_log_parts).values(**values))
            record_edges(
                conn, [("deployment", deployment, "produced", "prediction_log", part)], at=stamp
            )
            record_audit(
                conn,
                actor=who,
                action="deployment.log_predictions",
                entity_kind="deployment",
                entity_id=deployment,
                payload={
                    "part": part,
                    "digest": digest,
                    "rows": rows,
                    "min_time": min_time,
                    "max_time": max_time,
                    "model_versions": versions,
                },
                at=stamp,
            )
            return None

        stored = self._write(write)
        if stored is not None:
            return _part(stored)
        return PredictionLogPart(
            part, deployment, digest, path, rows, min_time, max_time, tuple(versions), stamp, bytes
        )

    def list_prediction_log_parts(
        self, deployment: str, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[PredictionLogPart]:
        """The parts whose rows may fall in ``[since_ms, until_ms)``, oldest first."""
        query = select(prediction_log_parts).where(prediction_log_parts.c.deployment == deployment)
        if since_ms is not None:
            query = query.where(prediction_log_parts.c.max_time >= since_ms)
        if until_ms is not None:
            query = query.where(prediction_log_parts.c.min_time < until_ms)
        with self._read() as conn:
            self._require(conn, deployment)
            rows = conn.execute(
                query.order_by(prediction_log_parts.c.min_time, prediction_log_parts.c.id)
            ).all()
        return [_part(row) for row in rows]

    # ---- batch scoring ---------------------------------------------------------------------
    def record_batch_prediction(
        self,
        batch_id: str,
        *,
        model_name: str | None,
        model_version: int | None,
        model_uri: str,
        inputs: Sequence[tuple[str, str]],
        output: str,
        rows: int,
        digest: str,
        actor: str | None = None,
    ) -> None:
        """Record a finished batch scoring job: its lineage and its audit row.

        Edges: each input node ``--input_to-->`` and the model version ``--scored-->``
        ``batch_prediction/<batch_id>``, which ``--produced-->`` the output ``file``.

        Raises:
            InvalidInput: A malformed batch id, or a lineage node id over 256 characters.
        """
        check_id(batch_id, kind="batch id")
        edges = [(kind, ref, "input_to", "batch_prediction", batch_id) for kind, ref in inputs]
        if model_name is not None and model_version is not None:
            edges.append(
                (
                    "model_version",
                    f"{model_name}/{model_version}",
                    "scored",
                    "batch_prediction",
                    batch_id,
                )
            )
        edges.append(("batch_prediction", batch_id, "produced", "file", output))
        for edge in edges:
            for node in (edge[1], edge[4]):
                if not isinstance(node, str) or not 0 < len(node) <= _NODE_MAX:
                    raise InvalidInput(
                        f"Cannot record lineage to {node!r}: node ids are 1-{_NODE_MAX} "
                        "characters.",
                        hint="Use a shorter path for the input or output file.",
                    )
        who = actor or self.actor
        stamp = now_ms()

        def write(conn: Connection) -> None:
            record_edges(conn, edges, at=stamp)
            record_audit(
                conn,
                actor=who,
                action="batch_prediction.create",
                entity_kind="batch_prediction",
                entity_id=batch_id,
                payload={
                    "model_uri": model_uri,
                    "model_name": model_name,
                    "model_version": model_version,
                    "inputs": [list(ref) for ref in inputs],
                    "output": output,
                    "rows": rows,
                    "digest": digest,
                },
                at=stamp,
            )

        self._write(write)

    # ---- feedback ------------------------------------------------------------------------
    def add_feedback(
        self,
        deployment: str,
        records: Sequence[tuple[str, Any, int | None]],
        *,
        actor: str | None = None,
    ) -> int:
        """Store labels ``(request_id, label, time_ms or None for now)`` in one transaction.

        Returns how many were stored. All or nothing: one bad record stores none.

        Raises:
            InvalidInput: No records, or a record without request id or label.
            NotFound: No such deployment.
        """
        if not records:
            raise InvalidInput(
                "No feedback to record: the batch is empty.",
                hint="Pass records with a request_id and a label.",
            )
        who = actor or self.actor
        stamp = now_ms()
        rows: list[dict[str, Any]] = []
        for i, record in enumerate(records):
            try:
                request_id, label, at = record
            except (TypeError, ValueError) as exc:
                raise InvalidInput(
                    f"Invalid feedback record {i}: expected (request_id, label, time), "
                    f"got {record!r}."
                ) from exc
            if not isinstance(request_id, str) or not request_id.strip():
                raise InvalidInput(
                    f"Feedback record {i} has no request id (got {request_id!r}).",
                    hint="Every label needs the request id the prediction was returned with.",
                )
            if len(request_id) > _REQUEST_ID_MAX:
                raise InvalidInput(
                    f"Feedback record {i}: request id longer than {_REQUEST_ID_MAX} characters."
                )
            if label is None:
                raise InvalidInput(f"Feedback record {i} (request {request_id!r}) has no label.")
            if at is not None and (isinstance(at, bool) or not isinstance(at, int)):
                raise InvalidInput(
                    f"Feedback record {i}: invalid time {at!r}, expected milliseconds since "
                    "the epoch or None."
                )
            clean = json_safe(label)
            try:
                json.dumps(clean, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise InvalidInput(
                    f"Feedback record {i} (request {request_id!r}): the label {label!r} cannot "
                    f"be stored as JSON: {exc}."
                ) from exc
            rows.append(
                {
                    "deployment": deployment,
                    "request_id": request_id,
                    "label": clean,
                    "time": stamp if at is None else at,
                    "actor": who,
                    "created_time": stamp,
                }
            )

        def write(conn: Connection) -> None:
            self._require(conn, deployment)
            conn.execute(insert(feedback), rows)
            record_audit(
                conn,
                actor=who,
                action="deployment.add_feedback",
                entity_kind="deployment",
                entity_id=deployment,
                payload={
                    "rows": len(rows),
                    "min_time": min(r["time"] for r in rows),
                    "max_time": max(r["time"] for r in rows),
                },
                at=stamp,
            )

        self._write(write)
        return len(rows)

    def list_feedback(
        self, deployment: str, *, since_ms: int | None = None
    ) -> list[FeedbackRecord]:
        """Every stored label (all of them, not only the latest), by time then insertion."""
        query = select(feedback).where(feedback.c.deployment == deployment)
        if since_ms is not None:
            query = query.where(feedback.c.time >= since_ms)
        with self._read() as conn:
            self._require(conn, deployment)
            rows = conn.execute(query.order_by(feedback.c.time, feedback.c.id)).all()
        return [
            FeedbackRecord(
                int(row.id),
                row.deployment,
                row.request_id,
                row.label,
                int(row.time),
                row.actor,
                int(row.created_time),
            )
            for row in rows
        ]


def _part(row: Any) -> PredictionLogPart:
    return PredictionLogPart(
        id=row.id,
        deployment=row.deployment,
        digest=row.digest,
        path=row.path,
        rows=int(row.rows),
        min_time=int(row.min_time),
        max_time=int(row.max_time),
        model_versions=tuple(row.model_versions or ()),
        created_time=int(row.created_time),
        bytes=int(row.bytes),
    )
