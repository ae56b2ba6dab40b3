"""The CLI imports a command's module only when that command runs (startup time)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cycleml.cli import COMMANDS, app, load_command

HEAVY = ("sklearn", "scipy", "pandas", "alembic", "fastapi", "plotly", "pyarrow", "pydantic")


FreshImports = Callable[..., tuple[Any, set[str]]]


def _heavy_after(
    fresh_imports: FreshImports, argv: list[str], cwd: Path
) -> tuple[int, list[str], str]:
    done, loaded = fresh_imports(f"from cycleml.cli import main\nmain({argv!r})", cwd)
    return done.returncode, [m for m in HEAVY if m in loaded], done.stdout


def test_help_and_version_load_no_command_module(
    tmp_path: Path, fresh_imports: FreshImports
) -> None:
    code, heavy, out = _heavy_after(fresh_imports, ["--help"], tmp_path)
    assert code == 0
    assert heavy == []
    for name, (_, _, line) in COMMANDS.items():
        assert name in out
        assert line.split()[0] in out
    code, heavy, out = _heavy_after(fresh_imports, ["--version"], tmp_path)
    assert (code, heavy) == (0, [])
    assert out.startswith("cycleml 0.")


def test_listing_runs_loads_no_scientific_stack(
    tmp_path: Path, fresh_imports: FreshImports
) -> None:
    assert CliRunner().invoke(app, ["init", str(tmp_path / "p")]).exit_code == 0
    code, heavy, out = _heavy_after(fresh_imports, ["runs", "list"], tmp_path / "p")
    assert code == 0, out
    assert heavy == ["alembic", "pydantic"]  # the first open creates the schema
    code, heavy, out = _heavy_after(fresh_imports, ["runs", "list"], tmp_path / "p")
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
