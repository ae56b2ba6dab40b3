"""scikit-learn autologging: params, training metrics, the fitted model and the data's hash.

``autolog`` wraps the ``fit`` method of every scikit-learn estimator class. Only the
outermost ``fit`` logs (a Pipeline's steps do not log again). Logging never breaks the
user's training: a logging failure becomes a warning, as in MLflow.

Tracking sits below model packaging in the layers, so the fitted model is written by a
:data:`ModelLogger` that the caller passes in: ``cycleml.autolog`` (``cycleml.models``)
passes one that logs a servable model folder through ``log_model``. Without one, no model
is logged.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from cycleml.hashing import hash_chunks
from cycleml.tracking._context import TAG_PREFIX
from cycleml.tracking._entities import RunStatus
from cycleml.tracking._sql_runs import PARAM_VALUE_MAX

if TYPE_CHECKING:
    from cycleml.tracking._fluent import Tracker

__all__ = ["MODEL_DIR", "Autologger", "ModelLogger", "data_digest"]

#: Where autolog puts the fitted model within the run (``runs:/<run_id>/model``).
MODEL_DIR = "model"

#: ``(tracker, estimator, X, y, artifact_path)``: logs a fitted model into the tracker's
#: active run.
ModelLogger = Callable[["Tracker", Any, Any, Any, str], None]


def data_digest(*arrays: Any) -> str:
    """BLAKE3 digest of arrays / DataFrames / Series: values, dtypes, shapes and column names."""

    def chunks() -> Any:
        for array in arrays:
            if array is None:
                yield b"<none>"
                continue
            if hasattr(array, "columns") and hasattr(array, "dtypes"):  # pandas DataFrame
                import pandas as pd

                yield json.dumps([str(c) for c in array.columns]).encode()
                yield json.dumps([str(t) for t in array.dtypes]).encode()
                yield pd.util.hash_pandas_object(array, index=False).to_numpy().tobytes()
                continue
            if hasattr(array, "dtype") and hasattr(array, "name") and hasattr(array, "index"):
                import pandas as pd  # pandas Series

                yield str(array.dtype).encode()
                yield pd.util.hash_pandas_object(array, index=False).to_numpy().tobytes()
                continue
            if hasattr(array, "toarray") and hasattr(array, "nnz"):  # scipy sparse
                array = array.toarray()
            values = np.ascontiguousarray(np.asarray(array))
            yield f"{values.dtype.str}:{values.shape}".encode()
            if values.dtype == object:
                yield json.dumps(values.tolist(), default=str).encode()
            else:
                yield values.tobytes()

    return hash_chunks(chunks())


def _qualified_name(estimator: Any) -> str:
    return f"{type(estimator).__module__}.{type(estimator).__qualname__}"


def _shape(array: Any) -> list[int]:
    shape = getattr(array, "shape", None)
    if shape is None:
        return [len(array)]
    return [int(n) for n in shape]


def _training_metrics(estimator: Any, X: Any, y: Any) -> dict[str, float]:
    from sklearn import metrics as skm
    from sklearn.base import is_classifier, is_regressor

    found: dict[str, float] = {}
    if y is None:
        return found
    if is_classifier(estimator):
        predicted = estimator.predict(X)
        found["training_accuracy"] = float(skm.accuracy_score(y, predicted))
        found["training_precision"] = float(
            skm.precision_score(y, predicted, average="weighted", zero_division=0)
        )
        found["training_recall"] = float(
            skm.recall_score(y, predicted, average="weighted", zero_division=0)
        )
        found["training_f1"] = float(
            skm.f1_score(y, predicted, average="weighted", zero_division=0)
        )
        if hasattr(estimator, "predict_proba"):
            try:
                proba = estimator.predict_proba(X)
                found["training_log_loss"] = float(
                    skm.log_loss(y, proba, labels=estimator.classes_)
                )
                if proba.shape[1] == 2:
                    found["training_roc_auc"] = float(skm.roc_auc_score(y, proba[:, 1]))
                else:
                    found["training_roc_auc"] = float(
                        skm.roc_auc_score(y, proba, multi_class="ovr", labels=estimator.classes_)
                    )
            except (ValueError, AttributeError):
                pass  # e.g. a single class in y, or probability=False on SVC
    elif is_regressor(estimator):
        predicted = estimator.predict(X)
        mse = float(skm.mean_squared_error(y, predicted))
        found["training_mae"] = float(skm.mean_absolute_error(y, predicted))
        found["training_mse"] = mse
        found["training_rmse"] = float(np.sqrt(mse))
        found["training_r2"] = float(skm.r2_score(y, predicted))
    with contextlib.suppress(Exception):  # not every estimator scores against y
        found["training_score"] = float(estimator.score(X, y))
    return found


def _params(estimator: Any) -> dict[str, str]:
    params = {}
    for key, value in estimator.get_params(deep=True).items():
        text = str(value)
        if len(text) > PARAM_VALUE_MAX:
            text = text[: PARAM_VALUE_MAX - 3] + "..."
        params[key] = text
    return params


class Autologger:
    """Patches and unpatches scikit-learn ``fit`` methods for one tracker."""

    def __init__(self, tracker: Tracker, model_logger: ModelLogger | None = None) -> None:
        self._tracker = tracker
        self.model_logger = model_logger
        self._originals: dict[type, Callable[..., Any]] = {}
        self._local = threading.local()
        self.log_models = True
        self.log_training_metrics = True

    @property
    def enabled(self) -> bool:
        """Whether ``fit`` methods are currently patched."""
        return bool(self._originals)

    def enable(self, *, log_models: bool = True, log_training_metrics: bool = True) -> None:
        """Patch every scikit-learn estimator class's ``fit``."""
        from sklearn.utils import all_estimators

        self.log_models = log_models
        self.log_training_metrics = log_training_metrics
        if self._originals:
            return
        classes = {cls for _, cls in all_estimators()}
        from sklearn.pipeline import Pipeline

        classes.add(Pipeline)
        # Patch the class that defines ``fit`` (often a private base such as
        # BaseGradientBoosting), so inherited fits are wrapped too.
        owners: set[type[Any]] = set()
        # Target encoders are fitted inside scikit-learn's own metric functions; logging
        # them would turn every metric computation into a "model".
        skipped = {"LabelEncoder", "LabelBinarizer", "MultiLabelBinarizer"}
        for cls in classes:
            if cls.__name__ in skipped:
                continue
            owner = next((c for c in cls.__mro__ if "fit" in c.__dict__), None)
            if owner is not None and owner.__module__.startswith("sklearn"):
                owners.add(owner)
        for owner in owners:
            original = owner.__dict__["fit"]
            if not callable(original):
                continue
            self._originals[owner] = original
            owner.fit = self._wrap(original)

    def disable(self) -> None:
        """Restore the original ``fit`` methods."""
        for cls, original in self._originals.items():
            cls.fit = original  # type: ignore[attr-defined]
        self._originals.clear()

    def _wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        autologger = self

        @functools.wraps(original)
        def fit(estimator: Any, *args: Any, **kwargs: Any) -> Any:
            depth = getattr(autologger._local, "depth", 0)
            if depth > 0:
                return original(estimator, *args, **kwargs)
            autologger._local.depth = depth + 1
            try:
                return autologger._fit_and_log(original, estimator, args, kwargs)
            finally:
                autologger._local.depth = depth

        return fit

    def _fit_and_log(
        self,
        original: Callable[..., Any],
        estimator: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        tracker = self._tracker
        started = False
        if tracker.active_run() is None:
            tracker.start_run(run_name=f"{type(estimator).__name__}-autolog")
            started = True
        run = tracker.active_run()
        assert run is not None
        self._safely(lambda: tracker.log_params(_params(estimator)))
        try:
            result = original(estimator, *args, **kwargs)
        except BaseException as exc:
            if started:
                status = (
                    RunStatus.KILLED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
                )
                tracker.end_run(status.value, run_id=run.run_id, error=repr(exc))
            raise
        X = args[0] if args else kwargs.get("X")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        self._safely(lambda: self._log_after_fit(estimator, X, y))
        if started:
            tracker.end_run(RunStatus.FINISHED.value, run_id=run.run_id)
        return result

    def _log_after_fit(self, estimator: Any, X: Any, y: Any) -> None:
        tracker = self._tracker
        digest = data_digest(X, y)
        shape = _shape(X) if X is not None else []
        tracker.set_tags(
            {
                f"{TAG_PREFIX}autolog.flavor": "sklearn",
                f"{TAG_PREFIX}autolog.estimator": _qualified_name(estimator),
                f"{TAG_PREFIX}training_data.shape": json.dumps(shape),
                f"{TAG_PREFIX}training_data.digest": digest,
            }
        )
        if self.log_training_metrics:
            found = _training_metrics(estimator, X, y)
            if found:
                tracker.log_metrics(found)
        if self.log_models and self.model_logger is not None:
            self.model_logger(tracker, estimator, X, y, MODEL_DIR)

    @staticmethod
    def _safely(action: Callable[[], Any]) -> None:
        try:
            action()
        except Exception as exc:  # any logging failure, e.g. a model skops cannot dump
            warnings.warn(f"cycleml autolog could not log: {exc}", stacklevel=4)
