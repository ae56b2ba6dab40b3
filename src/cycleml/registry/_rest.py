"""`RestModelRepository`: the model repository of a ``cycleml server``, over its ``/api/v1``.

The same protocol as :class:`~cycleml.registry.SqlModelRepository`, so
:class:`~cycleml.registry.Models` works against a server unchanged
(``CYCLEML_TRACKING_URI=http://host:port``), and the same repository tests run through it.
The transport (one keep-alive client, retries with backoff re-sending the same
``X-Request-ID``, errors re-raised as the class the server raised) is the kernel's
:class:`cycleml.store._http.ApiClient`, shared with the run repository.

Every request is retried as the run repository's are: the server applies a model's or a
version's creation, a stage change and a rename once per ``X-Request-ID``; setting an alias
or a tag is a ``PUT`` and changing a description a ``PATCH`` of the same value, so applying
them twice changes nothing. Deleting an alias, a tag, a version or a model is retried only
when it surely was not applied (``ApiClient.call(replayable=False)``): a retry would find
it gone.

Version numbers are read here with the stage's own check, since they go into URLs; names and
aliases are refused here only when they cannot be a URL segment, and checked by the server,
with the same messages as the SQL repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cycleml.registry._entities import ModelVersion, RegisteredModel, StageTransition
from cycleml.registry._repository import ArtifactLocation, ModelRepository
from cycleml.registry._sql_models import ModelOps, _metrics_snapshot
from cycleml.store import ModelUri, RestRepository, url_segment
from cycleml.validation import check_key

__all__ = ["RestModelRepository"]


def _name(name: str) -> str:
    return url_segment(name, "model name")


def _version(version: int | str) -> int:
    return ModelOps._version_number(version)


def _tag_key(key: str) -> str:
    # Checked here, since it goes into the URL. Keys may hold '/' (the route takes the rest
    # of the path) and '.', escaped too so that no client drops a "." segment.
    return quote(check_key(key, "tag"), safe="").replace(".", "%2E")


def _model_uri_text(uri: ModelUri) -> str:
    if uri.alias is not None:
        return f"models:/{uri.name}@{uri.alias}"
    ref = uri.version if uri.version is not None else uri.stage or "latest"
    return f"models:/{uri.name}/{ref}"


class RestModelRepository(RestRepository):
    """Registered models and their versions on a ``cycleml server``, through its REST API.

    Arguments as :class:`~cycleml.store.RestRepository` takes them.
    """

    @staticmethod
    def _version_path(name: str, version: int | str, tail: str = "") -> str:
        return f"/models/{_name(name)}/versions/{_version(version)}{tail}"

    @staticmethod
    def _alias_path(name: str, alias: str) -> str:
        return f"/models/{_name(name)}/aliases/{url_segment(alias, 'alias')}"

    # ---- URIs ------------------------------------------------------------------------------
    def resolve_model_uri(self, uri: str | ModelUri) -> ModelVersion:
        """Resolve ``models:/name/3``, ``models:/name@alias``, ``/latest`` or ``/<stage>``."""
        text = uri if isinstance(uri, str) else _model_uri_text(uri)
        return ModelVersion.from_dict(self._call("GET", "/resolve/model-uri", params={"uri": text}))

    def resolve_artifact_uri(self, uri: str) -> ArtifactLocation:
        """Resolve a ``runs:/`` or ``models:/`` URI to the run files it names."""
        found = self._call("GET", "/resolve/artifact-uri", params={"uri": uri})
        return ArtifactLocation.from_dict(found)

    # ---- registered models -----------------------------------------------------------------
    def create_registered_model(
        self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        """Create a registered model with an unused name."""
        body = {"name": name, "description": description, "tags": dict(tags or {})}
        return RegisteredModel.from_dict(self._call("POST", "/models", body))

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return a registered model with its tags, aliases and latest version number."""
        return RegisteredModel.from_dict(self._call("GET", f"/models/{_name(name)}"))

    def list_registered_models(self) -> list[RegisteredModel]:
        """All registered models, by name."""
        found = self._call("GET", "/models")
        return [RegisteredModel.from_dict(item) for item in found["models"]]

    # ---- versions --------------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        *,
        source: str,
        run_id: str | None = None,
        metrics: Mapping[str, float] | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        signature: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Add the next version of a registered model, linked to its source run."""
        body = {
            "source": source,
            "run_id": run_id,
            # Checked as the SQL repository checks it; NaN and infinities as strings.
            "metrics": _metrics_snapshot(metrics) if metrics is not None else None,
            "description": description,
            "tags": dict(tags or {}),
            "signature": dict(signature) if signature is not None else None,
        }
        path = f"/models/{_name(name)}/versions"
        return ModelVersion.from_dict(self._call("POST", path, body))

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """Return one model version (raise :class:`NotFound`)."""
        return ModelVersion.from_dict(self._call("GET", self._version_path(name, version)))

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first."""
        found = self._call("GET", f"/models/{_name(name)}/versions")
        return [ModelVersion.from_dict(item) for item in found["versions"]]

    # ---- aliases ---------------------------------------------------------------------------
    def set_alias(self, name: str, version: int | str, alias: str) -> ModelVersion:
        """Point ``alias`` at a version (moving it if it pointed elsewhere)."""
        path = self._alias_path(name, alias)
        body = {"version": _version(version)}
        return ModelVersion.from_dict(self._call("PUT", path, body))

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias from a model."""
        # A retry after a lost answer would find the alias gone (404): not replayed.
        self._call("DELETE", self._alias_path(name, alias), replayable=False)

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Resolve ``name@alias`` to its model version."""
        return ModelVersion.from_dict(self._call("GET", self._alias_path(name, alias)))

    # ---- stages ----------------------------------------------------------------------------
    def transition_stage(
        self,
        name: str,
        version: int | str,
        *,
        to_stage: str,
        reason: str = "",
        forced: bool = False,
        archive_existing: bool = False,
        audit_payload: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Move a version to another stage and record who, when and why."""
        body = {
            "to_stage": to_stage,
            "reason": reason,
            "forced": bool(forced),
            "archive_existing": bool(archive_existing),
            "audit_payload": dict(audit_payload) if audit_payload is not None else None,
        }
        path = self._version_path(name, version, "/stage")
        return ModelVersion.from_dict(self._call("POST", path, body))

    def get_stage_history(self, name: str, version: int | str) -> list[StageTransition]:
        """Every stage change of a version, oldest first."""
        found = self._call("GET", self._version_path(name, version, "/stage-history"))
        return [StageTransition.from_dict(item) for item in found["transitions"]]

    # ---- tags ------------------------------------------------------------------------------
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """Set a tag of a registered model (replacing its value if it is set)."""
        self._call("PUT", f"/models/{_name(name)}/tags/{_tag_key(key)}", {"value": str(value)})

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag of a registered model (raise :class:`NotFound` if it is not set)."""
        path = f"/models/{_name(name)}/tags/{_tag_key(key)}"
        self._call("DELETE", path, replayable=False)  # a retry would find the tag gone

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """Set a tag of a model version (replacing its value if it is set)."""
        path = self._version_path(name, version, f"/tags/{_tag_key(key)}")
        self._call("PUT", path, {"value": str(value)})

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        """Remove a tag of a model version (raise :class:`NotFound` if it is not set)."""
        path = self._version_path(name, version, f"/tags/{_tag_key(key)}")
        self._call("DELETE", path, replayable=False)

    # ---- descriptions, renames, deletions ----------------------------------------------------
    def update_registered_model(self, name: str, *, description: str) -> RegisteredModel:
        """Change a registered model's description; the model."""
        found = self._call("PATCH", f"/models/{_name(name)}", {"description": description})
        return RegisteredModel.from_dict(found)

    def update_model_version(
        self, name: str, version: int | str, *, description: str
    ) -> ModelVersion:
        """Change a model version's description; the version."""
        found = self._call("PATCH", self._version_path(name, version), {"description": description})
        return ModelVersion.from_dict(found)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Give a registered model a new, unused name; its versions, tags, aliases and stage
        history move along (raise :class:`AlreadyExists` if the name is taken)."""
        found = self._call("POST", f"/models/{_name(name)}/rename", {"new_name": new_name})
        return RegisteredModel.from_dict(found)

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version: it leaves every read and loses its aliases; its number is never
        used again."""
        self._call("DELETE", self._version_path(name, version), replayable=False)

    def delete_registered_model(self, name: str) -> None:
        """Delete a registered model and its versions; the name can be registered again."""
        self._call("DELETE", f"/models/{_name(name)}", replayable=False)


if TYPE_CHECKING:
    _REST_IMPLEMENTS: type[ModelRepository] = RestModelRepository  # mypy: REST keeps the protocol
