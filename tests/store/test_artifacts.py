"""Tests of the content-addressed artifact store (cycleml.store._artifacts)."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import os
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

import pytest

from cycleml.errors import InvalidInput, NotFound, StoreError
from cycleml.hashing import hash_bytes, hash_file
from cycleml.store import (
    ArtifactBackend,
    ArtifactStore,
    Blob,
    open_artifact_store,
    register_artifact_backend,
    safe_relpath,
)
from cycleml.store._artifacts import (
    BackendRegistry,
    FsspecBackend,
    LocalBackend,
    MemoryBackend,
    blob_key,
    default_registry,
)

MB = 1 << 20
KIND = ["local", "memory", "fsspec-memory", "fsspec-file"]


def _leftovers(backend: ArtifactBackend) -> list[str]:
    """Every file a backend holds (blobs and any temporaries)."""
    if isinstance(backend, LocalBackend):
        return sorted(str(p) for p in backend.root.rglob("*") if not p.is_dir())
    if isinstance(backend, FsspecBackend):
        if not backend.fs.exists(backend.root):
            return []
        return sorted(backend.fs.find(backend.root))
    assert isinstance(backend, MemoryBackend)
    return sorted(backend._blobs)


@pytest.fixture
def registry() -> BackendRegistry:
    return BackendRegistry()


@pytest.fixture(params=KIND)
def store(
    request: pytest.FixtureRequest, tmp_path: Path, registry: BackendRegistry
) -> Iterator[ArtifactStore]:
    kind = request.param
    if kind == "local":
        yield registry.open((tmp_path / "artifacts").as_uri())
    elif kind == "memory":
        yield registry.open(f"memory://test-{uuid.uuid4().hex}")
    elif kind == "fsspec-memory":
        uri = f"memory://cycleml-test-{uuid.uuid4().hex}"
        backend = FsspecBackend(uri)
        yield ArtifactStore(backend, uri)
        if backend.fs.exists(backend.root):  # fsspec's memory file system is process-wide
            backend.fs.rm(backend.root, recursive=True)
    else:
        uri = (tmp_path / "fsspec-artifacts").as_uri()
        yield ArtifactStore(FsspecBackend(uri), uri)


class FailingStream(io.RawIOBase):
    """Yields ``good`` bytes, then raises ``error`` (a source that breaks mid-read)."""

    def __init__(self, good: int, error: BaseException) -> None:
        self.left, self.error = good, error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.left <= 0:
            raise self.error
        n = min(len(buffer), self.left, 4096)
        buffer[:n] = b"x" * n
        self.left -= n
        return n


def _failing(good: int, error: BaseException) -> BinaryIO:
    return cast(BinaryIO, io.BufferedReader(FailingStream(good, error)))


def _write_random(path: Path, size: int) -> Path:
    with path.open("wb") as out:
        for _ in range(size // MB):
            out.write(os.urandom(MB))
        out.write(os.urandom(size % MB))
    return path


# --- round trips -------------------------------------------------------------------------


def test_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    data = b"hello artifacts\n" * 1000
    blob = store.put_bytes(data)
    assert blob == Blob(hash_bytes(data), len(data))
    assert store.has(blob.digest)
    assert store.get_bytes(blob.digest) == data
    with store.open_blob(blob.digest) as handle:
        assert handle.read() == data
    assert store.verify(blob.digest)
    out = store.download(blob.digest, tmp_path / "out" / "nested" / "file.bin")
    assert out.read_bytes() == data
    assert blob.digest in store.blob_url(blob.digest)
    assert store.blob_url(blob.digest).endswith(blob_key(blob.digest))


def test_put_file_and_stream_match_put_bytes(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(3 * MB + 17)
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    by_bytes = store.put_bytes(data)
    assert store.put_file(path) == by_bytes
    with path.open("rb") as handle:
        assert store.put_stream(handle) == by_bytes
    assert by_bytes.digest == hash_bytes(data) == hash_file(path)
    assert store.get_bytes(by_bytes.digest) == data


def test_empty_blob(store: ArtifactStore) -> None:
    blob = store.put_bytes(b"")
    assert blob == Blob(hash_bytes(b""), 0)
    assert store.get_bytes(blob.digest) == b""
    assert store.put_stream(io.BytesIO(b"")) == blob


def test_identical_content_stored_once(store: ArtifactStore, tmp_path: Path) -> None:
    data = b"same bytes" * 100
    path = tmp_path / "same.txt"
    path.write_bytes(data)
    blobs = {store.put_bytes(data), store.put_file(path), store.put_stream(io.BytesIO(data))}
    assert len(blobs) == 1
    assert len(_leftovers(store.backend)) == 1
    store.put_bytes(b"other")
    assert len(_leftovers(store.backend)) == 2


def test_local_layout_and_single_file_on_disk(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "root"), registry=BackendRegistry())
    digest = store.put_bytes(b"abc").digest
    store.put_bytes(b"abc")
    files = [p for p in (tmp_path / "root").rglob("*") if p.is_file()]
    assert files == [tmp_path / "root" / "blobs" / digest[:2] / digest[2:4] / digest]
    assert store.blob_url(digest) == files[0].as_uri()


class CountingBackend(MemoryBackend):
    def __init__(self) -> None:
        super().__init__("counting")
        self.saves = 0

    def save(self, key: str, source: BinaryIO) -> None:
        self.saves += 1
        super().save(key, source)


def test_existing_blob_is_not_written_again(tmp_path: Path) -> None:
    backend = CountingBackend()
    store = ArtifactStore(backend, "counting://x")
    path = tmp_path / "f"
    path.write_bytes(b"payload")
    for _ in range(3):
        store.put_bytes(b"payload")
        store.put_file(path)
        store.put_stream(io.BytesIO(b"payload"))
    assert backend.saves == 1


@pytest.mark.parametrize("kind", ["local", "fsspec-file"])
def test_large_file_streams_with_bounded_memory(kind: str, tmp_path: Path) -> None:
    size = 20 * MB + 123
    path = _write_random(tmp_path / "big.bin", size)
    uri = (tmp_path / "store").as_uri()
    store = open_artifact_store(uri) if kind == "local" else ArtifactStore(FsspecBackend(uri), uri)
    tracemalloc.start()
    try:
        blob = store.put_file(path)
        _, peak_file = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with path.open("rb") as handle:
            assert store.put_stream(handle) == blob
        _, peak_stream = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob == Blob(hash_file(path), size)
    assert peak_file < 8 * MB, f"put_file peaked at {peak_file / MB:.1f} MB"
    assert peak_stream < 8 * MB, f"put_stream peaked at {peak_stream / MB:.1f} MB"
    assert store.verify(blob.digest)
    out = store.download(blob.digest, tmp_path / "copy.bin")
    assert hash_file(out) == blob.digest
    assert out.stat().st_size == size


# --- atomicity -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"), [(RuntimeError("boom"), RuntimeError), (OSError("disk"), StoreError)]
)
def test_failing_source_leaves_nothing(
    store: ArtifactStore, error: BaseException, expected: type[BaseException]
) -> None:
    key = blob_key("a" * 64)
    with pytest.raises(expected):
        store.backend.save(key, _failing(3 * MB, error))
    assert not store.backend.exists(key)
    assert _leftovers(store.backend) == []
    with pytest.raises(expected):
        store.put_stream(_failing(3 * MB, error))
    assert _leftovers(store.backend) == []


def test_failed_save_keeps_existing_blob(store: ArtifactStore) -> None:
    key = blob_key("b" * 64)
    store.backend.save(key, io.BytesIO(b"old"))
    with pytest.raises(RuntimeError):
        store.backend.save(key, _failing(MB, RuntimeError("boom")))
    with store.backend.open(key) as handle:
        assert handle.read() == b"old"
    assert len(_leftovers(store.backend)) == 1


class MutatingBackend(LocalBackend):
    """Appends to the source file just before saving, as a concurrent writer would."""

    def __init__(self, root: Path, victim: Path) -> None:
        super().__init__(root)
        self.victim = victim

    def save(self, key: str, source: BinaryIO) -> None:
        with self.victim.open("ab") as out:
            out.write(b"appended while storing")
        super().save(key, source)


def test_file_changed_while_storing_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"original" * 1000)
    backend = MutatingBackend(tmp_path / "root", victim)
    store = ArtifactStore(backend, "mutating://")
    with pytest.raises(StoreError, match="changed while it was being stored"):
        store.put_file(victim)
    assert _leftovers(backend) == []


def test_corrupt_blob_fails_verify_and_download(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "root"))
    blob = store.put_bytes(b"good content")
    assert isinstance(store.backend, LocalBackend)
    (store.backend.root / blob_key(blob.digest)).write_bytes(b"evil content")
    assert store.verify(blob.digest) is False
    dest = tmp_path / "dest.bin"
    with pytest.raises(StoreError, match="corrupt"):
        store.download(blob.digest, dest)
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".dest")] == []


def test_download_replaces_existing_file_and_refuses_directory(
    store: ArtifactStore, tmp_path: Path
) -> None:
    dest = tmp_path / "dest.bin"
    dest.write_bytes(b"previous")
    blob = store.put_bytes(b"new")
    assert store.download(blob.digest, dest).read_bytes() == b"new"
    with pytest.raises(InvalidInput, match="directory"):
        store.download(blob.digest, tmp_path)


# --- errors ----------------------------------------------------------------------------------


def test_missing_digest_is_not_found(store: ArtifactStore, tmp_path: Path) -> None:
    digest = hash_bytes(b"never stored")
    assert not store.has(digest)
    for call in (store.get_bytes, store.open_blob, store.verify):
        with pytest.raises(NotFound, match=digest) as info:
            call(digest)
        assert isinstance(info.value, KeyError)
    with pytest.raises(NotFound):
        store.download(digest, tmp_path / "never.bin")
    assert not (tmp_path / "never.bin").exists()


@pytest.mark.parametrize(
    "digest", ["", "abc", "g" * 64, "A" * 64, "a" * 63, "a" * 65, "../" + "a" * 61, "a" * 63 + "\n"]
)
def test_bad_digest_is_invalid_input(store: ArtifactStore, digest: str) -> None:
    for call in (store.get_bytes, store.has, store.verify, store.blob_url, store.open_blob):
        with pytest.raises(InvalidInput, match="64 lowercase hex"):
            call(digest)


def test_blob_key_layout_and_blob_is_frozen() -> None:
    digest = hash_bytes(b"x")
    assert blob_key(digest) == f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"
    blob = Blob(digest, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        blob.size = 2  # type: ignore[misc]


def test_put_file_of_missing_path_is_invalid(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not an existing file"):
        store.put_file(tmp_path / "missing.bin")
    with pytest.raises(InvalidInput):
        store.put_file(tmp_path)


def test_delete(store: ArtifactStore) -> None:
    blob = store.put_bytes(b"to delete")
    store.backend.delete(blob_key(blob.digest))
    assert not store.has(blob.digest)
    store.backend.delete(blob_key(blob.digest))  # deleting a missing blob is fine


# --- paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("model.pkl", "model.pkl"),
        ("a/./b", "a/b"),
        ("./a//b/", "a/b"),
        ("a\\b\\c.txt", "a/b/c.txt"),
        ("dir/...hidden", "dir/...hidden"),
        ("with space/x", "with space/x"),
    ],
)
def test_safe_relpath_normalizes(given: str, expected: str) -> None:
    assert safe_relpath(given) == expected


BAD_PATHS = [
    "",
    "   ",
    ".",
    "./",
    "/etc/passwd",
    "../etc/passwd",
    "a/../../b",
    "a/../b",
    "..",
    "..\\..\\x",
    "a\\..\\..\\x",
    "C:\\x",
    "c:/x",
    "\\\\server\\share\\x",
    "a\x00b",
]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_safe_relpath_refuses(bad: str) -> None:
    with pytest.raises(InvalidInput) as info:
        safe_relpath(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert "relative POSIX path" in message


@pytest.mark.parametrize("bad", ["../etc/passwd", "/etc/passwd", "a/../../b", "..\\..\\x", "a\x00"])
def test_backend_keys_cannot_escape(store: ArtifactStore, bad: str) -> None:
    backend = store.backend
    with pytest.raises(InvalidInput):
        backend.save(bad, io.BytesIO(b"pwned"))
    for call in (backend.open, backend.exists, backend.url, backend.delete):
        with pytest.raises(InvalidInput):
            call(bad)
    assert _leftovers(backend) == []


def test_local_backend_refuses_symlinks_out_of_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "filelink").symlink_to(outside / "secret")
    backend = LocalBackend(root)
    with pytest.raises(InvalidInput, match="outside the store root"):
        backend.save("link/new", io.BytesIO(b"pwned"))
    for key in ("link/secret", "filelink"):
        for call in (backend.open, backend.exists, backend.delete):
            with pytest.raises(InvalidInput, match="outside the store root"):
                call(key)
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_bytes() == b"secret"


def test_store_refuses_blobs_dir_symlinked_out_of_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "blobs").symlink_to(outside, target_is_directory=True)
    store = open_artifact_store(root.as_uri(), registry=BackendRegistry())
    with pytest.raises(InvalidInput):
        store.put_bytes(b"data")
    assert list(outside.iterdir()) == []


def test_symlinked_root_itself_is_fine(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    store = open_artifact_store(str(tmp_path / "alias"), registry=BackendRegistry())
    blob = store.put_bytes(b"through a symlinked root")
    assert (real / blob_key(blob.digest)).read_bytes() == b"through a symlinked root"


# --- registry -------------------------------------------------------------------------------


def test_uri_forms_pick_backends(tmp_path: Path, registry: BackendRegistry) -> None:
    for uri in (str(tmp_path / "a"), (tmp_path / "a").as_uri(), f"file://localhost{tmp_path}/a"):
        backend = registry.open(uri).backend
        assert isinstance(backend, LocalBackend)
        assert backend.root == (tmp_path / "a").resolve()
    assert isinstance(registry.open("memory://x").backend, MemoryBackend)
    fallback = registry.open(f"local://{tmp_path}/b")
    assert isinstance(fallback.backend, FsspecBackend)
    digest = fallback.put_bytes(b"via fsspec fallback").digest
    assert (tmp_path / "b" / blob_key(digest)).read_bytes() == b"via fsspec fallback"


@pytest.mark.parametrize("uri", ["", "file://otherhost/x", "file://", "bad\x00uri"])
def test_bad_uris_are_invalid(registry: BackendRegistry, uri: str) -> None:
    with pytest.raises(InvalidInput):
        registry.open(uri)


def test_unknown_scheme_lists_known_ones(registry: BackendRegistry) -> None:
    with pytest.raises(InvalidInput) as info:
        registry.open("nosuchscheme://bucket/path")
    message = str(info.value)
    assert "'nosuchscheme'" in message
    assert "file, http, https, memory" in message
    assert "fsspec" in message
    assert info.value.details["known"] == ["file", "http", "https", "memory"]


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed")
def test_missing_fsspec_package_says_what_to_install(registry: BackendRegistry) -> None:
    with pytest.raises(InvalidInput, match="s3fs"):
        registry.open("s3://bucket/artifacts")


def test_memory_stores_share_by_name_within_a_registry(registry: BackendRegistry) -> None:
    name = f"shared-{uuid.uuid4().hex}"
    blob = registry.open(f"memory://{name}").put_bytes(b"shared")
    assert registry.open(f"memory://{name}/").get_bytes(blob.digest) == b"shared"
    assert not registry.open(f"memory://{name}-other").has(blob.digest)
    assert not BackendRegistry().open(f"memory://{name}").has(blob.digest)


def test_custom_backend_registration(registry: BackendRegistry) -> None:
    seen: list[str] = []
    shared = MemoryBackend("custom")

    def factory(uri: str) -> ArtifactBackend:
        seen.append(uri)
        return shared

    registry.register("Custom+Proto", factory)
    assert "custom+proto" in registry.schemes()
    store = registry.open("custom+proto://bucket/x")
    blob = store.put_bytes(b"custom")
    assert seen == ["custom+proto://bucket/x"]
    assert store.backend is shared
    assert registry.open("CUSTOM+PROTO://y").get_bytes(blob.digest) == b"custom"
    registry.unregister("custom+proto")
    with pytest.raises(InvalidInput, match="Unknown artifact store scheme"):
        registry.open("custom+proto://bucket/x")


def test_register_overrides_builtin_scheme(registry: BackendRegistry) -> None:
    backend = MemoryBackend("override")
    registry.register("file", lambda uri: backend)
    assert registry.open("file:///anywhere").backend is backend
    assert isinstance(BackendRegistry().open("file:///anywhere").backend, LocalBackend)


def test_default_registry_functions() -> None:
    scheme = f"t{uuid.uuid4().hex[:8]}"
    backend = MemoryBackend(scheme)
    register_artifact_backend(scheme, lambda uri: backend)
    try:
        assert open_artifact_store(f"{scheme}://x").backend is backend
        assert scheme in default_registry.schemes()
    finally:
        default_registry.unregister(scheme)
    assert scheme not in default_registry.schemes()


@pytest.mark.parametrize("scheme", ["", "1abc", "a", "has space", "sch/eme", "s:"])
def test_bad_scheme_names_are_refused(registry: BackendRegistry, scheme: str) -> None:
    factory: Callable[[str], ArtifactBackend] = MemoryBackend
    with pytest.raises(InvalidInput, match="Invalid URI scheme"):
        registry.register(scheme, factory)
