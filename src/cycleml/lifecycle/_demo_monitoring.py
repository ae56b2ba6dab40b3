"""The demo's monitoring step: a week of production replayed, a shift, an alert, a report.

Production is replayed from the bundled data, one window per day: for three days the
deployment sees patients like those it was trained on; from the fourth day a referral
clinic sends only its larger tumours (the top third by ``mean radius``), a real subgroup
shift. Every replayed row is scored by the champion and written to the deployment's
prediction log with its day's timestamps; diagnoses (the late labels) arrive for the first
five days only. The monitor reads the log day by day, finds the drift, fires its alert to
a webhook (a real HTTP server on loopback) and to a retraining hook (a command, recorded in
the audit log), and writes the HTML report.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from cycleml.models import load_model
from cycleml.monitoring import Monitors
from cycleml.serving import PredictionLogger, record_feedback
from cycleml.settings import Settings

__all__ = ["MonitoringDemo", "monitor_demo"]

MONITOR = "breast-cancer-live-monitor"
DAY_MS = 86_400_000
DAYS = 6
SHIFT_FROM_DAY = 4  # 1-based: days 4, 5 and 6 see the referral clinic's patients
LABELLED_DAYS = 5  # the last day's diagnoses have not come back yet
ROWS_PER_DAY = 300


@dataclass
class MonitoringDemo:
    """What the monitoring step produced."""

    monitor: str
    report: Path
    alerts: int
    webhook_payloads: list[dict[str, Any]] = field(default_factory=list)
    retrain_marker: Path | None = None


class _Receiver(BaseHTTPRequestHandler):
    """Collects webhook POSTs (the demo's stand-in for a chat or paging service)."""

    payloads: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.payloads.append(json.loads(self.rfile.read(length) or b"{}"))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def _replay(frame: pd.DataFrame, rng: np.random.Generator) -> list[pd.DataFrame]:
    """One frame of patients per day: the usual mix, then only large tumours."""
    cutoff = frame["mean radius"].quantile(2 / 3)
    large = frame[frame["mean radius"] >= cutoff]
    days = []
    for day in range(1, DAYS + 1):
        pool = large if day >= SHIFT_FROM_DAY else frame
        chosen = rng.choice(len(pool), size=ROWS_PER_DAY, replace=True)
        days.append(pool.iloc[chosen].reset_index(drop=True))
    return days


def monitor_demo(
    settings: Settings,
    frame: pd.DataFrame,
    *,
    deployment: str,
    model_name: str,
    model_version: int,
    console: Console,
) -> MonitoringDemo:
    """Replay a week of production into ``deployment``'s log and monitor it."""
    home = settings.home
    features = frame.drop(columns=["patient_id", "malignant"])
    model_uri = f"models:/{model_name}/{model_version}"
    model = load_model(model_uri, settings=settings)
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    receiver.payloads = []  # type: ignore[attr-defined]
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    marker = home / "retrain-requested.json"
    try:
        with Monitors(settings) as monitors:
            # The reference: the training data as the champion saw it, with its predictions.
            reference_frame = features.assign(prediction=np.asarray(model.predict(features)))
            ref = monitors.save_reference(reference_frame, model=model_uri, name="tumours-train")
            start_day = (int(pd.Timestamp.now(tz="UTC").floor("D").value // 1_000_000)
                         - (DAYS + 1) * DAY_MS)  # fmt: skip
            _log_week(settings, deployment, model, frame, start_day,
                      model_name=model_name, model_version=model_version)  # fmt: skip
            port = receiver.server_address[1]
            retrain = [sys.executable, "-c",
                       "import json,sys,pathlib; pathlib.Path(sys.argv[1]).write_text("
                       "json.dumps(json.load(sys.stdin)))", str(marker)]  # fmt: skip
            rules = [
                {"name": "feature-drift", "metric": "drift.share", "operator": ">=",
                 "threshold": 0.3, "for_windows": 1, "cooldown": "7d",
                 "notify": ["ops-webhook", "retrain"], "severity": "critical"},
                {"name": "accuracy-drop", "metric": "performance.accuracy", "operator": "<",
                 "threshold": 0.9, "notify": ["ops-webhook"]},
            ]  # fmt: skip
            notifications = {
                "ops-webhook": {"kind": "webhook", "url": f"http://127.0.0.1:{port}/alerts"},
                "retrain": {"kind": "retrain", "command": retrain},
            }
            monitors.create(
                MONITOR,
                target=deployment,
                reference=ref.id,
                checks=["drift", "prediction_drift", "quality", "performance"],
                window="1d",
                lag=0,
                rules=rules,
                notifications=notifications,
            )
            runs = monitors.run(MONITOR, now=start_day + (DAYS + 1) * DAY_MS)
            report = monitors.report(MONITOR)
            path = monitors.write_report(
                report, home / "reports" / "monitoring.html", include_plotlyjs="shared"
            )
            events = monitors.list_alerts(MONITOR)
    finally:
        receiver.shutdown()
        receiver.server_close()
    console.print(
        f"8. Replayed {DAYS} days of production ({ROWS_PER_DAY} patients a day; from day "
        f"{SHIFT_FROM_DAY} a referral clinic sends only large tumours) into the prediction log; "
        f"monitor [bold]{MONITOR}[/] evaluated one window per day:"
    )
    console.print(_runs_table(runs))
    fired = [e for e in events if e.kind == "fired"]
    payloads: list[dict[str, Any]] = receiver.payloads  # type: ignore[attr-defined]
    console.print(
        f"   {len(fired)} alert(s) fired; the webhook received {len(payloads)} POST(s)"
        + (f"; the retraining hook ran ({marker.name})" if marker.exists() else "")
        + f"; report: {path}"
    )
    return MonitoringDemo(
        monitor=MONITOR,
        report=path,
        alerts=len(fired),
        webhook_payloads=payloads,
        retrain_marker=marker if marker.exists() else None,
    )


def _log_week(
    settings: Settings,
    deployment: str,
    model: Any,
    frame: pd.DataFrame,
    start_day: int,
    *,
    model_name: str,
    model_version: int,
) -> None:
    rng = np.random.default_rng(11)
    features_of = frame.drop(columns=["patient_id", "malignant"])
    labels = []
    with PredictionLogger(settings, deployment) as logger:
        for day, patients in enumerate(_replay(frame, rng), start=1):
            features = patients[features_of.columns]
            predictions = model.predict(features)
            probabilities = model.predict_proba(features)
            begin = start_day + (day - 1) * DAY_MS
            times = begin + np.sort(rng.integers(0, DAY_MS, size=len(patients)))
            records = []
            for i, row in enumerate(features.to_dict(orient="records")):
                request_id = f"day{day}-{i}"
                records.append({
                    "request_id": request_id, "time": int(times[i]),
                    "model_name": model_name, "model_version": model_version,
                    "inputs": row,
                    "outputs": {"prediction": int(predictions[i]),
                                "probabilities": [float(p) for p in probabilities[i]]},
                    "latency_ms": 5.0,
                })  # fmt: skip
                if day <= LABELLED_DAYS:
                    labels.append({"request_id": request_id,
                                   "label": int(patients["malignant"].iloc[i])})  # fmt: skip
            logger.log(records)
    record_feedback(deployment, labels, settings=settings)


def _runs_table(runs: list[Any]) -> Table:
    table = Table(show_header=True, header_style="bold")
    for column in ("day", "rows", "drift share", "predictions drifted", "accuracy", "labelled",
                   "alerts"):  # fmt: skip
        table.add_column(column, justify="right" if column != "alerts" else "left")
    for day, run in enumerate(runs, start=1):
        v = run.values
        table.add_row(
            str(day), str(run.rows), _fmt(v.get("drift.share")),
            _yes_no(v.get("prediction_drift.drifted")), _fmt(v.get("performance.accuracy")),
            _fmt(v.get("performance.labelled"), digits=0),
            ", ".join(f"{e.rule} {e.kind}" for e in run.events) or "-",
        )  # fmt: skip
    return table


def _fmt(value: float | None, *, digits: int = 3) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.{digits}f}"


def _yes_no(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    return "yes" if value else "no"
