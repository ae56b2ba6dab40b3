"""The monitoring stage's repository: references, monitors, evaluations and alerts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Protocol

from cycleml.monitoring._sql_alerts import (
    AlertDelivery,
    AlertEventRecord,
    AlertOps,
    AlertStateLike,
    AlertStateRecord,
    DeliveryStatus,
    NewAlertEvent,
)
from cycleml.monitoring._sql_evaluations import (
    EvaluationOps,
    EvaluationStatus,
    MonitorEvaluation,
    MonitorPoint,
)
from cycleml.monitoring._sql_monitors import (
    DeploymentLookup,
    ModelLookup,
    Monitor,
    MonitorOps,
    MonitorReference,
)
from cycleml.store import Database

__all__ = ["MonitorRepository", "SqlMonitorRepository"]


class MonitorRepository(Protocol):
    """Where references, monitors, evaluations and alert state live: monitoring's needs.

    :class:`SqlMonitorRepository` keeps them in SQLite or PostgreSQL; the server issue adds a
    REST implementation. Every implementation runs the same tests.
    """

    def close(self) -> None:
        """Release the repository's connections."""
        ...

    def create_monitor_reference(
        self,
        digest: str,
        *,
        rows: int,
        model_name: str | None = None,
        model_version: int | None = None,
        name: str | None = None,
        sources: Sequence[tuple[str, str]] = (),
        reference_id: str | None = None,
        actor: str | None = None,
    ) -> MonitorReference:
        """Record a reference profile stored in the artifact store under ``digest``."""
        ...

    def get_monitor_reference(self, reference: str) -> MonitorReference:
        """A reference profile by id (32 hex) or by name."""
        ...

    def list_monitor_references(
        self, model_name: str | None = None, *, model_version: int | None = None
    ) -> list[MonitorReference]:
        """Reference profiles, oldest first, optionally those of one model (version)."""
        ...

    def create_monitor(
        self,
        name: str,
        target: str,
        *,
        reference: str | None = None,
        config: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> Monitor:
        """Create a monitor of a deployment or of a model version."""
        ...

    def get_monitor(self, name: str) -> Monitor:
        """A monitor by name."""
        ...

    def list_monitors(
        self, *, target: str | None = None, model_name: str | None = None
    ) -> list[Monitor]:
        """Every monitor by name, optionally those of one target or one model."""
        ...

    def update_monitor(
        self,
        name: str,
        *,
        config: Mapping[str, Any] | EllipsisType = ...,
        reference: str | EllipsisType | None = ...,
        reason: str = "",
        actor: str | None = None,
    ) -> Monitor:
        """Replace a monitor's configuration and/or its reference (``None`` removes it)."""
        ...

    def set_monitor_watermark(
        self, name: str, watermark: int | None, *, reason: str = "", actor: str | None = None
    ) -> Monitor:
        """Move a monitor's watermark by hand, backwards too (to re-evaluate a period)."""
        ...

    def delete_monitor(self, name: str, *, reason: str = "", actor: str | None = None) -> None:
        """Delete a monitor with its evaluations, values, alert states and alert events."""
        ...

    def record_monitor_evaluation(
        self,
        monitor_name: str,
        *,
        window_start: int,
        window_end: int,
        rows: int,
        status: EvaluationStatus,
        values: Mapping[str, float | None],
        summary: Mapping[str, Any] | None = None,
        sources: Sequence[tuple[str, str]] = (),
        watermark: int | None = None,
        evaluation_id: str | None = None,
        actor: str | None = None,
    ) -> MonitorEvaluation:
        """Store one evaluation in one transaction: its row, every metric value, lineage from each
        source it read, the watermark it advances and the audit row.
        """
        ...

    def get_monitor_evaluation(self, evaluation_id: str) -> MonitorEvaluation:
        """One evaluation, with its metric values."""
        ...

    def list_monitor_evaluations(
        self,
        name: str,
        *,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
        with_values: bool = False,
    ) -> list[MonitorEvaluation]:
        """A monitor's evaluations by ``window_end`` in ``[since, until)``, oldest first."""
        ...

    def monitor_history(
        self,
        name: str,
        metric: str | Sequence[str] | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> list[MonitorPoint]:
        """A monitor's time series: ``(window_end, metric, value, evaluation_id)`` points."""
        ...

    def count_monitor_evaluations(self, name: str) -> int:
        """How many evaluations a monitor has stored."""
        ...

    def get_alert_states(self, monitor_name: str) -> dict[str, AlertStateRecord]:
        """The persisted state of each of a monitor's alert rules, by rule name."""
        ...

    def apply_alert_transition(
        self,
        monitor_name: str,
        rule_name: str,
        state: AlertStateLike,
        event: NewAlertEvent | None = None,
        *,
        window_end: int | None = None,
        expected_version: int | None = None,
        actor: str | None = None,
    ) -> tuple[AlertStateRecord, AlertEventRecord | None]:
        """Persist a rule's new state and, with it, the event it emitted: one transaction."""
        ...

    def get_alert_event(self, event_id: str) -> AlertEventRecord:
        """One alert event with its deliveries."""
        ...

    def list_alert_events(
        self,
        monitor_name: str | None = None,
        *,
        rule_name: str | None = None,
        since: int | None = None,
        until: int | None = None,
        pending: bool | None = None,
        limit: int | None = None,
    ) -> list[AlertEventRecord]:
        """Alert events by time in ``[since, until)``, oldest first (with ``limit``: the newest
        ``limit``). ``pending=True`` keeps those with deliveries still open.
        """
        ...

    def claim_alert_delivery(
        self, event_id: str, notifier: str, *, stale_after_ms: int | None = None
    ) -> AlertDelivery | None:
        """Take one delivery for sending: ``pending`` -> ``sending``, atomically."""
        ...

    def finish_alert_delivery(
        self,
        event_id: str,
        notifier: str,
        status: DeliveryStatus,
        *,
        claim: str | None = None,
        detail: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> AlertEventRecord:
        """Record how a delivery ended: delivered, failed, skipped or unknown."""
        ...

    def record_retrain_trigger(
        self,
        monitor_name: str,
        *,
        hook: str,
        ok: bool,
        duration_s: float,
        rule_name: str | None = None,
        event_id: str | None = None,
        exit_code: int | None = None,
        detail: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        """Audit a retraining hook's run (``monitor.retrain_trigger``) and how it ended."""
        ...


class SqlMonitorRepository(MonitorOps, EvaluationOps, AlertOps):
    """Monitors, their evaluations and alert state in the SQL database.

    Args:
        db: The kernel database (see :func:`cycleml.store.open_database`).
        models: Resolves ``models:/`` targets (serving's registry reads).
        deployments: Finds a monitored deployment's model (serving's repository).
    """

    def __init__(
        self,
        db: Database,
        *,
        models: ModelLookup | None = None,
        deployments: DeploymentLookup | None = None,
    ) -> None:
        if models is None or deployments is None:
            from cycleml.serving import SqlDeploymentRepository

            serving = SqlDeploymentRepository(db)
            models = models if models is not None else serving.models
            deployments = deployments if deployments is not None else serving
        super().__init__(db, models=models, deployments=deployments)


if TYPE_CHECKING:
    _SQL_IMPLEMENTS: type[MonitorRepository] = SqlMonitorRepository  # mypy: SQL keeps the protocol
