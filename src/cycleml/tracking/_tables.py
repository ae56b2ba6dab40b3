"""The tracking stage's tables (SQLAlchemy Core); its Alembic branch creates exactly these.

A test compares a migrated database with every stage's metadata, so the two never drift.
Times are integer milliseconds since the epoch.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from cycleml.store import ID_LEN, KEY_LEN, NAME_LEN, AutoId, table_metadata

__all__ = [
    "experiment_tags",
    "experiments",
    "latest_metrics",
    "logged_model_outputs",
    "logged_model_params",
    "logged_model_tags",
    "logged_models",
    "metadata",
    "metric_chunks",
    "params",
    "run_requests",
    "run_tags",
    "runs",
]

metadata = table_metadata()

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

# The request ids (``X-Request-ID``) of run writes applied through the server, each written
# in the transaction of the write it names: a client retrying a request whose answer it
# lost finds its id here and the write is not applied twice. Ids expire after a day.
run_requests = Table(
    "run_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("action", String(32), nullable=False),
    Column("run_id", String(ID_LEN), nullable=False),
    Column("applied_at", BigInteger, nullable=False),
    Index(None, "applied_at"),
)

# MLflow 3's logged models (``m-<32 hex>``), written by the MLflow client through the
# server's ``logged-models`` routes. Their files are indexed under ("logged_model", id) and,
# when the model has a source run, also under that run at ``artifact_path`` (the same blobs),
# so ``runs:/<run>/<artifact_path>`` names the model for cycleml's registry and loaders.
logged_models = Table(
    "logged_models",
    metadata,
    Column("model_id", String(ID_LEN + 2), primary_key=True),
    Column("experiment_id", String(ID_LEN), ForeignKey("experiments.experiment_id")),
    Column("name", String(NAME_LEN), nullable=False),
    Column("model_type", String(NAME_LEN), nullable=False),
    Column("source_run_id", String(ID_LEN), nullable=True),
    Column("artifact_path", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("status_message", Text, nullable=False),
    Column("lifecycle_stage", String(16), nullable=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_updated_time", BigInteger, nullable=False),
    Index(None, "experiment_id", "creation_time"),
    Index(None, "source_run_id"),
)

logged_model_tags = Table(
    "logged_model_tags",
    metadata,
    Column("model_id", String(ID_LEN + 2), ForeignKey("logged_models.model_id")),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_id", "key"),
)

logged_model_params = Table(
    "logged_model_params",
    metadata,
    Column("model_id", String(ID_LEN + 2), ForeignKey("logged_models.model_id")),
    Column("key", String(KEY_LEN), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("model_id", "key"),
)

# A run's outputs (MLflow's ``runs/outputs``): the logged models it produced, at a step.
logged_model_outputs = Table(
    "logged_model_outputs",
    metadata,
    Column("run_id", String(ID_LEN), ForeignKey("runs.run_id")),
    Column("model_id", String(ID_LEN + 2), ForeignKey("logged_models.model_id")),
    Column("step", BigInteger, nullable=False),
    PrimaryKeyConstraint("run_id", "model_id"),
)
