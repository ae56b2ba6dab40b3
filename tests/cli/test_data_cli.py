"""``cycleml data``: listings with --json, show, head, tag, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from cycleml.cli import main
from cycleml.data import Datasets, FrameSource
from cycleml.settings import resolve_settings


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


@pytest.fixture
def project(tmp_path: Path) -> str:
    datasets = Datasets(resolve_settings(home=tmp_path))
    table = pa.table({"id": list(range(30)), "city": ["Oslo", "Lima", "Pune"] * 10})
    datasets.ingest("cities", FrameSource(table), tags=["prod"])
    datasets.ingest("cities", FrameSource(table.slice(0, 12)))
    datasets.close()
    return str(tmp_path)


def test_list_show_head_tag(capsys: pytest.CaptureFixture[str], project: str) -> None:
    code, out, _ = cli(capsys, "--home", project, "data", "list", "--json")
    assert code == 0
    (latest,) = json.loads(out)
    assert (latest["name"], latest["version"], latest["row_count"]) == ("cities", 2, 12)
    code, out, _ = cli(capsys, "--home", project, "data", "show", "cities", "--json")
    assert [v["row_count"] for v in json.loads(out)] == [30, 12]
    code, out, _ = cli(capsys, "--home", project, "data", "show", "datasets:/cities@prod")
    assert code == 0
    assert "datasets:/cities/1" in out
    assert "city: string" in out
    code, out, _ = cli(capsys, "--home", project, "data", "head", "cities", "-n", "2", "--json")
    assert json.loads(out) == [{"id": 0, "city": "Oslo"}, {"id": 1, "city": "Lima"}]
    code, out, _ = cli(capsys, "--home", project, "data", "tag", "cities", "2", "prod")
    assert code == 0
    code, out, _ = cli(capsys, "--home", project, "data", "show", "datasets:/cities@prod", "--json")
    assert json.loads(out)["version"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "show", "nope"], "No dataset named 'nope'"),
        (["data", "head", "datasets:/cities/7"], "no version 7"),
        (["data", "tag", "cities", "1", "latest"], "Invalid dataset tag"),
        (["data", "show", "datasets:/cities/x"], "Invalid dataset URI"),
    ],
)
def test_errors(
    capsys: pytest.CaptureFixture[str], project: str, args: list[str], message: str
) -> None:
    code, _, err = cli(capsys, "--home", project, *args)
    assert code == 1
    assert message in err
    assert "Traceback" not in err
