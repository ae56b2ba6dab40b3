"""cycleml's blob proxy (``/api/v1/blobs/{digest}``): artifacts stored through the server.

A client whose artifact URI is the server's (the default with an ``http(s)://`` tracking URI,
:mod:`cycleml.store._http_blobs`) stores its content-addressed blobs here, in the server's
own artifact store, so it needs no filesystem or object storage shared with the server:

* ``PUT /blobs/{digest}`` streams the body into the store (spooled to a temporary file past
  2 MB, never held whole) while hashing it with the store's hash (BLAKE3); a body that does
  not hash to ``digest`` is refused with 400 and nothing is written. Storing is idempotent:
  ``201`` when the blob is new, ``200`` when the server already held it.
* ``GET /blobs/{digest}`` streams a blob back; ``HEAD /blobs/{digest}`` says whether the
  server holds it (200 or 404).

There is **no DELETE**: a blob is shared by everything whose content it is (two runs that
logged the same file, a run and the dataset version it read), and the proxy cannot know who
else refers to it, so a client deleting "its" blob could break another owner's files.
Removing a file removes its index entry in the owning stage; collecting unreferenced blobs
is the server's job, over its whole index.

A digest that is not 64 lowercase hex characters (``..``, a path, a percent-encoded form) is
refused with 400 before anything is read.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, BinaryIO, cast

import anyio.from_thread
from fastapi import Depends, Path, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from cycleml.errors import NotFound
from cycleml.hashing import CHUNK_SIZE
from cycleml.server._app import ServerState, server_state
from cycleml.server._routes import json_response, v1_router
from cycleml.store import ArtifactStore
from cycleml.store._artifacts import blob_key
from cycleml.store._http_blobs import ChunkReader

__all__ = ["router"]


router = v1_router("blobs")

Digest = Annotated[
    str, Path(description="The hex BLAKE3 digest of the blob's bytes (64 characters).")
]
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


def _store(state: ServerState = Depends(server_state)) -> ArtifactStore:
    return state.artifacts


Store = Annotated[ArtifactStore, Depends(_store)]


class BlobOut(BaseModel):
    """A stored blob."""

    digest: str
    size: int


def _pull(chunks: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The request body's chunks, read from a worker thread (off the event loop)."""

    async def step() -> bytes | None:
        try:
            return await chunks.__anext__()
        except StopAsyncIteration:
            return None

    while (chunk := anyio.from_thread.run(step)) is not None:
        if chunk:
            yield chunk


@router.put(
    "/blobs/{digest:path}",
    status_code=201,
    response_model=BlobOut,
    summary="Store a blob",
    responses={200: {"model": BlobOut, "description": "The server already held the blob."}},
    openapi_extra={"requestBody": {"required": True, "content": _BINARY}},
)
async def put_blob(digest: Digest, request: Request, store: Store) -> Response:
    """Store the body as the blob ``digest`` (it must hash to it: 400 otherwise, and nothing
    is written); 201 if it is new, 200 if the server held it already."""
    blob_key(digest)  # a malformed digest is refused before the body is read

    def save() -> tuple[bool, int]:
        held = store.has(digest)
        source = cast(BinaryIO, io.BufferedReader(ChunkReader(_pull(request.stream()))))
        return held, store.put_stream(source, digest=digest).size

    held, size = await run_in_threadpool(save)
    return json_response({"digest": digest, "size": size}, 200 if held else 201)


@router.get(
    "/blobs/{digest:path}",
    response_class=StreamingResponse,
    responses={200: {"content": _BINARY, "description": "The blob's bytes."}},
    summary="Read a blob",
)
async def get_blob(digest: Digest, store: Store) -> Response:
    """Stream the blob's bytes; 404 if the server does not hold it."""
    source = await run_in_threadpool(store.open_blob, digest)

    def chunks() -> Iterator[bytes]:
        with source:
            while chunk := source.read(CHUNK_SIZE):
                yield chunk

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@router.head("/blobs/{digest:path}", status_code=200, summary="Check a blob")
async def has_blob(digest: Digest, store: Store) -> Response:
    """200 if the server holds the blob, 404 if not (a HEAD answer has no body)."""
    if not await run_in_threadpool(store.has, digest):
        raise NotFound(f"No blob with digest {digest} on this server.")
    return Response(status_code=200)
