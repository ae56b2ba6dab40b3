"""MLflow's artifact proxy (``MlflowArtifactsService``) over cycleml's artifact store.

Runs as MLflow sees them have ``artifact_uri = mlflow-artifacts:/<experiment>/<run>/artifacts``
and logged models ``mlflow-artifacts:/<experiment>/models/<model_id>/artifacts`` (see
:mod:`._mlflow_tracking` and :mod:`._mlflow_models`), so the unmodified ``mlflow`` client
uploads and reads their files through these routes:

* ``PUT .../artifacts/<path>`` stores the raw body as a content-addressed blob (spooled to
  a temporary file past 2 MB, never held whole) and records it in the owner's artifact
  index through the tracking repository, with the same audit row as cycleml's own logging
  (a logged model's file is also listed under its run's ``artifact_path``);
* ``GET .../artifacts/<path>`` streams a file back, ``GET .../artifacts?path=<dir>`` lists a
  folder (names relative to it, as MLflow's server answers);
* ``DELETE .../artifacts/<path>`` removes a file (or a folder's files) from the index, with
  an audit row naming the blobs; the blobs stay, since equal content is stored once.

Paths with ``..``, absolute paths, backslashes, NUL bytes or percent-encoded forms of
these are refused with 400 before anything is read or written.
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
from cycleml.server._auth import require
from cycleml.server._mlflow_protocol import ExperimentIds
from cycleml.server._users import Permission
from cycleml.store import ArtifactEntry
from cycleml.tracking import SqlRunRepository
from cycleml.tracking._logged_models import is_logged_model_id

__all__ = [
    "ARTIFACT_PREFIXES",
    "ArtifactPath",
    "folder_listing",
    "mlflow_artifact_uri",
    "mlflow_model_artifact_uri",
    "parse_artifact_path",
]

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


def mlflow_model_artifact_uri(experiment_id: str, model_id: str) -> str:
    """The ``artifact_uri`` MLflow's client sees for a logged model."""
    return f"mlflow-artifacts:/{experiment_id}/models/{model_id}/artifacts"


@dataclass(frozen=True)
class ArtifactPath:
    """A proxy path split up: MLflow's experiment id, the owner's kind and id, the file path.

    ``owner`` is ``"run"`` (``<exp>/<run_id>/artifacts/...``) or ``"logged_model"``
    (``<exp>/models/<model_id>/artifacts/...``).
    """

    experiment_id: str
    owner: str
    owner_id: str
    path: str

    @property
    def run_id(self) -> str:
        """The run a run path names (a logged model's id for a model path)."""
        return self.owner_id


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
    """Split a proxy path; ``file`` requires a file below the owner's ``artifacts`` folder.

    Raises:
        InvalidInput: The path escapes its folder, or names no run's or model's artifacts.
    """
    parts = _clean_parts(raw)
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        if not is_logged_model_id(parts[2]):
            raise _refuse(raw, f"{parts[2]!r} is not a logged model id")
        owner, owner_id, rest = "logged_model", parts[2], parts[4:]
    elif len(parts) >= 3 and parts[2] == "artifacts" and is_id(parts[1]):
        owner, owner_id, rest = "run", parts[1], parts[3:]
    else:
        raise _refuse(
            raw, "it does not name <experiment_id>/<run_id>/artifacts or a logged model's"
        )
    path = "/".join(rest)
    if file and not path:
        raise _refuse(raw, "it names the artifact folder, not a file")
    return ArtifactPath(parts[0], owner, owner_id, path)


def _repository(request: Request) -> tuple[ServerState, SqlRunRepository, ExperimentIds]:
    state = server_state(request)
    runs = SqlRunRepository(state.db)
    return state, runs, ExperimentIds(runs, request.app.state, state.artifacts.uri)


def _check_owner(
    runs: SqlRunRepository,
    ids: ExperimentIds,
    where: ArtifactPath,
    request: Request | None = None,
    level: Permission = Permission.READ,
) -> None:
    """Raise :class:`NotFound` unless the owner exists in the experiment the path names,
    and :class:`PermissionDenied` unless the user holds ``level`` on that experiment."""
    if where.owner == "run":
        experiment_id = runs.get_run(where.owner_id).info.experiment_id
    else:
        experiment_id = runs.get_logged_model(where.owner_id).experiment_id
    if ids.to_mlflow(experiment_id) != where.experiment_id:
        what = "Run" if where.owner == "run" else "Logged model"
        raise NotFound(
            f"{what} {where.owner_id} is not in experiment {where.experiment_id!r}.",
            hint="Use the artifact_uri that runs/get or logged-models/{id} answers.",
        )
    if request is not None:
        what = f"{request.method} artifacts of {where.owner_id}"
        require(request, "experiment", {experiment_id}, level, what)


def _entries(runs: SqlRunRepository, where: ArtifactPath, prefix: str) -> list[ArtifactEntry]:
    if where.owner == "run":
        return runs.list_artifacts(where.owner_id, prefix)
    return runs.list_logged_model_artifacts(where.owner_id, prefix)


async def upload(request: Request, path: str) -> Response:
    """``PUT artifacts/<path>``: store the raw body as one file of the run or model."""
    where = parse_artifact_path(path, file=True)
    state, runs, ids = _repository(request)
    await run_in_threadpool(_check_owner, runs, ids, where, request, Permission.EDIT)
    with tempfile.SpooledTemporaryFile(_SPOOL_MAX) as spool:
        async for chunk in request.stream():
            await run_in_threadpool(spool.write, chunk)
        spool.seek(0)

        def store() -> None:
            blob = state.artifacts.put_stream(spool)  # type: ignore[arg-type]
            entry = ArtifactEntry(where.path, blob.digest, blob.size)
            if where.owner == "run":
                runs.record_artifacts(where.owner_id, [entry])
            else:
                runs.record_logged_model_artifacts(where.owner_id, [entry])

        await run_in_threadpool(store)
    return Response("{}", media_type="application/json")


async def download(request: Request, path: str) -> Response:
    """``GET artifacts/<path>``: stream one file of the run or model."""
    where = parse_artifact_path(path, file=True)
    state, runs, ids = _repository(request)

    def find() -> BinaryIO:
        _check_owner(runs, ids, where, request)
        for entry in _entries(runs, where, where.path):
            if entry.path == where.path:
                return state.artifacts.open_blob(entry.digest)
        raise NotFound(
            f"{where.owner_id} has no artifact file {where.path!r}.",
            hint="List the files with MlflowClient().list_artifacts(run_id).",
        )

    source = await run_in_threadpool(find)

    def chunks() -> Iterator[bytes]:
        with source:
            while chunk := source.read(_CHUNK):
                yield chunk

    media_type = mimetypes.guess_type(where.path)[0] or "application/octet-stream"
    return StreamingResponse(chunks(), media_type=media_type)


def folder_listing(entries: list[ArtifactEntry], folder: str) -> list[dict[str, object]]:
    """MLflow's ``files``: a folder's files and sub-folders, named relative to it, by name."""
    files: dict[str, dict[str, object]] = {}
    for entry in entries:
        if entry.path == folder:  # a file, not a folder: MLflow lists nothing
            continue
        rest = entry.path[len(folder) + 1 :] if folder else entry.path
        name, _, below = rest.partition("/")
        if below:
            files.setdefault(name, {"path": name, "is_dir": True})
        else:
            files[name] = {"path": name, "is_dir": False, "file_size": entry.size}
    return [files[name] for name in sorted(files)]


def _listing(
    runs: SqlRunRepository, ids: ExperimentIds, where: ArtifactPath, request: Request
) -> dict[str, object]:
    _check_owner(runs, ids, where, request)
    return {"files": folder_listing(_entries(runs, where, where.path), where.path)}


async def list_artifacts(request: Request) -> Response:
    """``GET artifacts?path=<dir>``: a folder's files and sub-folders, relative to it."""
    import json

    where = parse_artifact_path(request.query_params.get("path", ""), file=False)
    _, runs, ids = _repository(request)
    answer = await run_in_threadpool(_listing, runs, ids, where, request)
    return Response(json.dumps(answer, separators=(",", ":")), media_type="application/json")


async def delete(request: Request, path: str) -> Response:
    """``DELETE artifacts/<path>``: remove a file (or a folder's files) from the index."""
    where = parse_artifact_path(path, file=True)
    _, runs, ids = _repository(request)

    def remove() -> None:
        _check_owner(runs, ids, where, request, Permission.MANAGE)
        if where.owner == "run":
            runs.delete_artifacts(where.owner_id, where.path)
        else:
            runs.delete_logged_model_artifacts(where.owner_id, where.path)

    await run_in_threadpool(remove)
    return Response("{}", media_type="application/json")


for _prefix in ARTIFACT_PREFIXES:
    router.add_api_route(f"{_prefix}/artifacts", list_artifacts, methods=["GET"])
    router.add_api_route(f"{_prefix}/artifacts/{{path:path}}", upload, methods=["PUT"])
    router.add_api_route(f"{_prefix}/artifacts/{{path:path}}", download, methods=["GET"])
    router.add_api_route(f"{_prefix}/artifacts/{{path:path}}", delete, methods=["DELETE"])
