"""The monitoring stage's repository: references, monitors, evaluations and alerts."""

from __future__ import annotations

from cycleml.monitoring._sql_alerts import AlertOps
from cycleml.monitoring._sql_evaluations import EvaluationOps
from cycleml.monitoring._sql_monitors import DeploymentLookup, ModelLookup, MonitorOps
from cycleml.store import Database

__all__ = ["SqlMonitorRepository"]


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
