"""Flavors: how each kind of model is written to, and read back from, a model folder.

=========  ==========================================  ======================================
flavor     file                                        read back as
=========  ==========================================  ======================================
sklearn    ``model.skops`` (``model.pkl`` if trusted)   the estimator; skops trusts exactly the
                                                       types recorded when it was saved
xgboost    ``model.ubj`` (XGBoost's own format)         the same XGBoost class (allow-listed)
lightgbm   ``model.txt`` (LightGBM's own format)        a ``lightgbm.Booster``; classifiers
                                                       keep labels and probabilities
python     ``python_model.json`` (``.pkl`` if trusted)  see :mod:`cycleml.models._python`
=========  ==========================================  ======================================

xgboost and lightgbm are optional: they are imported only when such a model is saved or
loaded.
"""

from __future__ import annotations

import importlib
import pickle
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cycleml.errors import InvalidInput, ModelIntegrityError
from cycleml.models._python import (
    PythonModel,
    dump_pickle,
    load_python_model,
    save_python_model,
)

__all__ = [
    "FLAVORS",
    "Predictor",
    "detect_flavor",
    "flavor_packages",
    "live_predictor",
    "load_flavor",
    "save_flavor",
]

#: Every flavor cycleml can save and load.
FLAVORS = ("sklearn", "xgboost", "lightgbm", "python")

_XGBOOST_CLASSES = ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier",
                    "XGBRFRegressor", "Booster")  # fmt: skip
_LIGHTGBM_CLASSES = ("LGBMClassifier", "LGBMRegressor", "LGBMRanker", "Booster")


class Predictor:
    """A loaded (or live) model behind one ``predict`` / ``predict_proba`` interface.

    Args:
        native: The library's model object.
        predict: Predicts for model input in the flavor's input format.
        predict_proba: Class probabilities, or ``None`` when the model has none.
        serialize: Serialize calls with a lock (for libraries whose predict is not
            documented as thread-safe).
    """

    def __init__(
        self,
        native: Any,
        predict: Callable[[Any], Any],
        predict_proba: Callable[[Any], Any] | None = None,
        *,
        serialize: bool = False,
    ) -> None:
        self.native = native
        self._predict = predict
        self._predict_proba = predict_proba
        self._lock = threading.Lock() if serialize else None

    @property
    def has_proba(self) -> bool:
        """Whether the model gives class probabilities."""
        return self._predict_proba is not None

    def _call(self, method: Callable[[Any], Any], data: Any) -> Any:
        if self._lock is None:
            return method(data)
        with self._lock:
            return method(data)

    def predict(self, data: Any) -> Any:
        """The model's predictions."""
        return self._call(self._predict, data)

    def predict_proba(self, data: Any) -> Any:
        """The model's class probabilities."""
        if self._predict_proba is None:
            raise InvalidInput("This model gives no class probabilities.")
        return self._call(self._predict_proba, data)


def _module(model: Any) -> str:
    return type(model).__module__.split(".")[0]


def detect_flavor(model: Any) -> str:
    """The flavor that can save ``model``.

    Raises:
        InvalidInput: No flavor knows the object.
    """
    if isinstance(model, PythonModel):
        return "python"
    root = {_module(model), *(c.__module__.split(".")[0] for c in type(model).__mro__)}
    if "xgboost" in root:
        return "xgboost"
    if "lightgbm" in root:
        return "lightgbm"
    from sklearn.base import BaseEstimator

    if isinstance(model, BaseEstimator):
        return "sklearn"
    raise InvalidInput(
        f"Cannot save a {type(model).__module__}.{type(model).__qualname__}: cycleml saves "
        "scikit-learn estimators and pipelines, XGBoost and LightGBM models, and "
        "PythonModel subclasses.",
        hint="Wrap the object in a cycleml.models.PythonModel subclass.",
    )


def flavor_packages(flavor: str, model_class: str) -> list[str]:
    """Top-level modules the flavor needs at load time (pinned in ``requirements``)."""
    sklearn_api = not model_class.endswith(".Booster")
    if flavor == "sklearn":
        return ["sklearn", "skops"]
    if flavor == "xgboost":
        return ["xgboost", *(["sklearn"] if sklearn_api else [])]
    if flavor == "lightgbm":
        return ["lightgbm", *(["sklearn"] if sklearn_api else [])]
    module = model_class.partition(":")[0].split(".")[0]
    return [module] if module else []


def _qualified(model: Any) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def _classes(model: Any) -> list[Any] | None:
    classes = getattr(model, "classes_", None)
    return None if classes is None else list(np.asarray(classes).tolist())


def _not_fitted(model: Any, exc: Exception) -> InvalidInput:
    return InvalidInput(
        f"Cannot save the {type(model).__name__}: it is not fitted ({exc}).",
        hint="Call fit() before saving the model.",
    )


# ---- saving ------------------------------------------------------------------------------
def save_flavor(flavor: str, model: Any, folder: Path, *, trusted: bool) -> dict[str, Any]:
    """Write the model's files into ``folder``; return the flavor's ``model.yaml`` fields.

    The fields always include ``serialization``, ``model_class``, ``model_file``,
    ``is_classifier``, ``classes`` and ``input_format`` (``pandas`` or ``numpy``: what the
    model was fitted on, so prediction hands it the same).
    """
    if flavor == "python":
        return save_python_model(model, folder, trusted=trusted)
    savers = {"sklearn": _save_sklearn, "xgboost": _save_xgboost, "lightgbm": _save_lightgbm}
    return savers[flavor](model, folder, trusted)


def _save_sklearn(model: Any, folder: Path, trusted: bool) -> dict[str, Any]:
    from sklearn.base import is_classifier
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError as exc:
        raise _not_fitted(model, exc) from exc
    except TypeError:  # not an estimator check_is_fitted understands; save it anyway
        pass
    found: dict[str, Any] = {
        "model_class": _qualified(model),
        "is_classifier": bool(is_classifier(model)),
        "classes": _classes(model),
        "input_format": "pandas" if hasattr(model, "feature_names_in_") else "numpy",
    }
    if trusted:
        dump_pickle(model, folder / "model.pkl")
        return {**found, "serialization": "pickle", "model_file": "model.pkl"}
    import skops.io

    path = folder / "model.skops"
    try:
        skops.io.dump(model, path)
    except Exception as exc:  # skops refuses some objects (e.g. lambdas)
        raise InvalidInput(
            f"skops cannot save the {type(model).__name__}: {exc}",
            hint="Pass trusted=True to pickle it instead (only load pickles you trust).",
        ) from exc
    untrusted = sorted(skops.io.get_untrusted_types(file=path))
    return {
        **found,
        "serialization": "skops",
        "model_file": "model.skops",
        "skops_trusted_types": untrusted,
    }


def _allowed_class(model: Any, allowed: tuple[str, ...], library: str) -> str:
    for cls in type(model).__mro__:
        if cls.__module__.split(".")[0] == library and cls.__name__ in allowed:
            return cls.__name__
    raise InvalidInput(
        f"Cannot save a {_qualified(model)}: cycleml saves the {library} classes "
        f"{', '.join(allowed)}.",
        hint="Wrap the object in a cycleml.models.PythonModel subclass.",
    )


def _save_xgboost(model: Any, folder: Path, trusted: bool) -> dict[str, Any]:
    import xgboost

    base = _allowed_class(model, _XGBOOST_CLASSES, "xgboost")
    try:
        booster = model if base == "Booster" else model.get_booster()
    except Exception as exc:  # sklearn's NotFittedError or XGBoostError
        raise _not_fitted(model, exc) from exc
    model.save_model(str(folder / "model.ubj"))
    return {
        "model_class": _qualified(model),
        "xgboost_class": base,
        "serialization": "xgboost",
        "model_file": "model.ubj",
        "is_classifier": isinstance(model, xgboost.XGBClassifier),
        "classes": _classes(model) if isinstance(model, xgboost.XGBClassifier) else None,
        "input_format": "pandas" if booster.feature_names is not None else "numpy",
    }


def _save_lightgbm(model: Any, folder: Path, trusted: bool) -> dict[str, Any]:
    import lightgbm

    base = _allowed_class(model, _LIGHTGBM_CLASSES, "lightgbm")
    try:
        booster = model if base == "Booster" else model.booster_
    except Exception as exc:  # sklearn's NotFittedError or LightGBMError
        raise _not_fitted(model, exc) from exc
    booster.save_model(str(folder / "model.txt"))
    classifier = isinstance(model, lightgbm.LGBMClassifier)
    return {
        "model_class": _qualified(model),
        "lightgbm_class": base,
        "serialization": "lightgbm",
        "model_file": "model.txt",
        "is_classifier": classifier,
        "classes": _classes(model) if classifier else None,
        "input_format": "pandas",
    }


# ---- loading -----------------------------------------------------------------------------
def load_flavor(folder: Path, metadata: Mapping[str, Any]) -> Predictor:
    """Read the model in a verified folder back."""
    flavor = metadata.get("flavor")
    loaders: dict[str, Callable[[Path, Mapping[str, Any]], Predictor]] = {
        "sklearn": _load_sklearn,
        "xgboost": _load_xgboost,
        "lightgbm": _load_lightgbm,
        "python": _load_python,
    }
    if flavor not in loaders:
        raise InvalidInput(
            f"Unknown model flavor {flavor!r} in model.yaml: expected one of {', '.join(FLAVORS)}."
        )
    return loaders[str(flavor)](folder, metadata)


def live_predictor(flavor: str, model: Any, metadata: Mapping[str, Any]) -> Predictor:
    """A predictor around an in-memory model (used to infer the output schema at save)."""
    if flavor == "sklearn":
        return _sklearn_predictor(model)
    if flavor == "xgboost":
        return _xgboost_predictor(model, str(metadata.get("xgboost_class")))
    if flavor == "lightgbm":
        booster = model if metadata.get("lightgbm_class") == "Booster" else model.booster_
        return _lightgbm_predictor(booster, metadata)
    raise InvalidInput(f"No live predictor for the {flavor} flavor.")


def _sklearn_predictor(model: Any) -> Predictor:
    proba = getattr(model, "predict_proba", None) if hasattr(model, "predict_proba") else None
    return Predictor(model, model.predict, proba)


def _load_sklearn(folder: Path, metadata: Mapping[str, Any]) -> Predictor:
    if metadata.get("serialization") == "pickle":
        with open(folder / "model.pkl", "rb") as handle:
            return _sklearn_predictor(pickle.load(handle))  # opted in with trusted=True
    if metadata.get("serialization") != "skops":
        raise InvalidInput(
            f"Unknown serialization {metadata.get('serialization')!r} for a sklearn model."
        )
    import skops.io

    path = folder / "model.skops"
    recorded = [str(t) for t in metadata.get("skops_trusted_types") or []]
    needed = sorted(skops.io.get_untrusted_types(file=path))
    refused = [t for t in needed if t not in recorded]
    if refused:
        raise ModelIntegrityError(
            f"model.skops needs types that were not recorded when the model was saved: "
            f"{refused}; cycleml does not load them.",
            hint="Save the model again from its training code.",
            details={"file": "model.skops", "untrusted_types": refused},
        )
    return _sklearn_predictor(skops.io.load(path, trusted=recorded))


def _xgboost_predictor(model: Any, base: str) -> Predictor:
    if base != "Booster":
        proba = model.predict_proba if hasattr(model, "predict_proba") else None
        return Predictor(model, model.predict, proba)
    import xgboost

    def predict(data: Any) -> Any:
        return model.predict(xgboost.DMatrix(data, enable_categorical=True))

    return Predictor(model, predict, serialize=True)


def _load_xgboost(folder: Path, metadata: Mapping[str, Any]) -> Predictor:
    xgboost = importlib.import_module("xgboost")
    base = str(metadata.get("xgboost_class"))
    if base not in _XGBOOST_CLASSES:  # never build a class named by a file outside the list
        raise InvalidInput(
            f"Unknown XGBoost class {base!r} in model.yaml: expected one of "
            f"{', '.join(_XGBOOST_CLASSES)}."
        )
    model = getattr(xgboost, base)()
    model.load_model(str(folder / "model.ubj"))
    return _xgboost_predictor(model, base)


def _lightgbm_predictor(booster: Any, metadata: Mapping[str, Any]) -> Predictor:
    if not metadata.get("is_classifier"):
        return Predictor(booster, booster.predict, serialize=True)
    classes = np.asarray(metadata.get("classes") or [])

    def predict_proba(data: Any) -> Any:
        found = np.asarray(booster.predict(data))
        if found.ndim == 1:  # binary: the positive class's probability
            found = np.column_stack([1.0 - found, found])
        return found

    def predict(data: Any) -> Any:
        index = np.argmax(predict_proba(data), axis=1)
        return classes[index] if len(classes) else index

    return Predictor(booster, predict, predict_proba, serialize=True)


def _load_lightgbm(folder: Path, metadata: Mapping[str, Any]) -> Predictor:
    lightgbm = importlib.import_module("lightgbm")
    booster = lightgbm.Booster(model_file=str(folder / "model.txt"))
    return _lightgbm_predictor(booster, metadata)


def _load_python(folder: Path, metadata: Mapping[str, Any]) -> Predictor:
    model, context = load_python_model(folder, metadata)
    proba = getattr(model, "predict_proba", None)

    def predict(data: Any) -> Any:
        return model.predict(context, data)

    def predict_proba(data: Any) -> Any:
        assert proba is not None
        return proba(context, data)

    return Predictor(model, predict, predict_proba if callable(proba) else None, serialize=True)
