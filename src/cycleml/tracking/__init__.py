"""Experiment tracking (lifecycle stage 7) with the names an MLflow user expects.

    import cycleml

    cycleml.set_experiment("churn")
    with cycleml.start_run(run_name="rf") as run:
        cycleml.log_params({"n_estimators": 200})
        for step in range(100):
            cycleml.log_metric("loss", 1 / (step + 1), step=step)  # buffered

The functions act on a default :class:`Tracker`, created on first use from the
environment and ``cycleml.yaml``; :func:`configure` points it elsewhere. For explicit,
stateless calls use :class:`TrackingClient`.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cycleml.errors import InvalidInput
from cycleml.settings import Settings
from cycleml.spec import project_settings
from cycleml.store import ArtifactEntry, DatasetRead, Subscription, subscribe_dataset_reads
from cycleml.tracking._autolog import MODEL_DIR, Autologger, ModelLogger, data_digest
from cycleml.tracking._client import DEFAULT_EXPERIMENT, TrackingClient, runs_to_frame
from cycleml.tracking._entities import (
    DatasetInput,
    Experiment,
    Metric,
    Run,
    RunData,
    RunInfo,
    RunStatus,
)
from cycleml.tracking._fluent import TRAIN_GATE_TAG, ActiveRun, Tracker
from cycleml.tracking._repository import RunRepository, SqlRunRepository
from cycleml.tracking._rest import RestRunRepository
from cycleml.tracking._sql_runs import check_params, param_conflict

if TYPE_CHECKING:
    import os

    import pandas as pd

__all__ = [
    "DEFAULT_EXPERIMENT",
    "MODEL_DIR",
    "TRAIN_GATE_TAG",
    "ActiveRun",
    "DatasetInput",
    "Experiment",
    "Metric",
    "ModelLogger",
    "RestRunRepository",
    "Run",
    "RunData",
    "RunInfo",
    "RunRepository",
    "RunStatus",
    "SqlRunRepository",
    "Tracker",
    "TrackingClient",
    "active_run",
    "autolog",
    "check_params",
    "configure",
    "data_digest",
    "end_run",
    "get_run",
    "get_tracker",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "param_conflict",
    "runs_to_frame",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
]


class _DefaultTracker:
    """Holds the process's default tracker; the one piece of state the fluent API needs.

    While it holds one, it subscribes to the kernel's dataset reads
    (:func:`cycleml.store.subscribe_dataset_reads`): a version read inside the tracker's
    active run on the reading thread is recorded with ``log_input``, so ``cycleml.data``
    records run inputs without importing tracking.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tracker: Tracker | None = None
        self._autologger: Autologger | None = None
        self._reads: Subscription | None = None

    def get(self) -> Tracker:
        tracker = self._tracker  # one attribute read: the path of every fluent call
        if tracker is not None:
            return tracker
        with self._lock:
            tracker = self._tracker
            if tracker is None:
                tracker = Tracker()
                self._set(tracker)
            return tracker

    def replace(self, tracker: Tracker | None) -> None:
        with self._lock:
            if self._autologger is not None:
                self._autologger.disable()
                self._autologger = None
            old = self._tracker
            self._set(tracker)
        if old is not None:
            old.close()

    def _set(self, tracker: Tracker | None) -> None:
        """Hold ``tracker`` (under the lock), subscribed to dataset reads while there is one."""
        self._tracker = tracker
        if tracker is not None and self._reads is None:
            self._reads = subscribe_dataset_reads(self._dataset_read)
        elif tracker is None and self._reads is not None:
            self._reads.close()
            self._reads = None

    def _dataset_read(self, dataset: DatasetRead) -> None:
        """A dataset version was read: the input of this thread's active run, if any."""
        with self._lock:
            tracker = self._tracker
        if tracker is not None and tracker.active_run() is not None:
            tracker.log_input(dataset)

    def autologger(self) -> Autologger:
        tracker = self.get()
        with self._lock:
            if self._autologger is None:
                self._autologger = Autologger(tracker)
            return self._autologger


_default = _DefaultTracker()


def get_tracker() -> Tracker:
    """The default tracker behind the module-level functions."""
    return _default.get()


def configure(
    settings: Settings | None = None,
    *,
    home: str | Path | None = None,
    metadata_uri: str | None = None,
    artifact_uri: str | None = None,
    flush_points: int = 1000,
    flush_seconds: float = 2.0,
    tracking_uri: str | None = None,
) -> Tracker:
    """Point the module-level functions at a project or stores; ends the previous tracker.

    Args:
        settings: Fully resolved settings (the other location arguments are then ignored).
        home: Project folder (its ``.cycleml`` holds the default stores).
        metadata_uri: Metadata store URI.
        artifact_uri: Artifact store URI.
        flush_points: Buffered metric points per run before a write.
        flush_seconds: Longest time a metric point waits in the buffer.
        tracking_uri: Where runs go: a database URI, or ``http(s)://host:port`` of a
            ``cycleml server`` (each buffer flush is then one request).
    """
    resolved = settings or project_settings(
        home=home, metadata_uri=metadata_uri, artifact_uri=artifact_uri, tracking_uri=tracking_uri
    )
    tracker = Tracker(resolved, flush_points=flush_points, flush_seconds=flush_seconds)
    _default.replace(tracker)
    return tracker


def set_experiment(
    experiment_name: str | None = None, experiment_id: str | None = None
) -> Experiment:
    """Make an experiment active (created by name when missing) and return it."""
    return _default.get().set_experiment(experiment_name, experiment_id=experiment_id)


def start_run(
    run_id: str | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> ActiveRun:
    """Start (or resume) a run; use as ``with cycleml.start_run(...) as run:``."""
    return _default.get().start_run(
        run_id,
        experiment=experiment,
        run_name=run_name,
        nested=nested,
        tags=tags,
        description=description,
    )


def end_run(status: str = "FINISHED") -> None:
    """End the active run (flushing its buffered metrics)."""
    _default.get().end_run(status)


def active_run() -> ActiveRun | None:
    """The active run of this thread, or ``None``."""
    return _default.get().active_run()


def log_param(key: str, value: Any) -> Any:
    """Log a param of the active run (immutable once set); returns the value."""
    return _default.get().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Log params of the active run in one write."""
    _default.get().log_params(params)


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: int | None = None
) -> None:
    """Log a metric point of the active run (buffered, written in batches)."""
    _default.get().log_metric(key, value, step, timestamp)


def log_metrics(
    metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None
) -> None:
    """Log metric points of the active run at one step (buffered)."""
    _default.get().log_metrics(metrics, step, timestamp)


def set_tag(key: str, value: Any) -> None:
    """Set a tag of the active run."""
    _default.get().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set tags of the active run."""
    _default.get().set_tags(tags)


def log_input(dataset: DatasetInput, context: str = "training") -> None:
    """Record that the active run reads a dataset version (``datasets:/name/N``)."""
    _default.get().log_input(dataset, context=context)


def log_artifact(
    local_path: str | os.PathLike[str], artifact_path: str | None = None
) -> ArtifactEntry:
    """Store a local file with the active run."""
    return _default.get().log_artifact(local_path, artifact_path)


def log_artifacts(
    local_dir: str | os.PathLike[str], artifact_path: str | None = None
) -> list[ArtifactEntry]:
    """Store a local folder's files with the active run."""
    return _default.get().log_artifacts(local_dir, artifact_path)


def log_dict(dictionary: Mapping[str, Any], artifact_file: str) -> ArtifactEntry:
    """Store a dict as JSON (YAML for .yaml/.yml) with the active run."""
    return _default.get().log_dict(dictionary, artifact_file)


def log_text(text: str, artifact_file: str) -> ArtifactEntry:
    """Store text with the active run."""
    return _default.get().log_text(text, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> ArtifactEntry:
    """Store a matplotlib or plotly figure with the active run."""
    return _default.get().log_figure(figure, artifact_file)


def get_run(run_id: str) -> Run:
    """A run's current state."""
    return _default.get().get_run(run_id)


def search_runs(
    experiment_ids: Sequence[str] | None = None,
    filter_string: str = "",
    order_by: Sequence[str] | None = None,
    max_results: int = 1000,
    page_token: str | None = None,
    experiment_names: Sequence[str] | None = None,
    output: Literal["list", "pandas"] = "list",
) -> list[Run] | pd.DataFrame:
    """Search runs with MLflow's filter grammar (see :meth:`TrackingClient.search_runs`).

    With neither ``experiment_ids`` nor ``experiment_names``, searches the active
    experiment if one is set, else every active experiment.
    """
    if output not in ("list", "pandas"):
        raise InvalidInput(f"Invalid output {output!r}: expected 'list' or 'pandas'.")
    tracker = _default.get()
    tracker.flush()
    if experiment_ids is None and experiment_names is None and tracker._experiment_id:
        experiment_ids = [tracker._experiment_id]
    found = tracker.client.search_runs(
        experiment_ids, filter_string, order_by, max_results, page_token, experiment_names
    )
    return runs_to_frame(found) if output == "pandas" else found


def autolog(
    *,
    disable: bool = False,
    log_models: bool = True,
    log_training_metrics: bool = True,
    model_logger: ModelLogger | None = None,
) -> None:
    """Turn scikit-learn autologging on (or off with ``disable=True``) for the default tracker.

    Every ``fit`` then logs the estimator's params, training metrics and the training
    data's shape and content hash; the fitted model is logged by ``model_logger``.
    Use ``cycleml.autolog()``, which passes the one that writes a servable model folder
    (``cycleml.models``); called here without ``model_logger``, no model is logged.
    """
    autologger = _default.autologger()
    if disable:
        autologger.disable()
        return
    if log_models and model_logger is None and autologger.model_logger is None:
        warnings.warn(
            "cycleml.tracking.autolog() logs no model without model_logger=: use "
            "cycleml.autolog(), which logs a servable model folder under 'model'.",
            DeprecationWarning,
            stacklevel=2,
        )
    if model_logger is not None:
        autologger.model_logger = model_logger
    autologger.enable(log_models=log_models, log_training_metrics=log_training_metrics)
