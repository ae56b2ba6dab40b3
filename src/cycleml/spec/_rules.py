"""Data validation rules: the pydantic models behind ``validation:`` in ``cycleml.yaml``.

A rule is a mapping whose ``rule`` field picks its kind (a discriminated union)::

    validation:
      policy: quarantine
      rules:
        - {rule: column, column: age, type: int}
        - {rule: not_null, column: age, mostly: 0.99}
        - {rule: unique, columns: [customer_id, day]}
        - {rule: range, column: age, min: 0, max: 120}
        - {rule: allowed, column: plan, values: [free, pro]}
        - {rule: regex, column: email, pattern: '[^@]+@[^@]+'}
        - {rule: length, column: name, min: 1, max: 80}
        - {rule: row_count, min: 1000}
        - {rule: freshness, column: event_time, max_age: 2d}
        - {rule: distribution, column: amount, mean: {min: 10, max: 20},
           quantiles: [{q: 0.5, min: 10, max: 20}]}

*Row-level* rules (:data:`ROW_LEVEL_RULES`) judge each row and can quarantine it;
*aggregate* rules (row count, freshness, distribution) judge the data as a whole. NULLs only
fail ``not_null`` (and the ``mostly`` fraction counts them). Every rule has a ``name`` used in
reports; by default it is derived, e.g. ``not_null(age)``. Models are strict, frozen and
forbid unknown fields, like the rest of the spec. Cross-field problems are raised as one
``PydanticCustomError`` of type ``spec_issues`` (the shape the spec loader turns into lines).
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from cycleml.errors import InvalidInput
from cycleml.time import format_duration, parse_duration

__all__ = [
    "AGGREGATE_RULES",
    "COLUMN_TYPES",
    "ROW_LEVEL_RULES",
    "RULE_KINDS",
    "AllowedRule",
    "Bounds",
    "ColumnRule",
    "ColumnType",
    "DistributionRule",
    "FreshnessRule",
    "LengthRule",
    "NotNullRule",
    "Policy",
    "QuantileBounds",
    "RangeRule",
    "RegexRule",
    "RowCountRule",
    "Rule",
    "UniqueRule",
    "ValidationSpec",
    "bounds_text",
    "format_duration",
    "parse_duration",
    "parse_rules",
]

#: What happens when data fails validation: raise, set failing rows aside, or only report.
Policy = Literal["fail", "quarantine", "warn"]
#: Expected column types of a ``column`` rule (DuckDB/Arrow type families).
ColumnType = Literal["int", "float", "number", "string", "bool", "date", "timestamp"]
COLUMN_TYPES: tuple[str, ...] = ("int", "float", "number", "string", "bool", "date", "timestamp")
_TYPE_ALIASES = {"integer": "int", "double": "float", "str": "string", "boolean": "bool",
                 "datetime": "timestamp", "numeric": "number"}  # fmt: skip

Scalar = bool | int | float | str | dt.datetime | dt.date
Issue = tuple[tuple[str | int, ...], str, list[Any] | None]


def _issues_error(issues: list[Issue]) -> PydanticCustomError:
    text = "; ".join(f"{'.'.join(map(str, loc)) or '<root>'}: {msg}" for loc, msg, _ in issues)
    return PydanticCustomError("spec_issues", "{text}", {"text": text, "issues": issues})


class _Rule(BaseModel):
    """Fields and behaviour shared by every rule."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: Whether the rule judges single rows (and so can quarantine them).
    row_level: ClassVar[bool] = True

    rule: str
    name: str = Field(default="", description="Name in reports; default derived from the rule.")

    @model_validator(mode="after")
    def _derive_name(self) -> _Rule:
        if not self.name:
            object.__setattr__(self, "name", self.default_name())
        return self

    @property
    def kind(self) -> str:
        """The rule kind, the value of its ``rule`` field (``"not_null"``, ...)."""
        return self.rule

    @property
    def column_names(self) -> tuple[str, ...]:
        """The columns the rule reads (empty for ``row_count``)."""
        column = getattr(self, "column", None)
        return (column,) if isinstance(column, str) else ()

    def default_name(self) -> str:
        """The name used when none is given, e.g. ``not_null(age)``."""
        return f"{self.kind}({','.join(self.column_names)})"

    def describe(self) -> str:
        """What the rule requires, as a phrase (``"'age' must not be null"``)."""
        return f"{self.name} must hold"


class _ColumnField(BaseModel):
    column: str = Field(min_length=1, description="The column the rule checks.")


class _Mostly(BaseModel):
    mostly: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Fraction of rows that must pass (0.95 = 95%)."
    )


def _show(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else f"{value:g}" if isinstance(
        value, float) else str(value)  # fmt: skip


def bounds_text(
    low: Any, high: Any, low_inclusive: bool = True, high_inclusive: bool = True
) -> str:
    """Describe an interval: ``"between 0 and 120"``, ``"within (0, 1]"``, ``"at least 5"``."""
    if low is not None and high is not None:
        if low_inclusive and high_inclusive:
            return f"between {_show(low)} and {_show(high)}"
        return (f"within {'[' if low_inclusive else '('}{_show(low)}, {_show(high)}"
                f"{']' if high_inclusive else ')'}")  # fmt: skip
    if low is not None:
        return f"{'at least' if low_inclusive else 'above'} {_show(low)}"
    return f"{'at most' if high_inclusive else 'below'} {_show(high)}"


def _check_min_max(low: Any, high: Any) -> None:
    if low is None and high is None:
        raise _issues_error([((), "give at least one of min and max", ["min", "max"])])
    for field, value in (("min", low), ("max", high)):
        if isinstance(value, float) and not math.isfinite(value):
            raise _issues_error([((field,), f"{field} must be a finite number", None)])
    try:
        wrong = low is not None and high is not None and low > high
    except TypeError:
        wrong = False  # different kinds of bounds (e.g. a date and a string): DuckDB decides
    if wrong:
        raise _issues_error([(("max",), f"max {high!r} is below min {low!r}", None)])


class ColumnRule(_ColumnField, _Rule):
    """The column is present and, when ``type`` is set, of that type family.

    With ``cast: true`` a string column passes if every non-null value can be cast to
    ``type``; the values that cannot are row-level failures.
    """

    rule: Literal["column"] = "column"
    type: ColumnType | None = Field(default=None, description="Expected type family.")
    cast: bool = Field(default=False, description="Accept strings castable to `type`.")

    @field_validator("type", mode="before")
    @classmethod
    def _alias(cls, value: Any) -> Any:
        return _TYPE_ALIASES.get(value, value) if isinstance(value, str) else value

    def default_name(self) -> str:
        """``column(age)`` or ``column(age:int)``."""
        return f"column({self.column}{':' + self.type if self.type else ''})"

    def describe(self) -> str:
        """``"column 'age' must exist with type int"``."""
        typed = f" with type {self.type}" if self.type else ""
        return f"column {self.column!r} must exist{typed}" + (" (or strings castable to it)"
                                                              if self.cast else "")  # fmt: skip


class NotNullRule(_Mostly, _ColumnField, _Rule):
    """At least ``mostly`` of the rows have a value (NaN counts as null)."""

    rule: Literal["not_null"] = "not_null"

    def describe(self) -> str:
        """``"'age' must not be null"``."""
        return f"{self.column!r} must not be null"


class UniqueRule(_Rule):
    """No two rows share a key: one column (``column: id``) or a compound key (``columns``).

    Rows whose key contains a NULL are not compared. Every repeat of a key after its first
    occurrence fails.
    """

    rule: Literal["unique"] = "unique"
    columns: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _single_column(cls, data: Any) -> Any:
        if isinstance(data, dict) and "column" in data:
            if "columns" in data:
                raise _issues_error([(("column",), "give column or columns, not both", None)])
            column = data["column"]
            data = {k: v for k, v in data.items() if k != "column"}
            data["columns"] = [column]
        return data

    @field_validator("columns")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        for i, column in enumerate(value):
            if column in value[:i]:
                raise _issues_error([((i,), f"column {column!r} is listed twice", None)])
        return value

    @property
    def column_names(self) -> tuple[str, ...]:
        """The key columns."""
        return tuple(self.columns)

    def describe(self) -> str:
        """``"'id' must be unique"`` or ``"the key ('a', 'b') must be unique"``."""
        if len(self.columns) == 1:
            return f"{self.columns[0]!r} must be unique"
        return f"the key ({', '.join(map(repr, self.columns))}) must be unique"


class RangeRule(_Mostly, _ColumnField, _Rule):
    """Values lie within ``[min, max]`` (each bound optional; ``*_inclusive`` to open it)."""

    rule: Literal["range"] = "range"
    min: dt.datetime | dt.date | int | float | str | None = None
    max: dt.datetime | dt.date | int | float | str | None = None
    min_inclusive: bool = True
    max_inclusive: bool = True

    @model_validator(mode="after")
    def _bounds(self) -> RangeRule:
        _check_min_max(self.min, self.max)
        return self

    def describe(self) -> str:
        """``"'age' must be between 0 and 120"``."""
        bounds = bounds_text(self.min, self.max, self.min_inclusive, self.max_inclusive)
        return f"{self.column!r} must be {bounds}"


class AllowedRule(_Mostly, _ColumnField, _Rule):
    """Values are members of ``values``."""

    rule: Literal["allowed"] = "allowed"
    values: list[Scalar] = Field(min_length=1, description="The allowed values.")

    def describe(self) -> str:
        """``"'plan' must be one of 'free', 'pro'"`` (the first ten values)."""
        shown = ", ".join(_show(v) for v in self.values[:10])
        return f"{self.column!r} must be one of {shown}{', …' if len(self.values) > 10 else ''}"


class RegexRule(_Mostly, _ColumnField, _Rule):
    """Values fully match ``pattern`` (RE2 syntax; non-string values are matched as text)."""

    rule: Literal["regex"] = "regex"
    pattern: str = Field(min_length=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise PydanticCustomError(
                "regex_invalid", "invalid regular expression: {reason}", {"reason": str(exc)}
            ) from exc
        return value

    def describe(self) -> str:
        """``"'email' must fully match '[^@]+@[^@]+'"``."""
        return f"{self.column!r} must fully match {self.pattern!r}"


class LengthRule(_Mostly, _ColumnField, _Rule):
    """String lengths (in characters) lie within ``[min, max]``."""

    rule: Literal["length"] = "length"
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> LengthRule:
        _check_min_max(self.min, self.max)
        return self

    def describe(self) -> str:
        """``"the length of 'name' must be between 1 and 80"``."""
        return f"the length of {self.column!r} must be {bounds_text(self.min, self.max)}"


class RowCountRule(_Rule):
    """The number of rows lies within ``[min, max]`` (aggregate rule)."""

    row_level: ClassVar[bool] = False
    rule: Literal["row_count"] = "row_count"
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> RowCountRule:
        _check_min_max(self.min, self.max)
        return self

    def default_name(self) -> str:
        """``row_count``."""
        return "row_count"

    def describe(self) -> str:
        """``"the data must have at least 1000 rows"``."""
        return f"the data must have {bounds_text(self.min, self.max)} rows"


class FreshnessRule(_ColumnField, _Rule):
    """The newest timestamp in ``column`` is at most ``max_age`` old (aggregate rule).

    ``max_age`` is a duration (``"2d"``, ``"6h"``, ``"30m"``, ``"1d12h"``, see
    :mod:`cycleml.time`) or a number of seconds. Naive timestamps are taken as UTC.
    """

    row_level: ClassVar[bool] = False
    rule: Literal["freshness"] = "freshness"
    max_age: dt.timedelta

    @field_validator("max_age", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> dt.timedelta:
        try:
            return parse_duration(value, name="max_age")
        except InvalidInput as exc:
            # One line per problem: the grammar follows the message, not as a second "Hint:".
            reason = " ".join(filter(None, (exc.message, exc.hint)))
            raise PydanticCustomError("duration", "{reason}", {"reason": reason}) from exc

    @field_serializer("max_age")
    def _dump_duration(self, value: dt.timedelta) -> str:
        return format_duration(value)

    def describe(self) -> str:
        """``"the newest 'ts' must be at most 2d old"``."""
        return f"the newest {self.column!r} must be at most {format_duration(self.max_age)} old"


class Bounds(BaseModel):
    """An interval ``[min, max]`` for a statistic; either end may be open (``None``)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Bounds:
        _check_min_max(self.min, self.max)
        return self

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies within the bounds (NaN never does)."""
        if math.isnan(value):
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class QuantileBounds(Bounds):
    """Bounds for the ``q`` quantile (linear interpolation), e.g. ``{q: 0.5, min: 10}``."""

    q: float = Field(ge=0.0, le=1.0)


class DistributionRule(_ColumnField, _Rule):
    """The mean, standard deviation (sample, ddof=1) and quantiles of a numeric column lie
    within bounds (aggregate rule; NULL and NaN are ignored)."""

    row_level: ClassVar[bool] = False
    rule: Literal["distribution"] = "distribution"
    mean: Bounds | None = None
    std: Bounds | None = None
    quantiles: list[QuantileBounds] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> DistributionRule:
        if self.mean is None and self.std is None and not self.quantiles:
            raise _issues_error([((), "give at least one of mean, std and quantiles",
                                  ["mean", "std", "quantiles"])])  # fmt: skip
        qs = [b.q for b in self.quantiles]
        for i, q in enumerate(qs):
            if q in qs[:i]:
                raise _issues_error([(("quantiles", i, "q"), f"quantile {q} is listed twice",
                                      None)])  # fmt: skip
        return self

    def bounded_stats(self) -> list[tuple[str, Bounds]]:
        """``(statistic, bounds)`` pairs: ``("mean", ...)``, ``("std", ...)``, ``("q0.5", ...)``."""
        stats: list[tuple[str, Bounds]] = [(s, b) for s, b in (("mean", self.mean),
                                           ("std", self.std)) if b is not None]  # fmt: skip
        return stats + [(f"q{b.q:g}", b) for b in self.quantiles]

    def describe(self) -> str:
        """``"'amount' must have mean between 10 and 20, q0.5 at least 12"``."""
        parts = [f"{stat} {bounds_text(b.min, b.max)}" for stat, b in self.bounded_stats()]
        return f"{self.column!r} must have {', '.join(parts)}"


#: One validation rule; the ``rule`` field selects the kind.
Rule = Annotated[
    ColumnRule
    | NotNullRule
    | UniqueRule
    | RangeRule
    | AllowedRule
    | RegexRule
    | LengthRule
    | RowCountRule
    | FreshnessRule
    | DistributionRule,
    Field(discriminator="rule"),
]
_RULE_CLASSES: tuple[type[_Rule], ...] = (
    ColumnRule, NotNullRule, UniqueRule, RangeRule, AllowedRule, RegexRule, LengthRule,
    RowCountRule, FreshnessRule, DistributionRule,
)  # fmt: skip
#: Every rule kind, the valid values of the ``rule`` field.
RULE_KINDS: tuple[str, ...] = tuple(c.model_fields["rule"].default for c in _RULE_CLASSES)
#: Kinds that judge single rows (and can quarantine them).
ROW_LEVEL_RULES: tuple[str, ...] = tuple(
    c.model_fields["rule"].default for c in _RULE_CLASSES if c.row_level
)
#: Kinds that judge the data as a whole (they cannot quarantine rows).
AGGREGATE_RULES: tuple[str, ...] = tuple(k for k in RULE_KINDS if k not in ROW_LEVEL_RULES)


def _duplicate_names(rules: Sequence[_Rule]) -> list[Issue]:
    seen: dict[str, int] = {}
    issues: list[Issue] = []
    for i, rule in enumerate(rules):
        if rule.name in seen:
            msg = f"duplicate rule name {rule.name!r} (already rules[{seen[rule.name]}])"
            issues.append(((i, "name"), msg + "; give one of them another `name`", None))
        seen.setdefault(rule.name, i)
    return issues


class ValidationSpec(BaseModel):
    """The ``validation:`` section: a policy and the rules.

    Attributes:
        policy: ``fail`` (raise :class:`~cycleml.errors.ValidationFailed`), ``quarantine``
            (set rows breaking row-level rules aside; aggregate failures still fail) or
            ``warn`` (report only).
        rules: The rules, evaluated in order; names must be unique.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    policy: Policy = "fail"
    rules: list[Rule] = Field(default_factory=list)

    @field_validator("rules", mode="before")
    @classmethod
    def _none_rules(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_validator(mode="after")
    def _unique_names(self) -> ValidationSpec:
        issues = [(("rules", *loc), msg, valid) for loc, msg, valid in
                  _duplicate_names(self.rules)]  # fmt: skip
        if issues:
            raise _issues_error(issues)
        return self


_RULES_ADAPTER: TypeAdapter[list[Rule]] = TypeAdapter(list[Rule])


def parse_rules(items: Sequence[Mapping[str, Any] | Any], *, where: str = "rules") -> list[Rule]:
    """Validate a list of rule mappings (as in ``cycleml.yaml``) into rule models.

    Args:
        items: Mappings such as ``{"rule": "not_null", "column": "age", "mostly": 0.99}``
            (rule models are accepted as they are).
        where: The path prefix used in error messages.

    Raises:
        InvalidInput: One line per problem, naming the field path (``rules[1].mostly``), what
            was wrong and the valid values (for an unknown ``rule``: every rule kind).
    """
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise InvalidInput(
            f"{where}: expected a list of rule mappings, got {type(items).__name__}.",
            details={"field": where, "valid": list(RULE_KINDS)},
        )
    try:
        rules = _RULES_ADAPTER.validate_python(list(items))
    except ValidationError as exc:
        problems = [p for error in exc.errors() for p in _translate(error, where)]
        raise _invalid(where, problems) from exc
    issues = _duplicate_names(rules)
    if issues:
        raise _invalid(where, [(_path(where, loc), msg, None) for loc, msg, _ in issues])
    return rules


def _path(where: str, loc: Sequence[str | int]) -> str:
    text = where
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _translate(error: ErrorDetails, where: str) -> list[tuple[str, str, list[Any] | None]]:
    loc = list(error["loc"])
    # pydantic puts the union tag after the list index: (1, "not_null", "mostly").
    if len(loc) > 1 and isinstance(loc[0], int) and loc[1] in RULE_KINDS:
        del loc[1]
    kind, ctx, value = error["type"], dict(error.get("ctx") or {}), error.get("input")
    path = _path(where, loc)
    if kind == "spec_issues":
        return [(_path(where, [*loc, *rel]), msg, valid) for rel, msg, valid in ctx["issues"]]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        valid = list(RULE_KINDS)
        tag = ctx.get("tag")
        if tag is None:
            return [(f"{path}.rule", "required field `rule` is missing; valid rules: "
                     + ", ".join(valid), valid)]  # fmt: skip
        guess = difflib.get_close_matches(str(tag), valid, n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        return [(f"{path}.rule", f"unknown rule {tag!r}{hint}; valid rules: "
                 + ", ".join(valid), valid)]  # fmt: skip
    if kind == "extra_forbidden":
        index = loc[0] if loc and isinstance(loc[0], int) else None
        allowed = _fields_of(error, index)
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        return [(path, f"unknown field {loc[-1]!r}{hint}; allowed fields: "
                 + ", ".join(allowed), allowed)]  # fmt: skip
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        return [(path, f"invalid value {value!r}; valid values: {expected}", None)]
    if kind == "missing":
        return [(path, "required field is missing", None)]
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return [(path, f"expected a mapping, got {type(value).__name__} {value!r}", None)]
    if kind.endswith(("_type", "_parsing")):
        return [(path, f"{error['msg']}, got {type(value).__name__} {value!r}", None)]
    return [(path, error["msg"], None)]


def _fields_of(error: ErrorDetails, index: int | None) -> list[str]:
    loc = error["loc"]
    kind = loc[1] if index is not None and len(loc) > 1 else None
    for cls in _RULE_CLASSES:
        if cls.model_fields["rule"].default == kind:
            return list(cls.model_fields)
    return []


def _invalid(where: str, problems: list[tuple[str, str, list[Any] | None]]) -> InvalidInput:
    count = len(problems)
    lines = [f"Invalid validation {where} ({count} problem{'s' if count > 1 else ''}):"]
    lines += [f"  {path}: {msg}" for path, msg, _ in problems]
    first = problems[0]
    return InvalidInput(
        "\n".join(lines),
        hint=f"Valid rules: {', '.join(RULE_KINDS)}.",
        details={
            "field": first[0],
            "valid": first[2],
            "errors": [{"field": p, "message": m, "valid": v} for p, m, v in problems],
        },
    )
