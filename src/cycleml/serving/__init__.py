"""Model serving (lifecycle stage 8): the model server, deployments, prediction log, batch scoring.

Serve a model or a deployment over HTTP (MLflow's ``/invocations``, Open Inference Protocol
v2, ``/predict``, ``/metrics``) with adaptive micro-batching::

    cycleml serve models:/churn@champion --port 5000
    cycleml deploy churn --model models:/churn@champion --canary models:/churn/7 --percent 10
    cycleml serve --deployment churn

In Python::

    from cycleml.serving import Deployments, model_app, prediction_log, score_batch

    Deployments().create("churn", "models:/churn@champion", canary="models:/churn/7", percent=10)
    app = model_app("models:/churn@champion")          # a FastAPI app (ASGI)
    log = prediction_log("churn", since="1h")          # every scored row, as Arrow
    score_batch("models:/churn/3", "input.parquet", "scored.parquet")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cycleml._lazy import lazy_exports

if TYPE_CHECKING:
    from cycleml.serving._app import DEFAULT_MAX_BODY_BYTES, REQUEST_KEY_HEADER, create_app
    from cycleml.serving._batch import BatchScoringReport, score_batch
    from cycleml.serving._batcher import BatchResult, MicroBatcher
    from cycleml.serving._deployments import (
        Deployment,
        DeploymentRevision,
        Deployments,
        route,
        route_point,
    )
    from cycleml.serving._feedback import RecordedFeedback, feedback, join_feedback, record_feedback
    from cycleml.serving._metrics import ServerMetrics
    from cycleml.serving._predlog import PREDICTION_LOG_SCHEMA, PredictionLogger, prediction_log
    from cycleml.serving._repository import DeploymentRepository, SqlDeploymentRepository
    from cycleml.serving._rest import RestDeploymentRepository
    from cycleml.serving._runner import background_server, run_server
    from cycleml.serving._scoring import Arms, BatchingOptions, ScoringService, ServedModel
    from cycleml.serving._serve import ServerOptions, deployment_app, model_app
    from cycleml.serving._sql_deployments import check_deployment_name
    from cycleml.serving._sql_predictions import FeedbackRecord, PredictionLogPart

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "PREDICTION_LOG_SCHEMA",
    "REQUEST_KEY_HEADER",
    "Arms",
    "BatchResult",
    "BatchScoringReport",
    "BatchingOptions",
    "Deployment",
    "DeploymentRepository",
    "DeploymentRevision",
    "Deployments",
    "FeedbackRecord",
    "MicroBatcher",
    "PredictionLogPart",
    "PredictionLogger",
    "RecordedFeedback",
    "RestDeploymentRepository",
    "ScoringService",
    "ServedModel",
    "ServerMetrics",
    "ServerOptions",
    "SqlDeploymentRepository",
    "background_server",
    "check_deployment_name",
    "create_app",
    "deployment_app",
    "feedback",
    "join_feedback",
    "model_app",
    "prediction_log",
    "record_feedback",
    "route",
    "route_point",
    "run_server",
    "score_batch",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(
            ["DEFAULT_MAX_BODY_BYTES", "REQUEST_KEY_HEADER", "create_app"], "cycleml.serving._app"
        ),
        **dict.fromkeys(["BatchScoringReport", "score_batch"], "cycleml.serving._batch"),
        **dict.fromkeys(["BatchResult", "MicroBatcher"], "cycleml.serving._batcher"),
        **dict.fromkeys(
            ["Deployment", "DeploymentRevision", "Deployments", "route", "route_point"],
            "cycleml.serving._deployments",
        ),
        **dict.fromkeys(
            ["RecordedFeedback", "feedback", "join_feedback", "record_feedback"],
            "cycleml.serving._feedback",
        ),
        **dict.fromkeys(["ServerMetrics"], "cycleml.serving._metrics"),
        **dict.fromkeys(
            ["DeploymentRepository", "SqlDeploymentRepository"], "cycleml.serving._repository"
        ),
        **dict.fromkeys(["RestDeploymentRepository"], "cycleml.serving._rest"),
        **dict.fromkeys(["check_deployment_name"], "cycleml.serving._sql_deployments"),
        **dict.fromkeys(
            ["FeedbackRecord", "PredictionLogPart"], "cycleml.serving._sql_predictions"
        ),
        **dict.fromkeys(
            ["PREDICTION_LOG_SCHEMA", "PredictionLogger", "prediction_log"],
            "cycleml.serving._predlog",
        ),
        **dict.fromkeys(["background_server", "run_server"], "cycleml.serving._runner"),
        **dict.fromkeys(
            ["Arms", "BatchingOptions", "ScoringService", "ServedModel"], "cycleml.serving._scoring"
        ),
        **dict.fromkeys(["ServerOptions", "deployment_app", "model_app"], "cycleml.serving._serve"),
    },
)
