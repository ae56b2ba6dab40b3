"""The artifact store: content-addressed blobs behind pluggable backends.

A blob is stored once under ``blobs/<d[:2]>/<d[2:4]>/<digest>`` (``digest``: hex BLAKE3 of its
bytes); the metadata store maps logical paths to digests. A :class:`BackendRegistry` picks the
backend by URI scheme: ``file://`` and plain paths -> :class:`LocalBackend`, ``memory://`` ->
:class:`MemoryBackend` (tests only), ``http://`` and ``https://`` -> a ``cycleml server``'s blob
proxy (:class:`cycleml.store._http_blobs.HttpBackend`), any other fsspec scheme ->
:class:`FsspecBackend`. Writes go to a temporary name and are renamed into place: readers never
see a partial blob.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit
from urllib.request import url2pathname

import blake3
import fsspec
import fsspec.core

from cycleml.errors import InvalidInput, NotFound, StoreError
from cycleml.hashing import CHUNK_SIZE, hash_bytes, hash_chunks

__all__ = [
    "ArtifactBackend",
    "ArtifactStore",
    "BackendFactory",
    "BackendRegistry",
    "Blob",
    "FsspecBackend",
    "LocalBackend",
    "MemoryBackend",
    "blob_key",
    "default_registry",
    "open_artifact_store",
    "register_artifact_backend",
    "safe_relpath",
]

_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.-]+")
_SPOOL_MAX = 2 * CHUNK_SIZE  # put_stream holds at most this much in memory, then spools to disk
_PATH_HINT = "Use a relative POSIX path such as 'model/weights.bin' (no '/', 'C:', '..' or NUL)."


@contextmanager
def _io_errors(action: str) -> Iterator[None]:
    """Translate ``OSError`` (also fsspec's) into :class:`StoreError`."""
    try:
        yield
    except OSError as exc:
        raise StoreError(f"The artifact store could not {action}: {exc}.") from exc


def safe_relpath(path: str) -> str:
    """Normalize a user-given logical artifact path to a clean relative POSIX path.

    Backslashes are separators; ``.`` components and repeated slashes are dropped
    (``a\\b/./c//d`` -> ``a/b/c/d``). Empty, absolute (``/x``, ``C:\\x``) and NUL-containing
    paths are refused with :class:`InvalidInput`, and so is *any* ``..`` component, even a
    harmless one like ``a/../b``: refusing is simpler and safer than normalizing.
    """
    posix = path.replace("\\", "/")
    parts = [part for part in posix.split("/") if part not in ("", ".")]
    if "\x00" in path:
        reason = "it contains a NUL byte"
    elif not posix.strip():
        reason = "it is empty"
    elif posix.startswith("/") or re.match(r"[A-Za-z]:", posix):
        reason = "it is absolute"
    elif ".." in parts:
        reason = "it contains a '..' component"
    elif not parts:
        reason = "it names no file or folder"
    else:
        return "/".join(parts)
    raise InvalidInput(f"Invalid artifact path {path!r}: {reason}.", hint=_PATH_HINT)


def blob_key(digest: str) -> str:
    """Return the key ``blobs/<d[:2]>/<d[2:4]>/<digest>``; :class:`InvalidInput` if malformed."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise InvalidInput(
            f"Invalid blob digest {digest!r}: expected 64 lowercase hex characters "
            "(a BLAKE3 digest as returned by put_bytes/put_file)."
        )
    return f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"


def _copy(source: BinaryIO, write: Callable[[bytes], object]) -> None:
    while chunk := source.read(CHUNK_SIZE):
        write(chunk)


def _hash_copy(source: BinaryIO, sink: Callable[[bytes], object] | None = None) -> tuple[str, int]:
    """Hash ``source`` in chunks, feeding each to ``sink``; return ``(digest, size)``."""
    size = 0

    def chunks() -> Iterator[bytes]:
        nonlocal size
        while chunk := source.read(CHUNK_SIZE):
            size += len(chunk)
            if sink is not None:
                sink(chunk)
            yield chunk

    return hash_chunks(chunks()), size


def _write_atomically(path: Path, fill: Callable[[BinaryIO], object]) -> None:
    """Let ``fill`` write a temporary file beside ``path``; fsync and rename it into place.

    If anything fails (``fill`` included) the temporary file is removed and nothing changes.
    """
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("xb") as out:
            fill(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    with suppress(OSError):  # persist the rename; directories cannot be opened on Windows
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _VerifyingReader(io.BufferedIOBase):
    """Pass reads through; at end of input raise if the content no longer hashes to ``digest``.

    Raising before the end makes the backend drop its temporary, so a file that changed
    between hashing and copying never lands under the wrong key.
    """

    def __init__(self, raw: BinaryIO, digest: str, what: str) -> None:
        super().__init__()
        self._raw, self._digest, self._what = raw, digest, what
        self._hasher = blake3.blake3()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._raw.seekable()

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        """Rewind to the start (a backend re-sending the blob); other positions are refused."""
        if (offset, whence) != (0, os.SEEK_SET):
            raise io.UnsupportedOperation("a verifying reader only rewinds to the start")
        self._hasher = blake3.blake3()
        return self._raw.seek(0)

    def read(self, size: int | None = -1, /) -> bytes:
        data = self._raw.read(-1 if size is None else size)
        self._hasher.update(data)
        if (not data or size is None or size < 0) and self._hasher.hexdigest() != self._digest:
            raise StoreError(
                f"{self._what} changed while it was being stored; nothing was stored.",
                hint="Store it again once nothing is writing to it.",
            )
        return data


class ArtifactBackend(ABC):
    """Where blob bytes live. Keys are clean relative POSIX paths like ``blobs/ab/cd/<d>``."""

    @abstractmethod
    def save(self, key: str, source: BinaryIO) -> None:
        """Store all of ``source`` under ``key`` atomically (temporary name, then rename).

        If ``source`` raises, nothing is left behind, not even the temporary.
        """

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Open the blob under ``key`` for reading; :class:`NotFound` if missing."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Return whether a blob is stored under ``key``."""

    @abstractmethod
    def url(self, key: str) -> str:
        """Return a URL naming the blob under ``key`` (it need not exist)."""

    def delete(self, key: str) -> None:
        """Remove the blob under ``key``, if any (for tests and garbage collection)."""
        raise NotImplementedError(f"{type(self).__name__} cannot delete blobs.")

    def close(self) -> None:  # noqa: B027 - most backends hold nothing to release
        """Release the backend's connections, if it holds any."""


class LocalBackend(ArtifactBackend):
    """Blobs as files under ``root``; refuses keys that escape it, even through symlinks."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def _path(self, key: str) -> Path:
        try:
            path = (self.root / safe_relpath(key)).resolve()
        except (OSError, RuntimeError) as exc:  # RuntimeError: symlink loop on Python 3.11
            raise InvalidInput(f"Artifact key {key!r} cannot be resolved: {exc}.") from exc
        if not path.is_relative_to(self.root):
            raise InvalidInput(
                f"Artifact key {key!r} resolves to {str(path)!r}, outside the store root "
                f"{str(self.root)!r}: a symlink points out of it.",
                hint="Remove the symlink or use another artifact root.",
            )
        return path

    def save(self, key: str, source: BinaryIO) -> None:
        """Write a temporary file beside the target, fsync it, then ``os.replace`` it."""
        path = self._path(key)
        with _io_errors(f"write blob {key!r} under {str(self.root)!r}"):
            _write_atomically(path, lambda out: _copy(source, out.write))

    def open(self, key: str) -> BinaryIO:
        """Open the blob file; :class:`NotFound` if it does not exist."""
        path = self._path(key)
        with _io_errors(f"read blob {key!r} under {str(self.root)!r}"):
            try:
                return path.open("rb")
            except (FileNotFoundError, IsADirectoryError) as exc:
                raise NotFound(f"No blob {key!r} in artifact store {str(self.root)!r}.") from exc

    def exists(self, key: str) -> bool:
        """Return whether the blob file exists."""
        return self._path(key).is_file()

    def url(self, key: str) -> str:
        """Return the blob's ``file://`` URL."""
        return self._path(key).as_uri()

    def delete(self, key: str) -> None:
        """Remove the blob file, if any."""
        with _io_errors(f"delete blob {key!r}"):
            self._path(key).unlink(missing_ok=True)


class MemoryBackend(ArtifactBackend):
    """In-process blobs, **for tests only**; data is lost when the process exits.

    Backends given the same ``blobs`` dict share data. :class:`BackendRegistry` keeps one dict
    per ``memory://<name>``, so stores opened under one name through one registry (the default
    registry is process-wide) see each other's blobs.
    """

    def __init__(self, name: str = "default", blobs: dict[str, bytes] | None = None) -> None:
        self.name = name
        self._blobs: dict[str, bytes] = {} if blobs is None else blobs

    def save(self, key: str, source: BinaryIO) -> None:
        """Read all of ``source``, then publish it in one dict assignment."""
        clean, chunks = safe_relpath(key), list[bytes]()
        with _io_errors(f"read the source of blob {key!r}"):
            _copy(source, chunks.append)
        self._blobs[clean] = b"".join(chunks)

    def open(self, key: str) -> BinaryIO:
        """Return the blob as a ``BytesIO``; :class:`NotFound` if missing."""
        try:
            return io.BytesIO(self._blobs[safe_relpath(key)])
        except KeyError as exc:
            raise NotFound(f"No blob {key!r} in artifact store 'memory://{self.name}'.") from exc

    def exists(self, key: str) -> bool:
        """Return whether the blob is held."""
        return safe_relpath(key) in self._blobs

    def url(self, key: str) -> str:
        """Return ``memory://<name>/<key>``."""
        return f"memory://{self.name}/{safe_relpath(key)}"

    def delete(self, key: str) -> None:
        """Forget the blob, if held."""
        self._blobs.pop(safe_relpath(key), None)


class FsspecBackend(ArtifactBackend):
    """Blobs on any fsspec file system (``s3://``, ``gcs://``, fsspec's own ``memory://``, ...).

    ``storage_options`` go to the file system (credentials, endpoint...). :class:`InvalidInput`
    if fsspec does not know the scheme or the package it needs (e.g. s3fs) is not installed.
    """

    def __init__(self, uri: str, **storage_options: Any) -> None:
        try:
            fs, root = fsspec.core.url_to_fs(uri, **storage_options)
        except ImportError as exc:
            raise InvalidInput(
                f"The artifact store URI {uri!r} needs a package that is not installed: {exc}.",
                hint="Install it (for example `pip install s3fs` for s3://) and retry.",
            ) from exc
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"fsspec cannot open artifact store URI {uri!r}: {exc}.") from exc
        self.uri, self.root = uri, str(root)
        self.fs: Any = fs

    def _path(self, key: str) -> str:
        return posixpath.join(self.root, safe_relpath(key))

    def save(self, key: str, source: BinaryIO) -> None:
        """Write ``<key>.tmp-<uuid>``, then ``fs.mv`` it into place."""
        path = self._path(key)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        try:
            with _io_errors(f"write blob {key!r} under {self.uri!r}"):
                self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
                with self.fs.open(tmp, "wb") as out:
                    _copy(source, out.write)
                self.fs.mv(tmp, path)
        except BaseException:
            with suppress(Exception):  # best effort: the original error matters more
                self.fs.rm(tmp)
            raise

    def open(self, key: str) -> BinaryIO:
        """Open the blob; :class:`NotFound` if missing."""
        with _io_errors(f"read blob {key!r} under {self.uri!r}"):
            try:
                return cast(BinaryIO, self.fs.open(self._path(key), "rb"))
            except FileNotFoundError as exc:
                raise NotFound(f"No blob {key!r} in artifact store {self.uri!r}.") from exc

    def exists(self, key: str) -> bool:
        """Return whether the blob exists."""
        with _io_errors(f"check blob {key!r} under {self.uri!r}"):
            return bool(self.fs.exists(self._path(key)))

    def url(self, key: str) -> str:
        """Return the blob's URL with its protocol (``s3://bucket/...``)."""
        return str(self.fs.unstrip_protocol(self._path(key)))

    def delete(self, key: str) -> None:
        """Remove the blob, if any."""
        with _io_errors(f"delete blob {key!r} under {self.uri!r}"), suppress(FileNotFoundError):
            self.fs.rm(self._path(key))


def _local_from_uri(uri: str) -> LocalBackend:
    parts = urlsplit(uri)
    if len(parts.scheme) <= 1:  # a plain path, or a Windows one like C:\x
        return LocalBackend(Path(uri))
    if parts.netloc not in ("", "localhost") or not parts.path:
        raise InvalidInput(
            f"Artifact store URI {uri!r} is not a local file URI.",
            hint="Use file:///absolute/path (three slashes) or a plain path.",
        )
    return LocalBackend(Path(url2pathname(parts.path)))


def _http_from_uri(uri: str) -> ArtifactBackend:
    from cycleml.store._http_blobs import HttpBackend  # httpx only when a server is used

    return HttpBackend.from_uri(uri)


#: Builds a backend from a store URI.
BackendFactory = Callable[[str], ArtifactBackend]


class BackendRegistry:
    """Maps URI schemes to backend factories; schemes it lacks fall back to fsspec.

    ``builtins`` registers ``file``, ``memory``, ``http`` and ``https`` (a ``cycleml server``'s
    blob proxy, in place of fsspec's read-only HTTP file system). Tests can make their own
    registry.
    """

    def __init__(self, *, builtins: bool = True) -> None:
        self._factories: dict[str, BackendFactory] = {}
        self._memory: dict[str, dict[str, bytes]] = {}
        if builtins:
            self.register("file", _local_from_uri)
            self.register("memory", self._memory_backend)
            self.register("http", _http_from_uri)
            self.register("https", _http_from_uri)

    def _memory_backend(self, uri: str) -> MemoryBackend:
        name = uri.split("://", 1)[-1].strip("/") or "default"
        return MemoryBackend(name, self._memory.setdefault(name, {}))

    def register(self, scheme: str, factory: BackendFactory) -> None:
        """Use ``factory`` for URIs with ``scheme``, replacing any earlier one."""
        if not _SCHEME_RE.fullmatch(scheme.lower()):
            raise InvalidInput(
                f"Invalid URI scheme {scheme!r}: expected a letter, then at least one letter, "
                "digit, '+', '-' or '.' (for example 'gcs')."
            )
        self._factories[scheme.lower()] = factory

    def unregister(self, scheme: str) -> None:
        """Forget the factory for ``scheme``, if any."""
        self._factories.pop(scheme.lower(), None)

    def schemes(self) -> list[str]:
        """Return the registered schemes, sorted."""
        return sorted(self._factories)

    def backend_for(self, uri: str) -> ArtifactBackend:
        """Build the backend for ``uri``; :class:`InvalidInput` for an unknown scheme."""
        if not uri or "\x00" in uri:
            raise InvalidInput(f"Invalid artifact store URI {uri!r}.", hint="Try file:///a/path.")
        scheme = urlsplit(uri).scheme.lower()
        scheme = scheme if len(scheme) > 1 else "file"  # plain paths, C:\x
        if (factory := self._factories.get(scheme)) is not None:
            return factory(uri)
        protocols = sorted(fsspec.available_protocols())
        if scheme in protocols:
            return FsspecBackend(uri)
        raise InvalidInput(
            f"Unknown artifact store scheme {scheme!r} in {uri!r}. Known schemes: "
            f"{', '.join(self.schemes())}, or an fsspec protocol such as s3, gcs or az.",
            hint="Fix the URI or register a backend with register_artifact_backend().",
            details={"scheme": scheme, "known": self.schemes(), "fsspec": protocols},
        )

    def open(self, uri: str) -> ArtifactStore:
        """Open the :class:`ArtifactStore` at ``uri``."""
        return ArtifactStore(self.backend_for(uri), uri)


#: The registry :func:`open_artifact_store` and :func:`register_artifact_backend` use.
default_registry = BackendRegistry()


def register_artifact_backend(scheme: str, factory: BackendFactory) -> None:
    """Register ``factory`` for ``scheme`` in the default registry."""
    default_registry.register(scheme, factory)


def open_artifact_store(uri: str, registry: BackendRegistry | None = None) -> ArtifactStore:
    """Open the artifact store at ``uri`` (a path, ``file://``, ``memory://``, ``s3://``...)."""
    return (registry or default_registry).open(uri)


@dataclass(frozen=True)
class Blob:
    """A stored blob: its hex BLAKE3 ``digest`` and its ``size`` in bytes."""

    digest: str
    size: int


class ArtifactStore:
    """Content-addressed blobs on one backend; identical content is stored once.

    Digests must be 64 lowercase hex characters (:class:`InvalidInput` otherwise); reading
    a digest that is not stored raises :class:`NotFound`, backend I/O failures
    :class:`StoreError`.
    """

    def __init__(self, backend: ArtifactBackend, uri: str) -> None:
        self.backend, self.uri = backend, uri

    def __repr__(self) -> str:
        return f"ArtifactStore({self.uri!r})"

    def close(self) -> None:
        """Release the backend's connections (a server's blob proxy holds some)."""
        self.backend.close()

    def _save(self, digest: str, source: BinaryIO) -> None:
        key = blob_key(digest)
        if not self.backend.exists(key):  # dedupe: content-addressed blobs never change
            self.backend.save(key, source)

    def put_bytes(self, data: bytes) -> Blob:
        """Store ``data`` and return its :class:`Blob`."""
        blob = Blob(hash_bytes(data), len(data))
        self._save(blob.digest, io.BytesIO(data))
        return blob

    def put_file(self, path: str | Path) -> Blob:
        """Store the file at ``path``: hash it in chunks, then copy it (bounded memory).

        :class:`InvalidInput` if it is not a regular file; :class:`StoreError` if I/O fails or
        the file changes while it is being stored.
        """
        src = Path(path)
        if not src.is_file():
            raise InvalidInput(f"Cannot store {str(src)!r}: it is not an existing file.")
        with _io_errors(f"store {str(src)!r}"), src.open("rb") as handle:
            digest, size = _hash_copy(handle)
            handle.seek(0)
            self._save(digest, cast(BinaryIO, _VerifyingReader(handle, digest, f"{src}")))
        return Blob(digest, size)

    def put_stream(self, stream: BinaryIO, *, digest: str | None = None) -> Blob:
        """Store what is left in ``stream``, spooling it to a temporary file past 2 MB.

        With ``digest``, the content must hash to it: :class:`InvalidInput` otherwise, and
        nothing is stored (a blob proxy checks what a client claims to send).
        """
        if digest is not None:
            blob_key(digest)  # refuse a malformed digest before reading anything
        with _io_errors("spool a stream"), tempfile.SpooledTemporaryFile(_SPOOL_MAX) as spool:
            actual, size = _hash_copy(stream, spool.write)
            if digest is not None and actual != digest:
                raise InvalidInput(
                    f"The content does not match digest {digest}: its {size} bytes hash "
                    f"to {actual}; nothing was stored.",
                    hint="Send the blob's bytes unchanged, under the BLAKE3 digest of them.",
                    details={"digest": digest, "actual": actual, "size": size},
                )
            spool.seek(0)
            self._save(actual, cast(BinaryIO, spool))
        return Blob(actual, size)

    def open_blob(self, digest: str) -> BinaryIO:
        """Open a stored blob for reading."""
        try:
            return self.backend.open(blob_key(digest))
        except NotFound as exc:
            raise NotFound(
                f"No blob with digest {digest} in artifact store {self.uri!r}.",
                hint="Check the digest, and that the metadata and artifact stores belong together.",
                details={"digest": digest, "store": self.uri},
            ) from exc

    def get_bytes(self, digest: str) -> bytes:
        """Return a stored blob's bytes (all in memory; :meth:`download` large ones)."""
        with self.open_blob(digest) as source, _io_errors(f"read blob {digest}"):
            return source.read()

    def has(self, digest: str) -> bool:
        """Return whether a blob with ``digest`` is stored."""
        return self.backend.exists(blob_key(digest))

    def blob_url(self, digest: str) -> str:
        """Return the backend URL of the blob with ``digest``."""
        return self.backend.url(blob_key(digest))

    def verify(self, digest: str) -> bool:
        """Re-hash the stored bytes: ``False`` if they no longer match ``digest``."""
        with self.open_blob(digest) as source, _io_errors(f"read blob {digest}"):
            return _hash_copy(source)[0] == digest

    def download(self, digest: str, dest: str | Path) -> Path:
        """Copy a blob to ``dest`` atomically, checking its digest on the way; return ``dest``.

        :class:`InvalidInput` if ``dest`` is a directory; :class:`StoreError` if the stored
        bytes are corrupt (``dest`` is then left untouched).
        """
        target = Path(dest)
        if target.is_dir():
            raise InvalidInput(f"Cannot download blob {digest} to {str(target)!r}: a directory.")

        def fill(out: BinaryIO) -> None:
            if (actual := _hash_copy(source, out.write)[0]) != digest:
                raise StoreError(
                    f"Blob {digest} in {self.uri!r} is corrupt: its bytes hash to {actual}.",
                    hint="Delete it and store the original again.",
                )

        with self.open_blob(digest) as source, _io_errors(f"download blob {digest}"):
            _write_atomically(target, fill)
        return target
