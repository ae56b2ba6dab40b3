"""Settings of a project: the environment merged with its ``cycleml.yaml``.

Every entry point (the Python API, the CLI) resolves settings through here, so the
spec's ``storage`` section is honoured the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cycleml.settings import PROJECT_FILE, Settings, resolve_settings
from cycleml.spec._load import load_spec
from cycleml.spec._model import ProjectSpec

__all__ = ["load_project", "project_settings", "service_project"]


def load_project(
    *,
    home: str | Path | None = None,
    metadata_uri: str | None = None,
    artifact_uri: str | None = None,
    tracking_uri: str | None = None,
    actor: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Settings, ProjectSpec | None]:
    """Resolve settings (defaults < env < cycleml.yaml < arguments) and load the spec.

    The spec is ``None`` when the project folder has no ``cycleml.yaml``.

    Raises:
        SpecError: The project's cycleml.yaml is malformed.
    """
    base = resolve_settings(home=home, environ=environ)
    spec_file = base.home / PROJECT_FILE
    spec = load_spec(spec_file) if spec_file.is_file() else None
    settings = resolve_settings(
        home=base.home,
        metadata_uri=metadata_uri,
        artifact_uri=artifact_uri,
        tracking_uri=tracking_uri,
        actor=actor,
        environ=environ,
        storage=spec.storage.as_mapping() if spec is not None else None,
    )
    return settings, spec


def project_settings(
    *,
    home: str | Path | None = None,
    metadata_uri: str | None = None,
    artifact_uri: str | None = None,
    tracking_uri: str | None = None,
    actor: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings of the project at ``home`` (or the nearest one), honouring its spec."""
    settings, _ = load_project(
        home=home,
        metadata_uri=metadata_uri,
        artifact_uri=artifact_uri,
        tracking_uri=tracking_uri,
        actor=actor,
        environ=environ,
    )
    return settings


def service_project(
    settings: Settings | None, spec: ProjectSpec | None
) -> tuple[Settings, ProjectSpec | None]:
    """The settings and spec a stage service works with, from what its caller passed.

    No settings: the current project's, and its spec unless one is given. Explicit settings:
    those, with the given spec, else ``cycleml.yaml`` in their project folder if there is one.

    Raises:
        SpecError: The project's cycleml.yaml is malformed.
    """
    if settings is None:
        settings, found = load_project()
        return settings, spec if spec is not None else found
    if spec is None and (settings.home / PROJECT_FILE).is_file():
        spec = load_spec(settings.home / PROJECT_FILE)
    return settings, spec
