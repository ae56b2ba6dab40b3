"""Fixtures for the tracking tests: an isolated default tracker per test.

``tracking`` configures the module-level API (``cycleml.start_run`` ...) on the
parametrized ``settings`` (SQLite and PostgreSQL); ``sqlite_tracking`` does the same on
SQLite only, for tests where the backend does not matter. Both reset the default tracker
afterwards, which also ends its runs and turns autologging off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import cycleml
import cycleml.tracking
from cycleml.settings import Settings
from cycleml.tracking import Tracker

Configure = Callable[..., Tracker]


def _configurer(settings: Settings) -> Iterator[Configure]:
    def configure(*, flush_points: int = 1000, flush_seconds: float = 60.0) -> Tracker:
        return cycleml.configure(
            settings=settings, flush_points=flush_points, flush_seconds=flush_seconds
        )

    try:
        yield configure
    finally:
        cycleml.tracking._default.replace(None)


@pytest.fixture
def configure_tracking(settings: Settings) -> Iterator[Configure]:
    """Call it to (re)configure the default tracker on ``settings`` (both backends)."""
    yield from _configurer(settings)


@pytest.fixture
def tracking(configure_tracking: Configure) -> Tracker:
    """The default tracker on ``settings``; time-based flushing effectively off."""
    return configure_tracking()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings on a SQLite store in ``tmp_path`` (for backend-independent tests)."""
    uri = f"sqlite:///{tmp_path / 'metadata.db'}"
    return Settings(
        home=tmp_path,
        metadata_uri=uri,
        artifact_uri=(tmp_path / "artifacts").as_uri(),
        tracking_uri=uri,
        actor="tester",
    )


@pytest.fixture
def sqlite_configure(sqlite_settings: Settings) -> Iterator[Configure]:
    """Like ``configure_tracking`` but on SQLite only."""
    yield from _configurer(sqlite_settings)


@pytest.fixture
def sqlite_tracking(sqlite_configure: Configure) -> Tracker:
    """The default tracker on a SQLite store (backend-independent tests)."""
    return sqlite_configure()
