"""The demo's team-server step: one store shared over HTTP.

``cycleml demo`` hands this step to :func:`cycleml.lifecycle.run_demo` (the server sits above
the workflows, so the demo cannot import it itself). It starts ``cycleml server``'s app on
loopback over the demo project's store, logs one run through it, from the unmodified
``mlflow`` client when that is installed, else from cycleml's SDK over the REST API, and
reads the run back from the store directly, as a teammate's ``cycleml runs list`` would.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util

import httpx
from rich.console import Console

from cycleml.server._app import create_server
from cycleml.settings import Settings

__all__ = ["SHARED_EXPERIMENT", "team_server_step"]

#: The experiment the step's run goes to.
SHARED_EXPERIMENT = "team-server"
_STEPS = 20


def team_server_step(settings: Settings, out: Console) -> str:
    """Log a run through a team server on ``settings``' store; return its run id.

    When the demo itself runs against a team server (an http(s) tracking URI), the step
    uses that server instead of starting one.
    """
    from cycleml.serving import background_server
    from cycleml.tracking import TrackingClient

    remote = settings.tracking_uri.startswith(("http://", "https://"))
    serving = (
        contextlib.nullcontext(settings.tracking_uri)
        if remote
        else background_server(create_server(settings))
    )
    with serving as url:
        before = _write_requests(httpx.get(f"{url}/metrics").text)
        if not remote and importlib.util.find_spec("mlflow") is not None:
            run_id, sender = _log_with_mlflow(url), "the unmodified mlflow client"
        else:
            run_id, sender = _log_with_the_sdk(settings, url), "cycleml's SDK over REST"
        requests = _write_requests(httpx.get(f"{url}/metrics").text) - before
    shared = TrackingClient(settings)  # the store itself (or, remote, the server's)
    try:
        run = shared.get_run(run_id)
    finally:
        shared.close()
    loss = run.data.metrics.get("loss", float("nan"))
    started = "Used the team server" if remote else "Started a team server"
    out.print(
        f"9. {started} ([bold]cycleml server[/]) on {url} over this store, logged "
        f"run '{run.info.run_name}' from {sender} ({len(run.data.params)} params, {_STEPS} "
        f"metric points in {requests} write request{'s' if requests != 1 else ''}); the shared "
        f"store has it: experiment '{SHARED_EXPERIMENT}', loss {loss:.3f}, status "
        f"{run.info.status}."
    )
    return run_id


def _log_with_the_sdk(settings: Settings, url: str) -> str:
    from cycleml.tracking import Tracker

    remote = dataclasses.replace(settings, tracking_uri=url)
    tracker = Tracker(remote)
    try:
        tracker.set_experiment(SHARED_EXPERIMENT)
        with tracker.start_run(run_name="from-a-teammate") as run:
            tracker.log_params({"model": "logreg", "C": 0.1})
            for step in range(_STEPS):
                tracker.log_metrics({"loss": 1 / (step + 1)}, step=step)
        return run.run_id
    finally:
        tracker.close()


def _log_with_mlflow(url: str) -> str:
    mlflow = importlib.import_module("mlflow")  # optional: only when it is installed

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment(SHARED_EXPERIMENT)
    with mlflow.start_run(run_name="from-a-teammate") as run:
        mlflow.log_params({"model": "logreg", "C": 0.1})
        for step in range(_STEPS):
            mlflow.log_metric("loss", 1 / (step + 1), step=step)
    return str(run.info.run_id)


def _write_requests(metrics_text: str) -> int:
    """Requests that wrote to a run: cycleml's batch and run updates, MLflow's log routes."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "cycleml_server_requests":
            continue
        for sample in family.samples:
            route, method = sample.labels.get("route", ""), sample.labels.get("method", "")
            if (
                sample.name.endswith("_total")
                and method in ("POST", "PATCH")
                and (
                    route.endswith(("/batch", "/log-metric", "/log-batch", "/runs/update"))
                    or route == "/api/v1/runs/{run_id}"
                )
            ):
                total += sample.value
    return int(total)
