"""MLflow's experiment search (filter, order_by, paging) and metric-history sampling.

Experiments are few (hundreds, not millions), so ``experiments/search`` filters and orders
the listed experiments in memory with MLflow's grammar for them:

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
from typing import Any

from cycleml.errors import InvalidInput
from cycleml.tracking import Experiment, Metric

__all__ = [
    "ExperimentComparison",
    "filter_experiments",
    "order_experiments",
    "parse_experiment_filter",
    "sample_steps",
]

_STRING_ATTRIBUTES = ("name",)
_NUMERIC_ATTRIBUTES = ("creation_time", "last_update_time")
_ORDER_KEYS = ("name", "experiment_id", "creation_time", "last_update_time")
_ATTRIBUTE_PREFIXES = ("attribute", "attributes", "attr")
_TAG_PREFIXES = ("tag", "tags")
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
    )""",
    re.VERBOSE | re.DOTALL,
)
_IDENT = re.compile(r"([A-Za-z_]\w*)(?:\.(.+))?", re.DOTALL)


@dataclass(frozen=True)
class ExperimentComparison:
    """One term of an experiment filter: ``tags.<key>`` or an attribute, an op and a value."""

    kind: str  # "attribute" or "tag"
    key: str
    op: str
    value: str | int | float


def _error(text: str, problem: str) -> InvalidInput:
    return InvalidInput(
        f"Invalid experiment filter {text[:200]!r}: {problem}",
        hint="Write comparisons like name LIKE 'churn%' AND tags.team = 'fraud'.",
        details={"filter": text},
    )


def _unquote(text: str) -> str:
    quote = text[0]
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body.replace(quote * 2, quote))


def _identifier(text: str, ident: str) -> tuple[str, str]:
    match = _IDENT.fullmatch(ident)
    assert match is not None
    head, rest = match.group(1), match.group(2)
    if rest is None:
        kind, key = "attribute", head
    elif head.lower() in _TAG_PREFIXES:
        kind, key = "tag", rest
    elif head.lower() in _ATTRIBUTE_PREFIXES:
        kind, key = "attribute", rest
    else:
        raise _error(text, f"unknown entity {head!r}; use tags.<key> or an attribute.")
    if key[:1] in ("`", '"') and key[-1:] == key[:1] and len(key) > 1:
        key = key[1:-1]
    if kind == "attribute":
        key = key.lower()
        if key not in _STRING_ATTRIBUTES + _NUMERIC_ATTRIBUTES:
            raise _error(
                text,
                f"unknown attribute {key!r}; experiments are searched by name, "
                "creation_time, last_update_time and tags.<key>.",
            )
    return kind, key


def parse_experiment_filter(text: str | None) -> list[ExperimentComparison]:
    """Parse an ``experiments/search`` filter into comparisons joined by ``AND``."""
    text = text or ""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise _error(text, f"unexpected {text[pos:].strip()[:20]!r} at position {pos}.")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    comparisons: list[ExperimentComparison] = []
    index = 0
    while index < len(tokens):
        if comparisons:
            word = tokens[index]
            if word[0] != "ident" or word[1].upper() != "AND":
                raise _error(text, f"expected AND between comparisons, found {word[1]!r}.")
            index += 1
        if index + 3 > len(tokens):
            raise _error(text, "a comparison is incomplete; write <key> <operator> <value>.")
        (ident_kind, ident), (op_kind, op), (value_kind, raw) = tokens[index : index + 3]
        if ident_kind != "ident":
            raise _error(text, f"expected a key such as name or tags.team, found {ident!r}.")
        if op_kind == "ident" and op.upper() in ("LIKE", "ILIKE"):
            op = op.upper()
        elif op_kind != "op":
            raise _error(text, f"expected an operator after {ident!r}, found {op!r}.")
        kind, key = _identifier(text, ident)
        numeric = kind == "attribute" and key in _NUMERIC_ATTRIBUTES
        allowed = _NUMERIC_OPS if numeric else _STRING_OPS
        if op not in allowed:
            raise _error(text, f"{ident} takes the operators {', '.join(allowed)}, not {op}.")
        value: str | int | float
        if numeric:
            if value_kind != "number":
                raise _error(text, f"{ident} compares numbers (milliseconds), not {raw!r}.")
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
        else:
            if value_kind != "string":
                raise _error(text, f"{ident} compares strings; quote the value {raw!r}.")
            value = _unquote(raw)
        comparisons.append(ExperimentComparison(kind, key, op, value))
        index += 3
    return comparisons


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


def _matches(experiment: Experiment, term: ExperimentComparison) -> bool:
    if term.kind == "tag":
        if term.key not in experiment.tags:
            return False
        actual: Any = experiment.tags[term.key]
    else:
        actual = getattr(experiment, term.key)
    if term.op in ("LIKE", "ILIKE"):
        pattern = _like(str(term.value), ignore_case=term.op == "ILIKE")
        return pattern.fullmatch(str(actual)) is not None
    return _COMPARE[term.op](actual, term.value)


def filter_experiments(
    experiments: Sequence[Experiment], terms: Sequence[ExperimentComparison]
) -> list[Experiment]:
    """The experiments that match every term."""
    return [e for e in experiments if all(_matches(e, term) for term in terms)]


def order_experiments(
    experiments: Sequence[Experiment], order_by: Sequence[str]
) -> list[Experiment]:
    """Experiments sorted by ``order_by`` (default newest first), ties by experiment id."""
    clauses: list[tuple[str, bool]] = []
    for item in order_by or ["creation_time DESC"]:
        words = item.strip().split()
        if not words or len(words) > 2:
            raise InvalidInput(
                f"Invalid order_by item {item!r}: expected <key> [ASC|DESC].",
                hint=f"Order experiments by one of {', '.join(_ORDER_KEYS)}.",
            )
        key = words[0]
        head, _, rest = key.partition(".")
        if rest and head.lower() in _ATTRIBUTE_PREFIXES:
            key = rest
        key = key.lower()
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if key not in _ORDER_KEYS or direction not in ("ASC", "DESC"):
            raise InvalidInput(
                f"Invalid order_by item {item!r}: experiments are ordered by "
                f"{', '.join(_ORDER_KEYS)}, each optionally ASC or DESC.",
            )
        clauses.append((key, direction == "ASC"))
    if not any(key == "experiment_id" for key, _ in clauses):
        clauses.append(("experiment_id", True))
    ordered = list(experiments)
    for key, ascending in reversed(clauses):  # stable sorts, last clause first
        ordered.sort(key=operator.attrgetter(key), reverse=not ascending)
    return ordered


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
