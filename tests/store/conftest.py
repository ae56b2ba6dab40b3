"""Fixtures of the kernel's own tests (see tests/conftest.py for the shared ones)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_metadata_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URI of a database that has never been opened (no schema, no alembic_version).

    PostgreSQL gets a database of its own, dropped afterwards, so tests may damage it.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'metadata.db'}"
        return
    scratch = request.getfixturevalue("scratch_postgres")  # skips/fails like the others
    with scratch("cycleml_fresh") as uri:
        yield uri
