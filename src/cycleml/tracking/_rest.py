"""`RestRunRepository`: the run repository of a ``cycleml server``, over its ``/api/v1`` API.

The same protocol as :class:`~cycleml.tracking.SqlRunRepository`, so the tracking API and
the fluent API work against a server unchanged (``CYCLEML_TRACKING_URI=http://host:port``),
and the same repository tests run through it.

* **One connection pool.** One ``httpx.Client`` per repository keeps its connections alive;
  a buffered flush is one request (``POST /runs/{run_id}/batch``, metrics column by column).
* **Arguments are checked here first**, with the stage's own checks (``check_metrics``,
  ``check_params``, keys, run ids): JSON cannot carry a ``None`` key, a numpy number or NaN
  as they are, and a run id goes into a URL. The errors are those the SQL repository
  raises; the server checks again for any other client.
* **Retries** on connection errors, 429 and 5xx, with exponential backoff (honouring
  ``Retry-After``), re-send the request with its ``X-Request-ID``: the server applies a
  run's creation, batch or update once per request id, so a retry whose first attempt was
  written does not log twice. (A write that failed every attempt raises; a later, new call
  is a new request.)
* **The transport** (client, retries, error decoding) is the kernel's
  :class:`cycleml.store._http.ApiClient`, shared with the registry's REST repository.
* **Errors** come back as the class the server raised (:func:`cycleml.errors.from_dict`):
  ``NotFound``, ``InvalidInput``, ``ParamConflict`` ... with message, hint and details (and
  the request id in ``details``). A server that cannot be reached is a :class:`StoreError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cycleml.errors import NotFound
from cycleml.ids import check_id
from cycleml.store import ArtifactEntry, RestRepository, safe_relpath, url_segment
from cycleml.tracking._entities import Experiment, Metric, Run, RunInfo
from cycleml.tracking._repository import RunRepository
from cycleml.tracking._run_writes import check_metrics
from cycleml.tracking._sql_runs import check_params
from cycleml.tracking._wire import (
    artifact_from_dict,
    artifact_to_dict,
    history_from_json,
    metrics_to_json,
)
from cycleml.validation import check_key

if TYPE_CHECKING:
    pass

__all__ = ["RestRunRepository"]


def _tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    return {check_key(k, "tag"): str(v) for k, v in (tags or {}).items()}


class RestRunRepository(RestRepository):
    """Experiments and runs of a ``cycleml server``, through its REST API.

    Arguments as :class:`~cycleml.store.RestRepository` takes them.
    """

    @staticmethod
    def _run_path(run_id: str, tail: str = "") -> str:
        return f"/runs/{check_id(run_id, kind='run id')}{tail}"

    @staticmethod
    def _experiment_path(experiment_id: str, tail: str = "") -> str:
        return f"/experiments/{url_segment(experiment_id, 'experiment id')}{tail}"

    @staticmethod
    def _batch(
        metrics: Sequence[Metric], params: Mapping[str, Any] | None, tags: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """A batch checked as the SQL repository checks it, as the wire carries it."""
        points = check_metrics(metrics)
        body: dict[str, Any] = {"params": check_params(params or {}), "tags": _tags(tags)}
        if points[0]:
            body["metrics"] = metrics_to_json(*points)
        return body

    # ---- experiments -----------------------------------------------------------------------
    def create_experiment(
        self, name: str, *, artifact_location: str = "", tags: Mapping[str, str] | None = None
    ) -> Experiment:
        """Create an experiment; its name must be unused (deleted ones included)."""
        body = {"name": name, "artifact_location": artifact_location, "tags": _tags(tags)}
        return Experiment.from_dict(self._call("POST", "/experiments", body))

    def get_experiment(self, experiment_id: str) -> Experiment:
        """Return the experiment with this id (raise :class:`NotFound`)."""
        return Experiment.from_dict(self._call("GET", self._experiment_path(experiment_id)))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Return the experiment with this name, or ``None``."""
        try:
            found = self._call("GET", "/experiments/by-name", params={"name": name})
        except NotFound:
            return None
        return Experiment.from_dict(found)

    def list_experiments(self, *, view: str = "active") -> list[Experiment]:
        """List experiments; ``view`` is ``active``, ``deleted`` or ``all``."""
        found = self._call("GET", "/experiments", params={"view": view})
        return [Experiment.from_dict(item) for item in found["experiments"]]

    def rename_experiment(self, experiment_id: str, new_name: str) -> Experiment:
        """Give an experiment a new, unused name."""
        path = self._experiment_path(experiment_id)
        return Experiment.from_dict(self._call("PATCH", path, {"name": new_name}))

    def delete_experiment(self, experiment_id: str) -> Experiment:
        """Mark an experiment deleted (its runs stay; restore brings it back)."""
        return Experiment.from_dict(self._call("DELETE", self._experiment_path(experiment_id)))

    def restore_experiment(self, experiment_id: str) -> Experiment:
        """Bring back a deleted experiment."""
        path = self._experiment_path(experiment_id, "/restore")
        return Experiment.from_dict(self._call("POST", path))

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set (or overwrite) one experiment tag."""
        body = {"key": check_key(key, "tag"), "value": str(value)}
        self._call("POST", self._experiment_path(experiment_id, "/tags"), body)

    # ---- runs ------------------------------------------------------------------------------
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
        body = {
            "experiment_ids": list(experiment_ids),
            "filter_string": filter_string,
            "order_by": list(order_by) if order_by is not None else None,
            "max_results": max_results,
            "page_token": page_token,
            "view": view,
        }
        found = self._call("POST", "/runs/search", body)
        return [Run.from_dict(item) for item in found["runs"]], found["next_page_token"]

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
        body = {
            "experiment_id": experiment_id,
            "run_name": run_name,
            "artifact_uri": artifact_uri,
            "user_id": user_id,
            "tags": _tags(tags),
            "parent_run_id": parent_run_id,
            "start_time": start_time,
        }
        return Run.from_dict(self._call("POST", "/runs", body))

    def get_run(self, run_id: str) -> Run:
        """Return one run with its latest metrics, params and tags."""
        return Run.from_dict(self._call("GET", self._run_path(run_id)))

    def get_runs(self, run_ids: Sequence[str]) -> list[Run]:
        """Return runs in the order given; unknown ids are left out."""
        if not run_ids:
            return []
        found = self._call("POST", "/runs/get", {"run_ids": list(run_ids)})
        return [Run.from_dict(item) for item in found["runs"]]

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every logged point of one metric, ordered by step then timestamp."""
        path = self._run_path(run_id, "/metric-history")
        return history_from_json(self._call("GET", path, params={"key": key}))

    def count_metric_points(self, run_ids: Sequence[str] | None = None) -> int:
        """How many metric points are stored (for some runs, or all)."""
        body = {"run_ids": list(run_ids) if run_ids is not None else None}
        return int(self._call("POST", "/runs/metric-points/count", body)["count"])

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Write metrics, params and tags of one run in a single transaction (one request)."""
        body = self._batch(metrics, params, tags)
        if "metrics" not in body and not body["params"] and not body["tags"]:
            return
        self._call("POST", self._run_path(run_id, "/batch"), body)

    def delete_run_tag(self, run_id: str, key: str) -> None:
        """Remove one tag from a run."""
        self._call("DELETE", self._run_path(run_id, "/tags"), params={"key": key})

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
        body = {
            "status": status,
            "end_time": end_time,
            "error": error,
            "run_name": run_name,
            **self._batch(metrics, params, tags),
        }
        return RunInfo.from_dict(self._call("PATCH", self._run_path(run_id), body))

    def delete_runs(self, run_ids: Sequence[str]) -> int:
        """Mark runs deleted (soft delete, as MLflow); return how many changed."""
        return int(self._call("POST", "/runs/delete", {"run_ids": list(run_ids)})["changed"])

    def restore_runs(self, run_ids: Sequence[str]) -> int:
        """Bring back deleted runs; return how many changed."""
        return int(self._call("POST", "/runs/restore", {"run_ids": list(run_ids)})["changed"])

    def find_stale_runs(self, *, older_than_ms: int) -> list[RunInfo]:
        """RUNNING runs whose logger has not written for ``older_than_ms`` milliseconds."""
        found = self._call("GET", "/runs/stale", params={"older_than_ms": older_than_ms})
        return [RunInfo.from_dict(item) for item in found["runs"]]

    def record_artifacts(self, run_id: str, entries: Sequence[ArtifactEntry]) -> None:
        """Map logical artifact paths of a run to stored blobs (a path logged again moves)."""
        if not entries:
            return
        body = {"artifacts": [artifact_to_dict(entry) for entry in entries]}
        self._call("POST", self._run_path(run_id, "/artifacts"), body)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactEntry]:
        """Artifacts of a run whose path is ``prefix`` or lies below it."""
        path = self._run_path(run_id, "/artifacts")
        found = self._call("GET", path, params={"prefix": prefix})
        return [artifact_from_dict(item) for item in found["artifacts"]]

    def delete_artifacts(self, run_id: str, path: str) -> list[ArtifactEntry]:
        """Remove a run's file at ``path`` (or the folder's files); return what went.

        Not replayed: a retry after a lost answer would find nothing left and say so.
        """
        found = self._call(
            "DELETE",
            self._run_path(run_id, "/artifacts"),
            params={"path": safe_relpath(path)},
            replayable=False,
        )
        return [artifact_from_dict(item) for item in found["artifacts"]]

    def record_input(
        self, run_id: str, kind: str, entity_id: str, *, payload: Mapping[str, Any]
    ) -> None:
        """Record that a run read an entity, e.g. a dataset version (lineage entity -> run)."""
        body = {"kind": kind, "entity_id": entity_id, "payload": dict(payload)}
        self._call("POST", self._run_path(run_id, "/inputs"), body)


if TYPE_CHECKING:
    _REST_IMPLEMENTS: type[RunRepository] = RestRunRepository  # mypy: REST keeps the protocol
