"""SQL sources: a query against any SQLAlchemy URL, streamed, with the watermark pushed into SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from cycleml.data._stream import (
    _ARROW_ERRORS,
    _PG_TYPES,
    DEFAULT_BATCH_SIZE,
    Source,
    _cell_error,
    _check_open_args,
    _finish,
    _Resources,
    _text,
    arrow_type,
)
from cycleml.errors import InvalidInput, NotFound
from cycleml.hashing import hash_bytes

__all__ = ["SqlSource"]


class SqlSource(Source):
    """The result of a SQL query against any SQLAlchemy URL, streamed in batches.

    Args:
        url: SQLAlchemy URL (``sqlite:///x.db``, ``postgresql+psycopg://u:p@host/db``) or an
            :class:`~sqlalchemy.engine.Engine` to reuse.
        query: The SELECT to run; ``:name`` placeholders are bound from ``params``.
        schema: Explicit column types by column (win over inference).
        params: Values bound to the query's placeholders.

    Column types come from the first batch plus the database's cursor description
    (PostgreSQL types are known even for columns that are NULL in the first batch); they
    are then fixed for the whole stream. JSON values become JSON text, UUIDs text.
    """

    def __init__(
        self,
        url: str | Engine,
        query: str,
        *,
        schema: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self._engine = url if isinstance(url, Engine) else None
        try:
            self._url: URL = url.url if isinstance(url, Engine) else make_url(url)
        except sa_exc.ArgumentError as exc:
            raise InvalidInput(
                f"{url!r} is not a SQLAlchemy URL: {exc}",
                hint="Use e.g. sqlite:///data.db or postgresql+psycopg://user@host/db.",
            ) from exc
        if not isinstance(query, str) or not query.strip().rstrip(";").strip():
            raise InvalidInput(f"The SQL query is empty: {query!r}.", hint="Pass a SELECT.")
        self.query = query.strip().rstrip(";").strip()
        self.params = dict(params or {})
        self._types = {col: arrow_type(kind) for col, kind in (schema or {}).items()}
        self._schema = dict(schema or {})

    def _safe_url(self) -> str:
        return self._url._replace(password=None).render_as_string(hide_password=False)

    def identity(self) -> str:
        """``sql:<backend>://host:port/db#<BLAKE3 of the query (and params)>``."""
        u = self._url
        where = URL.create(u.get_backend_name(), host=u.host, port=u.port, database=u.database)
        payload = self.query
        if self.params:
            payload += "\0" + json.dumps(self.params, sort_keys=True, default=str)
        return f"sql:{where.render_as_string()}#{hash_bytes(payload.encode())}"

    def describe(self) -> dict[str, Any]:
        """``{kind: sql, url (no password), query, params, options}``."""
        return {
            "kind": "sql",
            "url": self._safe_url(),
            "query": self.query,
            "params": json.loads(json.dumps(self.params, default=str)),
            "options": {"schema": self._schema or None},
        }

    def _error(self, exc: sa_exc.SQLAlchemyError, watermark: str | None) -> InvalidInput:
        orig = getattr(exc, "orig", None)
        message = str(orig if orig is not None else exc).strip()
        if self._url.password:
            message = message.replace(str(self._url.password), "***")
        wrapped = (
            f" With a watermark the query runs as a subquery filtered on src.{watermark} > "
            f":after and ordered by it, so the query must return the column {watermark!r}."
            if watermark
            else ""
        )
        return InvalidInput(
            f"The SQL query failed on {self._safe_url()}: {message}\nQuery: {self.query}",
            hint=f"Fix the query (try it in a SQL client first).{wrapped}",
            details={"url": self._safe_url(), "query": self.query, "error": message},
        )

    def open(
        self,
        *,
        after: Any | None = None,
        watermark: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> pa.RecordBatchReader:
        """Run the query and stream its rows; the watermark condition runs in the database.

        Raises:
            NotFound: A SQLite database file does not exist.
            InvalidInput: The database refused the query (its message and the query are in
                the error, never the password), or a value does not fit its column's type.
        """
        _check_open_args(after, watermark, batch_size)
        database = self._url.database
        if (
            self._url.get_backend_name() == "sqlite"
            and database not in (None, "", ":memory:")
            and not database.startswith("file:")
            and not Path(database).exists()
        ):
            raise NotFound(f"No SQLite database at {database}.", details={"path": database})
        statement: sa.Executable = sa.text(self.query)
        if watermark is not None:
            sub = sa.text(self.query).columns(sa.column(watermark)).subquery("src")
            select: sa.Select[Any] = sa.select(sa.literal_column("*")).select_from(sub)
            if after is not None:
                # Text is sent untyped so the database casts it to the column's type.
                kind = sa.types.NullType() if isinstance(after, str) else None
                select = select.where(sub.c[watermark] > sa.bindparam("cycleml_after", after, kind))
            statement = select.order_by(sub.c[watermark])
        res = _Resources()
        try:
            engine = self._engine
            if engine is None:
                engine = sa.create_engine(self._url, poolclass=NullPool)
                res.callback(engine.dispose)
            conn = res.enter_context(engine.connect())
            options = conn.execution_options(stream_results=True, yield_per=batch_size)
            result = options.execute(statement, self.params)
            res.callback(result.close)
            names = list(result.keys())
            description = list(result.cursor.description or []) if result.cursor else []
            rows = result.fetchmany(batch_size)
            schema = self._infer(names, description, rows)
            first = self._batch(rows, schema, 0)
        except sa_exc.SQLAlchemyError as exc:
            res.close()
            raise self._error(exc, watermark) from exc
        except BaseException:
            res.close()
            raise

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield first
                seen = len(rows)
                while chunk := result.fetchmany(batch_size):
                    yield self._batch(chunk, schema, seen)
                    seen += len(chunk)
            except sa_exc.SQLAlchemyError as exc:
                raise self._error(exc, watermark) from exc
            finally:
                res.close()

        return _finish(schema, batches(), watermark=None, after=None, batch_size=batch_size)

    def _infer(self, names: list[str], description: list[Any], rows: Sequence[Any]) -> pa.Schema:
        postgres = self._url.get_backend_name() == "postgresql"
        fields = []
        for i, name in enumerate(names):
            kind = self._types.get(name)
            code = description[i][1] if i < len(description) else None
            if kind is None and postgres and isinstance(code, int):
                precision, scale = description[i][4], description[i][5]
                if code == 1700 and precision:
                    kind = pa.decimal128(min(int(precision), 38), int(scale or 0))
                kind = kind or _PG_TYPES.get(code)
            if kind is None:
                sample = [row[i] for row in rows if row[i] is not None]
                try:
                    kind = pa.array(sample).type if sample else pa.null()
                except _ARROW_ERRORS as exc:
                    found = sorted({type(v).__name__ for v in sample})
                    raise InvalidInput(
                        f"Column {name!r} of the SQL result mixes value types ({', '.join(found)})"
                        " in its first rows.",
                        details={"column": name, "types": found},
                        hint=f"Declare its type in schema:, e.g. schema: {{{name}: string}}.",
                    ) from exc
                if pa.types.is_decimal(kind):
                    kind = pa.decimal128(38, kind.scale)
                elif pa.types.is_struct(kind) or pa.types.is_map(kind):
                    kind = pa.string()
            fields.append(pa.field(name, kind))
        return pa.schema(fields)

    def _batch(self, rows: Sequence[Any], schema: pa.Schema, offset: int) -> pa.RecordBatch:
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
        return pa.RecordBatch.from_arrays(
            [
                self._array(list(values), field, offset)
                for values, field in zip(columns, schema, strict=True)
            ],
            schema=schema,
        )

    def _array(self, values: list[Any], field: pa.Field, offset: int) -> pa.Array:
        kind = field.type
        try:
            return pa.array(values, type=kind)
        except _ARROW_ERRORS:
            pass
        if pa.types.is_string(kind):
            return pa.array([_text(v) for v in values], type=kind)
        try:
            return pa.array(values).cast(kind)
        except _ARROW_ERRORS as exc:
            at = next(i for i, v in enumerate(values) if not _fits(v, kind))
            raise _cell_error(
                f"SQL result row {offset + at + 1}",
                field.name,
                values[at],
                str(kind),
                field.name in self._types,
                {"row": offset + at + 1},
            ) from exc


def _fits(value: Any, kind: pa.DataType) -> bool:
    try:
        pa.array([value], type=kind)
        return True
    except _ARROW_ERRORS:
        pass
    try:
        pa.array([value]).cast(kind)
        return True
    except _ARROW_ERRORS:
        pass
    return False
