"""The tracking stage's repository: experiments, runs, metrics, their files and search."""

from __future__ import annotations

from cycleml.store import Database
from cycleml.tracking._sql_experiments import ExperimentOps
from cycleml.tracking._sql_search import RunSearchOps

__all__ = ["SqlRunRepository"]


class SqlRunRepository(ExperimentOps, RunSearchOps):
    """Experiments and runs in the SQL database (SQLite or PostgreSQL).

    Args:
        db: The kernel database (see :func:`cycleml.store.open_database`).
    """

    def __init__(self, db: Database) -> None:
        super().__init__(db)
