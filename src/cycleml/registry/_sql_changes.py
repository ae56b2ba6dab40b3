"""Edits of registered models and versions in the SQL store: tags, descriptions, renames and
(soft) deletions, each one transaction with its audit row.

* **Deletion is soft.** A deleted model or version keeps its rows with ``deleted_time`` set
  (registry_0003), so the lineage edges and audit rows naming ``<name>/<version>`` keep
  naming it; every read leaves it out, its aliases are removed, and its number is never
  handed out again. A deleted model's name can be registered again
  (:meth:`~cycleml.registry._sql_models.ModelOps.create_registered_model` revives the row);
  its versions then go on numbering after the deleted ones.
* **A rename moves every row naming the model** (versions, tags, aliases, stage history,
  request ids) to the new name in one transaction: the new parent row is inserted, the
  children moved, the old parent deleted, so the foreign keys hold on SQLite and PostgreSQL.
  Audit rows are append-only and stay under the old ids; the rename is one more audit row
  under each name, and a lineage edge ``model_version <old>/<n> --renamed_to-->
  model_version <new>/<n>`` per version, so walking upstream from a renamed version still
  reaches the run it came from.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cycleml.errors import AlreadyExists, NotFound
from cycleml.registry._entities import ModelVersion, RegisteredModel
from cycleml.registry._sql_models import (
    ModelOps,
    _check_tags,
    _live_versions,
    check_model_name,
    claim_request,
)
from cycleml.registry._tables import (
    model_aliases,
    model_requests,
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
    stage_transitions,
)
from cycleml.store import now_ms, record_audit, record_edges
from cycleml.validation import invalid_parameter

__all__ = ["ModelChangeOps"]

#: The tables whose rows name a model by its ``name`` column (moved by a rename).
_NAMED_BY_MODEL = (
    registered_model_tags,
    model_versions,
    model_version_tags,
    model_aliases,
    stage_transitions,
)


def _check_description(description: str) -> str:
    if not isinstance(description, str):
        raise invalid_parameter("description", description, "a string", example="'retrained'")
    return description


class ModelChangeOps(ModelOps):
    """Tags, descriptions, renames and deletions of registered models and versions."""

    def _audit(
        self, conn: Connection, action: str, entity_id: str, payload: dict[str, Any], at: int
    ) -> None:
        kind = "model_version" if action.startswith("model_version.") else "model"
        record_audit(
            conn,
            actor=self.actor,
            action=action,
            entity_kind=kind,
            entity_id=entity_id,
            payload=payload,
            at=at,
        )

    def _live_model(self, conn: Connection, name: str) -> Any:
        """The model's row, locked against concurrent writers (PostgreSQL) for the write."""
        return self._model_row(conn, name, lock=True)

    def _touch_model(self, conn: Connection, name: str, stamp: int) -> None:
        conn.execute(
            update(registered_models)
            .where(registered_models.c.name == name)
            .values(last_updated_time=stamp)
        )

    def _touch_version(self, conn: Connection, name: str, number: int, stamp: int) -> None:
        conn.execute(
            update(model_versions)
            .where(and_(model_versions.c.name == name, model_versions.c.version == number))
            .values(last_updated_time=stamp)
        )

    # ---- tags ------------------------------------------------------------------------------
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """Set a tag of a registered model (replacing its value if it is set)."""
        ((key, value),) = _check_tags({key: value}).items()
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._live_model(conn, name)
            where = and_(registered_model_tags.c.name == name, registered_model_tags.c.key == key)
            conn.execute(delete(registered_model_tags).where(where))
            conn.execute(insert(registered_model_tags).values(name=name, key=key, value=value))
            self._touch_model(conn, name, stamp)
            self._audit(conn, "model.set_tag", name, {"key": key, "value": value}, stamp)

        self._write(write)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag of a registered model (raise :class:`NotFound` if it is not set)."""
        ((key, _),) = _check_tags({key: ""}).items()
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._live_model(conn, name)
            where = and_(registered_model_tags.c.name == name, registered_model_tags.c.key == key)
            if not conn.execute(delete(registered_model_tags).where(where)).rowcount:
                raise NotFound(f"Model {name!r} has no tag {key!r}.")
            self._touch_model(conn, name, stamp)
            self._audit(conn, "model.delete_tag", name, {"key": key}, stamp)

        self._write(write)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """Set a tag of a model version (replacing its value if it is set)."""
        number = self._version_number(version)
        ((key, value),) = _check_tags({key: value}).items()
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._live_model(conn, name)
            self._version_row(conn, name, number)
            conn.execute(delete(model_version_tags).where(self._version_tag(name, number, key)))
            conn.execute(
                insert(model_version_tags).values(name=name, version=number, key=key, value=value)
            )
            self._touch_version(conn, name, number, stamp)
            payload = {"key": key, "value": value}
            self._audit(conn, "model_version.set_tag", f"{name}/{number}", payload, stamp)

        self._write(write)

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        """Remove a tag of a model version (raise :class:`NotFound` if it is not set)."""
        number = self._version_number(version)
        ((key, _),) = _check_tags({key: ""}).items()
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._live_model(conn, name)
            self._version_row(conn, name, number)
            where = self._version_tag(name, number, key)
            if not conn.execute(delete(model_version_tags).where(where)).rowcount:
                raise NotFound(f"Model {name!r} version {number} has no tag {key!r}.")
            self._touch_version(conn, name, number, stamp)
            self._audit(conn, "model_version.delete_tag", f"{name}/{number}", {"key": key}, stamp)

        self._write(write)

    @staticmethod
    def _version_tag(name: str, number: int, key: str) -> Any:
        return and_(
            model_version_tags.c.name == name,
            model_version_tags.c.version == number,
            model_version_tags.c.key == key,
        )

    # ---- descriptions ----------------------------------------------------------------------
    def update_registered_model(self, name: str, *, description: str) -> RegisteredModel:
        """Change a registered model's description; the model."""
        _check_description(description)
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._live_model(conn, name)
            conn.execute(
                update(registered_models)
                .where(registered_models.c.name == name)
                .values(description=description, last_updated_time=stamp)
            )
            self._audit(conn, "model.update", name, {"description": description}, stamp)

        self._write(write)
        return self.get_registered_model(name)

    def update_model_version(
        self, name: str, version: int | str, *, description: str
    ) -> ModelVersion:
        """Change a model version's description; the version."""
        number = self._version_number(version)
        _check_description(description)
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._live_model(conn, name)
            self._version_row(conn, name, number)
            conn.execute(
                update(model_versions)
                .where(and_(model_versions.c.name == name, model_versions.c.version == number))
                .values(description=description, last_updated_time=stamp)
            )
            payload = {"description": description}
            self._audit(conn, "model_version.update", f"{name}/{number}", payload, stamp)

        self._write(write)
        return self.get_model_version(name, number)

    # ---- rename ----------------------------------------------------------------------------
    def rename_registered_model(
        self, name: str, new_name: str, *, request_id: str | None = None
    ) -> RegisteredModel:
        """Give a registered model a new, unused name; every row naming it moves along.

        With ``request_id``, a retry of a rename that was applied returns the model.

        Raises:
            AlreadyExists: ``new_name`` names a model, or a deleted model (whose versions
                keep their history under it).
            NotFound: There is no model ``name``.
        """
        check_model_name(new_name)
        stamp = now_ms()

        def write(conn: Connection) -> None:
            if request_id is not None and claim_request(
                conn, request_id, "model.rename", new_name, stamp
            ):
                return
            old = self._live_model(conn, name)
            taken = conn.execute(
                select(registered_models.c.deleted_time).where(registered_models.c.name == new_name)
            ).first()
            if taken is not None:
                raise self._name_taken(new_name, deleted=taken.deleted_time is not None)
            conn.execute(
                insert(registered_models).values(
                    name=new_name,
                    description=old.description,
                    creation_time=old.creation_time,
                    last_updated_time=stamp,
                    deleted_time=None,
                )
            )
            for table in _NAMED_BY_MODEL:
                conn.execute(update(table).where(table.c.name == name).values(name=new_name))
            self._move_request_ids(conn, name, new_name)
            conn.execute(delete(registered_models).where(registered_models.c.name == name))
            numbers = (
                conn.execute(
                    select(model_versions.c.version)
                    .where(model_versions.c.name == new_name)
                    .order_by(model_versions.c.version)
                )
                .scalars()
                .all()
            )
            edges = [
                ("model_version", f"{name}/{n}", "renamed_to", "model_version", f"{new_name}/{n}")
                for n in numbers
            ]
            if edges:
                record_edges(conn, edges, at=stamp)
            payload = {"from": name, "to": new_name, "versions": list(numbers)}
            for entity_id in (name, new_name):  # each name's history shows the rename
                self._audit(conn, "model.rename", entity_id, payload, stamp)

        try:
            self._write(write)
        except IntegrityError as exc:  # another writer took the name first
            raise self._name_taken(new_name, deleted=False) from exc
        return self.get_registered_model(new_name)

    @staticmethod
    def _name_taken(name: str, *, deleted: bool) -> AlreadyExists:
        if deleted:
            return AlreadyExists(
                f"Cannot rename to {name!r}: a deleted model of that name keeps its "
                "versions' history (lineage and audit) under it.",
                hint="Pick another name.",
            )
        return AlreadyExists(
            f"A registered model named {name!r} already exists.", hint="Pick another name."
        )

    @staticmethod
    def _move_request_ids(conn: Connection, name: str, new_name: str) -> None:
        """Point the remembered request ids of ``name`` and its versions at ``new_name``."""
        named = model_requests.c.entity_id
        rows = conn.execute(
            select(model_requests.c.request_id, named).where(
                (named == name) | named.startswith(f"{name}/", autoescape=True)
            )
        ).all()
        for request, entity_id in rows:
            conn.execute(
                update(model_requests)
                .where(model_requests.c.request_id == request)
                .values(entity_id=new_name + entity_id[len(name) :])
            )

    # ---- deletion --------------------------------------------------------------------------
    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a model version: it leaves every read, its aliases are removed, its number
        is never used again; its rows stay for lineage and audit."""
        number = self._version_number(version)
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._live_model(conn, name)
            row = self._version_row(conn, name, number)
            aliases = self._drop_aliases(conn, name, [number])
            conn.execute(
                update(model_versions)
                .where(and_(model_versions.c.name == name, model_versions.c.version == number))
                .values(deleted_time=stamp, last_updated_time=stamp)
            )
            self._touch_model(conn, name, stamp)
            payload = {"stage": row.current_stage, "aliases": aliases}
            self._audit(conn, "model_version.delete", f"{name}/{number}", payload, stamp)

        self._write(write)

    def delete_registered_model(self, name: str) -> None:
        """Delete a registered model and its versions (soft: their rows stay for lineage and
        audit); the name can be registered again."""
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._live_model(conn, name)
            rows = conn.execute(
                select(model_versions.c.version, model_versions.c.current_stage)
                .where(_live_versions(name))
                .order_by(model_versions.c.version)
            ).all()
            aliases = self._drop_aliases(conn, name, None)
            conn.execute(
                update(model_versions)
                .where(_live_versions(name))
                .values(deleted_time=stamp, last_updated_time=stamp)
            )
            conn.execute(
                update(registered_models)
                .where(registered_models.c.name == name)
                .values(deleted_time=stamp, last_updated_time=stamp)
            )
            for row in rows:
                payload = {"stage": row.current_stage, "with_model": True}
                self._audit(conn, "model_version.delete", f"{name}/{row.version}", payload, stamp)
            payload = {"versions": [row.version for row in rows], "aliases": aliases}
            self._audit(conn, "model.delete", name, payload, stamp)

        self._write(write)

    @staticmethod
    def _drop_aliases(conn: Connection, name: str, numbers: list[int] | None) -> list[str]:
        """Remove the aliases of ``name`` pointing at ``numbers`` (all: ``None``); their names."""
        where = model_aliases.c.name == name
        if numbers is not None:
            where = and_(where, model_aliases.c.version.in_(numbers))
        gone = conn.execute(
            select(model_aliases.c.alias).where(where).order_by(model_aliases.c.alias)
        )
        aliases = list(gone.scalars().all())
        conn.execute(delete(model_aliases).where(where))
        return aliases
