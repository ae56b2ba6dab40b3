"""MLflow-compatible run search: filter and order-by strings compiled safely to SQLAlchemy.

Filter strings (``metrics.auc > 0.9 AND params.model = 'rf'``) are scanned and parsed into
a list of :class:`Comparison` objects; nothing the user wrote is ever pasted into SQL.
Values *and keys* become bound parameters, so a hostile string either fails to parse (an
:class:`~cycleml.errors.InvalidInput` naming the 0-based character position) or is
matched as a literal.

Semantics (as MLflow unless noted):

* A comparison on a metric, param or tag only matches runs that have that key, so ``!=``
  and ``NOT IN`` never match a run without the key; ``IS NULL`` finds those.
* Metric comparisons never match NaN; ``metrics.m IS NULL`` holds when the run has no
  value for ``m`` or its latest value is NaN.
* Strings: ``'...'`` or ``"..."``; a doubled quote or a backslash escapes a quote, ``\\\\``
  is one backslash. Keys may be quoted with backticks or double quotes.
* ``LIKE`` is case-sensitive and ``ILIKE`` case-insensitive on every backend (``ILIKE``
  folds ASCII only on SQLite). ``%`` matches any run of characters, ``_`` one character
  and a backslash makes the next character literal. On SQLite ``LIKE`` compiles to
  ``GLOB`` because SQLite's own ``LIKE`` ignores ASCII case.
* Ordering puts missing values (and NaN) last in both directions, compares strings by
  code point on every backend (``COLLATE "C"`` on PostgreSQL) and ends with ``run_id``.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from sqlalchemy import (
    Float,
    Select,
    Table,
    and_,
    bindparam,
    collate,
    exists,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FromClause
from sqlalchemy.sql.visitors import InternalTraversal

from cycleml.errors import InvalidInput
from cycleml.tracking._tables import latest_metrics, params, run_tags, runs

__all__ = [
    "MAX_RESULTS_LIMIT",
    "NUMERIC_ATTRIBUTES",
    "STRING_ATTRIBUTES",
    "Comparison",
    "Entity",
    "FilterValue",
    "OrderClause",
    "build_run_search",
    "check_max_results",
    "decode_page_token",
    "encode_page_token",
    "parse_filter",
    "parse_order_by",
    "top_window_boundary",
]

#: What a comparison or order clause refers to.
Entity: TypeAlias = Literal["metric", "param", "tag", "attribute"]
#: A parsed value: a string, a number, a tuple of strings (``IN``) or ``None`` (``IS NULL``).
FilterValue: TypeAlias = str | int | float | tuple[str, ...] | None

#: Run attributes compared as strings.
STRING_ATTRIBUTES = ("run_id", "run_name", "status", "user_id", "artifact_uri", "lifecycle_stage")
#: Run attributes compared as numbers (integer milliseconds since the epoch).
NUMERIC_ATTRIBUTES = ("start_time", "end_time")
#: The largest ``max_results`` a search accepts (MLflow's limit).
MAX_RESULTS_LIMIT = 50_000

_PREFIXES: dict[str, Entity] = {
    **dict.fromkeys(("metrics", "metric"), "metric"),
    **dict.fromkeys(("params", "param"), "param"),
    **dict.fromkeys(("tags", "tag"), "tag"),
    **dict.fromkeys(("attributes", "attribute", "attr", "run"), "attribute"),
}
_PREFIX_LIST = (
    "metrics., params., tags., attributes. (or metric., param., tag., attribute., attr., run.)"
)
_ATTRIBUTES = STRING_ATTRIBUTES + NUMERIC_ATTRIBUTES
_ATTRIBUTE_ALIASES = {"created": "start_time", "runname": "run_name"}
_NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_NULL_OPS = ("IS NULL", "IS NOT NULL")
_ALL_OPS = ", ".join(_NUMERIC_OPS + _STRING_OPS[2:] + _NULL_OPS)
_SYMBOL_OPS = ("!=", "<=", ">=", "=", "<", ">")
_COMPARE = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le}
_COMPARE |= {">": operator.gt, ">=": operator.ge}

_MAX_COMPARISONS = 100
_MAX_IN_VALUES = 10_000
_MAX_PATTERN = 10_000  # SQLite refuses LIKE/GLOB patterns over 50,000 bytes
_MAX_ORDER_BY = 10
_MAX_JOINS = 30  # SQLite allows 64 tables in a join; further keys become EXISTS subqueries
_MAX_OFFSET = 10**12
_INT64 = 2**63 - 1

_WS = " \t\r\n\f\v"
_SPACES = re.compile(r"[ \t\r\n\f\v]*")
_TOKEN_TEXT = re.compile(r"[^ \t\r\n\f\v]{1,30}|.", re.DOTALL)
_WORD = re.compile(r"[A-Za-z0-9_]+")
_UNQUOTED_KEY = re.compile(r"[\w.\-/:]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(\.[0-9]*)?|(\.)[0-9]+)([eE][+-]?[0-9]+)?")
_QUOTED = {q: re.compile(rf"{q}((?:[^{q}\\]|\\.|{q}{q})*){q}", re.DOTALL) for q in "'\"`"}
_UNESCAPE = {q: re.compile(rf"\\(['\"`\\])|{q}{q}") for q in "'\"`"}
_TOKEN = re.compile(r"[A-Za-z0-9_-]+={0,2}")


@dataclass(frozen=True)
class Comparison:
    """One parsed ``<entity>.<key> <op> <value>`` term of a filter.

    Attributes:
        entity: ``"metric"``, ``"param"``, ``"tag"`` or ``"attribute"``.
        key: The key; for attributes the column name (``created`` becomes ``start_time``).
        op: ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``LIKE``, ``ILIKE``, ``IN``,
            ``NOT IN``, ``IS NULL`` or ``IS NOT NULL``.
        value: A string, a number, a tuple of strings for ``IN``, ``None`` for ``IS NULL``.
        position: Where the comparison starts in the filter string (0-based).
    """

    entity: Entity
    key: str
    op: str
    value: FilterValue
    position: int = 0


@dataclass(frozen=True)
class OrderClause:
    """One ``<entity>.<key> [ASC|DESC]`` item of an ``order_by`` list."""

    entity: Entity
    key: str
    ascending: bool = True


_RUN_ID_TIEBREAK = OrderClause("attribute", "run_id", ascending=True)


class _Parser:
    """A cursor over one filter or order-by string, raising position-aware errors."""

    def __init__(self, text: str, what: str, details: dict[str, Any]) -> None:
        self.text, self.pos, self.what, self.details = text, 0, what, details

    def error(self, pos: int, problem: str, hint: str | None = None) -> InvalidInput:
        shown = self.text if len(self.text) <= 200 else self.text[:200] + "..."
        return InvalidInput(
            f"Invalid {self.what} {shown!r} at position {pos}: {problem}",
            hint=hint or "Write comparisons like metrics.accuracy > 0.9 AND params.model = 'rf'.",
            details={**self.details, "position": pos},
        )

    def found(self, pos: int) -> str:
        """The token at ``pos`` for an error message (up to whitespace, 30 characters)."""
        match = _TOKEN_TEXT.match(self.text, pos)
        return repr(match.group()) if match else "the end of the input"

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> None:
        match = _SPACES.match(self.text, self.pos)
        self.pos = match.end() if match else self.pos

    def word(self) -> str | None:
        match = _WORD.match(self.text, self.pos)
        if match is None:
            return None
        self.pos = match.end()
        return match.group().upper()

    def quoted(self) -> str:
        start, quote = self.pos, self.peek()
        match = _QUOTED[quote].match(self.text, start)
        if match is None:
            raise self.error(
                start, f"unterminated quoted string: the {quote} here is never closed."
            )
        self.pos = match.end()
        return _UNESCAPE[quote].sub(lambda m: m.group(1) or quote, match.group(1))

    def entity_key(self, *, stops: str) -> tuple[Entity, str]:
        """Parse ``<entity>.<key>``, followed by whitespace, the end or one of ``stops``."""
        start = self.pos
        match = _WORD.match(self.text, start)
        if match is None:
            raise self.error(
                start, f"expected <entity>.<key> such as metrics.auc but found {self.found(start)}."
            )
        word, self.pos = match.group(), match.end()
        if self.peek() != ".":
            raise self.error(
                start,
                f"{word!r} has no entity prefix; prefix the key with one of {_PREFIX_LIST}.",
                hint=f"For example attributes.{word}, params.{word} or metrics.{word}.",
            )
        entity = _PREFIXES.get(word.lower())
        if entity is None:
            raise self.error(start, f"unknown entity {word!r}; valid prefixes are {_PREFIX_LIST}.")
        self.pos += 1
        key_pos = self.pos
        if self.peek() in ("`", '"'):
            key = self.quoted()
        else:
            key_match = _UNQUOTED_KEY.match(self.text, key_pos)
            if key_match is None:
                raise self.error(
                    key_pos, f"expected a key after '{word}.' but found {self.found(key_pos)}."
                )
            key, self.pos = key_match.group(), key_match.end()
        if not key:
            raise self.error(key_pos, "the key is empty.")
        if self.peek() and self.peek() not in _WS + stops:
            raise self.error(
                self.pos,
                f"unexpected {self.peek()!r} after the key {key!r}; quote keys that contain "
                "special characters with backticks, e.g. metrics.`my metric`.",
            )
        if entity == "attribute":
            name = _ATTRIBUTE_ALIASES.get(key.lower(), key.lower())
            if name not in _ATTRIBUTES:
                raise self.error(
                    key_pos,
                    f"unknown attribute {key!r}; valid attributes are {', '.join(_ATTRIBUTES)} "
                    "(and created, an alias of start_time).",
                )
            key = name
        return entity, key

    def operator(self) -> str:
        start = self.pos
        for symbol in _SYMBOL_OPS:
            if self.text.startswith(symbol, start):
                self.pos += len(symbol)
                return symbol
        words = [self.word()]
        if words[0] in ("NOT", "IS"):
            self.skip_ws()
            words.append(self.word())
            if words == ["IS", "NOT"]:
                self.skip_ws()
                words.append(self.word())
        op = " ".join(w or "" for w in words)
        if op in ("LIKE", "ILIKE", "IN", "NOT IN", *_NULL_OPS):
            return op
        raise self.error(start, f"expected an operator ({_ALL_OPS}) but found {self.found(start)}.")

    def number(self, kind: str) -> int | float:
        start = self.pos
        match = _NUMBER.match(self.text, start)
        end = match.end() if match else start
        if match is None or re.match(r"[\w.]", self.text[end : end + 1]):
            if self.peek() in ("'", '"'):
                problem = f"{kind} compare numbers, so write the number unquoted"
            else:
                problem = f"expected a number for {kind}"
            raise self.error(start, f"{problem} but found {self.found(start)}.")
        self.pos = end
        literal = match.group()
        value: int | float
        is_int = match.group(1) is None and match.group(2) is None and match.group(3) is None
        value = int(literal) if is_int else float(literal)
        if (is_int and abs(value) > _INT64) or not math.isfinite(value):
            raise self.error(start, f"the number {literal} is out of range.")
        return value

    def string(self, kind: str) -> str:
        start = self.pos
        if self.peek() not in ("'", '"'):
            extra = ""
            if _NUMBER.match(self.text, start):
                extra = f"; {kind} are strings, so quote the value: '{self.found(start)[1:-1]}'"
            raise self.error(
                start, f"expected a quoted string for {kind} but found {self.found(start)}{extra}."
            )
        return self.quoted()

    def in_list(self, kind: str) -> tuple[str, ...]:
        start = self.pos
        if self.peek() != "(":
            raise self.error(
                start, f"expected a list such as ('a', 'b') but found {self.found(start)}."
            )
        self.pos += 1
        self.skip_ws()
        if self.peek() == ")":
            raise self.error(start, "the IN list is empty; give at least one quoted string.")
        values: list[str] = []
        while True:
            self.skip_ws()
            values.append(self.string(kind))
            self.skip_ws()
            if self.peek() not in (",", ")"):
                raise self.error(
                    self.pos,
                    f"expected ',' or ')' in the IN list but found {self.found(self.pos)}.",
                )
            self.pos += 1
            if self.text[self.pos - 1] == ")":
                return tuple(values)

    def comparison(self) -> Comparison:
        start = self.pos
        entity, key = self.entity_key(stops="=!<>")
        self.skip_ws()
        op_pos = self.pos
        op = self.operator()
        numeric = entity == "metric" or (entity == "attribute" and key in NUMERIC_ATTRIBUTES)
        kind = f"attribute {key}" if entity == "attribute" else entity + "s"
        allowed = (_NUMERIC_OPS if numeric else _STRING_OPS) + (
            () if entity == "attribute" else _NULL_OPS
        )
        if op not in allowed:
            raise self.error(
                op_pos,
                f"the operator {op} cannot be used with {kind} "
                f"({'numbers' if numeric else 'strings'}); valid operators are "
                f"{', '.join(allowed)}.",
            )
        self.skip_ws()
        value_pos = self.pos
        value: FilterValue = None
        if op in ("IN", "NOT IN"):
            value = self.in_list(kind)
        elif op not in _NULL_OPS:
            value = self.number(kind) if numeric else self.string(kind)
        if op in ("LIKE", "ILIKE") and len(str(value)) > _MAX_PATTERN:
            raise self.error(value_pos, f"the pattern is longer than {_MAX_PATTERN} characters.")
        return Comparison(entity, key, op, value, start)


def parse_filter(filter_string: str | None) -> list[Comparison]:
    """Parse an MLflow ``search_runs`` filter string into comparisons joined by ``AND``.

    Args:
        filter_string: For example ``metrics.auc > 0.9 and tags."mlflow.user" = 'ann'``.
            Empty or ``None`` means no filter.

    Returns:
        The comparisons in the order written.

    Raises:
        InvalidInput: The filter is malformed; ``details`` holds ``filter`` and ``position``.
    """
    text = filter_string or ""
    parser = _Parser(text, "search filter", {"filter": text})
    if "\x00" in text:
        raise parser.error(text.index("\x00"), "the NUL character is not allowed.")
    comparisons: list[Comparison] = []
    parser.skip_ws()
    while parser.peek():
        if len(comparisons) == _MAX_COMPARISONS:
            raise parser.error(parser.pos, f"more than {_MAX_COMPARISONS} comparisons.")
        comparisons.append(parser.comparison())
        parser.skip_ws()
        if not parser.peek():
            break
        word_pos = parser.pos
        word = parser.word()
        if word == "OR":
            raise parser.error(
                word_pos,
                "OR is not supported; comparisons can only be joined with AND (as in MLflow).",
                hint="Run one search per alternative, or use IN ('a', 'b') for one key.",
            )
        if word != "AND":
            raise parser.error(
                word_pos,
                f"expected AND or the end of the filter but found {parser.found(word_pos)}.",
            )
        parser.skip_ws()
        if not parser.peek():
            raise parser.error(parser.pos, "expected a comparison after AND.")
    in_values = sum(len(c.value) for c in comparisons if isinstance(c.value, tuple))
    if in_values > _MAX_IN_VALUES:
        raise parser.error(0, f"the IN lists hold {in_values} values; at most {_MAX_IN_VALUES}.")
    return comparisons


def parse_order_by(order_by: Sequence[str] | None) -> list[OrderClause]:
    """Parse ``order_by`` items such as ``metrics.m2 DESC`` or ``attributes.start_time``.

    Returns:
        The clauses in order (``attributes.start_time DESC`` when empty), always ending with
        the ``attributes.run_id`` tiebreak so that paging is stable.

    Raises:
        InvalidInput: An item is malformed; ``details`` holds the item (``order_by``), its
        ``index`` and the ``position`` in it.
    """
    items = list(order_by or [])
    if len(items) > _MAX_ORDER_BY:
        raise InvalidInput(
            f"Invalid order_by: {len(items)} items given; at most {_MAX_ORDER_BY} are allowed.",
            details={"order_by": items, "position": 0},
        )
    clauses: list[OrderClause] = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidInput(
                f"Invalid order_by item {item!r} at index {index}: expected a string such as "
                "'metrics.accuracy DESC'.",
                details={"order_by": repr(item), "index": index, "position": 0},
            )
        parser = _Parser(item, "order_by item", {"order_by": item, "index": index})
        parser.skip_ws()
        entity, key = parser.entity_key(stops="")
        parser.skip_ws()
        word_pos = parser.pos
        word = parser.word() if parser.peek() else "ASC"
        parser.skip_ws()
        if word not in ("ASC", "DESC") or parser.peek():
            pos = word_pos if word not in ("ASC", "DESC") else parser.pos
            raise parser.error(pos, f"expected ASC, DESC or the end but found {parser.found(pos)}.")
        clauses.append(OrderClause(entity, key, ascending=word == "ASC"))
    if not clauses:
        clauses.append(OrderClause("attribute", "start_time", ascending=False))
    if clauses[-1] != _RUN_ID_TIEBREAK:
        clauses.append(_RUN_ID_TIEBREAK)
    return clauses


class _PerDialect(ColumnElement[Any]):
    """An expression rendered differently on SQLite, PostgreSQL and other dialects."""

    __visit_name__ = "cycleml_per_dialect"
    inherit_cache = True
    _traverse_internals = [
        ("default", InternalTraversal.dp_clauseelement),
        ("sqlite", InternalTraversal.dp_clauseelement),
        ("postgresql", InternalTraversal.dp_clauseelement),
    ]

    def __init__(
        self,
        default: ColumnElement[Any],
        *,
        sqlite: ColumnElement[Any] | None = None,
        postgresql: ColumnElement[Any] | None = None,
    ) -> None:
        self.default, self.sqlite, self.postgresql = default, sqlite, postgresql
        self.type = default.type


@compiles(_PerDialect)
def _compile_per_dialect(element: _PerDialect, compiler: SQLCompiler, **kw: Any) -> str:
    chosen = getattr(element, compiler.dialect.name, element.default)
    return compiler.process(chosen if chosen is not None else element.default, **kw)


def _like(column: ColumnElement[Any], pattern: str, *, ignore_case: bool) -> ColumnElement[bool]:
    """``LIKE`` (case-sensitive everywhere) or ``ILIKE``; the pattern is a bound parameter."""
    tokens: list[tuple[bool, str]] = []  # (is_wildcard, character)
    i = 0
    while i < len(pattern):
        escaped = pattern[i] == "\\" and i + 1 < len(pattern)
        char = pattern[i + 1] if escaped else pattern[i]
        tokens.append((not escaped and char in "%_", char))
        i += 2 if escaped else 1
    like = "".join(c if wild or c not in "%_\\" else "\\" + c for wild, c in tokens)
    if ignore_case:
        return func.lower(column).like(func.lower(like), escape="\\")
    glob = "".join(
        ("*" if c == "%" else "?") if wild else (f"[{c}]" if c in "*?[" else c)
        for wild, c in tokens
    )
    return _PerDialect(
        column.like(like, escape="\\"), sqlite=column.op("GLOB", is_comparison=True)(glob)
    )


def _code_point_order(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """Order strings by code point everywhere (SQLite's default BINARY collation)."""
    return _PerDialect(column, postgresql=collate(column, "C"))


def _condition(column: ColumnElement[Any], comp: Comparison) -> ColumnElement[bool]:
    """The SQL condition of one comparison on ``column``; every value is a bound parameter."""
    value, op = comp.value, comp.op
    if op in ("IN", "NOT IN") and isinstance(value, tuple):
        return column.in_(list(value)) if op == "IN" else column.not_in(list(value))
    if op in ("LIKE", "ILIKE") and isinstance(value, str):
        return _like(column, value, ignore_case=op == "ILIKE")
    numeric = isinstance(value, float) or comp.entity == "metric"
    if op in _COMPARE and isinstance(value, (int, float) if numeric else (str, int)):
        bound = bindparam(None, value, type_=Float() if numeric else column.type)
        result: ColumnElement[bool] = _COMPARE[op](column, bound)
        return result
    raise InvalidInput(f"Invalid comparison {comp!r}: the operator and value do not fit.")


_TABLES: dict[str, Table] = {"metric": latest_metrics, "param": params, "tag": run_tags}


def _has_value(alias: FromClause, entity: str) -> list[ColumnElement[bool]]:
    """Extra conditions for a metric row to count as a value (not NaN)."""
    return [alias.c.value.is_not(None), alias.c.is_nan == false()] if entity == "metric" else []


def build_run_search(
    *,
    experiment_ids: Sequence[str],
    filters: Sequence[Comparison],
    order: Sequence[OrderClause],
    lifecycle_stages: Sequence[str] = ("active",),
    limit: int,
    offset: int,
    window: int | None = None,
) -> Select[*tuple[Any, ...]]:
    """Build the SELECT of one page of a run search.

    Each filtered metric, param or tag key is an inner JOIN on its own alias of the table
    (``latest_metrics AS m_0 ON m_0.run_id = runs.run_id AND m_0.key = :key``), shared by
    all comparisons on that key (past 30 keys, EXISTS subqueries); ``IS [NOT] NULL`` is a
    ``[NOT] EXISTS``. Ordering by a key LEFT OUTER JOINs an alias (or reuses the filter's)
    and sorts by ``value IS NULL`` first, so missing values and NaN come last both ways.

    Args:
        experiment_ids: Experiments to search.
        filters: Comparisons from :func:`parse_filter`, all of which must hold.
        order: Clauses from :func:`parse_order_by`; a ``run_id`` tiebreak is added if absent.
        lifecycle_stages: Run lifecycle stages to include (``active``, ``deleted``).
        limit: Maximum number of rows.
        offset: Rows to skip (see :func:`decode_page_token`).
        window: Only when the first clause orders by a metric: consider just the
            ``window`` runs with the best values of that metric (a LIMITed subquery on its
            ``(key, value)`` index), so the database walks the index in order instead of
            sorting every match. The caller checks the result is complete (see
            :func:`top_window_boundary`) and otherwise searches without a window.

    Returns:
        A SELECT of the ``runs`` columns (``run_id`` first) in result order; with a window,
        the window's metric value is appended as the last column.

    Raises:
        InvalidInput: A comparison or clause is not valid, or limit/offset is negative.
    """
    if limit < 0 or offset < 0:
        raise InvalidInput(f"limit and offset must be >= 0; received {limit} and {offset}.")
    if len(order) > _MAX_ORDER_BY + 1:
        raise InvalidInput(f"At most {_MAX_ORDER_BY} order_by clauses; received {len(order)}.")
    exp_ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
    stages = [lifecycle_stages] if isinstance(lifecycle_stages, str) else list(lifecycle_stages)
    source: FromClause = runs
    where: list[ColumnElement[bool]] = [
        runs.c.experiment_id.in_(exp_ids),
        runs.c.lifecycle_stage.in_(stages),
    ]
    aliases: dict[tuple[str, str], FromClause] = {}
    names = itertools.count()

    def new_alias(entity: str) -> FromClause:
        return _TABLES[entity].alias(f"{entity[0]}_{next(names)}")

    groups: dict[tuple[str, str], list[Comparison]] = {}
    for comp in filters:
        if comp.entity == "attribute" and comp.key in _ATTRIBUTES:
            where.append(_condition(runs.c[comp.key], comp))
        elif comp.entity in _TABLES:
            groups.setdefault((comp.entity, comp.key), []).append(comp)
        else:
            raise InvalidInput(f"Invalid comparison {comp!r}: unknown entity or attribute.")
    for (entity, key), comps in groups.items():
        valued = [c for c in comps if c.op not in _NULL_OPS]
        if valued:
            alias = new_alias(entity)
            match = [alias.c.run_id == runs.c.run_id, alias.c.key == key]
            conds = [_condition(alias.c.value, c) for c in valued] + _has_value(alias, entity)
            if len(aliases) < _MAX_JOINS:
                source = source.join(alias, and_(*match))
                where.extend(conds)
                aliases[(entity, key)] = alias
            else:
                where.append(exists().where(*match, *conds))
        for comp in comps:
            if comp.op in _NULL_OPS:
                alias = new_alias(entity)
                found = exists().where(
                    alias.c.run_id == runs.c.run_id, alias.c.key == key, *_has_value(alias, entity)
                )
                where.append(found if comp.op == "IS NOT NULL" else ~found)

    order_by: list[ColumnElement[Any]] = []
    clauses = list(order)
    if not clauses or clauses[-1] != _RUN_ID_TIEBREAK:
        clauses.append(_RUN_ID_TIEBREAK)
    extra: list[ColumnElement[Any]] = []
    if window is not None:
        if clauses[0].entity != "metric":
            raise InvalidInput("A search window needs a first order clause on a metric.")
        top = _top_window(clauses[0], window).subquery("w_0")
        source = source.join(top, top.c.run_id == runs.c.run_id)
        first = clauses.pop(0)
        order_by.append(top.c.value.asc() if first.ascending else top.c.value.desc())
        extra.append(top.c.value)
    for clause in clauses:
        if clause.entity == "attribute" and clause.key in _ATTRIBUTES:
            column: ColumnElement[Any] = runs.c[clause.key]
            if runs.c[clause.key].nullable:
                order_by.append(column.is_(None))
            if clause.key in STRING_ATTRIBUTES:
                column = _code_point_order(column)
        elif clause.entity in _TABLES:
            if (clause.entity, clause.key) not in aliases:
                alias = new_alias(clause.entity)
                on = and_(alias.c.run_id == runs.c.run_id, alias.c.key == clause.key)
                source = source.outerjoin(alias, on)
                aliases[(clause.entity, clause.key)] = alias
            alias = aliases[(clause.entity, clause.key)]
            if clause.entity == "metric":
                order_by.append(or_(alias.c.value.is_(None), alias.c.is_nan == true()))
                column = alias.c.value
            else:
                order_by.append(alias.c.value.is_(None))
                column = _code_point_order(alias.c.value)
        else:
            raise InvalidInput(f"Invalid order clause {clause!r}: unknown entity or attribute.")
        order_by.append(column.asc() if clause.ascending else column.desc())

    stmt = select(runs, *extra).select_from(source).where(*where).order_by(*order_by)
    return stmt.limit(limit).offset(offset)


def _top_window(clause: OrderClause, size: int) -> Select[*tuple[Any, ...]]:
    """The ``size`` best valued (not missing, not NaN) rows of one metric, best first."""
    metric = latest_metrics
    best = metric.c.value.asc() if clause.ascending else metric.c.value.desc()
    return (
        select(metric.c.run_id, metric.c.value)
        .where(metric.c.key == clause.key, metric.c.value.is_not(None), metric.c.is_nan == false())
        .order_by(best)
        .limit(size)
    )


def top_window_boundary(clause: OrderClause, size: int) -> Select[*tuple[Any, ...]]:
    """The value of the last row of a full window (no row when the window holds them all).

    Rows of a windowed search whose value is strictly better than this boundary are
    exactly the rows an unwindowed search would return first; at the boundary value a tie
    may continue outside the window.
    """
    return _top_window(clause, 1).with_only_columns(latest_metrics.c.value).offset(size - 1)


def encode_page_token(offset: int) -> str:
    """Encode a result offset as an opaque page token (base64url of ``{"offset": n}``)."""
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= _MAX_OFFSET:
        raise InvalidInput(f"Invalid page offset {offset!r}: expected 0 to {_MAX_OFFSET}.")
    raw = json.dumps({"offset": offset}, separators=(",", ":")).encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_page_token(token: str | None) -> int:
    """Decode a token from :func:`encode_page_token` into an offset; ``None``/``""`` is 0.

    Raises:
        InvalidInput: The token is malformed, was not made by cycleml, or is negative.
    """
    if token is None or token == "":
        return 0
    shown = repr(token) if len(repr(token)) <= 80 else repr(token)[:80] + "..."
    error = InvalidInput(
        f"Invalid page token {shown}: it is not a token returned by a previous search.",
        hint="Pass the next_page_token of the previous page unchanged, or omit it.",
        details={"page_token": shown},
    )
    if not isinstance(token, str) or len(token) > 200 or not _TOKEN.fullmatch(token):
        raise error
    body = token.rstrip("=")
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError and JSONDecodeError
        raise error from exc
    offset = data.get("offset") if isinstance(data, dict) and len(data) == 1 else None
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= _MAX_OFFSET:
        raise error
    return offset


def check_max_results(max_results: int) -> int:
    """Return ``max_results`` if it is an integer from 1 to 50,000, else raise InvalidInput."""
    if (
        isinstance(max_results, bool)
        or not isinstance(max_results, int)
        or not 1 <= max_results <= MAX_RESULTS_LIMIT
    ):
        raise InvalidInput(
            f"Invalid max_results {max_results!r}: expected an integer from 1 to "
            f"{MAX_RESULTS_LIMIT}.",
            details={"max_results": repr(max_results)},
        )
    return max_results
