"""Settings precedence: defaults < environment < cycleml.yaml storage < explicit arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from cycleml.settings import (
    ENV_VARS,
    find_project_root,
    is_server_uri,
    resolve_settings,
    tracking_token,
)


def test_defaults_live_in_the_project_state_folder(tmp_path: Path) -> None:
    settings = resolve_settings(home=tmp_path, environ={})
    assert settings.metadata_uri == f"sqlite:///{tmp_path / '.cycleml' / 'metadata.db'}"
    assert settings.artifact_uri == (tmp_path / ".cycleml" / "artifacts").as_uri()
    assert settings.tracking_uri == settings.metadata_uri
    assert settings.actor  # the OS user
    assert settings.state_dir == tmp_path / ".cycleml"


def test_precedence(tmp_path: Path) -> None:
    env = {
        "CYCLEML_METADATA_URI": "sqlite:///env.db",
        "CYCLEML_ARTIFACT_URI": "memory://env",
        "CYCLEML_ACTOR": "env-user",
        "CYCLEML_EXPERIMENT_NAME": "env-exp",
    }
    from_env = resolve_settings(home=tmp_path, environ=env)
    assert (from_env.metadata_uri, from_env.artifact_uri) == ("sqlite:///env.db", "memory://env")
    assert (from_env.actor, from_env.experiment_name) == ("env-user", "env-exp")
    from_spec = resolve_settings(
        home=tmp_path,
        environ=env,
        storage={"metadata_uri": "sqlite:///spec.db", "artifact_uri": None},
    )
    assert from_spec.metadata_uri == "sqlite:///spec.db"
    assert from_spec.artifact_uri == "memory://env"
    explicit = resolve_settings(
        home=tmp_path,
        environ=env,
        storage={"metadata_uri": "sqlite:///spec.db"},
        metadata_uri="sqlite:///flag.db",
        actor="flag-user",
    )
    assert (explicit.metadata_uri, explicit.actor) == ("sqlite:///flag.db", "flag-user")


def test_tracking_uri_database_doubles_as_metadata_uri(tmp_path: Path) -> None:
    settings = resolve_settings(home=tmp_path, environ={"CYCLEML_TRACKING_URI": "sqlite:///t.db"})
    assert settings.metadata_uri == "sqlite:///t.db"
    server = resolve_settings(home=tmp_path, environ={"CYCLEML_TRACKING_URI": "http://h:5000"})
    assert server.tracking_uri == "http://h:5000"
    assert server.metadata_uri.startswith("sqlite:///")


def test_tracking_token_from_cycleml_or_mlflow_and_never_shown(tmp_path: Path) -> None:
    assert resolve_settings(home=tmp_path, environ={}).tracking_token is None
    mlflow = resolve_settings(home=tmp_path, environ={"MLFLOW_TRACKING_TOKEN": "m-tok"})
    assert mlflow.tracking_token == "m-tok"
    both = {"MLFLOW_TRACKING_TOKEN": "m-tok", "CYCLEML_TRACKING_TOKEN": "c-tok"}
    ours = resolve_settings(home=tmp_path, environ=both)
    assert ours.tracking_token == "c-tok"
    assert "c-tok" not in repr(ours)


def test_home_comes_from_env_or_nearest_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cycleml.yaml").write_text("name: x\n", encoding="utf-8")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_project_root(nested) == tmp_path
    monkeypatch.chdir(nested)
    assert resolve_settings(environ={}).home == tmp_path
    other = tmp_path / "elsewhere"
    assert resolve_settings(environ={"CYCLEML_HOME": str(other)}).home == other


def test_every_env_var_is_cycleml_prefixed_and_documented() -> None:
    assert all(var.name.startswith("CYCLEML_") and var.help for var in ENV_VARS)


def test_artifacts_go_through_a_tracking_server_unless_given_explicitly(tmp_path: Path) -> None:
    server = {"CYCLEML_TRACKING_URI": "https://ml.example.com:8443/team"}
    through = resolve_settings(home=tmp_path, environ=server)
    assert through.artifact_uri == "https://ml.example.com:8443/team"  # its blob proxy
    assert through.metadata_uri.startswith("sqlite:///")
    flag = resolve_settings(home=tmp_path, environ={}, tracking_uri="http://h:5000")
    assert flag.artifact_uri == "http://h:5000"
    # Direct access to shared storage, given any way, wins.
    env = resolve_settings(home=tmp_path, environ=server | {"CYCLEML_ARTIFACT_URI": "s3://b/a"})
    assert env.artifact_uri == "s3://b/a"
    spec = resolve_settings(home=tmp_path, environ=server, storage={"artifact_uri": "s3://b/s"})
    assert spec.artifact_uri == "s3://b/s"
    given = resolve_settings(home=tmp_path, environ=server, artifact_uri="file:///shared/art")
    assert given.artifact_uri == "file:///shared/art"
    # A database tracking URI keeps the project's artifact folder.
    local = resolve_settings(home=tmp_path, environ={"CYCLEML_TRACKING_URI": "sqlite:///t.db"})
    assert local.artifact_uri == (tmp_path / ".cycleml" / "artifacts").as_uri()
    assert not is_server_uri(local.tracking_uri)
    assert is_server_uri(through.tracking_uri)


def test_the_token_rule_is_one_function() -> None:
    assert tracking_token({}) is None
    assert tracking_token({"CYCLEML_TRACKING_TOKEN": ""}) is None
    assert tracking_token({"MLFLOW_TRACKING_TOKEN": "m"}) == "m"
    assert tracking_token({"MLFLOW_TRACKING_TOKEN": "m", "CYCLEML_TRACKING_TOKEN": "c"}) == "c"
