"""The serving stage's tables (SQLAlchemy Core); its Alembic branch creates exactly these.

A test compares a migrated database with every stage's metadata, so the two never drift.
Times are integer milliseconds since the epoch.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from cycleml.store import ID_LEN, NAME_LEN, AutoId, table_metadata

__all__ = [
    "deployment_requests",
    "deployment_revisions",
    "deployments",
    "feedback",
    "metadata",
    "prediction_log_parts",
]

metadata = table_metadata()

# ---- deployments, prediction log, feedback (lifecycle stages 8-9) -------------------------
# A deployment names the model versions a model server answers with. The URIs are kept as
# given (``models:/churn@champion``); the versions are what they resolved to when the
# configuration was set, so an alias moving later changes nothing until the next update.
deployments = Table(
    "deployments",
    metadata,
    Column("name", String(NAME_LEN), primary_key=True),
    Column("model_uri", Text, nullable=False),
    Column("model_name", String(NAME_LEN), nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("canary_uri", Text, nullable=True),
    Column("canary_name", String(NAME_LEN), nullable=True),
    Column("canary_version", Integer, nullable=True),
    Column("canary_percent", Float, nullable=True),
    Column("shadow_uri", Text, nullable=True),
    Column("shadow_name", String(NAME_LEN), nullable=True),
    Column("shadow_version", Integer, nullable=True),
    Column("revision", Integer, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_by", String(NAME_LEN), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
)

# Append-only history of a deployment's configurations; a rollback restores one of them
# as a new revision (``restored_revision`` names which).
deployment_revisions = Table(
    "deployment_revisions",
    metadata,
    Column("name", String(NAME_LEN), ForeignKey("deployments.name")),
    Column("revision", Integer, nullable=False),
    Column("config", JSON, nullable=False),
    Column("action", String(16), nullable=False),
    Column("restored_revision", Integer, nullable=True),
    Column("actor", String(NAME_LEN), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    PrimaryKeyConstraint("name", "revision"),
)

# The index of the prediction log: one row per Parquet part (a content-addressed blob).
prediction_log_parts = Table(
    "prediction_log_parts",
    metadata,
    Column("id", String(ID_LEN), primary_key=True),
    Column("deployment", String(NAME_LEN), ForeignKey("deployments.name"), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("path", Text, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("min_time", BigInteger, nullable=False),
    Column("max_time", BigInteger, nullable=False),
    Column("model_versions", JSON, nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Index(None, "deployment", "min_time"),
    Index(None, "deployment", "max_time"),
)

# Ground truth, append-only: a second label for a request id is a new row, and readers take
# the latest by ``time`` (ties: the one recorded last).
feedback = Table(
    "feedback",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("deployment", String(NAME_LEN), ForeignKey("deployments.name"), nullable=False),
    Column("request_id", String(NAME_LEN), nullable=False),
    Column("label", JSON, nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("actor", String(NAME_LEN), nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Index(None, "deployment", "request_id"),
    Index(None, "deployment", "time"),
)

# The request ids (``X-Request-ID``) of serving writes applied through the team server, each
# written in the transaction of the write it names: a client retrying a request whose answer
# it lost (a promotion, a rollback, a feedback batch) finds its id here and the write is not
# applied twice. Ids expire after a day.
deployment_requests = Table(
    "deployment_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("action", String(32), nullable=False),
    Column("entity_id", String(NAME_LEN), nullable=False),
    Column("applied_at", BigInteger, nullable=False),
    Index(None, "applied_at"),
)
