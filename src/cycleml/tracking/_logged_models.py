"""MLflow 3's logged models in the tracking stage: ``m-<id>`` models a run produced.

MLflow 3's client logs a model as its own entity (``POST logged-models``), uploads the
files under ``<experiment>/models/<model_id>/artifacts``, then finalizes it and registers
``models:/m-<id>``. cycleml keeps these as tracking data so that what MLflow clients write
is cycleml data:

* a logged model's files are indexed under ``("logged_model", <its 32 hex>)`` and, if it has
  a source run, also under that run at its ``artifact_path`` (the same blobs, no copy), so
  ``runs:/<run>/<artifact_path>`` names it for cycleml's registry, loaders and lineage;
* the artifact path is the model's name when the run has nothing there yet, otherwise
  ``<name>-<model_id>``: a second ``log_model(name="model")`` never overwrites the first;
* creation records a lineage edge run -> logged model and every write an audit row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cycleml.errors import InvalidInput, InvalidState, NotFound
from cycleml.ids import new_id
from cycleml.store import ArtifactEntry, now_ms, record_audit, record_edges, safe_relpath
from cycleml.tracking._sql_runs import RunOps, check_params, param_conflict
from cycleml.tracking._tables import (
    experiments,
    logged_model_outputs,
    logged_model_params,
    logged_model_tags,
    logged_models,
)
from cycleml.validation import check_key

__all__ = ["LOGGED_MODEL_STATUSES", "LoggedModel", "LoggedModelOps", "is_logged_model_id"]

#: A logged model is PENDING until its files are uploaded, then READY (or FAILED).
LOGGED_MODEL_STATUSES = ("PENDING", "READY", "FAILED")
_PREFIX = "m-"
_OWNER = "logged_model"


def is_logged_model_id(value: object) -> bool:
    """Whether ``value`` looks like a logged model's id (``m-`` and 32 hex characters)."""
    return (
        isinstance(value, str)
        and value.startswith(_PREFIX)
        and len(value) == len(_PREFIX) + 32
        and all(c in "0123456789abcdef" for c in value[len(_PREFIX) :])
    )


def _index_id(model_id: str) -> str:
    """The id a logged model's files are indexed under: its 32 hex characters (the kernel's
    artifact index holds ids of ``ID_LEN``, and the ``m-`` says nothing the kind does not)."""
    return model_id[len(_PREFIX) :]


def _check_model_id(model_id: str) -> str:
    if not is_logged_model_id(model_id):
        raise NotFound(
            f"No logged model with id {model_id!r}.",
            hint="Logged model ids are 'm-' and 32 hex characters, as logged-models returns.",
        )
    return model_id


@dataclass(frozen=True)
class LoggedModel:
    """A model MLflow 3's client logged: its run, status, files' place, tags and params."""

    model_id: str
    experiment_id: str
    name: str
    model_type: str
    source_run_id: str | None
    artifact_path: str | None
    status: str
    status_message: str
    lifecycle_stage: str
    creation_time: int
    last_updated_time: int
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def run_uri(self) -> str | None:
        """``runs:/<run>/<artifact_path>``: where cycleml finds the files, if it has a run."""
        if self.source_run_id is None or self.artifact_path is None:
            return None
        return f"runs:/{self.source_run_id}/{self.artifact_path}"


class LoggedModelOps(RunOps):
    """Logged-model operations of the SQL run repository."""

    # ---- reading ---------------------------------------------------------------------------
    def _logged_model_rows(self, conn: Connection, rows: Sequence[Any]) -> list[LoggedModel]:
        ids = [row.model_id for row in rows]
        tags: dict[str, dict[str, str]] = {model_id: {} for model_id in ids}
        params: dict[str, dict[str, str]] = {model_id: {} for model_id in ids}
        if ids:
            for table, into in ((logged_model_tags, tags), (logged_model_params, params)):
                for model_id, key, value in conn.execute(
                    select(table.c.model_id, table.c.key, table.c.value).where(
                        table.c.model_id.in_(ids)
                    )
                ):
                    into[model_id][key] = value
        return [
            LoggedModel(
                model_id=row.model_id,
                experiment_id=row.experiment_id,
                name=row.name,
                model_type=row.model_type,
                source_run_id=row.source_run_id,
                artifact_path=row.artifact_path,
                status=row.status,
                status_message=row.status_message,
                lifecycle_stage=row.lifecycle_stage,
                creation_time=row.creation_time,
                last_updated_time=row.last_updated_time,
                tags=tags[row.model_id],
                params=params[row.model_id],
            )
            for row in rows
        ]

    def _require_logged_model(self, conn: Connection, model_id: str) -> Any:
        row = conn.execute(
            select(logged_models).where(
                logged_models.c.model_id == _check_model_id(model_id),
                logged_models.c.lifecycle_stage == "active",
            )
        ).first()
        if row is None:
            raise NotFound(
                f"No logged model with id {model_id!r}.",
                hint="Search the experiment's models with mlflow.search_logged_models().",
            )
        return row

    def get_logged_model(self, model_id: str) -> LoggedModel:
        """Return a logged model with its tags and params (raise :class:`NotFound`)."""
        with self._read() as conn:
            return self._logged_model_rows(conn, [self._require_logged_model(conn, model_id)])[0]

    def search_logged_models(
        self, experiment_ids: Sequence[str], *, source_run_id: str | None = None
    ) -> list[LoggedModel]:
        """The active logged models of these experiments (of one run if given), oldest first."""
        query = (
            select(logged_models)
            .where(
                logged_models.c.experiment_id.in_(list(experiment_ids)),
                logged_models.c.lifecycle_stage == "active",
            )
            .order_by(logged_models.c.creation_time, logged_models.c.model_id)
        )
        if source_run_id is not None:
            query = query.where(logged_models.c.source_run_id == source_run_id)
        with self._read() as conn:
            return self._logged_model_rows(conn, conn.execute(query).all())

    def find_logged_model(self, run_id: str, artifact_path: str) -> LoggedModel | None:
        """The logged model whose files are the run's ``artifact_path``, if there is one."""
        with self._read() as conn:
            rows = conn.execute(
                select(logged_models).where(
                    logged_models.c.source_run_id == run_id,
                    logged_models.c.artifact_path == artifact_path,
                )
            ).all()
            return self._logged_model_rows(conn, rows)[0] if rows else None

    def list_logged_model_artifacts(self, model_id: str, prefix: str = "") -> list[ArtifactEntry]:
        """A logged model's files at or below ``prefix``, by path."""
        with self._read() as conn:
            self._require_logged_model(conn, model_id)
            return self.db.indexed_artifacts(_OWNER, _index_id(model_id), prefix, conn=conn)

    def list_run_outputs(self, run_ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
        """Each run's output models as ``(model_id, step)``, for the runs that have any."""
        found: dict[str, list[tuple[str, int]]] = {}
        if not run_ids:
            return found
        with self._read() as conn:
            rows = conn.execute(
                select(
                    logged_model_outputs.c.run_id,
                    logged_model_outputs.c.model_id,
                    logged_model_outputs.c.step,
                )
                .where(logged_model_outputs.c.run_id.in_(list(run_ids)))
                .order_by(logged_model_outputs.c.step, logged_model_outputs.c.model_id)
            ).all()
        for run_id, model_id, step in rows:
            found.setdefault(run_id, []).append((model_id, int(step)))
        return found

    # ---- writing ---------------------------------------------------------------------------
    def _audit(self, conn: Connection, action: str, model_id: str, payload: Any, at: int) -> None:
        record_audit(
            conn,
            actor=self.actor,
            action=f"logged_model.{action}",
            entity_kind=_OWNER,
            entity_id=model_id,
            payload=payload,
            at=at,
        )

    def _artifact_path(self, conn: Connection, run_id: str, name: str, model_id: str) -> str:
        try:
            wanted = safe_relpath(name)
        except InvalidInput:
            return model_id
        taken = conn.execute(
            select(logged_models.c.model_id).where(
                logged_models.c.source_run_id == run_id, logged_models.c.artifact_path == wanted
            )
        ).first()
        if taken is None and not self.db.indexed_artifacts("run", run_id, wanted, conn=conn):
            return wanted
        return f"{wanted}-{model_id}"

    def create_logged_model(
        self,
        experiment_id: str,
        *,
        name: str,
        model_type: str = "",
        source_run_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> LoggedModel:
        """Create a PENDING logged model in an experiment, produced by ``source_run_id``."""
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            raise InvalidInput(
                f"Invalid logged model name {name!r}: expected 1 to 256 characters.",
                hint="Pass name='model' (MLflow's log_model(name=...)).",
            )
        clean_params = check_params(params or {})
        clean_tags = {check_key(k, "tag"): str(v) for k, v in (tags or {}).items()}
        model_id = _PREFIX + new_id()
        stamp = now_ms()

        def write(conn: Connection) -> None:
            experiment = conn.execute(
                select(experiments.c.lifecycle_stage).where(
                    experiments.c.experiment_id == experiment_id
                )
            ).first()
            if experiment is None:
                raise NotFound(f"No experiment with id {experiment_id!r}.")
            if experiment.lifecycle_stage != "active":
                raise InvalidState(f"Experiment {experiment_id!r} is deleted.")
            path = None
            if source_run_id is not None:
                run = self._require_run(conn, source_run_id, active=True)
                if run.experiment_id != experiment_id:
                    raise InvalidInput(
                        f"Run {source_run_id} is in experiment {run.experiment_id!r}, not "
                        f"{experiment_id!r}.",
                        hint="Log the model in the run's own experiment.",
                    )
                path = self._artifact_path(conn, source_run_id, name, model_id)
            conn.execute(
                insert(logged_models).values(
                    model_id=model_id,
                    experiment_id=experiment_id,
                    name=name,
                    model_type=model_type or "",
                    source_run_id=source_run_id,
                    artifact_path=path,
                    status="PENDING",
                    status_message="",
                    lifecycle_stage="active",
                    creation_time=stamp,
                    last_updated_time=stamp,
                )
            )
            for table, values in (
                (logged_model_params, clean_params),
                (logged_model_tags, clean_tags),
            ):
                if values:
                    conn.execute(
                        insert(table),
                        [{"model_id": model_id, "key": k, "value": v} for k, v in values.items()],
                    )
            if source_run_id is not None:
                record_edges(conn, [("run", source_run_id, "produced", _OWNER, model_id)], at=stamp)
            self._audit(
                conn,
                "create",
                model_id,
                {"name": name, "experiment_id": experiment_id, "run_id": source_run_id},
                stamp,
            )

        self._write(write)
        return self.get_logged_model(model_id)

    def _touch(self, conn: Connection, model_id: str, stamp: int, **values: Any) -> None:
        conn.execute(
            update(logged_models)
            .where(logged_models.c.model_id == model_id)
            .values(last_updated_time=stamp, **values)
        )

    def finalize_logged_model(
        self, model_id: str, status: str, *, status_message: str = ""
    ) -> LoggedModel:
        """Mark a logged model READY (its files are uploaded) or FAILED."""
        if status not in LOGGED_MODEL_STATUSES[1:]:
            raise InvalidInput(
                f"Invalid logged model status {status!r}: a model is finalized as READY or FAILED."
            )
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._require_logged_model(conn, model_id)
            self._touch(conn, model_id, stamp, status=status, status_message=status_message)
            self._audit(conn, "finalize", model_id, {"status": status}, stamp)

        self._write(write)
        return self.get_logged_model(model_id)

    def set_logged_model_tags(self, model_id: str, tags: Mapping[str, str]) -> None:
        """Set (or overwrite) tags of a logged model."""
        clean = {check_key(k, "tag"): str(v) for k, v in tags.items()}
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._require_logged_model(conn, model_id)
            for key, value in clean.items():
                changed = conn.execute(
                    update(logged_model_tags)
                    .where(logged_model_tags.c.model_id == model_id, logged_model_tags.c.key == key)
                    .values(value=value)
                ).rowcount
                if not changed:
                    conn.execute(
                        insert(logged_model_tags).values(model_id=model_id, key=key, value=value)
                    )
            self._touch(conn, model_id, stamp)
            self._audit(conn, "set_tags", model_id, {"tags": clean}, stamp)

        self._write(write)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        """Remove one tag of a logged model (raise :class:`NotFound` if it has none)."""
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._require_logged_model(conn, model_id)
            gone = conn.execute(
                delete(logged_model_tags).where(
                    logged_model_tags.c.model_id == model_id, logged_model_tags.c.key == key
                )
            ).rowcount
            if not gone:
                raise NotFound(f"Logged model {model_id} has no tag {key!r}.")
            self._touch(conn, model_id, stamp)
            self._audit(conn, "delete_tag", model_id, {"key": key}, stamp)

        self._write(write)

    def log_logged_model_params(self, model_id: str, params: Mapping[str, Any]) -> None:
        """Add params to a logged model; a logged param keeps its value (as a run's do)."""
        clean = check_params(params)
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._require_logged_model(conn, model_id)
            stored = dict(
                conn.execute(
                    select(logged_model_params.c.key, logged_model_params.c.value).where(
                        logged_model_params.c.model_id == model_id,
                        logged_model_params.c.key.in_(list(clean)),
                    )
                ).all()
            )
            conflicts = {
                k: (stored[k], v) for k, v in clean.items() if k in stored and stored[k] != v
            }
            if conflicts:
                raise param_conflict(model_id, conflicts)
            new = [
                {"model_id": model_id, "key": k, "value": v}
                for k, v in clean.items()
                if k not in stored
            ]
            if new:
                conn.execute(insert(logged_model_params), new)
            self._touch(conn, model_id, stamp)
            self._audit(conn, "log_params", model_id, {"params": clean}, stamp)

        self._write(write)

    def delete_logged_model(self, model_id: str) -> None:
        """Mark a logged model deleted (its files and lineage stay on record)."""
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._require_logged_model(conn, model_id)
            self._touch(conn, model_id, stamp, lifecycle_stage="deleted")
            self._audit(conn, "delete", model_id, {}, stamp)

        self._write(write)

    def record_logged_model_artifacts(
        self, model_id: str, entries: Sequence[ArtifactEntry]
    ) -> None:
        """Index a logged model's files (and the same blobs under its run's artifact path)."""
        if not entries:
            return
        stamp = now_ms()

        def write(conn: Connection) -> None:
            row = self._require_logged_model(conn, model_id)
            self.db.index_artifacts(conn, _OWNER, _index_id(model_id), entries, at=stamp)
            if row.source_run_id is not None and row.artifact_path is not None:
                in_run = [
                    ArtifactEntry(f"{row.artifact_path}/{safe_relpath(e.path)}", e.digest, e.size)
                    for e in entries
                ]
                self.db.index_artifacts(conn, "run", row.source_run_id, in_run, at=stamp)
            self._audit(
                conn,
                "log_artifacts",
                model_id,
                {"files": {e.path: e.digest for e in entries}},
                stamp,
            )

        self._write(write)

    def delete_logged_model_artifacts(self, model_id: str, path: str) -> list[ArtifactEntry]:
        """Remove a logged model's file at ``path`` (or a folder's files), in its run too."""
        stamp = now_ms()

        def write(conn: Connection) -> list[ArtifactEntry]:
            row = self._require_logged_model(conn, model_id)
            gone = self.db.unindex_artifacts(conn, _OWNER, _index_id(model_id), path)
            if not gone:
                raise NotFound(f"Logged model {model_id} has no artifact at {path!r}.")
            if row.source_run_id is not None and row.artifact_path is not None:
                in_run = f"{row.artifact_path}/{safe_relpath(path)}"
                self.db.unindex_artifacts(conn, "run", row.source_run_id, in_run)
            files = {e.path: e.digest for e in gone}
            self._audit(conn, "delete_artifacts", model_id, {"files": files}, stamp)
            return gone

        return self._write(write)

    def log_run_outputs(self, run_id: str, outputs: Sequence[tuple[str, int]]) -> None:
        """Record logged models as a run's outputs, each at a step (MLflow's ``runs/outputs``)."""
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._require_run(conn, run_id, active=True)
            for model_id, step in outputs:
                self._require_logged_model(conn, model_id)
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(logged_model_outputs).values(
                                run_id=run_id, model_id=model_id, step=int(step)
                            )
                        )
                except IntegrityError:  # already an output of this run: the step moves
                    conn.execute(
                        update(logged_model_outputs)
                        .where(
                            logged_model_outputs.c.run_id == run_id,
                            logged_model_outputs.c.model_id == model_id,
                        )
                        .values(step=int(step))
                    )
            record_edges(
                conn,
                [("run", run_id, "produced", _OWNER, m) for m, _ in outputs],
                at=stamp,
                only_new=True,
            )
            record_audit(
                conn,
                actor=self.actor,
                action="run.log_outputs",
                entity_kind="run",
                entity_id=run_id,
                payload={"models": {m: int(s) for m, s in outputs}},
                at=stamp,
            )

        self._write(write)
