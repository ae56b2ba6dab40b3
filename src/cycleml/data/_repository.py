"""The data stage's repository: datasets, their immutable versions, parts and aliases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from cycleml.data._entities import DatasetPart, DatasetVersion
from cycleml.data._sql_datasets import DatasetOps
from cycleml.store import Database, DatasetUri

__all__ = ["DatasetRepository", "SqlDatasetRepository"]


class DatasetRepository(Protocol):
    """Where datasets and their immutable versions live: what Datasets needs.

    :class:`SqlDatasetRepository` keeps them in SQLite or PostgreSQL; the server issue adds a
    REST implementation. Every implementation runs the same tests.
    """

    def close(self) -> None:
        """Release the repository's connections."""
        ...

    def create_dataset_version(
        self,
        name: str,
        *,
        digest: str,
        schema: Sequence[Mapping[str, Any]],
        parts: Sequence[DatasetPart],
        source: Mapping[str, Any],
        source_identity: str | None = None,
        parent_version: int | None = None,
        watermark_column: str | None = None,
        watermark_value: Any = None,
        files: Sequence[Mapping[str, Any]] = (),
        validation: Mapping[str, Any] | None = None,
        edges: Sequence[tuple[str, str, str, str, str]] = (),
    ) -> tuple[DatasetVersion, bool]:
        """Record a new version (the dataset is created when missing)."""
        ...

    def get_dataset_version(self, name: str, version: int | None = None) -> DatasetVersion:
        """One version of a dataset; ``None`` means the latest."""
        ...

    def resolve_dataset_uri(self, uri: str | DatasetUri) -> DatasetVersion:
        """Resolve ``datasets:/name/3``, ``datasets:/name/latest`` or ``datasets:/name@alias``."""
        ...

    def list_datasets(self) -> list[DatasetVersion]:
        """The latest version of every dataset, by name."""
        ...

    def list_dataset_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        ...

    def set_dataset_alias(self, name: str, version: int, alias: str) -> DatasetVersion:
        """Point ``datasets:/name@alias`` at a version (moving the alias if it existed)."""
        ...


class SqlDatasetRepository(DatasetOps):
    """Dataset versions in the SQL database (SQLite or PostgreSQL).

    Args:
        db: The kernel database (see :func:`cycleml.store.open_database`).
    """

    def __init__(self, db: Database) -> None:
        super().__init__(db)


if TYPE_CHECKING:
    _SQL_IMPLEMENTS: type[DatasetRepository] = SqlDatasetRepository  # mypy: SQL keeps the protocol
