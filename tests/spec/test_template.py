"""init_project writes a commented, loadable cycleml.yaml and the .cycleml state folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from cycleml.errors import AlreadyExists, InvalidInput
from cycleml.settings import PROJECT_FILE, STATE_DIR
from cycleml.spec import init_project, load_spec, render_template


def test_init_creates_directory_spec_and_state(tmp_path: Path) -> None:
    target = tmp_path / "fraud-detector"
    path = init_project(target)
    assert path == (target / PROJECT_FILE).resolve()
    assert path.is_file()
    state = target / STATE_DIR
    assert (state / "artifacts").is_dir()
    assert (state / ".gitignore").read_text(encoding="utf-8").strip() == "*"
    leftovers = [p.name for p in target.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_written_spec_loads_with_defaults(tmp_path: Path) -> None:
    spec = load_spec(init_project(tmp_path / "fraud-detector"))
    assert spec.name == "fraud-detector"
    assert spec.problem is not None
    assert spec.problem.task == "binary"
    assert spec.problem.target == "label"
    assert len(spec.metrics) == 2
    for metric in spec.metrics:
        assert metric.threshold is not None
    assert {m.name for m in spec.metrics_for("monitor")} < {m.name for m in spec.metrics}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_every_task_template_loads(tmp_path: Path, task: str) -> None:
    spec = load_spec(init_project(tmp_path, name="My project", task=task))
    assert spec.name == "My project"
    assert spec.problem is not None
    assert spec.problem.task == task
    assert len(spec.metrics) == 2
    if task != "binary":
        assert spec.problem.positive_class is None


def test_template_is_commented_for_every_section(tmp_path: Path) -> None:
    text = init_project(tmp_path).read_text(encoding="utf-8")
    comment_lines = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comment_lines) >= 15
    for section in ("name:", "problem:", "metrics:", "storage:"):
        index = text.index(f"\n{section}")
        assert text[:index].rstrip().splitlines()[-1].lstrip().startswith("#"), section
    assert "applies_to" in text
    assert "threshold" in text


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = init_project(tmp_path, name="first")
    path.write_text("name: edited\n", encoding="utf-8")
    with pytest.raises(AlreadyExists) as info:
        init_project(tmp_path, name="second")
    assert str(path) in str(info.value)
    assert path.read_text(encoding="utf-8") == "name: edited\n"


def test_force_overwrites(tmp_path: Path) -> None:
    path = init_project(tmp_path, name="first")
    path.write_text("name: edited\n", encoding="utf-8")
    init_project(tmp_path, name="second", task="regression", force=True)
    spec = load_spec(path)
    assert spec.name == "second"
    assert spec.problem is not None
    assert spec.problem.task == "regression"


def test_bad_task_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "new"
    with pytest.raises(InvalidInput, match="binary, multiclass, regression"):
        init_project(target, task="clustering")
    assert not (target / PROJECT_FILE).exists()
    assert not (target / STATE_DIR).exists()


def test_directory_that_is_a_file(tmp_path: Path) -> None:
    file = tmp_path / "file.txt"
    file.write_text("x", encoding="utf-8")
    with pytest.raises(InvalidInput, match="is a file"):
        init_project(file)


def test_name_with_yaml_special_characters_round_trips(tmp_path: Path) -> None:
    name = 'weird: "name" # not a comment'
    spec = load_spec(init_project(tmp_path, name=name))
    assert spec.name == name


def test_render_template_rejects_empty_name() -> None:
    with pytest.raises(InvalidInput):
        render_template("  ")
