"""What every CLI command shares: settings from global options, output helpers, parsing."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cycleml.errors import InvalidInput
from cycleml.settings import Settings
from cycleml.time import parse_duration_ms as _parse_duration_ms
from cycleml.time import to_ms

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from cycleml.reports import IncludePlotlyJS

__all__ = [
    "PLAIN_HELP",
    "CliState",
    "PlotlyJsOption",
    "command_group",
    "emit_json",
    "format_ms",
    "make_table",
    "parse_duration_ms",
    "parse_since",
    "plotlyjs_mode",
    "state",
]

#: Every ``typer.Typer`` of the CLI renders its help as plain text (click's formatter):
#: typer's rich help would read ``[for N]`` in a help text as markup and drop it, render
#: ``code`` spans literally, and give every flag a ``<bool>`` type as if it took a value.
PLAIN_HELP: dict[str, Any] = {
    "rich_markup_mode": None,
    "pretty_exceptions_enable": False,
    "add_completion": False,
}


#: ``--plotlyjs``: how an HTML report carries plotly.js (see cycleml.reports).
PlotlyJsOption = Annotated[
    str,
    typer.Option(
        "--plotlyjs",
        help="inline: one self-contained file (about 5 MB); shared: plotly.js written once "
        "next to the report, which stays about 100 KB and opens offline.",
    ),
]


def plotlyjs_mode(value: str) -> IncludePlotlyJS:
    """``--plotlyjs``, checked: ``inline`` or ``shared``."""
    if value == "inline":
        return "inline"
    if value == "shared":
        return "shared"
    raise InvalidInput(
        f"Invalid --plotlyjs {value!r}: expected inline or shared.",
        hint="inline writes one self-contained file; shared writes plotly.js beside it.",
    )


def command_group(help_text: str) -> typer.Typer:
    """A group of subcommands (``cycleml runs ...``) with the CLI's help settings."""
    return typer.Typer(help=help_text, no_args_is_help=True, **PLAIN_HELP)


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


#: A "word" longer than this (a path, a URL, a JSON blob) may be folded; shorter ones never are.
_LONGEST_WORD = 40


def make_table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    optional: int = 0,
    width: int | None = None,
) -> Table:
    """A rich table of stringified rows whose words are never split across lines.

    Each column is at least as wide as its longest word (up to 40 characters; longer
    tokens such as paths may fold) and grows towards its longest line while the table fits
    ``width`` (default: the console's). Columns whose name contains ``id`` (and ``name``)
    are never wrapped: they are copied into other commands. When even the narrowest layout
    is too wide, or would wrap one of the others, the last ``optional`` columns are left
    out, rightmost first, and the caption names them. Cells are plain text (no rich markup).
    """
    from rich.table import Table
    from rich.text import Text

    header = list(columns)
    table_rows = [["" if cell is None else str(cell) for cell in row] for row in rows]
    keep = [("id" in name or name == "name") for name in header]
    narrow = [
        _narrowest(name, [r[i] for r in table_rows], keep[i]) for i, name in enumerate(header)
    ]
    wide = [_widest(name, [r[i] for r in table_rows]) for i, name in enumerate(header)]
    room = (width or console().width) - 1  # the table's left border
    required = len(header) - optional
    shown = len(header)

    def need(count: int) -> int:  # an optional column is shown only if no required one wraps
        widths = [*wide[: min(count, required)], *narrow[required:count]]
        return sum(widths) + 3 * count  # each column also has two spaces of padding, a border

    while shown > required and need(shown) > room:
        shown -= 1
    widths = _spread(narrow[:shown], wide[:shown], room - 3 * shown)
    dropped = header[shown:]
    caption = f"Not shown (too wide): {', '.join(dropped)}; see --json." if dropped else None
    table = Table(title=title, caption=caption, show_lines=False, header_style="bold cyan")
    for name, size, whole in zip(header[:shown], widths, keep, strict=False):
        table.add_column(name, overflow="fold", no_wrap=whole, width=size)
    for row in table_rows:
        table.add_row(*(Text(cell) for cell in row[:shown]))
    return table


def _narrowest(name: str, cells: Sequence[str], whole: bool) -> int:
    """The width below which a word of the column (or a whole cell, if ``whole``) splits."""
    from rich.cells import cell_len

    if whole:
        return _widest(name, cells)
    words = [w for text in (name, *cells) for w in text.split()]
    return min(_LONGEST_WORD, max((cell_len(w) for w in words), default=1))


def _widest(name: str, cells: Sequence[str]) -> int:
    """The width at which no line of the column wraps."""
    from rich.cells import cell_len

    return max(cell_len(line) for text in (name, *cells) for line in text.splitlines() or [""])


def _spread(narrow: list[int], wide: list[int], room: int) -> list[int]:
    """Column widths from each one's narrowest up to its widest, sharing ``room``.

    Spare room goes to the columns that need the least of it first (a date that would
    wrap onto two lines before a paragraph that wraps anyway).
    """
    if sum(wide) <= room:
        return list(wide)
    widths = list(narrow)
    spare = room - sum(narrow)
    for i in sorted(range(len(widths)), key=lambda i: wide[i] - narrow[i]):
        grow = min(spare, wide[i] - narrow[i])
        if grow <= 0:
            continue
        widths[i] += grow
        spare -= grow
    return widths


def format_ms(stamp: int | None) -> str:
    """Milliseconds since the epoch as a readable UTC time."""
    if stamp is None:
        return ""
    return datetime.fromtimestamp(stamp / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_duration_ms(text: str, *, name: str = "duration") -> int:
    """A duration option (``30s``, ``15min``, ``2h``, ``1d12h``, ``1w``) as milliseconds;
    zero is allowed. The grammar is :mod:`cycleml.time`'s."""
    return _parse_duration_ms(text, name=name)


def parse_since(text: str, *, now_ms: int | None = None) -> int:
    """``--since``: a duration back from ``now_ms`` (default: the clock; ``2h``, ``1d12h``)
    or an ISO date/time (UTC if naive), as milliseconds since the epoch."""
    return to_ms(text, name="--since", now=now_ms)
