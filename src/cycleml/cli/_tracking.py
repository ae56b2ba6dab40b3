"""``cycleml experiments ...`` and ``cycleml runs ...``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from cycleml.cli._common import (
    command_group,
    console,
    emit_json,
    format_ms,
    make_table,
    parse_duration_ms,
    state,
)
from cycleml.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from cycleml.tracking import TrackingClient
    from cycleml.tracking._entities import Experiment, Run

__all__ = ["experiments_app", "runs_app"]

experiments_app = command_group("List and manage experiments.")
runs_app = command_group("List, inspect, compare and delete runs.")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _client(ctx: typer.Context) -> TrackingClient:
    from cycleml.tracking import TrackingClient

    return TrackingClient(state(ctx).settings)


def _experiment(client: TrackingClient, ref: str) -> Experiment:
    """An experiment by name, or by id."""
    found = client.get_experiment_by_name(ref)
    if found is not None:
        return found
    try:
        return client.get_experiment(ref)
    except NotFound:
        raise NotFound(
            f"No experiment named or with id {ref!r}.",
            hint="List experiments with `cycleml experiments list --view all`.",
        ) from None


def _experiment_dict(exp: Experiment) -> dict[str, object]:
    return {**exp.__dict__}


# ---- experiments ---------------------------------------------------------------------
@experiments_app.command("list")
def experiments_list(
    ctx: typer.Context,
    view: Annotated[str, typer.Option(help="active, deleted or all.")] = "active",
    as_json: JsonFlag = False,
) -> None:
    """List experiments."""
    found = _client(ctx).list_experiments(view=view)
    if as_json:
        emit_json([_experiment_dict(e) for e in found])
        return
    console().print(
        make_table(
            "Experiments",
            ["name", "id", "stage", "created"],
            [
                (e.name, e.experiment_id, e.lifecycle_stage, format_ms(e.creation_time))
                for e in found
            ],
        )
    )


@experiments_app.command("create")
def experiments_create(ctx: typer.Context, name: str) -> None:
    """Create an experiment."""
    experiment_id = _client(ctx).create_experiment(name)
    console().print(f"Created experiment [bold]{name}[/] ({experiment_id}).")


@experiments_app.command("rename")
def experiments_rename(ctx: typer.Context, experiment: str, new_name: str) -> None:
    """Rename an experiment (given by name or id)."""
    client = _client(ctx)
    renamed = client.rename_experiment(_experiment(client, experiment).experiment_id, new_name)
    console().print(f"Renamed experiment {renamed.experiment_id} to [bold]{renamed.name}[/].")


@experiments_app.command("delete")
def experiments_delete(ctx: typer.Context, experiment: str) -> None:
    """Delete an experiment (soft; `restore` brings it back)."""
    client = _client(ctx)
    gone = client.delete_experiment(_experiment(client, experiment).experiment_id)
    console().print(f"Deleted experiment [bold]{gone.name}[/].")


@experiments_app.command("restore")
def experiments_restore(ctx: typer.Context, experiment: str) -> None:
    """Restore a deleted experiment."""
    client = _client(ctx)
    back = client.restore_experiment(_experiment(client, experiment).experiment_id)
    console().print(f"Restored experiment [bold]{back.name}[/].")


# ---- runs ----------------------------------------------------------------------------
def _metric_text(value: float) -> str:
    return f"{value:.4g}"


@runs_app.command("list")
def runs_list(
    ctx: typer.Context,
    experiment: Annotated[
        list[str] | None, typer.Option("--experiment", "-e", help="Experiment name (repeatable).")
    ] = None,
    filter_string: Annotated[
        str, typer.Option("--filter", "-f", help='MLflow filter, e.g. "metrics.auc > 0.8".')
    ] = "",
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", help="e.g. 'metrics.auc DESC' (repeatable).")
    ] = None,
    max_results: Annotated[int, typer.Option(help="How many runs at most.")] = 50,
    view: Annotated[str, typer.Option(help="active, deleted or all.")] = "active",
    ids: Annotated[
        bool, typer.Option("--ids", help="Print only the run ids, one per line (for scripts).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """List runs, newest first, optionally filtered and ordered."""
    if ids and as_json:
        raise InvalidInput("Pass --ids or --json, not both.")
    client = _client(ctx)
    found = client.search_runs(
        experiment_names=experiment or None,
        filter_string=filter_string,
        order_by=order_by,
        max_results=max_results,
        view=view,
    )
    if ids:
        sys.stdout.write("".join(f"{run.info.run_id}\n" for run in found))
        return
    if as_json:
        emit_json([run.to_dict() for run in found])
        return
    metric_keys = _metric_columns(found, order_by, filter_string)
    names = {e.experiment_id: e.name for e in client.list_experiments(view="all")}
    rows = [
        (
            run.info.run_id,
            run.info.run_name,
            names.get(run.info.experiment_id, run.info.experiment_id),
            run.info.status,
            format_ms(run.info.start_time),
            *(
                _metric_text(run.data.metrics[k]) if k in run.data.metrics else ""
                for k in metric_keys
            ),
        )
        for run in found
    ]
    headers = ["run id", "name", "experiment", "status", "started", *metric_keys]
    console().print(make_table(f"Runs ({len(found)})", headers, rows, optional=len(metric_keys)))


def _metric_columns(found: list[Run], order_by: list[str] | None, filter_string: str) -> list[str]:
    """The metrics ``--order-by`` sorts by, then those ``--filter`` names, then the rest by name.

    ``make_table`` leaves out the last ones when the table is too wide.
    """
    from cycleml.tracking._search import parse_filter, parse_order_by

    named = [c.key for c in parse_order_by(order_by) if c.entity == "metric"]
    named += [c.key for c in parse_filter(filter_string) if c.entity == "metric"]
    present = {k for run in found for k in run.data.metrics}
    first = list(dict.fromkeys(k for k in named if k in present))
    return first + sorted(present - set(first))


@runs_app.command("show")
def runs_show(ctx: typer.Context, run_id: str, as_json: JsonFlag = False) -> None:
    """Show one run: attributes, params, metrics, tags and artifacts."""
    client = _client(ctx)
    run = client.get_run(run_id)
    files = client.list_artifacts(run_id)
    if as_json:
        emit_json({**run.to_dict(), "artifacts": [f.__dict__ for f in files]})
        return
    out = console()
    info = run.info
    from rich.tree import Tree

    tree = Tree(f"[bold]{info.run_name}[/] ({info.run_id})")
    attrs = tree.add("attributes")
    for key in ("status", "experiment_id", "user_id", "parent_run_id", "artifact_uri"):
        attrs.add(f"{key}: {getattr(info, key)}")
    attrs.add(f"started: {format_ms(info.start_time)}  ended: {format_ms(info.end_time)}")
    if info.error:
        attrs.add(f"[red]error:[/] {info.error.strip().splitlines()[-1]}")
    for title, data in (("params", run.data.params), ("metrics", run.data.metrics)):
        branch = tree.add(f"{title} ({len(data)})")
        for key, value in sorted(data.items()):
            branch.add(f"{key} = {value}")
    tags = tree.add(f"tags ({len(run.data.tags)})")
    for key, value in sorted(run.data.tags.items()):
        tags.add(f"{key} = {value if len(value) < 120 else value[:117] + '...'}")
    artifacts = tree.add(f"artifacts ({len(files)})")
    for entry in files:
        artifacts.add(f"{entry.path}  [dim]{entry.size} B  blake3:{entry.digest[:12]}[/]")
    out.print(tree)


@runs_app.command("compare")
def runs_compare(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    as_json: JsonFlag = False,
) -> None:
    """Compare runs side by side: params and latest metrics; differing rows are marked."""
    client = _client(ctx)
    if len(run_ids) < 2:
        from cycleml.errors import InvalidInput

        raise InvalidInput(
            f"runs compare needs at least two run ids, got {len(run_ids)}.",
            hint="Pass the ids from `cycleml runs list`.",
        )
    found = [client.get_run(run_id) for run_id in run_ids]
    rows: list[tuple[str, list[str]]] = []
    for kind in ("params", "metrics"):
        keys = sorted({k for run in found for k in getattr(run.data, kind)})
        for key in keys:
            values = [getattr(run.data, kind).get(key) for run in found]
            cells = [
                "" if v is None else (_metric_text(v) if isinstance(v, float) else str(v))
                for v in values
            ]
            rows.append((f"{kind}.{key}", cells))
    if as_json:
        emit_json(
            {
                "runs": [run.info.run_id for run in found],
                "rows": dict(rows),
                "differs": [name for name, cells in rows if len(set(cells)) > 1],
            }
        )
        return
    table_rows = [(("* " if len(set(cells)) > 1 else "  ") + name, *cells) for name, cells in rows]
    headers = ["key (* differs)", *(f"{run.info.run_name}\n{run.info.run_id[:8]}" for run in found)]
    console().print(make_table("Run comparison", headers, table_rows))


@runs_app.command("delete")
def runs_delete(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Run ids to delete.")],
) -> None:
    """Delete runs (soft: they leave listings and searches; `restore` undoes it)."""
    changed = _client(ctx).repository.delete_runs(run_ids)
    console().print(f"Deleted {changed} run(s).")


@runs_app.command("restore")
def runs_restore(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Run ids to restore.")],
) -> None:
    """Restore deleted runs."""
    changed = _client(ctx).repository.restore_runs(run_ids)
    console().print(f"Restored {changed} run(s).")


@runs_app.command("mark-stale")
def runs_mark_stale(
    ctx: typer.Context,
    older_than: Annotated[
        str, typer.Option(help="No write for this long (e.g. 30m, 2h) makes a run stale.")
    ] = "1h",
    dry_run: Annotated[bool, typer.Option(help="Only list the stale runs.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Mark RUNNING runs whose process stopped writing (killed, crashed) as FAILED."""
    from cycleml.tracking._entities import RunStatus

    client = _client(ctx)
    stale = client.repository.find_stale_runs(older_than_ms=parse_duration_ms(older_than))
    if not dry_run:
        for info in stale:
            client.repository.update_run(
                info.run_id,
                status=RunStatus.FAILED.value,
                error=f"marked FAILED by `cycleml runs mark-stale`: no write since "
                f"{format_ms(info.heartbeat_time)} UTC",
            )
    if as_json:
        emit_json({"dry_run": dry_run, "runs": [info.run_id for info in stale]})
        return
    verb = "Would mark" if dry_run else "Marked"
    console().print(f"{verb} {len(stale)} stale run(s) FAILED.")
    for info in stale:
        console().print(
            f"  {info.run_id}  {info.run_name}  last write {format_ms(info.heartbeat_time)}"
        )
