"""``cycleml serve``, ``cycleml deploy``, ``cycleml predict`` and ``cycleml feedback``.

The serving stage (FastAPI, the model loaders, the store) is imported inside each command,
so loading this module costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cycleml.cli._common import console, emit_json, format_ms, make_table, state
from cycleml.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from cycleml.serving import Deployment

__all__ = ["deploy", "feedback", "predict", "serve"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_ACTIONS = ("promote", "rollback", "list", "show", "history")
#: Inputs ``cycleml predict`` reads as Parquet files; anything else goes through the data
#: stage's file reader (the one ``cycleml data ingest`` uses, so errors name the line).
_PARQUET = (".parquet", ".pq", ".parq")


def serve(
    ctx: typer.Context,
    model_uri: Annotated[
        str | None, typer.Argument(help="models:/name/version, models:/name@alias, runs:/...")
    ] = None,
    deployment: Annotated[
        str | None, typer.Option(help="Serve a stored deployment (canary, shadow, log).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 5000,
    workers: Annotated[int, typer.Option(help="Worker processes (each loads the model).")] = 1,
    batching: Annotated[bool, typer.Option(help="Merge concurrent requests.")] = True,
    max_batch_size: Annotated[int, typer.Option(help="Most rows per merged batch.")] = 64,
    max_wait_ms: Annotated[
        float, typer.Option(help="Longest wait for a busy batch to fill.")
    ] = 0.0,
    max_body_bytes: Annotated[int, typer.Option(help="Larger bodies get a 413.")] = 10 * 2**20,
) -> None:
    """Serve a model (or a deployment) over HTTP until Ctrl-C or SIGTERM."""
    from cycleml.serving import (
        BatchingOptions,
        Deployments,
        ServerOptions,
        deployment_app,
        model_app,
        run_server,
    )

    if (model_uri is None) == (deployment is None):
        raise InvalidInput(
            "Pass either a MODEL_URI or --deployment NAME (exactly one).",
            hint="e.g. `cycleml serve models:/churn@champion`",
        )
    settings = state(ctx).settings
    options = ServerOptions(
        batching=BatchingOptions(
            enabled=batching, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms
        ),
        max_body_bytes=max_body_bytes,
    )
    if deployment is not None:
        Deployments(settings).get(deployment)  # fail fast on an unknown deployment
        name = deployment

        def factory() -> Any:
            return deployment_app(name, settings=settings, options=options)

    else:
        assert model_uri is not None
        uri = model_uri

        def factory() -> Any:
            return model_app(uri, settings=settings, options=options)

    what = f"deployment {deployment}" if deployment else model_uri

    def ready(bound_host: str, bound_port: int) -> None:
        console().print(
            f"Serving {what} on http://{bound_host}:{bound_port} ({workers} worker"
            f"{'s' if workers != 1 else ''}); docs at /docs, metrics at /metrics."
        )

    run_server(factory, host=host, port=port, workers=workers, ready=ready)


def deploy(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            help="A deployment name, or an action: promote, rollback, list, show or history."
        ),
    ],
    name: Annotated[str | None, typer.Argument(help="The deployment (after an action).")] = None,
    model: Annotated[str | None, typer.Option(help="The primary model URI.")] = None,
    canary: Annotated[str | None, typer.Option(help="A canary model URI.")] = None,
    percent: Annotated[float, typer.Option(help="Share of traffic for the canary.")] = 10.0,
    shadow: Annotated[str | None, typer.Option(help="A shadow model URI.")] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Create or update a deployment, or: promote | rollback | list | show | history NAME.

    cycleml deploy churn --model models:/churn@champion --canary models:/churn/7
    --percent 10 --shadow models:/churn/8 creates deployment churn, or replaces its whole
    configuration: a canary or shadow that is not given again is removed (the change is
    audited, and cycleml deploy rollback churn restores it). Every model must be servable
    (a cycleml model folder whose model.yaml verifies); otherwise nothing is written. A
    server running cycleml serve --deployment churn picks up every change without a
    restart.
    """
    from cycleml.serving import Deployments

    deployments = Deployments(state(ctx).settings)
    try:
        _deploy(deployments, target, name, model=model, canary=canary, percent=percent,
                shadow=shadow, reason=reason, as_json=as_json)  # fmt: skip
    finally:
        deployments.close()


def _deploy(
    deployments: Any,
    target: str,
    name: str | None,
    *,
    model: str | None,
    canary: str | None,
    percent: float,
    shadow: str | None,
    reason: str,
    as_json: bool,
) -> None:
    if target == "list":
        found = deployments.list()
        if as_json:
            emit_json([d.to_dict() for d in found])
            return
        rows = [(d.name, d.model_uri, _canary_text(d), d.shadow_uri or "", d.revision,
                 format_ms(d.last_updated_time)) for d in found]  # fmt: skip
        console().print(make_table("Deployments", ["name", "model", "canary", "shadow",
                                                   "revision", "updated"], rows))  # fmt: skip
        return
    if target in _ACTIONS:
        if name is None:
            raise InvalidInput(
                f"cycleml deploy {target} needs a deployment NAME.",
                hint=f"e.g. `cycleml deploy {target} churn`; `cycleml deploy list` lists them.",
            )
        if target == "history":
            revisions = deployments.list_revisions(name)
            if as_json:
                emit_json([r.to_dict() for r in revisions])
                return
            history = [
                (r.revision, r.action, r.actor, format_ms(r.time), r.reason) for r in revisions
            ]
            headers = ["revision", "action", "actor", "time", "reason"]
            console().print(make_table(f"Deployment {name}", headers, history))
            return
        if target == "show":
            result = deployments.get(name)
        elif target == "promote":
            result = deployments.promote(name, reason=reason)
        else:
            result = deployments.rollback(name, reason=reason)
        _show(result, as_json=as_json, verb={"show": "", "promote": "Promoted",
                                             "rollback": "Rolled back"}[target])  # fmt: skip
        return
    if name is not None:
        raise InvalidInput(
            f"Unexpected argument {name!r}.",
            hint=f"Deploy with `cycleml deploy {target} --model URI`, or use an action: "
            f"{', '.join(_ACTIONS)}.",
        )
    if model is None:
        raise InvalidInput(
            f"cycleml deploy {target} needs --model.",
            hint="e.g. `cycleml deploy churn --model models:/churn@champion`",
        )
    try:
        before: Deployment | None = deployments.get(target)
    except NotFound:
        before = None
    result = deployments.apply(
        target, model, canary=canary, percent=percent if canary else 0, shadow=shadow,
        reason=reason,
    )  # fmt: skip
    if before is None:
        verb = "Deployed"
    elif result.revision == before.revision:
        verb = "Unchanged:"
    else:
        verb = "Replaced"
    _show(result, as_json=as_json, verb=verb)
    if as_json or before is None or result.revision == before.revision:
        return
    removed = [f"{arm} {uri}" for arm, uri, now in (
        ("canary", before.canary_uri, result.canary_uri),
        ("shadow", before.shadow_uri, result.shadow_uri),
    ) if uri is not None and now is None]  # fmt: skip
    if removed:
        console().print(
            f"  removed {' and '.join(removed)} (not given again); "
            f"`cycleml deploy rollback {target}` restores revision {before.revision}."
        )


def predict(
    ctx: typer.Context,
    model_uri: Annotated[str, typer.Argument(help="The model to score with.")],
    input_: Annotated[
        str,
        typer.Option("--input", help="data.parquet, data.csv, a glob or datasets:/name/version."),
    ],
    output: Annotated[Path, typer.Option(help="The Parquet file to write.")],
    chunk_rows: Annotated[int, typer.Option(help="Rows per chunk (memory bound).")] = 65_536,
    as_json: JsonFlag = False,
) -> None:
    """Score a file or dataset version in chunks into a Parquet file of predictions."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from cycleml.serving import score_batch

    settings = state(ctx).settings
    inputs: Any = [input_]
    refs: list[tuple[str, str]] = []
    if input_.startswith("datasets:/"):
        from cycleml.data import Datasets

        datasets = Datasets(settings)
        version = datasets.get(input_)
        inputs = datasets.list_part_paths(version)
        refs = [("dataset_version", f"{version.name}/{version.version}")]
    elif not input_.lower().endswith(_PARQUET):
        # CSV, TSV, JSON Lines, globs: the reader `cycleml data ingest` uses, so a ragged
        # row or a bad value is reported the same way, with its file and line.
        from cycleml.data import FileSource

        if isinstance(chunk_rows, bool) or chunk_rows < 1:
            raise InvalidInput(f"--chunk-rows must be a positive integer, got {chunk_rows!r}.")
        source = FileSource(input_)
        inputs = source.open(batch_size=chunk_rows)
        local = "://" not in input_
        refs = [("file", str(Path(input_).resolve()) if local else source.identity())]
    with Progress(
        TextColumn("[bold]scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console(), disable=as_json, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("score", total=None)
        report = score_batch(
            model_uri, inputs, output, settings=settings, chunk_rows=chunk_rows, input_refs=refs,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    if as_json:
        emit_json({**report.__dict__, "output": str(report.output)})
        return
    out = console()
    out.print(
        f"Scored {report.rows:,} rows in {report.seconds:.2f} s -> {report.output} "
        f"(lineage: batch_prediction/{report.id})."
    )
    if report.dropped_columns:
        from cycleml.errors import ExtraColumnsWarning

        note = f"{ExtraColumnsWarning(list(report.dropped_columns))} They are kept in the output."
        out.print(f"Note: {note}", markup=False)


def feedback(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment the predictions came from.")],
    file: Annotated[Path, typer.Argument(help="CSV or Parquet with request_id and label.")],
) -> None:
    """Record ground-truth labels for logged predictions, in bulk."""
    from cycleml.serving import record_feedback

    count = record_feedback(deployment, file, settings=state(ctx).settings)
    console().print(f"Recorded {count:,} labels for deployment {deployment}.")


def _canary_text(d: Deployment) -> str:
    return f"{d.canary_uri} ({d.canary_percent:g}%)" if d.canary_uri else ""


def _show(d: Deployment, *, as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(d.to_dict())
        return
    lines = [f"{verb + ' ' if verb else ''}deployment [bold]{d.name}[/] (revision {d.revision})",
             f"  model   {d.model_uri} -> {d.model_name}/{d.model_version}"]  # fmt: skip
    if d.canary_uri:
        lines.append(f"  canary  {d.canary_uri} -> {d.canary_name}/{d.canary_version} "
                     f"({d.canary_percent:g}%)")  # fmt: skip
    if d.shadow_uri:
        lines.append(f"  shadow  {d.shadow_uri} -> {d.shadow_name}/{d.shadow_version}")
    console().print("\n".join(lines))
