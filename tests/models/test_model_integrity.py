"""A model folder loads only if every file matches the sha256 in model.yaml."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import skops.io
import yaml
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression

from cycleml.errors import InvalidInput, ModelIntegrityError, NotFound, ValidationFailed
from cycleml.models import MODEL_FILE, load_model, save_model, verify_model_folder

Data = tuple[pd.DataFrame, pd.Series]


@pytest.fixture
def forest(diabetes: Data, tmp_path: Path) -> Path:
    X, y = diabetes
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    return save_model(model, tmp_path / "forest", input_example=X.head())


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edit_yaml(folder: Path, **changes: Any) -> None:
    meta = yaml.safe_load((folder / MODEL_FILE).read_text())
    meta.update(changes)
    (folder / MODEL_FILE).write_text(yaml.safe_dump(meta, sort_keys=False))


def test_a_changed_file_is_refused_before_anything_is_deserialized(
    forest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = _sha(forest / "model.skops")
    with open(forest / "model.skops", "ab") as handle:
        handle.write(b"\0")
    calls: list[object] = []
    monkeypatch.setattr(skops.io, "load", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(skops.io, "get_untrusted_types", lambda *a, **k: calls.append(a))
    with pytest.raises(ModelIntegrityError) as caught:
        load_model(forest)
    error = caught.value
    assert calls == []
    assert isinstance(error, ValidationFailed)
    assert error.status_code == 422
    assert error.code == "model_integrity"
    actual = _sha(forest / "model.skops")
    assert str(error) == (
        f"The model folder {str(forest)!r} does not match its model.yaml: model.skops "
        f"changed: sha256 {actual}, expected {recorded}. Nothing was loaded. Hint: Load the "
        "model from its original location, or save it again."
    )
    assert error.details["problems"] == [
        {"file": "model.skops", "problem": "changed", "expected": recorded, "actual": actual}
    ]


def test_a_missing_file_is_refused(forest: Path) -> None:
    (forest / "model.skops").unlink()
    with pytest.raises(ModelIntegrityError, match=r"model\.skops is missing \(expected sha256"):
        load_model(forest)


def test_an_unexpected_file_is_refused(forest: Path) -> None:
    (forest / "sub").mkdir()
    (forest / "sub" / "evil.py").write_text("print('hi')")
    with pytest.raises(ModelIntegrityError, match=r"sub/evil\.py is not listed in model\.yaml"):
        load_model(forest)


def test_every_problem_is_listed(forest: Path) -> None:
    (forest / "model.skops").write_bytes(b"x")
    (forest / "extra.bin").write_bytes(b"y")
    with pytest.raises(ModelIntegrityError, match=r"\(1 more problem\(s\) in details\)") as caught:
        load_model(forest)
    problems = caught.value.details["problems"]
    assert [(p["file"], p["problem"]) for p in problems] == [
        ("model.skops", "changed"),
        ("extra.bin", "unexpected"),
    ]


@pytest.mark.skipif(os.name == "nt", reason="symlinks need privileges on Windows")
def test_links_are_refused(forest: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.skops"
    (forest / "model.skops").rename(real)
    (forest / "model.skops").symlink_to(real)
    with pytest.raises(ModelIntegrityError, match=r"model\.skops is not a regular file"):
        load_model(forest)


def test_skops_types_not_recorded_at_save_are_refused(forest: Path) -> None:
    meta = yaml.safe_load((forest / MODEL_FILE).read_text())
    assert meta["skops_trusted_types"] == ["sklearn.tree._tree.Tree"]
    _edit_yaml(forest, skops_trusted_types=[])
    with pytest.raises(ModelIntegrityError, match=r"sklearn\.tree\._tree\.Tree") as caught:
        load_model(forest)
    assert caught.value.details == {
        "file": "model.skops",
        "untrusted_types": ["sklearn.tree._tree.Tree"],
    }


def test_a_swapped_model_with_new_types_is_refused(
    forest: Path, diabetes: Data, tmp_path: Path
) -> None:
    """Even with its hash updated, a file needing other types does not load."""
    X, y = diabetes
    simple = save_model(LinearRegression().fit(X, y), tmp_path / "simple", input_example=X)
    (simple / "model.skops").write_bytes((forest / "model.skops").read_bytes())
    _edit_yaml(simple, files={"model.skops": _sha(simple / "model.skops")})
    with pytest.raises(ModelIntegrityError, match="not recorded when the model was saved"):
        load_model(simple)


def test_a_changed_pickle_is_never_unpickled(
    diabetes: Data, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = diabetes
    folder = save_model(LinearRegression().fit(X, y), tmp_path / "p", signature=None, trusted=True)
    (folder / "model.pkl").write_bytes(pickle.dumps("something else"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(ModelIntegrityError, match=r"model\.pkl changed"):
        load_model(folder)


def test_folders_that_are_not_models(tmp_path: Path, forest: Path) -> None:
    with pytest.raises(NotFound, match="No model folder"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(InvalidInput, match=r"not a cycleml model folder: it has no model\.yaml"):
        load_model(tmp_path / "plain")
    _edit_yaml(forest, format_version=2)
    with pytest.raises(InvalidInput, match="this cycleml reads up to 1"):
        load_model(forest)
    _edit_yaml(forest, format_version=1, flavor="onnx")
    with pytest.raises(InvalidInput, match="unknown flavor 'onnx'"):
        load_model(forest)
    (forest / MODEL_FILE).write_text("[1, 2")
    with pytest.raises(InvalidInput, match="Cannot read"):
        load_model(forest)


def test_file_uris_and_path_objects(forest: Path) -> None:
    assert load_model(forest.as_uri()).flavor == "sklearn"
    assert load_model(str(forest)).path == forest
    verify_model_folder(forest, yaml.safe_load((forest / MODEL_FILE).read_text())["files"])
