"""The kernel's tables, and what every stage's tables share.

Each stage declares its own tables in ``cycleml/<stage>/_tables.py`` on a
:func:`table_metadata` of its own (one naming convention for every constraint, so Alembic
names match across branches), and creates them in its own migration branch. The kernel
keeps only what every stage writes: the audit log, the lineage edges and the artifact
index. Times are integer milliseconds since the epoch (as MLflow stores them).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

__all__ = [
    "ID_LEN",
    "KEY_LEN",
    "NAME_LEN",
    "AutoId",
    "artifacts",
    "audit_log",
    "lineage_edges",
    "metadata",
    "table_metadata",
]

ID_LEN = 32
NAME_LEN = 256
KEY_LEN = 250

# Integer primary keys must be INTEGER on SQLite to alias the rowid (autoincrement).
AutoId = BigInteger().with_variant(Integer(), "sqlite")


def table_metadata() -> MetaData:
    """A new ``MetaData`` with cycleml's constraint naming convention."""
    return MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


metadata = table_metadata()

# The artifact index: files logged to an owner (a run, ...): logical path -> content-addressed blob.
artifacts = Table(
    "artifacts",
    metadata,
    Column("owner_kind", String(32), nullable=False),
    Column("owner_id", String(ID_LEN), nullable=False),
    Column("path", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("owner_kind", "owner_id", "path"),
)

lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("src_kind", String(32), nullable=False),
    Column("src_id", String(NAME_LEN), nullable=False),
    Column("relation", String(64), nullable=False),
    Column("dst_kind", String(32), nullable=False),
    Column("dst_id", String(NAME_LEN), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "src_kind", "src_id"),
    Index(None, "dst_kind", "dst_id"),
)

# Append-only: database triggers (see the initial migration) refuse UPDATE and DELETE.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("time", BigInteger, nullable=False),
    Column("actor", String(NAME_LEN), nullable=False),
    Column("action", String(64), nullable=False),
    Column("entity_kind", String(32), nullable=False),
    Column("entity_id", String(NAME_LEN), nullable=False),
    Column("payload", JSON, nullable=False),
    Index(None, "time"),
    Index(None, "entity_kind", "entity_id"),
)
