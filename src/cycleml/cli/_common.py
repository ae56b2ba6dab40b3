"""What every CLI command shares: settings from global options, output helpers, parsing."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cycleml.errors import InvalidInput
from cycleml.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = [
    "CliState",
    "emit_json",
    "format_ms",
    "make_table",
    "parse_duration_ms",
    "parse_since",
    "state",
]

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@dataclass
class CliState:
    """Global options, resolved into settings on first use."""

    home: Path | None = None
    metadata_uri: str | None = None
    artifact_uri: str | None = None
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """Defaults < environment < cycleml.yaml < flags."""
        if self._settings is None:
            from cycleml.spec import project_settings

            self._settings = project_settings(
                home=self.home, metadata_uri=self.metadata_uri, artifact_uri=self.artifact_uri
            )
        return self._settings


def state(ctx: typer.Context) -> CliState:
    """The :class:`CliState` the root callback stored on the context."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def console() -> Console:
    """A console on stdout (recreated per call so tests capturing stdout see output)."""
    from rich.console import Console

    return Console(file=sys.stdout, width=max(140, Console().width))


def emit_json(data: Any) -> None:
    """Print machine-readable output (``--json``)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")


def make_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table with the given columns and stringified rows."""
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold cyan")
    for column in columns:
        # Ids are copied into other commands, so they are never wrapped.
        table.add_column(column, overflow="fold", no_wrap="id" in column or column == "name")
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    return table


def format_ms(stamp: int | None) -> str:
    """Milliseconds since the epoch as a readable UTC time."""
    if stamp is None:
        return ""
    return datetime.fromtimestamp(stamp / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_duration_ms(text: str) -> int:
    """``30s``, ``10m``, ``2h``, ``1d``, ``1w`` as milliseconds."""
    match = _DURATION_RE.match(text or "")
    if match is None:
        raise InvalidInput(
            f"Invalid duration {text!r}.",
            hint="Use a number and a unit: 30s, 10m, 2h, 1d or 1w.",
        )
    return int(float(match[1]) * _UNIT_MS[match[2]])


def parse_since(text: str, *, now_ms: int) -> int:
    """``--since``: a duration back from now (``2h``) or an ISO date/time (UTC if naive)."""
    if _DURATION_RE.match(text):
        return now_ms - parse_duration_ms(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(
            f"Invalid --since value {text!r}.",
            hint="Use a duration such as 2h or 7d, or a date such as 2026-11-01T12:00.",
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
