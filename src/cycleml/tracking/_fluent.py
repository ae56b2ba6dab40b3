"""The "active run" API: ``start_run``, ``log_metric``, ``end_run`` ... (MLflow's fluent API).

All process state lives in one :class:`Tracker` object: the settings, the client, the
metric buffer and a per-thread stack of active runs. The module-level functions in
``cycleml.tracking`` delegate to the default tracker, created on first use from the
environment and ``cycleml.yaml``; :func:`configure` replaces it explicitly.
"""

from __future__ import annotations

import atexit
import io
import json
import operator
import os
import sys
import threading
import traceback
import weakref
from collections.abc import Mapping
from pathlib import Path
from time import time_ns
from types import TracebackType
from typing import Any, Literal

from cycleml.errors import InvalidInput, InvalidState
from cycleml.settings import PROJECT_FILE, Settings
from cycleml.spec import ProjectSpec, check_gates, load_project, load_spec
from cycleml.store import ArtifactEntry
from cycleml.tracking._buffer import PendingBatch, RunBuffer
from cycleml.tracking._client import DEFAULT_EXPERIMENT, TrackingClient
from cycleml.tracking._context import TAG_PREFIX, capture_context
from cycleml.tracking._entities import DatasetInput, Experiment, Run, RunStatus
from cycleml.tracking._sql_runs import check_params, param_conflict
from cycleml.validation import check_key

__all__ = ["TRAIN_GATE_TAG", "ActiveRun", "Tracker"]

_PARENT_TAG = f"{TAG_PREFIX}parentRunId"
#: Tag set on finished runs when the spec has training gates: "passed" or "failed".
TRAIN_GATE_TAG = f"{TAG_PREFIX}gates.train"


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _metric_step(step: Any) -> int:
    try:
        at = 0 if step is None else operator.index(step)
    except TypeError as exc:
        raise InvalidInput(f"Invalid metric step: expected an integer, got {step!r}.") from exc
    if not _INT64_MIN <= at <= _INT64_MAX:
        raise InvalidInput(f"Invalid metric step {at}: it must fit in 64 bits.")
    return at


def _metric_value(key: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(
            f"Invalid value for metric {key!r}: expected a number, got {value!r}."
        ) from exc


class ActiveRun:
    """A run started by :meth:`Tracker.start_run`; use it as a context manager.

    Leaving the ``with`` block ends the run: FINISHED normally, FAILED (with the error
    recorded) on an exception, KILLED on ``KeyboardInterrupt``.
    """

    def __init__(self, run: Run, tracker: Tracker) -> None:
        self._run = run
        self._tracker = tracker
        self._run_id = run.info.run_id  # read by every log_metrics call

    @property
    def info(self) -> Any:
        """The run's attributes as when it started (``run_id``, ``experiment_id`` ...)."""
        return self._run.info

    @property
    def data(self) -> Any:
        """The run's data as when it started; call ``get_run`` for fresh values."""
        return self._run.data

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self._run_id

    def __repr__(self) -> str:
        return f"<ActiveRun run_id={self.run_id} name={self._run.info.run_name!r}>"

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if self.run_id not in self._tracker._all_active:
            return False  # already ended inside the block (end_run): keep its status
        if exc_type is None:
            self._tracker.end_run(RunStatus.FINISHED.value, run_id=self.run_id)
        elif issubclass(exc_type, KeyboardInterrupt):
            self._tracker.end_run(
                RunStatus.KILLED.value, run_id=self.run_id, error="KeyboardInterrupt"
            )
        else:
            text = "".join(traceback.format_exception(exc_type, exc, tb))[-4000:]
            self._tracker.end_run(RunStatus.FAILED.value, run_id=self.run_id, error=text)
        return False


class Tracker:
    """Holds the state of the active-run API for one process.

    Args:
        settings: Where to track; default: resolved from the environment and cycleml.yaml.
        client: An existing client to use (its settings win).
        flush_points: Flush a run's buffer at this many entries (metric points, params, tags).
        flush_seconds: Flush entries that have waited this long.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        client: TrackingClient | None = None,
        flush_points: int = 1000,
        flush_seconds: float = 2.0,
    ) -> None:
        self._settings = settings
        self._client = client
        self._spec: ProjectSpec | None = None
        self._spec_loaded = False
        self._local = threading.local()
        self._lock = threading.RLock()
        self._experiment_id: str | None = None
        self._context: dict[str, str] | None = None
        self._all_active: dict[str, ActiveRun] = {}
        self._closed = False
        # Params logged through this tracker, per run it created: a conflicting re-log is
        # refused at the call even though the write itself is buffered.
        self._own_params: dict[str, dict[str, str]] = {}
        self._metric_keys: set[str] = set()  # keys already validated
        self.buffer = RunBuffer(self._write_batch, max_items=flush_points, max_delay=flush_seconds)
        # A weak reference: the exit hook must not keep a replaced tracker alive.
        ref = weakref.ref(self)

        def exit_hook() -> None:
            tracker = ref()
            if tracker is not None:
                tracker._at_exit()

        atexit.register(exit_hook)
        _ExceptHook.install()

    # ---- plumbing --------------------------------------------------------------------
    @property
    def client(self) -> TrackingClient:
        """The client (opened on first use)."""
        with self._lock:
            if self._client is None:
                if self._settings is None:
                    settings, self._spec = load_project()
                    self._spec_loaded = True
                else:
                    settings = self._settings
                self._client = TrackingClient(settings)
            return self._client

    @property
    def spec(self) -> ProjectSpec | None:
        """The project spec whose ``applies_to: train`` metrics gate finished runs."""
        client = self.client
        with self._lock:
            if not self._spec_loaded:
                self._spec_loaded = True
                spec_file = client.settings.home / PROJECT_FILE
                self._spec = load_spec(spec_file) if spec_file.is_file() else None
        return self._spec

    def _stack(self) -> list[ActiveRun]:
        stack: list[ActiveRun] | None = getattr(self._local, "stack", None)
        if stack is None:
            stack = []
            self._local.stack = stack
        return stack

    def _write_batch(self, run_id: str, batch: PendingBatch) -> None:
        self.client.repository.log_batch(
            run_id, metrics=batch.metrics, params=batch.params, tags=batch.tags
        )

    def _context_tags(self) -> dict[str, str]:
        with self._lock:
            if self._context is None:
                self._context = capture_context(self.client.settings.actor)
        return {**self._context, f"{TAG_PREFIX}pid": str(os.getpid())}

    def _run_id(self, run_id: str | None = None) -> str:
        if run_id is not None:
            return run_id
        stack = self._stack()
        if not stack:
            # MLflow starts a run implicitly when something is logged without one.
            self.start_run()
        return self._stack()[-1].run_id

    # ---- experiments -----------------------------------------------------------------
    def set_experiment(
        self, experiment_name: str | None = None, *, experiment_id: str | None = None
    ) -> Experiment:
        """Make an experiment the active one, creating it by name when missing."""
        if (experiment_name is None) == (experiment_id is None):
            raise InvalidInput(
                "set_experiment needs exactly one of experiment_name or experiment_id.",
                hint="For example set_experiment('churn').",
            )
        if experiment_id is not None:
            experiment = self.client.get_experiment(experiment_id)
            if experiment.lifecycle_stage != "active":
                raise InvalidState(f"Experiment {experiment.name!r} is deleted.")
        else:
            experiment = self.client.get_or_create_experiment(str(experiment_name))
        self._experiment_id = experiment.experiment_id
        return experiment

    def _active_experiment_id(self, experiment: str | None) -> str:
        if experiment is not None:
            found = self.client.get_experiment_by_name(experiment)
            if found is not None:
                return found.experiment_id
            if len(experiment) == 32:
                try:
                    return self.client.get_experiment(experiment).experiment_id
                except KeyError:
                    pass
            return self.client.get_or_create_experiment(experiment).experiment_id
        if self._experiment_id is None:
            name = self.client.settings.experiment_name or DEFAULT_EXPERIMENT
            self._experiment_id = self.client.get_or_create_experiment(name).experiment_id
        return self._experiment_id

    # ---- runs ------------------------------------------------------------------------
    def start_run(
        self,
        run_id: str | None = None,
        *,
        experiment: str | None = None,
        run_name: str | None = None,
        nested: bool = False,
        tags: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> ActiveRun:
        """Start a new run (or resume ``run_id``) and make it the active run.

        Args:
            run_id: Resume this existing run instead of creating one.
            experiment: Experiment name or id; default: the one set by ``set_experiment``.
            run_name: Human-facing name; default: generated.
            nested: Start a child of the active run (otherwise an active run is an error).
            tags: Extra tags for the run.
            description: Stored as the ``cycleml.note.content`` tag.
        """
        stack = self._stack()
        if stack and not nested:
            raise InvalidState(
                f"Run {stack[-1].run_id} is already active.",
                hint="End it with end_run(), or pass nested=True to start a child run.",
            )
        if run_id is not None:
            run = self.client.get_run(run_id)
            if run.info.status != RunStatus.RUNNING.value:
                self.client.repository.update_run(run_id, status=RunStatus.RUNNING.value)
                run = self.client.get_run(run_id)
        else:
            all_tags = {**self._context_tags(), **{k: str(v) for k, v in (tags or {}).items()}}
            if description:
                all_tags[f"{TAG_PREFIX}note.content"] = description
            parent = stack[-1].run_id if stack else None
            if parent:
                all_tags[_PARENT_TAG] = parent
            run = self.client.repository.create_run(
                experiment_id=self._active_experiment_id(experiment),
                run_name=run_name,
                tags=all_tags,
                parent_run_id=parent,
            )
            self._own_params[run.info.run_id] = {}
        active = ActiveRun(run, self)
        stack.append(active)
        with self._lock:
            self._all_active[active.run_id] = active
        return active

    def active_run(self) -> ActiveRun | None:
        """The innermost active run of this thread, or ``None``."""
        stack = self._stack()
        return stack[-1] if stack else None

    def end_run(
        self,
        status: str = RunStatus.FINISHED.value,
        *,
        run_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Flush the run's buffered metrics and end it (the innermost active run by default)."""
        final = RunStatus(status)
        stack = self._stack()
        target = run_id or (stack[-1].run_id if stack else None)
        if target is None:
            return
        # Children still open end with their parent, as in MLflow. A run that is not on this
        # thread's stack (ended by id, e.g. from another thread) ends alone.
        children: list[str] = []
        if any(active.run_id == target for active in stack):
            while stack[-1].run_id != target:
                children.append(stack.pop().run_id)
            stack.pop()
        for ending in [*children, target]:
            self._all_active.pop(ending, None)
            self._own_params.pop(ending, None)
            self._finish(ending, final.value, error)
            if final is RunStatus.FINISHED:
                self._tag_train_gates(ending)

    def _tag_train_gates(self, run_id: str) -> None:
        """Record the spec's training gates on a finished run (``cycleml.gates.train``)."""
        spec = self.spec
        gates = [m for m in (spec.metrics_for("train") if spec else []) if m.threshold is not None]
        if not gates:
            return
        run = self.client.repository.get_run(run_id)
        report = check_gates(run.data.metrics, gates, name=run.info.run_name, version=0)
        self.client.repository.log_batch(
            run_id,
            tags={
                TRAIN_GATE_TAG: "passed" if report.passed else "failed",
                f"{TRAIN_GATE_TAG}.failures": json.dumps([f.reason for f in report.failures]),
            },
        )

    def _finish(self, run_id: str, status: str, error: str | None) -> None:
        """Write what waits for the run and end it, in one transaction."""
        batch = self.buffer.take(run_id)
        try:
            self.client.repository.update_run(
                run_id,
                status=status,
                error=error,
                metrics=batch.metrics,
                params=batch.params,
                tags=batch.tags,
            )
        except BaseException:
            self.buffer.put_back(run_id, batch)
            raise

    def get_run(self, run_id: str) -> Run:
        """A run's current state (flushes its buffered metrics first)."""
        self.buffer.flush(run_id)
        return self.client.get_run(run_id)

    # ---- logging ---------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> Any:
        """Log one param of the active run; returns the value."""
        self.log_params({key: value})
        return value

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params of the active run; params are immutable once logged.

        For runs this tracker started, the params are buffered and a different value for
        a key already logged raises :class:`ParamConflict` here, at the call; the database
        checks again when the batch is written. For resumed runs they are written now.
        """
        run_id = self._run_id()
        clean = check_params(params)
        known = self._own_params.get(run_id)
        if known is None:
            self.client.log_batch(run_id, params=clean)
            return
        conflicts = {k: (known[k], v) for k, v in clean.items() if k in known and known[k] != v}
        if conflicts:
            raise param_conflict(run_id, conflicts)
        known.update(clean)
        self.buffer.add(run_id, params=clean)

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Buffer one metric point of the active run."""
        self.log_metrics({key: value}, step, timestamp)

    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Buffer metric points of the active run at one step.

        Points are validated here, not when the buffer is written: a bad point would
        otherwise fail the whole batch, good points with it.
        """
        # The hot path of a training loop: a few C-level operations per call, no tuple per
        # point (the buffer keeps columns), keys checked once per tracker.
        # now_ms(), inlined: milliseconds since the epoch.
        stamp = time_ns() // 1_000_000 if timestamp is None else _metric_step(timestamp)
        at = step if type(step) is int and _INT64_MIN <= step <= _INT64_MAX else _metric_step(step)
        if not metrics.keys() <= self._metric_keys:
            for key in metrics:
                check_key(key, "metric")
            self._metric_keys.update(metrics)
        values = [*metrics.values()]
        for value in values:
            if type(value) is not float:
                values = [_metric_value(k, v) for k, v in metrics.items()]
                break
        stack: list[ActiveRun] | None = getattr(self._local, "stack", None)
        run_id = stack[-1]._run_id if stack else self._run_id()
        self.buffer.add_step(run_id, metrics.keys(), values, at, stamp)

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag of the active run (buffered)."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags of the active run (buffered; the last value of a key wins)."""
        clean = {check_key(k, "tag"): str(v) for k, v in tags.items()}
        self.buffer.add(self._run_id(), tags=clean)

    def log_input(self, dataset: DatasetInput, *, context: str = "training") -> None:
        """Record that the active run reads a dataset version (lineage and a run tag)."""
        run_id = self._run_id()
        self.client.repository.record_input(
            run_id,
            "dataset_version",
            f"{dataset.name}/{dataset.version}",
            payload={"dataset": dataset.uri, "digest": dataset.digest, "context": context},
        )
        self.set_tags({f"{TAG_PREFIX}input.{dataset.name}": f"{dataset.uri} {dataset.digest[:16]}"})

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> ArtifactEntry:
        """Store a local file with the active run."""
        return self.client.log_artifact(self._run_id(), local_path, artifact_path)

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactEntry]:
        """Store a local folder's files with the active run."""
        return self.client.log_artifacts(self._run_id(), local_dir, artifact_path)

    def log_dict(self, dictionary: Mapping[str, Any], artifact_file: str) -> ArtifactEntry:
        """Store a dict as JSON (or YAML for .yaml/.yml) with the active run."""
        return self.client.log_dict(self._run_id(), dictionary, artifact_file)

    def log_text(self, text: str, artifact_file: str) -> ArtifactEntry:
        """Store text with the active run."""
        return self.client.log_text(self._run_id(), text, artifact_file)

    def log_figure(self, figure: Any, artifact_file: str) -> ArtifactEntry:
        """Store a matplotlib (PNG/SVG/PDF/JPEG) or plotly (HTML/JSON) figure."""
        suffix = Path(artifact_file).suffix.lower()
        module = type(figure).__module__
        # Check for the methods used too: an Axes or a plotly trace is not a figure.
        if module.startswith("matplotlib") and hasattr(figure, "savefig"):
            formats = {".png": "png", ".svg": "svg", ".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpg"}
            if suffix not in formats:
                raise InvalidInput(
                    f"Cannot save a matplotlib figure as {artifact_file!r}: unknown extension.",
                    hint=f"Use one of {', '.join(formats)}.",
                )
            buffer = io.BytesIO()
            figure.savefig(buffer, format=formats[suffix], bbox_inches="tight")
            return self.client.log_bytes(self._run_id(), buffer.getvalue(), artifact_file)
        if module.startswith("plotly") and hasattr(figure, "to_html"):
            if suffix in (".html", ".htm"):
                html = figure.to_html(include_plotlyjs="cdn", full_html=True)
                return self.client.log_text(self._run_id(), html, artifact_file)
            if suffix == ".json":
                return self.client.log_text(self._run_id(), figure.to_json(), artifact_file)
            raise InvalidInput(
                f"Cannot save a plotly figure as {artifact_file!r}: unknown extension.",
                hint="Use .html or .json (image export needs kaleido, which is not required).",
            )
        raise InvalidInput(
            f"log_figure expects a matplotlib or plotly figure, got {type(figure).__name__}.",
            hint="Pass a matplotlib.figure.Figure or a plotly.graph_objects.Figure.",
        )

    def flush(self) -> None:
        """Write every buffered metric point now."""
        self.buffer.flush()

    # ---- shutdown --------------------------------------------------------------------
    def _at_exit(self) -> None:
        if self._closed:
            return
        self._closed = True
        failed = _ExceptHook.last_error
        status = RunStatus.FAILED.value if failed else RunStatus.FINISHED.value
        for run_id in list(self._all_active):
            try:
                self._finish(run_id, status, failed)
            except Exception as exc:  # report, never hide, a last write that failed
                print(f"cycleml: could not end run {run_id} at exit: {exc}", file=sys.stderr)
        self._all_active.clear()
        try:
            self.buffer.close()
        except Exception as exc:
            print(f"cycleml: could not write buffered entries at exit: {exc}", file=sys.stderr)

    def close(self) -> None:
        """End active runs (FINISHED), flush buffers and release the store."""
        for run_id in list(self._all_active):
            if run_id in self._all_active:  # not already ended with its parent
                self.end_run(run_id=run_id)
        self.buffer.close()
        self._closed = True
        if self._client is not None:
            self._client.close()


class _ExceptHook:
    """Remembers an uncaught exception so the exit hook marks open runs FAILED."""

    last_error: str | None = None
    _installed = False

    @classmethod
    def install(cls) -> None:
        if cls._installed:
            return
        cls._installed = True
        previous = sys.excepthook

        def hook(
            exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
        ) -> None:
            cls.last_error = "".join(traceback.format_exception(exc_type, exc, tb))[-4000:]
            previous(exc_type, exc, tb)

        sys.excepthook = hook
