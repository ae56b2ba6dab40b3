"""Tables of the metadata store (SQLAlchemy Core).

Alembic migrations in ``cycleml/store/migrations`` create exactly these tables; a test
compares the migrated database with this metadata so the two never drift apart.
Times are integer milliseconds since the epoch (as MLflow stores them).
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
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

__all__ = [
    "ID_LEN",
    "alert_events",
    "alert_states",
    "artifacts",
    "audit_log",
    "dataset_parts",
    "dataset_tags",
    "dataset_versions",
    "datasets",
    "deployment_revisions",
    "deployments",
    "experiment_tags",
    "experiments",
    "feedback",
    "latest_metrics",
    "lineage_edges",
    "metadata",
    "metric_chunks",
    "model_aliases",
    "model_version_tags",
    "model_versions",
    "monitor_evaluations",
    "monitor_references",
    "monitor_values",
    "monitors",
    "params",
    "prediction_log_parts",
    "registered_model_tags",
    "registered_models",
    "run_tags",
    "runs",
    "stage_transitions",
]

ID_LEN = 32
NAME_LEN = 256
KEY_LEN = 250

# Integer primary keys must be INTEGER on SQLite to alias the rowid (autoincrement).
AutoId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", String(ID_LEN), primary_key=True),
    Column("name", String(NAME_LEN), nullable=False, unique=True),
    Column("artifact_location", Text, nullable=False),
    Column("lifecycle_stage", String(16), nullable=False, default="active"),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column("experiment_id", String(ID_LEN), ForeignKey("experiments.experiment_id")),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("experiment_id", "key"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(ID_LEN), primary_key=True),
    Column("experiment_id", String(ID_LEN), ForeignKey("experiments.experiment_id")),
    Column("run_name", String(NAME_LEN), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    # Refreshed by every write of the run's logger; stale RUNNING runs are found by it.
    Column("heartbeat_time", BigInteger, nullable=False),
    Column("lifecycle_stage", String(16), nullable=False, default="active"),
    Column("user_id", String(NAME_LEN), nullable=False),
    Column("artifact_uri", Text, nullable=False),
    Column("parent_run_id", String(ID_LEN), nullable=True),
    Column("error", Text, nullable=True),
    Index(None, "experiment_id", "start_time"),
    Index(None, "parent_run_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(ID_LEN), ForeignKey("runs.run_id")),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", String(ID_LEN), ForeignKey("runs.run_id")),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
)

# Full metric history, stored in chunks: each write of a run's batch adds one row per
# metric key holding that key's points as packed little-endian arrays (int64 steps, float64
# values, int64 timestamps). A row per point made bulk logging index-bound (SQLite needs
# ~0.3 s just to insert 100,000 indexed rows); chunks keep it at a few rows per batch.
metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("run_id", String(ID_LEN), nullable=False),
    Column("key", String(KEY_LEN), nullable=False),
    Column("n_points", Integer, nullable=False),
    Column("min_step", BigInteger, nullable=False),
    Column("max_step", BigInteger, nullable=False),
    Column("step_blob", LargeBinary, nullable=False),
    Column("value_blob", LargeBinary, nullable=False),
    Column("time_blob", LargeBinary, nullable=False),
    Index(None, "run_id", "key"),
)

# The latest value of each metric per run, indexed for search and ordering.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(ID_LEN), ForeignKey("runs.run_id")),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Float, nullable=True),
    Column("is_nan", Boolean, nullable=False, default=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
    Index(None, "key", "value"),
)

# Files logged to a run (or any owner): logical path -> content-addressed blob.
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

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(NAME_LEN), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
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
