"""Monitor evaluations in the SQL metadata store: each one a row, its metrics a time series.

:meth:`EvaluationOps.record_monitor_evaluation` writes, in one transaction, the evaluation
row, one ``monitor_values`` row per metric (a bulk insert), the lineage edges
``<source> --read_by--> monitor_evaluation`` and ``monitor --evaluated_as-->
monitor_evaluation``, the monitor's new watermark and the audit row (``monitor.evaluate``).
A metric's history is then one range scan of the ``(monitor_name, metric, window_end)``
index (:meth:`EvaluationOps.monitor_history`). The window and watermark rules are pure
functions of :mod:`cycleml.monitoring._watermarks`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from sqlalchemy import Connection, func, insert, select, update

from cycleml.errors import AlreadyExists, InvalidInput, NotFound
from cycleml.ids import check_id, new_id
from cycleml.monitoring._sql_monitors import (
    check_int,
    check_json,
    check_limit,
    check_metric,
    check_optional_int,
    check_sources,
    read_number,
    require_monitor,
)
from cycleml.monitoring._sql_requests import claim_request, read_page, settle_request
from cycleml.monitoring._tables import monitor_evaluations, monitor_values, monitors
from cycleml.monitoring._watermarks import check_window, evaluation_watermark
from cycleml.store import SqlRepository, json_safe, now_ms, record_audit, record_edges

__all__ = [
    "EVALUATION_STATUSES",
    "EvaluationOps",
    "EvaluationStatus",
    "MonitorEvaluation",
    "MonitorPoint",
]

#: The outcome of one evaluation.
EvaluationStatus = Literal["ok", "alert", "error"]

EVALUATION_STATUSES: tuple[str, ...] = ("ok", "alert", "error")


@dataclass(frozen=True)
class MonitorEvaluation:
    """One evaluation of a monitor over the window ``[window_start, window_end)`` (ms).

    ``values`` holds the metric values when they were asked for (``None`` otherwise).
    """

    id: str
    monitor_name: str
    window_start: int
    window_end: int
    rows: int
    status: str
    summary: dict[str, Any]
    creation_time: int
    values: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN values as strings)."""
        return dict(json_safe(dict(self.__dict__)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorEvaluation:
        """The evaluation :meth:`to_dict` made (the values' NaN strings as floats again)."""
        given = data.get("values")
        values = None if given is None else {k: float(read_number(v)) for k, v in given.items()}
        fields = {name: data[name] for name in cls.__dataclass_fields__ if name != "values"}
        return cls(**fields, values=values)


class MonitorPoint(NamedTuple):
    """One point of a monitor's time series (a named tuple: histories are long)."""

    window_end: int
    metric: str
    value: float
    evaluation_id: str


def _check_value(metric: str, value: object) -> float | None:
    """A metric value as stored: a float, or ``None`` for NaN or a missing value."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(
            f"Invalid value for metric {metric!r}: expected a number, got {value!r}.",
            hint="Pass floats; NaN or None stands for a value that could not be computed.",
        )
    number = float(value)
    return None if math.isnan(number) else number


def _evaluation(row: Any, values: dict[str, float] | None = None) -> MonitorEvaluation:
    return MonitorEvaluation(
        id=row.id,
        monitor_name=row.monitor_name,
        window_start=int(row.window_start),
        window_end=int(row.window_end),
        rows=int(row.rows),
        status=row.status,
        summary=dict(row.summary or {}),
        creation_time=int(row.creation_time),
        values=values,
    )


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)


class EvaluationOps(SqlRepository):
    """Monitor evaluation and time-series operations of the SQL metadata store."""

    def record_monitor_evaluation(
        self,
        monitor_name: str,
        *,
        window_start: int,
        window_end: int,
        rows: int,
        status: EvaluationStatus,
        values: Mapping[str, float | None],
        summary: Mapping[str, Any] | None = None,
        sources: Sequence[tuple[str, str]] = (),
        watermark: int | None = None,
        evaluation_id: str | None = None,
        actor: str | None = None,
        request_id: str | None = None,
    ) -> MonitorEvaluation:
        """Store one evaluation in one transaction: its row, every metric value, lineage
        from each source it read, the watermark it advances and the audit row.

        With ``request_id`` (the server's ``X-Request-ID``), a retry of a request that was
        applied returns the evaluation it stored instead of recording it again.

        Args:
            window_start: Start of the evaluated window (ms, inclusive).
            window_end: End of the window (ms, exclusive); the time series is keyed by it.
            rows: How many rows the window held.
            status: ``ok``, ``alert`` or ``error``.
            values: Metric name -> value; NaN or ``None`` is stored as "no value" (NULL)
                and read back as NaN.
            summary: Anything else worth keeping, as JSON.
            sources: ``(kind, id)`` of each input, e.g. ``("prediction_log", part_id)``.
            watermark: Move the monitor's watermark to this time (ms). It only moves
                forwards: a watermark not beyond the stored one means another evaluator has
                already recorded this window.

        Raises:
            InvalidInput: A bad window, count, status, value, summary or source.
            NotFound: No such monitor.
            InvalidState: ``watermark`` is not beyond the monitor's current watermark.
            AlreadyExists: ``evaluation_id`` is taken.
        """
        check_int(window_start, "window start")
        check_int(window_end, "window end")
        check_window(window_start, window_end)
        check_int(rows, "row count")
        if status not in EVALUATION_STATUSES:
            raise InvalidInput(
                f"Invalid evaluation status {status!r}: expected one of "
                f"{', '.join(EVALUATION_STATUSES)}.",
                hint="'alert' when a check failed, 'error' when the evaluation itself failed.",
            )
        if not isinstance(values, Mapping):
            raise InvalidInput(
                f"Invalid metric values: expected a mapping, got {type(values).__name__}.",
                hint="Pass {'drift_share': 0.2, 'accuracy': 0.91, ...}.",
            )
        clean_values = {check_metric(k): _check_value(k, v) for k, v in values.items()}
        clean_summary = check_json({} if summary is None else summary, "evaluation summary")
        inputs = check_sources(sources)
        mark = check_optional_int(watermark, "watermark")
        eval_id = (
            new_id() if evaluation_id is None else check_id(evaluation_id, kind="evaluation id")
        )
        who = actor or self.actor
        stamp = now_ms()

        def write(conn: Connection) -> str | None:
            if request_id is not None and (
                done := claim_request(conn, request_id, "monitor.evaluate", monitor_name, stamp)
            ):
                return str(done.answer["evaluation_id"])  # the evaluation is committed
            row = require_monitor(conn, monitor_name, lock=True)
            previous = row.watermark
            advanced = evaluation_watermark(
                monitor_name, None if previous is None else int(previous), mark
            )
            if conn.execute(
                select(monitor_evaluations.c.id).where(monitor_evaluations.c.id == eval_id)
            ).first():
                raise AlreadyExists(
                    f"Monitor evaluation {eval_id} already exists.",
                    hint="Leave evaluation_id out to get a new one.",
                )
            conn.execute(
                insert(monitor_evaluations).values(
                    id=eval_id,
                    monitor_name=monitor_name,
                    window_start=window_start,
                    window_end=window_end,
                    rows=rows,
                    status=status,
                    summary=clean_summary,
                    creation_time=stamp,
                )
            )
            if clean_values:
                conn.execute(
                    insert(monitor_values),
                    [
                        {
                            "evaluation_id": eval_id,
                            "monitor_name": monitor_name,
                            "metric": metric,
                            "value": value,
                            "window_end": window_end,
                        }
                        for metric, value in clean_values.items()
                    ],
                )
            edges = [(kind, ref, "read_by", "monitor_evaluation", eval_id) for kind, ref in inputs]
            edges.append(("monitor", monitor_name, "evaluated_as", "monitor_evaluation", eval_id))
            record_edges(conn, edges, at=stamp)
            if advanced is not None:
                conn.execute(
                    update(monitors)
                    .where(monitors.c.name == monitor_name)
                    .values(watermark=advanced)
                )
            record_audit(
                conn,
                actor=who,
                action="monitor.evaluate",
                entity_kind="monitor",
                entity_id=monitor_name,
                payload={
                    "evaluation_id": eval_id,
                    "window_start": window_start,
                    "window_end": window_end,
                    "rows": rows,
                    "status": status,
                    "metrics": len(clean_values),
                    "sources": len(inputs),
                    "watermark": mark,
                    "previous_watermark": previous,
                },
                at=stamp,
            )
            settle_request(conn, request_id, {"evaluation_id": eval_id})
            return None

        applied = self._write(write)
        if applied is not None:
            return self.get_monitor_evaluation(applied)
        return MonitorEvaluation(
            id=eval_id,
            monitor_name=monitor_name,
            window_start=window_start,
            window_end=window_end,
            rows=rows,
            status=status,
            summary=clean_summary,
            creation_time=stamp,
            values={k: _float(v) for k, v in clean_values.items()},
        )

    def get_monitor_evaluation(self, evaluation_id: str) -> MonitorEvaluation:
        """One evaluation, with its metric values."""
        check_id(evaluation_id, kind="evaluation id")
        with self._read() as conn:
            row = conn.execute(
                select(monitor_evaluations).where(monitor_evaluations.c.id == evaluation_id)
            ).first()
            if row is None:
                raise NotFound(
                    f"No monitor evaluation {evaluation_id}.",
                    hint="List a monitor's evaluations with `cycleml monitor history NAME`.",
                )
            values = conn.execute(
                select(monitor_values.c.metric, monitor_values.c.value)
                .where(monitor_values.c.evaluation_id == evaluation_id)
                .order_by(monitor_values.c.metric)
            ).all()
        return _evaluation(row, {metric: _float(value) for metric, value in values})

    def list_monitor_evaluations(
        self,
        name: str,
        *,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
        with_values: bool = False,
    ) -> list[MonitorEvaluation]:
        """A monitor's evaluations by ``window_end`` in ``[since, until)``, oldest first.

        With ``limit``, the newest ``limit`` of them (still oldest first).
        """
        return self.page_monitor_evaluations(
            name, since=since, until=until, limit=limit, with_values=with_values
        )[0]

    def page_monitor_evaluations(
        self,
        name: str,
        *,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
        with_values: bool = False,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> tuple[list[MonitorEvaluation], str | None]:
        """One page of :meth:`list_monitor_evaluations` (at most ``max_results``) and the
        next page's token (``None`` after the last page).

        Raises:
            InvalidInput: A bad limit, ``max_results`` or page token.
            NotFound: No such monitor.
        """
        top = check_limit(limit)
        evaluations = monitor_evaluations.c
        query = select(monitor_evaluations).where(evaluations.monitor_name == name)
        if since is not None:
            query = query.where(evaluations.window_end >= since)
        if until is not None:
            query = query.where(evaluations.window_end < until)
        key = (evaluations.window_end, evaluations.creation_time, evaluations.id)
        with self._read() as conn:
            require_monitor(conn, name)
            rows, token = read_page(
                conn,
                query,
                key,
                limit=top,
                max_results=max_results,
                page_token=page_token,
                types=(int, int, str),
            )
            found: dict[str, dict[str, float]] = {row.id: {} for row in rows}
            if with_values and rows:
                ids = list(found)
                for start in range(0, len(ids), 500):  # stay under bind-parameter limits
                    chunk = ids[start : start + 500]
                    for row in conn.execute(
                        select(
                            monitor_values.c.evaluation_id,
                            monitor_values.c.metric,
                            monitor_values.c.value,
                        ).where(monitor_values.c.evaluation_id.in_(chunk))
                    ):
                        found[row.evaluation_id][row.metric] = _float(row.value)
        listed = [
            _evaluation(row, dict(sorted(found[row.id].items())) if with_values else None)
            for row in rows
        ]
        return listed, token

    def monitor_history(
        self,
        name: str,
        metric: str | Sequence[str] | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> list[MonitorPoint]:
        """A monitor's time series: ``(window_end, metric, value, evaluation_id)`` points.

        Ordered by ``window_end`` then metric; ``metric`` picks one or several metrics,
        ``since``/``until`` bound ``window_end`` (inclusive/exclusive, ms), ``limit`` keeps
        the newest points. A NaN value is returned as NaN.
        """
        top = check_limit(limit)
        query = select(
            monitor_values.c.window_end,
            monitor_values.c.metric,
            monitor_values.c.value,
            monitor_values.c.evaluation_id,
        ).where(monitor_values.c.monitor_name == name)
        if isinstance(metric, str):
            query = query.where(monitor_values.c.metric == metric)
        elif metric is not None:
            wanted = list(metric)
            if not wanted:
                return []
            query = query.where(monitor_values.c.metric.in_(wanted))
        if since is not None:
            query = query.where(monitor_values.c.window_end >= since)
        if until is not None:
            query = query.where(monitor_values.c.window_end < until)
        with self._read() as conn:
            require_monitor(conn, name)
            if top is None:
                rows = conn.execute(
                    query.order_by(monitor_values.c.window_end, monitor_values.c.metric)
                ).all()
            else:
                newest = query.order_by(
                    monitor_values.c.window_end.desc(), monitor_values.c.metric.desc()
                ).limit(top)
                rows = list(reversed(conn.execute(newest).all()))
        return [
            MonitorPoint(int(end), metric_name, _float(value), evaluation)
            for end, metric_name, value, evaluation in rows
        ]

    def count_monitor_evaluations(self, name: str) -> int:
        """How many evaluations a monitor has stored."""
        with self._read() as conn:
            require_monitor(conn, name)
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(monitor_evaluations)
                    .where(monitor_evaluations.c.monitor_name == name)
                ).scalar_one()
            )
