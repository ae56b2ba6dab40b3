"""Content hashing with BLAKE3, used to address artifacts and data by their content."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import blake3

__all__ = ["CHUNK_SIZE", "hash_bytes", "hash_chunks", "hash_file", "hash_stream"]

#: Size of the chunks large inputs are read in (bounded memory).
CHUNK_SIZE = 1 << 20


def hash_bytes(data: bytes) -> str:
    """Return the hex BLAKE3 digest of ``data``."""
    return blake3.blake3(data).hexdigest()


def hash_chunks(chunks: Iterable[bytes]) -> str:
    """Return the hex BLAKE3 digest of the concatenation of ``chunks``."""
    hasher = blake3.blake3()
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.hexdigest()


def hash_stream(stream: BinaryIO) -> str:
    """Return the hex BLAKE3 digest of everything left in a binary ``stream``."""
    return hash_chunks(iter(lambda: stream.read(CHUNK_SIZE), b""))


def hash_file(path: str | Path) -> str:
    """Return the hex BLAKE3 digest of the file at ``path``, read in chunks."""
    with open(path, "rb") as handle:
        return hash_stream(handle)
