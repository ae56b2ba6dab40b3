"""The demo's serving step: a deployment with a canary, traffic, ground truth, the log.

The champion serves 80% of the traffic and the runner-up 20% as a canary, routed sticky by
patient id. The server is the app ``cycleml serve --deployment`` runs, served over real
HTTP on loopback from a thread of the demo's process: every patient of the validation split
is scored through ``POST /predict``, the true diagnoses come back through ``POST
/feedback``, and the prediction log, flushed when the server stops, is joined with them to
compare the two arms.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from cycleml.serving import (
    BatchingOptions,
    Deployments,
    ServerOptions,
    background_server,
    deployment_app,
    feedback,
    join_feedback,
    prediction_log,
)
from cycleml.settings import Settings

__all__ = ["DEPLOYMENT", "serve_demo"]

DEPLOYMENT = "breast-cancer-live"
MODEL_NAME = "breast-cancer-classifier"
CANARY_PERCENT = 20.0


def serve_demo(
    settings: Settings,
    frame: pd.DataFrame,
    *,
    champion_version: int,
    challenger_version: int,
    console: Console,
) -> str:
    """Deploy, serve, send traffic and labels, and print the prediction log's summary."""
    deployments = Deployments(settings)
    try:
        deployments.create(
            DEPLOYMENT,
            f"models:/{MODEL_NAME}/{champion_version}",
            canary=f"models:/{MODEL_NAME}/{challenger_version}",
            percent=CANARY_PERCENT,
            description="demo: champion with the runner-up as a canary",
        )
    finally:
        deployments.close()
    patients = frame.sample(frac=0.25, random_state=7).reset_index(drop=True)
    features = patients.drop(columns=["patient_id", "malignant"])
    import httpx

    # The server scores on a thread: a predict process is not worth it for one client.
    options = ServerOptions(batching=BatchingOptions(predict_process=False))
    app = deployment_app(DEPLOYMENT, settings=settings, options=options)
    with background_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        for i, row in enumerate(features.to_dict(orient="records")):
            key = str(patients["patient_id"].iloc[i])
            response = client.post(
                "/predict",
                json=[row],
                headers={"X-Request-ID": f"visit-{key}", "X-Request-Key": key},
            )
            response.raise_for_status()
        labels = [
            {"request_id": f"visit-{pid}", "label": int(label)}
            for pid, label in zip(patients["patient_id"], patients["malignant"], strict=True)
        ]
        client.post("/feedback", json=labels).raise_for_status()
    log = prediction_log(DEPLOYMENT, settings=settings)
    joined = join_feedback(log, feedback(DEPLOYMENT, settings=settings))
    console.print(
        f"7. Deployed [bold]{DEPLOYMENT}[/] (v{champion_version} primary, v{challenger_version} "
        f"canary at {CANARY_PERCENT:g}%), scored {len(patients)} patients over the REST API, "
        f"posted their diagnoses as feedback; the prediction log holds {log.num_rows} rows:"
    )
    console.print(_summary(joined))
    return DEPLOYMENT


def _summary(joined: Any) -> Table:
    table = Table(show_header=True, header_style="bold")
    for column in ("arm", "model version", "rows", "labelled", "accuracy", "mean latency ms"):
        table.add_column(column, justify="left" if column == "arm" else "right")
    frame = joined.select(["arm", "model_version", "outputs", "label", "latency_ms"]).to_pandas()
    frame["prediction"] = [json.loads(text)["prediction"] for text in frame["outputs"]]
    for (arm, version), group in frame.groupby(["arm", "model_version"]):
        labelled = group.dropna(subset=["label"])
        correct = (labelled["prediction"].astype(int) == labelled["label"].astype(int)).mean()
        table.add_row(str(arm), str(version), str(len(group)), str(len(labelled)),
                      f"{correct:.3f}" if len(labelled) else "-",
                      f"{group['latency_ms'].mean():.1f}")  # fmt: skip
    return table
