"""``cycleml deploy`` (create, replace, servable models only) and ``cycleml predict`` input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from cycleml.cli import main
from cycleml.models import save_model
from cycleml.registry import SqlModelRepository
from cycleml.settings import Settings, resolve_settings
from cycleml.store import Database, open_database
from cycleml.tracking import SqlRunRepository, TrackingClient


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


def _log(settings: Settings, db: Database, folder: Path) -> str:
    client = TrackingClient(settings, store=db)
    found = SqlRunRepository(db).get_experiment_by_name("models")
    experiment = found.experiment_id if found else client.create_experiment("models")
    run = client.create_run(experiment).info.run_id
    client.log_artifacts(run, folder, "model")
    return f"runs:/{run}/model"


FRAME = pd.DataFrame({"a": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5], "b": [1.0, 0.0, 1.0, 0.0, 1.0, 0.5]})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``clf`` versions 1-3 are servable; 4 has no model.yaml, 5 a changed file, 6 is s3://."""
    home = tmp_path_factory.mktemp("serving-cli")
    settings = resolve_settings(home=home)
    model = LogisticRegression().fit(FRAME, [0, 1, 0, 1, 0, 1])
    good = save_model(model, home / "good", input_example=FRAME.head(2))
    bare = home / "bare"
    shutil.copytree(good, bare)
    (bare / "model.yaml").unlink()
    tampered = home / "tampered"
    shutil.copytree(good, tampered)
    changed = next(p for p in tampered.iterdir() if p.name != "model.yaml")
    changed.write_bytes(changed.read_bytes() + b"!")
    with open_database(settings) as db:
        models = SqlModelRepository(db)
        models.create_registered_model("clf")
        source = _log(settings, db, good)
        for src in (source, source, source, _log(settings, db, bare),
                    _log(settings, db, tampered), "s3://bucket/clf/6"):  # fmt: skip
            models.create_model_version("clf", source=src)
    return str(home)


def _audit_rows(home: str) -> int:
    with open_database(resolve_settings(home=Path(home))) as db:
        return len(db.list_audit(limit=100_000))


def test_deploy_creates_then_replaces_the_configuration(
    capsys: pytest.CaptureFixture[str], project: str
) -> None:
    code, out, err = cli(capsys, "--home", project, "deploy", "live", "--model", "models:/clf/1",
                         "--canary", "models:/clf/2", "--percent", "20",
                         "--reason", "first")  # fmt: skip
    assert code == 0, err
    assert "Deployed deployment live (revision 1)" in out
    code, out, err = cli(capsys, "--home", project, "deploy", "live", "--model", "models:/clf/3",
                         "--reason", "v3 alone")  # fmt: skip
    assert code == 0, err
    assert "Replaced deployment live (revision 2)" in out
    assert "removed canary models:/clf/2" in out
    assert "`cycleml deploy rollback live` restores revision 1" in out
    code, out, _ = cli(capsys, "--home", project, "deploy", "live", "--model", "models:/clf/3")
    assert "Unchanged: deployment live (revision 2)" in out
    code, out, _ = cli(capsys, "--home", project, "deploy", "history", "live", "--json")
    history = json.loads(out)
    assert [(r["action"], r["reason"]) for r in history] == [
        ("create", "first"), ("replace", "v3 alone")
    ]  # fmt: skip
    code, out, _ = cli(capsys, "--home", project, "audit", "--action", "deployment.replace",
                       "--json")  # fmt: skip
    (row,) = json.loads(out)
    assert row["payload"]["removed"] == ["canary"]
    assert row["payload"]["previous"]["canary_version"] == 2
    code, out, _ = cli(capsys, "--home", project, "deploy", "rollback", "live", "--json")
    assert (json.loads(out)["model_version"], json.loads(out)["canary_version"]) == (1, 2)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("models:/clf/4", "is not a cycleml model folder (no model.yaml"),
        ("models:/clf/5", "does not match its model.yaml"),
        ("models:/clf/6", "is not a run"),
        ("models:/clf/9", "version 9"),
        ("models:/nope@champion", "nope"),
        ("runs:/" + "a" * 32 + "/model", "models:/"),
    ],
)
@pytest.mark.parametrize("name", ["fresh", "kept"])
def test_deploy_refuses_a_model_it_cannot_serve_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], project: str, name: str, model: str, message: str
) -> None:
    cli(capsys, "--home", project, "deploy", "kept", "--model", "models:/clf/1")
    _, before, _ = cli(capsys, "--home", project, "deploy", "list", "--json")
    audited = _audit_rows(project)
    code, _, err = cli(capsys, "--home", project, "deploy", name, "--model", model)
    assert code == 1
    assert message in err
    assert "Traceback" not in err
    assert "cycleml-check-" not in err  # the user's URI, not a temporary folder
    code, after, _ = cli(capsys, "--home", project, "deploy", "list", "--json")
    assert after == before
    assert _audit_rows(project) == audited
    code, _, err = cli(capsys, "--home", project, "deploy", "kept", "--model", "models:/clf/1",
                       "--shadow", model)  # fmt: skip
    assert code == 1
    assert message in err


def test_deploy_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "deploy", "--help")
    assert code == 0
    assert "``" not in out
    assert "**" not in out
    assert "cycleml deploy rollback churn restores it" in " ".join(out.split())


RAGGED = "a,b\n0.5,1.0\n1.5,0.0\n2.5\n3.5,1.0\n"


def test_predict_reports_a_ragged_csv_line_as_ingest_does(
    capsys: pytest.CaptureFixture[str], project: str, tmp_path: Path
) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text(RAGGED)
    out_file = tmp_path / "scored.parquet"
    code, _, predicted = cli(capsys, "--home", project, "predict", "models:/clf/1",
                             "--input", str(ragged), "--output", str(out_file))  # fmt: skip
    assert code == 1
    assert f"{ragged}:4: expected 2 fields, found 1" in predicted
    assert "Traceback" not in predicted
    assert not out_file.exists()
    code, _, ingested = cli(capsys, "--home", project, "data", "ingest", "rag", str(ragged))
    assert code == 1
    assert predicted == ingested  # one reader, one message


def test_predict_reads_csv_through_the_data_reader(
    capsys: pytest.CaptureFixture[str], project: str, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    FRAME.to_csv(good, index=False)
    out_file = tmp_path / "scored.parquet"
    code, out, err = cli(capsys, "--home", project, "predict", "models:/clf/1", "--input",
                         str(good), "--output", str(out_file), "--chunk-rows", "4",
                         "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["rows"] == len(FRAME)
    assert len(pd.read_parquet(out_file)) == len(FRAME)
    code, _, err = cli(capsys, "--home", project, "predict", "models:/clf/1", "--input",
                       str(good), "--output", str(out_file), "--chunk-rows", "0")  # fmt: skip
    assert code == 1
    assert "--chunk-rows" in err


def test_serve_defaults_are_the_batching_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    from cycleml.serving import BatchingOptions

    _, out, _ = cli(capsys, "serve", "--help")
    text = " ".join(out.split())
    assert f"[default: {BatchingOptions.max_batch_size}]" in text
    assert f"[default: {BatchingOptions.max_wait_ms}]" in text
