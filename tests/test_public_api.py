"""The public API: every exported name exists, is documented and has type hints."""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

MODULES = [
    "cycleml",
    "cycleml.tracking",
    "cycleml.store",
    "cycleml.registry",
    "cycleml.models",
    "cycleml.spec",
    "cycleml.data",
    "cycleml.reports",
    "cycleml.serving",
    "cycleml.monitoring",
    "cycleml.server",
]


def _exports(module_name: str) -> Iterator[tuple[str, Any]]:
    module = importlib.import_module(module_name)
    for name in module.__all__:
        yield name, getattr(module, name)


def _public_callables() -> list[tuple[str, Any]]:
    found: dict[int, tuple[str, Any]] = {}
    for module_name in MODULES:
        for name, obj in _exports(module_name):
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found.setdefault(id(obj), (f"{module_name}.{name}", obj))
    return sorted(found.values(), key=lambda item: item[0])


def _missing_hints(func: Callable[..., Any], *, skip_first: bool = False) -> list[str]:
    """Parameters (and the return) of ``func`` that have no annotation."""
    signature = inspect.signature(func)
    params = list(signature.parameters.values())
    if skip_first and params:
        params = params[1:]
    missing = [p.name for p in params if p.annotation is inspect.Parameter.empty]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


def _own_public_methods(cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    """Public methods and properties defined in ``cls`` itself (not inherited)."""
    for name, attr in vars(cls).items():
        if name.startswith("_") and name != "__init__":
            continue
        if name == "__init__" and getattr(cls, "_is_protocol", False):
            continue  # typing generates a Protocol's __init__
        if isinstance(attr, property) and attr.fget is not None:
            yield name, attr.fget
        elif isinstance(attr, staticmethod | classmethod):
            yield name, attr.__func__
        elif inspect.isfunction(attr):
            yield name, attr


def _is_cycleml(obj: Any) -> bool:
    return str(getattr(obj, "__module__", "")).startswith("cycleml")


@pytest.mark.parametrize("module_name", MODULES)
def test_every_exported_name_exists(module_name: str) -> None:
    module: ModuleType = importlib.import_module(module_name)
    names = module.__all__
    assert names, f"{module_name}.__all__ is empty"
    assert len(names) == len(set(names)), f"{module_name}.__all__ has duplicates"
    missing = [name for name in names if not hasattr(module, name)]
    assert missing == [], f"{module_name}.__all__ names missing attributes: {missing}"
    assert module.__doc__, f"{module_name} has no module docstring"


def test_top_level_mirrors_the_tracking_api() -> None:
    import cycleml
    import cycleml.models
    import cycleml.tracking

    for name in cycleml.__all__:
        if name not in ("__version__", "autolog"):
            assert getattr(cycleml, name) is getattr(cycleml.tracking, name), name
    # autolog logs servable model folders, which packaging (above tracking) writes
    assert cycleml.autolog is cycleml.models.autolog
    for name in ("start_run", "log_metric", "search_runs", "autolog", "configure"):
        assert name in cycleml.__all__


HEAVY = ("sklearn", "scipy", "pandas", "alembic", "fastapi", "plotly")


def test_import_cycleml_loads_no_heavy_library(
    tmp_path: Path, fresh_imports: Callable[..., tuple[Any, set[str]]]
) -> None:
    for code in ("import cycleml", "import cycleml; cycleml.start_run"):  # lazy names resolve
        done, loaded = fresh_imports(code, tmp_path)
        assert done.returncode == 0, done.stderr
        assert [name for name in HEAVY if name in loaded] == []


def _lazy_packages() -> list[str]:
    return [m for m in MODULES if "lazy_exports(" in inspect.getsource(importlib.import_module(m))]


@pytest.mark.parametrize("module_name", _lazy_packages())
def test_lazy_exports_agree_with_the_type_checking_imports(module_name: str) -> None:
    """A lazy package's TYPE_CHECKING imports, ``__all__`` and lazy mapping name the same."""
    module = importlib.import_module(module_name)
    tree = ast.parse(inspect.getsource(module))
    imported: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.unparse(statement)
                for alias in statement.names:
                    imported[alias.asname or alias.name] = str(statement.module)
    eager = {n for n in module.__all__ if n in vars(module)}
    assert set(imported) | eager == set(module.__all__)
    for name, source in imported.items():
        value = getattr(module, name)  # resolves through the lazy mapping
        assert value is getattr(importlib.import_module(source), name), name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        module.nope  # noqa: B018
    assert set(module.__all__) <= set(dir(module))


def test_public_functions_and_classes_are_documented_and_typed() -> None:
    problems: list[str] = []
    for qualname, obj in _public_callables():
        if not _is_cycleml(obj):
            continue
        if not inspect.getdoc(obj):
            problems.append(f"{qualname}: no docstring")
        if inspect.isfunction(obj):
            missing = _missing_hints(obj)
            if missing:
                problems.append(f"{qualname}: no type hints for {missing}")
            continue
        if issubclass(obj, enum.Enum):
            continue  # members, not a constructor signature
        for name, method in _own_public_methods(obj):
            where = f"{qualname}.{name}"
            is_static = isinstance(vars(obj).get(name), staticmethod)
            missing = _missing_hints(method, skip_first=not is_static)
            if missing:
                problems.append(f"{where}: no type hints for {missing}")
            if name != "__init__" and not inspect.getdoc(method):
                problems.append(f"{where}: no docstring")
    assert problems == [], "\n".join(problems)


def test_the_checks_catch_problems() -> None:
    """The helpers above really fail on undocumented or untyped code."""

    def untyped(a, b: int = 1):  # type: ignore[no-untyped-def]
        return a

    def typed(a: int, *args: str, **kwargs: float) -> int:
        """Documented."""
        return a

    assert _missing_hints(untyped) == ["a", "return"]
    assert _missing_hints(typed) == []

    class Sample:
        def method(self, x: int) -> int:
            return x

        @property
        def prop(self) -> int:
            """Documented."""
            return 1

        def _private(self, y):  # type: ignore[no-untyped-def]
            return y

    assert dict(_own_public_methods(Sample)).keys() == {"method", "prop"}
    assert not inspect.getdoc(Sample.method)
