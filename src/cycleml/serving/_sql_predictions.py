"""The prediction log index, batch predictions and feedback in the SQL metadata store.

A deployment's prediction log is a series of Parquet parts (content-addressed blobs); the
store indexes each one, with the time range and model versions of its rows, and records the
lineage edge ``deployment --produced--> prediction_log`` (one node per part). A finished
batch scoring job records its own lineage (``--input_to-->``, ``--scored-->`` and
``--produced-->`` around a ``batch_prediction`` node) and its audit row.

Feedback is append-only: a second label for a request id is a new row, and readers take the
latest by ``time`` (ties: the one recorded last).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, insert, select, tuple_

from cycleml.errors import AlreadyExists, InvalidInput
from cycleml.ids import check_id, new_id
from cycleml.serving._sql_deployments import _not_found, claim_request
from cycleml.serving._tables import deployments, feedback, prediction_log_parts
from cycleml.store import (
    MAX_PAGE,
    SqlRepository,
    check_page_size,
    decode_page_token,
    encode_page_token,
    json_safe,
    now_ms,
    record_audit,
    record_edges,
)

__all__ = [
    "MAX_PAGE",
    "FeedbackRecord",
    "PredictionLogPart",
    "PredictionOps",
]

_REQUEST_ID_MAX = 256
_NODE_MAX = 256  # the lineage table's id columns
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")


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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**self.__dict__, "model_versions": list(self.model_versions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PredictionLogPart:
        """The part :meth:`to_dict` made."""
        fields = {key: data[key] for key in cls.__dataclass_fields__}
        return cls(**{**fields, "model_versions": tuple(fields["model_versions"])})


class FeedbackRecord(NamedTuple):
    """One stored label (a named tuple: bulk feedback makes many of them)."""

    id: int
    deployment: str
    request_id: str
    label: Any
    time: int
    actor: str
    created_time: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the label as stored: NaN and infinities are strings)."""
        return self._asdict()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeedbackRecord:
        """The record :meth:`to_dict` made."""
        return cls(*(data[key] for key in cls._fields))


def _after(token: str | None, key_type: type) -> tuple[int, Any] | None:
    """The sort key ``(time, key_type id)`` a page token names (``None``: the first page)."""

    def valid(key: Any) -> bool:
        return (
            isinstance(key, list)
            and len(key) == 2
            and type(key[0]) is int
            and type(key[1]) is key_type
        )

    key = decode_page_token(token, valid)
    return None if key is None else (key[0], key[1])


def _page(
    conn: Connection, query: Select[Any], key: tuple[Any, Any], max_results: int | None
) -> tuple[list[Any], bool]:
    """The query's rows ordered by ``key`` (at most ``max_results``), and whether more follow."""
    query = query.order_by(*key)
    if max_results is None:
        return list(conn.execute(query).all()), False
    rows = list(conn.execute(query.limit(max_results + 1)).all())
    return rows[:max_results], len(rows) > max_results


def _require_deployment(conn: Connection, name: str) -> None:
    if conn.execute(select(deployments.c.name).where(deployments.c.name == name)).first():
        return
    raise _not_found(name)


class PredictionOps(SqlRepository):
    """Prediction log, batch prediction and feedback operations of the SQL metadata store."""

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
            _require_deployment(conn, deployment)
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
        return self.page_prediction_log_parts(deployment, since_ms=since_ms, until_ms=until_ms)[0]

    def page_prediction_log_parts(
        self,
        deployment: str,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> tuple[list[PredictionLogPart], str | None]:
        """One page of :meth:`list_prediction_log_parts` and the next page's token.

        Pages follow the sort key (``min_time``, ``id``), so a part indexed while a caller
        pages is neither skipped nor repeated when it sorts after the current page.

        Raises:
            InvalidInput: A bad ``max_results`` (1 to :data:`MAX_PAGE`) or page token.
            NotFound: No such deployment.
        """
        check_page_size(max_results)
        after = _after(page_token, str)
        parts = prediction_log_parts.c
        query = select(prediction_log_parts).where(parts.deployment == deployment)
        if since_ms is not None:
            query = query.where(parts.max_time >= since_ms)
        if until_ms is not None:
            query = query.where(parts.min_time < until_ms)
        if after is not None:
            query = query.where(tuple_(parts.min_time, parts.id) > tuple_(*after))
        with self._read() as conn:
            _require_deployment(conn, deployment)
            rows, more = _page(conn, query, (parts.min_time, parts.id), max_results)
        found = [_part(row) for row in rows]
        token = encode_page_token([found[-1].min_time, found[-1].id]) if more else None
        return found, token

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
        request_id: str | None = None,
    ) -> None:
        """Record a finished batch scoring job: its lineage and its audit row.

        With ``request_id``, a retry of a record that was written is not written again.

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
            if request_id is not None and claim_request(
                conn, request_id, "batch_prediction.create", batch_id
            ):
                return
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
        request_id: str | None = None,
    ) -> int:
        """Store labels ``(request_id, label, time_ms or None for now)`` in one transaction.

        Returns how many were stored. All or nothing: one bad record stores none. With
        ``request_id`` (the write's, not a label's), a retry of a batch that was stored
        is not stored again.

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
            try:  # a label's request id: the prediction's (``request_id`` is this write's)
                prediction_id, label, at = record
            except (TypeError, ValueError) as exc:
                raise InvalidInput(
                    f"Invalid feedback record {i}: expected (request_id, label, time), "
                    f"got {record!r}."
                ) from exc
            if not isinstance(prediction_id, str) or not prediction_id.strip():
                raise InvalidInput(
                    f"Feedback record {i} has no request id (got {prediction_id!r}).",
                    hint="Every label needs the request id the prediction was returned with.",
                )
            if len(prediction_id) > _REQUEST_ID_MAX:
                raise InvalidInput(
                    f"Feedback record {i}: request id longer than {_REQUEST_ID_MAX} characters."
                )
            if label is None:
                raise InvalidInput(f"Feedback record {i} (request {prediction_id!r}) has no label.")
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
                    f"Feedback record {i} (request {prediction_id!r}): the label {label!r} cannot "
                    f"be stored as JSON: {exc}."
                ) from exc
            rows.append(
                {
                    "deployment": deployment,
                    "request_id": prediction_id,
                    "label": clean,
                    "time": stamp if at is None else at,
                    "actor": who,
                    "created_time": stamp,
                }
            )

        def write(conn: Connection) -> None:
            _require_deployment(conn, deployment)
            if request_id is not None and claim_request(
                conn, request_id, "deployment.add_feedback", deployment
            ):
                return
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
        return self.page_feedback(deployment, since_ms=since_ms)[0]

    def page_feedback(
        self,
        deployment: str,
        *,
        since_ms: int | None = None,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> tuple[list[FeedbackRecord], str | None]:
        """One page of :meth:`list_feedback` and the next page's token.

        Pages follow the sort key (``time``, ``id``), so labels stored while a caller pages
        are neither skipped nor repeated when they sort after the current page.

        Raises:
            InvalidInput: A bad ``max_results`` (1 to :data:`MAX_PAGE`) or page token.
            NotFound: No such deployment.
        """
        check_page_size(max_results)
        after = _after(page_token, int)
        query = select(feedback).where(feedback.c.deployment == deployment)
        if since_ms is not None:
            query = query.where(feedback.c.time >= since_ms)
        if after is not None:
            query = query.where(tuple_(feedback.c.time, feedback.c.id) > tuple_(*after))
        with self._read() as conn:
            _require_deployment(conn, deployment)
            rows, more = _page(conn, query, (feedback.c.time, feedback.c.id), max_results)
        token = encode_page_token([int(rows[-1].time), int(rows[-1].id)]) if more else None
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
        ], token


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
