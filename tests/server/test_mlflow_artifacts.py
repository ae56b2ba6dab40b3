"""MLflow's artifact proxy over HTTP: upload, download, list, refusals (httpx, no mlflow)."""

from __future__ import annotations

import httpx
import pytest

from cycleml.settings import Settings
from cycleml.store import open_database
from cycleml.tracking import TrackingClient

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def http() -> httpx.Client:
    return httpx.Client(timeout=30)


@pytest.fixture
def run(server_url: str, http: httpx.Client) -> tuple[str, str]:
    """A run made through MLflow's runs/create: ``(artifact path root, run id)``."""
    answer = http.post(f"{server_url}/api/2.0/mlflow/runs/create", json={"experiment_id": "0"})
    info = answer.json()["run"]["info"]
    run_id = info["run_id"]
    assert info["artifact_uri"] == f"mlflow-artifacts:/0/{run_id}/artifacts"
    return f"0/{run_id}/artifacts", run_id


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error_code"]


def test_upload_download_and_list_a_folder(
    server_url: str, http: httpx.Client, run: tuple[str, str], settings: Settings
) -> None:
    root, run_id = run
    files = {"a.txt": b"alpha", "sub/b.bin": bytes(range(256)), "sub/deep/c.json": b"{}"}
    for path, data in files.items():
        put = http.put(f"{server_url}{PROXY}/{root}/{path}", content=data)
        assert put.status_code == 200, put.text
    for path, data in files.items():
        got = http.get(f"{server_url}{PROXY}/{root}/{path}")
        assert got.status_code == 200
        assert got.content == data
    assert (
        http.get(f"{server_url}{PROXY}/{root}/a.txt")
        .headers["content-type"]
        .startswith("text/plain")
    )

    listed = http.get(f"{server_url}{PROXY}", params={"path": root}).json()["files"]
    assert listed == [
        {"path": "a.txt", "is_dir": False, "file_size": 5},
        {"path": "sub", "is_dir": True},
    ]
    sub = http.get(f"{server_url}{PROXY}", params={"path": f"{root}/sub"}).json()["files"]
    assert sub == [
        {"path": "b.bin", "is_dir": False, "file_size": 256},
        {"path": "deep", "is_dir": True},
    ]
    # A file is no folder: MLflow's client then downloads it as one file.
    assert http.get(f"{server_url}{PROXY}", params={"path": f"{root}/a.txt"}).json() == {
        "files": []
    }
    # The ajax prefix serves the same files.
    ajax = http.get(f"{server_url}/ajax-api/2.0/mlflow-artifacts/artifacts/{root}/a.txt")
    assert ajax.content == b"alpha"

    # Ordinary cycleml data: cycleml's client lists and reads the uploads.
    client = TrackingClient(settings)
    assert [e.path for e in client.list_artifacts(run_id)] == sorted(files)
    assert client.read_artifact(run_id, "sub/b.bin") == bytes(range(256))

    # Uploading a path again replaces the listed file.
    http.put(f"{server_url}{PROXY}/{root}/a.txt", content=b"again")
    assert http.get(f"{server_url}{PROXY}/{root}/a.txt").content == b"again"


@pytest.mark.parametrize(
    "path",
    [
        "%2e%2e/%2e%2e/escape.txt",
        "x/%2E%2E/escape.txt",
        "%252e%252e/escape.txt",
        "..%2fescape.txt",
        "..%5cescape.txt",
        "sub%5c..%5cescape.txt",
        "%2fetc%2fpasswd",
        "%00nul.txt",
    ],
)
def test_traversal_is_refused_and_nothing_is_written(
    server_url: str, http: httpx.Client, run: tuple[str, str], settings: Settings, path: str
) -> None:
    root, run_id = run
    put = http.put(f"{server_url}{PROXY}/{root}/{path}", content=b"bad")
    assert error(put) == (400, "INVALID_PARAMETER_VALUE"), put.text
    assert "Invalid artifact path" in put.json()["message"]
    assert error(http.get(f"{server_url}{PROXY}/{root}/{path}"))[0] == 400
    assert TrackingClient(settings).list_artifacts(run_id) == []


def test_traversal_before_the_run_and_absolute_paths_are_refused(
    server_url: str, http: httpx.Client, run: tuple[str, str]
) -> None:
    _, run_id = run
    for path in (f"%2e%2e/0/{run_id}/artifacts/a.txt", "/etc/passwd", "C:%5cwindows"):
        put = http.put(f"{server_url}{PROXY}/{path}", content=b"bad")
        assert error(put) == (400, "INVALID_PARAMETER_VALUE"), (path, put.text)
    listing = http.get(f"{server_url}{PROXY}", params={"path": f"0/{run_id}/artifacts/../.."})
    assert error(listing) == (400, "INVALID_PARAMETER_VALUE")


def test_unknown_runs_and_files_are_404_in_mlflows_shape(
    server_url: str, http: httpx.Client, run: tuple[str, str]
) -> None:
    root, run_id = run
    missing = "0/" + "f" * 32 + "/artifacts"
    not_found = (404, "RESOURCE_DOES_NOT_EXIST")
    assert error(http.put(f"{server_url}{PROXY}/{missing}/a.txt", content=b"x")) == not_found
    assert error(http.get(f"{server_url}{PROXY}/{missing}/a.txt")) == not_found
    assert error(http.get(f"{server_url}{PROXY}", params={"path": missing})) == not_found
    assert error(http.get(f"{server_url}{PROXY}/{root}/nothing.txt")) == not_found
    # The run exists, but not in the experiment the path names.
    wrong = f"{'e' * 32}/{run_id}/artifacts/a.txt"
    assert error(http.put(f"{server_url}{PROXY}/{wrong}", content=b"x")) == not_found


def test_paths_that_name_no_run_file_are_refused_and_unknown_models_are_404(
    server_url: str, http: httpx.Client, run: tuple[str, str]
) -> None:
    root, run_id = run
    for path in (
        root,
        f"0/{run_id}/other/a.txt",
        "0/not-a-run/artifacts/a.txt",
        "0/models/not-a-model/artifacts/MLmodel",
    ):
        assert error(http.put(f"{server_url}{PROXY}/{path}", content=b"x"))[0] == 400, path
    model = http.put(f"{server_url}{PROXY}/0/models/m-{'a' * 32}/artifacts/MLmodel", content=b"")
    assert error(model) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_delete_removes_a_file_or_folder_and_audits_it(
    server_url: str, http: httpx.Client, run: tuple[str, str], settings: Settings
) -> None:
    root, run_id = run
    for name in ("keep.txt", "tmp/a.txt", "tmp/b/c.txt"):
        assert http.put(f"{server_url}{PROXY}/{root}/{name}", content=name.encode()).is_success
    assert http.delete(f"{server_url}{PROXY}/{root}/tmp").status_code == 200
    listing = http.get(f"{server_url}{PROXY}", params={"path": root}).json()
    assert [f["path"] for f in listing["files"]] == ["keep.txt"]
    assert error(http.get(f"{server_url}{PROXY}/{root}/tmp/a.txt")) == (
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert error(http.delete(f"{server_url}{PROXY}/{root}/tmp"))[0] == 404  # nothing left
    assert [e.path for e in TrackingClient(settings).list_artifacts(run_id)] == ["keep.txt"]
    with open_database(settings) as db:
        rows = list(db.list_audit(entity_kind="run", entity_id=run_id))
    deleted = [r for r in rows if r.action == "run.delete_artifacts"]
    assert len(deleted) == 1
    assert set(deleted[0].payload["files"]) == {"tmp/a.txt", "tmp/b/c.txt"}


def test_logged_model_search_of_an_empty_experiment_answers_no_models(
    server_url: str, http: httpx.Client
) -> None:
    found = http.post(
        f"{server_url}/api/2.0/mlflow/logged-models/search", json={"experiment_ids": ["0"]}
    )
    assert found.status_code == 200
    assert found.json() == {"models": []}
