"""The artifact backend of ``http://`` and ``https://`` URIs: a ``cycleml server``'s blob proxy.

A client with no filesystem or object storage shared with the server stores its blobs on
the server, through ``/api/v1/blobs/{digest}`` (:mod:`cycleml.server._blobs`): ``PUT``
streams a blob's bytes up (the server checks they hash to the digest), ``GET`` streams
them back, ``HEAD`` says whether the server holds it. There is no delete: blobs are shared
by content, so only the server may collect them.

Connections, retries, the token and the server's errors are the kernel's
:class:`~cycleml.store._http.ApiClient`'s. An upload is retried only when its source can
rewind (a file, a spool, bytes). Memory stays bounded both ways: the upload is sent in
chunks, the download read from the answer as it arrives, and :meth:`ArtifactStore.download`
checks the digest of what it wrote.

The token: an artifact store is opened from its URI alone (``open_artifact_store
(settings.artifact_uri)``), so :meth:`HttpBackend.from_uri` reads it from the environment
by the rule :func:`cycleml.resolve_settings` uses (:func:`cycleml.settings.tracking_token`).
Build ``ArtifactStore(HttpBackend(url, token=...), url)`` to give one explicitly.
"""

from __future__ import annotations

import io
import weakref
from collections.abc import Callable, Iterator
from typing import BinaryIO, cast

from cycleml.errors import CycleMLError, InvalidInput
from cycleml.hashing import CHUNK_SIZE
from cycleml.settings import tracking_token
from cycleml.store._artifacts import ArtifactBackend, blob_key, safe_relpath
from cycleml.store._http import API_PREFIX, ApiClient

__all__ = ["ChunkReader", "HttpBackend"]


def _digest(key: str) -> str:
    """The digest a blob key ``blobs/<d[:2]>/<d[2:4]>/<digest>`` names."""
    digest = safe_relpath(key).rsplit("/", 1)[-1]
    try:
        if blob_key(digest) == safe_relpath(key):
            return digest
    except InvalidInput:
        pass
    raise InvalidInput(
        f"Invalid artifact key {key!r} for a cycleml server: it holds blobs only, under "
        "blobs/<d[:2]>/<d[2:4]>/<digest>.",
        hint="Store files through ArtifactStore (put_file, put_bytes, put_stream).",
    )


class ChunkReader(io.RawIOBase):
    """Chunks of bytes read as a file (wrap it in ``io.BufferedReader``); ``on_close`` runs
    once, when it is closed (the streamed answer it reads is closed then)."""

    def __init__(self, chunks: Iterator[bytes], on_close: Callable[[], object] | None = None):
        super().__init__()
        self._chunks = chunks
        self._on_close = on_close
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._left:
            if (chunk := next(self._chunks, None)) is None:
                return 0
            self._left = chunk
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size

    def close(self) -> None:
        if not self.closed and self._on_close is not None:
            self._on_close()
        super().close()


class HttpBackend(ArtifactBackend):
    """Blobs stored on a ``cycleml server`` through its blob proxy.

    Args:
        url: The server, ``http(s)://host:port`` (its tracking URI).
        token: Its API token, sent as ``Authorization: Bearer <token>``.
        timeout: Seconds to wait for a connection or for each chunk.
        retries: As :class:`~cycleml.store._http.ApiClient`'s.

    Raises:
        InvalidInput: ``url`` is not an http(s) URL.
    """

    def __init__(
        self, url: str, *, token: str | None = None, timeout: float = 60.0, retries: int = 5
    ) -> None:
        self._api = ApiClient(url, token=token, timeout=timeout, retries=retries)
        self.url_base = self._api.base_url
        # Stores are opened by services that do not close them: the connections go with
        # the backend, not when the interpreter notices an unclosed socket.
        weakref.finalize(self, self._api.close)

    @classmethod
    def from_uri(cls, uri: str) -> HttpBackend:
        """The backend of an artifact URI, with the environment's token (see the module)."""
        return cls(uri, token=tracking_token())

    def __repr__(self) -> str:
        return f"HttpBackend({self.url_base!r})"

    def close(self) -> None:
        """Close the backend's connections."""
        self._api.close()

    def save(self, key: str, source: BinaryIO) -> None:
        """``PUT /blobs/{digest}`` the rest of ``source`` in chunks; re-sent (rewound) on a
        retry only if ``source`` can seek."""
        digest = _digest(key)
        rewind = source.tell() if source.seekable() else None

        def body() -> Iterator[bytes]:
            if rewind is not None:
                source.seek(rewind)
            while chunk := source.read(CHUNK_SIZE):
                yield chunk

        headers = {"Content-Type": "application/octet-stream"}
        answer = self._api.send(
            "PUT",
            f"/blobs/{digest}",
            content=body,
            headers=headers,
            retries=None if rewind is not None else 0,
        )
        answer.close()

    def open(self, key: str) -> BinaryIO:
        """``GET /blobs/{digest}``, read as it arrives; :class:`NotFound` if the server has
        no such blob."""
        answer = self._api.send("GET", f"/blobs/{_digest(key)}", stream=True)
        reader = ChunkReader(answer.iter_bytes(CHUNK_SIZE), on_close=answer.close)
        return cast(BinaryIO, io.BufferedReader(reader, CHUNK_SIZE))

    def exists(self, key: str) -> bool:
        """``HEAD /blobs/{digest}``: whether the server holds the blob."""
        try:
            self._api.send("HEAD", f"/blobs/{_digest(key)}").close()
        except CycleMLError as exc:
            if exc.status_code == 404:  # a HEAD answer has no body to name its error
                return False
            raise
        return True

    def url(self, key: str) -> str:
        """The blob's URL on the server."""
        return f"{self.url_base}{API_PREFIX}/blobs/{_digest(key)}"
