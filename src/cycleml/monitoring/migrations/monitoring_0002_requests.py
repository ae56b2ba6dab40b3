"""Monitoring: the request ids of applied monitoring writes (a retried request is applied once).

Revision ID: monitoring_0002
Revises: monitoring_0001
Branch: monitoring (the monitoring tables)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "monitoring_0002"
down_revision = "monitoring_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_requests",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=256), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("applied_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_monitor_requests")),
    )
    with op.batch_alter_table("monitor_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitor_requests_applied_at"), ["applied_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("monitor_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitor_requests_applied_at"))
    op.drop_table("monitor_requests")
