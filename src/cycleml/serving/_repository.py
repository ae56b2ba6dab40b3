"""The serving stage's repository: deployments, their revisions, the prediction log, feedback."""

from __future__ import annotations

from cycleml.registry import SqlModelRepository
from cycleml.serving._sql_deployments import DeploymentOps
from cycleml.serving._sql_predictions import PredictionOps
from cycleml.store import Database

__all__ = ["SqlDeploymentRepository"]


class SqlDeploymentRepository(DeploymentOps, PredictionOps):
    """Deployments, the prediction log index and feedback in the SQL database.

    Args:
        db: The kernel database (see :func:`cycleml.store.open_database`).
        models: The registry that resolves deployments' ``models:/`` URIs; default: the
            SQL registry on the same database.
    """

    def __init__(self, db: Database, *, models: SqlModelRepository | None = None) -> None:
        super().__init__(db, models=models)
