"""cycleml._api: shortcuts, deprecated method aliases and renamed keywords."""

from __future__ import annotations

import inspect

import pytest

from cycleml._api import deprecated_method, renamed_parameters, shortcut
from cycleml.errors import InvalidInput


class Things:
    """A service stand-in that records its life."""

    closed = 0

    def get(self, name: str, version: int = 1, *, fresh: bool = False) -> str:
        """Get a thing."""
        return f"{name}/{version}{'!' if fresh else ''}"

    def fail(self) -> None:
        """Raise."""
        raise InvalidInput("no")

    fetch = deprecated_method(get, "fetch", "Things")

    def close(self) -> None:
        """Count closes."""
        type(self).closed += 1


def test_a_shortcut_is_the_method_on_a_fresh_service_closed_after() -> None:
    get = shortcut(Things, Things.get)
    before = Things.closed
    assert get("m", 2, fresh=True) == "m/2!"
    assert Things.closed == before + 1
    assert get.__wrapped__ is Things.get  # type: ignore[attr-defined]
    assert get.__doc__ == "Get a thing."
    assert list(inspect.signature(get).parameters) == ["name", "version", "fresh"]
    with pytest.raises(InvalidInput):
        shortcut(Things, Things.fail)()
    assert Things.closed == before + 2  # closed on error too


def test_a_deprecated_method_warns_from_the_callers_line_and_calls_the_new_one() -> None:
    with pytest.warns(DeprecationWarning, match=r"Things\.fetch is deprecated.*Things\.get") as got:
        assert Things().fetch("m", version=3) == "m/3"
    assert got[0].filename == __file__
    assert Things.fetch.__deprecated__ == "get"  # type: ignore[attr-defined]


@renamed_parameters(output="destination")
def write(data: str, destination: str | None = None) -> str:
    """Write ``data`` to ``destination``."""
    return f"{data}>{destination}"


def test_a_renamed_keyword_warns_and_maps_to_the_new_name() -> None:
    assert write("x", "a") == "x>a"
    assert list(inspect.signature(write).parameters) == ["data", "destination"]
    with pytest.warns(DeprecationWarning, match=r"write\(output=\.\.\.\).*write\(destination="):
        assert write("x", output="b") == "x>b"  # type: ignore[call-arg]
    for call in (
        lambda: write("x", "a", output="b"),
        lambda: write("x", destination="a", output="b"),
    ):  # type: ignore[call-arg]
        with (
            pytest.warns(DeprecationWarning, match="output"),
            pytest.raises(InvalidInput, match="both"),
        ):
            call()
