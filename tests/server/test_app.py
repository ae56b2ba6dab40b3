"""The team server's app: health, version, metrics, and one error shape per API."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cycleml import __version__
from cycleml.settings import Settings


def test_health_and_version(server_url: str) -> None:
    health = httpx.get(f"{server_url}/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert "tracking_0003" in health.json()["schema"]
    version = httpx.get(f"{server_url}/version")
    assert (version.status_code, version.text) == (200, __version__)
    assert version.headers["content-type"].startswith("text/plain")


def test_metrics_count_requests_by_route_template(server_url: str) -> None:
    for _ in range(3):
        httpx.get(f"{server_url}/health")
    httpx.get(f"{server_url}/no/such/route")
    text = httpx.get(f"{server_url}/metrics").text
    assert re.search(
        r'cycleml_server_requests_total\{method="GET",route="/health",status="200"\} 3\.0', text
    )
    assert 'route="(unmatched)",status="404"' in text  # raw paths never become labels
    assert "cycleml_server_request_latency_seconds_bucket" in text
    assert re.search(r"cycleml_server_store_connections_in_use \d", text)


def test_unknown_routes_answer_in_the_shape_of_their_api(server_url: str) -> None:
    ours = httpx.get(f"{server_url}/api/v1/nope", headers={"X-Request-ID": "abc"})
    assert ours.status_code == 404
    error = ours.json()["error"]
    assert error["code"] == "not_found"
    assert "GET /api/v1/nope" in error["message"]
    assert error["details"]["request_id"] == "abc"
    assert ours.headers["X-Request-ID"] == "abc"
    theirs = httpx.post(f"{server_url}/api/2.0/mlflow/nope", json={})
    assert theirs.status_code == 404
    assert theirs.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "POST /api/2.0/mlflow/nope" in theirs.json()["message"]


def test_method_not_allowed_keeps_the_shape(server_url: str) -> None:
    answer = httpx.post(f"{server_url}/health")
    assert answer.status_code == 405
    assert answer.json()["error"]["code"] == "method_not_allowed"


def test_openapi_document_lists_the_routes(server_url: str) -> None:
    document = httpx.get(f"{server_url}/openapi.json").json()
    assert {"/health", "/version", "/metrics"} <= set(document["paths"])
    # Bad input is a 400 in the one error shape, never FastAPI's 422 body.
    assert '"422"' not in str(document).replace("'", '"')
    assert "HTTPValidationError" not in document["components"]["schemas"]
    runs = document["paths"]["/api/v1/runs"]["post"]["responses"]
    assert runs["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    theirs = document["paths"]["/api/2.0/mlflow-artifacts/artifacts/{path}"]["put"]["responses"]
    assert theirs["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MlflowError"
    }
    bad = httpx.post(f"{server_url}/api/v1/runs", json={"experiment_id": 3})
    assert bad.status_code == 400
    assert set(bad.json()) == {"error"}


@pytest.mark.slow
def test_cycleml_server_command_serves_until_sigterm(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    env = {**os.environ, "CYCLEML_HOME": str(tmp_path)}
    done = subprocess.Popen(
        [
            sys.executable, "-m", "cycleml.cli", "server", "--port", "0",
            "--metadata-uri", sqlite_settings.metadata_uri,
            "--artifact-uri", sqlite_settings.artifact_uri,
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        assert done.stdout is not None
        line = done.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert found, line + (done.stderr.read() if done.stderr else "")
        url = f"http://127.0.0.1:{found.group(1)}"
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        assert "API docs at /docs" in line
        assert done.stdout.readline().split() == ["store", sqlite_settings.metadata_uri]
    finally:
        done.send_signal(signal.SIGTERM)
        code = done.wait(timeout=30)
    assert code == 0


def test_a_bad_store_fails_the_command_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cycleml.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--home", str(tmp_path), "server", "--port", "0", "--metadata-uri", "mysql://x/db"])
    assert done.value.code != 0
    err = capsys.readouterr().err
    assert "Unsupported metadata store URI 'mysql://x/db'" in err
    assert "postgresql" in err  # the hint says what works


def test_a_server_refuses_an_artifact_root_that_is_a_server(settings: Settings) -> None:
    import dataclasses

    from cycleml.errors import InvalidInput
    from cycleml.server import create_server

    looped = dataclasses.replace(settings, artifact_uri="http://127.0.0.1:5000")
    with pytest.raises(InvalidInput, match="a server's address"):
        create_server(looped)
