"""MLflow's artifact proxy (``MlflowArtifactsService``) over cycleml's artifact store.

Runs as MLflow sees them have ``artifact_uri = mlflow-artifacts:/<experiment>/<run>/artifacts``
(see :mod:`._mlflow_tracking`), so the unmodified ``mlflow`` client uploads and reads a
run's files through these routes. A path names ``<experiment_id>/<run_id>/artifacts/<file>``:

* ``PUT .../artifacts/<path>`` stores the raw body as a content-addressed blob (spooled to
  a temporary file past 2 MB, never held whole) and records it in the run's artifact index
  through the tracking repository, with the same audit row as ``TrackingClient.log_artifact``;
* ``GET .../artifacts/<path>`` streams a file back, ``GET .../artifacts?path=<dir>`` lists a
  folder (names relative to it, as MLflow's server answers);
* ``DELETE .../artifacts/<path>`` is refused: cycleml keeps a run's files (its index and
  audit log are append-only), so the files stay listed.

MLflow 3's client lists a run's logged models next to its files (``logged-models/search``
with the run as ``source_run_id``); cycleml has none yet, so that search answers no models.

Paths with ``..``, absolute paths, backslashes, NUL bytes or percent-encoded forms of
these are refused with 400 before anything is read or written. Logged-model paths
(``<experiment>/models/<model_id>/artifacts/...``) are refused too until cycleml serves
MLflow's logged models.
"""

from __future__ import annotations

import mimetypes
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import unquote

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from cycleml.errors import InvalidInput, NotFound
from cycleml.ids import is_id
from cycleml.server._app import ServerState, server_state
from cycleml.server._mlflow_protocol import Call, ExperimentIds, add_routes
from cycleml.store import ArtifactEntry
from cycleml.tracking import SqlRunRepository

__all__ = ["ARTIFACT_PREFIXES", "ArtifactPath", "mlflow_artifact_uri", "parse_artifact_path"]

router = APIRouter(tags=["mlflow-artifacts"])

#: Where MLflow's client and UI reach the proxy.
ARTIFACT_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")

_CHUNK = 1024 * 1024
_SPOOL_MAX = 2 * 1024 * 1024
_HINT = (
    "Artifact paths are <experiment_id>/<run_id>/artifacts/<file>, relative, with no '..' "
    "components or backslashes."
)


def mlflow_artifact_uri(experiment_id: str, run_id: str) -> str:
    """The ``artifact_uri`` MLflow's client sees for a run (uploads go through the proxy)."""
    return f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"


@dataclass(frozen=True)
class ArtifactPath:
    """A proxy path split up: MLflow's experiment id, the run, the file path in the run."""

    experiment_id: str
    run_id: str
    path: str


def _refuse(raw: str, reason: str) -> InvalidInput:
    return InvalidInput(f"Invalid artifact path {raw!r}: {reason}.", hint=_HINT)


def _clean_parts(raw: str) -> list[str]:
    """The path's components; refuse traversal in it or in its percent-decoded forms."""
    forms = [raw]
    for _ in range(3):  # encoded, doubly and triply encoded variants
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    for form in forms:
        if "\x00" in form:
            raise _refuse(raw, "it contains a NUL byte")
        if "\\" in form:
            raise _refuse(raw, "it contains a backslash")
        if form.startswith("/") or (len(form) > 1 and form[1] == ":" and form[0].isalpha()):
            raise _refuse(raw, "it is absolute")
        if "//" in form:  # an absolute path inside it, e.g. artifacts/%2fetc
            raise _refuse(raw, "it contains an empty component")
        if ".." in form.split("/"):
            raise _refuse(raw, "it contains a '..' component")
    return [part for part in raw.split("/") if part not in ("", ".")]


def parse_artifact_path(raw: str, *, file: bool) -> ArtifactPath:
    """Split a proxy path; ``file`` requires a file below the run's ``artifacts`` folder.

    Raises:
        InvalidInput: The path escapes its folder, or does not name a run's artifacts.
    """
    parts = _clean_parts(raw)
    if len(parts) >= 2 and parts[1] == "models":
        raise InvalidInput(
            f"Cannot serve {raw!r}: cycleml's server does not store MLflow logged models yet.",
            hint="Log the model's files as run artifacts (mlflow.log_artifacts) or with "
            "cycleml's SDK.",
        )
    if len(parts) < 3 or parts[2] != "artifacts" or not is_id(parts[1]):
        raise _refuse(raw, "it does not name <experiment_id>/<run_id>/artifacts")
    path = "/".join(parts[3:])
    if file and not path:
        raise _refuse(raw, "it names the run's artifact folder, not a file")
    return ArtifactPath(parts[0], parts[1], path)


def _repository(request: Request) -> tuple[ServerState, SqlRunRepository, ExperimentIds]:
    state = server_state(request)
    runs = SqlRunRepository(state.db)
    return state, runs, ExperimentIds(runs, request.app.state, state.artifacts.uri)


def _check_run(runs: SqlRunRepository, ids: ExperimentIds, where: ArtifactPath) -> None:
    """Raise :class:`NotFound` unless the run exists in the experiment the path names."""
    run = runs.get_run(where.run_id)
    if ids.to_mlflow(run.info.experiment_id) != where.experiment_id:
        raise NotFound(
            f"Run {where.run_id} is not in experiment {where.experiment_id!r}.",
            hint="Use the run's artifact_uri from runs/get.",
        )


async def upload(request: Request, path: str) -> Response:
    """``PUT artifacts/<path>``: store the raw body as one file of the run."""
    where = parse_artifact_path(path, file=True)
    state, runs, ids = _repository(request)
    await run_in_threadpool(_check_run, runs, ids, where)
    with tempfile.SpooledTemporaryFile(_SPOOL_MAX) as spool:
        async for chunk in request.stream():
            await run_in_threadpool(spool.write, chunk)
        spool.seek(0)

        def store() -> None:
            blob = state.artifacts.put_stream(spool)  # type: ignore[arg-type]
            runs.record_artifacts(where.run_id, [ArtifactEntry(where.path, blob.digest, blob.size)])

        await run_in_threadpool(store)
    return Response("{}", media_type="application/json")


async def download(request: Request, path: str) -> Response:
    """``GET artifacts/<path>``: stream one file of the run."""
    where = parse_artifact_path(path, file=True)
    state, runs, ids = _repository(request)

    def find() -> BinaryIO:
        _check_run(runs, ids, where)
        for entry in runs.list_artifacts(where.run_id, where.path):
            if entry.path == where.path:
                return state.artifacts.open_blob(entry.digest)
        raise NotFound(
            f"Run {where.run_id} has no artifact file {where.path!r}.",
            hint="List the run's files with MlflowClient().list_artifacts(run_id).",
        )

    source = await run_in_threadpool(find)

    def chunks() -> Iterator[bytes]:
        with source:
            while chunk := source.read(_CHUNK):
                yield chunk

    media_type = mimetypes.guess_type(where.path)[0] or "application/octet-stream"
    return StreamingResponse(chunks(), media_type=media_type)


def _listing(runs: SqlRunRepository, ids: ExperimentIds, where: ArtifactPath) -> dict[str, object]:
    _check_run(runs, ids, where)
    folder = where.path
    files: dict[str, dict[str, object]] = {}
    for entry in runs.list_artifacts(where.run_id, folder):
        if entry.path == folder:  # a file, not a folder: MLflow lists nothing
            continue
        rest = entry.path[len(folder) + 1 :] if folder else entry.path
        name, _, below = rest.partition("/")
        if below:
            files.setdefault(name, {"path": name, "is_dir": True})
        else:
            files[name] = {"path": name, "is_dir": False, "file_size": entry.size}
    return {"files": [files[name] for name in sorted(files)]}


async def list_artifacts(request: Request) -> Response:
    """``GET artifacts?path=<dir>``: a folder's files and sub-folders, relative to it."""
    import json

    where = parse_artifact_path(request.query_params.get("path", ""), file=False)
    _, runs, ids = _repository(request)
    answer = await run_in_threadpool(_listing, runs, ids, where)
    return Response(json.dumps(answer, separators=(",", ":")), media_type="application/json")


async def delete(request: Request, path: str) -> Response:
    """``DELETE artifacts/<path>``: refused, cycleml keeps a run's files."""
    where = parse_artifact_path(path, file=False)
    _, runs, ids = _repository(request)
    await run_in_threadpool(_check_run, runs, ids, where)
    raise InvalidInput(
        f"Cannot delete {path!r}: cycleml keeps a run's artifact files (its artifact index "
        "and audit log are append-only).",
        hint="Log a corrected file at the same path (it replaces the listed one), or delete "
        "the run.",
    )


for _prefix in ARTIFACT_PREFIXES:
    router.add_api_route(f"{_prefix}/artifacts", list_artifacts, methods=["GET"])
    router.add_api_route(f"{_prefix}/artifacts/{{path:path}}", upload, methods=["PUT"])
    router.add_api_route(f"{_prefix}/artifacts/{{path:path}}", download, methods=["GET"])
    router.add_api_route(f"{_prefix}/artifacts/{{path:path}}", delete, methods=["DELETE"])


def search_logged_models(call: Call) -> dict[str, object]:
    """``logged-models/search``: no models (cycleml does not store MLflow logged models yet)."""
    return {"models": []}


add_routes(router, [("logged-models/search", ("POST",), search_logged_models)])
