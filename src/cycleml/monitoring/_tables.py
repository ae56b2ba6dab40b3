"""The monitoring stage's tables (SQLAlchemy Core); its Alembic branch creates exactly these.

A test compares a migrated database with every stage's metadata, so the two never drift.
Times are integer milliseconds since the epoch.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from cycleml.store import ID_LEN, KEY_LEN, NAME_LEN, table_metadata

__all__ = [
    "alert_events",
    "alert_states",
    "metadata",
    "monitor_evaluations",
    "monitor_references",
    "monitor_requests",
    "monitor_values",
    "monitors",
]

metadata = table_metadata()

# ---- monitoring: references, monitors, evaluations, alerts (lifecycle stage 9) ------------
# A reference profile is a JSON document in the artifact store (``digest`` is its BLAKE3);
# this row names it and ties it to the model version it belongs to.
monitor_references = Table(
    "monitor_references",
    metadata,
    Column("id", String(ID_LEN), primary_key=True),
    Column("name", String(NAME_LEN), nullable=True, unique=True),
    Column("model_name", String(NAME_LEN), nullable=True),
    Column("model_version", Integer, nullable=True),
    Column("rows", BigInteger, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_by", String(NAME_LEN), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Index(None, "model_name", "model_version"),
)

# A monitor binds a deployment (or a model version), a reference and its configuration
# (checks, window, alert rules, notifications: opaque JSON to the store). ``watermark`` is
# the time (ms) up to which the prediction log has been evaluated.
monitors = Table(
    "monitors",
    metadata,
    Column("name", String(NAME_LEN), primary_key=True),
    Column("target_kind", String(16), nullable=False),
    Column("target", String(NAME_LEN), nullable=False),
    Column("model_name", String(NAME_LEN), nullable=False),
    Column("model_version", Integer, nullable=True),
    Column("reference_id", String(ID_LEN), ForeignKey("monitor_references.id"), nullable=True),
    Column("config", JSON, nullable=False),
    Column("watermark", BigInteger, nullable=True),
    Column("created_by", String(NAME_LEN), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Index(None, "target_kind", "target"),
)

monitor_evaluations = Table(
    "monitor_evaluations",
    metadata,
    Column("id", String(ID_LEN), primary_key=True),
    Column("monitor_name", String(NAME_LEN), ForeignKey("monitors.name"), nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("summary", JSON, nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Index(None, "monitor_name", "window_end"),
)

# The time series: one row per metric of an evaluation (``window_end`` copied from it so a
# history read is one range scan of the index). NaN is stored as NULL.
monitor_values = Table(
    "monitor_values",
    metadata,
    Column("evaluation_id", String(ID_LEN), ForeignKey("monitor_evaluations.id")),
    Column("monitor_name", String(NAME_LEN), nullable=False),
    Column("metric", String(KEY_LEN), nullable=False),
    Column("value", Float, nullable=True),
    Column("window_end", BigInteger, nullable=False),
    PrimaryKeyConstraint("evaluation_id", "metric"),
    Index(None, "monitor_name", "metric", "window_end"),
)

# Each alert rule's state, so a restart neither forgets a firing alert nor sends it again.
# ``window_end`` is the last evaluation window applied (a window is applied once);
# ``version`` counts transitions (optimistic concurrency between evaluators).
alert_states = Table(
    "alert_states",
    metadata,
    Column("monitor_name", String(NAME_LEN), ForeignKey("monitors.name")),
    Column("rule_name", String(NAME_LEN), nullable=False),
    Column("consecutive", BigInteger, nullable=False),
    Column("firing", Boolean, nullable=False),
    Column("last_value", Float, nullable=True),
    Column("last_fired_at", BigInteger, nullable=True),
    Column("window_end", BigInteger, nullable=True),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("monitor_name", "rule_name"),
)

# Alerts fired and resolved. ``deliveries`` maps each notifier to its delivery (status,
# attempts, detail); ``pending`` is true while any of them is not finished.
alert_events = Table(
    "alert_events",
    metadata,
    Column("id", String(ID_LEN), primary_key=True),
    Column("monitor_name", String(NAME_LEN), ForeignKey("monitors.name"), nullable=False),
    Column("rule_name", String(NAME_LEN), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("metric", String(KEY_LEN), nullable=False),
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("details", JSON, nullable=False),
    Column("deliveries", JSON, nullable=False),
    Column("pending", Boolean, nullable=False),
    Index(None, "monitor_name", "time"),
    Index(None, "pending"),
)

# The request ids (``X-Request-ID``) of monitoring writes applied through the team server,
# each written in the transaction of the write it names: a client retrying a request whose
# answer it lost (an evaluation, an alert transition, a delivery claim) finds its id here,
# with the answer the first attempt gave, and the write is not applied twice. Ids expire
# after a day.
monitor_requests = Table(
    "monitor_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("action", String(32), nullable=False),
    Column("entity_id", String(NAME_LEN), nullable=False),
    Column("answer", JSON, nullable=True),
    Column("applied_at", BigInteger, nullable=False),
    Index(None, "applied_at"),
)
