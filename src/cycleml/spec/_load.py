"""Read ``cycleml.yaml`` into a :class:`ProjectSpec`, with errors that point at the line.

The YAML text is composed into a node tree once (SafeLoader). Walking the tree gives a map
from field path (``("metrics", 1, "name")``) to 1-based line; pydantic's error ``loc`` tuples
are looked up in that map, longest prefix first. Every problem becomes one line of the
:class:`~cycleml.errors.SpecError`; the first (earliest line) is also in ``details``.
"""

from __future__ import annotations

import datetime as dt
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from cycleml.errors import SpecError
from cycleml.settings import PROJECT_FILE, find_project_root
from cycleml.spec._model import ProjectSpec
from cycleml.spec._registry import MetricRegistry, closest_name

__all__ = ["dump_spec", "find_spec", "load_spec", "parse_spec"]

Loc = tuple[str | int, ...]

_EXPECTED = {
    "string_type": "a string",
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "scalar_type": "a string, number or boolean",
}


@dataclass(frozen=True)
class _Problem:
    line: int | None
    field: str
    message: str
    valid: list[Any] | None = None


def find_spec(start: Path | None = None) -> Path | None:
    """Return the nearest ``cycleml.yaml`` at or above ``start`` (default: the cwd)."""
    root = find_project_root(start)
    return None if root is None else root / PROJECT_FILE


def load_spec(path: str | Path, *, registry: MetricRegistry | None = None) -> ProjectSpec:
    """Load and validate a project spec file.

    Args:
        path: The ``cycleml.yaml`` file, or a folder holding one.
        registry: Metric registry that metric names must resolve in (default: built-ins).

    Raises:
        SpecError: The file is missing, unreadable, malformed or has invalid fields. The
            message names the file, the line, the field path and the valid values.
    """
    file = Path(path).expanduser()
    if file.is_dir():
        file = file / PROJECT_FILE
    if not file.is_file():
        raise SpecError(
            f"No project spec found at {file}.",
            hint=f"Run `cycleml init` to create a {PROJECT_FILE}, or pass the path of an "
            "existing one.",
            details={"file": str(file)},
        )
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"{file} is not UTF-8 text ({exc.reason} at byte {exc.start}).",
            hint="Save the file as UTF-8.",
            details={"file": str(file)},
        ) from exc
    except OSError as exc:
        raise SpecError(
            f"Cannot read project spec {file}: {exc.strerror or exc}.",
            details={"file": str(file)},
        ) from exc
    return parse_spec(text, source=str(file), registry=registry)


def parse_spec(
    text: str, *, source: str = "<string>", registry: MetricRegistry | None = None
) -> ProjectSpec:
    """Parse and validate project spec text.

    Args:
        text: The YAML text.
        source: Name used in error messages (normally the file path).
        registry: Metric registry that metric names must resolve in (default: built-ins).

    Raises:
        SpecError: Malformed YAML, an empty document, a top level that is not a mapping, or
            invalid fields (all of them are reported, one per line).
    """
    node, data = _compose(text, source)
    lines, problems = _line_map(node)
    if not isinstance(data, dict):
        allowed = list(ProjectSpec.model_fields)
        raise SpecError(
            f"{source}:{node.start_mark.line + 1}: the project spec must be a mapping of "
            f"fields ({', '.join(allowed)}), got {_yaml_type(data)}.",
            hint="Start the file with `name: <project name>`.",
            details={"file": source, "line": node.start_mark.line + 1, "field": "<root>",
                     "valid": allowed},
        )  # fmt: skip
    context = {"metric_registry": registry} if registry is not None else None
    try:
        spec = ProjectSpec.model_validate(data, context=context)
    except ValidationError as exc:
        for error in exc.errors():
            problems.extend(_translate(error, lines))
        raise _spec_error(source, problems) from exc
    if problems:
        raise _spec_error(source, problems)
    return spec


def dump_spec(spec: ProjectSpec) -> str:
    """Render ``spec`` as YAML (without comments) that :func:`parse_spec` reads back."""
    data = spec.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _compose(text: str, source: str) -> tuple[yaml.Node, Any]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        where = f"{source}:{line}" if line else source
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise SpecError(
            f"{where}: malformed YAML: {what or exc}.",
            hint="Check the indentation and quoting on that line (YAML uses spaces, not tabs).",
            details={"file": source, "line": line, "field": None},
        ) from exc
    except yaml.YAMLError as exc:
        raise SpecError(
            f"{source}: malformed YAML: {exc}.", details={"file": source, "line": None}
        ) from exc
    finally:
        loader.dispose()
    if node is None:
        raise SpecError(
            f"{source}: the project spec is empty.",
            hint="Give at least `name: <project name>`, or run `cycleml init`.",
            details={"file": source, "line": 1, "field": "<root>",
                     "valid": list(ProjectSpec.model_fields)},
        )  # fmt: skip
    return node, data


def _line_map(root: yaml.Node) -> tuple[dict[Loc, int], list[_Problem]]:
    lines: dict[Loc, int] = {(): root.start_mark.line + 1}
    problems: list[_Problem] = []
    stack: list[tuple[Loc, yaml.Node]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = key_node.value
                child = (*path, key)
                line = key_node.start_mark.line + 1
                if child in lines:
                    problems.append(
                        _Problem(
                            line,
                            _format_loc(child),
                            f"duplicate key {key!r} (first on line {lines[child]}); "
                            "YAML would keep only the later value; remove one",
                        )
                    )
                lines[child] = line
                stack.append((child, value_node))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = (*path, i)
                lines[child] = item.start_mark.line + 1
                stack.append((child, item))
    return lines, problems


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<root>"


def _unwrap(annotation: Any) -> list[Any]:
    """Split ``X | None`` and ``list[X]`` into their member types."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _unwrap(arg)]
    if origin is list:
        return _unwrap(get_args(annotation)[0])
    return [annotation]


def _annotation_at(loc: Loc) -> Any:
    """The annotation of the field at ``loc`` (``None`` if the path leaves the models)."""
    current: Any = ProjectSpec
    for part in loc:
        if isinstance(part, int):
            if not any(get_origin(t) is list for t in (current, *get_args(current))):
                return None
            members = _unwrap(current)
            current = members[0] if len(members) == 1 else current
            continue
        models = [t for t in _unwrap(current) if isinstance(t, type) and issubclass(t, BaseModel)]
        if not models or part not in models[0].model_fields:
            return None
        current = models[0].model_fields[part].annotation
    return current


def _literal_values(annotation: Any) -> list[Any] | None:
    values = [v for t in _unwrap(annotation) if get_origin(t) is Literal for v in get_args(t)]
    return values or None


def _allowed_fields(loc: Loc) -> list[str]:
    annotation = _annotation_at(loc)
    for t in _unwrap(annotation):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return list(t.model_fields)
    return []


def _yaml_type(value: Any) -> str:
    if value is None:
        return "null"
    names: list[tuple[type, str]] = [
        (bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
        (dict, "a mapping"), (list, "a list"), (dt.datetime, "a timestamp"),
        (dt.date, "a date"), (bytes, "binary data"),
    ]  # fmt: skip
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return _yaml_type(value)
    if isinstance(value, dt.date):
        return f"{_yaml_type(value)} {value.isoformat()}"
    text = repr(value)
    return f"{_yaml_type(value)} {text if len(text) <= 60 else text[:57] + '...'}"


def _translate(error: ErrorDetails, lines: dict[Loc, int]) -> list[_Problem]:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value = error.get("input")

    def problem(msg: str, valid: list[Any] | None = None, at: Loc = loc) -> _Problem:
        return _Problem(_line_for(at, lines), _format_loc(at), msg, valid)

    if kind == "spec_issues":
        out = []
        for rel, msg, valid in ctx["issues"]:
            at = (*loc, *rel)
            out.append(problem(msg + (f"; valid: {_join(valid)}" if valid else ""), valid, at))
        return out
    if kind == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1])
        guess = closest_name(loc[-1], allowed)
        hint = f"; did you mean {guess!r}?" if guess else ""
        return [problem(f"unknown field {loc[-1]!r}{hint}; allowed fields: {_join(allowed)}",
                        allowed)]  # fmt: skip
    if kind == "missing":
        valid = _literal_values(_annotation_at(loc))
        extra = f"; valid values: {_join(valid)}" if valid else ""
        return [problem(f"required field is missing{extra}", valid)]
    if kind == "unknown_metric":
        valid = list(ctx["valid"])
        msg = f"unknown metric {ctx['name']!r}"
        if ctx.get("guess"):
            msg += f"; did you mean {ctx['guess']!r}?"
        return [problem(f"{msg}; known metrics: {_join(valid)}", valid)]
    if kind == "union_tag_invalid":  # e.g. an unknown `rule:` or source `kind:`
        valid = [v.strip(" '") for v in str(ctx.get("expected_tags", "")).split(",") if v]
        tag, field = ctx.get("tag"), ctx.get("discriminator", "kind").strip("'")
        guess = closest_name(str(tag), valid)
        hint = f"; did you mean {guess!r}?" if guess else ""
        return [problem(f"unknown {field} {tag!r}{hint}; valid values: {_join(valid)}", valid)]
    if kind == "literal_error":
        valid = _literal_values(_annotation_at(loc)) or []
        guess = closest_name(value, [str(v) for v in valid])
        hint = f"; did you mean {guess!r}?" if guess else ""
        return [problem(f"invalid value {value!r}{hint}; valid values: {_join(valid)}",
                        valid)]  # fmt: skip
    if kind in _EXPECTED:
        valid = _allowed_fields(loc) if kind == "model_type" else None
        expected = _EXPECTED[kind]
        if valid:
            expected += f" with fields {_join(valid)}"
        return [problem(f"expected {expected}, got {_show(value)}{_fix(kind, value)}", valid)]
    if kind in ("too_short", "string_too_short"):
        noun = "a non-empty string" if isinstance(value, str) else "at least one value"
        return [problem(f"expected {noun}, got {_show(value)}", _literal_values(
            _annotation_at(loc)))]  # fmt: skip
    return [problem(error["msg"])]


def _fix(kind: str, value: Any) -> str:
    """A short repair suggestion for common YAML typing slips."""
    if kind == "string_type" and isinstance(value, dt.date | bool | int | float):
        return " (put it in quotes to make it a string)"
    if kind in ("float_type", "int_type") and isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return " (remove the quotes to make it a number)"
    return ""


def _join(values: list[Any]) -> str:
    return ", ".join(str(v) for v in values)


def _spec_error(source: str, problems: list[_Problem]) -> SpecError:
    problems = sorted(problems, key=lambda p: p.line or 0)
    count = len(problems)
    lines = [f"Invalid project spec {source} ({count} problem{'s' if count > 1 else ''}):"]
    for p in problems:
        where = f"{source}:{p.line}" if p.line else source
        lines.append(f"  {where}: {p.field}: {p.message}")
    first = problems[0]
    return SpecError(
        "\n".join(lines),
        details={
            "file": source,
            "line": first.line,
            "field": first.field,
            "valid": first.valid,
            "errors": [
                {"line": p.line, "field": p.field, "message": p.message, "valid": p.valid}
                for p in problems
            ],
        },
    )
