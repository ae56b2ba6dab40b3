"""Prometheus metrics of one team-server worker (its own registry: no process-global state).

``cycleml_server_requests_total`` and ``cycleml_server_request_latency_seconds`` count and
time every answered request by route template (``/api/v1/runs/{run_id}``, never the raw
path, so the label set stays bounded), method and status; the store gauges say how many of
the worker's database connections are in use and how many the pool holds.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ServerMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServerMetrics:
    """Request counts and latencies by route, and the store's connection pool.

    Args:
        pool_checked_out: Connections in use now (read at each scrape).
        pool_size: Connections the pool keeps (read at each scrape).
    """

    def __init__(
        self, *, pool_checked_out: Callable[[], float], pool_size: Callable[[], float]
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "cycleml_server_requests",
            "Requests answered",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "cycleml_server_request_latency_seconds",
            "Time from request to response",
            ("route", "method"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        in_use = Gauge(
            "cycleml_server_store_connections_in_use",
            "Database connections checked out of the pool",
            registry=self.registry,
        )
        in_use.set_function(pool_checked_out)
        size = Gauge(
            "cycleml_server_store_pool_size",
            "Database connections the pool keeps",
            registry=self.registry,
        )
        size.set_function(pool_size)

    def observe(self, *, route: str, method: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route, method=method).observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
