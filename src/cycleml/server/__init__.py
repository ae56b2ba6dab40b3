"""The team server: cycleml's REST API, MLflow's REST API, one shared store.

``cycleml server --port 5000`` serves every stage of one project to a team; this package is
what it runs::

    from cycleml.server import create_server

    app = create_server(settings)        # a FastAPI app; each stage's router plugs in

Users, tokens and permissions (:class:`UserStore`, :class:`Permission`) decide who may do
what once auth is on (:class:`AuthConfig`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cycleml._lazy import lazy_exports

if TYPE_CHECKING:
    from cycleml.server._app import ServerState, create_server, server_state
    from cycleml.server._auth import AuthConfig
    from cycleml.server._users import ApiToken, Grant, Permission, User, UserStore

__all__ = [
    "ApiToken",
    "AuthConfig",
    "Grant",
    "Permission",
    "ServerState",
    "User",
    "UserStore",
    "create_server",
    "server_state",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ServerState": "cycleml.server._app",
        "create_server": "cycleml.server._app",
        "server_state": "cycleml.server._app",
        "AuthConfig": "cycleml.server._auth",
        "ApiToken": "cycleml.server._users",
        "Grant": "cycleml.server._users",
        "Permission": "cycleml.server._users",
        "User": "cycleml.server._users",
        "UserStore": "cycleml.server._users",
    },
)
