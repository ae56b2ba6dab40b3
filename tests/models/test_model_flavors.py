"""save_model / load_model round trips for each flavor, and what model.yaml records."""

from __future__ import annotations

import concurrent.futures
import hashlib
import warnings
from importlib import metadata
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
import pytest
import xgboost
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC

import cycleml
from cycleml.errors import AlreadyExists, InvalidInput, SignatureError
from cycleml.models import (
    MODEL_FILE,
    ColumnSpec,
    Signature,
    infer_signature,
    load_model,
    read_model_file,
    save_model,
)

Data = tuple[pd.DataFrame, pd.Series]


def _pipeline(X: pd.DataFrame, y: pd.Series) -> Pipeline:
    numeric = [c for c in X.columns if c != "size"]
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["size"]),
        ]
    )
    return Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=5000))]).fit(X, y)


def _yaml(folder: Path) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((folder / MODEL_FILE).read_text())


def _no_pickles(folder: Path) -> None:
    assert not [p for p in folder.rglob("*") if p.suffix in (".pkl", ".pickle", ".joblib")]


def test_sklearn_pipeline_round_trip(cancer_with_size: Data, tmp_path: Path) -> None:
    X, y = cancer_with_size
    model = _pipeline(X, y)
    folder = save_model(model, tmp_path / "pipe", input_example=X.head(10))
    assert folder == tmp_path / "pipe"
    assert sorted(p.name for p in folder.iterdir()) == ["model.skops", "model.yaml"]
    _no_pickles(folder)

    loaded = load_model(folder)
    assert (loaded.flavor, loaded.is_classifier, loaded.classes) == ("sklearn", True, [0, 1])
    assert (loaded.name, loaded.version, loaded.path, loaded.uri) == (
        None,
        None,
        folder,
        str(folder),
    )
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    # JSON-like records work too: the signature coerces them.
    records = X.head(3).astype({"size": str}).to_dict("records")
    np.testing.assert_array_equal(loaded.predict(records), model.predict(X.head(3)))
    assert isinstance(loaded.unwrap(), Pipeline)

    signature = loaded.signature
    assert signature is not None
    assert signature.input_names == list(X.columns)
    assert signature.inputs[-1] == ColumnSpec(
        "size", "category", False, ["small", "medium", "large"]
    )
    assert signature.outputs == [ColumnSpec("prediction", "int")]


def test_model_yaml_contents(cancer_with_size: Data, tmp_path: Path) -> None:
    X, y = cancer_with_size
    folder = save_model(_pipeline(X, y), tmp_path / "pipe", input_example=X.head(150))
    meta = _yaml(folder)
    assert meta == read_model_file(folder)
    assert meta["format_version"] == 1
    assert meta["flavor"] == "sklearn"
    assert meta["serialization"] == "skops"
    assert meta["model_class"] == "sklearn.pipeline.Pipeline"
    assert meta["model_file"] == "model.skops"
    assert meta["cycleml_version"] == cycleml.__version__
    assert meta["created"].endswith("Z")
    assert meta["python_version"].count(".") == 2
    assert meta["is_classifier"] is True
    assert meta["classes"] == [0, 1]
    assert meta["input_format"] == "pandas"
    assert meta["signature"] == load_model(folder).signature.to_dict()  # type: ignore[union-attr]
    assert meta["skops_trusted_types"] == []
    # The input example: JSON-safe records, at most 100 rows.
    example = meta["input_example"]
    assert len(example) == 100
    assert example[0]["size"] in ("small", "medium", "large")
    assert example[0]["mean radius"] == pytest.approx(float(X["mean radius"].iloc[0]))
    # Requirements pinned from this environment.
    for dist in ("scikit-learn", "skops", "numpy", "pandas", "pyarrow", "cycleml"):
        assert f"{dist}=={metadata.version(dist)}" in meta["requirements"]
    # A sha256 for every other file.
    assert meta["files"] == {
        "model.skops": hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()
    }


def test_random_forest_regressor_on_numpy(diabetes: Data, tmp_path: Path) -> None:
    X, y = diabetes
    values = X.to_numpy()
    model = RandomForestRegressor(n_estimators=20, random_state=0).fit(values, y)
    folder = save_model(model, tmp_path / "rf", input_example=values[:5])
    meta = _yaml(folder)
    assert meta["input_format"] == "numpy"
    assert meta["is_classifier"] is False
    assert meta["skops_trusted_types"] == ["sklearn.tree._tree.Tree"]  # recorded at save
    loaded = load_model(folder)
    assert loaded.signature is not None
    assert loaded.signature.input_names == [str(i) for i in range(10)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X has feature names" warning from sklearn
        np.testing.assert_allclose(loaded.predict(values), model.predict(values))
        frame = pd.DataFrame(values)  # integer column names read as "0".."9"
        np.testing.assert_allclose(loaded.predict(frame), model.predict(values))
    with pytest.raises(InvalidInput, match="gives no class probabilities"):
        loaded.predict_proba(values)


def test_trusted_pickles_and_says_so(diabetes: Data, tmp_path: Path) -> None:
    X, y = diabetes
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    folder = save_model(model, tmp_path / "rf", input_example=X.head(), trusted=True)
    assert sorted(p.name for p in folder.iterdir()) == ["model.pkl", "model.yaml"]
    assert _yaml(folder)["serialization"] == "pickle"
    np.testing.assert_allclose(load_model(folder).predict(X), model.predict(X))


def test_xgboost_classifier_round_trip(cancer_with_size: Data, tmp_path: Path) -> None:
    X, y = cancer_with_size
    model = xgboost.XGBClassifier(n_estimators=20, enable_categorical=True, max_depth=3)
    model.fit(X, y)
    folder = save_model(model, tmp_path / "xgb", input_example=X.head())
    assert sorted(p.name for p in folder.iterdir()) == ["model.ubj", "model.yaml"]
    meta = _yaml(folder)
    assert meta["flavor"] == "xgboost"
    assert meta["serialization"] == "xgboost"
    assert meta["model_class"] == "xgboost.sklearn.XGBClassifier"
    assert meta["xgboost_class"] == "XGBClassifier"
    assert any(r.startswith("xgboost") for r in meta["requirements"])
    loaded = load_model(folder)
    assert loaded.is_classifier
    assert loaded.classes == [0, 1]
    assert isinstance(loaded.unwrap(), xgboost.XGBClassifier)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=1e-6)


def test_xgboost_regressor_and_booster_on_numpy(diabetes: Data, tmp_path: Path) -> None:
    X, y = diabetes
    values = X.to_numpy()
    model = xgboost.XGBRegressor(n_estimators=10).fit(values, y)
    loaded = load_model(save_model(model, tmp_path / "reg", input_example=values[:3]))
    assert loaded.metadata["input_format"] == "numpy"
    assert not loaded.is_classifier
    np.testing.assert_allclose(loaded.predict(values), model.predict(values), rtol=1e-6)

    booster = model.get_booster()
    loaded = load_model(save_model(booster, tmp_path / "booster", input_example=values[:3]))
    assert loaded.metadata["xgboost_class"] == "Booster"
    expected = booster.predict(xgboost.DMatrix(values))
    np.testing.assert_allclose(loaded.predict(values), expected, rtol=1e-6)


def test_lightgbm_classifier_keeps_labels_and_probabilities(
    cancer_with_size: Data, tmp_path: Path
) -> None:
    X, y = cancer_with_size
    labels = y.map({0: "malignant", 1: "benign"})
    model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(X, labels)
    folder = save_model(model, tmp_path / "lgbm", input_example=X.head())
    assert sorted(p.name for p in folder.iterdir()) == ["model.txt", "model.yaml"]
    meta = _yaml(folder)
    assert meta["lightgbm_class"] == "LGBMClassifier"
    assert meta["classes"] == ["benign", "malignant"]
    loaded = load_model(folder)
    assert loaded.is_classifier
    assert isinstance(loaded.unwrap(), lightgbm.Booster)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.signature is not None
    assert loaded.signature.outputs == [ColumnSpec("prediction", "string")]


def test_lightgbm_multiclass_and_regressor(diabetes: Data, tmp_path: Path) -> None:
    X, y = diabetes
    classes = pd.cut(y, 3, labels=[0, 1, 2]).astype(int)
    model = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, classes)
    loaded = load_model(save_model(model, tmp_path / "multi", input_example=X.head()))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.predict_proba(X).shape == (len(X), 3)

    regressor = lightgbm.LGBMRegressor(n_estimators=10, verbose=-1).fit(X, y)
    loaded = load_model(save_model(regressor, tmp_path / "reg", input_example=X.head()))
    assert not loaded.is_classifier
    assert loaded.classes is None
    np.testing.assert_allclose(loaded.predict(X), regressor.predict(X))
    with pytest.raises(InvalidInput, match="predict_proba is only for classifiers"):
        loaded.predict_proba(X)


def test_predict_enforces_the_signature(cancer_with_size: Data, tmp_path: Path) -> None:
    X, y = cancer_with_size
    loaded = load_model(save_model(_pipeline(X, y), tmp_path / "pipe", input_example=X.head()))
    bad = X.head(2).drop(columns=["mean radius"]).assign(size=["huge", "small"])
    with pytest.raises(SignatureError) as caught:
        loaded.predict(bad)
    errors = caught.value.details["errors"]
    assert [(e["field"], e["error"]) for e in errors] == [
        ("mean radius", "missing"),
        ("size", "category"),
    ]
    with pytest.raises(SignatureError):
        loaded.predict_proba(bad)
    # enforce=False hands the data to the model as it is.
    checked = loaded.signature.enforce(X.head(2))  # type: ignore[union-attr]
    assert loaded.predict(checked, enforce=False).tolist() == loaded.predict(X.head(2)).tolist()


def test_explicit_signature_and_no_signature(diabetes: Data, tmp_path: Path) -> None:
    X, y = diabetes
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    signature = infer_signature(X, model.predict(X))
    folder = save_model(model, tmp_path / "given", signature=signature)
    assert load_model(folder).signature == signature
    folder = save_model(model, tmp_path / "dict", signature=signature.to_dict())
    assert load_model(folder).signature == signature
    with pytest.raises(SignatureError):  # the example must fit the signature it documents
        save_model(model, tmp_path / "bad", signature=signature, input_example=X[["age"]])
    assert not (tmp_path / "bad").exists()

    with pytest.warns(UserWarning, match="without a signature"):
        folder = save_model(model, tmp_path / "none")
    loaded = load_model(folder)
    assert loaded.signature is None
    assert loaded.input_example is None
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_model(model, tmp_path / "off", signature=None)
    with pytest.raises(InvalidInput, match="Invalid signature 'auto'"):
        save_model(model, tmp_path / "x", signature="auto")


def test_extra_requirements_override_pinned_ones(diabetes: Data, tmp_path: Path) -> None:
    X, y = diabetes
    model = RandomForestRegressor(n_estimators=2).fit(X, y)
    folder = save_model(
        model, tmp_path / "m", signature=None, requirements=["numpy>=1.26", "torch==2.3"]
    )
    requirements = _yaml(folder)["requirements"]
    assert "numpy>=1.26" in requirements
    assert "torch==2.3" in requirements
    assert not any(r.startswith("numpy==") for r in requirements)


def test_refusals_leave_nothing_behind(cancer_with_size: Data, tmp_path: Path) -> None:
    X, y = cancer_with_size
    model = LogisticRegression(max_iter=10)
    with pytest.raises(InvalidInput, match="not fitted"):
        save_model(model, tmp_path / "unfitted", signature=None)
    with pytest.raises(InvalidInput, match="not fitted"):
        save_model(xgboost.XGBClassifier(), tmp_path / "unfitted", signature=None)
    with pytest.raises(InvalidInput, match="not fitted"):
        save_model(lightgbm.LGBMRegressor(), tmp_path / "unfitted", signature=None)
    with pytest.raises(InvalidInput, match=r"Cannot save a builtins\.dict"):
        save_model({"weights": [1, 2]}, tmp_path / "dict", signature=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == []

    fitted = RandomForestRegressor(n_estimators=2).fit(X.drop(columns="size"), y)
    save_model(fitted, tmp_path / "taken", signature=None)
    with pytest.raises(AlreadyExists, match="already exists"):
        save_model(fitted, tmp_path / "taken", signature=None)
    (tmp_path / "empty").mkdir()
    save_model(fitted, tmp_path / "empty", signature=None)  # an empty folder is fine
    assert (tmp_path / "empty" / MODEL_FILE).is_file()


def test_a_classifier_without_probabilities_is_not_served_as_one(
    cancer_with_size: Data, tmp_path: Path
) -> None:
    X, y = cancer_with_size
    numeric = X.drop(columns="size")
    model = LinearSVC(max_iter=100).fit(StandardScaler().fit_transform(numeric), y)
    loaded = load_model(save_model(model, tmp_path / "svc", signature=None))
    assert loaded.metadata["is_classifier"] is True
    assert loaded.is_classifier is False
    assert loaded.predict(numeric.to_numpy()).shape == (len(X),)
    with pytest.raises(InvalidInput):
        loaded.predict_proba(numeric.to_numpy())


def test_predict_is_safe_from_many_threads(cancer_with_size: Data, tmp_path: Path) -> None:
    X, y = cancer_with_size
    model = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    loaded = load_model(save_model(model, tmp_path / "lgbm", input_example=X.head()))
    expected = model.predict_proba(X)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: loaded.predict_proba(X), range(32)))
    for found in results:
        np.testing.assert_allclose(found, expected)


def test_signature_types_with_a_categorical_pipeline(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "age": [25, 32, 47, 51, 62, 23],
            "plan": pd.Categorical(["free", "pro", "pro", "free", "team", "free"]),
            "score": [0.1, 0.4, 0.35, 0.8, 0.9, 0.2],
        }
    )
    target = [0, 1, 1, 0, 1, 0]
    prep = ColumnTransformer(
        [("num", StandardScaler(), ["age", "score"]), ("cat", OneHotEncoder(), ["plan"])]
    )
    model = Pipeline([("prep", prep), ("clf", LogisticRegression())]).fit(frame, target)
    loaded = load_model(save_model(model, tmp_path / "m", input_example=frame))
    assert loaded.signature == Signature(
        [
            ColumnSpec("age", "int"),
            ColumnSpec("plan", "category", categories=["free", "pro", "team"]),
            ColumnSpec("score", "float"),
        ],
        [ColumnSpec("prediction", "int")],
    )
    # A JSON client sends strings for numbers sometimes: safe coercions apply.
    with pytest.warns(UserWarning, match=r"\['extra'\]"):
        found = loaded.predict([{"age": "40", "plan": "pro", "score": "0.5", "extra": 1}])
    assert found.shape == (1,)
