"""The team server's users, API tokens and permissions (:class:`UserStore`).

* **Users** have a name, an optional password (scrypt, per-user salt) and an admin flag;
  admins may do everything, and manage users.
* **Tokens** are ``cml_<id>_<secret>``: the id is shown in listings and names the token to
  revoke; only the SHA-256 of the whole token is stored, so a token is shown once, when made.
* **Permissions** are one level per user and resource: ``READ`` < ``EDIT`` < ``MANAGE``
  (MLflow's names; ``NO_PERMISSIONS`` refuses even reading). A user without a grant gets the
  server's default level. Creating a resource grants its creator ``MANAGE``.

Every change is an audit row (entity kind ``user``), written in the change's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cycleml.errors import AlreadyExists, InvalidInput, NotFound
from cycleml.server._auth_tables import api_tokens, permissions, users
from cycleml.store import SqlRepository, now_ms, record_audit

__all__ = [
    "RESOURCE_KINDS",
    "ApiToken",
    "Grant",
    "Permission",
    "User",
    "UserStore",
    "parse_permission",
]

#: What permissions name: experiments (by id) and the other resources (by name).
RESOURCE_KINDS = ("experiment", "registered_model", "dataset", "deployment", "monitor")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
_TOKEN = re.compile(r"cml_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class Permission(IntEnum):
    """A user's level on a resource; each level allows what the ones below it allow."""

    NO_PERMISSIONS = 0
    READ = 1
    EDIT = 2
    MANAGE = 3


def parse_permission(value: str | Permission) -> Permission:
    """A :class:`Permission` from its name, in any case (raise :class:`InvalidInput`)."""
    if isinstance(value, Permission):
        return value
    try:
        return Permission[str(value).strip().upper()]
    except KeyError:
        names = ", ".join(p.name for p in Permission)
        raise InvalidInput(
            f"Invalid permission {value!r}: expected one of {names}.",
            hint="READ lets a user see, EDIT change, MANAGE also delete, promote and grant.",
        ) from None


@dataclass(frozen=True)
class User:
    """A user of the team server."""

    username: str
    is_admin: bool
    has_password: bool
    created_at: int

    def to_dict(self) -> dict[str, Any]:
        """The user as JSON (``cycleml users list --json``); never a secret."""
        return {
            "username": self.username,
            "is_admin": self.is_admin,
            "has_password": self.has_password,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class ApiToken:
    """A token's record (its secret is only in the value :meth:`UserStore.create_token` returns)."""

    token_id: str
    username: str
    label: str
    created_at: int
    expires_at: int | None
    revoked_at: int | None

    def to_dict(self) -> dict[str, Any]:
        """The token as JSON, without its secret."""
        return {
            "token_id": self.token_id,
            "username": self.username,
            "label": self.label,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True)
class Grant:
    """One user's level on one resource."""

    username: str
    resource_kind: str
    resource_id: str
    level: Permission

    def to_dict(self) -> dict[str, Any]:
        """The grant as JSON."""
        return {
            "username": self.username,
            "resource_kind": self.resource_kind,
            "resource_id": self.resource_id,
            "level": self.level.name,
        }


def _check_username(name: str) -> str:
    if not isinstance(name, str) or not _USERNAME.fullmatch(name):
        raise InvalidInput(
            f"Invalid username {name!r}: 1-128 letters, digits, '.', '_', '@' or '-', "
            "starting with a letter or digit.",
            hint="Use a login name such as 'ann' or 'ann.lee@example.org'.",
        )
    return name


def _check_kind(kind: str) -> str:
    if kind not in RESOURCE_KINDS:
        raise InvalidInput(
            f"Invalid resource kind {kind!r}: expected one of {', '.join(RESOURCE_KINDS)}."
        )
    return kind


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$<salt hex>$<hash hex>`` for a password (a fresh salt unless given)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def _password_matches(password: str, stored: str) -> bool:
    try:
        scheme, salt, _ = stored.split("$")
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(
        hash_password(password, bytes.fromhex(salt)), stored
    )


def _secret_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore(SqlRepository):
    """Users, tokens and permissions in the metadata store (the ``server`` branch's tables)."""

    # ---- users -----------------------------------------------------------------------------
    def _audit(self, conn: Connection, action: str, username: str, payload: Any = None) -> None:
        record_audit(
            conn,
            actor=self.actor,
            action=f"user.{action}",
            entity_kind="user",
            entity_id=username,
            payload=payload or {},
        )

    def create_user(
        self, username: str, *, password: str | None = None, admin: bool = False
    ) -> User:
        """Add a user; without a password the user signs in with tokens only."""
        name = _check_username(username)
        if password is not None and len(password) < 8:
            raise InvalidInput(
                "A password needs at least 8 characters.",
                hint="Pick a longer one, or leave it out and give the user a token.",
            )
        stored = hash_password(password) if password is not None else None

        def write(conn: Connection) -> None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(users).values(
                            username=name,
                            password_hash=stored,
                            is_admin=admin,
                            created_at=now_ms(),
                        )
                    )
            except IntegrityError:
                raise AlreadyExists(f"A user named {name!r} exists already.") from None
            self._audit(conn, "create", name, {"admin": admin, "password": stored is not None})

        self._write(write)
        return self.get_user(name)

    def get_user(self, username: str) -> User:
        """One user (raise :class:`NotFound`)."""
        with self._read() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None:
            raise NotFound(
                f"No user named {username!r}.", hint="List users with `cycleml users list`."
            )
        return User(row.username, bool(row.is_admin), row.password_hash is not None, row.created_at)

    def list_users(self) -> list[User]:
        """Every user, by name."""
        with self._read() as conn:
            rows = conn.execute(select(users).order_by(users.c.username)).all()
        return [
            User(r.username, bool(r.is_admin), r.password_hash is not None, r.created_at)
            for r in rows
        ]

    def has_users(self) -> bool:
        """Whether any user exists (a server with auth on needs one to be usable)."""
        with self._read() as conn:
            return conn.execute(select(users.c.username).limit(1)).first() is not None

    def set_password(self, username: str, password: str) -> None:
        """Give a user a new password."""
        if len(password) < 8:
            raise InvalidInput("A password needs at least 8 characters.")
        stored = hash_password(password)

        def write(conn: Connection) -> None:
            found = conn.execute(
                update(users).where(users.c.username == username).values(password_hash=stored)
            ).rowcount
            if not found:
                raise NotFound(f"No user named {username!r}.")
            self._audit(conn, "set_password", username)

        self._write(write)

    def check_password(self, username: str, password: str) -> User | None:
        """The user, if ``password`` is theirs (a slow hash: callers cache the answer)."""
        with self._read() as conn:
            row = conn.execute(select(users).where(users.c.username == username)).first()
        if row is None or row.password_hash is None:
            hash_password(password)  # as slow as a real check: no timing hint of who exists
            return None
        if not _password_matches(password, row.password_hash):
            return None
        return User(row.username, bool(row.is_admin), True, row.created_at)

    # ---- tokens ----------------------------------------------------------------------------
    def create_token(
        self, username: str, *, label: str = "", expires_at: int | None = None
    ) -> tuple[str, ApiToken]:
        """A new token for a user: ``(the token, its record)``; the token is not kept."""
        token_id = secrets.token_hex(6)
        token = f"cml_{token_id}_{secrets.token_urlsafe(32)}"
        stamp = now_ms()

        def write(conn: Connection) -> None:
            if (
                conn.execute(select(users.c.username).where(users.c.username == username)).first()
                is None
            ):
                raise NotFound(
                    f"No user named {username!r}.", hint="Create it first: `cycleml users create`."
                )
            conn.execute(
                insert(api_tokens).values(
                    token_id=token_id,
                    username=username,
                    secret_hash=_secret_hash(token),
                    label=label,
                    created_at=stamp,
                    expires_at=expires_at,
                    revoked_at=None,
                )
            )
            self._audit(conn, "create_token", username, {"token_id": token_id, "label": label})

        self._write(write)
        return token, ApiToken(token_id, username, label, stamp, expires_at, None)

    def list_tokens(self, username: str | None = None) -> list[ApiToken]:
        """Tokens (of one user if given), newest first, without their secrets."""
        query = select(api_tokens).order_by(api_tokens.c.created_at.desc())
        if username is not None:
            query = query.where(api_tokens.c.username == username)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            ApiToken(r.token_id, r.username, r.label, r.created_at, r.expires_at, r.revoked_at)
            for r in rows
        ]

    def revoke_token(self, token_id: str) -> None:
        """Stop a token from working (its record stays)."""

        def write(conn: Connection) -> None:
            row = conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).first()
            if row is None:
                raise NotFound(
                    f"No token with id {token_id!r}.", hint="See `cycleml users tokens`."
                )
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.token_id == token_id)
                .values(revoked_at=now_ms())
            )
            self._audit(conn, "revoke_token", row.username, {"token_id": token_id})

        self._write(write)

    def check_token(self, token: str) -> User | None:
        """The token's user, if the token is valid (known, not revoked, not expired)."""
        if not _TOKEN.fullmatch(token):
            return None
        with self._read() as conn:
            row = conn.execute(
                select(
                    api_tokens,
                    users.c.is_admin,
                    users.c.password_hash,
                    users.c.created_at.label("user_created"),
                )
                .join(users, users.c.username == api_tokens.c.username)
                .where(api_tokens.c.secret_hash == _secret_hash(token))
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= now_ms():
            return None
        return User(
            row.username, bool(row.is_admin), row.password_hash is not None, row.user_created
        )

    # ---- permissions -----------------------------------------------------------------------
    def grant(self, username: str, kind: str, resource_id: str, level: str | Permission) -> Grant:
        """Set a user's level on a resource (replacing an earlier grant)."""
        kind, chosen = _check_kind(kind), parse_permission(level)

        def write(conn: Connection) -> None:
            if (
                conn.execute(select(users.c.username).where(users.c.username == username)).first()
                is None
            ):
                raise NotFound(f"No user named {username!r}.")
            conn.execute(
                delete(permissions).where(
                    permissions.c.username == username,
                    permissions.c.resource_kind == kind,
                    permissions.c.resource_id == resource_id,
                )
            )
            conn.execute(
                insert(permissions).values(
                    username=username,
                    resource_kind=kind,
                    resource_id=resource_id,
                    level=chosen.name,
                    granted_at=now_ms(),
                )
            )
            payload = {"kind": kind, "id": resource_id, "level": chosen.name}
            self._audit(conn, "grant", username, payload)

        self._write(write)
        return Grant(username, kind, resource_id, chosen)

    def revoke(self, username: str, kind: str, resource_id: str) -> None:
        """Remove a user's grant on a resource (the default level applies again)."""
        kind = _check_kind(kind)

        def write(conn: Connection) -> None:
            gone = conn.execute(
                delete(permissions).where(
                    permissions.c.username == username,
                    permissions.c.resource_kind == kind,
                    permissions.c.resource_id == resource_id,
                )
            ).rowcount
            if not gone:
                raise NotFound(f"User {username!r} has no grant on {kind} {resource_id!r}.")
            self._audit(conn, "revoke", username, {"kind": kind, "id": resource_id})

        self._write(write)

    def grants(self, username: str | None = None) -> list[Grant]:
        """Grants (of one user if given), by user, kind and resource."""
        query = select(permissions).order_by(
            permissions.c.username, permissions.c.resource_kind, permissions.c.resource_id
        )
        if username is not None:
            query = query.where(permissions.c.username == username)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            Grant(r.username, r.resource_kind, r.resource_id, Permission[r.level]) for r in rows
        ]

    def level(self, username: str, kind: str, resource_id: str) -> Permission | None:
        """The user's granted level on a resource, or ``None`` without a grant."""
        with self._read() as conn:
            found = conn.execute(
                select(permissions.c.level).where(
                    permissions.c.username == username,
                    permissions.c.resource_kind == kind,
                    permissions.c.resource_id == resource_id,
                )
            ).scalar()
        return Permission[found] if found is not None else None

    def levels(self, username: str, kind: str) -> dict[str, Permission]:
        """Every granted level of a user on resources of one kind, by resource id."""
        with self._read() as conn:
            rows = conn.execute(
                select(permissions.c.resource_id, permissions.c.level).where(
                    permissions.c.username == username, permissions.c.resource_kind == kind
                )
            ).all()
        return {resource: Permission[level] for resource, level in rows}
