"""The settings and spec a stage service works with (cycleml.spec.service_project)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cycleml.settings import resolve_settings
from cycleml.spec import init_project, load_spec, service_project


def test_explicit_settings_read_the_spec_of_their_project_folder(tmp_path: Path) -> None:
    bare = resolve_settings(home=tmp_path / "bare")
    assert service_project(bare, None) == (bare, None)
    init_project(tmp_path / "project")
    settings = resolve_settings(home=tmp_path / "project")
    found, spec = service_project(settings, None)
    assert found is settings
    assert spec == load_spec(tmp_path / "project" / "cycleml.yaml")
    given = spec.model_copy(update={"name": "given"}) if spec is not None else None
    assert service_project(settings, given) == (settings, given)  # a given spec wins


def test_no_settings_means_the_current_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    settings, spec = service_project(None, None)
    assert settings.home == tmp_path.resolve()
    assert spec is not None
