"""The ``cycleml`` command line: thin commands over the services they call.

Errors are printed as one message (no traceback) and exit non-zero: 1 for a cycleml
error, 2 for a usage error, 130 on Ctrl-C.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from cycleml.cli._common import CliState
from cycleml.cli._data import data_app
from cycleml.cli._models import models_app
from cycleml.cli._monitoring import monitor_app
from cycleml.cli._project import audit, demo, init, lineage
from cycleml.cli._serving import deploy, feedback, predict, serve
from cycleml.cli._tracking import experiments_app, runs_app
from cycleml.errors import CycleMLError

__all__ = ["app", "main"]

app = typer.Typer(
    name="cycleml",
    help="cycleml: the machine-learning lifecycle from one pip install.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option(help="Project folder (default: nearest with cycleml.yaml).")
    ] = None,
    metadata_uri: Annotated[str | None, typer.Option(help="Metadata store URI.")] = None,
    artifact_uri: Annotated[str | None, typer.Option(help="Artifact store URI.")] = None,
) -> None:
    ctx.obj = CliState(home=home, metadata_uri=metadata_uri, artifact_uri=artifact_uri)


app.command("init")(init)
app.command("lineage")(lineage)
app.command("audit")(audit)
app.command("demo")(demo)
app.command("serve")(serve)
app.command("deploy")(deploy)
app.command("predict")(predict)
app.command("feedback")(feedback)
app.add_typer(experiments_app, name="experiments")
app.add_typer(runs_app, name="runs")
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")
app.add_typer(monitor_app, name="monitor")


def _print_error(error: CycleMLError) -> None:
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
        Console(stderr=True).print("Aborted.")
        sys.exit(130)
    except Exception as error:
        # Typer's parser errors (usage, Exit, Abort) follow click's protocol: an exit code,
        # and usage errors know how to show themselves.
        code = getattr(error, "exit_code", None)
        if not isinstance(code, int):
            raise
        if type(error).__name__ == "Abort":
            Console(stderr=True).print("Aborted.")
            sys.exit(130)
        show = getattr(error, "show", None)
        if callable(show):
            show()
        sys.exit(code)
    sys.exit(result if isinstance(result, int) else 0)
