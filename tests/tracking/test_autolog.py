"""scikit-learn autologging on real data (SQLite only: the backend does not matter here)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io
from sklearn import metrics as skm
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import cycleml
from cycleml.models import load_model
from cycleml.tracking import Tracker, data_digest
from cycleml.tracking._entities import Run, RunStatus

Data = tuple[np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def cancer() -> Data:
    X, y = load_breast_cancer(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def scaled(cancer: Data) -> Data:
    """The cancer data standardized (with numpy: no fit that autolog could see)."""
    X, y = cancer
    return (X - X.mean(axis=0)) / X.std(axis=0), y


@pytest.fixture(scope="module")
def diabetes() -> Data:
    X, y = load_diabetes(return_X_y=True)
    return X, y


@pytest.fixture
def autolog(sqlite_tracking: Tracker) -> Tracker:
    cycleml.autolog()
    return sqlite_tracking


def _runs(tracker: Tracker) -> list[Run]:
    return tracker.client.search_runs()


def _only_run(tracker: Tracker) -> Run:
    runs = _runs(tracker)
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return tracker.get_run(runs[0].run_id)


def _load_model(tracker: Tracker, run_id: str) -> Any:
    return load_model(f"runs:/{run_id}/model", settings=tracker.client.settings).unwrap()


def test_logistic_regression(autolog: Tracker, scaled: Data) -> None:
    X, y = scaled
    model = LogisticRegression(C=0.5, max_iter=5000)
    assert model.fit(X, y) is model  # fit still returns the estimator
    run = _only_run(autolog)
    assert run.info.status == RunStatus.FINISHED
    assert run.info.run_name == "LogisticRegression-autolog"
    assert cycleml.active_run() is None
    assert run.data.params["C"] == "0.5"
    assert run.data.params["max_iter"] == "5000"
    assert run.data.params["penalty"] in ("l2", "deprecated")
    predicted = model.predict(X)
    proba = model.predict_proba(X)
    metrics = run.data.metrics
    accuracy = skm.accuracy_score(y, predicted)
    assert metrics["training_accuracy"] == pytest.approx(accuracy, abs=1e-12)
    roc_auc = skm.roc_auc_score(y, proba[:, 1])
    assert metrics["training_roc_auc"] == pytest.approx(roc_auc, abs=1e-12)
    assert metrics["training_log_loss"] == pytest.approx(skm.log_loss(y, proba), abs=1e-12)
    assert metrics["training_f1"] == pytest.approx(
        skm.f1_score(y, predicted, average="weighted"), abs=1e-12
    )
    assert metrics["training_score"] == pytest.approx(model.score(X, y), abs=1e-12)
    assert 0.9 < metrics["training_accuracy"] <= 1.0

    tags = run.data.tags
    assert tags["cycleml.autolog.flavor"] == "sklearn"
    assert tags["cycleml.autolog.estimator"].endswith("LogisticRegression")
    assert json.loads(tags["cycleml.training_data.shape"]) == [569, 30]
    assert tags["cycleml.training_data.digest"] == data_digest(X, y)

    loaded = _load_model(autolog, run.run_id)
    assert type(loaded) is LogisticRegression
    np.testing.assert_array_equal(loaded.predict(X), predicted)
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    folder = load_model(f"runs:/{run.run_id}/model", settings=autolog.client.settings)
    assert folder.flavor == "sklearn"
    assert folder.metadata["serialization"] == "skops"
    assert folder.signature is not None
    assert [c.name for c in folder.signature.inputs] == [str(i) for i in range(30)]
    assert len(folder.metadata["input_example"]) == 5
    assert any(r.startswith("scikit-learn==") for r in folder.metadata["requirements"])


def test_random_forest(autolog: Tracker, cancer: Data) -> None:
    X, y = cancer
    model = RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0)
    model.fit(X, y)
    run = _only_run(autolog)
    assert run.data.params["n_estimators"] == "15"
    assert run.data.params["max_depth"] == "4"
    assert run.data.params["random_state"] == "0"
    assert run.data.metrics["training_accuracy"] == pytest.approx(
        skm.accuracy_score(y, model.predict(X)), abs=1e-12
    )
    assert run.data.metrics["training_roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, model.predict_proba(X)[:, 1]), abs=1e-12
    )
    loaded = _load_model(autolog, run.run_id)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_pipeline_logs_only_the_outer_fit(autolog: Tracker, cancer: Data) -> None:
    X, y = cancer
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=2.0, max_iter=1000))
    pipeline.fit(X, y)
    run = _only_run(autolog)  # the steps' fits did not log runs of their own
    assert run.info.run_name == "Pipeline-autolog"
    assert run.data.tags["cycleml.autolog.estimator"] == "sklearn.pipeline.Pipeline"
    params = run.data.params
    assert params["logisticregression__C"] == "2.0"
    assert params["logisticregression__max_iter"] == "1000"
    assert params["standardscaler__with_mean"] == "True"
    assert run.data.metrics["training_accuracy"] == pytest.approx(
        skm.accuracy_score(y, pipeline.predict(X)), abs=1e-12
    )
    loaded = _load_model(autolog, run.run_id)
    assert isinstance(loaded, Pipeline)
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    records = autolog.client.repository.db.list_audit(entity_id=run.run_id)
    batches = [r.payload for r in records if r.action == "run.log_batch"]
    batches += [r.payload["batch"] for r in records if "batch" in r.payload]
    assert sum(1 for b in batches if b["params"]) == 1  # params logged once


def test_regressor(autolog: Tracker, diabetes: Data) -> None:
    X, y = diabetes
    model = Ridge(alpha=0.3)
    model.fit(X, y)
    run = _only_run(autolog)
    predicted = model.predict(X)
    metrics = run.data.metrics
    assert metrics["training_r2"] == pytest.approx(skm.r2_score(y, predicted), abs=1e-12)
    assert metrics["training_mse"] == pytest.approx(skm.mean_squared_error(y, predicted), rel=1e-12)
    assert metrics["training_rmse"] == pytest.approx(
        np.sqrt(skm.mean_squared_error(y, predicted)), rel=1e-12
    )
    assert metrics["training_mae"] == pytest.approx(
        skm.mean_absolute_error(y, predicted), rel=1e-12
    )
    assert "training_accuracy" not in metrics
    assert run.data.params["alpha"] == "0.3"
    assert json.loads(run.data.tags["cycleml.training_data.shape"]) == [442, 10]
    np.testing.assert_allclose(_load_model(autolog, run.run_id).predict(X), predicted)


def test_unsupervised_fit_logs_without_metrics(autolog: Tracker, cancer: Data) -> None:
    X, _ = cancer
    KMeans(n_clusters=2, n_init=1, random_state=0).fit(X)
    run = _only_run(autolog)
    assert run.info.status == RunStatus.FINISHED
    assert run.data.params["n_clusters"] == "2"
    assert run.data.metrics == {}
    assert run.data.tags["cycleml.training_data.digest"] == data_digest(X, None)


def test_data_digest_tag_is_stable_and_tracks_changes(autolog: Tracker, cancer: Data) -> None:
    X, y = cancer
    changed = X.copy()
    changed[10, 3] += 1.0
    frame = load_breast_cancer(as_frame=True)
    X_df, y_s = frame.data, frame.target
    for features, target in [(X, y), (X.copy(), y.copy()), (changed, y), (X_df, y_s), (X_df, y_s)]:
        Ridge().fit(features, target)
    runs = sorted(_runs(autolog), key=lambda r: r.info.start_time)
    assert len(runs) == 5
    digests = [r.data.tags["cycleml.training_data.digest"] for r in runs]
    assert digests[0] == digests[1] == data_digest(X, y)  # same values, another object
    assert digests[2] != digests[0]  # one value changed
    assert digests[3] == digests[4] == data_digest(X_df, y_s)  # pandas input
    assert json.loads(runs[3].data.tags["cycleml.training_data.shape"]) == [569, 30]
    assert data_digest(X_df, y_s) != data_digest(X_df.rename(columns=str.upper), y_s)
    assert data_digest(X_df, y_s) != data_digest(X_df.astype("float32"), y_s)
    assert data_digest(X, y) != data_digest(X, y[::-1])
    assert len(data_digest(X, y)) == 64


def test_fit_inside_a_user_run_logs_into_it(autolog: Tracker, scaled: Data) -> None:
    X, y = scaled
    with cycleml.start_run(run_name="mine") as run:
        cycleml.log_param("note", "manual")
        LogisticRegression(max_iter=5000).fit(X, y)
        assert cycleml.active_run() is run
        assert autolog.get_run(run.run_id).info.status == RunStatus.RUNNING
    stored = _only_run(autolog)
    assert stored.run_id == run.run_id
    assert stored.info.run_name == "mine"
    assert stored.info.status == RunStatus.FINISHED
    assert stored.data.params["note"] == "manual"
    assert "training_accuracy" in stored.data.metrics
    assert [e.path for e in autolog.client.list_artifacts(run.run_id)] == [
        "model/model.skops",
        "model/model.yaml",
    ]


def test_failing_fit_marks_its_run_failed(autolog: Tracker, cancer: Data) -> None:
    X, y = cancer
    broken = X.copy()
    broken[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LogisticRegression().fit(broken, y)
    assert cycleml.active_run() is None
    run = _only_run(autolog)
    assert run.info.status == RunStatus.FAILED
    assert run.info.error is not None
    assert "ValueError" in run.info.error
    assert run.data.params["C"] == "1.0"  # params were logged before the fit
    # a failing fit inside a user run leaves ending that run to the user
    with cycleml.start_run() as user_run:
        with pytest.raises(ValueError, match="NaN"):
            LogisticRegression().fit(broken, y)
        assert cycleml.active_run() is user_run
        assert autolog.get_run(user_run.run_id).info.status == RunStatus.RUNNING
    assert autolog.get_run(user_run.run_id).info.status == RunStatus.FINISHED


def test_logging_failure_never_breaks_training(
    autolog: Tracker, scaled: Data, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = scaled

    def broken_dump(_obj: Any, _file: Any) -> None:
        raise RuntimeError("serializer exploded")

    monkeypatch.setattr(skops.io, "dump", broken_dump)
    model = LogisticRegression(max_iter=5000)
    with pytest.warns(UserWarning, match="serializer exploded"):
        model.fit(X, y)
    assert hasattr(model, "coef_")
    assert cycleml.active_run() is None  # the auto-created run was ended
    run = _only_run(autolog)
    assert run.info.status == RunStatus.FINISHED
    assert "training_accuracy" in run.data.metrics
    # the next fit works normally
    monkeypatch.undo()
    LogisticRegression(max_iter=5000).fit(X, y)
    assert len(_runs(autolog)) == 2


def test_options_turn_models_and_metrics_off(sqlite_tracking: Tracker, scaled: Data) -> None:
    X, y = scaled
    cycleml.autolog(log_models=False, log_training_metrics=False)
    LogisticRegression(max_iter=5000).fit(X, y)
    run = _only_run(sqlite_tracking)
    assert run.data.metrics == {}
    assert sqlite_tracking.client.list_artifacts(run.run_id) == []
    assert run.data.params["max_iter"] == "5000"
    assert "cycleml.training_data.digest" in run.data.tags


def test_disable_restores_original_fit(sqlite_tracking: Tracker, scaled: Data) -> None:
    X, y = scaled
    originals = {
        cls: cls.__dict__["fit"] for cls in (LogisticRegression, Pipeline, Ridge, StandardScaler)
    }
    inherited = RandomForestClassifier.fit  # defined on a base class
    cycleml.autolog()
    for cls, original in originals.items():
        assert cls.__dict__["fit"] is not original
        assert cls.__dict__["fit"].__wrapped__ is original
    assert RandomForestClassifier.fit.__wrapped__ is inherited
    cycleml.autolog()  # enabling twice does not wrap twice
    assert LogisticRegression.__dict__["fit"].__wrapped__ is originals[LogisticRegression]
    cycleml.autolog(disable=True)
    for cls, original in originals.items():
        assert cls.__dict__["fit"] is original
    assert RandomForestClassifier.fit is inherited
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LogisticRegression(max_iter=100).fit(X, y)
    assert _runs(sqlite_tracking) == []
    assert cycleml.active_run() is None


def test_reset_of_the_default_tracker_disables_autolog(
    sqlite_tracking: Tracker, cancer: Data
) -> None:
    original = Ridge.__dict__["fit"]
    cycleml.autolog()
    assert Ridge.__dict__["fit"] is not original
    cycleml.tracking._default.replace(None)
    assert Ridge.__dict__["fit"] is original


def test_data_digest_inputs() -> None:
    a = np.arange(12, dtype="float64").reshape(3, 4)
    assert data_digest(a) == data_digest(a.copy())
    assert data_digest(a) != data_digest(a.reshape(4, 3))  # shape counts
    assert data_digest(a) != data_digest(a.astype("float32"))  # dtype counts
    assert data_digest(a, None) != data_digest(a)
    frame = pd.DataFrame(a, columns=list("abcd"))
    assert data_digest(frame) == data_digest(frame.copy())
    assert data_digest(frame) != data_digest(frame.set_axis(list("abce"), axis=1))
    assert data_digest(frame["a"]) == data_digest(frame["a"].copy())
    assert data_digest(np.array(["x", None], dtype=object)) == data_digest(
        np.array(["x", None], dtype=object)
    )
    assert data_digest([[1, 2], [3, 4]]) == data_digest(np.array([[1, 2], [3, 4]]))
