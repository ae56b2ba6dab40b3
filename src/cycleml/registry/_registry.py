"""The model registry service: register versions, aliases, stages and promotion gates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cycleml.errors import GateFailed, InvalidInput, NotFound
from cycleml.registry._entities import ModelVersion, RegisteredModel, Stage, StageTransition
from cycleml.registry._repository import ArtifactLocation, ModelRepository, SqlModelRepository
from cycleml.registry._sql_models import parse_stage
from cycleml.settings import PROJECT_FILE, Settings
from cycleml.spec import GateReport, MetricSpec, ProjectSpec, check_gates, load_project, load_spec

if TYPE_CHECKING:
    from cycleml.tracking import SqlRunRepository

from cycleml.store import (
    ArtifactEntry,
    Database,
    RunUri,
    database_of,
    open_database,
    parse_uri,
)

__all__ = ["GATED_STAGES", "ModelRegistry"]

#: A model folder's metadata file (cycleml.models writes it; the registry only reads it).
MODEL_FILE = "model.yaml"

#: Moving a version into these stages runs the ``applies_to: deploy`` gates.
GATED_STAGES = (Stage.STAGING, Stage.PRODUCTION)


class ModelRegistry:
    """Register model versions from runs, name them with aliases, and promote them.

    Args:
        settings: Where the stores are; default: resolved from the environment.
        repository: The repository to use; default: :class:`SqlModelRepository` on ``store``.
        store: An open database to use instead of opening one from settings.
        spec: The project spec whose ``applies_to: deploy`` metrics gate promotions;
            default: ``cycleml.yaml`` in the settings' project folder, if there is one.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        repository: ModelRepository | None = None,
        store: Database | None = None,
        spec: ProjectSpec | None = None,
    ) -> None:
        if settings is None:
            settings, found = load_project()
            spec = spec if spec is not None else found
        elif spec is None and (settings.home / PROJECT_FILE).is_file():
            spec = load_spec(settings.home / PROJECT_FILE)
        self.settings = settings
        self.repository: ModelRepository = repository or SqlModelRepository(
            store or open_database(self.settings)
        )
        self.spec = spec

    # ---- registering -------------------------------------------------------------------
    def register_model(
        self,
        model_uri: str,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        signature: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Register ``runs:/<run_id>/<path>`` as the next version of ``name``.

        The model is created when missing. The version keeps a snapshot of the run's
        latest metrics, which promotion gates check later, and the model's signature
        (``Signature.to_dict()``, plain JSON): the one given, else the one recorded in the
        folder's ``model.yaml``.
        """
        parsed = parse_uri(model_uri)
        if not isinstance(parsed, RunUri):
            raise InvalidInput(
                f"Cannot register {model_uri!r}: only runs:/<run_id>/<path> URIs can be "
                "registered.",
                hint="Register the run's model folder, e.g. runs:/<run_id>/model.",
            )
        runs = self._runs()
        run = runs.get_run(parsed.run_id)
        files = runs.list_artifacts(parsed.run_id, parsed.path)
        if parsed.path and not files:
            raise NotFound(
                f"Run {parsed.run_id} has no artifacts at {parsed.path!r}.",
                hint="Log the model first (autolog logs it under 'model').",
            )
        if signature is None:
            signature = self._folder_signature(files, parsed.path)
        try:
            self.repository.get_registered_model(name)
        except NotFound:
            self.repository.create_registered_model(name)
        return self.repository.create_model_version(
            name,
            source=model_uri,
            run_id=parsed.run_id,
            metrics=run.data.metrics,
            description=description,
            tags=tags,
            signature=signature,
        )

    def _runs(self) -> SqlRunRepository:
        """The runs a version is registered from (their metrics snapshot and files)."""
        from cycleml.tracking import SqlRunRepository

        return SqlRunRepository(database_of(self.repository) or open_database(self.settings))

    def _folder_signature(
        self, files: list[ArtifactEntry], folder: str
    ) -> Mapping[str, Any] | None:
        """The signature in the folder's ``model.yaml``, read as plain YAML (no model code)."""
        wanted = f"{folder}/{MODEL_FILE}" if folder else MODEL_FILE
        entry = next((e for e in files if e.path == wanted), None)
        if entry is None:
            return None
        import yaml

        from cycleml.store import open_artifact_store

        text = open_artifact_store(self.settings.artifact_uri).get_bytes(entry.digest)
        try:
            found = yaml.safe_load(text)
        except yaml.YAMLError:
            return None  # not a model file this registry can read; nothing to record
        signature = found.get("signature") if isinstance(found, dict) else None
        return signature if isinstance(signature, dict) else None

    def get_model(self, name: str) -> RegisteredModel:
        """A registered model."""
        return self.repository.get_registered_model(name)

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model."""
        return self.repository.list_registered_models()

    def get_version(self, name: str, version: int | str) -> ModelVersion:
        """One version of a model."""
        return self.repository.get_model_version(name, version)

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model."""
        return self.repository.list_model_versions(name)

    def resolve(self, uri: str) -> ArtifactLocation:
        """Resolve ``models:/name/3``, ``models:/name@alias`` or ``runs:/id/path`` to files."""
        return self.repository.resolve_artifact_uri(uri)

    # ---- aliases -----------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int | str) -> ModelVersion:
        """Point ``name@alias`` at a version."""
        return self.repository.set_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``name@alias``."""
        self.repository.delete_alias(name, alias)

    # ---- stages and gates --------------------------------------------------------------
    def deploy_gates(self) -> list[MetricSpec]:
        """The spec's metrics with ``applies_to: deploy`` (none without a spec)."""
        return self.spec.metrics_for("deploy") if self.spec is not None else []

    def check(self, name: str, version: int | str) -> GateReport:
        """Check a version against the deploy gates without changing anything."""
        found = self.repository.get_model_version(name, version)
        return check_gates(found.metrics, self.deploy_gates(), name=name, version=found.version)

    def promote(
        self,
        name: str,
        version: int | str,
        *,
        to: str = "Production",
        reason: str = "",
        force: bool = False,
        archive_existing: bool = False,
    ) -> ModelVersion:
        """Move a version to a stage; Staging and Production must pass the deploy gates.

        Args:
            name: Registered model name.
            version: Version number.
            to: Target stage: None, Staging, Production or Archived.
            reason: Why; kept in the stage history.
            force: Promote even though gates fail; the override is recorded in the audit log.
            archive_existing: Move other versions in the target stage to Archived.

        Raises:
            GateFailed: A gate refused the version (``details['failures']`` lists each).
        """
        target = parse_stage(to)
        report = self.check(name, version)
        gated = target in GATED_STAGES
        if gated and not report.passed and not force:
            lines = "; ".join(f.reason for f in report.failures)
            raise GateFailed(
                f"Model {name!r} version {report.version} cannot move to {target.value}: "
                f"{len(report.failures)} deploy gate(s) failed: {lines}.",
                hint="Improve the model, change the thresholds in cycleml.yaml, or pass "
                "force=True (--force) to override; an override is recorded in the audit log.",
                details={"failures": [f.to_dict() for f in report.failures]},
            )
        audit: dict[str, Any] = {"gates": [c.to_dict() for c in report.checks]} if gated else {}
        if gated and not report.passed:
            audit["overridden_failures"] = [f.metric for f in report.failures]
        return self.repository.transition_stage(
            name,
            report.version,
            to_stage=target.value,
            reason=reason,
            forced=bool(force and gated and not report.passed),
            archive_existing=archive_existing,
            audit_payload=audit,
        )

    def stage_history(self, name: str, version: int | str) -> list[StageTransition]:
        """Who moved a version between stages, when and why."""
        return self.repository.get_stage_history(name, version)

    def close(self) -> None:
        """Release the store."""
        self.repository.close()
