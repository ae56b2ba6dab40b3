"""Registered models, versions, aliases and stage transitions in the SQL metadata store.

Gate checks live in :mod:`cycleml.registry`; this module only stores what it decides.
Deleted models and versions keep their rows (``deleted_time``, registry_0003) and are left
out of every read here; :mod:`cycleml.registry._sql_changes` holds the edits and deletions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from cycleml.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from cycleml.ids import new_id
from cycleml.registry._entities import ModelVersion, RegisteredModel, Stage, StageTransition
from cycleml.registry._tables import (
    model_aliases,
    model_requests,
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
    stage_transitions,
)
from cycleml.store import RequestLog, SqlRepository, json_safe, now_ms, record_audit, record_edges
from cycleml.validation import check_key, check_label, check_name

__all__ = ["ModelOps", "check_alias", "check_model_name", "parse_stage"]

# Names stop at 245 characters so a version's entity id "<name>/<version>" fits the
# 256-character audit and lineage columns.
_NAME_MAX = 245


def check_model_name(name: str) -> str:
    """Validate a registered model name (letters, digits, ``_ - .``)."""
    return check_name(name, kind="model name", max_len=_NAME_MAX, example="'churn-classifier'")


def check_alias(alias: str) -> str:
    """Validate an alias such as ``champion``; aliases that look like versions are refused."""
    return check_label(
        alias,
        kind="alias",
        max_len=256,
        reserved="'latest' and version numbers are reserved",
        example="'champion' or 'challenger'",
    )


def _check_tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    return {check_key(k, "tag"): str(v) for k, v in (tags or {}).items()}


def _metrics_snapshot(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metric values as JSON can hold them: NaN and infinities become strings."""
    clean: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        try:
            clean[str(key)] = float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"Invalid value for metric {key!r}: expected a number, got {value!r}."
            ) from exc
    return dict(json_safe(clean))


def _metrics_from_json(stored: Mapping[str, Any] | None) -> dict[str, float]:
    return {key: float(value) for key, value in (stored or {}).items()}


_REQUESTS = RequestLog(model_requests)


def _same_model(row: Any, action: str, entity_id: str) -> bool:
    """Whether a remembered claim is of ``action`` on the model ``entity_id`` names, or one of
    its versions (a version's number is only known once the write that made it ran)."""
    return bool(
        row.action == action and str(row.entity_id).split("/")[0] == entity_id.split("/")[0]
    )


def claim_request(
    conn: Connection, request_id: str, action: str, entity_id: str, stamp: int
) -> str | None:
    """Record ``request_id`` in the caller's transaction; the entity it named, if applied before.

    ``None``: the id is new, and the caller applies its write (a rollback forgets the id
    again). Otherwise the id names a write already committed, whose entity id (``name`` or
    ``name/version``) is returned, and the caller must not apply it again
    (:meth:`cycleml.store.RequestLog.claim`).

    Raises:
        InvalidInput: The id was used for another action or model.
    """
    seen = _REQUESTS.claim(conn, request_id, action, entity_id, stamp, same=_same_model)
    return None if seen is None else str(seen.entity_id)


def _live_versions(name: str) -> Any:
    """The condition selecting the versions of ``name`` that are not deleted."""
    return and_(model_versions.c.name == name, model_versions.c.deleted_time.is_(None))


def parse_stage(stage: str) -> Stage:
    """Map a stage name, case-insensitively, to :class:`Stage`."""
    for known in Stage:
        if isinstance(stage, str) and stage.lower() == known.value.lower():
            return known
    raise InvalidInput(
        f"Invalid stage {stage!r}: expected one of {', '.join(s.value for s in Stage)}."
    )


class ModelOps(SqlRepository):
    """Model registry operations of the SQL metadata store."""

    # ---- registered models -------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> RegisteredModel:
        """Create a registered model with an unused name.

        With ``request_id``, a retry of a creation that was applied returns the model.
        """
        check_model_name(name)
        tags = _check_tags(tags)
        stamp = now_ms()

        def write(conn: Connection) -> None:
            if request_id is not None and claim_request(
                conn, request_id, "model.create", name, stamp
            ):
                return
            found = conn.execute(
                select(registered_models.c.deleted_time).where(registered_models.c.name == name)
            ).first()
            if found is not None and found.deleted_time is None:
                raise AlreadyExists(
                    f"A registered model named {name!r} already exists.",
                    hint="Register a new version of it instead, or pick another name.",
                )
            fields = {
                "description": description,
                "creation_time": stamp,
                "last_updated_time": stamp,
                "deleted_time": None,
            }
            if found is None:
                conn.execute(insert(registered_models).values(name=name, **fields))
            else:
                # A deleted model's name is used again: its row comes back with new fields
                # (and tags), its deleted versions stay deleted, and numbering goes on after
                # them, so "<name>/<version>" in lineage and audit never names two versions.
                revived = conn.execute(
                    update(registered_models)
                    .where(
                        and_(
                            registered_models.c.name == name,
                            registered_models.c.deleted_time.is_not(None),
                        )
                    )
                    .values(**fields)
                ).rowcount
                if not revived:  # another writer re-created it first
                    raise AlreadyExists(f"A registered model named {name!r} already exists.")
                conn.execute(
                    delete(registered_model_tags).where(registered_model_tags.c.name == name)
                )
            if tags:
                conn.execute(
                    insert(registered_model_tags),
                    [{"name": name, "key": k, "value": str(v)} for k, v in tags.items()],
                )
            record_audit(
                conn,
                actor=self.actor,
                action="model.create",
                entity_kind="model",
                entity_id=name,
                payload={
                    "description": description,
                    "tags": dict(tags or {}),
                    **({"recreated": True} if found is not None else {}),
                },
                at=stamp,
            )

        try:
            self._write(write)
        except IntegrityError as exc:
            raise AlreadyExists(f"A registered model named {name!r} already exists.") from exc
        return self.get_registered_model(name)

    def _model_row(self, conn: Connection, name: str, *, lock: bool = False) -> Any:
        """The model's row, unless it is deleted (raise :class:`NotFound`).

        ``lock``: for a write, hold the row (``FOR UPDATE`` on PostgreSQL) so a concurrent
        rename or deletion waits for this write, or this write for it.
        """
        query = select(registered_models).where(
            and_(registered_models.c.name == name, registered_models.c.deleted_time.is_(None))
        )
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(
                f"No registered model named {name!r}.",
                hint="List models with `cycleml models list`.",
            )
        return row

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return a registered model with its tags, aliases and latest version number."""
        with self._read() as conn:
            row = self._model_row(conn, name)
            tags = dict(
                conn.execute(
                    select(registered_model_tags.c.key, registered_model_tags.c.value).where(
                        registered_model_tags.c.name == name
                    )
                ).all()
            )
            aliases = dict(
                conn.execute(
                    select(model_aliases.c.alias, model_aliases.c.version).where(
                        model_aliases.c.name == name
                    )
                ).all()
            )
            latest = conn.execute(
                select(func.max(model_versions.c.version)).where(_live_versions(name))
            ).scalar()
        return RegisteredModel(
            name=row.name,
            description=row.description,
            creation_time=row.creation_time,
            last_updated_time=row.last_updated_time,
            tags=tags,
            aliases=aliases,
            latest_version=latest,
        )

    def list_registered_models(self) -> list[RegisteredModel]:
        """All registered models, by name."""
        with self._read() as conn:
            names = (
                conn.execute(
                    select(registered_models.c.name)
                    .where(registered_models.c.deleted_time.is_(None))
                    .order_by(registered_models.c.name)
                )
                .scalars()
                .all()
            )
        return [self.get_registered_model(name) for name in names]

    # ---- versions --------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        *,
        source: str,
        run_id: str | None = None,
        metrics: Mapping[str, float] | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        signature: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> ModelVersion:
        """Add the next version of a registered model, linked to its source run.

        With ``request_id``, a retry of a creation that was applied returns that version.
        """
        snapshot = _metrics_snapshot(metrics)
        tags = _check_tags(tags)
        stamp = now_ms()

        def write(conn: Connection) -> int:
            self._model_row(conn, name, lock=True)
            if request_id is not None:
                done = claim_request(conn, request_id, "model_version.create", name, stamp)
                if done is not None:
                    return int(done.rsplit("/", 1)[1])
            version = (
                int(
                    conn.execute(
                        select(func.coalesce(func.max(model_versions.c.version), 0)).where(
                            model_versions.c.name == name
                        )
                    ).scalar_one()
                )
                + 1
            )
            conn.execute(
                insert(model_versions).values(
                    name=name,
                    version=version,
                    model_version_id=new_id(),
                    run_id=run_id,
                    source=source,
                    current_stage=Stage.NONE.value,
                    description=description,
                    metrics=snapshot,
                    signature=dict(signature) if signature else None,
                    user_id=self.actor,
                    creation_time=stamp,
                    last_updated_time=stamp,
                )
            )
            if tags:
                conn.execute(
                    insert(model_version_tags),
                    [
                        {"name": name, "version": version, "key": k, "value": str(v)}
                        for k, v in tags.items()
                    ],
                )
            conn.execute(
                update(registered_models)
                .where(registered_models.c.name == name)
                .values(last_updated_time=stamp)
            )
            if run_id is not None:
                record_edges(
                    conn,
                    [("run", run_id, "produced", "model_version", f"{name}/{version}")],
                    at=stamp,
                )
            record_audit(
                conn,
                actor=self.actor,
                action="model_version.create",
                entity_kind="model_version",
                entity_id=f"{name}/{version}",
                payload={"source": source, "run_id": run_id, "metrics": snapshot},
                at=stamp,
            )
            if request_id is not None:  # the claim names the version it made
                _REQUESTS.settle(conn, request_id, entity_id=f"{name}/{version}")
            return version

        for attempt in range(5):  # two writers may pick the same next number on PostgreSQL
            try:
                version = self._write(write)
                break
            except IntegrityError:
                if attempt == 4:
                    raise
        return self.get_model_version(name, version)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """Return one model version (raise :class:`NotFound`)."""
        number = self._version_number(version)
        with self._read() as conn:
            return self._version_from_row(conn, self._version_row(conn, name, number))

    def _version_row(self, conn: Connection, name: str, number: int) -> Any:
        """The row of a version that is not deleted (raise :class:`NotFound`)."""
        row = conn.execute(
            select(model_versions).where(
                and_(_live_versions(name), model_versions.c.version == number)
            )
        ).first()
        if row is None:
            self._model_row(conn, name)
            raise NotFound(
                f"Model {name!r} has no version {number}.",
                hint=f"List its versions with `cycleml models show {name}`.",
            )
        return row

    @staticmethod
    def _version_number(version: int | str) -> int:
        fraction = isinstance(version, float) and not float(version).is_integer()
        if isinstance(version, bool) or fraction:  # int() would truncate 2.5 to 2
            raise InvalidInput(f"Invalid model version {version!r}: expected a positive integer.")
        try:
            number = int(version)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"Invalid model version {version!r}: expected a positive integer."
            ) from exc
        if number < 1:
            raise InvalidInput(f"Invalid model version {version!r}: versions start at 1.")
        return number

    def _version_from_row(self, conn: Connection, row: Any) -> ModelVersion:
        tags = dict(
            conn.execute(
                select(model_version_tags.c.key, model_version_tags.c.value).where(
                    and_(
                        model_version_tags.c.name == row.name,
                        model_version_tags.c.version == row.version,
                    )
                )
            ).all()
        )
        aliases = (
            conn.execute(
                select(model_aliases.c.alias)
                .where(
                    and_(model_aliases.c.name == row.name, model_aliases.c.version == row.version)
                )
                .order_by(model_aliases.c.alias)
            )
            .scalars()
            .all()
        )
        return ModelVersion(
            name=row.name,
            version=row.version,
            model_version_id=row.model_version_id,
            run_id=row.run_id,
            source=row.source,
            current_stage=row.current_stage,
            description=row.description,
            metrics=_metrics_from_json(row.metrics),
            signature=row.signature,
            user_id=row.user_id,
            creation_time=row.creation_time,
            last_updated_time=row.last_updated_time,
            tags=tags,
            aliases=tuple(aliases),
        )

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first."""
        with self._read() as conn:
            self._model_row(conn, name)
            rows = conn.execute(
                select(model_versions)
                .where(_live_versions(name))
                .order_by(model_versions.c.version)
            ).all()
            return [self._version_from_row(conn, row) for row in rows]

    # ---- aliases -----------------------------------------------------------------------
    def set_alias(self, name: str, version: int | str, alias: str) -> ModelVersion:
        """Point ``alias`` at a version (moving it if it pointed elsewhere)."""
        check_alias(alias)
        target = self.get_model_version(name, version)

        def write(conn: Connection) -> None:
            before = conn.execute(
                select(model_aliases.c.version).where(
                    and_(model_aliases.c.name == name, model_aliases.c.alias == alias)
                )
            ).scalar()
            conn.execute(
                model_aliases.delete().where(
                    and_(model_aliases.c.name == name, model_aliases.c.alias == alias)
                )
            )
            conn.execute(
                insert(model_aliases).values(name=name, alias=alias, version=target.version)
            )
            record_audit(
                conn,
                actor=self.actor,
                action="model.set_alias",
                entity_kind="model",
                entity_id=name,
                payload={"alias": alias, "version": target.version, "previous_version": before},
            )

        self._write(write)
        return self.get_model_version(name, target.version)

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias from a model."""

        def write(conn: Connection) -> None:
            gone = conn.execute(
                model_aliases.delete().where(
                    and_(model_aliases.c.name == name, model_aliases.c.alias == alias)
                )
            ).rowcount
            if not gone:
                raise NotFound(f"Model {name!r} has no alias {alias!r}.")
            record_audit(
                conn,
                actor=self.actor,
                action="model.delete_alias",
                entity_kind="model",
                entity_id=name,
                payload={"alias": alias},
            )

        self._write(write)

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Resolve ``name@alias`` to its model version."""
        with self._read() as conn:
            self._model_row(conn, name)
            version = conn.execute(
                select(model_aliases.c.version).where(
                    and_(model_aliases.c.name == name, model_aliases.c.alias == alias)
                )
            ).scalar()
        if version is None:
            raise NotFound(
                f"Model {name!r} has no alias {alias!r}.",
                hint=f"Set one with `cycleml models alias {name} {alias} VERSION`.",
            )
        return self.get_model_version(name, version)

    # ---- stages ------------------------------------------------------------------------
    def transition_stage(
        self,
        name: str,
        version: int | str,
        *,
        to_stage: str,
        reason: str = "",
        forced: bool = False,
        archive_existing: bool = False,
        audit_payload: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> ModelVersion:
        """Move a version to another stage and record who, when and why.

        With ``archive_existing``, other versions in the target stage move to Archived.
        With ``request_id``, a retry of a change that was applied returns the version.
        """
        target = parse_stage(to_stage)
        current = self.get_model_version(name, version)
        entity_id = f"{name}/{current.version}"
        if request_id is not None and self._applied(request_id, "model_version.transition", name):
            return current
        if current.current_stage == target.value:
            raise InvalidState(
                f"Model {name!r} version {current.version} is already in stage {target.value}."
            )
        stamp = now_ms()

        def move(conn: Connection, number: int, src: str, dst: str, why: str) -> None:
            conn.execute(
                update(model_versions)
                .where(and_(model_versions.c.name == name, model_versions.c.version == number))
                .values(current_stage=dst, last_updated_time=stamp)
            )
            conn.execute(
                insert(stage_transitions).values(
                    name=name,
                    version=number,
                    from_stage=src,
                    to_stage=dst,
                    actor=self.actor,
                    time=stamp,
                    reason=why,
                    forced=forced and number == current.version,
                )
            )

        def write(conn: Connection) -> None:
            if request_id is not None and claim_request(
                conn, request_id, "model_version.transition", entity_id, stamp
            ):
                return
            move(conn, current.version, current.current_stage, target.value, reason)
            archived: list[int] = []
            if archive_existing and target in (Stage.STAGING, Stage.PRODUCTION):
                others = (
                    conn.execute(
                        select(model_versions.c.version).where(
                            and_(
                                _live_versions(name),
                                model_versions.c.current_stage == target.value,
                                model_versions.c.version != current.version,
                            )
                        )
                    )
                    .scalars()
                    .all()
                )
                for other in others:
                    move(
                        conn,
                        other,
                        target.value,
                        Stage.ARCHIVED.value,
                        f"archived: version {current.version} moved to {target.value}",
                    )
                    archived.append(other)
            record_audit(
                conn,
                actor=self.actor,
                action="model_version.transition",
                entity_kind="model_version",
                entity_id=f"{name}/{current.version}",
                payload={
                    "from": current.current_stage,
                    "to": target.value,
                    "reason": reason,
                    "forced": forced,
                    "archived": archived,
                    **dict(audit_payload or {}),
                },
                at=stamp,
            )

        self._write(write)
        return self.get_model_version(name, current.version)

    def _applied(self, request_id: str, action: str, name: str) -> bool:
        """Whether ``request_id`` names a write already applied (of this action and model)."""
        with self._read() as conn:
            seen = _REQUESTS.seen(conn, request_id, action, name, same=_same_model)
        return seen is not None

    def get_stage_history(self, name: str, version: int | str) -> list[StageTransition]:
        """Every stage change of a version, oldest first."""
        number = self.get_model_version(name, version).version
        with self._read() as conn:
            rows = conn.execute(
                select(stage_transitions)
                .where(
                    and_(stage_transitions.c.name == name, stage_transitions.c.version == number)
                )
                .order_by(stage_transitions.c.id)
            ).all()
        return [
            StageTransition(
                name=r.name,
                version=r.version,
                from_stage=r.from_stage,
                to_stage=r.to_stage,
                actor=r.actor,
                time=r.time,
                reason=r.reason,
                forced=bool(r.forced),
            )
            for r in rows
        ]
