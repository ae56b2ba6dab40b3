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
    datasets.ingest("cities", FrameSource(table), aliases=["prod"])
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


def _write_iris(path: Path, rows: slice) -> None:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame.insert(0, "id", range(len(frame)))
    frame.iloc[rows].to_csv(path, index=False)


def test_ingest_files_and_append_new_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    _write_iris(raw / "a.csv", slice(0, 100))
    home = str(tmp_path)
    code, out, _ = cli(capsys, "--home", home, "data", "ingest", "iris", str(raw), "--json")
    first = json.loads(out)
    assert code == 0
    assert first["created"] is True
    assert first["version"]["row_count"] == 100
    code, out, _ = cli(capsys, "--home", home, "data", "ingest", "iris", str(raw))
    assert "Unchanged: datasets:/iris/1" in out
    _write_iris(raw / "b.csv", slice(100, 150))
    code, out, _ = cli(
        capsys, "--home", home, "data", "ingest", "iris", str(raw), "--mode", "append", "--json"
    )
    grown = json.loads(out)
    assert grown["rows_read"] == 50  # only the new file was read
    assert grown["version"]["row_count"] == 150
    assert grown["version"]["parent_version"] == 1


def test_ingest_from_the_spec_sources(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _write_iris(tmp_path / "iris.csv", slice(0, 150))
    (tmp_path / "cycleml.yaml").write_text(
        "name: demo\nsources:\n  iris: {kind: file, path: iris.csv}\n", encoding="utf-8"
    )
    code, out, _ = cli(capsys, "--home", str(tmp_path), "data", "ingest", "iris", "--json")
    assert code == 0
    assert json.loads(out)["version"]["row_count"] == 150
    code, _, err = cli(capsys, "--home", str(tmp_path), "data", "ingest", "other")
    assert code == 1
    assert "declares none" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a,b\n1,2\n3,4,5\n", "expected 2 fields"),
        (b"", "is empty"),
        (b"a,b\n1,\xff\xfe\n", "UTF-8"),
    ],
)
def test_bad_files_write_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    code, _, err = cli(capsys, "--home", str(tmp_path), "data", "ingest", "bad", str(bad))
    assert code == 1
    assert message in err
    assert "Traceback" not in err
    code, out, _ = cli(capsys, "--home", str(tmp_path), "data", "list", "--json")
    assert json.loads(out) == []


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = cli(
        capsys, "--home", str(tmp_path), "data", "ingest", "x", str(tmp_path / "nope.csv")
    )
    assert code == 1
    assert "nope.csv" in err


SPEC_WITH_RULES = """\
name: cli-data
problem: {task: multiclass, target: target}
sources:
  iris: {kind: file, path: iris.csv}
validation:
  iris:
    policy: quarantine
    rules:
      - {rule: range, column: petal length (cm), max: 6.5}
      - {rule: unique, column: id}
"""


def test_ingest_validates_profiles_and_diffs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _write_iris(tmp_path / "iris.csv", slice(0, 150))
    _write_iris(tmp_path / "small.csv", slice(0, 100))
    (tmp_path / "cycleml.yaml").write_text(SPEC_WITH_RULES, encoding="utf-8")
    home = ["--home", str(tmp_path)]
    code, out, _ = cli(capsys, *home, "data", "ingest", "iris")
    assert code == 0
    assert "Quarantined 4 rows as datasets:/iris.quarantine/1" in out
    code, out, _ = cli(capsys, *home, "data", "validate", "iris", "--json")
    assert code == 0
    assert json.loads(out)["passed"] is True
    rules = tmp_path / "strict.yaml"
    rules.write_text("rules:\n  - {rule: range, column: petal length (cm), max: 5}\n")
    code, out, _ = cli(capsys, *home, "data", "validate", "iris", "--rules", str(rules), "--json")
    assert code == 1  # a failing rule is a failing command
    (result,) = json.loads(out)["results"]
    assert result["failing_count"] > 0
    assert result["samples"][0]["row"] >= 1
    report = tmp_path / "profile.html"
    code, out, _ = cli(capsys, *home, "data", "profile", "iris", "--out", str(report), "--json")
    assert code == 0
    profiled = json.loads(out)
    assert profiled["report"] == str(report)
    assert {a["kind"] for a in profiled["profile"]["alerts"]} >= {"id_like"}
    assert "<html" in report.read_text(encoding="utf-8").lower()
    light = tmp_path / "shared" / "profile.html"
    code, _, err = cli(capsys, *home, "data", "profile", "iris", "--out", str(light),
                       "--plotlyjs", "shared")  # fmt: skip
    assert code == 0, err
    assert light.stat().st_size < report.stat().st_size / 10  # plotly.js lives beside it
    assert [p.suffix for p in light.parent.glob("plotly-*.min.js")] == [".js"]
    code, _, err = cli(capsys, *home, "data", "profile", "iris", "--plotlyjs", "cdn")
    assert code == 1
    assert "Invalid --plotlyjs 'cdn': expected inline or shared." in err
    cli(capsys, *home, "data", "ingest", "small", str(tmp_path / "small.csv"))
    code, out, _ = cli(capsys, *home, "data", "diff", "small", "iris", "--json")
    assert code == 0
    assert json.loads(out)["new"] == "datasets:/iris/1"
    code, _, err = cli(capsys, *home, "data", "validate", "small")
    assert code == 1
    assert "No validation rules for dataset 'small'" in err
