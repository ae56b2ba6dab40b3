"""The whole demo against a team server started in the background (issue 12, section 2).

``cycleml server`` runs as its own process with auth on, on the parametrized store; ``cycleml
demo`` runs as a signed-in user's process with only ``CYCLEML_TRACKING_URI`` and
``CYCLEML_TRACKING_TOKEN`` set. Every stage then lives in the server's store and artifact
root, and the demo's own folder holds no database and no artifacts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cycleml.data import SqlDatasetRepository
from cycleml.monitoring import SqlMonitorRepository
from cycleml.registry import SqlModelRepository
from cycleml.server import UserStore
from cycleml.serving import SqlDeploymentRepository
from cycleml.settings import Settings
from cycleml.store import open_database
from cycleml.tracking import SqlRunRepository

CLI = [str(Path(sys.executable).with_name("cycleml"))]  # the console script pip installed


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CYCLEML_", "MLFLOW_"))}
    return {**env, **extra}


@pytest.fixture
def server(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A ``cycleml server`` process with auth on; ``(its URL, a user's token)``."""
    with open_database(settings) as db:
        users = UserStore(db)
        users.create_user("ann")
        token, _ = users.create_token("ann", label="demo")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = tmp_path / "server"
    home.mkdir()
    process = subprocess.Popen(
        [
            *CLI,
            "--metadata-uri",
            settings.metadata_uri,
            "server",
            "--port",
            str(port),
            "--auth",
            "--artifact-uri",
            str(home / "artifacts"),
        ],
        cwd=home,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            process.kill()
            pytest.fail(f"cycleml server did not start: {process.communicate()[1][-2000:]!r}")
        yield url, token
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_demo_runs_through_a_team_server_in_the_background(
    server: tuple[str, str], settings: Settings, tmp_path: Path
) -> None:
    url, token = server
    work = tmp_path / "client"
    work.mkdir()
    done = subprocess.run(
        [*CLI, "demo"],
        cwd=work,
        env=_env(CYCLEML_TRACKING_URI=url, CYCLEML_TRACKING_TOKEN=token, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "9. Used the team server" in done.stdout

    # Nothing was stored on the client's side: no database, no artifacts.
    project = work / "cycleml-demo" / ".cycleml"
    assert not list(project.glob("*.db")), sorted(p.name for p in project.iterdir())
    assert not (project / "artifacts").exists()

    # Every stage's records are in the server's store, written as ann.
    with open_database(settings) as db:
        experiment = SqlRunRepository(db).get_experiment_by_name("breast-cancer")
        assert experiment is not None
        runs, _ = SqlRunRepository(db).search_runs(experiment_ids=[experiment.experiment_id])
        assert len(runs) == 6
        assert SqlDatasetRepository(db).get_dataset_version("tumours").row_count > 0
        models = SqlModelRepository(db).list_registered_models()
        assert [m.name for m in models] == ["breast-cancer-classifier"]
        assert [d.name for d in SqlDeploymentRepository(db).list_deployments()] == [
            "breast-cancer-live"
        ]
        assert SqlMonitorRepository(db).count_monitor_evaluations("breast-cancer-live-monitor") > 0
        actors = {row.actor for row in db.list_audit(limit=100_000)} - {"tester"}
        assert actors == {"ann"}
