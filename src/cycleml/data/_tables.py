"""The data stage's tables (SQLAlchemy Core); its Alembic branch creates exactly these.

A test compares a migrated database with every stage's metadata, so the two never drift.
Times are integer milliseconds since the epoch.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from cycleml.store import ID_LEN, KEY_LEN, NAME_LEN, table_metadata

__all__ = ["dataset_parts", "dataset_tags", "dataset_versions", "datasets", "metadata"]

metadata = table_metadata()

# ---- datasets (lifecycle stages 2-3) -------------------------------------------------------
datasets = Table(
    "datasets",
    metadata,
    Column("name", String(NAME_LEN), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
)

# An immutable version: its rows are the concatenation of its parts (Parquet blobs). An
# appended version lists its parent's parts first, so nothing stored is ever rewritten.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("name", String(NAME_LEN), ForeignKey("datasets.name")),
    Column("version", Integer, nullable=False),
    Column("version_id", String(ID_LEN), nullable=False, unique=True),
    # BLAKE3 over a canonical encoding of schema and rows (see cycleml.data).
    Column("digest", String(64), nullable=False),
    Column("schema", JSON, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("source", JSON, nullable=False),
    Column("parent_version", Integer, nullable=True),
    Column("watermark_column", String(KEY_LEN), nullable=True),
    Column("watermark_value", JSON, nullable=True),
    Column("files", JSON, nullable=False),
    Column("validation", JSON, nullable=True),
    Column("user_id", String(NAME_LEN), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    PrimaryKeyConstraint("name", "version"),
    Index(None, "name", "digest", unique=True),
)

dataset_parts = Table(
    "dataset_parts",
    metadata,
    Column("version_id", String(ID_LEN), nullable=False),
    Column("part_no", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    PrimaryKeyConstraint("version_id", "part_no"),
)

dataset_tags = Table(
    "dataset_tags",
    metadata,
    Column("name", String(NAME_LEN), ForeignKey("datasets.name")),
    Column("tag", String(NAME_LEN), nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("name", "tag"),
)
