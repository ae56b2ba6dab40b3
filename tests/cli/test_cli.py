"""The CLI: every command, --json output, and bad input (a message, no traceback, exit 1)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from cycleml.cli import main
from cycleml.data import SqlDatasetRepository
from cycleml.lifecycle import DemoResult, run_demo
from cycleml.registry import SqlModelRepository
from cycleml.store import Database, open_database
from cycleml.tracking import SqlRunRepository, Tracker

TrackerScope = Callable[[], AbstractContextManager[Callable[..., Tracker]]]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    captured = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err


def _open(home: Path) -> Database:
    """The metadata database of the project at ``home`` (a SQLite file)."""
    return open_database(f"sqlite:///{home / '.cycleml' / 'metadata.db'}")


@pytest.fixture(scope="module")
def demo_and_story(
    tmp_path_factory: pytest.TempPathFactory, default_tracker_scope: TrackerScope
) -> tuple[DemoResult, str]:
    """The demo as ``cycleml demo`` runs it (team-server step included), and what it printed."""
    from rich.console import Console

    from cycleml.server._demo import team_server_step

    home = tmp_path_factory.mktemp("demo")
    story = io.StringIO()
    with default_tracker_scope():
        result = run_demo(
            home, console=Console(file=story, width=400), more_steps=[team_server_step]
        )
    return result, story.getvalue()


@pytest.fixture(scope="module")
def demo(demo_and_story: tuple[DemoResult, str]) -> DemoResult:
    return demo_and_story[0]


@pytest.fixture
def in_demo(demo: DemoResult, monkeypatch: pytest.MonkeyPatch) -> DemoResult:
    monkeypatch.chdir(demo.home)
    monkeypatch.delenv("CYCLEML_HOME", raising=False)
    return demo


def test_demo_logs_a_run_through_the_team_server(
    demo_and_story: tuple[DemoResult, str],
) -> None:
    from cycleml.server._demo import SHARED_EXPERIMENT

    demo, story = demo_and_story
    (run_id,) = demo.more
    assert isinstance(run_id, str)
    step = next(line for line in story.splitlines() if line.startswith("9. "))
    assert "cycleml's SDK over REST (2 params, 20 metric points in" in step
    assert f"experiment '{SHARED_EXPERIMENT}'" in step
    assert "status FINISHED" in step
    with _open(demo.home) as db:  # the project's own store holds what the server wrote
        run = SqlRunRepository(db).get_run(run_id)
        assert run.data.params == {"model": "logreg", "C": "0.1"}
        assert len(SqlRunRepository(db).get_metric_history(run_id, "loss")) == 20
        assert any(row.entity_id == run_id for row in db.list_audit(entity_kind="run"))


def test_demo_built_the_lifecycle(demo: DemoResult) -> None:
    assert len(demo.run_ids) == 6
    assert demo.model_uri == "models:/breast-cancer-classifier@champion"
    assert "roc_auc = 0.5 < threshold 0.97" in demo.refused
    with _open(demo.home) as db:
        champion = SqlModelRepository(db).resolve_model_uri(demo.model_uri)
        assert champion.current_stage == "Production"
        assert champion.run_id == demo.best_run_id
        assert champion.metrics["roc_auc"] >= 0.97
        # Lineage runs from the raw files to the registered model.
        graph = db.walk_lineage(
            "model_version", f"{champion.name}/{champion.version}", direction="upstream"
        )
        assert ("dataset_version", "tumours/1") in graph.depth
        assert any(
            kind == "source" and ident.endswith("data/raw/*.csv") for kind, ident in graph.depth
        )
        assert demo.dataset_uri == "datasets:/tumours/1"
        assert demo.report is not None
        assert demo.report.is_file()
        quarantine = SqlDatasetRepository(db).get_dataset_version("tumours.quarantine")
        assert quarantine.row_count == 6


def test_experiments_and_runs_listings(
    capsys: pytest.CaptureFixture[str], in_demo: DemoResult
) -> None:
    code, out, _ = cli(capsys, "experiments", "list", "--json")
    assert code == 0
    # the demo's training, and the run its team-server step logged over REST
    assert sorted(e["name"] for e in json.loads(out)) == ["breast-cancer", "team-server"]
    code, out, _ = cli(capsys, "experiments", "list")
    assert code == 0
    assert "breast-cancer" in out

    code, out, _ = cli(capsys, "runs", "list", "--json")
    assert len(json.loads(out)) == 7  # every experiment's runs
    code, out, _ = cli(capsys, "runs", "list", "--json", "-e", "breast-cancer",
                       "--order-by", "metrics.roc_auc DESC")  # fmt: skip
    runs = json.loads(out)
    assert code == 0
    assert len(runs) == 6
    assert runs[0]["info"]["run_id"] == in_demo.best_run_id
    aucs = [r["data"]["metrics"]["roc_auc"] for r in runs]
    assert aucs == sorted(aucs, reverse=True)

    code, out, _ = cli(
        capsys, "runs", "list", "--json", "--filter", "metrics.roc_auc < 0.9 and tags.demo = 'true'"
    )
    assert [r["info"]["run_name"] for r in json.loads(out)] == ["baseline-dummy"]
    code, out, _ = cli(capsys, "runs", "list", "-e", "breast-cancer", "--max-results", "2")
    assert code == 0
    assert "Runs (2)" in out


def test_runs_list_shows_the_metrics_it_orders_and_filters_by(
    capsys: pytest.CaptureFixture[str], in_demo: DemoResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "140")
    code, out, _ = cli(capsys, "runs", "list", "--order-by", "metrics.training_recall DESC",
                       "--filter", "metrics.training_log_loss < 5")  # fmt: skip
    assert code == 0
    header = next(line for line in out.splitlines() if "run id" in line)
    columns = [cell.strip() for cell in header.strip("┃ ").split("┃")]
    assert columns[:7] == ["run id", "name", "experiment", "status", "started",
                           "training_recall", "training_log_loss"]  # fmt: skip
    assert max(len(line) for line in out.splitlines()) <= 140
    code, listed, _ = cli(capsys, "runs", "list", "--json", "--order-by",
                          "metrics.training_recall DESC",
                          "--filter", "metrics.training_log_loss < 5")  # fmt: skip
    for run in json.loads(listed):  # every row whole: no name, date or value split
        assert run["info"]["run_name"] in out
        assert f"{run['data']['metrics']['training_recall']:.4g}" in out
    assert "breast-cancer" in out
    assert "Not shown (too wide):" in " ".join(out.split())


def test_runs_show_and_compare(capsys: pytest.CaptureFixture[str], in_demo: DemoResult) -> None:
    best = in_demo.best_run_id
    code, out, _ = cli(capsys, "runs", "show", best, "--json")
    shown = json.loads(out)
    assert code == 0
    assert shown["info"]["run_id"] == best
    # autolog logs the servable model folder (through log_model)
    assert {a["path"] for a in shown["artifacts"]} == {"model/model.skops", "model/model.yaml"}
    assert (
        "cycleml.source.git.commit" in shown["data"]["tags"]
        or "cycleml.user" in shown["data"]["tags"]
    )
    code, out, _ = cli(capsys, "runs", "show", best)
    assert code == 0
    assert "model/model.skops" in out
    assert "roc_auc" in out

    other = in_demo.run_ids["baseline-dummy"]
    code, out, _ = cli(capsys, "runs", "compare", best, other, "--json")
    compared = json.loads(out)
    assert compared["runs"] == [best, other]
    assert "metrics.roc_auc" in compared["differs"]
    code, out, _ = cli(capsys, "runs", "compare", best, other)
    assert code == 0
    assert "* metrics.roc_auc" in out


def test_models_lineage_and_audit(capsys: pytest.CaptureFixture[str], in_demo: DemoResult) -> None:
    code, out, _ = cli(capsys, "models", "list", "--json")
    (model,) = json.loads(out)
    assert model["name"] == "breast-cancer-classifier"
    assert model["aliases"] == {"champion": 2}
    code, out, _ = cli(capsys, "models", "show", "breast-cancer-classifier", "--json")
    versions = json.loads(out)["versions"]
    # the refused baseline, the champion, and the runner-up served as a canary
    assert [v["current_stage"] for v in versions] == ["None", "Production", "None"]
    assert versions[1]["signature"]["inputs"][0]["name"] == "mean radius"
    code, out, _ = cli(capsys, "models", "show", "breast-cancer-classifier", "--version", "2")
    assert code == 0
    assert "Staging -> Production" in out
    assert "deploy gates: pass" in out

    code, out, _ = cli(capsys, "lineage", in_demo.model_uri, "--json")
    edges = json.loads(out)["edges"]
    assert {"src_kind": "run", "src_id": in_demo.best_run_id} in [
        {"src_kind": e["src_kind"], "src_id": e["src_id"]} for e in edges
    ]
    code, out, _ = cli(capsys, "lineage", f"runs:/{in_demo.best_run_id}")
    assert code == 0
    assert "breast-cancer-classifier/2" in out

    code, out, _ = cli(capsys, "audit", "--since", "1h", "--json")
    actions = {row["action"] for row in json.loads(out)}
    assert {
        "experiment.create",
        "run.create",
        "model_version.transition",
        "model.set_alias",
    } <= actions
    code, out, _ = cli(capsys, "audit", "--action", "model.set_alias")
    assert code == 0
    assert "champion" in out
    code, out, _ = cli(capsys, "audit", "--since", "2001-01-01", "--limit", "1", "--json")
    assert len(json.loads(out)) == 1


def test_mutating_commands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, "init", "proj", "--name", "churn")
    assert code == 0
    assert (tmp_path / "proj" / "cycleml.yaml").is_file()
    code, _, err = cli(capsys, "init", "proj")
    assert code == 1
    assert "already" in err.lower()
    assert "Traceback" not in err
    home = str(tmp_path / "proj")
    code, out, _ = cli(capsys, "--home", home, "experiments", "create", "exp-a")
    assert code == 0
    code, out, _ = cli(capsys, "--home", home, "experiments", "rename", "exp-a", "exp-b")
    assert code == 0
    assert "exp-b" in out
    code, out, _ = cli(capsys, "--home", home, "experiments", "delete", "exp-b")
    code, out, _ = cli(capsys, "--home", home, "experiments", "list", "--view", "deleted", "--json")
    assert [e["name"] for e in json.loads(out)] == ["exp-b"]
    code, out, _ = cli(capsys, "--home", home, "experiments", "restore", "exp-b")
    assert code == 0

    with SqlRunRepository(_open(tmp_path / "proj")) as run_repo:
        experiment = run_repo.get_experiment_by_name("exp-b")
        assert experiment is not None
        run = run_repo.create_run(experiment_id=experiment.experiment_id, run_name="r")
        code, out, _ = cli(capsys, "--home", home, "runs", "delete", run.info.run_id)
        assert code == 0
        assert "Deleted 1" in out
        code, out, _ = cli(capsys, "--home", home, "runs", "list", "--view", "deleted", "--json")
        assert [r["info"]["run_id"] for r in json.loads(out)] == [run.info.run_id]
        code, out, _ = cli(capsys, "--home", home, "runs", "restore", run.info.run_id)
        assert code == 0
        # The run is RUNNING with a fresh heartbeat: not stale for 1h, stale for 0s.
        code, out, _ = cli(
            capsys, "--home", home, "runs", "mark-stale", "--older-than", "1h", "--json"
        )
        assert json.loads(out)["runs"] == []
        code, out, _ = cli(
            capsys, "--home", home, "runs", "mark-stale", "--older-than", "0s", "--dry-run"
        )
        assert "Would mark 1" in out
        assert run_repo.get_run(run.info.run_id).info.status == "RUNNING"
        code, out, _ = cli(capsys, "--home", home, "runs", "mark-stale", "--older-than", "0s")
        assert code == 0
        assert run_repo.get_run(run.info.run_id).info.status == "FAILED"
        assert "mark-stale" in (run_repo.get_run(run.info.run_id).info.error or "")


def test_models_commands_with_gates(
    capsys: pytest.CaptureFixture[str],
    demo: DemoResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(demo.home)
    weak = demo.run_ids["baseline-dummy"]
    code, out, _ = cli(capsys, "models", "register", f"runs:/{weak}/model", "cli-model", "--json")
    assert code == 0
    assert json.loads(out)["version"] == 1
    code, _, err = cli(capsys, "models", "transition", "cli-model", "1", "--to", "Staging")
    assert code == 1
    assert "roc_auc = 0.5 < threshold 0.97" in err
    assert "Traceback" not in err
    code, out, _ = cli(
        capsys,
        "models",
        "transition",
        "cli-model",
        "1",
        "--to",
        "Staging",
        "--force",
        "--reason",
        "demo",
    )
    assert code == 0
    assert "Staging" in out
    flat = " ".join(out.split())
    assert "Deploy gates overridden (--force): 2 failed: roc_auc = 0.5 < threshold 0.97" in flat
    assert "f1 = 0 < threshold 0.9" in flat
    assert "recorded in the audit log" in flat
    code, out, _ = cli(capsys, "models", "transition", "cli-model", "1", "--to", "Production",
                       "--force", "--json")  # fmt: skip
    assert [g["metric"] for g in json.loads(out)["overridden_gates"]] == ["roc_auc", "f1"]
    # `models promote`, the old name, still works (hidden) and says it is deprecated.
    code, out, err = cli(capsys, "models", "promote", "cli-model", "1", "--to", "Archived",
                         "--force", "--json")  # fmt: skip
    assert code == 0
    assert json.loads(out)["overridden_gates"] == []  # Archived has no gates to override
    assert json.loads(out)["current_stage"] == "Archived"
    assert "`cycleml models promote` is deprecated" in err
    assert "use `cycleml models transition`" in err
    code, out, _ = cli(capsys, "models", "--help")
    assert "transition" in out
    assert "promote" not in out  # hidden: the deprecated name is not advertised
    code, out, _ = cli(capsys, "models", "alias", "cli-model", "challenger", "1")
    assert code == 0
    assert "challenger" in out
    code, _, err = cli(capsys, "models", "alias", "cli-model", "champion")
    assert code == 1
    assert "needs a VERSION" in err
    code, out, _ = cli(capsys, "models", "alias", "cli-model", "challenger", "--delete")
    assert code == 0
    code, out, _ = cli(
        capsys, "audit", "--entity", "model_version", "--entity-id", "cli-model/1", "--json"
    )
    moves = [r for r in json.loads(out) if r["action"] == "model_version.transition"]
    assert [r["payload"]["forced"] for r in moves] == [True, True, False]  # Archived: no gates


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["runs", "show", "nothex"], "Invalid run id"),
        (["runs", "show", "0" * 32], "No run with id"),
        (["runs", "list", "--filter", "metrics.auc >> 1"], "Invalid search filter"),
        (["runs", "list", "--filter", "params.p = 'x' OR 1=1"], "OR"),
        (["runs", "compare", "0" * 32], "at least two"),
        (["models", "show", "missing"], "No registered model named 'missing'"),
        (["models", "register", "runs:/xyz/model", "m"], "Invalid URI"),
        (["lineage", "models:/"], "Invalid URI"),
        (["lineage", "nonsense"], "Invalid lineage reference"),
        (["audit", "--since", "yesterday-ish"], "Invalid --since"),
        (["runs", "mark-stale", "--older-than", "soon"], "Invalid duration"),
        (["experiments", "list", "--view", "some"], "Invalid view"),
        (["--metadata-uri", "mysql://nope", "runs", "list"], "metadata store URI"),
    ],
)
def test_bad_input_is_one_clear_message_and_exit_1(
    capsys: pytest.CaptureFixture[str], in_demo: DemoResult, args: list[str], expected: str
) -> None:
    with _open(in_demo.home) as db:
        before = len(db.list_audit(limit=100000))
        code, _, err = cli(capsys, *args)
        assert code == 1
        assert expected in err
        assert "Traceback" not in err
        assert len(db.list_audit(limit=100000)) == before  # nothing written


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "runs", "list", "--no-such-flag")
    assert code == 2
    assert "no-such-flag" in err
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    assert "experiments" in out


def test_bad_spec_is_reported_by_the_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "cycleml.yaml").write_text(
        "name: x\nmetrics:\n  - name: rocauc\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "runs", "list")
    assert code == 1
    assert "cycleml.yaml" in err
    assert "rocauc" in err
    assert "roc_auc" in err
    assert not (tmp_path / ".cycleml" / "metadata.db").exists()


def test_console_script_over_a_real_process(in_demo: DemoResult) -> None:
    exe = Path(sys.executable).with_name("cycleml")
    done = subprocess.run(
        [str(exe), "runs", "show", "0" * 32],
        cwd=in_demo.home,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "No run with id" in done.stderr
    assert "Traceback" not in done.stderr
    done = subprocess.run(
        [str(exe), "models", "list", "--json"],
        cwd=in_demo.home,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert json.loads(done.stdout)[0]["name"] == "breast-cancer-classifier"


def test_runs_list_ids_prints_one_run_id_per_line_for_scripts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, default_tracker_scope: TrackerScope
) -> None:
    import cycleml

    with default_tracker_scope() as configure:
        configure(home=tmp_path)
        for auc in (0.7, 0.9, 0.8):
            with cycleml.start_run():
                cycleml.log_metric("auc", auc)
        best = cycleml.search_runs(order_by=["metrics.auc DESC"])[0].info.run_id
    with pytest.raises(SystemExit) as done:
        main(["--home", str(tmp_path), "runs", "list", "--order-by", "metrics.auc DESC",
              "--max-results", "1", "--ids"])  # fmt: skip
    assert done.value.code == 0
    assert capsys.readouterr().out == f"{best}\n"
    with pytest.raises(SystemExit) as done:
        main(["--home", str(tmp_path), "runs", "list", "--ids", "--json"])
    assert done.value.code == 1
    assert "Pass --ids or --json, not both." in capsys.readouterr().err
