"""`RestDeploymentRepository`: serving's repository on a ``cycleml server``, over its ``/api/v1``.

The same protocol as :class:`~cycleml.serving.SqlDeploymentRepository`, so
:class:`~cycleml.serving.Deployments`, the prediction logger, feedback and batch scoring
work against a server unchanged (``CYCLEML_TRACKING_URI=http://host:port``), and the same
repository tests run through it. The transport (one keep-alive client, retries with backoff
re-sending the same ``X-Request-ID``, errors re-raised as the class the server raised) is the
kernel's :class:`cycleml.store._http.ApiClient`.

Every request is retried: the server applies each deployment write, a feedback batch and a
batch scoring record once per ``X-Request-ID``, and a prediction log part once per
``part_id``, which this client picks when the caller does not. ``models:/`` URIs resolve at
the registry's route (``GET /resolve/model-uri``). The listings that grow (prediction log
parts, feedback) are read page by page and returned whole, as the protocol returns them.

Deployment names go into URLs, so writes check them with the stage's own check first (the
same message as the server's); reads only refuse what cannot be a URL segment, and a name
that is not a deployment's is the server's ``NotFound``. Percents are checked here too, since
JSON cannot carry NaN; labels' NaN and infinities are sent as strings, as the store keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import EllipsisType
from typing import TYPE_CHECKING, Any

from cycleml.ids import new_id
from cycleml.registry import ModelVersion
from cycleml.serving._deployment_rules import check_percent
from cycleml.serving._sql_deployments import Deployment, DeploymentRevision, check_deployment_name
from cycleml.serving._sql_predictions import FeedbackRecord, PredictionLogPart
from cycleml.store import ModelUri, RestRepository, json_safe, url_segment

if TYPE_CHECKING:
    from cycleml.serving._repository import DeploymentRepository

__all__ = ["RestDeploymentRepository"]


def _path(name: str, tail: str = "", *, checked: bool = False) -> str:
    """``/deployments/<name><tail>``; ``checked``: the name is validated first (writes)."""
    if checked:
        check_deployment_name(name)
    return f"/deployments/{url_segment(name, 'deployment name')}{tail}"


def _percent(value: float | EllipsisType | None) -> Any:
    """A percent as JSON carries it: checked here, since JSON has no NaN."""
    return value if value is None or value is ... else check_percent(value)


def _uri_text(uri: str | ModelUri) -> str:
    if isinstance(uri, str):
        return uri
    if uri.alias is not None:
        return f"models:/{uri.name}@{uri.alias}"
    return f"models:/{uri.name}/{uri.version if uri.version is not None else uri.stage or 'latest'}"


class RestDeploymentRepository(RestRepository):
    """Deployments, the prediction log index and feedback on a ``cycleml server``.

    Arguments as :class:`~cycleml.store.RestRepository` takes them.
    """

    def resolve_model_uri(self, uri: str | ModelUri) -> ModelVersion:
        """The model version a ``models:/`` URI names now (the registry's route)."""
        found = self._call("GET", "/resolve/model-uri", params={"uri": _uri_text(uri)})
        return ModelVersion.from_dict(found)

    # ---- deployments -----------------------------------------------------------------------
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
        body = {
            "name": name,
            "model_uri": model_uri,
            "canary_uri": canary_uri,
            "canary_percent": _percent(canary_percent),
            "shadow_uri": shadow_uri,
            "description": description,
            "reason": reason,
            "actor": actor,
        }
        return Deployment.from_dict(self._call("POST", "/deployments", body))

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
        body = {
            "model_uri": model_uri,
            "canary_uri": canary_uri,
            "canary_percent": _percent(canary_percent),
            "shadow_uri": shadow_uri,
            "reason": reason,
            "actor": actor,
        }
        if description is not ...:  # left out: kept
            body["description"] = description
        return Deployment.from_dict(self._call("PUT", _path(name, checked=True), body))

    def get_deployment(self, name: str) -> Deployment:
        """A deployment's current configuration."""
        return Deployment.from_dict(self._call("GET", _path(name)))

    def list_deployments(self) -> list[Deployment]:
        """Every deployment, by name."""
        found = self._call("GET", "/deployments")
        return [Deployment.from_dict(item) for item in found["deployments"]]

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
        changes = {
            "model_uri": model_uri,
            "canary_uri": canary_uri,
            "canary_percent": _percent(canary_percent),
            "shadow_uri": shadow_uri,
            "description": description,
        }
        body = {key: value for key, value in changes.items() if value is not ...}
        body |= {"reason": reason, "actor": actor}
        return Deployment.from_dict(self._call("PATCH", _path(name, checked=True), body))

    def promote_deployment(
        self, name: str, *, reason: str = "", actor: str | None = None
    ) -> Deployment:
        """Make the canary the primary (and remove the canary) as the next revision."""
        body = {"reason": reason, "actor": actor}
        return Deployment.from_dict(self._call("POST", _path(name, "/promote"), body))

    def rollback_deployment(
        self,
        name: str,
        *,
        to_revision: int | None = None,
        reason: str = "",
        actor: str | None = None,
    ) -> Deployment:
        """Restore an earlier configuration as the next revision."""
        body = {"to_revision": to_revision, "reason": reason, "actor": actor}
        return Deployment.from_dict(self._call("POST", _path(name, "/rollback"), body))

    def list_deployment_revisions(self, name: str) -> list[DeploymentRevision]:
        """A deployment's configurations, oldest first."""
        found = self._call("GET", _path(name, "/revisions"))
        return [DeploymentRevision.from_dict(item) for item in found["revisions"]]

    # ---- prediction log --------------------------------------------------------------------
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
        body = {
            "digest": digest,
            "path": path,
            "rows": rows,
            "min_time": min_time,
            "max_time": max_time,
            "model_versions": [str(version) for version in model_versions],
            "bytes": bytes,
            # Chosen here, so a retry whose first attempt was indexed is the same part.
            "part_id": new_id() if part_id is None else part_id,
            "actor": actor,
        }
        found = self._call("POST", _path(deployment, "/prediction-log"), body)
        return PredictionLogPart.from_dict(found)

    def list_prediction_log_parts(
        self, deployment: str, *, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[PredictionLogPart]:
        """The parts whose rows may fall in ``[since_ms, until_ms)``, oldest first."""
        params = {"since_ms": since_ms, "until_ms": until_ms}
        pages = self._pages(_path(deployment, "/prediction-log"), "parts", params)
        return [PredictionLogPart.from_dict(item) for item in pages]

    # ---- batch scoring ---------------------------------------------------------------------
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
        body = {
            "batch_id": batch_id,
            "model_name": model_name,
            "model_version": model_version,
            "model_uri": model_uri,
            "inputs": [list(node) for node in inputs],
            "output": output,
            "rows": rows,
            "digest": digest,
            "actor": actor,
        }
        self._call("POST", "/batch-predictions", body)

    # ---- feedback --------------------------------------------------------------------------
    def add_feedback(
        self,
        deployment: str,
        records: Sequence[tuple[str, Any, int | None]],
        *,
        actor: str | None = None,
    ) -> int:
        """Store labels ``(request_id, label, time_ms or None for now)`` in one transaction."""
        # Tuples as JSON arrays; NaN and infinities as the strings the store keeps. The
        # records' shapes and values are checked by the server, with the SQL messages.
        body = {"records": json_safe(list(records)), "actor": actor}
        found = self._call("POST", _path(deployment, "/feedback"), body)
        return int(found["stored"])

    def list_feedback(
        self, deployment: str, *, since_ms: int | None = None
    ) -> list[FeedbackRecord]:
        """Every stored label (all of them, not only the latest), by time then insertion."""
        pages = self._pages(_path(deployment, "/feedback"), "feedback", {"since_ms": since_ms})
        return [FeedbackRecord.from_dict(item) for item in pages]


if TYPE_CHECKING:
    _REST_IMPLEMENTS: type[DeploymentRepository] = RestDeploymentRepository  # mypy: the protocol
