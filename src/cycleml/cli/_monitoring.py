"""``cycleml monitor ...``: references, monitors, evaluations, alerts and reports.

The monitoring stage (pandas, pyarrow, scipy) is imported inside each command.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cycleml.cli._common import (
    PlotlyJsOption,
    command_group,
    console,
    emit_json,
    format_ms,
    make_table,
    parse_since,
    plotlyjs_mode,
    state,
)
from cycleml.errors import InvalidInput

if TYPE_CHECKING:
    from cycleml.monitoring import MonitorRun, Monitors

__all__ = ["monitor_app"]

monitor_app = command_group(
    "Monitor production: drift, data quality, performance, fairness, alerts."
)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _monitors(ctx: typer.Context) -> Monitors:
    from cycleml.monitoring import Monitors

    return Monitors(state(ctx).settings)


@monitor_app.command("reference")
def monitor_reference(
    ctx: typer.Context,
    data: Annotated[str, typer.Argument(help="Parquet/CSV file or datasets:/ URI to profile.")],
    model: Annotated[str | None, typer.Option(help="Model version it belongs to.")] = None,
    name: Annotated[str | None, typer.Option(help="A name to find it by.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Profile DATA and store it as a reference (compact: no raw data is kept)."""
    with _monitors(ctx) as monitors, console().status("profiling the reference..."):
        stored = monitors.save_reference(data, model=model, name=name)
    if as_json:
        emit_json(stored.to_dict())
        return
    console().print(
        f"Stored reference [bold]{stored.id}[/] ({stored.rows:,} rows"
        + (f", model {stored.model_version_uri}" if stored.model_version_uri else "")
        + ")."
    )


@monitor_app.command("references")
def monitor_references(
    ctx: typer.Context,
    model: Annotated[
        str | None, typer.Option(help="Only those of this model (models:/name or a version).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List stored reference profiles, oldest first."""
    with _monitors(ctx) as monitors:
        name = version = None
        if model is not None:
            if model.startswith("models:/") and model.count("/") == 1:
                name = model.removeprefix("models:/")  # every version of the model
            else:
                found = monitors.deployments.resolve_model_uri(model)
                name, version = found.name, found.version
        references = monitors.repository.list_monitor_references(name, model_version=version)
    if as_json:
        emit_json([r.to_dict() for r in references])
        return
    rows = [
        (r.id, r.name or "", r.model_version_uri or "", f"{r.rows:,}", r.created_by,
         format_ms(r.creation_time))
        for r in references
    ]  # fmt: skip
    columns = ["id", "name", "model", "rows", "by", "created"]
    console().print(make_table("Monitor references", columns, rows))


@monitor_app.command("create")
def monitor_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The monitor's name.")],
    deployment: Annotated[str | None, typer.Option(help="Deployment to watch.")] = None,
    model: Annotated[str | None, typer.Option(help="Model version to watch (batch use).")] = None,
    reference: Annotated[str | None, typer.Option(help="Stored reference id or name.")] = None,
    check: Annotated[
        list[str] | None, typer.Option(help="A check to run (repeatable); default: drift, quality.")
    ] = None,
    window: Annotated[str | None, typer.Option(help="Rows (5000) or a duration (1h).")] = None,
    lag: Annotated[
        float | None,
        typer.Option(
            help="Seconds a window must be over before it is evaluated, for rows other "
            "servers have not flushed yet (default 30; 0 once servers have stopped)."
        ),
    ] = None,
    alert: Annotated[
        list[str] | None,
        typer.Option(help="Alert rule 'METRIC OP THRESHOLD [for N] [cooldown 1h]' (repeatable)."),
    ] = None,
    webhook: Annotated[str | None, typer.Option(help="POST alerts to this URL.")] = None,
    retrain_command: Annotated[
        str | None, typer.Option(help="Command run when an alert fires (retraining hook).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML file with the monitor's settings.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create monitor NAME of a deployment (--deployment) or a model version (--model)."""
    from cycleml.monitoring import parse_alert

    if (deployment is None) == (model is None):
        raise InvalidInput(
            "Give exactly one of --deployment and --model.",
            hint="E.g. `cycleml monitor create churn-drift --deployment churn --reference REF`.",
        )
    settings: dict[str, Any] = {}
    if config is not None:
        settings = _read_config(config)
    if check:
        settings["checks"] = list(check)
    if window is not None:
        settings["window"] = int(window) if window.strip().isdigit() else window
    if lag is not None:
        settings["lag"] = lag
    notify = []
    notifications = dict(settings.get("notifications") or {})
    if webhook:
        notifications["webhook"] = {"kind": "webhook", "url": webhook}
        notify.append("webhook")
    if retrain_command:
        notifications["retrain"] = {"kind": "retrain", "command": retrain_command.split()}
        notify.append("retrain")
    if notifications:
        settings["notifications"] = notifications
    rules = list(settings.get("rules") or [])
    for text in alert or ():
        rules.append(parse_alert(text, notify=notify or ["log"]).to_dict())
    if rules:
        settings["rules"] = rules
    target = deployment if deployment is not None else str(model)
    with _monitors(ctx) as monitors:
        created = monitors.create(name, target=target, reference=reference, **settings)
    if as_json:
        emit_json(created.to_dict())
        return
    checks = ", ".join(created.config.get("checks", []))
    console().print(
        f"Created monitor [bold]{created.name}[/] of {created.target} "
        f"(checks: {checks}; window {created.config.get('window')})."
    )


def _read_config(path: Path) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"Cannot read monitor settings from {path}: {exc}.") from exc
    if not isinstance(loaded, dict):
        raise InvalidInput(
            f"{path} must hold a mapping of monitor settings; it holds {type(loaded).__name__}.",
            hint="E.g. `checks: [drift, quality]` and `window: 1h`.",
        )
    return loaded


@monitor_app.command("list")
def monitor_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List monitors."""
    with _monitors(ctx) as monitors:
        found = monitors.list()
    if as_json:
        emit_json([m.to_dict() for m in found])
        return
    rows = [
        (m.name, m.target, ", ".join(m.config.get("checks", [])), m.config.get("window"),
         format_ms(m.watermark))
        for m in found
    ]  # fmt: skip
    console().print(
        make_table("Monitors", ["name", "target", "checks", "window", "evaluated to"], rows)
    )


@monitor_app.command("run")
def monitor_run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The monitor.")],
    data: Annotated[
        str | None, typer.Option(help="Evaluate this file or datasets:/ URI as one window.")
    ] = None,
    final: Annotated[bool, typer.Option(help="Also evaluate the last, incomplete window.")] = False,
    watch: Annotated[bool, typer.Option(help="Keep evaluating new data as it arrives.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between checks in --watch.")] = 30.0,
    iterations: Annotated[
        int | None, typer.Option(help="Stop --watch after this many checks.")
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus gauges on this port.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Evaluate the monitor's new complete windows (or --data), store them and alert.

    With --json: one JSON list of the evaluated windows ([] when none is complete yet);
    with --watch --json, one JSON object per line for each window as it is evaluated.
    """
    from cycleml.monitoring import MonitorGauges

    gauges = MonitorGauges()
    if metrics_port is not None:
        gauges.serve(metrics_port)
    count = 0
    with _monitors(ctx) as monitors:
        while True:
            runs = monitors.run(name, data=data, final=final)
            gauges.update(runs)
            streaming = watch and data is None
            waiting = "" if runs or as_json else _waiting(monitors.get(name).config, final)
            _print_runs(runs, as_json=as_json, streaming=streaming, waiting=waiting)
            count += 1
            if not streaming or (iterations is not None and count >= iterations):
                break
            time.sleep(interval)


def _waiting(config: dict[str, Any], final: bool) -> str:
    """Why no window is ready: what makes one complete."""
    window, lag = config.get("window"), config.get("lag", 30.0)
    full = "" if final else (
        f"has {window} rows" if isinstance(window, int) else f"has ended ({window} windows)"
    )  # fmt: skip
    when = f"it {full} and " if full else ""
    return f": a window is evaluated once {when}its rows are {lag:g} s old (the monitor's lag)"


def _print_runs(
    runs: list[MonitorRun], *, as_json: bool, streaming: bool, waiting: str = ""
) -> None:
    if as_json:
        if not streaming:
            emit_json([run.to_dict() for run in runs])
            return
        for run in runs:  # JSON Lines: a reader acts on each window as it comes
            print(json.dumps(run.to_dict(), default=str), flush=True)
        return
    if not runs:
        if not streaming:
            console().print(f"No complete window to evaluate yet{waiting}.")
        return
    shown = [m for m in _HEADLINES if any(m in run.values for run in runs)]
    rows = []
    for run in runs:
        rows.append((
            format_ms(run.window_start), format_ms(run.window_end), f"{run.rows:,}", run.status,
            *(_fmt(run.values.get(metric)) for metric in shown),
            ", ".join(f"{e.rule} {e.kind}" for e in run.events),
            "; ".join(f"{k}: {m}" for k, m in run.errors.items()),
        ))  # fmt: skip
    columns = ["from", "to", "rows", "status", *shown, "alerts", "skipped"]
    console().print(make_table(f"Monitor {runs[0].monitor}", columns, rows))


#: The metrics ``monitor run`` prints, when the monitor's checks produce them (all of them
#: are stored; ``monitor history`` shows any).
_HEADLINES = (
    "drift.share",
    "prediction_drift.drifted",
    "multivariate.drifted",
    "quality.issues",
    "performance.accuracy",
    "performance.rmse",
    "performance.labelled",
    "estimated.accuracy",
)


def _fmt(value: float | None) -> str:
    if value is None or value != value:
        return ""
    return f"{value:.3g}"


@monitor_app.command("history")
def monitor_history(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The monitor.")],
    metric: Annotated[list[str] | None, typer.Option(help="Only this metric (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help="A duration back (2h) or a date.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The monitor's stored time series."""
    since_ms = parse_since(since) if since else None
    with _monitors(ctx) as monitors:
        points = monitors.get_history(name, metric or None, since=since_ms)
    if as_json:
        emit_json([p._asdict() for p in points])
        return
    rows = [(format_ms(p.window_end), p.metric, _fmt(p.value)) for p in points]
    console().print(make_table(f"History of {name}", ["window end", "metric", "value"], rows))


@monitor_app.command("alerts")
def monitor_alerts(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="The monitor; default: all.")] = None,
    since: Annotated[str | None, typer.Option(help="A duration back (2h) or a date.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Alerts fired and resolved."""
    since_ms = parse_since(since) if since else None
    with _monitors(ctx) as monitors:
        events = monitors.list_alerts(name, since=since_ms)
    if as_json:
        emit_json([e.to_dict() for e in events])
        return
    rows = [
        (format_ms(e.time), e.monitor_name, e.rule_name, e.kind, _fmt(e.value), _fmt(e.threshold))
        for e in events
    ]
    columns = ["time", "monitor", "rule", "kind", "value", "threshold"]
    console().print(make_table("Alerts", columns, rows))


@monitor_app.command("report")
def monitor_report(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The monitor.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="HTML file to write.")] = Path(
        "monitor-report.html"
    ),
    data: Annotated[
        str | None, typer.Option(help="Report on this file or datasets:/ URI instead.")
    ] = None,
    plotlyjs: PlotlyJsOption = "inline",
    as_json: JsonFlag = False,
) -> None:
    """Write an HTML report: drift, quality, performance, fairness, history and alerts."""
    with _monitors(ctx) as monitors, console().status("building the report..."):
        report = monitors.report(name, data=data)
        path = monitors.write_report(report, output, include_plotlyjs=plotlyjs_mode(plotlyjs))
    if as_json:
        emit_json(report)
        return
    console().print(f"Wrote {path}")
