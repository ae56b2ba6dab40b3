"""A team server over real HTTP on loopback, on the parametrized metadata store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cycleml.settings import Settings


@pytest.fixture
def server_url(settings: Settings) -> Iterator[str]:
    """The base URL of ``cycleml server``'s app, served from a thread of this process."""
    from cycleml.server import create_server
    from cycleml.serving import background_server

    with background_server(create_server(settings)) as url:
        yield url
