"""Registry: soft deletion of registered models and versions (``deleted_time``).

A deleted model or version keeps its rows, so its lineage edges and audit rows keep naming
something, and its version numbers are never handed out again.

Revision ID: registry_0003
Revises: registry_0002
Branch: registry (the registry tables)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "registry_0003"
down_revision = "registry_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("registered_models", "model_versions"):
        op.add_column(table, sa.Column("deleted_time", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35+): batch mode would copy and drop
    # registered_models, which the children's foreign keys refuse.
    for table in ("model_versions", "registered_models"):
        op.drop_column(table, "deleted_time")
