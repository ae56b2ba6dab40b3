"""log_model in a run, registration with the signature, and load_model from runs:/ and models:/."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cycleml
from cycleml.errors import AlreadyExists, InvalidInput, InvalidState, ModelIntegrityError, NotFound
from cycleml.models import MODEL_FILE, ModelInfo, Signature, load_model, log_model, register_model
from cycleml.registry import Models
from cycleml.settings import Settings
from cycleml.tracking import TrackingClient

Data = tuple[pd.DataFrame, pd.Series]


def _classifier(X: pd.DataFrame, y: pd.Series) -> object:
    numeric = X.drop(columns="size")
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(numeric, y)


def test_log_register_and_load_back(cancer_with_size: Data, project: Settings) -> None:
    X, y = cancer_with_size
    numeric = X.drop(columns="size")
    model = _classifier(X, y)
    with cycleml.start_run(run_name="logreg") as run:
        cycleml.log_metric("roc_auc", 0.99)
        info = log_model(
            model, "model", input_example=numeric.head(), registered_model_name="tumours"
        )
    assert isinstance(info, ModelInfo)
    assert info.model_uri == f"runs:/{run.run_id}/model"
    assert (info.run_id, info.artifact_path, info.flavor) == (run.run_id, "model", "sklearn")
    assert info.signature is not None
    assert info.signature.input_names == list(numeric.columns)
    assert info.registered_version == 1
    assert info.model_version is not None
    assert info.model_version.version == 1

    # The registry's version carries the signature (and the metric snapshot).
    registry = Models(project)
    version = registry.get_version("tumours", 1)
    assert version.signature == info.signature.to_dict()
    assert version.source == info.model_uri
    assert version.metrics["roc_auc"] == 0.99  # buffered metric flushed before registering
    files = sorted(e.path for e in TrackingClient(project).list_artifacts(run.run_id, "model"))
    assert files == ["model/model.skops", "model/model.yaml"]

    expected = model.predict(numeric)  # type: ignore[attr-defined]
    by_run = load_model(info.model_uri)
    assert (by_run.run_id, by_run.name, by_run.version) == (run.run_id, None, None)
    np.testing.assert_array_equal(by_run.predict(numeric), expected)

    by_version = load_model("models:/tumours/1")
    assert (by_version.name, by_version.version, by_version.uri) == (
        "tumours",
        1,
        "models:/tumours/1",
    )
    np.testing.assert_array_equal(by_version.predict(numeric), expected)

    registry.set_alias("tumours", 1, "champion")
    by_alias = load_model("models:/tumours@champion", settings=project)
    assert (by_alias.name, by_alias.version) == ("tumours", 1)
    np.testing.assert_allclose(
        by_alias.predict_proba(numeric),
        model.predict_proba(numeric),  # type: ignore[attr-defined]
    )

    registry.transition("tumours", 1, "Staging")
    assert load_model("models:/tumours/staging").version == 1
    assert load_model("models:/tumours/latest").version == 1


def test_each_flavor_through_the_registry(
    cancer_with_size: Data, diabetes: Data, project: Settings
) -> None:
    X, y = cancer_with_size
    Xd, yd = diabetes
    classifier = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    regressor = RandomForestRegressor(n_estimators=5, random_state=0).fit(Xd, yd)
    with cycleml.start_run():
        first = log_model(classifier, "lgbm", input_example=X.head(), registered_model_name="m")
        second = log_model(regressor, "rf", input_example=Xd.head(), registered_model_name="m")
    assert (first.registered_version, second.registered_version) == (1, 2)
    assert first.flavor == "lightgbm"
    lgbm = load_model("models:/m/1")
    np.testing.assert_array_equal(lgbm.predict(X), classifier.predict(X))
    rf = load_model("models:/m/2")
    np.testing.assert_allclose(rf.predict(Xd), regressor.predict(Xd))
    registry = Models(project)
    assert (
        registry.get_version("m", 2).signature
        == Signature.from_dict(rf.metadata["signature"]).to_dict()
    )


def test_log_model_without_registering(diabetes: Data, project: Settings) -> None:
    X, y = diabetes
    model = RandomForestRegressor(n_estimators=3).fit(X, y)
    with cycleml.start_run():
        info = log_model(model, "nested/forest", signature=None)
    assert info.model_uri.endswith("/nested/forest")
    assert info.registered_version is None
    assert info.model_version is None
    assert info.signature is None
    assert Models(project).list() == []
    assert load_model(info.model_uri).signature is None


def test_log_model_needs_an_active_run(diabetes: Data, project: Settings) -> None:
    X, y = diabetes
    model = RandomForestRegressor(n_estimators=2).fit(X, y)
    with pytest.raises(InvalidState, match="needs an active run") as caught:
        log_model(model, "model")
    assert "with cycleml.start_run():" in str(caught.value)

    def in_thread(found: list[BaseException]) -> None:
        try:
            log_model(model, "model")
        except BaseException as exc:
            found.append(exc)

    with cycleml.start_run():  # active in this thread only
        errors: list[BaseException] = []
        worker = threading.Thread(target=in_thread, args=(errors,))
        worker.start()
        worker.join()
    assert len(errors) == 1
    assert isinstance(errors[0], InvalidState)


def test_bad_input_leaves_nothing_behind(diabetes: Data, project: Settings) -> None:
    X, y = diabetes
    model = RandomForestRegressor(n_estimators=2).fit(X, y)
    with cycleml.start_run() as run:
        with pytest.raises(InvalidInput):
            log_model(model, "model", signature=None, registered_model_name="bad name")
        with pytest.raises(InvalidInput):
            log_model(model, "../escape", signature=None)
        with pytest.raises(InvalidInput):
            log_model(object(), "model", signature=None)
        assert TrackingClient(project).list_artifacts(run.run_id) == []
        log_model(model, "model", signature=None)
        with pytest.raises(AlreadyExists, match="already has files under 'model'"):
            log_model(model, "model", signature=None)
    assert Models(project).list() == []


def test_a_tampered_download_is_refused(
    diabetes: Data, project: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = diabetes
    model = RandomForestRegressor(n_estimators=2).fit(X, y)
    with cycleml.start_run():
        info = log_model(model, "model", input_example=X.head())
    # A model.yaml edited by hand is stored as a new blob: point the run's entry at it.
    folder = TrackingClient(project).download_artifacts(info.model_uri, dst_path=tmp_path / "dl")
    meta = (folder / MODEL_FILE).read_text()
    digest = next(iter(line for line in meta.splitlines() if "model.skops:" in line))
    tampered = meta.replace(digest.split(": ")[1], "0" * 64)
    client = TrackingClient(project)
    client.log_text(info.run_id, tampered, "model/model.yaml")
    with pytest.raises(ModelIntegrityError, match=r"model\.skops changed"):
        load_model(info.model_uri)


def test_unknown_uris(project: Settings) -> None:
    with pytest.raises(NotFound):
        load_model("models:/nothing/1")
    with pytest.raises(NotFound):
        load_model(f"runs:/{'0' * 32}/model")
    with pytest.raises(InvalidInput):
        load_model("models:/")


def test_register_model_takes_a_signature(diabetes: Data, project: Settings) -> None:
    X, y = diabetes
    model = RandomForestRegressor(n_estimators=2).fit(X, y)
    with cycleml.start_run():
        info = log_model(model, "model", signature=None)
    signature = Signature.from_dict(
        {"inputs": [{"name": "age", "type": "float", "nullable": False}], "outputs": None}
    )
    version = register_model(info.model_uri, "explicit", signature=signature.to_dict())
    assert version.signature == signature.to_dict()
    assert register_model(info.model_uri, "explicit").signature is None


def test_register_model_snapshots_the_run_metrics(diabetes: Data, project: Settings) -> None:
    X, y = diabetes
    model = RandomForestRegressor(n_estimators=2).fit(X, y)
    with cycleml.start_run() as run:
        cycleml.log_metric("rmse", 60.0)
        cycleml.log_metric("rmse", 55.0, step=1)
        cycleml.log_metric("r2", 0.4)
        info = log_model(model, "model", signature=None)
        version = register_model(info.model_uri, "snap", description="first", tags={"k": "v"})
        cycleml.log_metric("rmse", 1.0, step=2)  # after registering: not in the snapshot
    assert version.metrics == {"rmse": 55.0, "r2": 0.4}  # latest values, buffered ones too
    assert (version.run_id, version.description, version.tags) == (run.run_id, "first", {"k": "v"})
    models = Models(project)
    assert models.get_version("snap", 1).metrics == {"rmse": 55.0, "r2": 0.4}
    # Models.register reads no runs: it keeps the snapshot it is given, or none.
    assert models.register("snap", info.model_uri).metrics == {}
    assert models.register("snap", info.model_uri, metrics={"r2": 0.5}).metrics == {"r2": 0.5}
    with pytest.raises(NotFound):
        register_model(f"runs:/{'0' * 32}/model", "snap")
    with pytest.raises(InvalidInput, match="only runs:/"):
        register_model("models:/snap/1", "snap")


def test_a_downloaded_model_is_removed_with_the_object(diabetes: Data, project: Settings) -> None:
    X, y = diabetes
    with cycleml.start_run():
        info = log_model(RandomForestRegressor(n_estimators=2).fit(X, y), "m", signature=None)
    loaded = load_model(info.model_uri)
    folder = loaded.path
    assert (folder / MODEL_FILE).is_file()
    del loaded
    gc.collect()
    assert not folder.exists()
