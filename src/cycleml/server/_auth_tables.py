"""The team server's tables (its Alembic branch ``server``): users, API tokens, permissions.

Secrets are never stored: a password is kept as its scrypt hash with a per-user salt, a
token as the SHA-256 of its random secret (tokens are 256-bit random, so a fast hash is
enough; a password needs a slow one). A permission is one user's level on one resource,
named by kind and id (experiments by id, other resources by name).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, String, Table, Text

from cycleml.store import NAME_LEN, table_metadata

__all__ = ["api_tokens", "metadata", "permissions", "users"]

metadata = table_metadata()

users = Table(
    "users",
    metadata,
    Column("username", String(NAME_LEN), primary_key=True),
    Column("password_hash", Text, nullable=True),  # None: the user signs in with tokens only
    Column("is_admin", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_id", String(16), primary_key=True),
    Column("username", String(NAME_LEN), ForeignKey("users.username"), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("label", String(NAME_LEN), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Index(None, "username"),
)

permissions = Table(
    "permissions",
    metadata,
    Column("username", String(NAME_LEN), ForeignKey("users.username"), primary_key=True),
    Column("resource_kind", String(32), primary_key=True),
    Column("resource_id", String(NAME_LEN), primary_key=True),
    Column("level", String(16), nullable=False),
    Column("granted_at", BigInteger, nullable=False),
)
