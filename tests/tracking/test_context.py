"""The context every run records: code version (git), entry point and environment."""

from __future__ import annotations

import json
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import sklearn

import cycleml
from cycleml.settings import Settings
from cycleml.store import Database
from cycleml.tracking import SqlRunRepository, Tracker, _context
from cycleml.tracking._context import capture_context

SCRIPT = """
import json, sys
from pathlib import Path
import cycleml
from cycleml.settings import Settings

cfg = json.loads(sys.argv[1])
settings = Settings(
    home=Path(cfg["home"]), metadata_uri=cfg["uri"], artifact_uri=cfg["artifacts"],
    tracking_uri=cfg["uri"], actor="script-user",
)
cycleml.configure(settings=settings)
with cycleml.start_run() as run:
    cycleml.log_metric("x", 1.0)
print(run.run_id)
"""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


def _run_script(script: Path, settings: Settings, cwd: Path) -> str:
    cfg = {
        "home": str(settings.home),
        "uri": settings.metadata_uri,
        "artifacts": settings.artifact_uri,
    }
    done = subprocess.run(
        [sys.executable, str(script), json.dumps(cfg)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with a committed training script and a tracked config file."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "train.py").write_text(SCRIPT)
    (folder / "config.yaml").write_text("lr: 0.1\n")
    _git(folder, "init", "-q")
    _git(folder, "add", "train.py", "config.yaml")
    _git(folder, "commit", "-q", "-m", "initial")
    return folder


def test_git_commit_and_dirty_flag(repo: Path, sqlite_settings: Settings, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"  # run from outside the repo: git facts follow the script
    elsewhere.mkdir()
    (repo / "notes.txt").write_text("untracked files do not make the tree dirty")
    store = SqlRunRepository(Database(sqlite_settings.metadata_uri, actor="reader"))
    try:
        clean_id = _run_script(repo / "train.py", sqlite_settings, elsewhere)
        clean = store.get_run(clean_id).data.tags
        head = _git(repo, "rev-parse", "HEAD")
        assert clean["cycleml.source.git.commit"] == head
        assert len(head) == 40
        assert clean["cycleml.source.git.dirty"] == "false"
        assert clean["cycleml.source.git.branch"] == _git(repo, "rev-parse", "--abbrev-ref", "HEAD")

        (repo / "config.yaml").write_text("lr: 0.2\n")  # edit a tracked file
        dirty_id = _run_script(repo / "train.py", sqlite_settings, elsewhere)
        dirty = store.get_run(dirty_id).data.tags
        assert dirty["cycleml.source.git.commit"] == head
        assert dirty["cycleml.source.git.dirty"] == "true"

        _git(repo, "commit", "-q", "-am", "new lr")
        committed_id = _run_script(repo / "train.py", sqlite_settings, elsewhere)
        committed = store.get_run(committed_id).data.tags
        assert committed["cycleml.source.git.commit"] == _git(repo, "rev-parse", "HEAD") != head
        assert committed["cycleml.source.git.dirty"] == "false"

        # the rest of the context, as seen by the script's process
        assert clean["cycleml.source.name"] == str((repo / "train.py").resolve())
        assert clean["cycleml.python_version"] == platform.python_version()
        assert clean["cycleml.host"] == socket.gethostname()
        assert clean["cycleml.user"] == "script-user"
        assert store.get_run(clean_id).info.user_id == "script-user"
        assert clean["cycleml.pid"].isdigit()
        assert clean["cycleml.pid"] != dirty["cycleml.pid"] or clean_id != dirty_id
        packages = json.loads(clean["cycleml.packages"])
        assert packages["numpy"] == np.__version__
        assert packages["scikit-learn"] == sklearn.__version__
    finally:
        store.close()


def test_context_outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "nogit"
    folder.mkdir()
    entry = folder / "job.py"
    entry.write_text("print('hi')\n")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    monkeypatch.setattr(_context, "_entry_point", lambda: entry.resolve())
    tags = capture_context("ann")
    assert not any(key.startswith("cycleml.source.git") for key in tags)
    assert tags["cycleml.source.name"] == str(entry.resolve())
    assert tags["cycleml.user"] == "ann"
    assert tags["cycleml.host"] == socket.gethostname()
    assert tags["cycleml.python_version"] == platform.python_version()
    assert tags["cycleml.platform"]
    packages = json.loads(tags["cycleml.packages"])
    assert packages["numpy"] == np.__version__
    assert packages["cycleml"] == metadata.version("cycleml")
    assert set(packages) <= set(_context.KEY_PACKAGES)


def test_interactive_session_has_no_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_context, "_entry_point", lambda: None)
    assert capture_context("ann")["cycleml.source.name"] == "<interactive>"


def test_runs_carry_context_tags(sqlite_tracking: Tracker) -> None:
    with cycleml.start_run() as run:
        pass
    tags = cycleml.get_run(run.run_id).data.tags
    for key in (
        "cycleml.user",
        "cycleml.host",
        "cycleml.python_version",
        "cycleml.platform",
        "cycleml.source.name",
        "cycleml.packages",
        "cycleml.pid",
    ):
        assert key in tags, key
    assert tags["cycleml.user"] == "tester"
    assert tags["cycleml.pid"] == str(__import__("os").getpid())
    json.loads(tags["cycleml.packages"])
