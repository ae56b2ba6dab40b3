"""The data-validation engine: evaluate rules with DuckDB and report, or split failing rows.

The data is registered in a private ``duckdb.connect()`` as a view that carries a 1-based
row number (a numbered Arrow column for in-memory tables, ``file_row_number`` plus the row
offsets of earlier files for Parquet), so row numbers do not depend on scan order. Every
row-level and aggregate rule is compiled into expressions of **one** aggregate query: a
``count(*) FILTER (WHERE <fails>)`` and an ``arg_min({row, value}, row, n)`` sample list
per row-level rule, plus the statistics of the aggregate rules. ``unique`` needs a
``GROUP BY`` of its own (one more scan per unique rule). Nothing is converted to pandas.

Semantics: NULL (and NaN in float columns) only fails ``not_null``; ``failing_fraction`` is
over all rows; ``mostly`` is compared exactly (``0.95`` with 100 rows allows 5 failures).
A rule naming a missing column fails with a message listing the columns (``strict=True``
raises :class:`~cycleml.errors.InvalidInput` before scanning instead).
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import numpy as np
import pyarrow as pa
from rich.table import Table

from cycleml.data._patterns import count_fixed_width_mismatches, fixed_width_tables
from cycleml.errors import InvalidInput, NotFound, ValidationFailed
from cycleml.spec._rules import (
    AGGREGATE_RULES,
    AllowedRule,
    ColumnRule,
    DistributionRule,
    FreshnessRule,
    LengthRule,
    NotNullRule,
    RangeRule,
    RegexRule,
    RowCountRule,
    Rule,
    UniqueRule,
    ValidationSpec,
    format_duration,
    parse_rules,
)
from cycleml.time import TimeLike, to_ms

__all__ = ["DataInput", "RuleResult", "ValidationReport", "split_failing", "validate"]

#: What :func:`validate` accepts: an Arrow table, a DuckDB relation (materialized to Arrow),
#: or Parquet/CSV path(s) and globs (Parquet is scanned in place, CSV is read into Arrow).
DataInput: TypeAlias = (
    pa.Table
    | pa.RecordBatch
    | duckdb.DuckDBPyRelation
    | str
    | os.PathLike[str]
    | Sequence[str | os.PathLike[str]]
)
#: What :func:`validate` accepts as rules: models, mappings as in ``cycleml.yaml``, or a spec.
RulesInput: TypeAlias = ValidationSpec | Sequence[Rule | Mapping[str, Any]]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ROW = '"__cycleml_row__"'
_ROW_NAME = "__cycleml_row__"
_INTS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
         "UINTEGER", "UBIGINT", "UHUGEINT"}  # fmt: skip
_FAMILIES = {
    **dict.fromkeys(_INTS, "int"), "FLOAT": "float", "DOUBLE": "float", "DECIMAL": "float",
    "VARCHAR": "string", "ENUM": "string", "BOOLEAN": "bool", "DATE": "date",
    **dict.fromkeys(("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS",
                     "TIMESTAMP_NS", "TIMESTAMPTZ"), "timestamp"),
}  # fmt: skip
_CASTS = {"int": "BIGINT", "float": "DOUBLE", "number": "DOUBLE", "bool": "BOOLEAN",
          "date": "DATE", "timestamp": "TIMESTAMP"}  # fmt: skip
_PARQUET = (".parquet", ".pq", ".parq")
_CSV = (".csv", ".tsv", ".csv.gz", ".tsv.gz")


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule.

    Attributes:
        rule: The rule's name (``not_null(age)``).
        kind: The rule kind (``not_null``).
        columns: The columns the rule reads.
        passed: Whether the rule holds (with its ``mostly`` tolerance).
        failing_count: Rows that break a row-level rule (0 for aggregate rules).
        failing_fraction: ``failing_count / row_count`` (0.0 for empty data).
        samples: Up to ``max_samples`` failing rows as ``{"row": 1-based, "value": ...}``
            (``unique`` adds ``"first_row"``, the row the key first appeared on).
        message: One human sentence.
        details: The rule's parameters plus machine-readable facts.
        observed: Statistics of aggregate rules (``{"mean": 12.3}``).
    """

    rule: str
    kind: str
    columns: tuple[str, ...]
    passed: bool
    failing_count: int
    failing_fraction: float
    samples: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)

    @property
    def column(self) -> str | None:
        """The single column of the rule, or ``None`` (row count, compound keys)."""
        return self.columns[0] if len(self.columns) == 1 else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping of every field."""
        return {f.name: _json(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class ValidationReport:
    """All rule outcomes of one :func:`validate` call.

    Attributes:
        results: One :class:`RuleResult` per rule, in rule order.
        row_count: Rows in the data.
    """

    results: list[RuleResult]
    row_count: int

    @property
    def passed(self) -> bool:
        """Whether every rule passed."""
        return all(r.passed for r in self.results)

    @property
    def failed_rules(self) -> list[RuleResult]:
        """The results that did not pass."""
        return [r for r in self.results if not r.passed]

    def __getitem__(self, name: str) -> RuleResult:
        """The result of the rule called ``name``."""
        for result in self.results:
            if result.rule == name:
                return result
        names = ", ".join(r.rule for r in self.results)
        raise NotFound(f"No rule named {name!r} in this report; rules: {names}.")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping: ``passed``, ``row_count``, ``failed_rules`` and ``results``."""
        return {
            "passed": self.passed,
            "row_count": self.row_count,
            "failed_rules": [r.rule for r in self.failed_rules],
            "results": [r.to_dict() for r in self.results],
        }

    def summary(self, samples: int = 3) -> Table:
        """A rich table for the CLI: rule, ✓/✗, failing rows, fraction, first samples."""
        failed = len(self.failed_rules)
        table = Table(
            title=f"Validation: {len(self.results)} rules, {failed} failed, {self.row_count:,} rows"
        )
        for header in ("Rule", "Status", "Failing", "Fraction", "Samples / observed"):
            table.add_column(header, justify="right" if header in ("Failing", "Fraction") else
                             "left")  # fmt: skip
        for r in self.results:
            status = "[green]✓[/green]" if r.passed else "[red]✗[/red]"
            shown = [_sample_text(s) for s in r.samples[:samples]]
            if len(r.samples) > samples:
                shown.append("…")
            text = ", ".join(shown) if shown else ", ".join(
                f"{k}={_short(v)}" for k, v in r.observed.items())  # fmt: skip
            if not text and not r.passed:
                text = r.message
            whole = r.kind in AGGREGATE_RULES
            count = "—" if whole else f"{r.failing_count:,}"
            table.add_row(r.rule, status, count, "—" if whole else _pct(r.failing_fraction), text)
        return table

    def raise_for_failures(self) -> None:
        """Raise :class:`~cycleml.errors.ValidationFailed` if any rule failed (the ``fail``
        policy); ``details`` holds :meth:`to_dict`."""
        failed = self.failed_rules
        if failed:
            lines = "; ".join(f"{r.rule}: {r.message.rstrip('.')}" for r in failed)
            raise ValidationFailed(
                f"{len(failed)} of {len(self.results)} validation rules failed on "
                f"{self.row_count:,} rows: {lines}.",
                hint="Fix the data, relax the rules, or use the quarantine policy.",
                details=self.to_dict(),
            )


@dataclass
class _Check:
    """One rule compiled against the data's schema."""

    rule: Rule
    cond: str | None = None  # row-level failing condition, NULL-safe
    value: str = "NULL"  # sample value expression
    aggs: list[str] = field(default_factory=list)  # aggregate expressions
    problem: str | None = None  # cannot be evaluated (missing column, wrong type, error)
    static: str | None = None  # decided from the schema alone (passing message)
    values: list[Any] = field(default_factory=list)
    counted: bool = False  # failures already counted outside DuckDB (values[0])


def validate(
    data: DataInput,
    rules: RulesInput,
    *,
    now: TimeLike | None = None,
    max_samples: int = 20,
    strict: bool = False,
) -> ValidationReport:
    """Check ``data`` against ``rules`` and report every rule's outcome.

    Args:
        data: A ``pyarrow.Table``, a DuckDB relation, or Parquet/CSV path(s) or glob(s).
        rules: Rule models, rule mappings (as in ``cycleml.yaml``) or a ``ValidationSpec``.
        now: The time freshness is judged against: a datetime (naive means UTC), a date,
            ms since the epoch, ISO-8601 text, or a duration ago (``"2h"``); default: now.
        max_samples: Failing rows kept per rule (with their 1-based row numbers).
        strict: Raise instead of failing a rule that names a missing column or a column of
            an unusable type.

    Raises:
        InvalidInput: Bad rules, unreadable data, or (``strict``) unusable rules.
    """
    checked = _rules(rules)
    if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 0:
        raise InvalidInput(f"max_samples must be a non-negative integer, got {max_samples!r}.")
    moment = _utc(now)
    with duckdb.connect() as con:
        types, table = _register(con, data)
        checks = [_compile(rule, types) for rule in checked]
        _refuse_problems(checks, strict=strict)
        if table is not None:
            _count_in_arrow(table, checks)
        try:
            row_count = _scan(con, checks, max_samples)
        except duckdb.Error as exc:
            raise InvalidInput(f"Cannot validate the data: {exc}") from exc
        for check in checks:
            if isinstance(check.rule, UniqueRule) and check.problem is None:
                try:
                    _unique(con, check, max_samples, keep=False)
                except duckdb.Error as exc:
                    check.problem = f"the rule cannot be evaluated: {str(exc).splitlines()[0]}"
        results = [_result(c, row_count, moment) for c in checks]
    return ValidationReport(results=results, row_count=row_count)


def split_failing(
    data: DataInput,
    rules: RulesInput,
    *,
    now: TimeLike | None = None,
    batch_size: int = 65_536,
) -> tuple[pa.RecordBatchReader, pa.Table]:
    """Split ``data`` into the rows that pass every row-level rule and the rows that don't.

    Only row-level rules decide (``column`` type/cast, ``not_null``, ``unique`` repeats after
    the first occurrence, ``range``, ``allowed``, ``regex``, ``length``); aggregate rules
    (``row_count``, ``freshness``, ``distribution``) judge the whole data and cannot
    quarantine rows, so they are ignored here, as is ``mostly``.

    Args:
        data: As for :func:`validate`.
        rules: As for :func:`validate`.
        now: Accepted for symmetry with :func:`validate`; row-level rules do not use time.
        batch_size: Rows per batch of the passing-rows reader.

    Returns:
        A ``RecordBatchReader`` streaming the passing rows in input order (read it once;
        ``.read_all()`` gives a table), and a table of the failing rows in input order with
        two more columns: ``_row`` (1-based input row number) and ``_rules`` (names of the
        rules the row broke).

    Raises:
        InvalidInput: Bad rules, unreadable data, a rule that cannot be evaluated (missing
            column), or input columns already named ``_row``/``_rules``.
    """
    del now
    checked = [r for r in _rules(rules) if r.row_level]
    if batch_size < 1:
        raise InvalidInput(f"batch_size must be positive, got {batch_size!r}.")
    con = duckdb.connect()
    try:
        types, _ = _register(con, data)
        clash = [c for c in ("_row", "_rules") if c in types]
        if clash:
            raise InvalidInput(f"The data already has column(s) {', '.join(clash)}, which "
                               "split_failing adds to the failing rows; rename them.")  # fmt: skip
        checks = [_compile(rule, types) for rule in checked]
        _refuse_problems(checks, strict=True)
        for check in checks:
            if isinstance(check.rule, UniqueRule):
                _unique(con, check, 0, keep=True)
        conds = [(c.rule.name, c.cond) for c in checks if c.cond is not None]
        fails = " OR ".join(f"({cond})" for _, cond in conds) or "FALSE"
        names = ", ".join(f"CASE WHEN {cond} THEN [{_lit(name)}] ELSE []::VARCHAR[] END"
                          for name, cond in conds) or "[]::VARCHAR[][]"  # fmt: skip
        failing = con.sql(
            f"SELECT * EXCLUDE ({_ROW}), {_ROW} AS _row, flatten([{names}]) AS _rules "  # noqa: S608
            f"FROM _data WHERE {fails} ORDER BY {_ROW}"
        ).to_arrow_table()
        order = f" ORDER BY {_ROW}" if any(isinstance(c.rule, UniqueRule) for c in checks) else ""
        passing = f"SELECT * EXCLUDE ({_ROW}) FROM _data WHERE NOT ({fails}){order}"  # noqa: S608
        reader = con.sql(passing).to_arrow_reader(batch_size)
        if reader is None or failing is None:
            raise InvalidInput("DuckDB returned no result for the split queries.")
    except duckdb.Error as exc:
        con.close()
        raise InvalidInput(f"Cannot split the data by the rules: {exc}") from exc
    except BaseException:
        con.close()
        raise

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        finally:
            con.close()

    return pa.RecordBatchReader.from_batches(reader.schema, batches()), failing


def _rules(rules: RulesInput) -> list[Rule]:
    if isinstance(rules, ValidationSpec):
        return list(rules.rules)
    return parse_rules(rules)


def _utc(now: TimeLike | None) -> dt.datetime:
    """``now`` as an aware UTC datetime (a datetime keeps its microseconds)."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if isinstance(now, dt.datetime):
        return now.replace(tzinfo=dt.UTC) if now.tzinfo is None else now.astimezone(dt.UTC)
    return _EPOCH + dt.timedelta(milliseconds=to_ms(now, name="now"))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: Any) -> str:
    """Render a Python scalar as a DuckDB literal."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"'{value}'::DOUBLE"
    if isinstance(value, dt.datetime):
        return f"{'TIMESTAMPTZ' if value.tzinfo else 'TIMESTAMP'} '{value.isoformat()}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


def _register(
    con: duckdb.DuckDBPyConnection, data: DataInput
) -> tuple[dict[str, str], pa.Table | None]:
    """Create the view ``_data`` (the columns plus the 1-based row number).

    Returns the column types and, for data held in memory, the Arrow table behind the view.
    """
    con.execute("SET TimeZone = 'UTC'")
    try:
        if isinstance(data, str | os.PathLike) or (
            isinstance(data, Sequence) and not isinstance(data, bytes)
            and all(isinstance(p, str | os.PathLike) for p in data)
        ):  # fmt: skip
            paths = [data] if isinstance(data, str | os.PathLike) else list(data)
            table = _register_files(con, [os.fspath(p) for p in paths])
        elif isinstance(data, duckdb.DuckDBPyRelation):
            table = data.to_arrow_table()
        elif isinstance(data, pa.RecordBatch):
            table = pa.Table.from_batches([data])
        elif isinstance(data, pa.Table):
            table = data
        elif hasattr(data, "__arrow_c_stream__"):
            table = pa.table(data)
        else:
            raise InvalidInput(
                f"Cannot validate a {type(data).__name__}; pass a pyarrow.Table, a DuckDB "
                "relation, or Parquet/CSV path(s)."
            )
        if table is not None:
            if _ROW_NAME in table.column_names:
                raise InvalidInput(f"The column name {_ROW_NAME!r} is reserved.")
            rows = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))
            con.register("_input", table.append_column(_ROW_NAME, rows))
            con.execute("CREATE VIEW _data AS SELECT * FROM _input")
        described = con.execute("DESCRIBE SELECT * FROM _data").fetchall()
    except duckdb.Error as exc:
        raise InvalidInput(f"Cannot read the data to validate: {exc}") from exc
    return {str(r[0]): str(r[1]) for r in described if r[0] != _ROW_NAME}, table


def _register_files(con: duckdb.DuckDBPyConnection, paths: list[str]) -> pa.Table | None:
    """Register Parquet files as the view ``_data``; read CSV files into an Arrow table."""
    if not paths:
        raise InvalidInput("No data files given.")
    files: list[str] = []
    for path in paths:
        if Path(path).is_dir():
            path = os.path.join(path, "**", "*.parquet")
        if any(ch in path for ch in "*?["):
            found = sorted(r[0] for r in con.execute("SELECT file FROM glob(?)", [path]).fetchall())
            if not found:
                raise InvalidInput(f"No files match {path!r}.")
            files.extend(found)
        elif "://" not in path and not Path(path).is_file():
            raise InvalidInput(f"Data file {path!r} does not exist.")
        else:
            files.append(path)
    lowered = [f.lower() for f in files]
    if all(f.endswith(_CSV) for f in lowered):
        return con.sql(f"SELECT * FROM read_csv({_lit(files)})").to_arrow_table()  # noqa: S608
    if not all(f.endswith(_PARQUET) for f in lowered):
        raise InvalidInput(
            f"Cannot tell the format of {', '.join(files[:5])}: use Parquet files "
            f"({', '.join(_PARQUET)}) or CSV files ({', '.join(_CSV)}), not a mix."
        )
    number = "file_row_number + 1"
    if len(files) > 1:
        meta = dict(con.execute(
            f"SELECT file_name, num_rows FROM parquet_file_metadata({_lit(files)})"  # noqa: S608
        ).fetchall())  # fmt: skip
        offsets = np.cumsum([0] + [int(meta[f]) for f in files[:-1]]).tolist()
        number = f"{_lit(offsets)}[file_index::BIGINT + 1] + file_row_number + 1"
    con.execute(f"CREATE VIEW _data AS SELECT *, {number} AS {_ROW} "  # noqa: S608
                f"FROM read_parquet({_lit(files)})")  # fmt: skip
    return None


def _compile(rule: Rule, types: Mapping[str, str]) -> _Check:
    """Turn ``rule`` into SQL against the schema (or record why it cannot be evaluated)."""
    check = _Check(rule)
    missing = [c for c in rule.column_names if c not in types]
    if missing:
        check.problem = f"column {missing[0]!r} not found; columns are: {', '.join(types)}"
        return check
    if not rule.column_names or isinstance(rule, UniqueRule):
        return check  # row_count uses count(*); unique runs its own query
    name = rule.column_names[0]
    col, duck_type = _ident(name), types[name]
    family = _FAMILIES.get(duck_type.split("(")[0])
    is_float = duck_type in ("FLOAT", "DOUBLE")
    check.value = col
    nan = f" AND NOT isnan({col})" if is_float else ""
    needs = {LengthRule: ("string",), FreshnessRule: ("date", "timestamp"),
             DistributionRule: ("int", "float")}.get(type(rule), ())  # fmt: skip
    is_list = isinstance(rule, LengthRule) and duck_type.endswith("[]")
    if needs and family not in needs and not is_list:
        noun = {"string": "a string", "date": "a date or timestamp", "int": "a numeric"}[needs[0]]
        check.problem = (f"{rule.kind} needs {noun} column; {name!r} has type "
                         f"{duck_type}")  # fmt: skip
    elif isinstance(rule, ColumnRule):
        expected = rule.type
        if expected is None or expected in (family, "number" if family in ("int", "float") else 0):
            check.static = rule.describe() + f"; it does ({duck_type})"
        elif rule.cast and family == "string" and expected != "string":
            text = f"trim(CAST({col} AS VARCHAR))"
            bad = f"TRY_CAST({text} AS {_CASTS[expected]}) IS NULL"
            if expected == "int":
                bad += f" OR NOT regexp_full_match({text}, '[+-]?[0-9]+')"
            check.cond = f"coalesce({col} IS NOT NULL AND ({bad}), FALSE)"
        else:
            check.cond = "TRUE"  # the whole column has the wrong type: every row fails
            check.problem = f"column {name!r} has type {duck_type}, expected {expected}"
    elif isinstance(rule, NotNullRule):
        check.cond = f"({col} IS NULL{' OR isnan(' + col + ')' if is_float else ''})"
    elif isinstance(rule, RangeRule):
        parts = [f"{col} {'<' if rule.min_inclusive else '<='} {_lit(rule.min)}"]
        parts = parts if rule.min is not None else []
        if rule.max is not None:
            parts.append(f"{col} {'>' if rule.max_inclusive else '>='} {_lit(rule.max)}")
        check.cond = f"coalesce(({' OR '.join(parts)}){nan}, FALSE)"
    elif isinstance(rule, AllowedRule):
        values = ", ".join(_lit(v) for v in rule.values)
        check.cond = f"coalesce({col} NOT IN ({values}){nan}, FALSE)"
    elif isinstance(rule, RegexRule):
        text = col if duck_type == "VARCHAR" else f"CAST({col} AS VARCHAR)"
        check.cond = f"coalesce(NOT regexp_full_match({text}, {_lit(rule.pattern)}), FALSE)"
    elif isinstance(rule, LengthRule):
        size = f"len(CAST({col} AS VARCHAR))" if family == "string" else f"len({col})"
        parts = [f"{size} < {rule.min}"] if rule.min is not None else []
        parts += [f"{size} > {rule.max}"] if rule.max is not None else []
        check.cond = f"coalesce({' OR '.join(parts)}, FALSE)"
    elif isinstance(rule, FreshnessRule):
        check.aggs = [f"epoch_us(max({col}))"]
    elif isinstance(rule, DistributionRule):
        where = f" FILTER (WHERE NOT isnan({col}))" if is_float else ""
        qs = _lit([float(b.q) for b in rule.quantiles])
        check.aggs = [f"{agg}({col}){where}" for agg in ("count", "avg", "stddev_samp")]
        check.aggs.append(f"quantile_cont({col}, {qs}){where}" if rule.quantiles else "NULL")
    return check


def _count_in_arrow(table: pa.Table, checks: list[_Check]) -> None:
    """Count the failures of fixed-width ``regex`` rules on in-memory strings directly.

    RE2 row by row is the slowest check in a scan; a fixed-width pattern is a few byte-table
    lookups (:mod:`cycleml.data._patterns`). Failing rules keep their SQL condition, so
    samples still come from the second, sampling pass.
    """
    for check in checks:
        rule = check.rule
        if not isinstance(rule, RegexRule) or check.problem is not None:
            continue
        column = table.column(rule.column)
        compiled = fixed_width_tables(rule.pattern)
        if compiled is None or not (
            pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        ):
            continue
        check.values = [count_fixed_width_mismatches(column, compiled)]
        check.counted = True


def _refuse_problems(checks: list[_Check], *, strict: bool) -> None:
    problems = [c for c in checks if c.problem is not None and c.cond != "TRUE"]
    if strict and problems:
        lines = "; ".join(f"{c.rule.name}: {c.problem}" for c in problems)
        raise InvalidInput(
            f"{len(problems)} validation rule(s) cannot be evaluated: {lines}.",
            hint="Fix the column names or types in the rules.",
            details={"rules": {c.rule.name: c.problem for c in problems}},
        )


def _parts(check: _Check, max_samples: int) -> list[str]:
    if check.problem is not None and check.cond != "TRUE":
        return []
    if check.cond is not None:
        parts = [f"count(*) FILTER (WHERE {check.cond})"]
        if max_samples:
            parts.append(f"arg_min({{'row': {_ROW}, 'value': {check.value}}}, {_ROW}, "
                         f"{max_samples}) FILTER (WHERE {check.cond})")  # fmt: skip
        return parts
    return list(check.aggs)


def _scan(con: duckdb.DuckDBPyConnection, checks: list[_Check], max_samples: int) -> int:
    """Count failures of every check in one aggregate query, then sample only the failures.

    Sampling aggregates cost a third of the scan even when nothing fails, so they run in a
    second query over the rules that did fail (usually none).
    """
    rows = _scan_counts(con, checks)
    failing = [
        c for c in checks
        if c.cond is not None and c.problem is None and c.values and int(c.values[0]) > 0
    ]  # fmt: skip
    if failing and max_samples:
        samples = [_parts(c, max_samples)[1] for c in failing]
        try:
            found = con.execute(f"SELECT {', '.join(samples)} FROM _data").fetchone()  # noqa: S608
        except duckdb.Error:
            found = None
        for check, value in zip(failing, found or [None] * len(failing), strict=True):
            check.values.append(value)
    return rows


def _scan_counts(con: duckdb.DuckDBPyConnection, checks: list[_Check]) -> int:
    """Evaluate every check in one aggregate query; isolate failing expressions on error."""
    parts = [[] if c.counted else _parts(c, 0) for c in checks]
    select = ", ".join(["count(*)", *(p for ps in parts for p in ps)])
    try:
        row = con.execute(f"SELECT {select} FROM _data").fetchone()  # noqa: S608
    except duckdb.Error:
        row = None
    if row is not None:
        position = 1
        for check, ps in zip(checks, parts, strict=True):
            if not check.counted:
                check.values = list(row[position : position + len(ps)])
            position += len(ps)
        return int(row[0])
    count = con.execute("SELECT count(*) FROM _data").fetchone()
    for check, ps in zip(checks, parts, strict=True):
        if ps:
            try:
                one = con.execute(f"SELECT {', '.join(ps)} FROM _data").fetchone()  # noqa: S608
                check.values = list(one or ())
            except duckdb.Error as exc:
                check.problem = f"the rule cannot be evaluated: {str(exc).splitlines()[0]}"
                check.cond = None
    return int(count[0]) if count else 0


def _unique(con: duckdb.DuckDBPyConnection, check: _Check, max_samples: int, *, keep: bool) -> None:
    """Count (and sample) the repeats of a key after its first occurrence.

    With ``keep`` the repeats' row numbers go into a temp table and ``check.cond`` selects
    them (for :func:`split_failing`); otherwise only a count runs unless there are repeats.
    """
    names = check.rule.column_names
    keys = ", ".join(_ident(c) for c in names)
    where = " AND ".join(f"{_ident(c)} IS NOT NULL" for c in names)
    on = " AND ".join(f"t.{_ident(c)} = d.{_ident(c)}" for c in names)
    value = f"t.{_ident(names[0])}" if len(names) == 1 else (
        "{" + ", ".join(f"{_lit(c)}: t.{_ident(c)}" for c in names) + "}")  # fmt: skip
    repeats = (
        f"SELECT t.{_ROW} AS r, {value} AS v, d.f AS f FROM _data t JOIN (SELECT {keys}, "  # noqa: S608
        f"min({_ROW}) AS f FROM _data WHERE {where} GROUP BY ALL HAVING count(*) > 1) d "
        f"ON {on} WHERE t.{_ROW} > d.f"
    )
    known = _integer_key_repeats(con, names)
    if known == 0:
        check.cond = "FALSE" if keep else "unique"
        check.values = [] if keep else [0, []]
        return
    if keep:
        table = f"_dups{len(con.execute('SHOW TABLES').fetchall())}"
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT r FROM ({repeats})")  # noqa: S608
        check.cond = f"{_ROW} IN (SELECT r FROM {table})"  # noqa: S608
        return
    if known is None:
        counted = con.execute(
            f"SELECT coalesce(sum(n) - count(*), 0) FROM (SELECT count(*) AS n FROM _data "  # noqa: S608
            f"WHERE {where} GROUP BY {keys})"
        ).fetchone()
        known = int(counted[0]) if counted else 0
    failing = known
    samples: list[tuple[Any, ...]] = []
    if failing and max_samples:
        samples = con.execute(f"{repeats} ORDER BY r LIMIT {max_samples}").fetchall()
    check.cond = "unique"
    check.values = [failing, [{"row": r, "value": v, "first_row": f} for r, v, f in samples]]


def _integer_key_repeats(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> int | None:
    """Count the repeats of a single integer key without a hash aggregate, when cheap.

    Keys are usually row ids: ascending (proved unique by one comparison pass) or dense (a
    bitmap over ``max - min`` marks each key). A hash table over millions of keys costs ~10x
    more. Returns ``None`` for other keys (compound, non-integer, sparse), which take the
    ``GROUP BY`` path.
    """
    if len(names) != 1:
        return None
    col = _ident(names[0])
    described = con.execute(f"DESCRIBE SELECT {col} FROM _data").fetchall()  # noqa: S608
    if str(described[0][1]) not in _INTS - {"HUGEINT", "UHUGEINT", "UBIGINT"}:
        return None
    table = con.sql(f"SELECT {col} FROM _data WHERE {col} IS NOT NULL").to_arrow_table()  # noqa: S608
    keys = table.column(0).to_numpy().astype(np.int64, copy=False)
    if len(keys) < 2 or bool(np.all(keys[1:] > keys[:-1])):
        return 0
    low, high = int(keys.min()), int(keys.max())
    if high - low >= 4 * len(keys):
        return None  # sparse: the bitmap would outweigh the hash table
    seen = np.zeros(high - low + 1, dtype=np.bool_)
    seen[keys - low] = True
    return len(keys) - int(np.count_nonzero(seen))


def _result(check: _Check, n: int, now: dt.datetime) -> RuleResult:
    """Judge one compiled, scanned check into its :class:`RuleResult`."""
    rule, values = check.rule, check.values
    details = rule.model_dump(mode="json", exclude={"name", "rule"})

    def make(
        passed: bool,
        message: str,
        failing: int = 0,
        samples: list[dict[str, Any]] | None = None,
        observed: dict[str, Any] | None = None,
        **facts: Any,
    ) -> RuleResult:
        return RuleResult(
            rule=rule.name, kind=rule.kind, columns=rule.column_names, passed=passed,
            failing_count=failing, failing_fraction=failing / n if n else 0.0,
            samples=samples or [], message=message[:1].upper() + message[1:] + ".",
            details={**details, **facts}, observed=observed or {},
        )  # fmt: skip

    if check.static is not None:
        return make(True, check.static)
    if check.problem is not None and check.cond != "TRUE":
        return make(False, check.problem, n if rule.row_level else 0, error=check.problem)
    if check.cond is not None:
        failing = int(values[0])
        samples = list(values[1] or []) if len(values) > 1 else []
        if check.problem is not None:
            return make(False, check.problem, failing, samples=samples, error=check.problem)
        mostly = getattr(rule, "mostly", 1.0)
        limit = Fraction(repr(mostly))
        passed = (n - failing) * limit.denominator >= limit.numerator * n
        text = f"{rule.describe()}; {failing:,} of {n:,} rows ({_pct(failing / n if n else 0)})"
        text += " do not" if failing != 1 else " does not"
        if mostly < 1.0:
            allowed = math.floor(n * (1 - limit))
            text += f", {'within' if passed else 'more than'} the {allowed:,} allowed by "
            text += f"mostly={mostly:g}"
        return make(passed, text, failing, samples=samples)
    if isinstance(rule, RowCountRule):
        ok = (rule.min is None or n >= rule.min) and (rule.max is None or n <= rule.max)
        return make(ok, f"{rule.describe()}; it has {n:,}", observed={"row_count": n})
    if isinstance(rule, FreshnessRule):
        if values[0] is None:
            return make(False, f"{rule.describe()}; it has no values", observed={"newest": None})
        newest = _EPOCH + dt.timedelta(microseconds=int(values[0]))
        age = now - newest
        shown = format_duration(dt.timedelta(seconds=abs(round(age.total_seconds()))))
        when = f"{shown} old" if age.total_seconds() >= 0 else f"{shown} in the future"
        observed = {"newest": newest.isoformat(), "age_seconds": age.total_seconds()}
        return make(age <= rule.max_age, f"{rule.describe()}; the newest is "
                    f"{newest.isoformat()}, {when} at {now.isoformat()}", observed=observed,
                    now=now.isoformat())  # fmt: skip
    assert isinstance(rule, DistributionRule)
    quantiles = dict(zip((f"q{b.q:g}" for b in rule.quantiles), values[3] or [], strict=False))
    raw = {"count": values[0] or 0, "mean": values[1], "std": values[2], **quantiles}
    stats: dict[str, float | None] = {k: None if v is None else float(v) for k, v in raw.items()}
    stats["count"] = int(values[0] or 0)
    checks, bad = [], []
    for stat, bounds in rule.bounded_stats():
        value = stats.get(stat)
        ok = value is not None and bounds.contains(value)
        checks.append({"stat": stat, "value": value, "min": bounds.min, "max": bounds.max,
                       "passed": ok})  # fmt: skip
        if not ok:
            bad.append(f"{stat} {'n/a' if value is None else format(value, '.6g')}")
    seen = ", ".join(f"{k} {v:.6g}" for k, v in stats.items() if v is not None)
    text = f"out of bounds: {', '.join(bad)}" if bad else f"observed {seen}"
    return make(not bad, f"{rule.describe()}; {text}", observed=stats, checks=checks)


def _pct(fraction: float) -> str:
    if 0 < fraction < 0.0001:
        return "<0.01%"
    return f"{fraction:.2%}"


def _short(value: Any, width: int = 24) -> str:
    text = repr(_json(value)) if not isinstance(value, float) else f"{value:.6g}"
    return text if len(text) <= width else text[: width - 1] + "…"


def _sample_text(sample: dict[str, Any]) -> str:
    text = f"row {sample.get('row')}: {_short(sample.get('value'))}"
    return text + (f" (= row {sample['first_row']})" if "first_row" in sample else "")


def _json(value: Any) -> Any:
    """Convert DuckDB/Python values into JSON-ready ones."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value if value is None or isinstance(value, str | int | bool) else str(value)
