"""README.md's quickstart runs as written: every shell and Python block, in order, in an
empty folder, as a new user would paste them into one terminal.

Shell blocks run as they are in one ``bash`` session (so ``cd``, variables and background
jobs carry over); each Python block runs as a script (``python - <<EOF``) in that
session's folder. The README's port 5000 becomes a free one; nothing else is changed.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from cycleml.settings import ENV_VARS
from test_docs import ROOT, blocks

README = ROOT / "README.md"
SHELL = ("console", "bash", "shell", "sh")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def readme_script(port: int) -> str:
    """The quickstart's blocks as one bash script."""
    start = README.read_text(encoding="utf-8").splitlines().index("## Quickstart")
    lines = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    for block in blocks(README):
        if block.line < start or block.lang not in (*SHELL, "python"):
            continue
        body = block.body.replace("5000", str(port))
        lines.append(f"echo '### {block.where}'")
        if block.lang == "python":
            lines += ["python - <<'CYCLEML_README_PY'", body.rstrip("\n"), "CYCLEML_README_PY"]
        else:
            lines += [re.sub(r"^\$ ", "", line) for line in body.splitlines()]
    return "\n".join(lines) + "\n"


def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    script = readme_script(_free_port())
    assert script.count("### README.md") >= 6, script
    env = {k: v for k, v in os.environ.items() if k not in {v.name for v in ENV_VARS}}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TMPDIR"] = str(tmp_path / "tmp")  # to see what the servers leave behind
    (tmp_path / "tmp").mkdir()
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    out, err = done.stdout, done.stderr
    assert done.returncode == 0, f"{out[-3000:]}\n--- stderr ---\n{err[-3000:]}"
    assert "Traceback" not in err, err
    project = tmp_path / "my-project"
    assert (project / "cycleml.yaml").is_file()
    assert re.search(r"^logreg-C1\.0 0\.99\d$", out, re.M), out
    assert "Registered models:/breast-cancer/1" in out
    assert re.search(r'^\{"predictions":\[[01],[01],[01]\]\}$', out, re.M), out  # 3 patients
    assert "200 diagnoses recorded" in out
    assert "Monitor cancer-watch" in out  # the table of the two windows evaluated
    assert "No complete window" not in out
    report = project / "cancer-watch.html"
    assert report.is_file()
    assert report.stat().st_size > 10_000
    assert not list((tmp_path / "tmp").glob("cycleml-model-*"))
