"""The unmodified MLflow client against ``cycleml server``, on SQLite and PostgreSQL.

The client lives in its own environment (``make`` builds ``.venv-mlflow`` from
``tests/mlflow-client-requirements.txt``), never among cycleml's dependencies: a script
runs there with ``mlflow.set_tracking_uri(<server>)``, and the test then reads what it
wrote through cycleml's own repository, CLI, audit log and lineage.
``CYCLEML_TEST_MLFLOW_PYTHON`` names another interpreter. Without one the tests skip,
except when ``CI=true``: then they fail, so CI never passes without the MLflow client.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from cycleml.cli import main
from cycleml.settings import Settings
from cycleml.store import open_database
from cycleml.tracking import SqlRunRepository

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def mlflow_python() -> str:
    """The interpreter of the environment with the MLflow client."""
    given = os.environ.get("CYCLEML_TEST_MLFLOW_PYTHON")
    python = Path(given) if given else ROOT / ".venv-mlflow" / "bin" / "python"
    problem = None
    if not python.is_file():
        problem = f"no interpreter at {python}"
    else:
        probe = subprocess.run(
            [str(python), "-c", "import mlflow; print(mlflow.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if probe.returncode != 0:
            problem = f"{python} cannot import mlflow: {probe.stderr.strip()[-300:]}"
    if problem is not None:
        reason = (
            f"The MLflow client environment is missing ({problem}); build it with "
            "`make .venv-mlflow/.installed` or set CYCLEML_TEST_MLFLOW_PYTHON."
        )
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return str(python)


def run_mlflow(
    mlflow_python: str,
    script: str,
    url: str,
    tmp_path: Path,
    env_extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``script`` with the MLflow client against ``url``; return the JSON it prints."""
    path = tmp_path / "client.py"
    path.write_text(script)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLFLOW_", "CYCLEML_", "PYTHON"))
    }
    env.update(
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",  # an error answers at once, not after backoff
        MLFLOW_TRACKING_USERNAME="",
        HOME=str(tmp_path),
    )
    env.update(env_extra or {})
    done = subprocess.run(
        [mlflow_python, str(path), url],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, f"the MLflow client failed:\n{done.stderr[-4000:]}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


EVERYDAY = r"""
import json, sys, time
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag, ViewType

mlflow.set_tracking_uri(sys.argv[1])
client = MlflowClient()
out = {"missing_is_none": mlflow.get_experiment_by_name("no-such-experiment") is None}
experiment = mlflow.set_experiment("mlflow-client")
exp_id = experiment.experiment_id
out["experiment_id"] = exp_id
out["default"] = client.get_experiment("0").name

with mlflow.start_run(run_name="parent") as parent:
    mlflow.log_param("model", "rf")
    mlflow.log_params({"depth": 3, "trees": 50})
    for step in range(3):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
    mlflow.log_metrics({"auc": 0.91, "acc": 0.8}, step=2)
    mlflow.set_tag("team", "fraud")
    with mlflow.start_run(run_name="child", nested=True) as child:
        mlflow.log_metric("auc", 0.95)

other = client.create_run(exp_id, run_name="batch")
now = int(time.time() * 1000)
client.log_batch(
    other.info.run_id,
    metrics=[Metric("auc", 0.5, now, 0), Metric("auc", 0.55, now, 1)],
    params=[Param("model", "lr")],
    tags=[RunTag("team", "risk")],
)
client.log_inputs(other.info.run_id, [DatasetInput(
    Dataset(name="iris", digest="abc123", source_type="http", source="https://example.org/iris.csv"),
    tags=[InputTag("mlflow.data.context", "training")],
)])
client.set_terminated(other.info.run_id)

ids = {"parent": parent.info.run_id, "child": child.info.run_id, "batch": other.info.run_id}
out["ids"] = ids
got = client.get_run(ids["parent"])
out["parent"] = {
    "status": got.info.status, "name": got.info.run_name, "params": got.data.params,
    "metrics": got.data.metrics, "tags": got.data.tags, "end_time": got.info.end_time,
    "experiment_id": got.info.experiment_id,
}
out["child_parent_tag"] = client.get_run(ids["child"]).data.tags.get("mlflow.parentRunId")
out["inputs"] = [
    (i.dataset.name, i.dataset.digest, {t.key: t.value for t in i.tags})
    for i in client.get_run(ids["batch"]).inputs.dataset_inputs
]
out["history"] = [(m.step, m.value) for m in client.get_metric_history(ids["parent"], "loss")]
found = mlflow.search_runs(
    [exp_id], filter_string="metrics.auc > 0.6", order_by=["metrics.auc DESC"],
    output_format="list",
)
out["search"] = [r.info.run_name for r in found]
out["by_param"] = [r.info.run_name for r in client.search_runs([exp_id], "params.model = 'lr'")]
first = client.search_runs([exp_id], order_by=["attributes.run_name ASC"], max_results=2)
second = client.search_runs(
    [exp_id], order_by=["attributes.run_name ASC"], max_results=2, page_token=first.token
)
out["pages"] = [[r.info.run_name for r in first], [r.info.run_name for r in second], second.token]

client.delete_run(ids["batch"])
out["after_delete"] = sorted(r.info.run_name for r in client.search_runs([exp_id]))
out["deleted_only"] = [
    r.info.run_name for r in client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
]
client.restore_run(ids["batch"])
out["after_restore"] = sorted(r.info.run_name for r in client.search_runs([exp_id]))

client.set_experiment_tag(exp_id, "owner", "ann")
out["experiment_tags"] = client.get_experiment(exp_id).tags
out["searched_experiments"] = [
    e.name for e in mlflow.search_experiments(filter_string="tags.owner = 'ann'")
]
with mlflow.start_run(experiment_id="0") as default_run:
    pass
out["default_run_experiment"] = client.get_run(default_run.info.run_id).info.experiment_id
out["default_run"] = default_run.info.run_id
print(json.dumps(out))
"""


def test_the_mlflow_client_logs_ordinary_cycleml_runs(
    mlflow_python: str,
    server_url: str,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = run_mlflow(mlflow_python, EVERYDAY, server_url, tmp_path)
    ids = out["ids"]

    # What the MLflow client saw.
    assert out["missing_is_none"] is True
    assert out["default"] == "Default"
    assert out["parent"]["status"] == "FINISHED"
    assert out["parent"]["end_time"] is not None
    assert out["parent"]["name"] == "parent"
    assert out["parent"]["experiment_id"] == out["experiment_id"]
    assert out["parent"]["params"] == {"model": "rf", "depth": "3", "trees": "50"}
    assert out["parent"]["metrics"] == {"loss": pytest.approx(1 / 3), "auc": 0.91, "acc": 0.8}
    assert out["parent"]["tags"]["team"] == "fraud"
    assert out["parent"]["tags"]["mlflow.runName"] == "parent"
    assert out["child_parent_tag"] == ids["parent"]
    assert out["inputs"] == [["iris", "abc123", {"mlflow.data.context": "training"}]]
    assert out["history"] == [[0, 1.0], [1, 0.5], [2, pytest.approx(1 / 3)]]
    assert out["search"] == ["child", "parent"]  # auc 0.95, 0.91; the batch run's 0.55 is out
    assert out["by_param"] == ["batch"]
    assert out["pages"][0] == ["batch", "child"]
    assert out["pages"][1] == ["parent"]
    assert out["pages"][2] is None
    assert out["after_delete"] == ["child", "parent"]
    assert out["deleted_only"] == ["batch"]
    assert out["after_restore"] == ["batch", "child", "parent"]
    assert out["experiment_tags"] == {"owner": "ann"}
    assert out["searched_experiments"] == ["mlflow-client"]
    assert out["default_run_experiment"] == "0"

    # What cycleml holds: the same runs, params, metrics and tags ...
    with open_database(settings) as db:
        repository = SqlRunRepository(db)
        experiment = repository.get_experiment(out["experiment_id"])
        assert experiment.name == "mlflow-client"
        assert experiment.tags == {"owner": "ann"}
        runs, _ = repository.search_runs(experiment_ids=[experiment.experiment_id])
        assert {run.info.run_name for run in runs} == {"parent", "child", "batch"}
        parent = repository.get_run(ids["parent"])
        assert parent.data.params == {"model": "rf", "depth": "3", "trees": "50"}
        assert parent.data.metrics["auc"] == 0.91
        assert parent.data.tags["team"] == "fraud"
        assert parent.info.status == "FINISHED"
        child = repository.get_run(ids["child"])
        assert child.info.parent_run_id == ids["parent"]
        assert [(m.step, m.value) for m in repository.get_metric_history(ids["batch"], "auc")] == [
            (0, 0.5),
            (1, 0.55),
        ]
        default = repository.get_experiment_by_name("Default")
        assert default is not None
        assert repository.get_run(out["default_run"]).info.experiment_id == default.experiment_id

        # ... with the audit rows and lineage edges cycleml writes itself.
        actions = [r.action for r in db.list_audit(entity_kind="run", entity_id=ids["parent"])]
        assert actions[0] == "run.create"
        assert "run.log_batch" in actions
        assert actions[-1] == "run.update"
        batch_actions = {r.action for r in db.list_audit(entity_kind="run", entity_id=ids["batch"])}
        assert {"run.create", "run.log_batch", "run.log_input", "run.delete", "run.restore"} <= (
            batch_actions
        )
        experiment_actions = [
            r.action
            for r in db.list_audit(entity_kind="experiment", entity_id=experiment.experiment_id)
        ]
        assert experiment_actions == ["experiment.create", "experiment.set_tag"]
        edges = {
            (e.src_kind, e.src_id, e.relation, e.dst_kind, e.dst_id)
            for e in db.lineage_edges("run", ids["child"])
        }
        assert ("run", ids["parent"], "parent_of", "run", ids["child"]) in edges
        assert ("experiment", experiment.experiment_id, "contains", "run", ids["child"]) in edges
        inputs = {(e.src_kind, e.src_id) for e in db.lineage_edges("run", ids["batch"])}
        assert ("mlflow_dataset", "iris@abc123") in inputs

    # ... and `cycleml runs list` finds them.
    with pytest.raises(SystemExit) as done:
        main(["--metadata-uri", settings.metadata_uri, "runs", "list", "--json",
              "-e", "mlflow-client"])  # fmt: skip
    assert done.value.code in (0, None)
    listed = json.loads(capsys.readouterr().out)
    assert {run["info"]["run_id"] for run in listed} == set(ids.values())


ARTIFACTS = r"""
import json, os, sys
import mlflow
from mlflow import MlflowClient

mlflow.set_tracking_uri(sys.argv[1])
client = MlflowClient()
mlflow.set_experiment("mlflow-artifacts")
with open("weights.bin", "wb") as handle:
    handle.write(bytes(range(256)) * 4096)  # 1 MiB
with mlflow.start_run() as run:
    mlflow.log_artifact("weights.bin")
    mlflow.log_artifact("weights.bin", artifact_path="model")
    mlflow.log_text("hello, artifacts\n", "notes/readme.txt")
    mlflow.log_dict({"depth": 3, "trees": [1, 2]}, "config.json")
run_id = run.info.run_id
out = {"run_id": run_id, "artifact_uri": client.get_run(run_id).info.artifact_uri}
out["top"] = sorted((f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id))
out["notes"] = [(f.path, f.file_size) for f in client.list_artifacts(run_id, "notes")]
got = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="weights.bin", dst_path="d1")
out["weights_same"] = open(got, "rb").read() == open("weights.bin", "rb").read()
folder = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="notes", dst_path="d2")
out["readme"] = open(os.path.join(folder, "readme.txt")).read()
out["config"] = mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json")
out["text"] = mlflow.artifacts.load_text(f"runs:/{run_id}/notes/readme.txt")
print(json.dumps(out))
"""


def test_the_mlflow_client_logs_and_reads_run_artifacts(
    mlflow_python: str, server_url: str, settings: Settings, tmp_path: Path
) -> None:
    from cycleml.tracking import TrackingClient

    out = run_mlflow(mlflow_python, ARTIFACTS, server_url, tmp_path)
    run_id = out["run_id"]
    assert out["artifact_uri"].startswith("mlflow-artifacts:/")
    assert out["artifact_uri"].endswith(f"/{run_id}/artifacts")
    size = 256 * 4096
    assert [tuple(row) for row in out["top"]] == [
        ("config.json", False, len(json.dumps({"depth": 3, "trees": [1, 2]}, indent=2))),
        ("model", True, None),
        ("notes", True, None),
        ("weights.bin", False, size),
    ]
    assert [tuple(row) for row in out["notes"]] == [("notes/readme.txt", 17)]
    assert out["weights_same"] is True
    assert out["readme"] == out["text"] == "hello, artifacts\n"
    assert out["config"] == {"depth": 3, "trees": [1, 2]}

    # cycleml's own client reads the same files from its artifact index.
    client = TrackingClient(settings)
    assert [(e.path, e.size) for e in client.list_artifacts(run_id)] == [
        ("config.json", out["top"][0][2]),
        ("model/weights.bin", size),
        ("notes/readme.txt", 17),
        ("weights.bin", size),
    ]
    local = client.download_artifacts(run_id, "weights.bin", dst_path=tmp_path / "mine")
    assert local.read_bytes() == (tmp_path / "weights.bin").read_bytes()
    assert client.read_artifact(run_id, "notes/readme.txt") == b"hello, artifacts\n"
    with open_database(settings) as db:
        actions = [r.action for r in db.list_audit(entity_kind="run", entity_id=run_id)]
    assert actions.count("run.log_artifacts") == 4


MODELS = r"""
import json, sys
import numpy as np
import mlflow
from mlflow import MlflowClient
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from sklearn.linear_model import LogisticRegression

mlflow.set_tracking_uri(sys.argv[1])
client = MlflowClient()
mlflow.set_experiment("mlflow-models")
X = np.array([[0.0], [1.0], [2.0], [3.0]])
y = np.array([0, 0, 1, 1])
model = LogisticRegression().fit(X, y)
with mlflow.start_run() as run:
    mlflow.log_metric("auc", 0.9)
    info = mlflow.sklearn.log_model(model, name="model", registered_model_name="clf")
run_id = run.info.run_id
out = {"run_id": run_id, "model_id": info.model_id, "version": info.registered_model_version}
client.set_registered_model_alias("clf", "champion", info.registered_model_version)
expected = model.predict(X).tolist()
loads = {
    "alias": "models:/clf@champion",
    "version": "models:/clf/1",
    "model_id": f"models:/{info.model_id}",
}
out["predicts"] = {
    how: mlflow.pyfunc.load_model(uri).predict(X).tolist() == expected for how, uri in loads.items()
}
out["predicts"]["run"] = (
    mlflow.sklearn.load_model(f"runs:/{run_id}/model").predict(X).tolist() == expected
)
version = client.get_model_version("clf", "1")
out["mv"] = {
    "source": version.source, "model_id": version.model_id, "run_id": version.run_id,
    "aliases": list(version.aliases), "status": str(version.status),
}
out["alias_version"] = client.get_model_version_by_alias("clf", "champion").version
out["logged_status"] = str(client.get_logged_model(info.model_id).status)
out["run_outputs"] = [o.model_id for o in client.get_run(run_id).outputs.model_outputs]
found = client.search_registered_models(filter_string="name LIKE 'cl%'")
out["search_models"] = [m.name for m in found]
out["search_versions"] = [
    (v.name, v.version) for v in client.search_model_versions(f"run_id = '{run_id}'")
]
client.set_registered_model_tag("clf", "team", "fraud")
client.set_model_version_tag("clf", "1", "validated", "yes")
client.update_registered_model("clf", description="churn classifier")
client.update_model_version("clf", "1", description="first")
with mlflow.start_run():
    second = mlflow.sklearn.log_model(model, name="model", registered_model_name="clf")
client.transition_model_version_stage("clf", second.registered_model_version, "Staging")
out["latest"] = {v.current_stage: v.version for v in client.get_latest_versions("clf")}
got = client.get_registered_model("clf")
out["rm"] = {"tags": got.tags, "description": got.description, "aliases": got.aliases}
out["mv_tags"] = client.get_model_version("clf", "1").tags
out["download_uri"] = client.get_model_version_download_uri("clf", "1")
out["model_files"] = sorted(f.path for f in client.list_logged_model_artifacts(info.model_id))
client.delete_registered_model_alias("clf", "champion")
client.delete_model_version("clf", second.registered_model_version)
out["after_delete"] = [v.version for v in client.search_model_versions("name = 'clf'")]
with mlflow.start_run() as scratch:
    mlflow.log_text("temporary", "scratch/tmp.txt")
    mlflow.log_text("kept", "kept.txt")
get_artifact_repository(client.get_run(scratch.info.run_id).info.artifact_uri).delete_artifacts("scratch")
out["after_artifact_delete"] = sorted(f.path for f in client.list_artifacts(scratch.info.run_id))
out["scratch"] = scratch.info.run_id
print(json.dumps(out))
"""


def test_the_mlflow_client_logs_registers_aliases_and_loads_models(
    mlflow_python: str,
    server_url: str,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cycleml.registry import SqlModelRepository

    out = run_mlflow(mlflow_python, MODELS, server_url, tmp_path)
    run_id, model_id = out["run_id"], out["model_id"]

    # What the MLflow client saw: its usual sequence works end to end.
    assert out["version"] == "1"
    assert out["predicts"] == {"alias": True, "version": True, "model_id": True, "run": True}
    assert out["mv"] == {
        "source": f"models:/{model_id}",
        "model_id": None,  # MLflow 3.17's client does not read it (its from_proto's TODO)
        "run_id": run_id,
        "aliases": ["champion"],
        "status": "READY",
    }
    assert out["alias_version"] == "1"
    assert out["logged_status"] == "READY"
    assert out["run_outputs"] == [model_id]
    assert out["search_models"] == ["clf"]
    assert [tuple(v) for v in out["search_versions"]] == [("clf", "1")]
    assert out["latest"] == {"None": "1", "Staging": "2"}
    assert out["rm"] == {
        "tags": {"team": "fraud"},
        "description": "churn classifier",
        "aliases": {"champion": "1"},
    }
    assert out["mv_tags"] == {"validated": "yes"}
    assert out["download_uri"].endswith(f"/models/{model_id}/artifacts")
    assert "MLmodel" in out["model_files"]
    assert out["after_delete"] == ["1"]
    assert out["after_artifact_delete"] == ["kept.txt"]
    wire = httpx.get(
        f"{server_url}/api/2.0/mlflow/model-versions/get", params={"name": "clf", "version": "1"}
    ).json()["model_version"]
    assert wire["model_id"] == model_id  # on the wire it is there, as MLflow's server sends it

    # What cycleml holds: the version is an ordinary cycleml model version of the run's files,
    # with the run's metrics as its snapshot, lineage and audit as cycleml writes them.
    with open_database(settings) as db:
        registry = SqlModelRepository(db)
        version = registry.get_model_version("clf", 1)
        assert version.source == f"runs:/{run_id}/model"
        assert version.run_id == run_id
        assert version.metrics == {"auc": 0.9}
        assert version.description == "first"
        located = registry.resolve_artifact_uri("models:/clf/1")
        assert "model/MLmodel" in {entry.path for entry in located.entries}
        edges = {
            (e.src_kind, e.src_id, e.relation, e.dst_kind, e.dst_id)
            for e in db.lineage_edges("run", run_id)
        }
        assert ("run", run_id, "produced", "model_version", "clf/1") in edges
        assert ("run", run_id, "produced", "logged_model", model_id) in edges
        model_actions = [
            r.action for r in db.list_audit(entity_kind="logged_model", entity_id=model_id)
        ]
        assert model_actions[0] == "logged_model.create"
        assert "logged_model.finalize" in model_actions
        scratch = [r.action for r in db.list_audit(entity_kind="run", entity_id=out["scratch"])]
        assert "run.delete_artifacts" in scratch

    # ... and `cycleml models list` shows the model.
    with pytest.raises(SystemExit) as done:
        main(["--metadata-uri", settings.metadata_uri, "models", "list", "--json"])
    assert done.value.code in (0, None)
    assert [m["name"] for m in json.loads(capsys.readouterr().out)] == ["clf"]


SIGNED_IN = r"""
import json, sys
import mlflow
from mlflow.exceptions import MlflowException

mlflow.set_tracking_uri(sys.argv[1])
out = {}
try:
    mlflow.set_experiment("team")
    with mlflow.start_run() as run:
        mlflow.log_metric("auc", 0.9)
    out["run_id"] = run.info.run_id
except MlflowException as exc:
    out["error"] = exc.error_code
print(json.dumps(out))
"""


def test_the_mlflow_client_signs_in_with_a_token_or_a_password(
    mlflow_python: str, settings: Settings, tmp_path: Path
) -> None:
    from cycleml.server import AuthConfig, UserStore, create_server
    from cycleml.serving import background_server

    app = create_server(settings, auth=AuthConfig(enabled=True))
    users = UserStore(app.state.server.db)
    users.create_user("ann", password="ann-password")
    token, _ = users.create_token("ann")
    with background_server(app) as url:
        anonymous = run_mlflow(mlflow_python, SIGNED_IN, url, tmp_path)
        assert anonymous == {"error": "UNAUTHENTICATED"}
        with_token = run_mlflow(
            mlflow_python, SIGNED_IN, url, tmp_path, {"MLFLOW_TRACKING_TOKEN": token}
        )
        basic = run_mlflow(
            mlflow_python,
            SIGNED_IN,
            url,
            tmp_path,
            {"MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "ann-password"},
        )
    with open_database(settings) as db:
        for out in (with_token, basic):
            rows = db.list_audit(entity_kind="run", entity_id=out["run_id"])
            assert rows
            assert {row.actor for row in rows} == {"ann"}
