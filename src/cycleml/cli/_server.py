"""``cycleml server``: the team server (cycleml's and MLflow's REST APIs on one store)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cycleml.cli._common import console, state
from cycleml.errors import InvalidInput

__all__ = ["server"]


def server(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 5000,
    workers: Annotated[
        int, typer.Option(help="Worker processes (more than one wants PostgreSQL).")
    ] = 1,
    metadata_uri: Annotated[
        str | None, typer.Option(help="The shared metadata database (sqlite:/// or postgresql://).")
    ] = None,
    artifact_uri: Annotated[
        str | None, typer.Option(help="The shared artifact root: a folder or an fsspec URI.")
    ] = None,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="Require users' credentials (default: on unless the host is loopback).",
        ),
    ] = None,
    default_permission: Annotated[
        str,
        typer.Option(
            help="A user's level where they hold no grant: NO_PERMISSIONS, READ, EDIT, MANAGE."
        ),
    ] = "READ",
) -> None:
    """Run the team server: cycleml's REST API and MLflow's, on one shared store."""
    from cycleml.server import AuthConfig, UserStore, create_server
    from cycleml.server._users import parse_permission
    from cycleml.serving import run_server

    settings = state(ctx).settings
    metadata = metadata_uri or settings.metadata_uri
    artifacts = artifact_uri or settings.artifact_uri
    checked = auth if auth is not None else not _is_loopback(host)
    config = AuthConfig(enabled=checked, default_permission=parse_permission(default_permission))
    app = create_server(settings, metadata_uri=metadata, artifact_uri=artifacts, auth=config)
    if checked and not UserStore(app.state.server.db).has_users():
        app.state.server.close()
        raise InvalidInput(
            f"Auth is on (the server binds {host}, not loopback), but the store has no users: "
            "nobody could sign in.",
            hint="Create an admin first: `cycleml users create admin --admin --password ...`, "
            "or run with --no-auth on a trusted network.",
        )
    app.state.server.close()

    def factory() -> Any:
        return create_server(settings, metadata_uri=metadata, artifact_uri=artifacts, auth=config)

    def ready(bound_host: str, bound_port: int) -> None:
        shown = _redacted(metadata)
        out = console()
        out.print(
            f"cycleml server on http://{bound_host}:{bound_port} ({workers} worker"
            f"{'s' if workers != 1 else ''}); API docs at /docs, metrics at /metrics.",
            highlight=False,
        )
        out.print(f"  store      {shown}", highlight=False, soft_wrap=True)
        out.print(f"  artifacts  {artifacts}", highlight=False, soft_wrap=True)
        out.print(
            f"  auth       {'on' if checked else 'off'}"
            + (f" (default permission {config.default_permission.name})" if checked else ""),
            highlight=False,
        )
        if workers > 1 and metadata.startswith("sqlite"):
            out.print(
                "[yellow]Note:[/] several workers share one SQLite file by taking turns to "
                "write; a team server with more than one worker belongs on PostgreSQL.",
                highlight=False,
            )

    run_server(factory, host=host, port=port, workers=workers, ready=ready)


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from this machine."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _redacted(uri: str) -> str:
    """The metadata URI with any password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(uri).render_as_string(hide_password=True)
