"""Experiments in the SQL metadata store: create, get, list, rename, delete, restore."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from cycleml.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from cycleml.ids import new_id
from cycleml.store import SqlRepository, now_ms, record_audit
from cycleml.tracking._entities import Experiment
from cycleml.tracking._tables import experiment_tags, experiments
from cycleml.validation import check_key

__all__ = ["ExperimentOps"]

_VIEWS = ("active", "deleted", "all")


def _check_name(name: str, kind: str = "experiment") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(
            f"Invalid {kind} name {name!r}: it must be a non-empty string.",
            hint=f"Pass a {kind} name such as 'churn-baseline'.",
        )
    if len(name) > 256:
        raise InvalidInput(f"Invalid {kind} name: {len(name)} characters, at most 256 allowed.")
    return name.strip()


def _lifecycle_filter(view: str) -> list[str]:
    if view not in _VIEWS:
        raise InvalidInput(f"Invalid view {view!r}: expected one of {', '.join(_VIEWS)}.")
    return ["active", "deleted"] if view == "all" else [view]


class ExperimentOps(SqlRepository):
    """Experiment operations of the SQL metadata store."""

    def _experiment_from_row(self, conn: Connection, row: Any) -> Experiment:
        tags = conn.execute(
            select(experiment_tags.c.key, experiment_tags.c.value).where(
                experiment_tags.c.experiment_id == row.experiment_id
            )
        ).all()
        return Experiment(
            experiment_id=row.experiment_id,
            name=row.name,
            artifact_location=row.artifact_location,
            lifecycle_stage=row.lifecycle_stage,
            creation_time=row.creation_time,
            last_update_time=row.last_update_time,
            tags=dict(tags),
        )

    def create_experiment(
        self,
        name: str,
        *,
        artifact_location: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> Experiment:
        """Create an experiment; its name must be unused (deleted ones included)."""
        name = _check_name(name)
        tags = {check_key(k, "tag"): str(v) for k, v in (tags or {}).items()}
        experiment_id = new_id()
        stamp = now_ms()

        def write(conn: Connection) -> None:
            taken = conn.execute(
                select(experiments.c.lifecycle_stage).where(experiments.c.name == name)
            ).first()
            if taken is not None:
                raise AlreadyExists(
                    f"An experiment named {name!r} already exists ({taken[0]}).",
                    hint="Pick another name, or restore the deleted experiment.",
                )
            conn.execute(
                insert(experiments).values(
                    experiment_id=experiment_id,
                    name=name,
                    artifact_location=artifact_location,
                    lifecycle_stage="active",
                    creation_time=stamp,
                    last_update_time=stamp,
                )
            )
            if tags:
                conn.execute(
                    insert(experiment_tags),
                    [
                        {"experiment_id": experiment_id, "key": k, "value": str(v)}
                        for k, v in tags.items()
                    ],
                )
            record_audit(
                conn,
                actor=self.actor,
                action="experiment.create",
                entity_kind="experiment",
                entity_id=experiment_id,
                payload={"name": name, "tags": dict(tags or {})},
                at=stamp,
            )

        try:
            self._write(write)
        except IntegrityError as exc:  # a concurrent create won the race
            raise AlreadyExists(f"An experiment named {name!r} already exists.") from exc
        return self.get_experiment(experiment_id)

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return the experiment with this id (raise :class:`NotFound`)."""
        with self._read() as conn:
            row = conn.execute(
                select(experiments).where(experiments.c.experiment_id == experiment_id)
            ).first()
            if row is None:
                raise NotFound(
                    f"No experiment with id {experiment_id!r}.",
                    hint="List experiments with `cycleml experiments list`.",
                )
            return self._experiment_from_row(conn, row)

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Return the experiment with this name, or ``None``."""
        with self._read() as conn:
            row = conn.execute(select(experiments).where(experiments.c.name == name)).first()
            return None if row is None else self._experiment_from_row(conn, row)

    def list_experiments(self, *, view: str = "active") -> list[Experiment]:
        """List experiments; ``view`` is ``active``, ``deleted`` or ``all``."""
        stages = _lifecycle_filter(view)
        with self._read() as conn:
            rows = conn.execute(
                select(experiments)
                .where(experiments.c.lifecycle_stage.in_(stages))
                .order_by(experiments.c.creation_time, experiments.c.name)
            ).all()
            return [self._experiment_from_row(conn, row) for row in rows]

    def _set_experiment(self, experiment_id: str, action: str, **values: Any) -> Experiment:
        stamp = now_ms()

        def write(conn: Connection) -> None:
            row = conn.execute(
                select(experiments).where(experiments.c.experiment_id == experiment_id)
            ).first()
            if row is None:
                raise NotFound(f"No experiment with id {experiment_id!r}.")
            if action == "experiment.delete" and row.lifecycle_stage == "deleted":
                raise InvalidState(f"Experiment {row.name!r} is already deleted.")
            if action == "experiment.restore" and row.lifecycle_stage == "active":
                raise InvalidState(f"Experiment {row.name!r} is not deleted.")
            if "name" in values and values["name"] != row.name:
                taken = conn.execute(
                    select(experiments.c.experiment_id).where(experiments.c.name == values["name"])
                ).first()
                if taken is not None:
                    raise AlreadyExists(f"An experiment named {values['name']!r} already exists.")
            conn.execute(
                update(experiments)
                .where(experiments.c.experiment_id == experiment_id)
                .values(last_update_time=stamp, **values)
            )
            record_audit(
                conn,
                actor=self.actor,
                action=action,
                entity_kind="experiment",
                entity_id=experiment_id,
                payload={"before": row.name, **values},
                at=stamp,
            )

        self._write(write)
        return self.get_experiment(experiment_id)

    def rename_experiment(self, experiment_id: str, new_name: str) -> Experiment:
        """Give an experiment a new, unused name."""
        return self._set_experiment(experiment_id, "experiment.rename", name=_check_name(new_name))

    def delete_experiment(self, experiment_id: str) -> Experiment:
        """Mark an experiment deleted (its runs stay; restore brings it back)."""
        return self._set_experiment(experiment_id, "experiment.delete", lifecycle_stage="deleted")

    def restore_experiment(self, experiment_id: str) -> Experiment:
        """Bring back a deleted experiment."""
        return self._set_experiment(experiment_id, "experiment.restore", lifecycle_stage="active")

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set (or overwrite) one experiment tag."""
        check_key(key, "tag")
        self.get_experiment(experiment_id)

        def write(conn: Connection) -> None:
            conn.execute(
                experiment_tags.delete().where(
                    (experiment_tags.c.experiment_id == experiment_id)
                    & (experiment_tags.c.key == key)
                )
            )
            conn.execute(
                insert(experiment_tags).values(
                    experiment_id=experiment_id, key=key, value=str(value)
                )
            )
            record_audit(
                conn,
                actor=self.actor,
                action="experiment.set_tag",
                entity_kind="experiment",
                entity_id=experiment_id,
                payload={"key": key, "value": str(value)},
            )

        self._write(write)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove one experiment tag (raise :class:`NotFound` if the experiment lacks it)."""

        def write(conn: Connection) -> None:
            found = conn.execute(
                select(experiments.c.experiment_id).where(
                    experiments.c.experiment_id == experiment_id
                )
            ).first()
            if found is None:
                raise NotFound(f"No experiment with id {experiment_id!r}.")
            gone = conn.execute(
                experiment_tags.delete().where(
                    (experiment_tags.c.experiment_id == experiment_id)
                    & (experiment_tags.c.key == key)
                )
            ).rowcount
            if not gone:
                raise NotFound(f"Experiment {experiment_id} has no tag {key!r}.")
            record_audit(
                conn,
                actor=self.actor,
                action="experiment.delete_tag",
                entity_kind="experiment",
                entity_id=experiment_id,
                payload={"key": key},
            )

        self._write(write)
