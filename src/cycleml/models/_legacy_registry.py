"""``cycleml.registry.ModelRegistry``: the old registry service, kept one release.

:class:`cycleml.registry.Models` replaced it (issue 11, the API convention). This subclass
keeps the old method names and signatures, and the old ``register_model``, which snapshots
the run's latest metrics. It lives in ``models`` because that snapshot reads tracking,
which the registry may not import; ``cycleml.registry`` serves the name lazily.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from cycleml._api import warn_renamed
from cycleml.models._registering import register_run_model
from cycleml.registry import Models, ModelVersion, RegisteredModel, StageTransition
from cycleml.registry._repository import ModelRepository
from cycleml.settings import Settings
from cycleml.spec import MetricSpec, ProjectSpec
from cycleml.store import Database

__all__ = ["ModelRegistry"]


class ModelRegistry(Models):
    """Deprecated: use :class:`cycleml.registry.Models` (removed after one release).

    The old methods map onto the new ones: ``register_model(model_uri, name)`` is
    :func:`cycleml.models.register_model`, ``get_model`` :meth:`~Models.get`,
    ``list_models`` :meth:`~Models.list`, ``set_alias(name, alias, version)``
    :meth:`~Models.set_alias` ``(name, version, alias)``, ``deploy_gates``
    :meth:`~Models.get_deploy_gates`, ``promote(name, version, to=...)``
    :meth:`~Models.transition` and ``stage_history`` :meth:`~Models.list_transitions`.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        repository: ModelRepository | None = None,
        store: Database | None = None,
        spec: ProjectSpec | None = None,
    ) -> None:
        warn_renamed("cycleml.registry.ModelRegistry", "cycleml.registry.Models")
        super().__init__(settings, repository=repository, store=store, spec=spec)

    def register_model(
        self,
        model_uri: str,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        signature: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Register a run's model with the run's latest metrics (see ``register_model``)."""
        return register_run_model(
            self, model_uri, name, description=description, tags=tags, signature=signature
        )

    def get_model(self, name: str) -> RegisteredModel:
        """A registered model (now :meth:`Models.get`)."""
        return self.get(name)

    def list_models(self) -> builtins.list[RegisteredModel]:
        """Every registered model (now :meth:`Models.list`)."""
        return self.list()

    def set_alias(  # type: ignore[override]  # the old argument order, kept one release
        self, name: str, alias: str, version: int | str
    ) -> ModelVersion:
        """Point ``name@alias`` at a version (now ``Models.set_alias(name, version, alias)``)."""
        return super().set_alias(name, version, alias)

    def deploy_gates(self) -> builtins.list[MetricSpec]:
        """The deploy gates (now :meth:`Models.get_deploy_gates`)."""
        return self.get_deploy_gates()

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
        """Move a version to stage ``to`` (now :meth:`Models.transition`)."""
        return self.transition(
            name, version, to, reason=reason, force=force, archive_existing=archive_existing
        )

    def stage_history(self, name: str, version: int | str) -> builtins.list[StageTransition]:
        """A version's stage changes (now :meth:`Models.list_transitions`)."""
        return self.list_transitions(name, version)
