"""The tracking stage's repository: experiments, runs, metrics, their files and search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from cycleml.store import ArtifactEntry, Database
from cycleml.tracking._entities import Experiment, Metric, Run, RunInfo
from cycleml.tracking._logged_models import LoggedModelOps
from cycleml.tracking._sql_experiments import ExperimentOps
from cycleml.tracking._sql_search import RunSearchOps

__all__ = ["RunRepository", "SqlRunRepository"]


class RunRepository(Protocol):
    """Where experiments and runs live: what the tracking API needs of a backend.

    :class:`SqlRunRepository` keeps them in SQLite or PostgreSQL; the server issue adds a
    REST implementation. Every implementation runs the same tests.
    """

    def close(self) -> None:
        """Release the repository's connections."""
        ...

    def create_experiment(
        self, name: str, *, artifact_location: str = "", tags: Mapping[str, str] | None = None
    ) -> Experiment:
        """Create an experiment; its name must be unused (deleted ones included)."""
        ...

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return the experiment with this id (raise :class:`NotFound`)."""
        ...

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Return the experiment with this name, or ``None``."""
        ...

    def list_experiments(self, *, view: str = "active") -> list[Experiment]:
        """List experiments; ``view`` is ``active``, ``deleted`` or ``all``."""
        ...

    def rename_experiment(self, experiment_id: str, new_name: str) -> Experiment:
        """Give an experiment a new, unused name."""
        ...

    def delete_experiment(self, experiment_id: str) -> Experiment:
        """Mark an experiment deleted (its runs stay; restore brings it back)."""
        ...

    def restore_experiment(self, experiment_id: str) -> Experiment:
        """Bring back a deleted experiment."""
        ...

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set (or overwrite) one experiment tag."""
        ...

    def search_runs(
        self,
        *,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        view: str = "active",
    ) -> tuple[list[Run], str | None]:
        """Search runs with MLflow's filter grammar; return one page and the next token."""
        ...

    def create_run(
        self,
        *,
        experiment_id: str,
        run_name: str | None = None,
        artifact_uri: str = "",
        user_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        start_time: int | None = None,
    ) -> Run:
        """Create a RUNNING run in an active experiment."""
        ...

    def get_run(self, run_id: str) -> Run:
        """Return one run with its latest metrics, params and tags."""
        ...

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """Return runs in the order given; unknown ids are left out."""
        ...

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged point of one metric, ordered by step then timestamp."""
        ...

    def count_metric_points(self, run_ids: Sequence[str] | None = None) -> int:
        """How many metric points are stored (for some runs, or all)."""
        ...

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Write metrics, params and tags of one run in a single transaction."""
        ...

    def delete_run_tag(self, run_id: str, key: str) -> None:
        """Remove one tag from a run."""
        ...

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        end_time: int | None = None,
        error: str | None = None,
        run_name: str | None = None,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> RunInfo:
        """Change a run's status (ending it when terminal), error text or name."""
        ...

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Mark runs deleted (soft delete, as MLflow); return how many changed."""
        ...

    def restore_runs(self, run_ids: Sequence[str]) -> int:
        """Bring back deleted runs; return how many changed."""
        ...

    def find_stale_runs(self, *, older_than_ms: int) -> list[RunInfo]:
        """RUNNING runs whose logger has not written for ``older_than_ms`` milliseconds."""
        ...

    def record_artifacts(self, run_id: str, entries: Sequence[ArtifactEntry]) -> None:
        """Map logical artifact paths of a run to stored blobs (a path logged again moves)."""
        ...

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactEntry]:
        """Artifacts of a run whose path is ``prefix`` or lies below it."""
        ...

    def delete_artifacts(self, run_id: str, path: str) -> list[ArtifactEntry]:
        """Remove a run's file at ``path`` (or the folder's files); return what went."""
        ...

    def record_input(
        self, run_id: str, kind: str, entity_id: str, *, payload: Mapping[str, Any]
    ) -> None:
        """Record that a run read an entity, e.g. a dataset version (lineage entity -> run)."""
        ...


class SqlRunRepository(ExperimentOps, RunSearchOps, LoggedModelOps):
    """Experiments and runs in the SQL database (SQLite or PostgreSQL).

    It also keeps MLflow 3's logged models (:class:`~cycleml.tracking._logged_models.
    LoggedModelOps`), which the team server's MLflow routes write; they are not part of
    :class:`RunRepository`, since cycleml's own SDK logs models as run files.

    Args:
        db: The kernel database (see :func:`cycleml.store.open_database`).
    """

    def __init__(self, db: Database) -> None:
        super().__init__(db)


if TYPE_CHECKING:
    _SQL_IMPLEMENTS: type[RunRepository] = SqlRunRepository  # mypy: SQL keeps the protocol
