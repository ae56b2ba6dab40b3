"""Every command of the CLI: plain help, hints that name real commands, empty --json listings.

The tests walk the command tree itself (loading each command's module), so a new command
or option is checked without being listed here, except that a new ``--json`` command must
say what its empty output is.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pandas as pd
import pytest
import typer

from cycleml.cli import COMMANDS, app, main
from cycleml.registry import SqlModelRepository
from cycleml.serving import SqlDeploymentRepository
from cycleml.settings import resolve_settings
from cycleml.store import Database

SRC = Path(__file__).resolve().parents[2] / "src" / "cycleml"
Path_ = tuple[str, ...]


def _is_group(command: click.Command) -> bool:
    """A command with subcommands (typer's groups are not ``click.Group`` subclasses)."""
    return hasattr(command, "list_commands") and hasattr(command, "resolve_command")


def command_tree() -> dict[Path_, click.Command]:
    """Every command and group by its path (``("runs", "list")``); the root is ``()``."""
    root = typer.main.get_command(app)
    found: dict[Path_, click.Command] = {}

    def walk(command: click.Command, path: Path_) -> None:
        found[path] = command
        if _is_group(command):
            ctx = click.Context(command, info_name=path[-1] if path else "cycleml")
            for name in command.list_commands(ctx):  # type: ignore[attr-defined]
                _, sub, _ = command.resolve_command(ctx, [name])  # type: ignore[attr-defined]
                assert sub is not None, name
                walk(sub, (*path, name))

    walk(root, ())
    return found


TREE = command_tree()


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


def _flat(text: str) -> str:
    """Whitespace-normalized, with click's line breaks after hyphens undone."""
    return " ".join(text.split()).replace("- ", "-")


# ---- help --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(TREE), ids=lambda p: " ".join(p) or "cycleml")
def test_help_is_plain_text_with_every_help_string_intact(
    capsys: pytest.CaptureFixture[str], path: Path_
) -> None:
    code, out, err = cli(capsys, *path, "--help")
    assert code == 0, err
    assert "<bool>" not in out  # a flag takes no value, so it shows no type
    assert "``" not in out  # no raw markup
    shown = _flat(out)
    command = TREE[path]
    if command.help:
        assert _flat(command.help.split("\n\n")[0]) in shown
    for param in command.params:
        help_text = getattr(param, "help", None)
        if help_text:  # nothing was read as markup and dropped ("[for N]")
            assert _flat(help_text) in shown, (param.name, help_text)
        if isinstance(param, click.Option) and param.is_flag:
            for opt in param.opts:
                assert not re.search(rf"{re.escape(opt)} <", out), opt


# ---- hints ---------------------------------------------------------------------------------

_BACKTICKED = re.compile(r"`cycleml ([^`]*)`")
_BARE = re.compile(r"(?<![`\w.])cycleml ((?:[a-z][\w:/@.<>-]*|--[\w-]+)(?: (?:[\w:/@.<>'*-]+))*)")


def _hint_texts() -> Iterator[tuple[str, str]]:
    """``(where, text)`` of every ``hint=`` argument and every ``*_HINT`` constant in src.

    An f-string's placeholders read as ``NAME``.
    """
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            hint = isinstance(node, ast.keyword) and node.arg == "hint"
            constant = isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id.endswith("HINT") for t in node.targets
            )
            if hint or constant:
                value = node.value  # type: ignore[attr-defined]
                yield f"{path.relative_to(SRC)}:{value.lineno}", _text(value)


def _text(node: ast.expr) -> str:
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else ""
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) else "NAME"
            for v in node.values
            if isinstance(v, ast.Constant | ast.FormattedValue)
        )
    if isinstance(node, ast.BinOp):
        return _text(node.left) + _text(node.right)
    return " ".join(_text(child) for child in ast.iter_child_nodes(node))  # e.g. a ternary


def _resolve(words: list[str]) -> str | None:
    """Why ``cycleml <words>`` is not a real command line, or ``None`` if it is."""
    path: Path_ = ()
    rest = list(words)
    while rest and _is_group(TREE[path]) and not rest[0].startswith("-"):
        if (*path, rest[0]) not in TREE:
            known = ", ".join(sorted(p[-1] for p in TREE if p[:-1] == path and p))
            return f"{' '.join(path) or 'cycleml'} has no command {rest[0]!r} (it has {known})"
        path = (*path, rest.pop(0))
    if _is_group(TREE[path]) and path:
        return f"`cycleml {' '.join(path)}` is a group; name one of its commands"
    options = {o for p in TREE[path].params for o in getattr(p, "opts", [])}
    options |= {o for p in TREE[path].params for o in getattr(p, "secondary_opts", [])}
    unknown = [w for w in rest if w.startswith("--") and w.split("=")[0] not in options]
    if unknown:
        return f"`cycleml {' '.join(path)}` has no option {unknown[0]}"
    return None


def test_hints_name_commands_and_options_that_exist() -> None:
    problems, checked = [], 0
    commands = {p[0] for p in TREE if p}
    for where, text in _hint_texts():
        spans = [m.split() for m in _BACKTICKED.findall(text)]
        bare = _BACKTICKED.sub("", text)
        # outside backticks, "cycleml <word>" is a command only when <word> is one
        spans += [w for m in _BARE.findall(bare) if (w := m.split()) and w[0] in commands]
        for words in spans:
            checked += 1
            problem = _resolve(words)
            if problem:
                problems.append(f"{where}: {' '.join(words)!r}: {problem}")
    assert checked > 20  # the scan finds the hints
    assert problems == []


def test_the_resolver_catches_what_does_not_exist() -> None:
    assert _resolve(["monitor", "references"]) is None
    assert "no command 'update'" in str(_resolve(["monitor", "update"]))
    assert "no option --canary-percent" in str(_resolve(["deploy", "x", "--canary-percent", "5"]))
    assert "is a group" in str(_resolve(["models"]))
    assert _resolve(["deploy", "NAME", "--model", "URI", "--canary", "URI"]) is None


# ---- --json on empty listings ------------------------------------------------------------

#: Commands whose --json output is a listing, and the arguments that make it empty.
LISTINGS: dict[Path_, list[list[str]]] = {
    ("experiments", "list"): [["--view", "deleted"]],
    ("runs", "list"): [[]],
    ("runs", "mark-stale"): [[]],
    ("models", "list"): [[]],
    ("data", "list"): [[]],
    ("deploy",): [["list"]],
    ("lineage",): [["runs:/" + "0" * 32]],
    ("audit",): [["--action", "nothing.here"]],
    ("monitor", "references"): [[]],
    ("monitor", "list"): [[]],
    ("monitor", "alerts"): [[]],
    ("monitor", "history"): [["watch"]],
    ("monitor", "run"): [["watch"], ["watch", "--final"]],
    ("users", "list"): [[]],
    ("users", "tokens"): [[]],
}
#: Commands whose --json output is one object (or a listing that cannot be empty).
OBJECTS = {
    ("runs", "show"), ("runs", "compare"), ("models", "show"), ("models", "register"),
    ("models", "transition"), ("models", "promote"), ("data", "ingest"), ("data", "show"),
    ("data", "head"), ("data", "validate"), ("data", "profile"), ("data", "diff"),
    ("monitor", "reference"), ("monitor", "create"), ("monitor", "report"), ("predict",),
}  # fmt: skip


def _has_json(command: click.Command) -> bool:
    return any("--json" in getattr(p, "opts", []) for p in command.params)


def test_every_json_command_is_classified() -> None:
    with_json = {path for path, command in TREE.items() if _has_json(command)}
    assert with_json == set(LISTINGS) | OBJECTS


@pytest.fixture
def watched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A project whose only monitor ``watch`` watches a deployment with no traffic yet."""
    settings = resolve_settings(home=tmp_path)
    with Database(settings.metadata_uri, actor="tester") as db:
        models = SqlModelRepository(db)
        models.create_registered_model("churn")
        models.create_model_version("churn", source="s3://bucket/churn/1")
        SqlDeploymentRepository(db, models=models).create_deployment("live", "models:/churn/1")
    reference = tmp_path / "reference.parquet"
    pd.DataFrame({"age": [30.0, 40.0, 50.0] * 20}).to_parquet(reference)
    for args in (["monitor", "reference", str(reference), "--name", "train"],
                 ["monitor", "create", "watch", "--deployment", "live", "--reference", "train",
                  "--window", "1h"]):  # fmt: skip
        with pytest.raises(SystemExit) as done:
            main(["--home", str(tmp_path), *args])
        assert done.value.code in (0, None)
    capsys.readouterr()
    return str(tmp_path)


@pytest.mark.parametrize(
    ("path", "args"),
    [(path, args) for path, variants in LISTINGS.items() for args in variants],
    ids=lambda value: " ".join(value) if isinstance(value, tuple | list) else str(value),
)
def test_empty_listings_print_empty_json(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    watched: str,
    path: Path_,
    args: list[str],
) -> None:
    home = watched if "watch" in args else str(tmp_path / "empty")
    code, out, err = cli(capsys, "--home", home, *path, *args, "--json")
    assert code == 0, err
    document = json.loads(out)  # one JSON document, never nothing
    if isinstance(document, dict):
        lists = [v for v in document.values() if isinstance(v, list)]
        assert lists
        assert all(v == [] for v in lists)
    else:
        assert document == []


# ---- import cost -----------------------------------------------------------------------------

HEAVY = ("sklearn", "scipy", "pandas", "pyarrow", "fastapi", "plotly", "alembic", "duckdb",
         "sqlalchemy", "jinja2")  # fmt: skip


@pytest.mark.parametrize("module", sorted({m for m, _, _ in COMMANDS.values()}))
def test_a_command_module_imports_its_stage_only_when_a_command_runs(
    module: str, fresh_imports: Callable[..., tuple[Any, set[str]]]
) -> None:
    """``cycleml <group> --help`` imports the group's module: it must cost next to nothing."""
    done, loaded = fresh_imports(f"import {module}")
    assert done.returncode == 0, done.stderr
    assert [m for m in HEAVY if m in loaded] == []
