"""The registry stage's tables (SQLAlchemy Core); its Alembic branch creates exactly these.

A test compares a migrated database with every stage's metadata, so the two never drift.
Times are integer milliseconds since the epoch.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from cycleml.store import ID_LEN, KEY_LEN, NAME_LEN, AutoId, table_metadata

__all__ = [
    "metadata",
    "model_aliases",
    "model_requests",
    "model_version_tags",
    "model_versions",
    "registered_model_tags",
    "registered_models",
    "stage_transitions",
]

metadata = table_metadata()

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(NAME_LEN), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    # Set when the model is deleted (registry_0003): its rows stay for lineage and audit.
    Column("deleted_time", BigInteger, nullable=True),
)

registered_model_tags = Table(
    "registered_model_tags",
    metadata,
    Column("name", String(NAME_LEN), ForeignKey("registered_models.name")),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("name", "key"),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(NAME_LEN), ForeignKey("registered_models.name")),
    Column("version", Integer, nullable=False),
    Column("model_version_id", String(ID_LEN), nullable=False, unique=True),
    Column("run_id", String(ID_LEN), nullable=True),
    Column("source", Text, nullable=False),
    Column("current_stage", String(16), nullable=False, default="None"),
    Column("description", Text, nullable=False, default=""),
    Column("metrics", JSON, nullable=False),
    # Filled by the serving stage: input/output schema of the packaged model.
    Column("signature", JSON, nullable=True),
    Column("user_id", String(NAME_LEN), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    # Set when the version is deleted (registry_0003); its number is never handed out again.
    Column("deleted_time", BigInteger, nullable=True),
    PrimaryKeyConstraint("name", "version"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(NAME_LEN), nullable=False),
    Column("version", Integer, nullable=False),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("name", "version", "key"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(NAME_LEN), ForeignKey("registered_models.name")),
    Column("alias", String(NAME_LEN), nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("name", "alias"),
)

stage_transitions = Table(
    "stage_transitions",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("name", String(NAME_LEN), nullable=False),
    Column("version", Integer, nullable=False),
    Column("from_stage", String(16), nullable=False),
    Column("to_stage", String(16), nullable=False),
    Column("actor", String(NAME_LEN), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("forced", Boolean, nullable=False, default=False),
    Index(None, "name", "version"),
)


# The request ids (``X-Request-ID``) of registry writes applied through the server, each
# written in the transaction of the write it names: a client retrying a request whose answer
# it lost finds its id here and the write is not applied twice. Ids expire after a day.
model_requests = Table(
    "model_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("action", String(32), nullable=False),
    Column("entity_id", String(NAME_LEN), nullable=False),
    Column("applied_at", BigInteger, nullable=False),
    Index(None, "applied_at"),
)
