"""MLflow's searches of small collections (filter, order_by) and metric-history sampling.

Experiments, registered models, model versions and logged models are few (thousands, not
millions), so their searches filter and order the listed entities in memory, each with
MLflow's grammar for it (a :class:`FilterGrammar`). For experiments:

* a filter is comparisons joined by ``AND``: ``name LIKE 'churn%' AND tags.team = 'fraud'``;
* ``name`` (or ``attribute.name``) takes ``=``, ``!=``, ``LIKE`` and ``ILIKE`` with a quoted
  string; ``creation_time`` and ``last_update_time`` take ``=``, ``!=``, ``<``, ``<=``, ``>``,
  ``>=`` with a number (milliseconds); ``tags.<key>`` (a key with other characters quoted
  with backticks or double quotes) takes the string operators, and only matches
  experiments that have the tag;
* ``order_by`` items are ``name``, ``experiment_id``, ``creation_time`` or
  ``last_update_time``, each optionally ``ASC`` or ``DESC``; the default is newest first.
"""

from __future__ import annotations

import bisect
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cycleml.errors import InvalidInput
from cycleml.tracking import Experiment, Metric

__all__ = [
    "EXPERIMENT_FILTER",
    "Comparison",
    "ExperimentComparison",
    "FilterGrammar",
    "filter_entities",
    "filter_experiments",
    "order_entities",
    "order_experiments",
    "parse_experiment_filter",
    "parse_filter",
    "sample_steps",
]

_ATTRIBUTE_PREFIXES = ("attribute", "attributes", "attr")
_TAG_PREFIXES = ("tag", "tags")
_PARAM_PREFIXES = ("param", "params", "parameter", "parameters")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE")
_NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
      | (?P<ident>[A-Za-z_]\w*(?:\.(?:`[^`]*`|"[^"]*"|[\w.\-/:]+))?)
      | (?P<number>[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)
      | (?P<op>!=|<=|>=|=|<|>)
      | (?P<punct>[(),])
    )""",
    re.VERBOSE | re.DOTALL,
)
_IDENT = re.compile(r"([A-Za-z_]\w*)(?:\.(.+))?", re.DOTALL)
T = TypeVar("T")


@dataclass(frozen=True)
class FilterGrammar:
    """What one search's filter may name: its attributes and whether params are searchable.

    Args:
        what: The entities searched, for messages (``"experiment"``).
        strings: Attributes compared as strings (``=``, ``!=``, ``LIKE``, ``ILIKE``).
        numbers: Attributes compared as numbers (``=``, ``!=``, ``<`` ... ``>=``).
        params: Whether ``params.<key>`` may be named (``tags.<key>`` always may).
        example: A filter shown in error hints.
        order_keys: The attributes ``order_by`` may name.
        tiebreak: The attribute that orders ties last (unique per entity).
        default_order: ``order_by`` when none is given.
    """

    what: str
    strings: tuple[str, ...]
    numbers: tuple[str, ...]
    example: str
    order_keys: tuple[str, ...]
    tiebreak: str
    default_order: tuple[str, ...]
    params: bool = False
    lists: tuple[str, ...] = ()  # string attributes that also take IN / NOT IN (...)


EXPERIMENT_FILTER = FilterGrammar(
    what="experiment",
    strings=("name",),
    numbers=("creation_time", "last_update_time"),
    example="name LIKE 'churn%' AND tags.team = 'fraud'",
    order_keys=("name", "experiment_id", "creation_time", "last_update_time"),
    tiebreak="experiment_id",
    default_order=("creation_time DESC",),
)


@dataclass(frozen=True)
class Comparison:
    """One term of a filter: ``tags.<key>``, ``params.<key>`` or an attribute, an op, a value."""

    kind: str  # "attribute", "tag" or "param"
    key: str
    op: str
    value: str | int | float | tuple[str, ...]  # a tuple for IN and NOT IN


#: The older name of :class:`Comparison`, from when only experiments were searched.
ExperimentComparison = Comparison


def _error(text: str, problem: str, grammar: FilterGrammar) -> InvalidInput:
    return InvalidInput(
        f"Invalid {grammar.what} filter {text[:200]!r}: {problem}",
        hint=f"Write comparisons like {grammar.example}.",
        details={"filter": text},
    )


def _unquote(text: str) -> str:
    quote = text[0]
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body.replace(quote * 2, quote))


def _identifier(text: str, ident: str, grammar: FilterGrammar) -> tuple[str, str]:
    match = _IDENT.fullmatch(ident)
    assert match is not None
    head, rest = match.group(1), match.group(2)
    prefixes = "tags.<key>, params.<key>" if grammar.params else "tags.<key>"
    if rest is None:
        kind, key = "attribute", head
    elif head.lower() in _TAG_PREFIXES:
        kind, key = "tag", rest
    elif grammar.params and head.lower() in _PARAM_PREFIXES:
        kind, key = "param", rest
    elif head.lower() in _ATTRIBUTE_PREFIXES:
        kind, key = "attribute", rest
    else:
        raise _error(text, f"unknown entity {head!r}; use {prefixes} or an attribute.", grammar)
    if key[:1] in ("`", '"') and key[-1:] == key[:1] and len(key) > 1:
        key = key[1:-1]
    if kind == "attribute":
        key = key.lower()
        if key not in grammar.strings + grammar.numbers:
            known = ", ".join((*grammar.strings, *grammar.numbers))
            raise _error(
                text,
                f"unknown attribute {key!r}; {grammar.what}s are searched by {known} and "
                f"{prefixes}.",
                grammar,
            )
    return kind, key


def parse_experiment_filter(text: str | None) -> list[Comparison]:
    """Parse an ``experiments/search`` filter into comparisons joined by ``AND``."""
    return parse_filter(text, EXPERIMENT_FILTER)


def parse_filter(text: str | None, grammar: FilterGrammar) -> list[Comparison]:
    """Parse a search filter of ``grammar`` into comparisons joined by ``AND``."""
    text = text or ""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise _error(
                text, f"unexpected {text[pos:].strip()[:20]!r} at position {pos}.", grammar
            )
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    comparisons: list[Comparison] = []
    index = 0
    while index < len(tokens):
        if comparisons:
            word = tokens[index]
            if word[0] != "ident" or word[1].upper() != "AND":
                raise _error(text, f"expected AND between comparisons, found {word[1]!r}.", grammar)
            index += 1
        if index + 3 > len(tokens):
            raise _error(
                text, "a comparison is incomplete; write <key> <operator> <value>.", grammar
            )
        (ident_kind, ident), (op_kind, op), (value_kind, raw) = tokens[index : index + 3]
        if ident_kind != "ident":
            raise _error(
                text, f"expected a key such as name or tags.team, found {ident!r}.", grammar
            )
        if op_kind == "ident" and op.upper() in ("IN", "NOT"):
            index = _list_term(text, tokens, index, grammar, comparisons)
            continue
        if op_kind == "ident" and op.upper() in ("LIKE", "ILIKE"):
            op = op.upper()
        elif op_kind != "op":
            raise _error(text, f"expected an operator after {ident!r}, found {op!r}.", grammar)
        kind, key = _identifier(text, ident, grammar)
        numeric = kind == "attribute" and key in grammar.numbers
        allowed = _NUMERIC_OPS if numeric else _STRING_OPS
        if op not in allowed:
            raise _error(
                text, f"{ident} takes the operators {', '.join(allowed)}, not {op}.", grammar
            )
        value: str | int | float
        if numeric:
            if value_kind != "number":
                raise _error(
                    text, f"{ident} compares numbers (milliseconds), not {raw!r}.", grammar
                )
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        else:
            if value_kind != "string":
                raise _error(text, f"{ident} compares strings; quote the value {raw!r}.", grammar)
            value = _unquote(raw)
        comparisons.append(Comparison(kind, key, op, value))
        index += 3
    return comparisons


def _list_term(
    text: str,
    tokens: list[tuple[str, str]],
    index: int,
    grammar: FilterGrammar,
    into: list[Comparison],
) -> int:
    """Read ``<attribute> [NOT] IN ('a', 'b')`` at ``index``; return the index after it."""
    ident = tokens[index][1]
    kind, key = _identifier(text, ident, grammar)
    position = index + 1
    op = "IN"
    if tokens[position][1].upper() == "NOT":
        position += 1
        op = "NOT IN"
        if position >= len(tokens) or tokens[position][1].upper() != "IN":
            raise _error(text, f"expected IN after {ident} NOT.", grammar)
    if kind != "attribute" or key not in grammar.lists:
        allowed = ", ".join(grammar.lists) or "no attribute"
        raise _error(text, f"{op} takes {allowed} here, not {ident}.", grammar)
    position += 1
    if position >= len(tokens) or tokens[position] != ("punct", "("):
        raise _error(text, f"expected a list like ('a', 'b') after {op}.", grammar)
    values: list[str] = []
    position += 1
    while True:
        if position + 1 >= len(tokens) or tokens[position][0] != "string":
            raise _error(text, f"{op} takes a list of quoted strings.", grammar)
        values.append(_unquote(tokens[position][1]))
        closing = tokens[position + 1]
        position += 2
        if closing == ("punct", ")"):
            break
        if closing != ("punct", ","):
            raise _error(text, f"expected ',' or ')' in the {op} list.", grammar)
    into.append(Comparison(kind, key, op, tuple(values)))
    return position


def _like(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    parts = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _matches(entity: Any, term: Comparison, absent_differs: bool) -> bool:
    if term.kind in ("tag", "param"):
        values = entity.tags if term.kind == "tag" else entity.params
        if term.key not in values:
            return absent_differs and term.kind == "tag" and term.op == "!="
        actual: Any = values[term.key]
    else:
        actual = getattr(entity, term.key)
    if actual is None:
        return False
    if term.op in ("IN", "NOT IN"):
        assert isinstance(term.value, tuple)
        return (str(actual) in term.value) == (term.op == "IN")
    if term.op in ("LIKE", "ILIKE"):
        pattern = _like(str(term.value), ignore_case=term.op == "ILIKE")
        return pattern.fullmatch(str(actual)) is not None
    return bool(_COMPARE[term.op](actual, term.value))


def filter_entities(
    entities: Sequence[T], terms: Sequence[Comparison], *, absent_tags_differ: bool = False
) -> list[T]:
    """The entities that match every term (attributes read with ``getattr``).

    A term on a tag the entity lacks is false, unless ``absent_tags_differ`` makes
    ``tags.k != 'v'`` true for it: MLflow's registry searches work so (its client adds
    ``tags.`mlflow.prompt.is_prompt` != 'true'`` to every search, to leave prompts out).
    """
    return [e for e in entities if all(_matches(e, t, absent_tags_differ) for t in terms)]


def filter_experiments(
    experiments: Sequence[Experiment], terms: Sequence[Comparison]
) -> list[Experiment]:
    """The experiments that match every term."""
    return filter_entities(experiments, terms)


def order_entities(
    entities: Sequence[T], order_by: Sequence[str], grammar: FilterGrammar
) -> list[T]:
    """Entities sorted by ``order_by`` (``<key> [ASC|DESC]`` items), ties by the tiebreak."""
    keys = ", ".join(grammar.order_keys)
    clauses: list[tuple[str, bool]] = []
    for item in order_by or grammar.default_order:
        words = item.strip().split()
        if not words or len(words) > 2:
            raise InvalidInput(
                f"Invalid order_by item {item!r}: expected <key> [ASC|DESC].",
                hint=f"Order {grammar.what}s by one of {keys}.",
            )
        key = words[0]
        head, _, rest = key.partition(".")
        if rest and head.lower() in _ATTRIBUTE_PREFIXES:
            key = rest
        key = key.lower()
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if key not in grammar.order_keys or direction not in ("ASC", "DESC"):
            raise InvalidInput(
                f"Invalid order_by item {item!r}: {grammar.what}s are ordered by {keys}, "
                "each optionally ASC or DESC.",
            )
        clauses.append((key, direction == "ASC"))
    if not any(key == grammar.tiebreak for key, _ in clauses):
        clauses.append((grammar.tiebreak, True))
    ordered = list(entities)
    for key, ascending in reversed(clauses):  # stable sorts, last clause first
        ordered.sort(key=operator.attrgetter(key), reverse=not ascending)
    return ordered


def order_experiments(
    experiments: Sequence[Experiment], order_by: Sequence[str]
) -> list[Experiment]:
    """Experiments sorted by ``order_by`` (default newest first), ties by experiment id."""
    return order_entities(experiments, order_by, EXPERIMENT_FILTER)


def sample_steps(
    histories: Sequence[Sequence[Metric]], max_results: int, start: int | None, end: int | None
) -> set[int]:
    """The steps ``metrics/get-history-bulk-interval`` answers with, across several runs.

    At most ``max_results`` steps spread evenly over the distinct steps logged in
    ``[start, end]`` (default: from 0 to the last step), plus each run's first and last
    step in that range, so every curve keeps its ends.
    """
    steps = sorted({point.step for history in histories for point in history})
    if start is None or end is None:
        start, end = 0, (steps[-1] if steps else 0)
    low, high = bisect.bisect_left(steps, start), bisect.bisect_right(steps, end)
    window = steps[low:high]
    if len(window) <= max_results:
        chosen = set(window)
    else:
        chosen = {window[int(i * len(window) / max_results)] for i in range(max_results)}
        chosen.add(window[-1])
    for history in histories:
        inside = [point.step for point in history if start <= point.step <= end]
        if inside:
            chosen.update((min(inside), max(inside)))
    return chosen
