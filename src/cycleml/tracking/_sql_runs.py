"""Runs in the SQL run repository: create, log in batches, end, delete, artifacts, inputs.

Starting a run, logging a batch and ending a run are the tracking hot path: a training
script pays for them on every run. Through the server each of them may carry a request id
(``request_id=``, the client's ``X-Request-ID``): a retried request is applied once
(``_run_writes.claim_request``). They run the fixed SQL of ``_run_writes`` through
``exec_driver_sql``, so no statement is built, compiled or cache-keyed per call; everything
else uses SQLAlchemy Core as usual. Each of them is still one transaction with its audit
row and lineage edges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, bindparam, func, select, update

from cycleml.errors import InvalidInput, InvalidState, NotFound, ParamConflict
from cycleml.ids import check_id, new_id
from cycleml.store import (
    ArtifactEntry,
    SqlRepository,
    now_ms,
    record_audit,
    record_edges,
)
from cycleml.tracking._entities import Metric, Run, RunData, RunInfo, RunStatus
from cycleml.tracking._run_writes import (
    RUN_SQL,
    Columns,
    RunSql,
    check_metrics,
    check_request_id,
    claim_request,
    metric_rows,
)
from cycleml.tracking._tables import (
    experiments,
    latest_metrics,
    metric_chunks,
    params,
    run_tags,
    runs,
)
from cycleml.validation import check_key

__all__ = ["PARAM_VALUE_MAX", "RunOps", "check_params", "param_conflict"]

#: Longest param value accepted (MLflow's limit, so its clients keep working).
PARAM_VALUE_MAX = 6000
_IN_CHUNK = 500
_NAME_MAX = 256  # run_name and user_id are VARCHAR(256)


_EXPERIMENT_STAGE = select(experiments.c.lifecycle_stage).where(
    experiments.c.experiment_id == bindparam("experiment_id")
)


def check_params(given: Mapping[str, Any]) -> dict[str, str]:
    """Validate params (keys, value length) and return them as strings."""
    clean: dict[str, str] = {}
    for key, value in given.items():
        text = str(value)
        if len(text) > PARAM_VALUE_MAX:
            raise InvalidInput(
                f"Param {key!r} is {len(text)} characters long; at most "
                f"{PARAM_VALUE_MAX} are allowed.",
                hint="Log long values as an artifact with log_text or log_dict instead.",
            )
        clean[check_key(key, "param")] = text
    return clean


def param_conflict(run_id: str, conflicts: Mapping[str, tuple[str, str]]) -> ParamConflict:
    """The error for params re-logged with other values: ``{key: (stored, given)}``."""
    listed = "; ".join(f"{k}: stored {old!r}, given {new!r}" for k, (old, new) in conflicts.items())
    return ParamConflict(
        f"Params are immutable once logged, and run {run_id} already has other "
        f"values for {listed}.",
        hint="Log the new value under another key, or start a new run.",
        details={"run_id": run_id, "conflicts": {k: list(v) for k, v in conflicts.items()}},
    )


def _check_name(value: str | None, what: str) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > _NAME_MAX):
        shown = repr(value) if not isinstance(value, str) else f"of {len(value)} characters"
        raise InvalidInput(
            f"Invalid {what} {shown}: expected a string of at most {_NAME_MAX} characters."
        )
    return value


def _chunks(items: Sequence[str], size: int = _IN_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _info_from_row(row: Any, **changed: Any) -> RunInfo:
    """A run's attributes from a ``runs`` row, with ``changed`` values instead of the row's."""
    info = {
        "run_id": row.run_id,
        "run_name": row.run_name,
        "experiment_id": row.experiment_id,
        "status": row.status,
        "start_time": row.start_time,
        "end_time": row.end_time,
        "lifecycle_stage": row.lifecycle_stage,
        "user_id": row.user_id,
        "artifact_uri": row.artifact_uri,
        "parent_run_id": row.parent_run_id,
        "error": row.error,
        "heartbeat_time": row.heartbeat_time,
    }
    if changed:
        info.update(changed)
    return RunInfo(**info)


class RunOps(SqlRepository):
    """Run operations of the SQL metadata store."""

    # ---- creating and reading -------------------------------------------------------
    def create_run(
        self,
        *,
        experiment_id: str,
        run_name: str | None = None,
        artifact_uri: str = "",
        user_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        start_time: int | None = None,
        request_id: str | None = None,
    ) -> Run:
        """Create a RUNNING run in an active experiment.

        With ``request_id``, a request seen before returns the run it created.
        """
        if request_id is not None:
            check_request_id(request_id)
        _check_name(run_name, "run name")
        _check_name(user_id, "user id")
        run_id = new_id()
        stamp = start_time if start_time is not None else now_ms()
        name = run_name or f"run-{run_id[:8]}"
        clean_tags = {check_key(k, "tag"): str(v) for k, v in (tags or {}).items()}

        owner = user_id or self.actor
        location = artifact_uri or f"runs:/{run_id}"
        sql = RUN_SQL[self.dialect]

        def write(conn: Connection) -> str | None:
            if request_id is not None:
                created = claim_request(conn, request_id, "run.create", run_id, stamp)
                if created is not None:
                    return created
            if parent_run_id is not None:
                self._require_run(conn, parent_run_id)
            inserted = conn.exec_driver_sql(
                sql.insert_run,
                (
                    run_id,
                    name,
                    RunStatus.RUNNING.value,
                    stamp,
                    stamp,
                    owner,
                    location,
                    parent_run_id,
                    experiment_id,
                ),
            ).rowcount
            if inserted != 1:
                self._refuse_run_in(conn, experiment_id)
            if clean_tags:
                conn.exec_driver_sql(
                    sql.insert_tags, [(run_id, k, v) for k, v in clean_tags.items()]
                )
            edges = [("experiment", experiment_id, "contains", "run", run_id)]
            if parent_run_id is not None:
                edges.append(("run", parent_run_id, "parent_of", "run", run_id))
            record_edges(conn, edges, at=stamp)
            record_audit(
                conn,
                actor=self.actor,
                action="run.create",
                entity_kind="run",
                entity_id=run_id,
                payload={"experiment_id": experiment_id, "run_name": name, "tags": clean_tags},
                at=stamp,
            )
            return None

        replayed = self._write(write)
        if replayed is not None:
            return self.get_run(replayed)
        # Built from what was written: a re-read would double the cost of starting a run.
        info = RunInfo(
            run_id=run_id,
            run_name=name,
            experiment_id=experiment_id,
            status=RunStatus.RUNNING.value,
            start_time=stamp,
            end_time=None,
            lifecycle_stage="active",
            user_id=owner,
            artifact_uri=location,
            parent_run_id=parent_run_id,
            heartbeat_time=stamp,
        )
        return Run(info=info, data=RunData(tags=clean_tags))

    @staticmethod
    def _refuse_run_in(conn: Connection, experiment_id: str) -> None:
        """Raise why no run was inserted into ``experiment_id``: missing, or deleted."""
        stage = conn.execute(_EXPERIMENT_STAGE, {"experiment_id": experiment_id}).scalar()
        if stage is None:
            raise NotFound(f"No experiment with id {experiment_id!r} to create a run in.")
        raise InvalidState(
            f"Experiment {experiment_id!r} is deleted; runs cannot be created in it.",
            hint="Restore it with `cycleml experiments restore`.",
        )

    def _require_run(self, conn: Connection, run_id: str, *, active: bool = False) -> Any:
        check_id(run_id, kind="run id")
        row = conn.exec_driver_sql(RUN_SQL[conn.dialect.name].run_row, (run_id,)).first()
        if row is None:
            raise NotFound(
                f"No run with id {run_id!r}.",
                hint="List runs with `cycleml runs list`.",
            )
        if active and row.lifecycle_stage != "active":
            raise InvalidState(
                f"Run {run_id!r} is deleted; it cannot be changed.",
                hint="Restore it first with `cycleml runs restore`.",
            )
        return row

    def get_run(self, run_id: str) -> Run:
        """Return one run with its latest metrics, params and tags."""
        with self._read() as conn:
            self._require_run(conn, run_id)
        return self.get_runs([run_id])[0]

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """Return runs in the order given; unknown ids are left out."""
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return []
        infos: dict[str, RunInfo] = {}
        data: dict[str, tuple[dict[str, float], dict[str, str], dict[str, str]]] = {
            run_id: ({}, {}, {}) for run_id in ids
        }
        with self._read() as conn:
            for chunk in _chunks(ids):
                for row in conn.execute(select(runs).where(runs.c.run_id.in_(chunk))):
                    infos[row.run_id] = _info_from_row(row)
                for run_id, key, value, is_nan in conn.execute(
                    select(
                        latest_metrics.c.run_id,
                        latest_metrics.c.key,
                        latest_metrics.c.value,
                        latest_metrics.c.is_nan,
                    ).where(latest_metrics.c.run_id.in_(chunk))
                ):
                    data[run_id][0][key] = math.nan if is_nan else float(value)
                for run_id, key, value in conn.execute(
                    select(params.c.run_id, params.c.key, params.c.value).where(
                        params.c.run_id.in_(chunk)
                    )
                ):
                    data[run_id][1][key] = value
                for run_id, key, value in conn.execute(
                    select(run_tags.c.run_id, run_tags.c.key, run_tags.c.value).where(
                        run_tags.c.run_id.in_(chunk)
                    )
                ):
                    data[run_id][2][key] = value
        return [
            Run(
                info=infos[run_id],
                data=RunData(metrics=data[run_id][0], params=data[run_id][1], tags=data[run_id][2]),
            )
            for run_id in ids
            if run_id in infos
        ]

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged point of one metric, ordered by step then timestamp.

        Points with the same step and timestamp keep the order they were logged in.
        """
        with self._read() as conn:
            self._require_run(conn, run_id)
            chunks = conn.execute(
                select(
                    metric_chunks.c.step_blob,
                    metric_chunks.c.value_blob,
                    metric_chunks.c.time_blob,
                )
                .where(and_(metric_chunks.c.run_id == run_id, metric_chunks.c.key == key))
                .order_by(metric_chunks.c.id)
            ).all()
        if not chunks:
            return []
        steps = np.concatenate([np.frombuffer(c.step_blob, dtype="<i8") for c in chunks])
        values = np.concatenate([np.frombuffer(c.value_blob, dtype="<f8") for c in chunks])
        stamps = np.concatenate([np.frombuffer(c.time_blob, dtype="<i8") for c in chunks])
        order = np.lexsort((stamps, steps))  # stable: ties keep their logging order
        return [
            Metric(key, float(v), int(st), int(ts))
            for st, v, ts in zip(
                steps[order].tolist(), values[order].tolist(), stamps[order].tolist(), strict=True
            )
        ]

    def count_metric_points(self, run_ids: Sequence[str] | None = None) -> int:
        """How many metric points are stored (for some runs, or all)."""
        query = select(func.coalesce(func.sum(metric_chunks.c.n_points), 0))
        if run_ids is not None:
            query = query.where(metric_chunks.c.run_id.in_(list(run_ids)))
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    # ---- logging ---------------------------------------------------------------------
    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        """Write metrics, params and tags of one run in a single transaction.

        Params are immutable: logging a key again with the same value is a no-op, with a
        different value it raises :class:`ParamConflict` and nothing of the batch is written.
        With ``request_id``, a batch whose request was applied before is not written again.
        """
        if request_id is not None:
            check_request_id(request_id)
            check_id(run_id, kind="run id")  # before the id is claimed for it
        points = check_metrics(metrics)
        new_params = check_params(params or {})
        new_tags = {check_key(k, "tag"): str(v) for k, v in (tags or {}).items()}
        if not points[0] and not new_params and not new_tags:
            return
        stamp = now_ms()
        if request_id is None:
            self._write(
                lambda conn: self._apply_batch(conn, run_id, points, new_params, new_tags, stamp)
            )
            return

        def write(conn: Connection) -> None:
            if claim_request(conn, request_id, "run.log_batch", run_id, stamp) is None:
                self._apply_batch(conn, run_id, points, new_params, new_tags, stamp)

        self._write(write)

    def _apply_batch(
        self,
        conn: Connection,
        run_id: str,
        points: Columns,
        new_params: dict[str, str],
        new_tags: dict[str, str],
        stamp: int,
    ) -> None:
        """Write one validated batch and its audit row inside the caller's transaction."""
        # The heartbeat update doubles as the existence check (one statement, not two).
        sql = RUN_SQL[conn.dialect.name]
        touched = conn.exec_driver_sql(sql.heartbeat, (stamp, run_id)).rowcount
        if touched != 1:
            self._require_run(conn, run_id, active=True)  # raises the precise error
        if not points[0] and not new_params and not new_tags:
            return
        record_audit(
            conn,
            actor=self.actor,
            action="run.log_batch",
            entity_kind="run",
            entity_id=run_id,
            payload=self._write_batch(conn, run_id, points, new_params, new_tags),
            at=stamp,
        )

    def _write_batch(
        self,
        conn: Connection,
        run_id: str,
        points: Columns,
        new_params: dict[str, str],
        new_tags: dict[str, str],
    ) -> dict[str, Any]:
        """Insert a validated batch of a run known to be active; return its audit summary."""
        sql = RUN_SQL[conn.dialect.name]
        if new_params:
            self._insert_params(conn, sql, run_id, new_params)
        if new_tags:
            conn.exec_driver_sql(sql.upsert_tags, [(run_id, k, v) for k, v in new_tags.items()])
        keys = points[0]
        if keys:
            self._insert_metrics(conn, sql, run_id, points)
        return {
            "metric_points": len(keys),
            "metric_keys": sorted(set(keys)),
            "params": new_params,
            "tags": new_tags,
        }

    @staticmethod
    def _insert_params(conn: Connection, sql: RunSql, run_id: str, given: dict[str, str]) -> None:
        rows = [(run_id, k, v) for k, v in given.items()]
        if conn.exec_driver_sql(sql.insert_params, rows).rowcount == len(rows):
            return  # every key was new (sqlite3 and psycopg sum executemany's rowcounts)
        # Some keys were logged before (or the driver did not count): compare them all. All
        # of the run's params, not an IN list: runs hold few params, and expanding an IN
        # list costs more than the rows it saves. A conflict rolls the whole batch back.
        existing: dict[str, str] = dict(conn.exec_driver_sql(sql.run_params, (run_id,)).all())
        conflicts = {k: (existing[k], v) for k, v in given.items() if existing.get(k, v) != v}
        if conflicts:
            raise param_conflict(run_id, conflicts)

    @staticmethod
    def _insert_metrics(conn: Connection, sql: RunSql, run_id: str, points: Columns) -> None:
        chunks, latest = metric_rows(run_id, points)
        conn.exec_driver_sql(sql.insert_chunks, chunks)
        conn.exec_driver_sql(sql.upsert_latest, latest)

    def delete_run_tag(self, run_id: str, key: str) -> None:
        """Remove one tag from a run."""

        def write(conn: Connection) -> None:
            self._require_run(conn, run_id, active=True)
            gone = conn.execute(
                run_tags.delete().where(and_(run_tags.c.run_id == run_id, run_tags.c.key == key))
            ).rowcount
            if not gone:
                raise NotFound(f"Run {run_id} has no tag {key!r}.")
            record_audit(
                conn,
                actor=self.actor,
                action="run.delete_tag",
                entity_kind="run",
                entity_id=run_id,
                payload={"key": key},
            )

        self._write(write)

    # ---- ending, deleting ------------------------------------------------------------
    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        end_time: int | None = None,
        error: str | None = None,
        run_name: str | None = None,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> RunInfo:
        """Change a run's status (ending it when terminal), error text or name.

        A final batch of ``metrics``, ``params`` and ``tags`` can ride along: it is written
        in the same transaction (how the tracker ends a run with its buffered entries).
        With ``request_id``, an update whose request was applied before is not applied
        again; the run's current attributes are returned.
        """
        if request_id is not None:
            check_request_id(request_id)
            check_id(run_id, kind="run id")  # before the id is claimed for it
        try:
            new_status = RunStatus(status) if status is not None else None
        except ValueError as exc:
            raise InvalidInput(
                f"Invalid run status {status!r}: expected one of "
                f"{', '.join(s.value for s in RunStatus)}.",
            ) from exc
        _check_name(run_name, "run name")
        points = check_metrics(metrics)
        new_params = check_params(params or {})
        new_tags = {check_key(k, "tag"): str(v) for k, v in (tags or {}).items()}
        stamp = now_ms()

        def write(conn: Connection) -> RunInfo:
            has_batch = bool(points[0] or new_params or new_tags)
            if request_id is not None and claim_request(
                conn, request_id, "run.update", run_id, stamp
            ):
                return _info_from_row(self._require_run(conn, run_id))
            row = self._require_run(conn, run_id, active=has_batch)
            # The final batch shares the transaction and the audit row of the update.
            batch = (
                self._write_batch(conn, run_id, points, new_params, new_tags) if has_batch else None
            )
            values: dict[str, Any] = {"heartbeat_time": stamp}
            if new_status is not None:
                values["status"] = new_status.value
                if new_status.is_terminal:
                    values["end_time"] = end_time if end_time is not None else stamp
            if error is not None:
                values["error"] = error
            if run_name is not None:
                values["run_name"] = run_name
            conn.exec_driver_sql(
                RUN_SQL[conn.dialect.name].update_run(tuple(values)), (*values.values(), run_id)
            )
            record_audit(
                conn,
                actor=self.actor,
                action="run.update",
                entity_kind="run",
                entity_id=run_id,
                payload={
                    "from_status": row.status,
                    **{k: v for k, v in values.items() if k != "heartbeat_time"},
                    **({"batch": batch} if batch else {}),
                },
                at=stamp,
            )
            return _info_from_row(row, **values)

        return self._write(write)

    def _set_lifecycle(self, run_ids: Sequence[str], stage: str) -> int:
        action = "run.delete" if stage == "deleted" else "run.restore"

        def write(conn: Connection) -> int:
            for run_id in run_ids:
                self._require_run(conn, run_id)
            changed = conn.execute(
                update(runs)
                .where(and_(runs.c.run_id.in_(list(run_ids)), runs.c.lifecycle_stage != stage))
                .values(lifecycle_stage=stage)
            ).rowcount
            for run_id in run_ids:
                record_audit(
                    conn,
                    actor=self.actor,
                    action=action,
                    entity_kind="run",
                    entity_id=run_id,
                    payload={},
                )
            return int(changed)

        return self._write(write)

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Mark runs deleted (soft delete, as MLflow); return how many changed."""
        return self._set_lifecycle(run_ids, "deleted")

    def restore_runs(self, run_ids: Sequence[str]) -> int:
        """Bring back deleted runs; return how many changed."""
        return self._set_lifecycle(run_ids, "active")

    def find_stale_runs(self, *, older_than_ms: int) -> list[RunInfo]:
        """RUNNING runs whose logger has not written for ``older_than_ms`` milliseconds."""
        cutoff = now_ms() - older_than_ms
        with self._read() as conn:
            rows = conn.execute(
                select(runs)
                .where(
                    and_(runs.c.status == RunStatus.RUNNING.value, runs.c.heartbeat_time < cutoff)
                )
                .order_by(runs.c.start_time)
            ).all()
        return [_info_from_row(row) for row in rows]

    # ---- artifacts (the kernel's artifact index, owner ``run``) ------------------------
    def record_artifacts(self, run_id: str, entries: Sequence[ArtifactEntry]) -> None:
        """Map logical artifact paths of a run to stored blobs (a path logged again moves)."""
        if not entries:
            return
        stamp = now_ms()

        def write(conn: Connection) -> None:
            self._require_run(conn, run_id, active=True)
            self.db.index_artifacts(conn, "run", run_id, entries, at=stamp)
            record_audit(
                conn,
                actor=self.actor,
                action="run.log_artifacts",
                entity_kind="run",
                entity_id=run_id,
                payload={"files": {e.path: e.digest for e in entries}},
                at=stamp,
            )

        self._write(write)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactEntry]:
        """Artifacts of a run whose path is ``prefix`` or lies below it."""
        with self._read() as conn:
            self._require_run(conn, run_id)
            return self.db.indexed_artifacts("run", run_id, prefix, conn=conn)

    def delete_artifacts(self, run_id: str, path: str) -> list[ArtifactEntry]:
        """Remove a run's file at ``path``, or the files below the folder ``path``.

        The index forgets them and the audit log records which blobs they were; the blobs
        themselves stay (shared by content). Raises :class:`NotFound` when nothing is there.
        """
        stamp = now_ms()

        def write(conn: Connection) -> list[ArtifactEntry]:
            self._require_run(conn, run_id, active=True)
            gone = self.db.unindex_artifacts(conn, "run", run_id, path)
            if not gone:
                raise NotFound(
                    f"Run {run_id} has no artifact at {path!r}.",
                    hint=f"List its files with `cycleml runs show {run_id}`.",
                )
            record_audit(
                conn,
                actor=self.actor,
                action="run.delete_artifacts",
                entity_kind="run",
                entity_id=run_id,
                payload={"files": {e.path: e.digest for e in gone}},
                at=stamp,
            )
            return gone

        return self._write(write)

    def record_input(
        self, run_id: str, kind: str, entity_id: str, *, payload: Mapping[str, Any]
    ) -> None:
        """Record that a run read an entity, e.g. a dataset version (lineage entity -> run)."""

        def write(conn: Connection) -> None:
            record_edges(conn, [(kind, entity_id, "input_to", "run", run_id)])
            record_audit(
                conn,
                actor=self.actor,
                action="run.log_input",
                entity_kind="run",
                entity_id=run_id,
                payload=payload,
            )

        self._write(write)
