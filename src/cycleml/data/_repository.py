"""The data stage's repository: datasets, their immutable versions, parts and tags."""

from __future__ import annotations

from cycleml.data._sql_datasets import DatasetOps
from cycleml.store import Database

__all__ = ["SqlDatasetRepository"]


class SqlDatasetRepository(DatasetOps):
    """Dataset versions in the SQL database (SQLite or PostgreSQL).

    Args:
        db: The kernel database (see :func:`cycleml.store.open_database`).
    """

    def __init__(self, db: Database) -> None:
        super().__init__(db)
