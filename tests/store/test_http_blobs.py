"""Artifacts through a team server's blob proxy: an ``http://`` artifact store over loopback.

The client shares no folder with the server: it stores through ``/api/v1/blobs/{digest}``
into the server's own artifact store, which these tests read directly to see what landed.
"""

from __future__ import annotations

import io
import os
import threading
import tracemalloc
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from cycleml.errors import InvalidInput, NotFound, StoreError
from cycleml.hashing import hash_bytes
from cycleml.settings import Settings
from cycleml.store import ArtifactStore, open_artifact_store
from cycleml.store._http_blobs import HttpBackend

API = "/api/v1"


@pytest.fixture
def server_store(settings: Settings) -> ArtifactStore:
    """The artifact store the team server writes into (its settings' artifact URI)."""
    return open_artifact_store(settings.artifact_uri)


@pytest.fixture
def remote(team_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ArtifactStore]:
    """The client's store: the server's URL as its artifact URI."""
    for name in ("CYCLEML_TRACKING_TOKEN", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    store = open_artifact_store(team_server)
    yield store
    store.close()


def _error(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) == {"code", "message", "hint", "details"}
    assert error["code"] == code
    assert error["details"]["request_id"] == answer.headers["X-Request-ID"]
    return error


def test_an_http_uri_opens_the_blob_proxy(remote: ArtifactStore, team_server: str) -> None:
    assert isinstance(remote.backend, HttpBackend)
    digest = hash_bytes(b"x")
    assert remote.blob_url(digest) == f"{team_server}{API}/blobs/{digest}"


def test_bytes_and_files_round_trip_through_the_server(
    remote: ArtifactStore, server_store: ArtifactStore, tmp_path: Path
) -> None:
    blob = remote.put_bytes(b"hello, server")
    assert blob.size == 13
    assert server_store.get_bytes(blob.digest) == b"hello, server"  # stored on the server
    assert remote.has(blob.digest)
    assert remote.get_bytes(blob.digest) == b"hello, server"
    assert remote.put_bytes(b"hello, server") == blob  # stored once, by content

    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # more than one chunk
    stored = remote.put_file(source)
    assert server_store.verify(stored.digest)
    with remote.open_blob(stored.digest) as handle:
        assert handle.read(5) == source.read_bytes()[:5]
    copy = remote.download(stored.digest, tmp_path / "out" / "copy.bin")
    assert copy.read_bytes() == source.read_bytes()
    streamed = remote.put_stream(io.BytesIO(b"from a stream"))
    assert server_store.get_bytes(streamed.digest) == b"from a stream"


def test_a_large_blob_streams_both_ways_in_bounded_memory(
    remote: ArtifactStore, server_store: ArtifactStore, tmp_path: Path
) -> None:
    size = 24 * 1024 * 1024
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for _ in range(size // (1024 * 1024)):
            out.write(os.urandom(1024 * 1024))
    warm = remote.put_bytes(b"warm up the connection")  # first-use allocations aside
    remote.download(warm.digest, tmp_path / "warm.bin")
    tracemalloc.start()
    try:
        blob = remote.put_file(source)  # the server runs in this process: both sides count
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        remote.download(blob.digest, tmp_path / "back.bin")
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == size
    assert server_store.verify(blob.digest)
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    # 1 MB chunks in flight and the server's 2 MB spool (about 8 MB in all, whatever the
    # size), never the whole 24 MB blob.
    assert upload_peak < size // 2, upload_peak
    assert download_peak < size // 2, download_peak


def test_a_body_that_is_not_its_digest_is_refused_and_nothing_is_stored(
    team_server: str, server_store: ArtifactStore
) -> None:
    claimed = hash_bytes(b"what the client claims")
    answer = httpx.put(f"{team_server}{API}/blobs/{claimed}", content=b"something else")
    error = _error(answer, 400, "invalid_input")
    assert error["details"]["actual"] == hash_bytes(b"something else")
    assert not server_store.has(claimed)
    assert not server_store.has(hash_bytes(b"something else"))
    assert not list(Path(server_store.uri.removeprefix("file://")).rglob("*"))  # not a temp


def test_storing_is_idempotent(team_server: str, server_store: ArtifactStore) -> None:
    digest = hash_bytes(b"once")
    first = httpx.put(f"{team_server}{API}/blobs/{digest}", content=b"once")
    again = httpx.put(f"{team_server}{API}/blobs/{digest}", content=b"once")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json() == {"digest": digest, "size": 4}
    assert httpx.head(f"{team_server}{API}/blobs/{digest}").status_code == 200
    assert httpx.get(f"{team_server}{API}/blobs/{digest}").content == b"once"
    wrong = httpx.put(f"{team_server}{API}/blobs/{digest}", content=b"other")
    _error(wrong, 400, "invalid_input")  # a held blob is not overwritten by other bytes
    assert server_store.get_bytes(digest) == b"once"


@pytest.mark.parametrize(
    "digest",
    ["..%2F..%2Fetc%2Fpasswd", "%2E%2E", "ABC" + "0" * 61, "0" * 63, "0" * 65, "g" * 64],
)
def test_a_bad_digest_is_refused_before_anything_is_read(
    team_server: str, server_store: ArtifactStore, digest: str
) -> None:
    url = f"{team_server}{API}/blobs/{digest}"
    _error(httpx.put(url, content=b"x"), 400, "invalid_input")
    _error(httpx.get(url), 400, "invalid_input")
    assert httpx.head(url).status_code == 400
    assert not list(Path(server_store.uri.removeprefix("file://")).rglob("*"))


def test_a_missing_blob_is_404_in_the_error_shape(
    team_server: str, remote: ArtifactStore, tmp_path: Path
) -> None:
    digest = hash_bytes(b"never stored")
    error = _error(httpx.get(f"{team_server}{API}/blobs/{digest}"), 404, "not_found")
    assert digest in error["message"]
    assert httpx.head(f"{team_server}{API}/blobs/{digest}").status_code == 404
    assert not remote.has(digest)
    with pytest.raises(NotFound, match=digest):
        remote.get_bytes(digest)
    with pytest.raises(NotFound):
        remote.download(digest, tmp_path / "missing.bin")
    assert not (tmp_path / "missing.bin").exists()


def test_there_is_no_delete(team_server: str, remote: ArtifactStore) -> None:
    blob = remote.put_bytes(b"shared by content")
    answer = httpx.delete(f"{team_server}{API}/blobs/{blob.digest}")
    _error(answer, 405, "method_not_allowed")
    assert remote.has(blob.digest)


def test_a_key_that_is_not_a_blob_is_refused_by_the_client(remote: ArtifactStore) -> None:
    with pytest.raises(InvalidInput, match="holds blobs only"):
        remote.backend.exists("runs/abc/model.pkl")
    with pytest.raises(InvalidInput):
        remote.backend.open("blobs/00/00/" + "1" * 64)  # the folders do not match the digest


def test_an_unreachable_server_is_a_store_error() -> None:
    store = ArtifactStore(HttpBackend("http://127.0.0.1:9", retries=0), "http://127.0.0.1:9")
    with closing(store), pytest.raises(StoreError, match="Cannot reach"):
        store.put_bytes(b"x")


class _Recorder:
    """An ASGI app in front of the team server's that notes each request's Authorization."""

    def __init__(self, app: Any) -> None:
        self.app, self.seen, self.lock = app, list[tuple[str, str | None]](), threading.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            auth = headers.get(b"authorization")
            with self.lock:
                self.seen.append((scope["method"], auth.decode() if auth else None))
        await self.app(scope, receive, send)


@pytest.fixture
def recorded(settings: Settings) -> Iterator[tuple[str, _Recorder]]:
    from cycleml.server import create_server
    from cycleml.serving import background_server

    app = create_server(settings)
    recorder = _Recorder(app)
    with background_server(recorder) as url:  # type: ignore[arg-type]
        yield url, recorder


def test_the_token_is_sent_from_the_settings_rule(
    recorded: tuple[str, _Recorder], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, recorder = recorded
    monkeypatch.delenv("CYCLEML_TRACKING_TOKEN", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "mlflow-tok")
    monkeypatch.setenv("CYCLEML_TRACKING_TOKEN", "s3cret")
    with closing(open_artifact_store(url)) as store:
        blob = store.put_bytes(b"with a token")
        store.download(blob.digest, tmp_path / "copy")
    assert {method for method, _ in recorder.seen} == {"HEAD", "PUT", "GET"}
    assert {auth for _, auth in recorder.seen} == {"Bearer s3cret"}
    with closing(ArtifactStore(HttpBackend(url, token="given"), url)) as explicit:
        assert explicit.has(blob.digest)
    assert recorder.seen[-1] == ("HEAD", "Bearer given")


def test_a_client_with_only_the_server_s_address_logs_artifacts_there(
    team_server: str, server_store: ArtifactStore, tmp_path: Path
) -> None:
    from cycleml.settings import resolve_settings
    from cycleml.tracking import TrackingClient

    laptop = resolve_settings(home=tmp_path / "laptop", tracking_uri=team_server, environ={})
    assert laptop.artifact_uri == team_server
    client = TrackingClient(laptop)
    try:
        experiment = client.create_experiment("through-the-proxy")
        run = client.create_run(experiment).info.run_id
        entry = client.log_text(run, "weights: 1, 2, 3", "model/weights.txt")
        assert server_store.get_bytes(entry.digest) == b"weights: 1, 2, 3"
        local = client.download_artifacts(run, "model/weights.txt", tmp_path / "copy")
        assert local.read_text() == "weights: 1, 2, 3"
    finally:
        client.close()
        client.artifacts.close()
    assert not (tmp_path / "laptop" / ".cycleml").exists()  # nothing was written locally
