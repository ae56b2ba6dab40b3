"""Writing model folders: ``save_model`` and ``log_model`` (reading them: ``_loading``).

A model folder holds ``model.yaml`` and the model's files. ``model.yaml`` records the
flavor, the signature, an input example, the requirements pinned from the training
environment, the cycleml version and the sha256 of every other file. Loading checks every
hash before it deserializes anything.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from cycleml.errors import AlreadyExists, InvalidInput, InvalidState
from cycleml.models._flavors import (
    detect_flavor,
    flavor_packages,
    live_predictor,
    load_flavor,
    save_flavor,
)
from cycleml.models._loading import (
    CODE_DIR,
    FORMAT_VERSION,
    MODEL_FILE,
    LoadedModel,
    load_model,
    normalize_output,
    read_model_file,
    sha256_file,
    verify_model_folder,
    walk_folder,
)
from cycleml.models._registering import register_run_model
from cycleml.models._signature import Signature, as_frame, infer_signature
from cycleml.registry import Models
from cycleml.registry._entities import ModelVersion
from cycleml.registry._sql_models import check_model_name
from cycleml.store import database_of, safe_relpath
from cycleml.tracking import Tracker, get_tracker

__all__ = [
    "FORMAT_VERSION",
    "MODEL_FILE",
    "LoadedModel",
    "ModelInfo",
    "load_model",
    "log_model",
    "read_model_file",
    "save_model",
    "verify_model_folder",
]

#: Rows of the input example kept in ``model.yaml``.
EXAMPLE_ROWS = 100
_BASE_PACKAGES = ("numpy", "pandas", "pyarrow", "cycleml")
_ARTIFACTS_DIR = "artifacts"


# ---- requirements ----------------------------------------------------------------------
@lru_cache(maxsize=1)
def _distributions() -> Mapping[str, list[str]]:
    return importlib_metadata.packages_distributions()


def _pin(module: str) -> str | None:
    """``name==version`` of the distribution that provides a top-level module."""
    for name in [*_distributions().get(module, []), module]:
        try:
            return f"{name}=={importlib_metadata.version(name)}"
        except importlib_metadata.PackageNotFoundError:
            continue
    return None


def _requirement_name(requirement: str) -> str:
    for separator in ("==", ">=", "<=", "~=", "!=", ">", "<", "[", ";", " "):
        requirement = requirement.split(separator)[0]
    return requirement.strip().lower().replace("_", "-")


def _requirements(modules: Sequence[str], extra: Sequence[str] | None) -> list[str]:
    pinned: dict[str, str] = {}
    for module in [*modules, *_BASE_PACKAGES]:
        found = _pin(module)
        if found:
            pinned.setdefault(_requirement_name(found), found)
    for requirement in extra or []:
        if not isinstance(requirement, str) or not requirement.strip():
            raise InvalidInput(f"Invalid requirement {requirement!r}: expected e.g. 'torch==2.3'.")
        pinned[_requirement_name(requirement)] = requirement.strip()
    return list(pinned.values())


# ---- saving ------------------------------------------------------------------------------
def _copy_in(source: str | os.PathLike[str], target: Path, what: str) -> None:
    path = Path(source)
    if path.is_dir():
        shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    elif path.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    else:
        raise InvalidInput(f"Cannot add the {what} {str(path)!r}: no such file or folder.")


def _add_files(
    folder: Path,
    artifacts: Mapping[str, str | os.PathLike[str]] | None,
    code_paths: Sequence[str | os.PathLike[str]] | None,
) -> tuple[dict[str, str], list[str]]:
    saved: dict[str, str] = {}
    for name, source in (artifacts or {}).items():
        if not isinstance(name, str) or safe_relpath(name) != name or "/" in name:
            raise InvalidInput(
                f"Invalid artifact name {name!r}: expected a plain name such as 'weights'."
            )
        relative = f"{_ARTIFACTS_DIR}/{name}/{Path(source).name}"
        _copy_in(source, folder / relative, "artifact")
        saved[name] = relative
    code: list[str] = []
    for source in code_paths or []:
        relative = f"{CODE_DIR}/{Path(source).name}"
        if relative in code:
            raise InvalidInput(f"Two code paths are named {Path(source).name!r}.")
        _copy_in(source, folder / relative, "code path")
        code.append(relative)
    return saved, code


def _example_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    text = frame.head(EXAMPLE_ROWS).to_json(
        orient="records", date_format="iso", date_unit="ns", double_precision=15
    )
    records: list[dict[str, Any]] = json.loads(text)
    return records


def _resolve_signature(
    signature: Signature | Mapping[str, Any] | str | None,
    example: pd.DataFrame | None,
    typed_from: pd.DataFrame | None = None,
) -> tuple[Signature | None, bool]:
    """The signature to save, and whether outputs should be inferred from the example.

    An inferred signature types its inputs from ``typed_from`` (all the training rows:
    a column with a null anywhere is nullable) when given, else from the example.
    """
    if signature is None:
        return None, False
    if isinstance(signature, Signature):
        return signature, False
    if isinstance(signature, Mapping):
        return Signature.from_dict(signature), False
    if signature != "infer":
        raise InvalidInput(
            f"Invalid signature {signature!r}: expected 'infer', a Signature or None."
        )
    if example is None:
        return None, False
    return infer_signature(example if typed_from is None else typed_from), True


def _infer_outputs(
    signature: Signature, flavor: str, model: Any, folder: Path, fields: Mapping[str, Any],
    example: pd.DataFrame,
) -> Signature:  # fmt: skip
    try:
        checked = signature.enforce(example)
        if flavor == "python":
            predictor = load_flavor(folder, {**fields, "flavor": flavor})
        else:
            predictor = live_predictor(flavor, model, fields)
        data = checked.to_numpy() if fields.get("input_format") == "numpy" else checked
        output = normalize_output(predictor.predict(data))
    except Exception as exc:  # the model's own predict failed: keep the inputs, say so
        warnings.warn(
            f"The output schema was not recorded: predict() failed on the input example "
            f"({type(exc).__name__}: {exc}).",
            UserWarning,
            stacklevel=4,
        )
        return signature
    return Signature(inputs=signature.inputs, outputs=infer_signature(example, output).outputs)


def _save(
    model: Any,
    path: str | os.PathLike[str],
    *,
    signature: Signature | Mapping[str, Any] | str | None,
    input_example: Any,
    trusted: bool,
    artifacts: Mapping[str, str | os.PathLike[str]] | None,
    code_paths: Sequence[str | os.PathLike[str]] | None,
    requirements: Sequence[str] | None,
    signature_data: Any = None,
) -> tuple[Path, dict[str, Any]]:
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AlreadyExists(
            f"Cannot save the model to {str(target)!r}: it already exists.",
            hint="Pick a new folder, or delete the old one first.",
        )
    flavor = detect_flavor(model)
    example = None if input_example is None else as_frame(input_example)
    resolved, infer_outputs = _resolve_signature(
        signature, example, None if signature_data is None else as_frame(signature_data)
    )
    if resolved is not None and example is not None and not infer_outputs:
        resolved.enforce(example)  # the example must fit the signature it documents
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
    staging.mkdir()
    try:
        saved_artifacts, code = _add_files(staging, artifacts, code_paths)
        fields: dict[str, Any] = {"artifacts": saved_artifacts, "code_paths": code}
        fields.update(save_flavor(flavor, model, staging, trusted=trusted))
        if infer_outputs and resolved is not None and example is not None:
            resolved = _infer_outputs(resolved, flavor, model, staging, fields, example)
        model_class = str(fields.pop("model_class"))
        metadata: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "flavor": flavor,
            "cycleml_version": _cycleml_version(),
            "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "python_version": platform.python_version(),
            "serialization": fields.pop("serialization"),
            "model_class": model_class,
            "model_file": fields.pop("model_file"),
            "is_classifier": bool(fields.pop("is_classifier")),
            "classes": fields.pop("classes"),
            "input_format": fields.pop("input_format"),
            "signature": None if resolved is None else resolved.to_dict(),
            "input_example": None if example is None else _example_records(example),
            "requirements": _requirements(flavor_packages(flavor, model_class), requirements),
            **fields,
            "files": {
                p.relative_to(staging).as_posix(): sha256_file(p)
                for p in sorted(walk_folder(staging))
                if p.is_file() and not p.is_symlink()
            },
        }
        text = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
        (staging / MODEL_FILE).write_text(text, encoding="utf-8")
        if target.exists():
            target.rmdir()  # an empty folder, checked above
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if signature == "infer" and resolved is None:
        warnings.warn(
            "The model was saved without a signature, so its input will not be checked: "
            "pass input_example= (or signature=infer_signature(X_train, predictions)).",
            UserWarning,
            stacklevel=3,
        )
    return target, metadata


def _cycleml_version() -> str:
    from cycleml import __version__

    return str(__version__)


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    signature: Signature | Mapping[str, Any] | str | None = "infer",
    input_example: Any = None,
    trusted: bool = False,
    artifacts: Mapping[str, str | os.PathLike[str]] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    requirements: Sequence[str] | None = None,
) -> Path:
    """Write a model folder (``model.yaml`` and the model's files) to ``path``.

    Args:
        model: A fitted scikit-learn estimator or pipeline, an XGBoost or LightGBM model,
            or a :class:`PythonModel`.
        path: A new (or empty) folder.
        signature: ``"infer"`` (from ``input_example``, outputs from predicting it), a
            :class:`Signature` (or its dict), or ``None`` for none.
        input_example: A few rows of model input; the first 100 are kept in
            ``model.yaml``.
        trusted: Pickle the model instead of using the safe format (skops for
            scikit-learn, import path plus data for PythonModel). Only load pickles you
            trust: loading one runs code.
        artifacts: Name -> local file or folder copied under ``artifacts/`` (a
            PythonModel reads them in ``load_context``).
        code_paths: Local files or folders copied under ``code/`` and put on
            ``sys.path`` when the model loads.
        requirements: Extra ``pip`` requirements; they override pinned ones of the same
            name.

    Returns:
        The folder.

    Raises:
        AlreadyExists: ``path`` exists and is not empty.
        InvalidInput: The model cannot be saved (unknown kind, not fitted, ...).
        SignatureError: ``input_example`` does not match an explicit ``signature``.
    """
    folder, _ = _save(
        model,
        path,
        signature=signature,
        input_example=input_example,
        trusted=trusted,
        artifacts=artifacts,
        code_paths=code_paths,
        requirements=requirements,
    )
    return folder


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`log_model` stored.

    Attributes:
        model_uri: ``runs:/<run_id>/<artifact_path>``.
        run_id: The run the model folder belongs to.
        artifact_path: The folder's path within the run.
        flavor: ``sklearn``, ``xgboost``, ``lightgbm`` or ``python``.
        signature: The saved signature, if any.
        registered_version: The registry version number, with ``registered_model_name``.
        model_version: The registry version, with ``registered_model_name``.
    """

    model_uri: str
    run_id: str
    artifact_path: str
    flavor: str
    signature: Signature | None
    registered_version: int | None = None
    model_version: ModelVersion | None = None


def log_model(
    model: Any,
    artifact_path: str = "model",
    *,
    signature: Signature | Mapping[str, Any] | str | None = "infer",
    input_example: Any = None,
    signature_data: Any = None,
    registered_model_name: str | None = None,
    trusted: bool = False,
    artifacts: Mapping[str, str | os.PathLike[str]] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    requirements: Sequence[str] | None = None,
    tracker: Tracker | None = None,
) -> ModelInfo:
    """Save a model into the active run, and optionally register it as a new version.

    Takes the arguments of :func:`save_model`; ``registered_model_name`` registers
    ``runs:/<run_id>/<artifact_path>`` as the next version of that model, with the
    signature.

    Args:
        signature_data: What an inferred signature's input columns are typed from, e.g.
            the whole training set (a column with a null anywhere is nullable); default:
            ``input_example``.
        tracker: Whose active run gets the model; default: the default tracker's (the
            one ``cycleml.start_run`` uses).

    Raises:
        InvalidState: No run is active in this thread.
        AlreadyExists: The run already has files under ``artifact_path``.
    """
    tracker = tracker or get_tracker()
    run = tracker.active_run()
    if run is None:
        raise InvalidState(
            "log_model needs an active run, and none is active in this thread.",
            hint="Call it inside `with cycleml.start_run():`, or use save_model() to write "
            "a local folder.",
        )
    clean = safe_relpath(artifact_path)
    if registered_model_name is not None:
        check_model_name(registered_model_name)
    client = tracker.client
    if client.list_artifacts(run.run_id, clean):
        raise AlreadyExists(
            f"Run {run.run_id} already has files under {clean!r}.",
            hint="Log the model under another artifact_path.",
        )
    with tempfile.TemporaryDirectory(prefix="cycleml-model-") as scratch:
        folder, metadata = _save(
            model,
            Path(scratch) / "model",
            signature=signature,
            input_example=input_example,
            signature_data=signature_data,
            trusted=trusted,
            artifacts=artifacts,
            code_paths=code_paths,
            requirements=requirements,
        )
        tracker.log_artifacts(folder, clean)
    saved = metadata["signature"]
    found = None if saved is None else Signature.from_dict(saved)
    uri = f"runs:/{run.run_id}/{clean}"
    version = None
    if registered_model_name is not None:
        tracker.flush()  # the version snapshots the run's metrics: write buffered ones first
        models = Models(client.settings, store=database_of(client.repository))
        version = register_run_model(models, uri, registered_model_name, signature=saved)
    return ModelInfo(
        model_uri=uri,
        run_id=run.run_id,
        artifact_path=clean,
        flavor=str(metadata["flavor"]),
        signature=found,
        registered_version=None if version is None else version.version,
        model_version=version,
    )
