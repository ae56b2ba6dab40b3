"""Fixtures for the tracking tests: an isolated default tracker per test.

``tracking`` configures the module-level API (``cycleml.start_run`` ...) on the
parametrized ``settings`` (SQLite and PostgreSQL); ``sqlite_tracking`` does the same on
``sqlite_settings`` (SQLite only), for tests where the backend does not matter. Both come
from the root ``default_tracker``, which resets the default tracker afterwards (that also
ends its runs and turns autologging off).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cycleml.settings import Settings
from cycleml.tracking import Tracker

Configure = Callable[..., Tracker]


def _configurer(settings: Settings, default_tracker: Configure) -> Configure:
    def configure(*, flush_points: int = 1000, flush_seconds: float = 60.0) -> Tracker:
        return default_tracker(
            settings=settings, flush_points=flush_points, flush_seconds=flush_seconds
        )

    return configure


@pytest.fixture
def configure_tracking(settings: Settings, default_tracker: Configure) -> Configure:
    """Call it to (re)configure the default tracker on ``settings`` (both backends)."""
    return _configurer(settings, default_tracker)


@pytest.fixture
def tracking(configure_tracking: Configure) -> Tracker:
    """The default tracker on ``settings``; time-based flushing effectively off."""
    return configure_tracking()


@pytest.fixture
def sqlite_configure(sqlite_settings: Settings, default_tracker: Configure) -> Configure:
    """Like ``configure_tracking`` but on SQLite only."""
    return _configurer(sqlite_settings, default_tracker)


@pytest.fixture
def sqlite_tracking(sqlite_configure: Configure) -> Tracker:
    """The default tracker on a SQLite store (backend-independent tests)."""
    return sqlite_configure()
