"""The ``cycleml`` command line: thin commands over the services they call.

Errors are printed as one message (no traceback) and exit non-zero: 1 for a cycleml
error, 2 for a usage error, 130 on Ctrl-C.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from cycleml.cli._common import PLAIN_HELP, CliState
from cycleml.errors import CycleMLError

__all__ = ["COMMANDS", "app", "main"]

#: Every command: name -> (module, attribute, the one line ``cycleml --help`` shows).
#: A command's module is imported only when that command runs (or shows its own help),
#: so ``cycleml --help`` and each command pay only for what they use. The attribute is a
#: ``typer.Typer`` (a command group) or a function (one command); a test keeps the
#: lines here equal to the commands' own docstrings.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("cycleml.cli._project", "init",
             "Write a commented cycleml.yaml and the .cycleml/ state folder."),
    "lineage": ("cycleml.cli._project", "lineage",
                "Walk the lineage graph from an entity: where it came from and what came of it."),
    "audit": ("cycleml.cli._project", "audit",
              "Show the append-only audit log, oldest first: who did what, when, to which "
              "entity."),
    "demo": ("cycleml.cli._project", "demo",
             "Run the lifecycle demo on a real, bundled dataset (breast cancer, scikit-learn)."),
    "server": ("cycleml.cli._server", "server",
               "Run the team server: cycleml's REST API and MLflow's, on one shared store."),
    "users": ("cycleml.cli._users", "users_app",
              "Manage the team server's users, API tokens and permissions."),
    "serve": ("cycleml.cli._serving", "serve",
              "Serve a model (or a deployment) over HTTP until Ctrl-C or SIGTERM."),
    "deploy": ("cycleml.cli._serving", "deploy",
               "Create or update a deployment, or: promote | rollback | list | show | history "
               "NAME."),
    "predict": ("cycleml.cli._serving", "predict",
                "Score a file or dataset version in chunks into a Parquet file of predictions."),
    "feedback": ("cycleml.cli._serving", "feedback",
                 "Record ground-truth labels for logged predictions, in bulk."),
    "experiments": ("cycleml.cli._tracking", "experiments_app", "List and manage experiments."),
    "runs": ("cycleml.cli._tracking", "runs_app", "List, inspect, compare and delete runs."),
    "models": ("cycleml.cli._models", "models_app",
               "Register, alias and move models between stages."),
    "data": ("cycleml.cli._data", "data_app", "Ingest, inspect, validate and profile datasets."),
    "monitor": ("cycleml.cli._monitoring", "monitor_app",
                "Monitor production: drift, data quality, performance, fairness, alerts."),
}  # fmt: skip


def load_command(name: str) -> typer.core.TyperCommand | TyperGroup:
    """The click command behind ``cycleml <name>``, importing its module."""
    module, attribute, _ = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    command: typer.core.TyperCommand | TyperGroup
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(**PLAIN_HELP)
        single.command(name)(target)
        found = typer.main.get_command(single)
        assert isinstance(found, typer.core.TyperCommand)
        command = found
    command.name = name
    return command


class _LazyGroup(TyperGroup):
    """The root group: lists every command, imports one only when it is resolved.

    ``cycleml --help`` gets a placeholder per command that carries only its help line;
    ``resolve_command`` (running a command, or ``cycleml CMD --help``) loads the real one.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in COMMANDS if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in COMMANDS:
            line = COMMANDS[cmd_name][2]
            return typer.core.TyperCommand(cmd_name, help=line, short_help=line)
        return found

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name in COMMANDS and name not in self.commands:
            self.add_command(load_command(name), name)
        elif name and not name.startswith("-") and name not in self.commands:
            # typer would suggest only among the commands loaded so far
            matches = difflib.get_close_matches(name, list(COMMANDS))
            hint = f" Did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="cycleml",
    cls=_LazyGroup,
    help="cycleml: the machine-learning lifecycle from one pip install.",
    no_args_is_help=True,
    **PLAIN_HELP,
)


def _show_version(value: bool) -> None:
    if value:
        from cycleml import __version__

        typer.echo(f"cycleml {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option(help="Project folder (default: nearest with cycleml.yaml).")
    ] = None,
    metadata_uri: Annotated[str | None, typer.Option(help="Metadata store URI.")] = None,
    artifact_uri: Annotated[str | None, typer.Option(help="Artifact store URI.")] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print cycleml's version and exit.",
            callback=_show_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    del version  # handled by its eager callback
    ctx.obj = CliState(home=home, metadata_uri=metadata_uri, artifact_uri=artifact_uri)


def _print_error(error: CycleMLError) -> None:
    from rich.console import Console
    from rich.markup import escape

    err = Console(stderr=True, highlight=False)
    err.print(f"[bold red]Error:[/] {escape(error.message)}", soft_wrap=True)
    if error.hint:
        err.print(f"[yellow]Hint:[/] {escape(error.hint)}", soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``cycleml`` command; exits with the command's status."""
    try:
        result = app(args=list(argv) if argv is not None else None, standalone_mode=False)
    except CycleMLError as error:
        _print_error(error)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("Aborted.", err=True)
        sys.exit(130)
    except Exception as error:
        # Typer's parser errors (usage, Exit, Abort) follow click's protocol: an exit code,
        # and usage errors know how to show themselves.
        code = getattr(error, "exit_code", None)
        if not isinstance(code, int):
            raise
        if type(error).__name__ == "Abort":
            typer.echo("Aborted.", err=True)
            sys.exit(130)
        show = getattr(error, "show", None)
        if callable(show):
            show()
        sys.exit(code)
    sys.exit(result if isinstance(result, int) else 0)
