"""The serving stage's repository: deployments, their revisions, the prediction log, feedback."""

from __future__ import annotations

from collections.abc import Sequence
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Protocol

from cycleml.registry import ModelRepository, ModelVersion
from cycleml.serving._rest import RestDeploymentRepository
from cycleml.serving._sql_deployments import Deployment, DeploymentOps, DeploymentRevision
from cycleml.serving._sql_predictions import FeedbackRecord, PredictionLogPart, PredictionOps
from cycleml.settings import Settings
from cycleml.store import Database, ModelUri, open_database

__all__ = [
    "DeploymentRepository",
    "SqlDeploymentRepository",
    "open_deployment_repository",
    "server_url",
]


class DeploymentRepository(Protocol):
    """Where deployments, the prediction log index and feedback live: serving's needs.

    :class:`SqlDeploymentRepository` keeps them in SQLite or PostgreSQL,
    :class:`~cycleml.serving.RestDeploymentRepository` on a ``cycleml server``. Every
    implementation runs the same tests.
    """

    def close(self) -> None:
        """Release the repository's connections."""
        ...

    def resolve_model_uri(self, uri: str | ModelUri) -> ModelVersion:
        """The model version a ``models:/`` URI names now (see the registry)."""
        ...

    def create_deployment(
        self,
        name: str,
        model_uri: str,
        *,
        canary_uri: str | None = None,
        canary_percent: float | None = None,
        shadow_uri: str | None = None,
        description: str = "",
        reason: str = "",
        actor: str | None = None,
    ) -> Deployment:
        """Create a deployment serving ``model_uri`` (revision 1)."""
        ...

    def replace_deployment(
        self,
        name: str,
        model_uri: str,
        *,
        canary_uri: str | None = None,
        canary_percent: float | None = None,
        shadow_uri: str | None = None,
        description: str | EllipsisType = ...,
        reason: str = "",
        actor: str | None = None,
    ) -> Deployment:
        """Make the deployment's whole configuration this one: create it, or replace it."""
        ...

    def get_deployment(self, name: str) -> Deployment:
        """A deployment's current configuration."""
        ...

    def list_deployments(self) -> list[Deployment]:
        """Every deployment, by name."""
        ...

    def update_deployment(
        self,
        name: str,
        *,
        model_uri: str | EllipsisType = ...,
        canary_uri: str | EllipsisType | None = ...,
        canary_percent: float | EllipsisType | None = ...,
        shadow_uri: str | EllipsisType | None = ...,
        description: str | EllipsisType = ...,
        reason: str = "",
        actor: str | None = None,
    ) -> Deployment:
        """Change some of a deployment's configuration; the result is the next revision."""
        ...

    def promote_deployment(
        self, name: str, *, reason: str = "", actor: str | None = None
    ) -> Deployment:
        """Make the canary the primary (and remove the canary) as the next revision."""
        ...

    def rollback_deployment(
        self,
        name: str,
        *,
        to_revision: int | None = None,
        reason: str = "",
        actor: str | None = None,
    ) -> Deployment:
        """Restore an earlier configuration as the next revision."""
        ...

    def list_deployment_revisions(self, name: str) -> list[DeploymentRevision]:
        """A deployment's configurations, oldest first."""
        ...

    def add_prediction_log_part(
        self,
        deployment: str,
        *,
        digest: str,
        path: str,
        rows: int,
        min_time: int,
        max_time: int,
        model_versions: Sequence[str] = (),
        bytes: int,
        part_id: str | None = None,
        actor: str | None = None,
    ) -> PredictionLogPart:
        """Index one Parquet part of a deployment's prediction log."""
        ...

    def list_prediction_log_parts(
        self, deployment: str, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[PredictionLogPart]:
        """The parts whose rows may fall in ``[since_ms, until_ms)``, oldest first."""
        ...

    def record_batch_prediction(
        self,
        batch_id: str,
        *,
        model_name: str | None,
        model_version: int | None,
        model_uri: str,
        inputs: Sequence[tuple[str, str]],
        output: str,
        rows: int,
        digest: str,
        actor: str | None = None,
    ) -> None:
        """Record a finished batch scoring job: its lineage and its audit row."""
        ...

    def add_feedback(
        self,
        deployment: str,
        records: Sequence[tuple[str, Any, int | None]],
        *,
        actor: str | None = None,
    ) -> int:
        """Store labels ``(request_id, label, time_ms or None for now)`` in one transaction."""
        ...

    def list_feedback(
        self, deployment: str, *, since_ms: int | None = None
    ) -> list[FeedbackRecord]:
        """Every stored label (all of them, not only the latest), by time then insertion."""
        ...


class SqlDeploymentRepository(DeploymentOps, PredictionOps):
    """Deployments, the prediction log index and feedback in the SQL database.

    Args:
        db: The kernel database (see :func:`cycleml.store.open_database`).
        models: The registry that resolves deployments' ``models:/`` URIs; default: the
            SQL registry on the same database.
    """

    def __init__(self, db: Database, *, models: ModelRepository | None = None) -> None:
        super().__init__(db, models=models)


def server_url(settings: Settings) -> str | None:
    """The ``cycleml server`` the settings' tracking URI names, if it is http(s)."""
    uri = settings.tracking_uri
    return uri if uri.startswith(("http://", "https://")) else None


def open_deployment_repository(
    settings: Settings | None, store: Database | None = None
) -> DeploymentRepository:
    """Serving's repository for the services: on ``store`` if given; else through the
    ``cycleml server`` an http(s) tracking URI names (with the settings' token); else on the
    settings' database (default: the project's settings)."""
    if store is not None:
        return SqlDeploymentRepository(store)
    if settings is None:
        from cycleml.spec import project_settings

        settings = project_settings()
    url = server_url(settings)
    if url is not None:
        return RestDeploymentRepository(url, token=settings.tracking_token)
    return SqlDeploymentRepository(open_database(settings))


if TYPE_CHECKING:
    # mypy: the SQL backend keeps the protocol
    _SQL_IMPLEMENTS: type[DeploymentRepository] = SqlDeploymentRepository
