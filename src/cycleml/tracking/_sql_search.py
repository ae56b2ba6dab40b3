"""Run search in the SQL metadata store: MLflow's filter grammar, paging, fast ordering."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from cycleml.errors import InvalidInput
from cycleml.tracking._entities import Run
from cycleml.tracking._search import (
    Comparison,
    OrderClause,
    build_run_search,
    check_max_results,
    decode_page_token,
    encode_page_token,
    parse_filter,
    parse_order_by,
    top_window_boundary,
)
from cycleml.tracking._sql_runs import RunOps

__all__ = ["RunSearchOps"]

# Windowed metric-ordered search: at least this many best-valued runs, at most this deep.
_WINDOW_MIN = 1000
_WINDOW_MAX = 20000


class RunSearchOps(RunOps):
    """Run search operations of the SQL metadata store."""

    def search_runs(
        self,
        *,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        view: str = "active",
    ) -> tuple[list[Run], str | None]:
        """Search runs with MLflow's filter grammar; return one page and the next token."""
        limit = check_max_results(max_results)
        offset = decode_page_token(page_token)
        stages = {"active": ("active",), "deleted": ("deleted",), "all": ("active", "deleted")}
        if view not in stages:
            raise InvalidInput(f"Invalid view {view!r}: expected active, deleted or all.")
        filters = parse_filter(filter_string or "")
        order = parse_order_by(list(order_by) if order_by else None)
        with self._read() as conn:
            ids = self._windowed_search(
                conn, list(experiment_ids), filters, order, stages[view], limit, offset
            )
            if ids is None:
                query = build_run_search(
                    experiment_ids=list(experiment_ids),
                    filters=filters,
                    order=order,
                    lifecycle_stages=stages[view],
                    limit=limit + 1,
                    offset=offset,
                )
                ids = [row[0] for row in conn.execute(query)]
        more = len(ids) > limit
        page = self.get_runs(ids[:limit])
        return page, encode_page_token(offset + limit) if more else None

    @staticmethod
    def _windowed_search(
        conn: Connection,
        experiment_ids: list[str],
        filters: list[Comparison],
        order: list[OrderClause],
        stages: Sequence[str],
        limit: int,
        offset: int,
    ) -> list[str] | None:
        """Ordered by a metric: search only the best-valued runs first (None: not decisive).

        Sorting every match is what makes a search slow when most runs match; walking the
        metric's index from the best value and stopping after a page is fast. The answer
        is kept only when it is provably the same as the full search's.
        """
        need = offset + limit + 1
        # SQLite only: it materializes the LIMITed window and walks it first. PostgreSQL
        # sorts thousands of matches quickly anyway, and with the row estimates of a freshly
        # written table (before autovacuum's ANALYZE) it nests loops around the window.
        if conn.dialect.name != "sqlite" or order[0].entity != "metric" or need > _WINDOW_MAX:
            return None
        size = max(_WINDOW_MIN, 4 * need)
        rows = conn.execute(
            build_run_search(
                experiment_ids=experiment_ids,
                filters=filters,
                order=order,
                lifecycle_stages=stages,
                limit=need,
                offset=0,
                window=size,
            )
        ).all()
        if len(rows) < need:
            return None  # the rest may be runs outside the window, or without the metric
        boundary = conn.execute(top_window_boundary(order[0], size)).scalar()
        last = rows[-1][-1]
        if boundary is not None and (
            last <= boundary if not order[0].ascending else last >= boundary
        ):
            return None  # a tie at the window's edge may continue outside it
        return [row[0] for row in rows[offset:]]
