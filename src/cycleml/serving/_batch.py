"""Batch scoring: stream Parquet or CSV through a model into a Parquet file of predictions.

Input is read in chunks of ``chunk_rows`` (Parquet row batches, CSV blocks, or the batches of
an Arrow stream such as the data stage's readers, which ``cycleml predict`` uses), each chunk is
checked against the model's signature and scored, and the predictions are appended to a
Parquet writer, so memory stays bounded by a chunk whatever the input size. The output is
written under a temporary name and renamed into place at the end: a failure leaves no
partial file. The output holds the input columns, ``prediction`` and, for classifiers, one
``proba_<class>`` column per class. Lineage records input -> batch prediction <- model
version, with the output's path and BLAKE3 digest in the audit log.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from cycleml._api import renamed_parameters
from cycleml.errors import InvalidInput, ValidationFailed
from cycleml.hashing import hash_file
from cycleml.models import LoadedModel, load_model
from cycleml.serving._repository import open_deployment_repository
from cycleml.settings import Settings, resolve_settings

__all__ = ["BatchScoringReport", "score_batch"]

_CSV = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
_PARQUET = (".parquet", ".pq", ".parq")


@dataclass(frozen=True)
class BatchScoringReport:
    """What :func:`score_batch` did.

    Attributes:
        id: The batch prediction's id (its lineage node ``batch_prediction/<id>``).
        output: The Parquet file written.
        rows: Rows scored.
        seconds: Wall time.
        digest: BLAKE3 of the output file.
        model_uri: The model that scored.
        dropped_columns: Input columns the model's signature does not name (not scored,
            but kept in the output next to the predictions).
    """

    id: str
    output: Path
    rows: int
    seconds: float
    digest: str
    model_uri: str
    dropped_columns: tuple[str, ...] = ()


@renamed_parameters(output="destination")
def score_batch(
    model_uri: str,
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | pa.RecordBatchReader,
    destination: str | os.PathLike[str] | None = None,
    *,
    settings: Settings | None = None,
    chunk_rows: int = 65_536,
    input_refs: Sequence[tuple[str, str]] = (),
    progress: Callable[[int, int | None], None] | None = None,
    model: LoadedModel | None = None,
) -> BatchScoringReport:
    """Score Parquet/CSV ``inputs`` with ``model_uri`` into the Parquet file ``destination``.

    Args:
        model_uri: ``models:/...``, ``runs:/...`` or a model folder.
        inputs: Parquet or CSV files (not mixed), or an Arrow stream of record batches
            (e.g. ``cycleml.data.FileSource(path).open()``, whose errors name the line).
        destination: The Parquet file to write (replaced if it exists, only on success).
        settings: The project whose stores the model and lineage live in.
        chunk_rows: Rows per chunk (the memory bound).
        input_refs: Lineage nodes of the input, e.g. ``[("dataset_version", "churn/3")]``;
            files are recorded as ``("file", "<path>")`` when not given (a stream: none).
        progress: Called with (rows done, total rows or ``None``) after each chunk.
        model: An already loaded model (skips loading ``model_uri``).

    Raises:
        InvalidInput: Missing or unreadable input, a signature mismatch (with the chunk's
            first row number), a bad ``chunk_rows``, or no ``destination``.
    """
    if destination is None:
        raise InvalidInput(
            "score_batch needs the Parquet file to write.",
            hint='Pass it third: score_batch(model_uri, inputs, "scored.parquet").',
        )
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InvalidInput(f"chunk_rows must be a positive integer, got {chunk_rows!r}.")
    settings = settings or resolve_settings()
    stream: pa.RecordBatchReader | None = None
    if isinstance(inputs, pa.RecordBatchReader):
        stream, paths = inputs, []
    elif isinstance(inputs, str | os.PathLike):
        paths = [Path(inputs)]
    else:
        paths = [Path(p) for p in inputs]
    if stream is None:
        _check_inputs(paths)
    loaded = model if model is not None else load_model(model_uri, settings=settings)
    target = Path(destination)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    started, done = time.perf_counter(), 0
    total = None if stream is not None else _total_rows(paths)
    chunks = _chunks(paths, chunk_rows) if stream is None else _stream_chunks(stream)
    writer: pq.ParquetWriter | None = None
    dropped: dict[str, None] = {}  # reported once in the report, not per chunk
    try:
        for chunk in chunks:
            scored = _score(loaded, chunk, first_row=done + 1, dropped=dropped)
            if writer is None:
                writer = pq.ParquetWriter(partial, scored.schema)
            writer.write_table(scored)
            done += chunk.num_rows
            if progress is not None:
                progress(done, total)
        if writer is None:
            what = ", ".join(map(str, paths)) or "stream"
            raise InvalidInput(f"The input {what} has no rows to score.")
        writer.close()
        writer = None
        partial.replace(target)
    finally:
        if writer is not None:
            writer.close()
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    digest = hash_file(target)
    batch_id = uuid.uuid4().hex
    refs = list(input_refs) or [("file", str(p.resolve())) for p in paths]
    store = open_deployment_repository(settings)  # a server's for an http(s) tracking URI
    try:
        store.record_batch_prediction(
            batch_id,
            model_name=loaded.name,
            model_version=loaded.version,
            model_uri=str(model_uri),
            inputs=refs,
            output=str(target.resolve()),
            rows=done,
            digest=digest,
        )
    finally:
        store.close()
    return BatchScoringReport(
        batch_id, target, done, time.perf_counter() - started, digest, str(model_uri),
        dropped_columns=tuple(dropped),
    )  # fmt: skip


def _check_inputs(paths: list[Path]) -> None:
    if not paths:
        raise InvalidInput("No input files were given.", hint="Pass --input data.parquet.")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InvalidInput(f"Input file(s) not found: {', '.join(missing)}.")
    kinds = {_kind(p) for p in paths}
    if None in kinds or len(kinds) != 1:
        raise InvalidInput(
            f"Cannot score {', '.join(map(str, paths))}: use Parquet ({', '.join(_PARQUET)}) "
            f"or CSV ({', '.join(_CSV)}) files, not a mix."
        )


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(_PARQUET):
        return "parquet"
    return "csv" if name.endswith(_CSV) else None


def _total_rows(paths: list[Path]) -> int | None:
    if _kind(paths[0]) != "parquet":
        return None
    return sum(int(pq.ParquetFile(p).metadata.num_rows) for p in paths)


def _chunks(paths: list[Path], chunk_rows: int) -> Iterator[pa.Table]:
    for path in paths:
        try:
            if _kind(path) == "parquet":
                for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
                    yield pa.Table.from_batches([batch])
            else:
                options = pacsv.ReadOptions(block_size=max(1 << 20, chunk_rows * 64))
                with pacsv.open_csv(path, read_options=options) as reader:
                    for batch in reader:
                        yield pa.Table.from_batches([batch])
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput(f"Cannot read {path}: {exc}.") from exc


def _stream_chunks(stream: pa.RecordBatchReader) -> Iterator[pa.Table]:
    """The stream's batches as tables (its reader sets their size and reports bad input)."""
    for batch in stream:
        if batch.num_rows:
            yield pa.Table.from_batches([batch])


def _score(
    model: LoadedModel, chunk: pa.Table, *, first_row: int, dropped: dict[str, None]
) -> pa.Table:
    frame = chunk.to_pandas()
    try:
        if model.signature is not None:  # checked once for both predict and predict_proba
            frame = model.signature.enforce(
                frame, on_extra=lambda c: dropped.update(dict.fromkeys(c))
            )
        predictions = model.predict(frame, enforce=False)
        probabilities = model.predict_proba(frame, enforce=False) if model.is_classifier else None
    except (InvalidInput, ValidationFailed) as exc:  # row numbers in it count from the chunk
        raise type(exc)(
            f"Rows from {first_row:,} (row numbers below count from there): {exc.message}",
            hint=exc.hint, details=exc.details,
        ) from exc  # fmt: skip
    out = chunk
    preds = predictions
    if isinstance(preds, pd.DataFrame):
        for column in preds.columns:
            out = out.append_column(f"prediction_{column}", pa.array(preds[column].to_numpy()))
    else:
        out = out.append_column("prediction", pa.array(np.asarray(preds).ravel()))
    if probabilities is not None:
        classes = list(model.classes or range(np.asarray(probabilities).shape[1]))
        proba = np.asarray(probabilities, dtype=np.float64)
        for j, label in enumerate(classes):
            out = out.append_column(f"proba_{label}", pa.array(proba[:, j]))
    return out
