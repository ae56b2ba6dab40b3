"""``cycleml users ...``: the team server's users, tokens and permissions.

These commands work on the store the server uses (``--metadata-uri`` or the project's), as
an administrator at the server's machine does: create the first admin before starting a
server with auth on, then hand out tokens and grants.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from cycleml.cli._common import command_group, console, emit_json, format_ms, make_table, state

if TYPE_CHECKING:
    from cycleml.server import UserStore

__all__ = ["users_app"]

users_app = command_group("Manage the team server's users, API tokens and permissions.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
KIND_HELP = "experiment, registered_model, dataset, deployment or monitor."


def _store(ctx: typer.Context) -> UserStore:
    from cycleml.server import UserStore
    from cycleml.store import open_database

    return UserStore(open_database(state(ctx).settings))


def _resource_id(ctx: typer.Context, store: UserStore, kind: str, given: str) -> str:
    """Experiments are granted by id; accept a name and look its id up."""
    if kind != "experiment":
        return given
    from cycleml.ids import is_id
    from cycleml.tracking import SqlRunRepository

    if is_id(given):
        return given
    found = SqlRunRepository(store.db).get_experiment_by_name(given)
    if found is None:
        from cycleml.errors import NotFound

        raise NotFound(
            f"No experiment named {given!r}.", hint="List them with `cycleml experiments list`."
        )
    return found.experiment_id


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    username: str,
    admin: Annotated[bool, typer.Option("--admin", help="May do everything.")] = False,
    password: Annotated[
        str | None, typer.Option(help="A password for Basic auth (8+ characters).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a user; without a password the user signs in with tokens only."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    user = _store(ctx).create_user(username, password=password, admin=admin)
    role = "an admin" if user.is_admin else "a user"
    console().print(f"Created {role} [bold]{user.username}[/].", highlight=False)


@users_app.command("list")
def users_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List users with their role and their grants."""
    store = _store(ctx)
    users, grants = store.list_users(), store.grants()
    if as_json:
        emit_json(
            [
                {**u.to_dict(), "grants": [g.to_dict() for g in grants if g.username == u.username]}
                for u in users
            ]
        )
        return
    rows = [
        (
            u.username,
            "admin" if u.is_admin else "user",
            "yes" if u.has_password else "tokens only",
            ", ".join(
                f"{g.resource_kind}:{g.resource_id}={g.level.name}"
                for g in grants
                if g.username == u.username
            )
            or "-",
            format_ms(u.created_at),
        )
        for u in users
    ]
    table = make_table("Users", ["user", "role", "password", "grants", "created"], rows)
    console().print(table)


@users_app.command("token")
def users_token(
    ctx: typer.Context,
    username: str,
    label: Annotated[str, typer.Option(help="What the token is for, shown in listings.")] = "",
    expires_days: Annotated[
        int | None, typer.Option(help="Days until it stops working (default: never).")
    ] = None,
) -> None:
    """Make an API token for a user and print it (it is shown only this once)."""
    import time

    expires = None
    if expires_days is not None:
        expires = int((time.time() + timedelta(days=expires_days).total_seconds()) * 1000)
    token, record = _store(ctx).create_token(username, label=label, expires_at=expires)
    sys.stdout.write(token + "\n")
    console().print(
        f"Token {record.token_id} for {username}: set CYCLEML_TRACKING_TOKEN (or "
        "MLFLOW_TRACKING_TOKEN) to it. It is not stored and cannot be shown again.",
        highlight=False,
        style="dim",
    )


@users_app.command("tokens")
def users_tokens(
    ctx: typer.Context,
    username: Annotated[str | None, typer.Argument()] = None,
    as_json: JsonFlag = False,
) -> None:
    """List API tokens (without their secrets), newest first."""
    found = _store(ctx).list_tokens(username)
    if as_json:
        emit_json([t.to_dict() for t in found])
        return
    rows = [
        (
            t.token_id,
            t.username,
            t.label or "-",
            format_ms(t.created_at),
            format_ms(t.expires_at) if t.expires_at else "never",
            "revoked" if t.revoked_at else "active",
        )
        for t in found
    ]
    headers = ["id", "user", "label", "created", "expires", "state"]
    console().print(make_table("API tokens", headers, rows))


@users_app.command("revoke-token")
def users_revoke_token(ctx: typer.Context, token_id: str) -> None:
    """Stop an API token from working."""
    _store(ctx).revoke_token(token_id)
    console().print(f"Revoked token {token_id}.", highlight=False)


@users_app.command("grant")
def users_grant(
    ctx: typer.Context,
    username: str,
    kind: Annotated[str, typer.Argument(help=KIND_HELP)],
    resource: Annotated[str, typer.Argument(help="Its id or name (experiments: either).")],
    level: Annotated[str, typer.Argument(help="NO_PERMISSIONS, READ, EDIT or MANAGE.")],
) -> None:
    """Give a user a permission level on one resource (replacing an earlier one)."""
    store = _store(ctx)
    grant = store.grant(username, kind, _resource_id(ctx, store, kind, resource), level)
    console().print(
        f"{grant.username} now has {grant.level.name} on {grant.resource_kind} "
        f"{grant.resource_id}.",
        highlight=False,
    )


@users_app.command("revoke")
def users_revoke(
    ctx: typer.Context,
    username: str,
    kind: Annotated[str, typer.Argument(help=KIND_HELP)],
    resource: Annotated[str, typer.Argument(help="Its id or name (experiments: either).")],
) -> None:
    """Remove a user's grant on a resource (the server's default level applies again)."""
    store = _store(ctx)
    store.revoke(username, kind, _resource_id(ctx, store, kind, resource))
    console().print(f"Revoked {username}'s grant on {kind} {resource}.", highlight=False)
