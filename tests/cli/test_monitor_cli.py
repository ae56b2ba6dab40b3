"""``cycleml monitor``: reference, create, run (batch and --watch), history, alerts, report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cycleml.cli import main
from cycleml.registry import SqlModelRepository
from cycleml.serving import SqlDeploymentRepository
from cycleml.settings import resolve_settings
from cycleml.store import Database


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"age": rng.normal(40 + 10 * shift, 8, n),
                         "plan": rng.choice(["a", "b"], n)})  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> str:
    settings = resolve_settings(home=tmp_path)
    with SqlModelRepository(Database(settings.metadata_uri, actor="tester")) as models:
        models.create_registered_model("churn")
        models.create_model_version("churn", source="s3://b/1")
    _frame(2_000, 0).to_parquet(tmp_path / "reference.parquet")
    _frame(2_000, 1).to_parquet(tmp_path / "same.parquet")
    _frame(2_000, 2, shift=1.0).to_parquet(tmp_path / "shifted.parquet")
    return str(tmp_path)


def test_batch_monitor_from_the_terminal(capsys: pytest.CaptureFixture[str], project: str) -> None:
    home = Path(project)
    code, out, err = cli(capsys, "--home", project, "monitor", "reference",
                         str(home / "reference.parquet"), "--model", "models:/churn/1",
                         "--name", "train", "--json")  # fmt: skip
    assert code == 0, err
    reference = json.loads(out)
    assert reference["rows"] == 2_000
    assert reference["model_version"] == 1
    code, out, err = cli(capsys, "--home", project, "monitor", "create", "nightly",
                         "--model", "models:/churn/1", "--reference", "train",
                         "--alert", "drift.share >= 0.5", "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["config"]["rules"][0]["metric"] == "drift.share"
    for data in ("same.parquet", "shifted.parquet"):
        code, out, err = cli(capsys, "--home", project, "monitor", "run", "nightly",
                             "--data", str(home / data), "--json")  # fmt: skip
        assert code == 0, err
    code, out, _ = cli(capsys, "--home", project, "monitor", "history", "nightly",
                       "--metric", "drift.share", "--json")  # fmt: skip
    shares = [point["value"] for point in json.loads(out)]
    assert len(shares) == 2
    assert shares[0] < 0.5 <= shares[1]
    code, out, _ = cli(capsys, "--home", project, "monitor", "alerts", "--json")
    (event,) = json.loads(out)
    assert (event["rule_name"], event["kind"]) == ("drift.share >= 0.5", "fired")
    code, out, _ = cli(capsys, "--home", project, "monitor", "list", "--json")
    assert [m["name"] for m in json.loads(out)] == ["nightly"]
    report = home / "report.html"
    code, out, err = cli(capsys, "--home", project, "monitor", "report", "nightly",
                         "--data", str(home / "shifted.parquet"), "-o", str(report))  # fmt: skip
    assert code == 0, err
    assert "age" in report.read_text()
    code, out, _ = cli(capsys, "--home", project, "monitor", "list")
    assert "nightly" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["monitor", "create", "m"], "exactly one of --deployment and --model"),
        (["monitor", "create", "m", "--model", "models:/churn/1", "--alert", "drift.share ~ 1"],
         "Cannot read the alert rule"),
        (["monitor", "create", "m", "--model", "models:/churn/1", "--check", "vibes"],
         "Unknown monitor check"),
        (["monitor", "run", "ghost"], "ghost"),
        (["monitor", "reference", "/nowhere.parquet"], "No such file"),
    ],
)  # fmt: skip
def test_bad_input_exits_non_zero_with_a_message(
    capsys: pytest.CaptureFixture[str], project: str, args: list[str], message: str
) -> None:
    code, out, err = cli(capsys, "--home", project, *args)
    assert code != 0
    assert message in out + err


def test_watch_evaluates_new_log_data_as_it_arrives(
    capsys: pytest.CaptureFixture[str], project: str
) -> None:
    from cycleml.serving import PredictionLogger

    settings = resolve_settings(home=Path(project))
    with SqlDeploymentRepository(Database(settings.metadata_uri, actor="tester")) as deployments:
        deployments.create_deployment("live", "models:/churn/1")
    hour = 3_600_000
    start = 1_700_000_000_000 - 1_700_000_000_000 % hour
    rows = _frame(200, 3).to_dict(orient="records")
    with PredictionLogger(settings, "live") as logger:
        logger.log([{"request_id": f"r{i}", "time": start + i * 1000, "inputs": row,
                     "outputs": {"prediction": 0}} for i, row in enumerate(rows)])  # fmt: skip
    cli(capsys, "--home", project, "monitor", "reference", str(Path(project) / "reference.parquet"),
        "--name", "train")  # fmt: skip
    cli(capsys, "--home", project, "monitor", "create", "live-watch", "--deployment", "live",
        "--reference", "train", "--window", "1h")  # fmt: skip
    code, out, err = cli(capsys, "--home", project, "monitor", "run", "live-watch", "--watch",
                         "--iterations", "2", "--interval", "0.05", "--json")  # fmt: skip
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [(r["window_start"], r["rows"]) for r in lines] == [(start, 200)]  # once, not twice


def test_lag_and_why_no_window_is_ready(capsys: pytest.CaptureFixture[str], project: str) -> None:
    from cycleml.serving import PredictionLogger
    from cycleml.store import now_ms

    settings = resolve_settings(home=Path(project))
    with SqlDeploymentRepository(Database(settings.metadata_uri, actor="tester")) as deployments:
        deployments.create_deployment("live", "models:/churn/1")
    rows = _frame(150, 3).to_dict(orient="records")
    stamp = now_ms()  # fresh rows: the default lag (30 s) holds them back
    with PredictionLogger(settings, "live") as logger:
        logger.log([{"request_id": f"r{i}", "time": stamp, "inputs": row,
                     "outputs": {"prediction": 0}} for i, row in enumerate(rows)])  # fmt: skip
    cli(capsys, "--home", project, "monitor", "reference", str(Path(project) / "reference.parquet"),
        "--name", "train")  # fmt: skip
    for name, lag in (("waits", []), ("at-once", ["--lag", "0"])):
        code, _, err = cli(capsys, "--home", project, "monitor", "create", name, "--deployment",
                           "live", "--reference", "train", "--window", "100", *lag)  # fmt: skip
        assert code == 0, err
    code, out, _ = cli(capsys, "--home", project, "monitor", "run", "waits")
    assert code == 0
    assert out.strip() == (
        "No complete window to evaluate yet: a window is evaluated once it has 100 rows and "
        "its rows are 30 s old (the monitor's lag)."
    )
    code, out, _ = cli(capsys, "--home", project, "monitor", "run", "at-once", "--json")
    assert code == 0
    assert [r["rows"] for r in json.loads(out)] == [100]  # the other 50 fill the next window
