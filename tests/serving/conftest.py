"""Fixtures for the model-server tests: real models on scikit-learn's bundled data (the root
``cancer``), and ``cycleml serve`` running them on loopback."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from cycleml.models import PythonModel, PythonModelContext, save_model


@pytest.fixture(scope="session")
def forest(cancer: tuple[pd.DataFrame, pd.Series]) -> RandomForestClassifier:
    x, y = cancer
    return RandomForestClassifier(n_estimators=20, random_state=0).fit(x, y)


@pytest.fixture(scope="session")
def forest_folder(
    tmp_path_factory: pytest.TempPathFactory,
    forest: RandomForestClassifier,
    cancer: tuple[pd.DataFrame, pd.Series],
) -> Path:
    x, _ = cancer
    return save_model(forest, tmp_path_factory.mktemp("models") / "forest", input_example=x.head())


@pytest.fixture(scope="session")
def logistic_folder(
    tmp_path_factory: pytest.TempPathFactory, cancer: tuple[pd.DataFrame, pd.Series]
) -> Path:
    x, y = cancer
    model = LogisticRegression(max_iter=5000).fit(x, y)
    return save_model(model, tmp_path_factory.mktemp("models") / "logistic",
                      input_example=x.head())  # fmt: skip


class Exploding(PythonModel):
    """Predicts ``mean radius * 2`` and raises on a negative radius (a model bug)."""

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame) -> object:
        if (model_input["mean radius"] < 0).any():
            raise RuntimeError("negative radius breaks this model")
        return (model_input["mean radius"] * 2).to_numpy()


@pytest.fixture(scope="session")
def exploding_folder(
    tmp_path_factory: pytest.TempPathFactory, cancer: tuple[pd.DataFrame, pd.Series]
) -> Path:
    x, _ = cancer
    return save_model(Exploding(), tmp_path_factory.mktemp("models") / "exploding",
                      input_example=x.head())  # fmt: skip


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: ``cycleml`` as a subprocess, with this interpreter.
CLI = [sys.executable, "-m", "cycleml.cli"]


@contextmanager
def served(
    args: list[str], home: Path, *, env: dict[str, str] | None = None, route: str = "/ping"
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``cycleml serve ARGS`` on a free loopback port until the block ends.

    Yields the URL and the process once ``GET route`` answers 200 (``/ping``, as MLflow's
    ``wait_server_ready`` polls); stops it with SIGTERM at the end unless the block did.
    """
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "--home", str(home), "serve", *args, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read().decode() if process.stderr else "")
            try:
                if httpx.get(f"{url}{route}", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise


@contextmanager
def _cli_server(args: list[str], home: Path) -> Iterator[str]:
    with served(args, home) as (url, _):
        yield url


@pytest.fixture(scope="session")
def cli_server() -> Callable[[list[str], Path], AbstractContextManager[str]]:
    """Start ``cycleml serve ARGS`` (``with cli_server(args, home) as url:``)."""
    return _cli_server


@pytest.fixture(scope="module")
def forest_server(forest_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The forest behind ``cycleml serve`` on loopback, shared by a test module."""
    with _cli_server([str(forest_folder)], tmp_path_factory.mktemp("home")) as url:
        yield url


@pytest.fixture(scope="session")
def grades_folder(
    tmp_path_factory: pytest.TempPathFactory, cancer: tuple[pd.DataFrame, pd.Series]
) -> Path:
    """A pipeline with a text input (``grade``) whose classes are text too."""
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    x, y = cancer
    frame = pd.DataFrame({
        "grade": np.where(x["mean radius"] > 15, "high", "low").astype(object),
        "size": x["mean area"].to_numpy(),
    })  # fmt: skip
    labels = np.where(y == 1, "benign", "malignant")
    encode = make_column_transformer((OneHotEncoder(), ["grade"]), remainder="passthrough")
    model = make_pipeline(encode, LogisticRegression(max_iter=5000)).fit(frame, labels)
    return save_model(model, tmp_path_factory.mktemp("models") / "grades",
                      input_example=frame.head())  # fmt: skip
