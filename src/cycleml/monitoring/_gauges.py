"""Prometheus gauges for monitored metrics: drift scores, quality, performance, fairness.

Each :class:`MonitorGauges` owns its registry (no global state), so a watch process, a
test and a server can each expose their own. ``cycleml monitor run --watch --metrics-port``
serves it over HTTP for Prometheus to scrape.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest, start_http_server

__all__ = ["MonitorGauges"]


class MonitorGauges:
    """Gauges ``cycleml_monitor_value{monitor, metric}`` and friends, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.value = Gauge(
            "cycleml_monitor_value",
            "Latest value of a monitored metric (drift scores, quality, performance).",
            ["monitor", "metric"],
            registry=self.registry,
        )
        self.window_end = Gauge(
            "cycleml_monitor_window_end_seconds",
            "End of the latest evaluated window (seconds since the epoch).",
            ["monitor"],
            registry=self.registry,
        )
        self.alerts = Gauge(
            "cycleml_monitor_alerts_fired",
            "Alerts fired by the latest evaluation of each monitor.",
            ["monitor"],
            registry=self.registry,
        )

    def update(self, runs: Iterable[Any]) -> None:
        """Record the latest values of each :class:`MonitorRun` (oldest first)."""
        for run in runs:
            self.set_values(run.monitor, run.values)
            self.window_end.labels(monitor=run.monitor).set(run.window_end / 1000.0)
            fired = sum(1 for event in run.events if event.kind == "fired")
            self.alerts.labels(monitor=run.monitor).set(fired)

    def set_values(self, monitor: str, values: Mapping[str, float]) -> None:
        """Set one gauge per metric (NaN values are skipped: Prometheus would keep them)."""
        for metric, value in values.items():
            if value is not None and math.isfinite(value):
                self.value.labels(monitor=monitor, metric=metric).set(value)

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on ``host:port`` from a background thread."""
        start_http_server(port, addr=host, registry=self.registry)
