"""Monitoring: reference profiles, monitors, their evaluations (a time series) and alerts.

Revision ID: monitoring_0001
Revises:
Branch: monitoring
Create Date: 2026-11-27 16:18:59.580189
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitoring_0001"
down_revision = None
branch_labels = ("monitoring",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_references",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("model_name", sa.String(length=256), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_references")),
        sa.UniqueConstraint("name", name=op.f("uq_monitor_references_name")),
    )
    with op.batch_alter_table("monitor_references", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitor_references_model_name_model_version"),
            ["model_name", "model_version"],
            unique=False,
        )

    op.create_table(
        "monitors",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("reference_id", sa.String(length=32), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.Column("last_updated_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reference_id"],
            ["monitor_references.id"],
            name=op.f("fk_monitors_reference_id_monitor_references"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_monitors")),
    )
    with op.batch_alter_table("monitors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitors_target_kind_target"), ["target_kind", "target"], unique=False
        )

    op.create_table(
        "alert_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("monitor_name", sa.String(length=256), nullable=False),
        sa.Column("rule_name", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("time", sa.BigInteger(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("deliveries", sa.JSON(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_name"], ["monitors.name"], name=op.f("fk_alert_events_monitor_name_monitors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_events_monitor_name_time"), ["monitor_name", "time"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_alert_events_pending"), ["pending"], unique=False)

    op.create_table(
        "alert_states",
        sa.Column("monitor_name", sa.String(length=256), nullable=False),
        sa.Column("rule_name", sa.String(length=256), nullable=False),
        sa.Column("consecutive", sa.BigInteger(), nullable=False),
        sa.Column("firing", sa.Boolean(), nullable=False),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("last_fired_at", sa.BigInteger(), nullable=True),
        sa.Column("window_end", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_name"], ["monitors.name"], name=op.f("fk_alert_states_monitor_name_monitors")
        ),
        sa.PrimaryKeyConstraint("monitor_name", "rule_name", name=op.f("pk_alert_states")),
    )
    op.create_table(
        "monitor_evaluations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("monitor_name", sa.String(length=256), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("creation_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["monitor_name"],
            ["monitors.name"],
            name=op.f("fk_monitor_evaluations_monitor_name_monitors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_evaluations")),
    )
    with op.batch_alter_table("monitor_evaluations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitor_evaluations_monitor_name_window_end"),
            ["monitor_name", "window_end"],
            unique=False,
        )

    op.create_table(
        "monitor_values",
        sa.Column("evaluation_id", sa.String(length=32), nullable=False),
        sa.Column("monitor_name", sa.String(length=256), nullable=False),
        sa.Column("metric", sa.String(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["monitor_evaluations.id"],
            name=op.f("fk_monitor_values_evaluation_id_monitor_evaluations"),
        ),
        sa.PrimaryKeyConstraint("evaluation_id", "metric", name=op.f("pk_monitor_values")),
    )
    with op.batch_alter_table("monitor_values", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitor_values_monitor_name_metric_window_end"),
            ["monitor_name", "metric", "window_end"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("monitor_values", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_values_monitor_name_metric_window_end"))

    op.drop_table("monitor_values")
    with op.batch_alter_table("monitor_evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_evaluations_monitor_name_window_end"))

    op.drop_table("monitor_evaluations")
    op.drop_table("alert_states")
    with op.batch_alter_table("alert_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_events_pending"))
        batch_op.drop_index(batch_op.f("ix_alert_events_monitor_name_time"))

    op.drop_table("alert_events")
    with op.batch_alter_table("monitors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitors_target_kind_target"))

    op.drop_table("monitors")
    with op.batch_alter_table("monitor_references", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_references_model_name_model_version"))

    op.drop_table("monitor_references")
