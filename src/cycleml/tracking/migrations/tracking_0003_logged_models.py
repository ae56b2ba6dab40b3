"""Tracking: MLflow 3's logged models, their tags and params, and runs' model outputs.

Revision ID: tracking_0003
Revises: tracking_0002
Branch: tracking (the tracking tables)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "tracking_0003"
down_revision = "tracking_0002"
branch_labels = None
depends_on = None


def _key_value_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("model_id", sa.String(length=34), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            name=op.f(f"fk_{name}_model_id_logged_models"),
        ),
        sa.PrimaryKeyConstraint("model_id", "key", name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    op.create_table(
        "logged_models",
        sa.Column("model_id", sa.String(length=34), nullable=False),
        sa.Column("experiment_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("model_type", sa.String(length=256), nullable=False),
        sa.Column("source_run_id", sa.String(length=32), nullable=True),
        sa.Column("artifact_path", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("lifecycle_stage", sa.String(length=16), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.experiment_id"],
            name=op.f("fk_logged_models_experiment_id_experiments"),
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_logged_models")),
    )
    with op.batch_alter_table("logged_models", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_logged_models_experiment_id_creation_time"),
            ["experiment_id", "creation_time"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_logged_models_source_run_id"), ["source_run_id"], unique=False
        )
    _key_value_table("logged_model_tags")
    _key_value_table("logged_model_params")
    op.create_table(
        "logged_model_outputs",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=34), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["logged_models.model_id"],
            name=op.f("fk_logged_model_outputs_model_id_logged_models"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_logged_model_outputs_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "model_id", name=op.f("pk_logged_model_outputs")),
    )


def downgrade() -> None:
    op.drop_table("logged_model_outputs")
    op.drop_table("logged_model_params")
    op.drop_table("logged_model_tags")
    with op.batch_alter_table("logged_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_logged_models_source_run_id"))
        batch_op.drop_index(batch_op.f("ix_logged_models_experiment_id_creation_time"))
    op.drop_table("logged_models")
