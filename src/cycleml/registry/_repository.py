"""The registry's repository: the :class:`ModelRepository` protocol and its SQL implementation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cycleml.errors import InvalidInput, NotFound
from cycleml.registry._entities import ModelVersion, RegisteredModel, StageTransition
from cycleml.registry._sql_changes import ModelChangeOps
from cycleml.registry._sql_models import parse_stage
from cycleml.store import ArtifactEntry, Database, ModelUri, RunUri, parse_uri

__all__ = ["ArtifactLocation", "ModelRepository", "SqlModelRepository"]


@dataclass(frozen=True)
class ArtifactLocation:
    """Where a ``runs:/`` or ``models:/`` URI points: a run, a path in it and its files."""

    uri: str
    run_id: str
    path: str
    entries: tuple[ArtifactEntry, ...]
    model_version: ModelVersion | None = None

    def to_dict(self) -> dict[str, Any]:
        """The location as JSON (its files as ``{"path", "digest", "size"}``)."""
        return {
            "uri": self.uri,
            "run_id": self.run_id,
            "path": self.path,
            "entries": [
                {"path": entry.path, "digest": entry.digest, "size": entry.size}
                for entry in self.entries
            ],
            "model_version": self.model_version.to_dict() if self.model_version else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArtifactLocation:
        """Read :meth:`to_dict`'s output back."""
        version = data.get("model_version")
        return cls(
            uri=data["uri"],
            run_id=data["run_id"],
            path=data["path"],
            entries=tuple(
                ArtifactEntry(item["path"], item["digest"], item["size"])
                for item in data["entries"]
            ),
            model_version=ModelVersion.from_dict(version) if version else None,
        )


class ModelRepository(Protocol):
    """Where registered models and their versions live: what :class:`Models` needs.

    :class:`SqlModelRepository` keeps them in SQLite or PostgreSQL;
    :class:`~cycleml.registry.RestModelRepository` reaches them through a ``cycleml server``.
    Every implementation runs the same tests.
    """

    def close(self) -> None:
        """Release the repository's connections."""
        ...

    def resolve_model_uri(self, uri: str | ModelUri) -> ModelVersion:
        """Resolve ``models:/name/3``, ``models:/name@alias``, ``/latest`` or ``/<stage>``."""
        ...

    def resolve_artifact_uri(self, uri: str) -> ArtifactLocation:
        """Resolve a ``runs:/`` or ``models:/`` URI to the run files it names."""
        ...

    def create_registered_model(
        self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        """Create a registered model with an unused name."""
        ...

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return a registered model with its tags, aliases and latest version number."""
        ...

    def list_registered_models(self) -> list[RegisteredModel]:
        """All registered models, by name."""
        ...

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
        ...

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """Return one model version (raise :class:`NotFound`)."""
        ...

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first."""
        ...

    def set_alias(self, name: str, version: int | str, alias: str) -> ModelVersion:
        """Point ``alias`` at a version (moving it if it pointed elsewhere)."""
        ...

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias from a model."""
        ...

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Resolve ``name@alias`` to its model version."""
        ...

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
        ...

    def get_stage_history(self, name: str, version: int | str) -> list[StageTransition]:
        """Every stage change of a version, oldest first."""
        ...

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """Set a tag of a registered model (replacing its value if it is set)."""
        ...

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag of a registered model (raise :class:`NotFound` if it is not set)."""
        ...

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """Set a tag of a model version (replacing its value if it is set)."""
        ...

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        """Remove a tag of a model version (raise :class:`NotFound` if it is not set)."""
        ...

    def update_registered_model(self, name: str, *, description: str) -> RegisteredModel:
        """Change a registered model's description; the model."""
        ...

    def update_model_version(
        self, name: str, version: int | str, *, description: str
    ) -> ModelVersion:
        """Change a model version's description; the version."""
        ...

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Give a registered model a new, unused name; its versions, tags, aliases and stage
        history move along (raise :class:`AlreadyExists` if the name is taken)."""
        ...

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version: it leaves every read and loses its aliases; its number is never
        used again."""
        ...

    def delete_registered_model(self, name: str) -> None:
        """Delete a registered model and its versions; the name can be registered again."""
        ...


class SqlModelRepository(ModelChangeOps):
    """Registered models, versions, aliases and stage history in the SQL database.

    Args:
        db: The kernel database (see :func:`cycleml.store.open_database`).
    """

    def __init__(self, db: Database) -> None:
        super().__init__(db)

    def resolve_model_uri(self, uri: str | ModelUri) -> ModelVersion:
        """Resolve ``models:/name/3``, ``models:/name@alias``, ``/latest`` or ``/<stage>``."""
        parsed = parse_uri(uri) if isinstance(uri, str) else uri
        if not isinstance(parsed, ModelUri):
            raise InvalidInput(f"Expected a models:/ URI, got {uri!r}.")
        if parsed.alias is not None:
            return self.get_version_by_alias(parsed.name, parsed.alias)
        if parsed.version is not None:
            return self.get_model_version(parsed.name, parsed.version)
        versions = self.list_model_versions(parsed.name)
        if parsed.stage is not None:
            stage = parse_stage(parsed.stage)
            versions = [v for v in versions if v.current_stage == stage.value]
        if not versions:
            raise NotFound(f"No model version matches {uri!r}.")
        return versions[-1]

    def resolve_artifact_uri(self, uri: str) -> ArtifactLocation:
        """Resolve a ``runs:/`` or ``models:/`` URI to the run files it names.

        Run files are read from the kernel's artifact index by run id.

        Raises:
            InvalidInput: The URI is malformed.
            NotFound: The model, version, alias or path does not exist.
        """
        parsed = parse_uri(uri)
        model_version: ModelVersion | None = None
        if isinstance(parsed, ModelUri):
            model_version = self.resolve_model_uri(parsed)
            try:  # sources such as s3://... are valid, they just name no run files
                source: RunUri | ModelUri | None = parse_uri(model_version.source)
            except InvalidInput:
                source = None
            if not isinstance(source, RunUri):
                raise NotFound(f"Model version source {model_version.source!r} is not a run.")
            parsed = source
        entries = self.db.indexed_artifacts("run", parsed.run_id, parsed.path)
        if parsed.path and not entries:
            raise NotFound(
                f"Run {parsed.run_id} has no artifact at {parsed.path!r}.",
                hint=f"List its files with `cycleml runs show {parsed.run_id}`.",
            )
        if not entries:  # an unknown run, or one with no files: nothing to resolve to
            raise NotFound(
                f"Nothing is stored at {uri!r}.",
                hint=f"List the run's files with `cycleml runs show {parsed.run_id}`.",
            )
        return ArtifactLocation(
            uri=uri,
            run_id=parsed.run_id,
            path=parsed.path,
            entries=tuple(entries),
            model_version=model_version,
        )


if TYPE_CHECKING:
    _SQL_IMPLEMENTS: type[ModelRepository] = SqlModelRepository  # mypy: SQL keeps the protocol
