"""The windowed metric-ordered search returns exactly what the full search returns.

The window is made tiny so that every path runs: answers found inside the window, ties
at its edge, too few matches inside it, runs without the metric or with NaN. A repository
suite: the pages are also read through the team server's REST API.
"""

from __future__ import annotations

import itertools
import math

import pytest

from cycleml.store import Database
from cycleml.tracking import RunRepository
from cycleml.tracking import _sql_search as runs_module
from cycleml.tracking._entities import Metric
from cycleml.tracking._search import build_run_search, parse_filter, parse_order_by

pytestmark = pytest.mark.repository_suite

VALUES = [0.1, 0.2, 0.2, 0.3, math.nan, None]  # None: the run never logs m


@pytest.fixture
def populated(
    run_repo: RunRepository, monkeypatch: pytest.MonkeyPatch
) -> tuple[RunRepository, str]:
    monkeypatch.setattr(runs_module, "_WINDOW_MIN", 4)
    experiment = run_repo.create_experiment("window").experiment_id
    other = run_repo.create_experiment("other").experiment_id
    for i in range(48):
        target = experiment if i % 5 else other  # other experiments share the metric index
        run = run_repo.create_run(experiment_id=target, run_name=f"r{i:02d}")
        value = VALUES[i % len(VALUES)]
        points = [] if value is None else [Metric("m", value, 0, 1)]
        run_repo.log_batch(
            run.run_id,
            metrics=[*points, Metric("n", float(i % 7), 0, 1)],
            params={"p": "x" if i % 3 == 0 else "y"},
        )
    return run_repo, experiment


def _full_search(db: Database, experiment: str, flt: str, order: list[str]) -> list[str]:
    query = build_run_search(
        experiment_ids=[experiment],
        filters=parse_filter(flt),
        order=parse_order_by(order),
        limit=1000,
        offset=0,
    )
    with db.engine.connect() as conn:
        return [row.run_name for row in conn.execute(query)]


@pytest.mark.parametrize(
    ("flt", "order"),
    list(
        itertools.product(
            ["", "params.p = 'y'", "metrics.n > 2", "metrics.n >= 6", "metrics.m > 0.15"],
            [["metrics.m DESC"], ["metrics.m"], ["metrics.m DESC", "metrics.n"]],
        )
    ),
)
def test_windowed_pages_equal_the_full_search(
    db: Database, populated: tuple[RunRepository, str], flt: str, order: list[str]
) -> None:
    store, experiment = populated
    expected = _full_search(db, experiment, flt, order)
    for page_size in (1, 3, 7):
        seen: list[str] = []
        token = None
        while True:
            page, token = store.search_runs(
                experiment_ids=[experiment],
                filter_string=flt,
                order_by=order,
                max_results=page_size,
                page_token=token,
            )
            seen.extend(run.info.run_name for run in page)
            if token is None:
                break
        assert seen == expected, (flt, order, page_size)
