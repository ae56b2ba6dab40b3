"""Dataset versions: ingest a source into immutable, content-addressed Parquet, load it back.

Rows stream from the source into Parquet parts in a staging folder (bounded memory), are
hashed over a canonical encoding (the Arrow IPC stream of the schema and of the rows cut
into fixed-size batches, so the same rows and schema give the same digest whatever batches
the source produced), then stored as blobs. The metadata store records the version in one
transaction at the very end: a killed ingest leaves no visible version, only staging files
that the next ingest removes.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, get_args
from urllib.parse import urlparse
from urllib.request import url2pathname

import blake3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from cycleml._api import deprecated_method, renamed_parameters, warn_renamed
from cycleml._optional import require
from cycleml.data._compare import Profile, ProfileComparison
from cycleml.data._compare import compare as compare_profiles
from cycleml.data._entities import DatasetPart, DatasetVersion
from cycleml.data._profile import profile
from cycleml.data._repository import DatasetRepository, SqlDatasetRepository
from cycleml.data._rest import RestDatasetRepository
from cycleml.data._sources import FileSource, FrameSource, Source
from cycleml.data._validate import RulesInput, ValidationReport, split_failing, validate
from cycleml.errors import InvalidInput, NotFound
from cycleml.settings import Settings
from cycleml.spec import Policy, ProjectSpec, service_project
from cycleml.spec._rules import ROW_LEVEL_RULES
from cycleml.store import (
    ArtifactStore,
    Database,
    notify_dataset_read,
    open_artifact_store,
    open_database,
)

if TYPE_CHECKING:
    import duckdb

__all__ = ["CANONICAL_BATCH_ROWS", "Datasets", "IngestResult", "as_source", "canonical_digest"]

#: Rows per batch of the canonical encoding that versions are hashed over.
CANONICAL_BATCH_ROWS = 65_536
_PART_ROWS = 1_000_000
Output = Literal["arrow", "pandas", "polars", "duckdb", "reader"]
_OUTPUTS: tuple[Output, ...] = get_args(Output)


def _rechunk(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Re-cut a stream of batches into batches of exactly ``rows`` rows (the last may be short)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            merged = pa.concat_batches(pending)
            yield merged.slice(0, rows)
            rest = merged.slice(rows)
            pending = [rest] if rest.num_rows else []
            count = rest.num_rows
    if count:
        yield pa.concat_batches(pending)


def _schema_json(schema: pa.Schema) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema]


def canonical_digest(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> str:
    """BLAKE3 over the schema and the rows, independent of how the rows were batched."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update(json.dumps(_schema_json(schema), sort_keys=True).encode())
    plain = schema.remove_metadata()  # pandas/Parquet metadata is not content
    for chunk in _rechunk(batches, CANONICAL_BATCH_ROWS):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, plain) as writer:
            writer.write_batch(chunk.replace_schema_metadata(None))
        hasher.update(sink.getvalue())
    return hasher.hexdigest()


@dataclass(frozen=True)
class IngestResult:
    """What an ingest produced: the version (new or the identical existing one)."""

    version: DatasetVersion
    created: bool
    rows_read: int
    report: dict[str, Any] | None = None
    quarantine: DatasetVersion | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class _Staged:
    folder: Path
    schema: pa.Schema | None = None
    parts: list[Path] = field(default_factory=list)
    rows: int = 0
    watermark_max: Any = None
    watermark_column: str | None = None
    validation: dict[str, Any] | None = None

    def write(
        self,
        reader: pa.RecordBatchReader,
        *,
        watermark: str | None,
        part_rows: int,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        writer: pq.ParquetWriter | None = None
        in_part = 0
        self.schema = reader.schema
        self.watermark_column = watermark
        try:
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                if writer is None or in_part >= part_rows:
                    if writer is not None:
                        writer.close()
                    path = self.folder / f"part-{len(self.parts):05d}.parquet"
                    writer = pq.ParquetWriter(path, reader.schema, compression="zstd")
                    self.parts.append(path)
                    in_part = 0
                writer.write_batch(batch)
                in_part += batch.num_rows
                self.rows += batch.num_rows
                if progress is not None:
                    progress(batch.num_rows)
                if watermark is not None:
                    top = pc.max(batch.column(watermark)).as_py()
                    if top is not None and (self.watermark_max is None or top > self.watermark_max):
                        self.watermark_max = top
        finally:
            if writer is not None:
                writer.close()
        if self.parts:
            # Parquet has no second-precision timestamps (they come back as milliseconds):
            # the version's schema is what the stored parts hold.
            self.schema = pq.read_schema(self.parts[0])

    def batches(self) -> Iterator[pa.RecordBatch]:
        for part in self.parts:
            yield from pq.ParquetFile(part).iter_batches(batch_size=CANONICAL_BATCH_ROWS)


class Datasets:
    """Ingest, load, alias and list dataset versions of one project.

    Args:
        settings: Where the stores are; default: the project's settings.
        repository: The repository to use; default: :class:`RestDatasetRepository` on the
            ``cycleml server`` an http(s) tracking URI names (with the settings' tracking
            token), else :class:`SqlDatasetRepository` on ``store``.
        store: An open database to use instead of opening one from settings.
        artifacts: An open artifact store to use.
        spec: The project spec whose ``validation.<name>`` rules and policy :meth:`ingest`
            applies when it is given no rules; default: ``cycleml.yaml`` in the settings'
            project folder, if there is one.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        repository: DatasetRepository | None = None,
        store: Database | None = None,
        artifacts: ArtifactStore | None = None,
        spec: ProjectSpec | None = None,
    ) -> None:
        settings, spec = service_project(settings, spec)
        self.settings = settings
        self.spec = spec
        self.repository: DatasetRepository
        if repository is not None:
            self.repository = repository
        elif store is None and self.settings.tracking_uri.startswith(("http://", "https://")):
            self.repository = RestDatasetRepository(
                self.settings.tracking_uri, token=self.settings.tracking_token
            )
        else:
            self.repository = SqlDatasetRepository(store or open_database(self.settings))
        self.artifacts = artifacts or open_artifact_store(self.settings.artifact_uri)

    # ---- ingest ------------------------------------------------------------------------
    def _staging(self) -> Path:
        root = self.settings.state_dir / "staging"
        root.mkdir(parents=True, exist_ok=True)
        # Leftovers of killed ingests are never referenced by a version: remove them.
        for stale in root.iterdir():
            if stale.is_dir() and stale.name.startswith("ingest-"):
                shutil.rmtree(stale, ignore_errors=True)
        folder = root / f"ingest-{uuid.uuid4().hex}"
        folder.mkdir()
        return folder

    @renamed_parameters(tags="aliases")
    def ingest(
        self,
        name: str,
        source: Source | str | os.PathLike[str] | Any,
        *,
        mode: Literal["replace", "append"] = "replace",
        watermark: str | None = None,
        aliases: Sequence[str] = (),
        part_rows: int = _PART_ROWS,
        progress: Callable[[int], object] | None = None,
        rules: RulesInput | None = None,
        policy: Policy | None = None,
    ) -> IngestResult:
        """Store a source's rows as a new version of ``name`` (or return the identical one).

        Without ``rules``, the ``validation.<name>`` rules and policy of the project's spec
        apply, when it declares them.

        Args:
            name: Dataset name.
            source: Where the rows come from: a :class:`Source`, a file path, glob, folder
                or URI, or an in-memory table (pandas, polars, pyarrow).
            mode: ``replace``: the version holds exactly the source's rows. ``append``: only
                rows newer than the latest version's watermark (and, for files, only files
                not ingested before) are read and stored as new parts of a new version.
            watermark: Column whose largest value marks how far ingestion got.
            aliases: Aliases to point at the version (``datasets:/name@alias``).
            part_rows: Rows per Parquet part.
            progress: Called with the number of rows of each batch read (progress bars).
            rules: Validation rules checked on the rows being ingested; default: the spec's
                ``validation.<name>.rules``, if it declares them (else no validation).
            policy: When a rule fails: ``fail`` (raise ValidationFailed, store nothing),
                ``quarantine`` (store the passing rows; the failing ones, with the rules each
                broke, become a version of ``<name>.quarantine``) or ``warn`` (store all).
                Default: the spec's ``validation.<name>.policy`` when the spec's rules
                apply, else ``fail``.

        Raises:
            ValidationFailed: A rule failed under the ``fail`` policy; nothing was stored.
        """
        declared = self.spec.validation.get(name) if self.spec is not None else None
        if rules is None and declared is not None:
            rules, policy = declared.rules, policy or declared.policy
        policy = policy or "fail"
        if mode not in ("replace", "append"):
            raise InvalidInput(f"Invalid mode {mode!r}: expected 'replace' or 'append'.")
        if policy not in ("fail", "quarantine", "warn"):
            raise InvalidInput(
                f"Invalid policy {policy!r}: expected 'fail', 'quarantine' or 'warn'."
            )
        source = as_source(source)
        parent: DatasetVersion | None = None
        options: dict[str, Any] = {}
        if mode == "append":
            try:
                parent = self.repository.get_dataset_version(name)
            except NotFound:
                parent = None
            if parent is not None:
                column = watermark or parent.watermark_column
                after = parent.watermark_value if column == parent.watermark_column else None
                if column is not None and after is None and parent.parts:
                    after = self._column_max(parent, column)  # first append on this column
                if column is not None and after is not None:
                    options.update(watermark=column, after=after)
                if parent.files:
                    options["skip_files"] = {
                        f["fingerprint"] for f in parent.files if "fingerprint" in f
                    }
                watermark = column
        folder = self._staging()
        try:
            staged = _Staged(folder)
            staged.write(
                source.open(**options),
                watermark=watermark,
                part_rows=part_rows,
                progress=progress,
            )
            report, quarantine = None, None
            if rules is not None and staged.rows:
                report, staged, quarantine = self._check(name, source, staged, rules, policy)
            result = self._commit(
                name, source, staged, parent=parent, watermark=watermark, aliases=aliases
            )
            if report is not None:
                result = replace(result, report=report.to_dict(), quarantine=quarantine)
            return result
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _check(
        self, name: str, source: Source, staged: _Staged, rules: RulesInput, policy: Policy
    ) -> tuple[ValidationReport, _Staged, DatasetVersion | None]:
        """Validate staged rows; apply the policy (may restage only the passing rows)."""
        paths = [str(p) for p in staged.parts]
        report = validate(paths, rules)
        if report.passed or policy == "warn":
            staged.validation = report.to_dict()
            return report, staged, None
        aggregate = [r for r in report.failed_rules if r.kind not in ROW_LEVEL_RULES]
        if policy == "fail" or aggregate:
            # Quarantine holds back rows; a failed row count or distribution is about the
            # whole batch, so it fails the ingest under either policy.
            report.raise_for_failures()
        passing, failing = split_failing(paths, rules)
        clean = _Staged(staged.folder / "passing")
        clean.folder.mkdir()
        clean.write(passing, watermark=staged.watermark_column, part_rows=_PART_ROWS)
        clean.validation = report.to_dict()
        quarantine = None
        if failing.num_rows:
            held = _Staged(staged.folder / "quarantine")
            held.folder.mkdir()
            held.write(
                pa.RecordBatchReader.from_batches(failing.schema, failing.to_batches()),
                watermark=None,
                part_rows=_PART_ROWS,
            )
            quarantine = self._commit(
                f"{name}.quarantine",
                _Quarantined(source, name),
                held,
                parent=None,
                watermark=None,
                aliases=(),
            ).version
        return report, clean, quarantine

    def _commit(
        self,
        name: str,
        source: _Origin,
        staged: _Staged,
        *,
        parent: DatasetVersion | None,
        watermark: str | None,
        aliases: Sequence[str],
    ) -> IngestResult:
        assert staged.schema is not None
        schema_json = _schema_json(staged.schema)
        if parent is not None and staged.rows == 0:
            return IngestResult(
                parent, created=False, rows_read=0, notes=["no new rows since the latest version"]
            )
        if parent is not None and schema_json != parent.schema:
            raise InvalidInput(
                f"Cannot append to dataset {name!r}: the source's columns or types differ "
                "from its latest version.",
                hint="Ingest with mode='replace' to start from the new schema.",
                details={"expected": parent.schema, "received": schema_json},
            )
        delta = canonical_digest(staged.schema, staged.batches())
        digest = blake3.blake3(f"{parent.digest}+{delta}".encode()).hexdigest() if parent else delta
        new_parts = []
        for path in staged.parts:
            blob = self.artifacts.put_file(path)
            rows = pq.ParquetFile(path).metadata.num_rows
            new_parts.append(DatasetPart(blob.digest, int(rows), blob.size))
        files = list(parent.files) if parent else []
        files.extend(entry.to_dict() for entry in getattr(source, "read_files", []))
        version, created = self.repository.create_dataset_version(
            name,
            digest=digest,
            schema=schema_json,
            parts=[*(parent.parts if parent else ()), *new_parts],
            source=source.describe(),
            source_identity=source.identity(),
            parent_version=parent.version if parent else None,
            watermark_column=watermark,
            watermark_value=(
                staged.watermark_max
                if staged.watermark_max is not None
                else (parent.watermark_value if parent else None)
            ),
            files=files,
            validation=staged.validation,
        )
        for alias in aliases:
            version = self.repository.set_dataset_alias(name, version.version, alias)
        return IngestResult(version, created=created, rows_read=staged.rows)

    def _column_max(self, version: DatasetVersion, column: str) -> Any:
        if column not in {f["name"] for f in version.schema}:
            raise InvalidInput(
                f"Watermark column {column!r} is not a column of {version.uri}.",
                hint=f"Pick one of: {', '.join(f['name'] for f in version.schema)}.",
            )
        paths = self.list_part_paths(version)
        table = pads.dataset(paths, format="parquet").to_table(columns=[column])
        return pc.max(table.column(column)).as_py()

    # ---- reading -----------------------------------------------------------------------
    def get(self, ref: str | DatasetVersion) -> DatasetVersion:
        """Resolve ``datasets:/name/3``, ``datasets:/name@alias``, a bare name (latest)."""
        if isinstance(ref, DatasetVersion):
            return ref
        if not ref.startswith("datasets:/"):
            ref = f"datasets:/{ref}"
        return self.repository.resolve_dataset_uri(ref)

    def list_part_paths(self, version: DatasetVersion) -> list[str]:
        """Local paths of a version's Parquet parts (downloaded to a cache when remote)."""
        paths = []
        cache = self.settings.state_dir / "cache" / "parts"
        cache.mkdir(parents=True, exist_ok=True)
        for part in version.parts:
            # Readers tell the format by the extension, which content-addressed blobs lack:
            # local blobs get a ``<digest>.parquet`` link, remote ones a cached copy.
            local = cache / f"{part.digest}.parquet"
            if not local.exists():
                url = self.artifacts.blob_url(part.digest)
                if url.startswith("file://"):
                    link = local.with_name(f".{uuid.uuid4().hex}.tmp")
                    link.symlink_to(url2pathname(urlparse(url).path))
                    link.replace(local)
                else:
                    self.artifacts.download(part.digest, local)
            paths.append(str(local))
        return paths

    def load(
        self,
        ref: str | DatasetVersion,
        *,
        output: Output = "arrow",
        columns: Sequence[str] | None = None,
    ) -> Any:
        """A version's rows as Arrow (default), pandas, polars, a DuckDB relation or a reader.

        Inside an active run, the read is recorded as the run's input (lineage version ->
        run): the version is announced with :func:`cycleml.store.notify_dataset_read`, which
        tracking subscribes to. ``output="polars"`` needs the ``polars`` extra
        (``pip install "cycleml[polars]"``).

        Raises:
            InvalidInput: ``output`` is unknown, or is ``"polars"`` without polars
                installed (checked before anything is read or recorded).
        """
        if output not in _OUTPUTS:
            raise InvalidInput(
                f"Invalid output {output!r}: expected arrow, pandas, polars, duckdb or reader."
            )
        pl = (
            require(
                "polars",
                extra="polars",
                needed_for='load(output="polars")',
                alternative='load with output="arrow" or output="pandas", which need nothing extra',
            )
            if output == "polars"
            else None
        )
        version = self.get(ref)
        notify_dataset_read(version)  # tracking records it as the active run's input
        paths = self.list_part_paths(version)
        schema = (
            pa.schema(
                [
                    pa.field(f["name"], _arrow_type(f["type"]), f.get("nullable", True))
                    for f in version.schema
                ]
            )
            if not paths
            else None
        )
        dataset = pads.dataset(paths, format="parquet") if paths else None
        if output == "duckdb":
            return _duckdb_relation(paths, columns)
        if output == "reader":
            if dataset is None:
                assert schema is not None
                return pa.RecordBatchReader.from_batches(schema, [])
            return dataset.scanner(columns=list(columns) if columns else None).to_reader()
        table = (
            dataset.to_table(columns=list(columns) if columns else None)
            if dataset is not None
            else pa.Table.from_batches([], schema=schema)
        )
        if output == "arrow":
            return table
        if pl is not None:
            return pl.from_arrow(table)
        return table.to_pandas()

    def profile(self, ref: str | DatasetVersion, **options: Any) -> Profile:
        """Profile a version (see :func:`cycleml.data.profile` for the options)."""
        return profile(self.list_part_paths(self.get(ref)), **options)

    def compare(self, old: str | DatasetVersion, new: str | DatasetVersion) -> ProfileComparison:
        """Schema and statistic differences between two versions, side by side."""
        return compare_profiles(self.profile(old), self.profile(new))

    def validate(self, ref: str | DatasetVersion, rules: RulesInput) -> ValidationReport:
        """Check a stored version against rules (nothing is changed)."""
        return validate(self.list_part_paths(self.get(ref)), rules)

    def list_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first."""
        return self.repository.list_dataset_versions(name)

    def list(self) -> list[DatasetVersion]:
        """The latest version of every dataset."""
        return self.repository.list_datasets()

    def set_alias(self, name: str, version: int, alias: str) -> DatasetVersion:
        """Point ``datasets:/name@alias`` at a version (moving the alias if it existed)."""
        return self.repository.set_dataset_alias(name, version, alias)

    def close(self) -> None:
        """Release the store."""
        self.repository.close()

    # ---- deprecated names (removed after one release) -----------------------------------
    def tag(self, name: str, version: int, tag: str) -> DatasetVersion:
        """Deprecated alias of :meth:`set_alias` (removed after one release)."""
        warn_renamed("Datasets.tag", "Datasets.set_alias")
        return self.set_alias(name, version, tag)

    tag.__deprecated__ = "set_alias"  # type: ignore[attr-defined]

    versions = deprecated_method(list_versions, "versions", "Datasets")
    part_paths = deprecated_method(list_part_paths, "part_paths", "Datasets")


class _Origin(Protocol):
    """What a version records about where its rows came from."""

    def describe(self) -> dict[str, Any]: ...

    def identity(self) -> str: ...


class _Quarantined:
    """The source of a quarantine version: the rows of another ingest that broke rules."""

    def __init__(self, source: Source, name: str) -> None:
        self._source = source
        self._name = name
        self.read_files: list[Any] = []

    def describe(self) -> dict[str, Any]:
        return {"kind": "quarantine", "dataset": self._name, "of": self._source.describe()}

    def identity(self) -> str:
        return f"quarantine:{self._name}"


def as_source(obj: Any) -> Source:
    """A :class:`Source` for a path/glob/URI, an in-memory table, or a source as it is."""
    if isinstance(obj, Source):
        return obj
    if isinstance(obj, str | os.PathLike):
        return FileSource(obj)
    if hasattr(obj, "open") and hasattr(obj, "describe") and hasattr(obj, "identity"):
        return cast(Source, obj)  # any object with the source protocol
    return FrameSource(obj)


def _arrow_type(text: str) -> pa.DataType:
    try:
        return pa.type_for_alias(text)
    except (ValueError, KeyError):
        return pa.string()


def _duckdb_relation(paths: list[str], columns: Sequence[str] | None) -> duckdb.DuckDBPyRelation:
    import duckdb

    if not paths:
        raise InvalidInput("This dataset version has no rows to query with DuckDB.")
    relation = duckdb.connect().read_parquet(paths)
    return relation.select(*columns) if columns else relation
