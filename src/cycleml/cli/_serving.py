"""``cycleml serve``, ``cycleml deploy``, ``cycleml predict`` and ``cycleml feedback``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cycleml.cli._common import console, emit_json, format_ms, make_table, state
from cycleml.errors import InvalidInput
from cycleml.serving import (
    BatchingOptions,
    Deployment,
    Deployments,
    ServerOptions,
    deployment_app,
    model_app,
    record_feedback,
    run_server,
    score_batch,
)

__all__ = ["deploy", "feedback", "predict", "serve"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
_ACTIONS = ("promote", "rollback", "list", "show", "history")


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
    max_batch_size: Annotated[
        int, typer.Option(help="Most rows per merged batch.")
    ] = BatchingOptions.max_batch_size,
    max_wait_ms: Annotated[
        float, typer.Option(help="Longest wait for a busy batch to fill.")
    ] = BatchingOptions.max_wait_ms,
    max_body_bytes: Annotated[int, typer.Option(help="Larger bodies get a 413.")] = 10 * 2**20,
) -> None:
    """Serve a model (or a deployment) over HTTP until Ctrl-C or SIGTERM."""
    if (model_uri is None) == (deployment is None):
        raise InvalidInput(
            "Pass either a MODEL_URI or --deployment NAME (exactly one).",
            hint="e.g. cycleml serve models:/churn@champion",
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
    target: Annotated[str, typer.Argument(help=f"A deployment name, or one of {_ACTIONS}.")],
    name: Annotated[str | None, typer.Argument(help="The deployment (after an action).")] = None,
    model: Annotated[str | None, typer.Option(help="The primary model URI.")] = None,
    canary: Annotated[str | None, typer.Option(help="A canary model URI.")] = None,
    percent: Annotated[float, typer.Option(help="Share of traffic for the canary.")] = 10.0,
    shadow: Annotated[str | None, typer.Option(help="A shadow model URI.")] = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Create or update a deployment, or: promote | rollback | list | show | history NAME.

    ``cycleml deploy churn --model models:/churn@champion --canary models:/churn/7
    --percent 10 --shadow models:/churn/8`` stores the deployment; a server running
    ``cycleml serve --deployment churn`` picks up every change without a restart.
    """
    deployments = Deployments(state(ctx).settings)
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
            raise InvalidInput(f"cycleml deploy {target} needs a deployment NAME.")
        if target == "history":
            revisions = deployments.revisions(name)
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
        raise InvalidInput(f"Unexpected argument {name!r}: use cycleml deploy NAME --model URI.")
    if model is None:
        raise InvalidInput(
            f"cycleml deploy {target} needs --model.",
            hint="e.g. cycleml deploy churn --model models:/churn@champion",
        )
    result = deployments.create(
        target, model, canary=canary, percent=percent if canary else 0, shadow=shadow,
        description=reason,
    )  # fmt: skip
    _show(result, as_json=as_json, verb="Deployed")


def predict(
    ctx: typer.Context,
    model_uri: Annotated[str, typer.Argument(help="The model to score with.")],
    input_: Annotated[
        str, typer.Option("--input", help="data.parquet, data.csv or datasets:/name/version.")
    ],
    output: Annotated[Path, typer.Option(help="The Parquet file to write.")],
    chunk_rows: Annotated[int, typer.Option(help="Rows per chunk (memory bound).")] = 65_536,
    as_json: JsonFlag = False,
) -> None:
    """Score a file or dataset version in chunks into a Parquet file of predictions."""
    settings = state(ctx).settings
    paths: list[str] = [input_]
    refs: list[tuple[str, str]] = []
    if input_.startswith("datasets:/"):
        from cycleml.data import Datasets

        datasets = Datasets(settings)
        version = datasets.get(input_)
        paths = datasets.part_paths(version)
        refs = [("dataset_version", f"{version.name}/{version.version}")]
    with Progress(
        TextColumn("[bold]scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console(), disable=as_json, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("score", total=None)
        report = score_batch(
            model_uri, paths, output, settings=settings, chunk_rows=chunk_rows, input_refs=refs,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    if as_json:
        emit_json({**report.__dict__, "output": str(report.output)})
        return
    console().print(
        f"Scored {report.rows:,} rows in {report.seconds:.2f} s -> {report.output} "
        f"(lineage: batch_prediction/{report.id})."
    )


def feedback(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="The deployment the predictions came from.")],
    file: Annotated[Path, typer.Argument(help="CSV or Parquet with request_id and label.")],
) -> None:
    """Record ground-truth labels for logged predictions, in bulk."""
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
