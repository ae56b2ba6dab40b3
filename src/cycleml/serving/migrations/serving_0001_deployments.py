"""Serving: deployments, their revisions, the prediction log index and feedback.

Revision ID: serving_0001
Revises:
Branch: serving
Create Date: 2026-11-27 13:07:31.586074
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "serving_0001"
down_revision = None
branch_labels = ("serving",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("model_uri", sa.Text(), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("canary_uri", sa.Text(), nullable=True),
        sa.Column("canary_name", sa.String(length=256), nullable=True),
        sa.Column("canary_version", sa.Integer(), nullable=True),
        sa.Column("canary_percent", sa.Float(), nullable=True),
        sa.Column("shadow_uri", sa.Text(), nullable=True),
        sa.Column("shadow_name", sa.String(length=256), nullable=True),
        sa.Column("shadow_version", sa.Integer(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_deployments")),
    )
    op.create_table(
        "deployment_revisions",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("restored_revision", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["name"], ["deployments.name"], name=op.f("fk_deployment_revisions_name_deployments")
        ),
        sa.PrimaryKeyConstraint("name", "revision", name=op.f("pk_deployment_revisions")),
    )
    op.create_table(
        "feedback",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("deployment", sa.String(length=256), nullable=False),
        sa.Column("request_id", sa.String(length=256), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment"], ["deployments.name"], name=op.f("fk_feedback_deployment_deployments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feedback_deployment_request_id"),
            ["deployment", "request_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_feedback_deployment_time"), ["deployment", "time"], unique=False
        )

    op.create_table(
        "prediction_log_parts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("deployment", sa.String(length=256), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("min_time", sa.BigInteger(), nullable=False),
        sa.Column("max_time", sa.BigInteger(), nullable=False),
        sa.Column("model_versions", sa.JSON(), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment"],
            ["deployments.name"],
            name=op.f("fk_prediction_log_parts_deployment_deployments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_log_parts")),
    )
    with op.batch_alter_table("prediction_log_parts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prediction_log_parts_deployment_max_time"),
            ["deployment", "max_time"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_prediction_log_parts_deployment_min_time"),
            ["deployment", "min_time"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("prediction_log_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prediction_log_parts_deployment_min_time"))
        batch_op.drop_index(batch_op.f("ix_prediction_log_parts_deployment_max_time"))

    op.drop_table("prediction_log_parts")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_deployment_time"))
        batch_op.drop_index(batch_op.f("ix_feedback_deployment_request_id"))

    op.drop_table("feedback")
    op.drop_table("deployment_revisions")
    op.drop_table("deployments")
