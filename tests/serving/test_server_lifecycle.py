"""``cycleml serve`` starting and stopping: the banner, SIGTERM, downloads, the main guard.

Real processes on loopback: the server is ``python -m cycleml.cli serve`` with its own
``TMPDIR``, so the test can see every temporary folder it leaves behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest

import cycleml
from cycleml.models import log_model
from cycleml.registry import Models
from cycleml.settings import Settings, resolve_settings
from cycleml.tracking import Tracker

from .conftest import CLI, free_port, served


@pytest.fixture
def registered(
    tmp_path: Path,
    cancer: tuple[pd.DataFrame, pd.Series],
    default_tracker: Callable[..., Tracker],
) -> Settings:
    """``models:/tumours/1`` (a logistic regression) in a project at ``tmp_path``."""
    from sklearn.linear_model import LogisticRegression

    x, y = cancer
    settings = resolve_settings(home=tmp_path)
    default_tracker(settings=settings)
    with cycleml.start_run():
        log_model(LogisticRegression(max_iter=5000).fit(x, y), "model",
                  input_example=x.head(), registered_model_name="tumours")  # fmt: skip
    return settings


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_drains_exits_zero_and_removes_the_downloads(
    registered: Settings, tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], workers: str
) -> None:
    x, _ = cancer
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    args = ["models:/tumours/1", "--workers", workers]
    with served(args, tmp_path, env=env) as (url, process):
        assert list(temp.glob("cycleml-model-*"))  # each worker's download (not the children's)
        answer = httpx.post(f"{url}/invocations", json={"inputs": x.head(2).to_dict("records")})
        assert answer.status_code == 200, answer.text
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
        out, err = (stream.decode() for stream in process.communicate())
    assert code == 0, err
    assert "Traceback" not in err
    assert list(temp.glob("cycleml-model-*")) == []
    assert out.count("Serving models:/tumours/1") == 1


def test_the_banner_appears_only_once_the_model_has_loaded(
    registered: Settings, tmp_path: Path
) -> None:
    with cycleml.start_run() as run:
        cycleml.log_text("not a model", "notes/readme.txt")
    uri = f"runs:/{run.info.run_id}/notes"
    done = subprocess.run(
        [*CLI, "--home", str(tmp_path), "serve", uri, "--port", str(free_port())],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 1
    assert "Serving" not in done.stdout
    assert f"'{uri}' is not a cycleml model folder" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.glob("cycleml-model-*")) == []


_SCRIPT = """\
import sys
import pandas as pd
from fastapi.testclient import TestClient
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import cycleml
from cycleml.models import log_model
from cycleml.serving import model_app


def train():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    with cycleml.start_run():
        log_model(LogisticRegression(max_iter=5000).fit(X, y), "model",
                  input_example=X.head(), registered_model_name="tumours")
    return X


def score(X):
    with TestClient(model_app("models:/tumours/1")) as client:
        print(client.post("/predict", json=X.head(2).to_dict(orient="records")).status_code)
"""


@pytest.mark.parametrize("guarded", [False, True], ids=["unguarded", "guarded"])
def test_an_unguarded_main_script_is_refused_before_it_runs_twice(
    tmp_path: Path, guarded: bool
) -> None:
    body = "score(train())\n"
    if guarded:
        body = 'if __name__ == "__main__":\n' + textwrap.indent(body, "    ")
    script = tmp_path / "serve_it.py"
    script.write_text(_SCRIPT + "\n\n" + body, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=180
    )
    versions = Models(resolve_settings(home=tmp_path)).list_versions("tumours")
    assert len(versions) == 1  # the script's top level ran once, never in the child
    if guarded:
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "200"
        return
    assert done.returncode == 1
    assert "BrokenProcessPool" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("cycleml.errors.InvalidState: Cannot start the model's predict")
    assert f"line {len(_SCRIPT.splitlines()) + 3} of {script}" in last
    assert 'if __name__ == "__main__":' in last


def test_the_docs_serving_example_runs_as_a_saved_script(tmp_path: Path) -> None:
    """docs/serving.md's first example, saved as a file and run: it trains and registers
    once (the predict process does not run it again) and serves."""
    docs = Path(__file__).resolve().parents[2] / "docs" / "serving.md"
    example = re.findall(r"```python\n(.*?)```", docs.read_text(encoding="utf-8"), re.S)[0]
    assert 'if __name__ == "__main__":' in example
    script = tmp_path / "serve_example.py"
    script.write_text(example, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "422 signature_mismatch"
    versions = Models(resolve_settings(home=tmp_path)).list_versions("tumours")
    assert [v.version for v in versions] == [1, 2]


def test_background_server_serves_over_real_http_and_stops_cleanly(
    forest_folder: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    from cycleml.serving import BatchingOptions, ServerOptions, background_server, model_app

    x, _ = cancer
    options = ServerOptions(batching=BatchingOptions(predict_process=False))
    with background_server(model_app(str(forest_folder), options=options)) as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/ping").status_code == 200
        answer = httpx.post(f"{url}/invocations", json={"inputs": x.head(3).to_dict("records")})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 3
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/ping")


def test_the_predict_process_imports_no_tracking_store_or_web_stack(forest_folder: Path) -> None:
    """What a predict process pays for: loading a verified local folder, nothing else."""
    script = (
        "import sys\n"
        "from cycleml.serving._worker import _load, _ready\n"
        f"_load({str(forest_folder)!r}, None)\n"
        "_ready()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'pydantic', "
        "'fastapi', 'alembic', 'uvicorn'}))\n"
        "print(sorted(m for m in sys.modules if m in ('cycleml.tracking', 'cycleml.store', "
        "'cycleml.registry', 'cycleml.spec')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.splitlines() == ["[]", "[]"], done.stdout
