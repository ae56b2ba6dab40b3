"""The monitor service: stored references, monitors, their evaluations and alerts.

A monitor binds a target (a deployment, whose prediction log it reads, or a pinned model
version, fed batches), a stored reference profile, checks and a window. :meth:`Monitors.run`
evaluates every complete window since the monitor's watermark: it reads the prediction log,
joins the labels that have arrived, runs the checks, stores the metrics as a time series
(with lineage from the prediction-log parts it read), steps the alert rules and notifies.
The watermark moves in the same transaction as the evaluation is stored, so a crash never
evaluates a window twice or skips one.
"""

from __future__ import annotations

import builtins
import itertools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cycleml._api import deprecated_method
from cycleml.data import Datasets
from cycleml.errors import InvalidInput, NotFound
from cycleml.ids import new_id
from cycleml.monitoring._alerts import AlertEngine, AlertEvent, AlertRule
from cycleml.monitoring._config import MonitorConfig, parse_window
from cycleml.monitoring._evaluate import WindowResult, evaluate_window, flat_summary
from cycleml.monitoring._inputs import as_table
from cycleml.monitoring._logs import expand_log
from cycleml.monitoring._notify import Notifier, notifier_from_config
from cycleml.monitoring._performance import performance
from cycleml.monitoring._reference import ReferenceProfile, reference
from cycleml.monitoring._report import build_report, served_models
from cycleml.monitoring._repository import MonitorRepository, SqlMonitorRepository
from cycleml.monitoring._rest import RestMonitorRepository
from cycleml.monitoring._sql_alerts import AlertEventRecord
from cycleml.monitoring._sql_evaluations import MonitorPoint
from cycleml.monitoring._sql_monitors import Monitor, MonitorReference
from cycleml.reports import IncludePlotlyJS, render_monitoring_html, write_html
from cycleml.serving import (
    DeploymentRepository,
    RestDeploymentRepository,
    SqlDeploymentRepository,
    feedback,
    join_feedback,
    prediction_log,
)
from cycleml.settings import Settings
from cycleml.spec import (
    FAIRNESS_METRICS,
    MetricSpec,
    ProjectSpec,
    load_project,
    project_settings,
)
from cycleml.store import ArtifactStore, Database, database_of, open_artifact_store, open_database
from cycleml.time import TimeLike, now_ms, to_ms

__all__ = ["MonitorRun", "Monitors"]

_log = logging.getLogger(__name__)
_HISTORY_WINDOWS = 20  # earlier windows the row-count check compares with


@dataclass(frozen=True)
class MonitorRun:
    """One evaluated window: where it lies, what it measured, which alerts it raised."""

    monitor: str
    evaluation_id: str
    window_start: int
    window_end: int
    rows: int
    status: str
    values: dict[str, float]
    reports: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    events: tuple[AlertEvent, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without the full reports)."""
        return {
            "monitor": self.monitor,
            "evaluation_id": self.evaluation_id,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "rows": self.rows,
            "status": self.status,
            "values": {k: (None if np.isnan(v) else v) for k, v in self.values.items()},
            "errors": dict(self.errors),
            "events": [event.to_dict() for event in self.events],
        }


class Monitors:
    """Create, run and inspect monitors.

    Args:
        settings: Where the stores are; default: the project's settings.
        repository: The repository to use; default: :class:`RestMonitorRepository` on the
            ``cycleml server`` an http(s) tracking URI names (with the settings' tracking
            token), else :class:`SqlMonitorRepository` on ``store``.
        deployments: Serving's repository (deployments, the prediction log, feedback, the
            registry reads); default: the same backend's.
        store: An open database to use instead of opening one from settings.
        artifacts: An open artifact store to use.
        notifiers: Extra notifiers by name (e.g. a Python callable as a retraining hook),
            next to the ones a monitor's configuration describes.
        spec: The project's spec; default: the ``cycleml.yaml`` of the settings' home.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        repository: MonitorRepository | None = None,
        deployments: DeploymentRepository | None = None,
        store: Database | None = None,
        artifacts: ArtifactStore | None = None,
        notifiers: Mapping[str, Notifier] | None = None,
        spec: ProjectSpec | None = None,
    ) -> None:
        self.settings = settings or project_settings()
        # The project's spec names the sensitive attributes and the metrics that apply to
        # `monitor`; monitoring also works outside a project (no spec).
        self.spec = spec if spec is not None else load_project(home=self.settings.home)[1]
        self._owns_store = store is None and repository is None
        self._owned: builtins.list[MonitorRepository | DeploymentRepository] = []
        db = store or database_of(repository) or database_of(deployments)
        url = self.settings.tracking_uri
        if db is None and url.startswith(("http://", "https://")):
            # A team server: monitors and serving's reads through its API, no database here.
            token = self.settings.tracking_token
            if deployments is None:
                deployments = RestDeploymentRepository(url, token=token)
                self._owned.append(deployments)
            if repository is None:
                repository = RestMonitorRepository(url, token=token)
                self._owned.append(repository)
        elif db is None:
            db = open_database(self.settings)
        #: The database the stores share (SQL backends; ``None`` through a team server),
        #: passed on to the data and serving reads this service makes.
        self.db: Database | None = db
        #: Serving's repository: deployments, their prediction log and the registry reads.
        self.deployments: DeploymentRepository = deployments or SqlDeploymentRepository(
            _database(db)
        )
        self.repository: MonitorRepository = repository or SqlMonitorRepository(
            _database(db), models=self.deployments, deployments=self.deployments
        )
        self.artifacts = artifacts or open_artifact_store(self.settings.artifact_uri)
        self._extra_notifiers = dict(notifiers or {})
        self._profiles: dict[str, ReferenceProfile] = {}

    def close(self) -> None:
        """Close the metadata store (or the server connections) if this object opened it."""
        if self._owned:
            for opened in self._owned:
                opened.close()
        elif self._owns_store:
            self.repository.close()

    def __enter__(self) -> Monitors:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- references ------------------------------------------------------------------------
    def save_reference(
        self,
        data: Any,
        *,
        model: str | None = None,
        name: str | None = None,
        **options: Any,
    ) -> MonitorReference:
        """Profile ``data`` (or take a :class:`ReferenceProfile`) and store it.

        Args:
            data: Raw reference data (DataFrame, Arrow table, Parquet path, ``datasets:/``
                URI) or a profile already computed.
            model: The model version it belongs to (``models:/name/3`` or an alias, resolved
                now); recorded as lineage ``model_version --profiled_as--> reference``.
            name: An optional name to find it by.
            **options: Passed to :func:`reference` (``columns``, ``sample_size``, ...).
        """
        data, sources = self._readable(data)
        profile = data if isinstance(data, ReferenceProfile) else reference(data, **options)
        blob = self.artifacts.put_bytes(profile.to_json().encode())
        model_name = model_version = None
        if model is not None:
            version = self.deployments.resolve_model_uri(model)
            model_name, model_version = version.name, version.version
        stored = self.repository.create_monitor_reference(
            blob.digest,
            rows=profile.rows,
            model_name=model_name,
            model_version=model_version,
            name=name,
            sources=sources,
        )
        self._profiles[stored.id] = profile
        return stored

    def _readable(self, data: Any) -> tuple[Any, builtins.list[tuple[str, str]]]:
        """``data`` as the checks read it, and the lineage sources it names: a
        ``datasets:/`` URI becomes its version's Parquet parts, from this service's stores."""
        if isinstance(data, str) and data.startswith("datasets:/"):
            datasets = Datasets(
                self.settings, store=self.db, artifacts=self.artifacts, spec=self.spec
            )
            version = datasets.get(data)
            paths = datasets.list_part_paths(version)
            if not paths:
                raise InvalidInput(f"Dataset version {data!r} has no rows.")
            return paths, [("dataset_version", version.version_id)]
        return data, []

    def load_reference(self, ref: str) -> ReferenceProfile:
        """The stored profile with id or name ``ref``."""
        meta = self.repository.get_monitor_reference(ref)
        if meta.id not in self._profiles:
            text = self.artifacts.get_bytes(meta.digest).decode()
            self._profiles[meta.id] = ReferenceProfile.from_json(text)
        return self._profiles[meta.id]

    # ---- monitors --------------------------------------------------------------------------
    def create(
        self,
        name: str,
        *,
        target: str,
        reference: str | None = None,
        config: MonitorConfig | Mapping[str, Any] | None = None,
        **settings: Any,
    ) -> Monitor:
        """Create a monitor of ``target`` (a deployment name or a ``models:/`` URI).

        Args:
            name: The monitor's unique name.
            target: What it watches.
            reference: The stored reference's id or name (see :meth:`save_reference`).
            config: A :class:`MonitorConfig` (or its dict); or give its fields as keyword
                arguments (``checks=``, ``window=``, ``rules=``, ``notifications=``, ...).

        The project's metrics that apply to ``monitor`` become alert rules on
        ``performance.<metric>`` unless a rule on that metric is given.
        """
        cfg = _config(config, settings)
        cfg = self._with_spec_rules(cfg)
        return self.repository.create_monitor(
            name, target, reference=reference, config=cfg.to_dict()
        )

    def get(self, name: str) -> Monitor:
        """The monitor called ``name``."""
        return self.repository.get_monitor(name)

    def list(self) -> builtins.list[Monitor]:
        """Every monitor, by name."""
        return self.repository.list_monitors()

    def delete(self, name: str) -> None:
        """Delete a monitor with its evaluations and alert state (the audit log and the
        lineage keep what it did)."""
        self.repository.delete_monitor(name)

    def get_config(self, name: str) -> MonitorConfig:
        """The monitor's configuration."""
        return MonitorConfig.from_dict(self.get(name).config)

    config = deprecated_method(get_config, "config", "Monitors")

    def _with_spec_rules(self, cfg: MonitorConfig) -> MonitorConfig:
        """Add alert rules for the project's thresholds: its metrics that apply to
        ``monitor`` (on ``performance.<metric>``) and its fairness thresholds (on
        ``fairness.<attribute>.<measure>``), unless a rule on that metric is given."""
        ruled = {rule.get("metric") for rule in cfg.rules}
        wanted: list[tuple[str, str, str, float]] = []  # rule name, metric, direction, limit
        if "performance" in cfg.checks:
            for spec in self._monitor_metrics():
                if spec.threshold is not None:
                    wanted.append((f"{spec.name}-threshold", f"performance.{spec.name}",
                                   spec.direction, float(spec.threshold)))  # fmt: skip
        if "fairness" in cfg.checks:
            sensitive = cfg.fairness.get("sensitive") or self._sensitive()
            for attribute in [sensitive] if isinstance(sensitive, str) else sensitive:
                for measure, limit in self._fairness_thresholds().items():
                    wanted.append((f"{attribute}-{measure}", f"fairness.{attribute}.{measure}",
                                   FAIRNESS_METRICS[measure], limit))  # fmt: skip
        extra = [
            {"name": name, "metric": metric, "threshold": limit, "notify": ["log"],
             "operator": "<" if direction == "maximize" else ">"}
            for name, metric, direction, limit in wanted
            if metric not in ruled
        ]  # fmt: skip
        if not extra:
            return cfg
        return MonitorConfig.from_dict({**cfg.to_dict(), "rules": [*cfg.rules, *extra]})

    # ---- evaluation ------------------------------------------------------------------------
    def run(
        self,
        name: str,
        *,
        data: Any = None,
        now: TimeLike | None = None,
        final: bool = False,
    ) -> builtins.list[MonitorRun]:
        """Evaluate the monitor's complete windows that are new since its watermark.

        Args:
            name: The monitor.
            data: For batch use: evaluate this table (any form :func:`reference` accepts,
                with ``label``/``prediction`` columns where the checks need them) as one
                window, instead of reading the prediction log.
            now: The time to evaluate at: ms since the epoch, a datetime (naive = UTC), a
                date, ISO-8601 text, or a duration meaning that long ago
                (:func:`cycleml.time.to_ms`); default: the clock.
            final: Also evaluate the last, incomplete window (e.g. when traffic stopped).

        Returns:
            One :class:`MonitorRun` per evaluated window, oldest first.
        """
        monitor = self.get(name)
        cfg = MonitorConfig.from_dict(monitor.config)
        profile = self.load_reference(monitor.reference_id) if monitor.reference_id else None
        stamp = _now(now)
        if data is not None:
            readable, sources = self._readable(data)
            table = as_table(readable)
            start = monitor.watermark if monitor.watermark is not None else stamp
            return [self._evaluate(monitor, cfg, profile, table, start, stamp, sources, None)]
        if monitor.target_kind != "deployment":
            raise InvalidInput(
                f"Monitor {name!r} watches {monitor.target}, which has no prediction log.",
                hint="Pass the data to evaluate: run(name, data=...) or --data PATH.",
            )
        runs = []
        for table, start, end, watermark, parts in self._windows(monitor, cfg, stamp, final):
            runs.append(self._evaluate(monitor, cfg, profile, table, start, end, parts, watermark))
        return runs

    def _windows(
        self, monitor: Monitor, cfg: MonitorConfig, now: int, final: bool
    ) -> Iterator[tuple[pa.Table, int, int, int, builtins.list[tuple[str, str]]]]:
        """The complete windows of the prediction log after the watermark."""
        kind, size = parse_window(cfg.window)
        until = now - int(cfg.lag * 1000)
        since = monitor.watermark
        log = prediction_log(
            monitor.target,
            since=since,
            until=until,
            settings=self.settings,
            store=self.db,
            artifacts=self.artifacts,
        )
        if log.num_rows == 0:
            return
        parts = [
            ("prediction_log", part.id)
            for part in self.deployments.list_prediction_log_parts(
                monitor.target, since_ms=since, until_ms=until
            )
        ]
        needs_labels = {"performance", "fairness"} & set(cfg.checks)
        if needs_labels:
            labels = feedback(monitor.target, settings=self.settings, store=self.db)
            log = join_feedback(log, labels)
        times = log.column("time").cast(pa.int64()).to_numpy()
        schema = self._input_schema(monitor)
        if kind == "time":
            starts = (times // size) * size
            edges = np.flatnonzero(np.diff(starts)) + 1
            bounds = [0, *edges.tolist(), len(times)]
            for lo, hi in itertools.pairwise(bounds):
                start = int(starts[lo])
                end = start + size
                if end > until and not final:
                    break  # still filling
                window = expand_log(log.slice(lo, hi - lo), schema=schema)
                yield window, start, end, min(end, until), parts + _versions(window)
        else:
            for lo in range(0, len(times), size):
                hi = min(lo + size, len(times))
                if hi - lo < size and not final:
                    break
                window = expand_log(log.slice(lo, hi - lo), schema=schema)
                start, last = int(times[lo]), int(times[hi - 1])
                nxt = int(times[hi]) if hi < len(times) else last + 1
                yield window, start, last + 1, nxt, parts + _versions(window)

    def _input_schema(self, monitor: Monitor) -> pa.Schema | None:
        if monitor.reference_id is None:
            return None
        profile = self.load_reference(monitor.reference_id)
        fields = []
        for column in profile.columns.values():
            try:
                fields.append(pa.field(column.name, _arrow_type(column.dtype)))
            except (ValueError, KeyError):
                continue  # an exotic type: read as the JSON says
        return pa.schema(fields)

    def _evaluate(
        self,
        monitor: Monitor,
        cfg: MonitorConfig,
        profile: ReferenceProfile | None,
        table: pa.Table,
        start: int,
        end: int,
        sources: Sequence[tuple[str, str]],
        watermark: int | None,
    ) -> MonitorRun:
        history = [
            int(p.value)
            for p in self.repository.monitor_history(
                monitor.name, "quality.rows", limit=_HISTORY_WINDOWS
            )
        ]
        result = self._checks(table, cfg, profile, row_history=history if len(history) >= 5 else ())
        rules = [AlertRule.from_dict(rule) for rule in cfg.rules]
        engine = AlertEngine(self.repository, notifiers=self._notifiers(cfg))
        evaluation_id = new_id()
        # Alerts first: the engine stores each transition before delivering it, and skips a
        # window it already stepped, so a crash before the evaluation is stored re-runs
        # this window without alerting twice.
        events = engine.process(
            monitor.name, rules, result.values, now=end, window_end=end,
            evaluation_id=evaluation_id,
        )  # fmt: skip
        status = "alert" if any(e.kind == "fired" for e in events) else "ok"
        stored = self.repository.record_monitor_evaluation(
            monitor.name,
            window_start=start,
            window_end=end,
            rows=result.rows,
            status="alert" if status == "alert" else "ok",
            values=result.values,
            summary=flat_summary(result),
            sources=sources,
            watermark=watermark,
            evaluation_id=evaluation_id,
        )
        return MonitorRun(
            monitor=monitor.name,
            evaluation_id=stored.id,
            window_start=start,
            window_end=end,
            rows=result.rows,
            status=status,
            values=result.values,
            reports=result.reports,
            errors=result.errors,
            events=tuple(events),
        )

    def _checks(
        self,
        table: pa.Table,
        cfg: MonitorConfig,
        profile: ReferenceProfile | None,
        *,
        row_history: Sequence[int] = (),
    ) -> WindowResult:
        """Run the monitor's checks on one window, with the project's settings."""
        return evaluate_window(
            table,
            cfg,
            profile=profile,
            sensitive=self._sensitive(),
            spec_metrics=self._monitor_metrics(),
            fairness_thresholds=self._fairness_thresholds(),
            row_history=row_history,
        )

    def _sensitive(self) -> tuple[str, ...]:
        problem = None if self.spec is None else self.spec.problem
        return () if problem is None else tuple(problem.sensitive_attributes)

    def _fairness_thresholds(self) -> dict[str, float]:
        problem = None if self.spec is None else self.spec.problem
        return {} if problem is None else dict(problem.fairness)

    def _monitor_metrics(self) -> builtins.list[MetricSpec]:
        if self.spec is None:
            return []
        return self.spec.metrics_for("monitor")

    def _notifiers(self, cfg: MonitorConfig) -> dict[str, Notifier]:
        built = {name: notifier_from_config(name, spec) for name, spec in cfg.notifications.items()}
        return {**built, **self._extra_notifiers}

    # ---- reading ---------------------------------------------------------------------------
    def get_history(
        self,
        name: str,
        metric: str | Sequence[str] | None = None,
        *,
        since: TimeLike | None = None,
        limit: int | None = None,
    ) -> builtins.list[MonitorPoint]:
        """The monitor's stored time series (all metrics, or the ones named).

        Args:
            name: The monitor.
            metric: A metric name or several; default: every metric.
            since: Only windows ending from then on: ms since the epoch, a datetime (naive
                = UTC), a date, ISO-8601 text, or a duration meaning that long ago
                (``"7d"``; :func:`cycleml.time.to_ms`).
            limit: At most this many points (the latest).
        """
        self.get(name)
        return self.repository.monitor_history(name, metric, since=_since(since), limit=limit)

    def list_alerts(
        self, name: str | None = None, *, since: TimeLike | None = None
    ) -> builtins.list[AlertEventRecord]:
        """Alert events (fired and resolved), newest last.

        Args:
            name: One monitor's events; default: every monitor's.
            since: Only events from then on, in any form :meth:`get_history` reads.
        """
        return self.repository.list_alert_events(monitor_name=name, since=_since(since))

    history = deprecated_method(get_history, "history", "Monitors")
    alerts = deprecated_method(list_alerts, "alerts", "Monitors")

    # ---- reports ---------------------------------------------------------------------------
    def report(self, name: str, *, data: Any = None, now: TimeLike | None = None) -> dict[str, Any]:
        """The monitor's report document (JSON-ready; :meth:`write_report` renders it).

        The checks run again, without storing anything, on ``data`` if given, else on the
        window of the latest evaluation (or, before the first, the latest window of the
        prediction log). Performance is recomputed over every window with the labels that
        have arrived by ``now`` (any form :meth:`run` reads; default: the clock), so late
        labels show up; the history and alerts come from the store.
        """
        monitor = self.get(name)
        cfg = MonitorConfig.from_dict(monitor.config)
        profile = self.load_reference(monitor.reference_id) if monitor.reference_id else None
        stamp = _now(now)
        window: dict[str, Any] | None = None
        full_log: pa.Table | None = None
        if data is not None:
            table = as_table(self._readable(data)[0])
            window = {"start": None, "end": None, "rows": table.num_rows}
        elif monitor.target_kind == "deployment":
            full_log = self._labelled_log(monitor, cfg, until=stamp)
            start, end = self._report_window(monitor, cfg, full_log, stamp)
            times = full_log.column("time").cast(pa.int64())
            mask = pc.and_(pc.greater_equal(times, start), pc.less(times, end))
            table = expand_log(full_log.filter(mask), schema=self._input_schema(monitor))
            window = {"start": start, "end": end, "rows": table.num_rows,
                      "models": served_models(table)}  # fmt: skip
        else:
            raise InvalidInput(
                f"Monitor {name!r} watches {monitor.target}, which has no prediction log.",
                hint="Pass the data to report on: report(name, data=...) or --data PATH.",
            )
        result = self._checks(table, cfg, profile)
        over_time = None
        if "performance" in cfg.checks and full_log is not None and full_log.num_rows:
            expanded = expand_log(full_log, schema=self._input_schema(monitor))
            if "label" in expanded.column_names and expanded.column("label").null_count < len(
                expanded
            ):
                options = dict(cfg.performance)
                if "score_column" not in options and "score" in expanded.column_names:
                    options["score_column"] = "score"
                over_time = performance(
                    expanded,
                    window=cfg.window,
                    spec_metrics=self._monitor_metrics(),
                    **options,
                ).to_dict()
        return build_report(
            monitor={
                "name": monitor.name,
                "target": monitor.target,
                "model": None
                if monitor.model_version is None
                else f"models:/{monitor.model_name}/{monitor.model_version}",
                "reference_id": monitor.reference_id,
                "window": cfg.window,
                "checks": list(cfg.checks),
            },
            window=window,
            reports=result.reports,
            performance_over_time=over_time,
            history=((p.window_end, p.metric, p.value) for p in self.get_history(name)),
            alerts=[event.to_dict() for event in self.list_alerts(name)],
            deployment=self._deployment(monitor),
            rules=cfg.rules,
            now=stamp,
        )

    def _deployment(self, monitor: Monitor) -> dict[str, Any] | None:
        if monitor.target_kind != "deployment":
            return None
        try:
            return self.deployments.get_deployment(monitor.target).to_dict()
        except NotFound:  # deleted since: the report still shows the rows per model
            return None

    @staticmethod
    def write_report(
        report: Mapping[str, Any],
        path: str | Path,
        *,
        include_plotlyjs: IncludePlotlyJS = "inline",
    ) -> Path:
        """Render :meth:`report`'s document as an HTML file at ``path``.

        ``include_plotlyjs="inline"`` writes one self-contained file; ``"shared"`` writes
        plotly.js once as ``plotly-<version>.min.js`` beside it (see
        :func:`cycleml.reports.write_html`).
        """
        title = f"Monitor {report.get('monitor', {}).get('name', '')}".strip()
        page = render_monitoring_html(report, title=title, include_plotlyjs=include_plotlyjs)
        return write_html(page, path)

    def _labelled_log(self, monitor: Monitor, cfg: MonitorConfig, *, until: int) -> pa.Table:
        log = prediction_log(monitor.target, until=until, settings=self.settings,
                             store=self.db, artifacts=self.artifacts)  # fmt: skip
        if {"performance", "fairness"} & set(cfg.checks) and log.num_rows:
            labels = feedback(monitor.target, settings=self.settings, store=self.db)
            log = join_feedback(log, labels)
        return log

    def _report_window(
        self, monitor: Monitor, cfg: MonitorConfig, log: pa.Table, now: int
    ) -> tuple[int, int]:
        latest = self.repository.list_monitor_evaluations(monitor.name, limit=1)
        if latest:
            return latest[0].window_start, latest[0].window_end
        kind, size = parse_window(cfg.window)
        if kind == "time":
            return now - size, now
        times = log.column("time").cast(pa.int64()).to_numpy()
        if not len(times):
            return now, now
        return int(times[max(len(times) - size, 0)]), int(times[-1]) + 1


def _database(db: Database | None) -> Database:
    # Only a team server leaves no database, and then both repositories are REST ones.
    assert db is not None
    return db


def _now(now: TimeLike | None) -> int:
    return now_ms() if now is None else to_ms(now, name="now")


def _since(since: TimeLike | None) -> int | None:
    return None if since is None else to_ms(since, name="since")


def _versions(window: pa.Table) -> builtins.list[tuple[str, str]]:
    """Lineage sources for the model versions that scored the window's rows."""
    if not {"model_name", "model_version"} <= set(window.column_names):
        return []
    pairs = (
        window.select(["model_name", "model_version"])
        .group_by(["model_name", "model_version"])
        .aggregate([])
    )
    return [
        ("model_version", f"{name}/{version}")
        for name, version in zip(
            pairs.column("model_name").to_pylist(),
            pairs.column("model_version").to_pylist(),
            strict=True,
        )
        if name is not None and version is not None
    ]


def _config(
    config: MonitorConfig | Mapping[str, Any] | None, settings: Mapping[str, Any]
) -> MonitorConfig:
    if isinstance(config, MonitorConfig):
        base = config.to_dict()
    else:
        base = MonitorConfig().to_dict() | dict(config or {})
    return MonitorConfig.from_dict({**base, **settings})


_ARROW_TYPES: dict[str, Callable[[], pa.DataType]] = {
    "double": pa.float64,
    "float": pa.float32,
    "int64": pa.int64,
    "int32": pa.int32,
    "bool": pa.bool_,
    "string": pa.string,
    "large_string": pa.large_string,
}


def _arrow_type(name: str) -> pa.DataType:
    if name in _ARROW_TYPES:
        return _ARROW_TYPES[name]()
    if name.startswith("dictionary<values=string"):
        return pa.string()
    raise KeyError(name)
