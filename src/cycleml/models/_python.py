"""Any Python object as a model: the :class:`PythonModel` base class and its ``python`` flavor.

A subclass is never pickled unless the caller passes ``trusted=True``. By default the
folder keeps the class's import path (``module:QualName``) and the instance's plain-data
attributes (JSON: numbers, strings, booleans, ``None``, lists and dicts) in
``python_model.json``. Loading imports the class (from the model's ``code/`` folder or the
environment), builds it with no arguments, restores those attributes and calls
:meth:`PythonModel.load_context` with the model's artifact files.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cycleml.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PYTHON_FILE",
    "PYTHON_PICKLE",
    "PythonModel",
    "PythonModelContext",
    "class_path",
    "dump_pickle",
    "load_python_model",
    "save_python_model",
]

#: The class path and plain-data state of a python-flavor model.
PYTHON_FILE = "python_model.json"
#: The pickled instance, written only with ``trusted=True``.
PYTHON_PICKLE = "python_model.pkl"


@dataclass(frozen=True)
class PythonModelContext:
    """What :meth:`PythonModel.load_context` and :meth:`PythonModel.predict` receive.

    Attributes:
        artifacts: Artifact name -> local path of the file or folder saved with the model.
        model_path: The local model folder.
    """

    artifacts: dict[str, str] = field(default_factory=dict)
    model_path: str = ""


class PythonModel:
    """Base class for models written in plain Python (MLflow's ``PythonModel``).

    Subclass it and implement :meth:`predict`; load files (weights, vocabularies) in
    :meth:`load_context` from ``context.artifacts``. The class must be importable from a
    module (pass ``code_paths=[...]`` to ship that module with the model) and buildable
    with no arguments. Attributes holding plain data are saved; anything else belongs in
    an artifact file.

    A subclass that also defines ``predict_proba(self, context, model_input)`` is served
    as a classifier; its ``classes`` attribute, when set, names the columns.
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Load what the model needs from ``context.artifacts``; by default nothing."""
        return

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame) -> Any:
        """Predict for a DataFrame already checked against the signature."""
        raise NotImplementedError(f"{type(self).__name__} must implement predict().")


def class_path(cls: type) -> str:
    """``module:QualName`` of a class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _import_class(path: str) -> type:
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname:
        raise InvalidInput(f"Invalid class path {path!r}: expected 'module:QualName'.")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(
            f"Cannot import the model class {path!r}: {exc}.",
            hint="Install the package that defines it, or save the model with "
            "code_paths=[<the module's file>] so the folder carries the code.",
        ) from exc
    if not isinstance(found, type):
        raise InvalidInput(f"{path!r} is not a class.")
    return found


def _check_importable(model: PythonModel) -> str:
    cls = type(model)
    path = class_path(cls)
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise InvalidInput(
            f"Cannot save {cls.__qualname__}: it is defined in {cls.__module__}"
            f"{' inside a function' if '<locals>' in cls.__qualname__ else ''}, so no other "
            "process can import it.",
            hint="Move the class into a module file and pass code_paths=[<that file>].",
        )
    try:
        found = _import_class(path)
    except InvalidInput as exc:
        raise InvalidInput(
            f"Cannot save {cls.__qualname__}: its module {cls.__module__!r} cannot be "
            "imported, so the model could not be loaded again.",
            hint="Move the class into a module file and pass code_paths=[<that file>].",
        ) from exc
    if found is not cls:
        raise InvalidInput(f"Cannot save {cls.__qualname__}: {path!r} names another class.")
    return path


def _plain(value: Any, where: str) -> Any:
    """``value`` as JSON data, or an error naming the attribute that is not."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, np.generic) and not isinstance(value, np.datetime64 | np.timedelta64):
        return _plain(value.item(), where)
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise InvalidInput(
        f"Cannot save the attribute {where} ({type(value).__name__}) without pickle: only "
        "numbers, strings, booleans, None, lists and dicts are saved as data.",
        hint="Save it as a file in artifacts={...} and read it in load_context(), or pass "
        "trusted=True to pickle the whole model (only load pickles you trust).",
    )


def dump_pickle(model: Any, path: Path) -> None:
    """Pickle ``model`` to ``path`` (the ``trusted=True`` format)."""
    try:
        with open(path, "wb") as handle:
            pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise InvalidInput(f"Cannot pickle the {type(model).__name__}: {exc}.") from exc


def save_python_model(model: PythonModel, folder: Path, *, trusted: bool) -> dict[str, Any]:
    """Write a python-flavor model into ``folder``; return its ``model.yaml`` fields."""
    cls = type(model)
    path = _check_importable(model)
    predict_proba = getattr(model, "predict_proba", None)
    classes = getattr(model, "classes", None)
    found: dict[str, Any] = {
        "model_class": path,
        "is_classifier": callable(predict_proba),
        "classes": _plain(list(classes), "classes") if classes is not None else None,
        "input_format": "pandas",
    }
    if trusted:
        dump_pickle(model, folder / PYTHON_PICKLE)
        return {**found, "serialization": "pickle", "model_file": PYTHON_PICKLE}
    try:
        inspect.signature(cls).bind()
    except TypeError as exc:
        raise InvalidInput(
            f"Cannot save {cls.__qualname__}: loading builds it with {cls.__qualname__}(), "
            f"but its constructor needs arguments ({exc}).",
            hint="Give every constructor parameter a default (saved attributes are restored "
            "after construction), or pass trusted=True to pickle the model.",
        ) from None
    state = {k: _plain(v, f"{cls.__qualname__}.{k}") for k, v in vars(model).items()}
    payload = {"class": path, "state": state}
    (folder / PYTHON_FILE).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return {**found, "serialization": "python_class", "model_file": PYTHON_FILE}


def load_python_model(folder: Path, metadata: Mapping[str, Any]) -> tuple[PythonModel, Any]:
    """Rebuild a python-flavor model and call its ``load_context``; return it and the context."""
    if metadata.get("serialization") == "pickle":
        with open(folder / PYTHON_PICKLE, "rb") as handle:
            model = pickle.load(handle)  # the caller opted in with trusted=True at save
        if not isinstance(model, PythonModel):
            raise InvalidInput(f"{PYTHON_PICKLE} does not hold a PythonModel.")
    else:
        payload = json.loads((folder / PYTHON_FILE).read_text(encoding="utf-8"))
        cls = _import_class(str(payload.get("class", "")))
        if not issubclass(cls, PythonModel):  # never build an arbitrary class from a file
            raise InvalidInput(f"{payload.get('class')!r} is not a PythonModel subclass.")
        model = cls()
        vars(model).update(payload.get("state") or {})
    artifacts = {
        str(name): str(folder / relative)
        for name, relative in (metadata.get("artifacts") or {}).items()
    }
    context = PythonModelContext(artifacts=artifacts, model_path=str(folder))
    model.load_context(context)
    return model, context
