"""The model registry service: register versions, aliases, stages and deploy gates."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from cycleml.errors import GateFailed, InvalidInput, NotFound
from cycleml.registry._entities import ModelVersion, RegisteredModel, Stage, StageTransition
from cycleml.registry._repository import ArtifactLocation, ModelRepository, SqlModelRepository
from cycleml.registry._rest import RestModelRepository
from cycleml.registry._sql_models import parse_stage
from cycleml.settings import Settings
from cycleml.spec import GateReport, MetricSpec, ProjectSpec, check_gates, service_project
from cycleml.store import ArtifactEntry, Database, RunUri, open_database, parse_uri
from cycleml.validation import invalid_parameter

__all__ = ["GATED_STAGES", "Models"]

#: A model folder's metadata file (cycleml.models writes it; the registry only reads it).
MODEL_FILE = "model.yaml"

#: Moving a version into these stages runs the ``applies_to: deploy`` gates.
GATED_STAGES = (Stage.STAGING, Stage.PRODUCTION)


class Models:
    """The registered models: register versions, name them with aliases, move their stages.

    The registry reads no runs: :meth:`register` keeps the metrics snapshot it is given.
    :func:`cycleml.models.register_model` registers a run's model with the run's latest
    metrics as that snapshot.

    Args:
        settings: Where the stores are; default: resolved from the environment.
        repository: The repository to use; default: :class:`RestModelRepository` on the
            ``cycleml server`` an http(s) tracking URI names (with the settings' tracking
            token), else :class:`SqlModelRepository` on ``store``.
        store: An open database to use instead of opening one from settings.
        spec: The project spec whose ``applies_to: deploy`` metrics gate transitions;
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
        settings, spec = service_project(settings, spec)
        self.settings = settings
        self.repository: ModelRepository
        if repository is not None:
            self.repository = repository
        elif store is None and self.settings.tracking_uri.startswith(("http://", "https://")):
            self.repository = RestModelRepository(
                self.settings.tracking_uri, token=self.settings.tracking_token
            )
        else:
            self.repository = SqlModelRepository(store or open_database(self.settings))
        self.spec = spec

    # ---- registering -------------------------------------------------------------------
    def register(
        self,
        name: str,
        model_uri: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        signature: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> ModelVersion:
        """Register the model folder ``runs:/<run_id>/<path>`` as the next version of ``name``.

        The model is created when missing. The version keeps ``metrics`` as its snapshot,
        which the deploy gates check later (none given: an empty snapshot, which gated
        stages refuse), and the model's signature (``Signature.to_dict()``, plain JSON):
        the one given, else the one recorded in the folder's ``model.yaml``.

        Args:
            name: Registered model name.
            model_uri: ``runs:/<run_id>/<path>``; the run must have files under ``path``.
            description: The version's description.
            tags: The version's tags.
            signature: The model's signature; default: the one in ``model.yaml``.
            metrics: The metrics snapshot the deploy gates check.

        Raises:
            InvalidInput: The URI is not a ``runs:/`` URI, or the name is invalid.
            NotFound: The run has no files at the URI.
        """
        parsed = parse_uri(model_uri)
        if not isinstance(parsed, RunUri):
            raise InvalidInput(
                f"Cannot register {model_uri!r}: only runs:/<run_id>/<path> URIs can be "
                "registered.",
                hint="Register the run's model folder, e.g. runs:/<run_id>/model.",
            )
        try:
            files = list(self.repository.resolve_artifact_uri(model_uri).entries)
        except NotFound as missing:
            where = f" at {parsed.path!r}" if parsed.path else ""
            raise NotFound(
                f"Cannot register {model_uri!r}: run {parsed.run_id} has no artifacts{where}.",
                hint="Log the model first (autolog logs it under 'model').",
            ) from missing
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
            metrics=metrics,
            description=description or "",
            tags=tags,
            signature=signature,
        )

    def _folder_signature(
        self, files: builtins.list[ArtifactEntry], folder: str
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

    # ---- reading -----------------------------------------------------------------------
    def get(self, name: str) -> RegisteredModel:
        """A registered model (raise :class:`NotFound`)."""
        return self.repository.get_registered_model(name)

    def list(self) -> builtins.list[RegisteredModel]:
        """Every registered model, by name."""
        return self.repository.list_registered_models()

    def get_version(self, name: str, version: int | str) -> ModelVersion:
        """One version of a model (raise :class:`NotFound`)."""
        return self.repository.get_model_version(name, version)

    def list_versions(self, name: str) -> builtins.list[ModelVersion]:
        """Every version of a model, oldest first."""
        return self.repository.list_model_versions(name)

    def resolve(self, uri: str) -> ArtifactLocation:
        """Resolve ``models:/name/3``, ``models:/name@alias`` or ``runs:/id/path`` to files."""
        return self.repository.resolve_artifact_uri(uri)

    # ---- changing and deleting ---------------------------------------------------------
    def update(self, name: str, *, description: str) -> RegisteredModel:
        """Change a registered model's description; the model."""
        return self.repository.update_registered_model(name, description=description)

    def update_version(self, name: str, version: int | str, *, description: str) -> ModelVersion:
        """Change a model version's description; the version."""
        return self.repository.update_model_version(name, version, description=description)

    def set_tag(self, name: str, key: str, value: str) -> None:
        """Set a tag of a registered model (replacing its value if it is set)."""
        self.repository.set_registered_model_tag(name, key, value)

    def delete_tag(self, name: str, key: str) -> None:
        """Remove a tag of a registered model (raise :class:`NotFound` if it is not set)."""
        self.repository.delete_registered_model_tag(name, key)

    def set_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        """Set a tag of a model version (replacing its value if it is set)."""
        self.repository.set_model_version_tag(name, version, key, value)

    def delete_version_tag(self, name: str, version: int | str, key: str) -> None:
        """Remove a tag of a model version (raise :class:`NotFound` if it is not set)."""
        self.repository.delete_model_version_tag(name, version, key)

    def rename(self, name: str, new_name: str) -> RegisteredModel:
        """Give a registered model a new, unused name; its versions, tags, aliases and stage
        history move along, and ``models:/<new_name>/...`` names them from now on.

        The audit rows stay under the old name; the rename is recorded under both names, and
        a ``renamed_to`` lineage edge leads from each old version id to its new one.

        Raises:
            AlreadyExists: ``new_name`` names a model, or a deleted one.
            NotFound: There is no model ``name``.
        """
        return self.repository.rename_registered_model(name, new_name)

    def delete(self, name: str) -> None:
        """Delete a registered model and its versions (raise :class:`NotFound`).

        Deletion is soft: lineage and audit keep naming the versions, which leave every
        read, and their aliases are removed. The name can be registered again; its new
        versions are numbered after the deleted ones.
        """
        self.repository.delete_registered_model(name)

    def delete_version(self, name: str, version: int | str) -> None:
        """Delete one version (raise :class:`NotFound`): it leaves every read and loses its
        aliases, and its number is never used again."""
        self.repository.delete_model_version(name, version)

    # ---- aliases -----------------------------------------------------------------------
    def set_alias(self, name: str, version: int | str, alias: str) -> ModelVersion:
        """Point ``name@alias`` at a version (moving it if it pointed elsewhere).

        Raises:
            InvalidInput: The alias is invalid, or the arguments are in the order
                ``(name, alias, version)`` of ``ModelRegistry.set_alias``.
        """
        if not isinstance(alias, str) or (isinstance(version, str) and not version.isdigit()):
            raise invalid_parameter(
                "version",
                version,
                "a version number: set_alias takes (name, version, alias)",
                hint="The arguments look like the old order (name, alias, version) of "
                "ModelRegistry.set_alias.",
                example=f"set_alias({name!r}, {alias!r}, {version!r})",
            )
        return self.repository.set_alias(name, version, alias)

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``name@alias`` (raise :class:`NotFound`)."""
        self.repository.delete_alias(name, alias)

    # ---- stages and gates --------------------------------------------------------------
    def get_deploy_gates(self) -> builtins.list[MetricSpec]:
        """The spec's metrics with ``applies_to: deploy`` (none without a spec)."""
        return self.spec.metrics_for("deploy") if self.spec is not None else []

    def check(self, name: str, version: int | str) -> GateReport:
        """Check a version against the deploy gates without changing anything."""
        found = self.repository.get_model_version(name, version)
        return check_gates(found.metrics, self.get_deploy_gates(), name=name, version=found.version)

    def transition(
        self,
        name: str,
        version: int | str,
        stage: Stage | str,
        *,
        reason: str = "",
        force: bool = False,
        archive_existing: bool = False,
    ) -> ModelVersion:
        """Move a version to a stage; Staging and Production must pass the deploy gates.

        Args:
            name: Registered model name.
            version: Version number.
            stage: Target stage: None, Staging, Production or Archived (any case).
            reason: Why; kept in the stage history.
            force: Move even though gates fail; the override is recorded in the audit log.
            archive_existing: Move other versions in the target stage to Archived.

        Raises:
            GateFailed: A gate refused the version (``details['failures']`` lists each).
            InvalidState: The version is already in that stage.
        """
        target = parse_stage(stage)
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

    def list_transitions(self, name: str, version: int | str) -> builtins.list[StageTransition]:
        """Who moved a version between stages, when and why, oldest first."""
        return self.repository.get_stage_history(name, version)

    def close(self) -> None:
        """Release the store."""
        self.repository.close()
