"""The context captured automatically on every run: code version, entry point, environment."""

from __future__ import annotations

import json
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["KEY_PACKAGES", "TAG_PREFIX", "capture_context"]

TAG_PREFIX = "cycleml."
#: Packages whose installed versions every run records (when installed).
KEY_PACKAGES = (
    "cycleml",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "xgboost",
    "lightgbm",
    "pyarrow",
    "polars",
    "sqlalchemy",
)


def _entry_point() -> Path | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path:
        return Path(path).resolve()
    if sys.argv and sys.argv[0] and Path(sys.argv[0]).exists():
        return Path(sys.argv[0]).resolve()
    return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def capture_context(user: str) -> dict[str, str]:
    """Tags describing where and from what code a run was started.

    Git facts come from the repository holding the entry point (or the current folder).
    """
    entry = _entry_point()
    tags = {
        f"{TAG_PREFIX}user": user,
        f"{TAG_PREFIX}host": socket.gethostname(),
        f"{TAG_PREFIX}python_version": platform.python_version(),
        f"{TAG_PREFIX}platform": platform.platform(terse=True),
        f"{TAG_PREFIX}source.name": str(entry) if entry else "<interactive>",
        f"{TAG_PREFIX}packages": json.dumps(_package_versions(), sort_keys=True),
    }
    folder = entry.parent if entry else Path.cwd()
    commit = _git(["rev-parse", "HEAD"], folder)
    if commit:
        status = _git(["status", "--porcelain", "--untracked-files=no"], folder)
        tags[f"{TAG_PREFIX}source.git.commit"] = commit
        tags[f"{TAG_PREFIX}source.git.dirty"] = "true" if status else "false"
        branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], folder)
        if branch:
            tags[f"{TAG_PREFIX}source.git.branch"] = branch
    return tags
