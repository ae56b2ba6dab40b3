"""Reading model folders back: ``read_model_file``, ``verify_model_folder``, ``fetch_model``,
``load_model`` and :class:`LoadedModel`.

Loading checks the sha256 of every file before it deserializes anything. ``fetch_model``
is the first half of ``load_model``: the folder downloaded (for ``runs:/`` and
``models:/`` URIs) and verified, nothing deserialized yet; a server uses the gap to start
its predict process on the verified folder while it loads its own copy. A model read from
a local folder needs neither tracking nor the stores, so the predict process imports only
this module and the flavors.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import pandas as pd
import yaml

from cycleml.errors import InvalidInput, ModelIntegrityError, NotFound
from cycleml.models._flavors import FLAVORS, Predictor, load_flavor
from cycleml.models._signature import Signature, as_frame

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cycleml.settings import Settings

__all__ = [
    "FORMAT_VERSION",
    "MODEL_FILE",
    "FetchedModel",
    "LoadedModel",
    "fetch_model",
    "load_model",
    "read_model_file",
    "verify_model_folder",
]

#: The metadata file of a model folder.
MODEL_FILE = "model.yaml"
#: The ``format_version`` this cycleml writes and reads.
FORMAT_VERSION = 1
CODE_DIR = "code"
_IMPORT_LOCK = threading.RLock()  # load_context may load another model


# ---- hashes ------------------------------------------------------------------------------
def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def walk_folder(folder: Path) -> Iterator[Path]:
    """Every file and link below ``folder`` (links are reported, never followed)."""
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        for name in [*files, *(d for d in dirs if (here / d).is_symlink())]:
            yield here / name


# ---- reading -----------------------------------------------------------------------------
def read_model_file(
    folder: str | os.PathLike[str], *, shown_as: str | None = None
) -> dict[str, Any]:
    """Parse a model folder's ``model.yaml`` (safe YAML; nothing is deserialized).

    ``shown_as`` is how messages name the folder (the URI a user gave, not the temporary
    folder it was downloaded to).

    Raises:
        NotFound: The folder does not exist.
        InvalidInput: It holds no ``model.yaml``, or one this cycleml cannot read.
    """
    root = Path(folder)
    shown = shown_as or str(root)
    if not root.is_dir():
        raise NotFound(f"No model folder at {shown!r}.")
    path = root / MODEL_FILE
    if not path.is_file():
        raise InvalidInput(
            f"{shown!r} is not a cycleml model folder: it has no {MODEL_FILE}.",
            hint="Save models with cycleml.models.save_model() or log_model().",
        )
    where = f"{shown}/{MODEL_FILE}" if shown_as else str(path)
    try:
        found = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"Cannot read {where}: {exc}") from exc
    if not isinstance(found, dict) or not isinstance(found.get("files"), dict):
        raise InvalidInput(f"{where} is not a cycleml model file: it lists no files.")
    version = found.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise InvalidInput(
            f"{where} has format_version {version!r}; this cycleml reads up to {FORMAT_VERSION}.",
            hint="Upgrade cycleml to load this model.",
        )
    if found.get("flavor") not in FLAVORS:
        raise InvalidInput(f"{where} names the unknown flavor {found.get('flavor')!r}.")
    return found


def verify_model_folder(
    folder: str | os.PathLike[str], files: Mapping[str, str], *, shown_as: str | None = None
) -> None:
    """Check that ``folder`` holds exactly ``files`` (relative path -> sha256).

    ``shown_as`` is how the message names the folder (default: its path).

    Raises:
        ModelIntegrityError: A file changed, is missing or is not listed; the message
            names the first, ``details["problems"]`` lists each.
    """
    root = Path(folder)
    problems: list[dict[str, Any]] = []
    actual = {p.relative_to(root).as_posix(): p for p in walk_folder(root)}
    actual.pop(MODEL_FILE, None)
    for relative, expected in sorted(files.items()):
        path = actual.pop(str(relative), None)
        if path is None:
            problems.append({"file": relative, "problem": "missing", "expected": expected,
                             "actual": None})  # fmt: skip
        elif path.is_symlink() or not path.is_file():
            problems.append({"file": relative, "problem": "not a regular file",
                             "expected": expected, "actual": None})  # fmt: skip
        else:
            digest = sha256_file(path)
            if digest != expected:
                problems.append({"file": relative, "problem": "changed", "expected": expected,
                                 "actual": digest})  # fmt: skip
    for relative, path in sorted(actual.items()):
        problems.append({"file": relative, "problem": "unexpected", "expected": None,
                         "actual": None if path.is_symlink() else sha256_file(path)})  # fmt: skip
    if not problems:
        return
    first = problems[0]
    if first["problem"] == "changed":
        what = f"{first['file']} changed: sha256 {first['actual']}, expected {first['expected']}"
    elif first["problem"] == "unexpected":
        what = f"{first['file']} is not listed in {MODEL_FILE} (sha256 {first['actual']})"
    else:
        what = f"{first['file']} is {first['problem']} (expected sha256 {first['expected']})"
    others = f" ({len(problems) - 1} more problem(s) in details)" if len(problems) > 1 else ""
    raise ModelIntegrityError(
        f"The model folder {shown_as or str(root)!r} does not match its {MODEL_FILE}: "
        f"{what}{others}. "
        "Nothing was loaded.",
        hint="Load the model from its original location, or save it again.",
        details={"folder": shown_as or str(root), "problems": problems},
    )


@contextlib.contextmanager
def _code_on_path(folder: Path, code: Sequence[str]) -> Iterator[None]:
    """Put the model's ``code/`` folder on ``sys.path``; write no bytecode into it."""
    if not code:
        yield
        return
    with _IMPORT_LOCK:
        entry = str(folder / CODE_DIR)
        if entry not in sys.path:
            sys.path.insert(0, entry)
        previous = sys.dont_write_bytecode
        sys.dont_write_bytecode = True
        try:
            yield
        finally:
            sys.dont_write_bytecode = previous


def normalize_output(result: Any) -> np.ndarray[Any, Any] | pd.DataFrame:
    if isinstance(result, pd.DataFrame):
        return result
    if isinstance(result, pd.Series):
        return result.to_numpy()
    return np.asarray(result)


class LoadedModel:
    """A model read back from a folder, a run or the registry.

    Attributes:
        flavor: ``sklearn``, ``xgboost``, ``lightgbm`` or ``python``.
        signature: The input (and output) columns, or ``None``.
        metadata: The parsed ``model.yaml``.
        path: The local model folder.
        uri: What it was loaded from.
        name: The registered model name (loaded from ``models:/``), else ``None``.
        version: The registered version number (loaded from ``models:/``), else ``None``.
        run_id: The run it was logged to (loaded from ``runs:/`` or ``models:/``).
        is_classifier: Whether :meth:`predict_proba` is available.
        classes: The class labels of a classifier, if known.
    """

    def __init__(
        self,
        predictor: Predictor,
        metadata: dict[str, Any],
        path: Path,
        uri: str,
        *,
        name: str | None = None,
        version: int | None = None,
        run_id: str | None = None,
    ) -> None:
        self._predictor = predictor
        self.metadata = metadata
        self.path = path
        self.uri = uri
        self.name = name
        self.version = version
        self.run_id = run_id
        self.flavor = str(metadata["flavor"])
        saved = metadata.get("signature")
        self.signature = None if saved is None else Signature.from_dict(saved)
        self.is_classifier = bool(metadata.get("is_classifier")) and predictor.has_proba
        classes = metadata.get("classes")
        self.classes: list[Any] | None = None if classes is None else list(classes)
        self._cleanup: weakref.finalize[Any, Any] | None = None

    def __repr__(self) -> str:
        where = f"{self.name}/{self.version}" if self.name else self.uri
        return f"<LoadedModel {self.flavor} {where}>"

    @property
    def input_example(self) -> list[dict[str, Any]] | None:
        """The input example saved with the model, as records."""
        found = self.metadata.get("input_example")
        return None if found is None else list(found)

    def unwrap(self) -> Any:
        """The library's model object (the PythonModel instance for the python flavor)."""
        return self._predictor.native

    def close(self) -> None:
        """Delete the temporary folder a ``runs:/`` or ``models:/`` download was put in.

        The model stays usable (it is in memory); :attr:`path` no longer exists. A model
        loaded from a local folder keeps it. Without ``close()``, the folder goes when the
        model is garbage-collected or the interpreter exits.
        """
        if self._cleanup is not None:
            self._cleanup()

    def _prepare(self, data: Any, enforce: bool) -> Any:
        if enforce and self.signature is not None:
            frame = self.signature.enforce(data)
        elif isinstance(data, np.ndarray) and self.flavor != "python":
            return data
        else:
            frame = as_frame(data)
        return frame.to_numpy() if self.metadata.get("input_format") == "numpy" else frame

    def predict(self, data: Any, *, enforce: bool = True) -> np.ndarray[Any, Any] | pd.DataFrame:
        """Predict; the input is checked against the signature first (when there is one).

        Args:
            data: A pandas or polars DataFrame, a pyarrow Table, a numpy array, a list
                of records or a dict of columns.
            enforce: Check and coerce ``data`` with the signature (pass ``False`` only for
                data that :meth:`Signature.enforce` already returned).

        Raises:
            SignatureError: The input does not match the signature.
        """
        return normalize_output(self._predictor.predict(self._prepare(data, enforce)))

    def predict_proba(self, data: Any, *, enforce: bool = True) -> np.ndarray[Any, Any]:
        """Class probabilities of a classifier, one column per class in :attr:`classes`.

        Raises:
            InvalidInput: The model is not a classifier with probabilities.
            SignatureError: The input does not match the signature.
        """
        if not self.is_classifier:
            raise InvalidInput(
                f"The {self.flavor} model {self.uri!r} gives no class probabilities: "
                "predict_proba is only for classifiers that have it.",
                hint="Call predict() instead.",
            )
        return np.asarray(self._predictor.predict_proba(self._prepare(data, enforce)))


def _local_path(uri: str) -> Path:
    if uri.startswith("file:"):
        return Path(url2pathname(urlparse(uri).path))
    return Path(uri).expanduser()


def _fetch(uri: str, settings: Settings | None) -> tuple[Path, Path, Any]:
    """Download a ``runs:/`` or ``models:/`` model into a new temporary folder."""
    from cycleml.registry import RestModelRepository, SqlModelRepository
    from cycleml.store import database_of, open_database
    from cycleml.tracking import TrackingClient, get_tracker

    client = TrackingClient(settings) if settings is not None else get_tracker().client
    try:
        db = database_of(client.repository)
        if db is None and client.settings.tracking_uri.startswith(("http://", "https://")):
            with RestModelRepository(
                client.settings.tracking_uri, token=client.settings.tracking_token
            ) as registry:
                location = registry.resolve_artifact_uri(uri)
        else:
            location = SqlModelRepository(
                db or open_database(client.settings)
            ).resolve_artifact_uri(uri)
        if not location.entries:
            raise NotFound(f"Nothing is stored at {uri!r}.")
        scratch = Path(tempfile.mkdtemp(prefix="cycleml-model-"))
        try:
            for entry in location.entries:
                client.artifacts.download(entry.digest, scratch / entry.path)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    finally:
        if settings is not None:
            client.close()
    folder = scratch / location.path if location.path else scratch
    return scratch, folder, location


class FetchedModel:
    """A model folder on local disk, every file's sha256 checked, nothing deserialized yet.

    Attributes:
        path: The local folder (a temporary download for ``runs:/`` and ``models:/``).
        metadata: The parsed ``model.yaml``.
        uri: What it was fetched from.
        name: The registered model name (fetched from ``models:/``), else ``None``.
        version: The registered version number (fetched from ``models:/``), else ``None``.
        run_id: The run it was logged to (fetched from ``runs:/`` or ``models:/``).
    """

    def __init__(
        self,
        path: Path,
        metadata: dict[str, Any],
        uri: str,
        *,
        scratch: Path | None = None,
        name: str | None = None,
        version: int | None = None,
        run_id: str | None = None,
    ) -> None:
        self.path, self.metadata, self.uri = path, metadata, uri
        self.name, self.version, self.run_id = name, version, run_id
        self._scratch = scratch
        self._cleanup = (
            None if scratch is None else weakref.finalize(self, shutil.rmtree, str(scratch), True)
        )

    def load(self) -> LoadedModel:
        """Deserialize the model; the download then lives as long as the loaded model."""
        try:
            with _code_on_path(self.path, self.metadata.get("code_paths") or []):
                predictor = load_flavor(self.path, self.metadata)
        except BaseException:
            self.close()
            raise
        loaded = LoadedModel(
            predictor, self.metadata, self.path, self.uri,
            name=self.name, version=self.version, run_id=self.run_id,
        )  # fmt: skip
        if self._cleanup is not None and self._cleanup.detach() is not None:
            assert self._scratch is not None  # the download moves to the loaded model
            loaded._cleanup = weakref.finalize(loaded, shutil.rmtree, str(self._scratch), True)
        self._cleanup = None
        return loaded

    def close(self) -> None:
        """Delete the temporary download (nothing for a local folder, or once loaded)."""
        if self._cleanup is not None:
            self._cleanup()


def fetch_model(
    model_uri: str | os.PathLike[str], *, settings: Settings | None = None
) -> FetchedModel:
    """Download (``runs:/``, ``models:/``) or find (a local folder) a model and verify it.

    Takes the URIs :func:`load_model` takes and raises its errors, except for those of
    deserializing, which :meth:`FetchedModel.load` raises.
    """
    uri = os.fspath(model_uri)
    name = version = run_id = None
    scratch: Path | None = None
    if uri.startswith(("runs:/", "models:/")):
        scratch, folder, location = _fetch(uri, settings)
        run_id = location.run_id
        if location.model_version is not None:
            name, version = location.model_version.name, location.model_version.version
    else:
        folder = _local_path(uri)
    shown = uri if scratch is not None else None  # never the temporary download folder
    try:
        metadata = read_model_file(folder, shown_as=shown)
        verify_model_folder(folder, metadata["files"], shown_as=shown)
    except BaseException:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    return FetchedModel(
        folder, metadata, uri, scratch=scratch, name=name, version=version, run_id=run_id
    )


def load_model(
    model_uri: str | os.PathLike[str], *, settings: Settings | None = None
) -> LoadedModel:
    """Load a model folder, checking the sha256 of every file before reading any.

    Args:
        model_uri: A local folder (or ``file://`` URI), ``runs:/<run_id>/<path>``,
            ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
            ``models:/<name>/<stage>`` or ``models:/<name>/latest``.
        settings: Where the stores are; default: those of the default tracker.

    Raises:
        NotFound: No such folder, run, model, version or alias.
        ModelIntegrityError: A file changed, is missing or is not listed in model.yaml.
        InvalidInput: Not a cycleml model folder.
    """
    return fetch_model(model_uri, settings=settings).load()
