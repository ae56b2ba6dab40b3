"""Fuzz the model server against its own OpenAPI document: no generated request gets a 500."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from cycleml.serving import BatchingOptions, ServerOptions, model_app
from cycleml.settings import resolve_settings

# Built at import, because schemathesis reads the schema at collection (its fixture-based
# loader, schemathesis.pytest.from_fixture, fails on pytest 9: it reads Function._nodeid).
# Every pytest-xdist worker collects this module, and only one runs it, so each process
# builds its model in a temporary folder of its own, outside the source tree, and removes it
# when it exits, whether or not it ran the test.
_SCRATCH = Path(tempfile.mkdtemp(prefix="cycleml-fuzz-"))
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)
_FOLDER = _SCRATCH / "model"


def _app() -> object:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from cycleml.models import save_model

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x = x.iloc[:, :5]
    x["grade"] = pd.Categorical(["low", "high"] * (len(x) // 2) + ["low"] * (len(x) % 2))
    model = LogisticRegression(max_iter=2000).fit(x.drop(columns="grade"), y)
    save_model(model, _FOLDER, input_example=x.drop(columns="grade").head())
    # schemathesis runs the app's lifespan once per operation: the batcher must restart.
    batching = BatchingOptions(predict_process=False)
    options = ServerOptions(batching=batching, max_body_bytes=65536)
    return model_app(str(_FOLDER), settings=resolve_settings(home=_SCRATCH / "home"),
                     options=options)  # fmt: skip


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, case.body, response.text)
    if response.status_code >= 400 and case.path != "/metrics":
        body = response.json()
        if case.path in ("/invocations", "/ping", "/version"):  # MLflow's error keys
            assert set(body) == {"error_code", "message", "hint", "details"}
        elif case.path.startswith("/v2"):  # the inference protocol's: one message
            assert set(body) == {"error"}
            assert isinstance(body["error"], str)
        else:
            assert set(body["error"]) == {"code", "message", "hint", "details"}
