"""The python flavor: PythonModel subclasses with artifacts and shipped code, never pickled
unless trusted."""

from __future__ import annotations

import hashlib
import json
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from cycleml.errors import InvalidInput
from cycleml.models import (
    MODEL_FILE,
    ColumnSpec,
    PythonModel,
    PythonModelContext,
    load_model,
    save_model,
)

SOURCE = '''
import json

import numpy as np

from cycleml.models import PythonModel


class KeywordScorer(PythonModel):
    """Scores rows with weights read from an artifact file."""

    classes = [0, 1]

    def __init__(self, threshold=0.5):
        self.threshold = threshold
        self.weights = None
        self.loaded_from = None

    def load_context(self, context):
        with open(context.artifacts["weights"]) as handle:
            self.weights = json.load(handle)
        self.loaded_from = context.model_path

    def _score(self, frame):
        total = sum(frame[name] * weight for name, weight in self.weights.items())
        return 1 / (1 + np.exp(-total.to_numpy()))

    def predict(self, context, model_input):
        return (self._score(model_input) > self.threshold).astype(int)

    def predict_proba(self, context, model_input):
        p = self._score(model_input)
        return np.column_stack([1 - p, p])
'''


class Doubler(PythonModel):
    """Importable from this test module; needs a constructor argument."""

    def __init__(self, factor: int) -> None:
        self.factor = factor
        self.offsets = np.zeros(1)

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame) -> Any:
        return model_input["x"].to_numpy() * self.factor


class Holder(PythonModel):
    """Keeps an attribute that is not plain data."""

    def __init__(self) -> None:
        self.table = {"weights": np.zeros(3)}

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame) -> Any:
        return np.zeros(len(model_input))


@pytest.fixture
def scorer_module(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A module file with a PythonModel subclass, imported under a unique name."""
    name = f"scorer_{uuid.uuid4().hex[:8]}"
    source = tmp_path / "src" / f"{name}.py"
    source.parent.mkdir()
    source.write_text(textwrap.dedent(SOURCE))
    sys.path.insert(0, str(source.parent))
    try:
        yield name, source
    finally:
        sys.modules.pop(name, None)
        sys.path[:] = [p for p in sys.path if not p.startswith(str(tmp_path))]


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"a": 2.0, "b": -1.0}))
    return path


def _scorer(name: str, threshold: float) -> PythonModel:
    module = __import__(name)
    model: PythonModel = module.KeywordScorer(threshold=threshold)
    return model


def test_round_trip_with_artifacts_and_shipped_code(
    scorer_module: tuple[str, Path], weights: Path, tmp_path: Path
) -> None:
    name, source = scorer_module
    example = pd.DataFrame({"a": [0.5, -1.0, 2.0], "b": [0.1, 0.3, 0.2]})
    folder = save_model(
        _scorer(name, threshold=0.7),
        tmp_path / "scorer",
        input_example=example,
        artifacts={"weights": weights},
        code_paths=[source],
    )
    meta = yaml.safe_load((folder / MODEL_FILE).read_text())
    assert meta["flavor"] == "python"
    assert meta["serialization"] == "python_class"
    assert meta["model_class"] == f"{name}:KeywordScorer"
    assert meta["artifacts"] == {"weights": "artifacts/weights/weights.json"}
    assert meta["code_paths"] == [f"code/{name}.py"]
    assert sorted(meta["files"]) == [
        "artifacts/weights/weights.json",
        f"code/{name}.py",
        "python_model.json",
    ]
    assert not list(folder.rglob("*.pkl"))
    stored = json.loads((folder / "python_model.json").read_text())
    assert stored == {
        "class": f"{name}:KeywordScorer",
        "state": {"threshold": 0.7, "weights": None, "loaded_from": None},
    }
    assert meta["is_classifier"] is True
    assert meta["classes"] == [0, 1]
    # The outputs were inferred by loading the saved folder and predicting the example.
    assert meta["signature"]["outputs"] == [ColumnSpec("prediction", "int").to_dict()]

    # Forget the module and its source: loading must use the copy under code/.
    sys.modules.pop(name)
    sys.path.remove(str(source.parent))
    source.unlink()
    weights.unlink()
    loaded = load_model(folder)
    model = loaded.unwrap()
    assert model.threshold == 0.7
    assert model.weights == {"a": 2.0, "b": -1.0}
    assert model.loaded_from == str(folder)
    assert str(folder / "code") in sys.path
    assert loaded.is_classifier
    assert loaded.classes == [0, 1]
    records = [{"a": 0.5, "b": 0.1}, {"a": "-1", "b": 0.3}]  # a numeric string is coerced
    assert loaded.predict(records).tolist() == [1, 0]
    proba = loaded.predict_proba(records)
    assert proba.shape == (2, 2)
    assert np.allclose(proba.sum(axis=1), 1)
    assert not list(folder.rglob("__pycache__"))  # no bytecode written into the folder
    assert load_model(folder).predict(example).tolist() == [1, 0, 1]  # loads again


def test_artifact_folders_and_names(
    scorer_module: tuple[str, Path], weights: Path, tmp_path: Path
) -> None:
    name, _ = scorer_module
    extra = tmp_path / "vocab"
    (extra / "nested").mkdir(parents=True)
    (extra / "nested" / "words.txt").write_text("a b c")
    folder = save_model(
        _scorer(name, 0.5),
        tmp_path / "m",
        signature=None,
        artifacts={"weights": weights, "vocab": extra},
    )
    meta = yaml.safe_load((folder / MODEL_FILE).read_text())
    assert meta["artifacts"]["vocab"] == "artifacts/vocab/vocab"
    assert "artifacts/vocab/vocab/nested/words.txt" in meta["files"]
    for bad in ("a/b", "..", ""):
        with pytest.raises(InvalidInput):
            save_model(_scorer(name, 0.5), tmp_path / "x", artifacts={bad: weights})
    with pytest.raises(InvalidInput, match="no such file or folder"):
        save_model(_scorer(name, 0.5), tmp_path / "x", artifacts={"w": tmp_path / "nope"})
    assert not (tmp_path / "x").exists()


def test_state_must_be_plain_data(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"Holder.table\['weights'\] \(ndarray\)") as caught:
        save_model(Holder(), tmp_path / "h", signature=None)
    assert "artifacts=" in str(caught.value)
    assert "trusted=True" in str(caught.value)
    with pytest.raises(InvalidInput, match="constructor needs arguments"):
        save_model(Doubler(3), tmp_path / "d", signature=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_classes_no_other_process_can_import_are_refused(tmp_path: Path) -> None:
    class Local(PythonModel):
        def predict(self, context: PythonModelContext, model_input: pd.DataFrame) -> Any:
            return model_input

    with pytest.raises(InvalidInput, match="inside a function"):
        save_model(Local(), tmp_path / "local", signature=None)
    Main = type("Main", (PythonModel,), {"__module__": "__main__"})
    with pytest.raises(InvalidInput, match="defined in __main__") as caught:
        save_model(Main(), tmp_path / "main", signature=None)
    assert "code_paths=" in str(caught.value)
    Ghost = type("Ghost", (PythonModel,), {"__module__": "not_a_module_anywhere"})
    with pytest.raises(InvalidInput, match="cannot be imported"):
        save_model(Ghost(), tmp_path / "ghost", signature=None)


def test_trusted_pickles_the_instance(tmp_path: Path) -> None:
    unpicklable = Doubler(3)
    unpicklable.lock = threading.Lock()  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput, match="Cannot pickle the Doubler"):
        save_model(unpicklable, tmp_path / "lock", signature=None, trusted=True)
    assert not (tmp_path / "lock").exists()
    folder = save_model(Doubler(3), tmp_path / "d", input_example={"x": [1, 2]}, trusted=True)
    meta = yaml.safe_load((folder / MODEL_FILE).read_text())
    assert meta["serialization"] == "pickle"
    assert "python_model.pkl" in meta["files"]
    loaded = load_model(folder)
    assert loaded.predict({"x": [1, 2]}).tolist() == [3, 6]
    assert not loaded.is_classifier


def test_only_python_model_subclasses_are_built(tmp_path: Path) -> None:
    folder = save_model(Holder.__new__(Holder), tmp_path / "h", signature=None)
    payload = {"class": "subprocess:Popen", "state": {}}
    path = folder / "python_model.json"
    path.write_text(json.dumps(payload))
    meta = yaml.safe_load((folder / MODEL_FILE).read_text())
    meta["files"]["python_model.json"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / MODEL_FILE).write_text(yaml.safe_dump(meta))
    with pytest.raises(InvalidInput, match="'subprocess:Popen' is not a PythonModel subclass"):
        load_model(folder)


def test_base_class_defaults() -> None:
    model = PythonModel()
    assert model.load_context(PythonModelContext()) is None  # type: ignore[func-returns-value]
    with pytest.raises(NotImplementedError, match="must implement predict"):
        model.predict(PythonModelContext(), pd.DataFrame())
