"""The CLI imports a command's module only when that command runs (startup time)."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cycleml.cli import COMMANDS, app, load_command

HEAVY = ("sklearn", "scipy", "pandas", "alembic", "fastapi", "plotly", "pyarrow", "pydantic")


def _heavy_after(argv: list[str], cwd: Path) -> tuple[int, list[str], str]:
    script = (
        "import sys\n"
        "from cycleml.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "print('\\nLOADED', sorted({m.split('.')[0] for m in sys.modules}))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    loaded = done.stdout.rsplit("LOADED", 1)[-1]
    return done.returncode, [m for m in HEAVY if f"'{m}'" in loaded], done.stdout


def test_help_and_version_load_no_command_module(tmp_path: Path) -> None:
    code, heavy, out = _heavy_after(["--help"], tmp_path)
    assert code == 0
    assert heavy == []
    for name, (_, _, line) in COMMANDS.items():
        assert name in out
        assert line.split()[0] in out
    code, heavy, out = _heavy_after(["--version"], tmp_path)
    assert (code, heavy) == (0, [])
    assert out.startswith("cycleml 0.")


def test_listing_runs_loads_no_scientific_stack(tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["init", str(tmp_path / "p")]).exit_code == 0
    code, heavy, out = _heavy_after(["runs", "list"], tmp_path / "p")
    assert code == 0, out
    assert heavy == ["alembic", "pydantic"]  # the first open creates the schema
    code, heavy, out = _heavy_after(["runs", "list"], tmp_path / "p")
    assert code == 0, out
    assert heavy == ["pydantic"]  # the spec is read; no migration is pending


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_listed_line_is_the_commands_own_help(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    own = inspect.cleandoc(command.help or "").split("\n\n")[0].replace("\n", " ")
    assert own == COMMANDS[name][2]


def test_unknown_command_is_a_usage_error_with_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["rnus", "list"])
    assert result.exit_code == 2
    assert "runs" in result.output
