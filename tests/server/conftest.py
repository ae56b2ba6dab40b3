"""A team server over real HTTP on loopback, on the parametrized metadata store.

``server_url`` is a server of this test's own (its app's lifespan runs); ``api`` is a client
on the ``/api/v1`` routes of the root ``team_server`` (one uvicorn per session). The
database under both is the root ``db`` fixture's.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cycleml.settings import Settings


@pytest.fixture
def server_url(settings: Settings) -> Iterator[str]:
    """The base URL of ``cycleml server``'s app, served from a thread of this process."""
    from cycleml.server import create_server
    from cycleml.serving import background_server

    with background_server(create_server(settings)) as url:
        yield url


@pytest.fixture
def api(team_server: str) -> Iterator[httpx.Client]:
    """An HTTP client on the team server's ``/api/v1`` routes."""
    with httpx.Client(base_url=team_server + "/api/v1") as client:
        yield client
