"""Prometheus metrics of one model server (its own registry: no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ServerMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServerMetrics:
    """Requests and errors by status, latency and batch-size histograms, by model and version.

    Metric names: ``cycleml_requests_total``, ``cycleml_request_errors_total``,
    ``cycleml_request_latency_seconds``, ``cycleml_batch_rows`` (rows per ``predict`` call)
    and ``cycleml_predicted_rows_total``.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ("model", "version", "route", "status")
        self.requests = Counter(
            "cycleml_requests", "Scoring requests answered", labels, registry=self.registry
        )
        self.errors = Counter(
            "cycleml_request_errors",
            "Scoring requests answered with a 4xx or 5xx status",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "cycleml_request_latency_seconds",
            "Time from request to response",
            ("model", "version", "route"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "cycleml_batch_rows",
            "Rows per predict call (after micro-batching)",
            ("model", "version"),
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter(
            "cycleml_predicted_rows", "Rows scored", ("model", "version"), registry=self.registry
        )

    def observe(
        self, *, model: str, version: str, route: str, status: int, seconds: float, rows: int
    ) -> None:
        """Record one answered request."""
        labels = {"model": model, "version": version, "route": route, "status": str(status)}
        self.requests.labels(**labels).inc()
        if status >= 400:
            self.errors.labels(**labels).inc()
        self.latency.labels(model=model, version=version, route=route).observe(seconds)
        if rows:
            self.rows.labels(model=model, version=version).inc(rows)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
