"""``cycleml.autolog()`` logs servable model folders: register, load and serve them."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

import cycleml
import cycleml.tracking
from cycleml.errors import InvalidInput
from cycleml.models import load_model, register_model
from cycleml.serving import BatchingOptions, ServerOptions, model_app
from cycleml.settings import Settings


@pytest.fixture
def autologging(project: Settings) -> Settings:
    cycleml.autolog()
    return project


def _only_run_id() -> str:
    runs = cycleml.search_runs()
    assert isinstance(runs, list)
    assert len(runs) == 1
    return runs[0].run_id


def test_an_autologged_model_registers_loads_and_predicts(
    autologging: Settings, cancer_with_size: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = cancer_with_size
    X = X.drop(columns=["size"])
    model = LogisticRegression(max_iter=5000).fit(X, y)
    run_id = _only_run_id()
    version = register_model(f"runs:/{run_id}/model", "cancer")
    assert version.version == 1
    assert version.signature is not None  # the registry read it from model.yaml

    loaded = load_model("models:/cancer/1", settings=autologging)
    assert loaded.flavor == "sklearn"
    assert loaded.signature is not None
    assert [c.name for c in loaded.signature.inputs] == list(X.columns)
    assert [c.name for c in loaded.signature.outputs or []] == ["prediction"]
    assert loaded.input_example == X.head(5).to_dict(orient="records")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))


def test_the_signature_is_typed_from_all_training_rows(
    autologging: Settings, cancer_with_size: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = cancer_with_size
    X = X.drop(columns=["size"]).copy()
    X.loc[300, "mean radius"] = np.nan  # far past the five example rows
    HistGradientBoostingClassifier(max_iter=10).fit(X, y)
    loaded = load_model(f"runs:/{_only_run_id()}/model", settings=autologging)
    assert loaded.signature is not None
    nullable = {c.name for c in loaded.signature.inputs if c.nullable}
    assert nullable == {"mean radius"}
    # a request with a missing radius passes the signature and scores
    row = X.iloc[[300]]
    assert loaded.predict(row).shape == (1,)


def test_an_autologged_model_serves(
    autologging: Settings, cancer_with_size: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = cancer_with_size
    X = X.drop(columns=["size"])
    model = LogisticRegression(max_iter=5000).fit(X, y)
    register_model(f"runs:/{_only_run_id()}/model", "cancer")
    in_thread = ServerOptions(batching=BatchingOptions(predict_process=False))
    app = model_app("models:/cancer/1", settings=autologging, options=in_thread)
    with TestClient(app) as client:
        answer = client.post(
            "/invocations",
            json={"dataframe_split": X.head(3).to_dict(orient="split", index=False)},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == model.predict(X.head(3)).tolist()


def test_tracking_autolog_alone_warns_that_it_logs_no_model(
    project: Settings, cancer_with_size: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = cancer_with_size
    with pytest.warns(DeprecationWarning, match=r"cycleml\.autolog\(\)"):
        cycleml.tracking.autolog()
    LogisticRegression(max_iter=5000).fit(X.drop(columns=["size"]), y)
    run = cycleml.get_run(_only_run_id())
    assert "training_accuracy" in run.data.metrics
    tracker = cycleml.tracking.get_tracker()
    assert tracker.client.list_artifacts(run.run_id) == []


def test_errors_name_the_uri_the_user_gave(project: Settings) -> None:
    with cycleml.start_run() as run:
        cycleml.log_text("not a model", "notes/readme.txt")
    with pytest.raises(InvalidInput) as caught:
        load_model(f"runs:/{run.info.run_id}/notes", settings=project)
    message = caught.value.message
    assert f"runs:/{run.info.run_id}/notes" in message
    assert "cycleml-model-" not in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is left to clean up at exit
        del caught
