"""Artifacts of runs: files, folders, dicts, text, figures; safe paths; download; dedupe."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

from cycleml.store import Database

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import plotly.graph_objects as go
import plotly.io
import pytest
import yaml

import cycleml
from cycleml.errors import InvalidInput, NotFound
from cycleml.settings import Settings
from cycleml.tracking import Tracker

BAD_PATHS = ["../x", "/etc", "a/../../b", "..", "C:\\windows", "a\x00b", "/"]


def _blob_files(settings: Settings) -> list[Path]:
    root = Path(settings.artifact_uri.removeprefix("file://")) / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small folder tree with text and binary files."""
    root = tmp_path / "outputs"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.bin").write_bytes(bytes(range(256)) * 10)
    (root / "sub" / "deeper" / "c.csv").write_text("x,y\n1,2\n")
    (root / "sub" / "empty").mkdir()
    return root


def test_log_artifact_and_artifacts(tracking: Tracker, tree: Path) -> None:
    client = tracking.client
    with cycleml.start_run() as run:
        plain = cycleml.log_artifact(tree / "a.txt")
        nested = cycleml.log_artifact(tree / "sub" / "b.bin", "weights/v1/")
        entries = cycleml.log_artifacts(tree, "outputs")
        root_entries = cycleml.log_artifacts(tree / "sub")
    assert plain.path == "a.txt"
    assert plain.size == len("alpha\n")
    assert nested.path == "weights/v1/b.bin"
    assert [e.path for e in entries] == [
        "outputs/a.txt",
        "outputs/sub/b.bin",
        "outputs/sub/deeper/c.csv",
    ]
    assert [e.path for e in root_entries] == ["b.bin", "deeper/c.csv"]
    listed = {e.path for e in client.list_artifacts(run.run_id)}
    assert listed == {
        "a.txt",
        "weights/v1/b.bin",
        "outputs/a.txt",
        "outputs/sub/b.bin",
        "outputs/sub/deeper/c.csv",
        "b.bin",
        "deeper/c.csv",
    }
    assert [e.path for e in client.list_artifacts(run.run_id, "outputs/sub")] == [
        "outputs/sub/b.bin",
        "outputs/sub/deeper/c.csv",
    ]
    stored = client.read_artifact(run.run_id, "weights/v1/b.bin")
    assert stored == (tree / "sub" / "b.bin").read_bytes()
    with pytest.raises(NotFound):
        client.read_artifact(run.run_id, "weights/v2/b.bin")


def test_missing_sources_are_invalid_input(
    sqlite_tracking: Tracker, tmp_path: Path, tree: Path
) -> None:
    with cycleml.start_run() as run:
        with pytest.raises(InvalidInput, match="no such file"):
            cycleml.log_artifact(tmp_path / "nope.txt")
        with pytest.raises(InvalidInput, match="no such file"):
            cycleml.log_artifact(tree)  # a folder
        with pytest.raises(InvalidInput, match="no such folder"):
            cycleml.log_artifacts(tree / "a.txt")
    assert sqlite_tracking.client.list_artifacts(run.run_id) == []


def test_log_dict_json_and_yaml(sqlite_tracking: Tracker) -> None:
    config: dict[str, Any] = {"lr": 0.1, "layers": [64, 32], "name": "näive", "nested": {"a": 1}}
    with cycleml.start_run() as run:
        cycleml.log_dict(config, "config.json")
        cycleml.log_dict(config, "conf/config.yaml")
        cycleml.log_dict(config, "config.yml")
    client = sqlite_tracking.client
    assert json.loads(client.read_artifact(run.run_id, "config.json")) == config
    assert yaml.safe_load(client.read_artifact(run.run_id, "conf/config.yaml")) == config
    yml = client.read_artifact(run.run_id, "config.yml").decode()
    assert yaml.safe_load(yml) == config
    assert not yml.lstrip().startswith("{")  # block-style YAML, not JSON


def test_log_text(sqlite_tracking: Tracker) -> None:
    text = "héllo wörld ✓\nsecond line\n"
    with cycleml.start_run() as run:
        entry = cycleml.log_text(text, "notes/readme.md")
    assert entry.path == "notes/readme.md"
    assert entry.size == len(text.encode("utf-8"))
    assert (
        sqlite_tracking.client.read_artifact(run.run_id, "notes/readme.md").decode("utf-8") == text
    )


def test_log_figure_matplotlib(sqlite_tracking: Tracker) -> None:
    figure, axes = plt.subplots()
    axes.plot([1, 2, 3], [3, 1, 2])
    try:
        with cycleml.start_run() as run:
            cycleml.log_figure(figure, "plots/curve.png")
            cycleml.log_figure(figure, "plots/curve.svg")
            cycleml.log_figure(figure, "plots/curve.pdf")
            with pytest.raises(InvalidInput, match="extension"):
                cycleml.log_figure(figure, "plots/curve.html")
    finally:
        plt.close(figure)
    client = sqlite_tracking.client
    assert client.read_artifact(run.run_id, "plots/curve.png").startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in client.read_artifact(run.run_id, "plots/curve.svg")
    assert client.read_artifact(run.run_id, "plots/curve.pdf").startswith(b"%PDF")
    assert [e.path for e in client.list_artifacts(run.run_id)] == [
        "plots/curve.pdf",
        "plots/curve.png",
        "plots/curve.svg",
    ]


def test_log_figure_plotly(sqlite_tracking: Tracker) -> None:
    figure = go.Figure(data=[go.Bar(x=["a", "b"], y=[3, 5])], layout={"title": "counts"})
    with cycleml.start_run() as run:
        cycleml.log_figure(figure, "plots/bars.html")
        cycleml.log_figure(figure, "plots/bars.json")
        with pytest.raises(InvalidInput, match="extension"):
            cycleml.log_figure(figure, "plots/bars.png")
    client = sqlite_tracking.client
    html = client.read_artifact(run.run_id, "plots/bars.html").decode()
    assert "<html>" in html.lower()
    assert html.rstrip().endswith("</html>")
    assert "plotly" in html.lower()
    loaded = plotly.io.from_json(client.read_artifact(run.run_id, "plots/bars.json").decode())
    assert list(loaded.data[0].y) == [3, 5]
    assert loaded.layout.title.text == "counts"


@pytest.mark.parametrize("figure", [{"not": "a figure"}, "figure.png", 42])
def test_log_figure_wrong_type(sqlite_tracking: Tracker, figure: object) -> None:
    with cycleml.start_run() as run, pytest.raises(InvalidInput, match="matplotlib or plotly"):
        cycleml.log_figure(figure, "figure.png")
    assert sqlite_tracking.client.list_artifacts(run.run_id) == []


def test_path_traversal_is_refused_and_nothing_recorded(
    tracking: Tracker, tree: Path, db: Database
) -> None:
    figure = go.Figure()
    with cycleml.start_run() as run:
        for bad in BAD_PATHS:
            with pytest.raises(InvalidInput, match="artifact path"):
                cycleml.log_artifact(tree / "a.txt", bad)
            with pytest.raises(InvalidInput, match="artifact path"):
                cycleml.log_artifacts(tree, bad)
            with pytest.raises(InvalidInput, match="artifact path"):
                cycleml.log_text("x", bad + "/evil.txt" if bad != "/" else "/evil.txt")
            with pytest.raises(InvalidInput, match="artifact path"):
                cycleml.log_dict({"a": 1}, bad + "/evil.json")
            with pytest.raises(InvalidInput, match="artifact path"):
                cycleml.log_figure(figure, bad + "/evil.json")
        with pytest.raises(InvalidInput, match="artifact path"):
            cycleml.log_text("x", "")
    assert tracking.client.list_artifacts(run.run_id) == []
    assert db.list_audit(entity_id=run.run_id, action="run.log_artifacts") == []
    with pytest.raises(InvalidInput):
        tracking.client.read_artifact(run.run_id, "../a.txt")


def test_download_artifacts_recreates_files(tracking: Tracker, tree: Path, tmp_path: Path) -> None:
    with cycleml.start_run() as run:
        cycleml.log_artifacts(tree, "outputs")
        cycleml.log_text("top", "top.txt")
    client = tracking.client
    originals = {
        p.relative_to(tree).as_posix(): p.read_bytes() for p in tree.rglob("*") if p.is_file()
    }

    folder = client.download_artifacts(f"runs:/{run.run_id}/outputs", dst_path=tmp_path / "d1")
    assert folder == tmp_path / "d1" / "outputs"
    copied = {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }
    assert copied == originals
    assert not (tmp_path / "d1" / "top.txt").exists()  # only what was asked for

    everything = client.download_artifacts(f"runs:/{run.run_id}", dst_path=tmp_path / "d2")
    assert everything == tmp_path / "d2"
    assert (everything / "top.txt").read_text() == "top"
    assert (everything / "outputs" / "sub" / "b.bin").read_bytes() == originals["sub/b.bin"]

    single = client.download_artifacts(run.run_id, "outputs/sub/b.bin", dst_path=tmp_path / "d3")
    assert single == tmp_path / "d3" / "outputs" / "sub" / "b.bin"
    assert single.read_bytes() == originals["sub/b.bin"]

    default_dst = client.download_artifacts(f"runs:/{run.run_id}/top.txt")
    assert default_dst.read_text() == "top"

    with pytest.raises(NotFound):
        client.download_artifacts(f"runs:/{run.run_id}/missing", dst_path=tmp_path / "d4")
    with pytest.raises(InvalidInput):
        client.download_artifacts(f"runs:/{run.run_id}/../x", dst_path=tmp_path / "d5")
    assert not (tmp_path / "d4").exists()


def test_identical_content_is_stored_once(
    tracking: Tracker, tree: Path, tmp_path: Path, settings: Settings
) -> None:
    copy = tmp_path / "copy.txt"
    copy.write_bytes((tree / "a.txt").read_bytes())
    with cycleml.start_run() as first:
        one = cycleml.log_artifact(tree / "a.txt")
        two = cycleml.log_artifact(copy, "again")
        three = cycleml.log_text("alpha\n", "as_text.txt")
    with cycleml.start_run() as second:
        four = cycleml.log_artifact(tree / "a.txt")
    assert one.digest == two.digest == three.digest == four.digest
    assert len(one.digest) == 64
    blobs = _blob_files(settings)
    assert [b.name for b in blobs] == [one.digest]
    assert blobs[0].read_bytes() == b"alpha\n"
    assert tracking.client.read_artifact(second.run_id, "a.txt") == b"alpha\n"
    assert tracking.client.read_artifact(first.run_id, "again/copy.txt") == b"alpha\n"

    with cycleml.start_run() as third:
        cycleml.log_text("v1", "model.txt")
        cycleml.log_text("v2", "model.txt")  # logging a path again points it at new content
    assert tracking.client.read_artifact(third.run_id, "model.txt") == b"v2"
    assert [e.path for e in tracking.client.list_artifacts(third.run_id)] == ["model.txt"]
    assert len(_blob_files(settings)) == 3


def test_log_figure_refuses_parts_of_figures(sqlite_tracking: Tracker) -> None:
    figure, axes = plt.subplots()
    try:
        with cycleml.start_run() as run:
            with pytest.raises(InvalidInput, match="matplotlib or plotly"):
                cycleml.log_figure(axes, "axes.png")  # an Axes, not its Figure
            with pytest.raises(InvalidInput, match="matplotlib or plotly"):
                cycleml.log_figure(go.Bar(x=[1], y=[2]), "trace.html")  # a trace
            cycleml.log_figure(axes.figure, "figure.png")
    finally:
        plt.close(figure)
    assert [e.path for e in sqlite_tracking.client.list_artifacts(run.run_id)] == ["figure.png"]


def test_log_dict_yaml_with_unsupported_values(sqlite_tracking: Tracker) -> None:
    import numpy as np

    with cycleml.start_run() as run:
        with pytest.raises(InvalidInput, match="YAML"):
            cycleml.log_dict({"auc": np.float64(0.9)}, "metrics.yaml")
        cycleml.log_dict({"auc": np.float64(0.9), "n": np.int64(3)}, "metrics.json")
    assert [e.path for e in sqlite_tracking.client.list_artifacts(run.run_id)] == ["metrics.json"]
    stored = json.loads(sqlite_tracking.client.read_artifact(run.run_id, "metrics.json"))
    assert stored["auc"] == 0.9
