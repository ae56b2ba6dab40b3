"""The API convention (docs/architecture.md, "One API convention") over every package's ``__all__``.

Services are named for their collection and share verbs that mean one thing each; pointers
come first as ``(name, version, ...)``; ``output`` is a return format, never a path; every
time parameter takes :data:`cycleml.time.TimeLike`; a module-level function named like its
stage's service method is exactly that method; there is one ``Stage``. MLflow's own names
stay MLflow's. A deprecated alias is exempt from the rules it exists to keep alive.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import cycleml

#: Every public package: the ones ``tests/test_public_api.py`` checks, found, not listed.
MODULES = ["cycleml"] + [
    f"cycleml.{info.name}"
    for info in pkgutil.iter_modules(cycleml.__path__)
    if info.ispkg and not info.name.startswith("_")
]

#: Each stage's service, named for its collection.
SERVICES = {
    "cycleml.data": "Datasets",
    "cycleml.registry": "Models",
    "cycleml.serving": "Deployments",
    "cycleml.monitoring": "Monitors",
}
#: The verbs every service shares, with their one meaning.
COMMON_VERBS = {
    "create": "add a new item; fails if it exists",
    "get": "return one item; NotFound if missing",
    "list": "return the items",
    "update": "change fields of an item",
    "delete": "remove an item",
    "set": "point or attach something to an item (an alias, a canary, a shadow)",
    "close": "release the service's store",
}
#: A stage's own verbs: one meaning each, and only the services listed use them.
STAGE_VERBS: dict[str, tuple[str, set[str]]] = {
    "ingest": ("store a source as a new dataset version", {"Datasets"}),
    "register": ("store a model URI as a new model version", {"Models"}),
    "load": ("read stored data back", {"Datasets", "Monitors"}),
    "save": ("store an object and return its reference", {"Monitors"}),
    "resolve": ("turn a URI into the concrete thing it names", {"Models"}),
    "check": ("evaluate gates or rules and change nothing", {"Models"}),
    "validate": ("evaluate data rules over data and change nothing", {"Datasets"}),
    "profile": ("summarise data column by column", {"Datasets"}),
    "compare": ("set two versions side by side", {"Datasets"}),
    "transition": ("change a model version's stage", {"Models"}),
    "rename": ("give an item a new name; what it holds moves along", {"Models"}),
    "promote": ("make a deployment's canary its primary", {"Deployments"}),
    "rollback": ("return a deployment to an earlier revision", {"Deployments"}),
    "apply": ("create or update to a declared state", {"Deployments"}),
    "run": ("evaluate a monitor over a window", {"Monitors"}),
    "report": ("build a report's data", {"Monitors"}),
    "write": ("write a rendered file", {"Monitors"}),
}
#: ``TrackingClient`` keeps ``MlflowClient``'s names, so MLflow users find them.
MLFLOW_CLIENT_NAMES = {
    "create_experiment",
    "get_experiment",
    "get_experiment_by_name",
    "rename_experiment",
    "delete_experiment",
    "restore_experiment",
    "create_run",
    "get_run",
    "log_batch",
    "log_metric",
    "log_param",
    "set_tag",
    "set_terminated",
    "get_metric_history",
    "delete_run",
    "restore_run",
    "search_runs",
    "log_artifact",
    "log_artifacts",
    "log_text",
    "log_dict",
    "list_artifacts",
    "download_artifacts",
}
#: Pointer parameters, in the order they must come (and before any other parameter).
POINTERS = ("name", "version")
TIME_PARAMETERS = {"since", "until", "now"}
#: Module-level functions named like a service method that are not its shortcut, and why.
NOT_SHORTCUTS = {
    # Pure functions over an in-memory table; the methods read a stored version.
    "cycleml.data.profile": "profiles an in-memory table",
    "cycleml.data.validate": "validates an in-memory table",
}


def _service(module_name: str) -> type:
    return getattr(importlib.import_module(module_name), SERVICES[module_name])  # type: ignore[no-any-return]


def _methods(cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    """Public methods of ``cls`` (own and inherited from cycleml classes), not deprecated."""
    for name, attr in inspect.getmembers(cls):
        if name.startswith("_") or isinstance(attr, property):
            continue
        if not callable(attr) or getattr(attr, "__deprecated__", None):
            continue
        if not str(getattr(attr, "__module__", "")).startswith("cycleml"):
            continue
        yield name, attr


def _exported() -> Iterator[tuple[str, Any]]:
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                yield f"{module_name}.{name}", getattr(module, name)


def _callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    """Every exported function, and every public method of every exported class."""
    seen: set[int] = set()
    for qualname, obj in _exported():
        if id(obj) in seen or not str(getattr(obj, "__module__", "")).startswith("cycleml"):
            continue
        seen.add(id(obj))
        if inspect.isfunction(obj):
            yield qualname, obj
        elif inspect.isclass(obj):
            for name, method in _methods(obj):
                yield f"{qualname}.{name}", method


def _parameters(func: Callable[..., Any]) -> list[inspect.Parameter]:
    params = list(inspect.signature(func).parameters.values())
    return [p for p in params if p.name not in ("self", "cls")]


def _is_repository(qualname: str) -> bool:
    # Storage contracts take plain values (ms for times); the services read user input.
    return any(part.endswith("Repository") for part in qualname.split("."))


@pytest.mark.parametrize("module_name", sorted(SERVICES))
def test_each_stage_has_one_service_named_for_its_collection(module_name: str) -> None:
    module = importlib.import_module(module_name)
    service = _service(module_name)
    assert SERVICES[module_name] in module.__all__
    assert service.__name__.endswith("s"), "a service is named for its collection (plural)"
    look_alikes = [
        name
        for name in module.__all__
        if name != service.__name__
        and inspect.isclass(getattr(module, name))
        and all(hasattr(getattr(module, name), verb) for verb in ("get", "list", "close"))
    ]
    assert look_alikes == [], f"{module_name} exports a second service: {look_alikes}"


@pytest.mark.parametrize("module_name", sorted(SERVICES))
def test_service_methods_use_the_shared_verbs(module_name: str) -> None:
    service = _service(module_name)
    problems = []
    for name, _method in _methods(service):
        verb = name.split("_")[0]
        if verb in COMMON_VERBS:
            continue
        if verb not in STAGE_VERBS:
            problems.append(f"{service.__name__}.{name}: {verb!r} is not a verb of the API")
        elif service.__name__ not in STAGE_VERBS[verb][1]:
            meaning = STAGE_VERBS[verb][0]
            problems.append(f"{service.__name__}.{name}: {verb!r} means {meaning!r} elsewhere")
    assert problems == []


def test_tracking_client_keeps_mlflow_names_and_the_shared_verbs() -> None:
    from cycleml.tracking import TrackingClient

    mlflow_verbs = {name.split("_")[0] for name in MLFLOW_CLIENT_NAMES}
    problems = [
        name
        for name, _method in _methods(TrackingClient)
        if name not in MLFLOW_CLIENT_NAMES
        and name.split("_")[0] not in {*COMMON_VERBS, *mlflow_verbs, "read"}
    ]
    assert problems == []
    assert {name for name, _ in _methods(TrackingClient)} >= MLFLOW_CLIENT_NAMES


def test_pointers_come_first_as_name_then_version() -> None:
    problems = []
    for qualname, func in _callables():
        names = [p.name for p in _parameters(func) if p.kind is p.POSITIONAL_OR_KEYWORD]
        present = [pointer for pointer in POINTERS if pointer in names]
        if "version" in present and names[: len(present)] != present:
            problems.append(f"{qualname}{inspect.signature(func)}")
    assert problems == []


def test_output_is_a_return_format_never_a_path() -> None:
    problems = [
        qualname
        for qualname, func in _callables()
        for p in _parameters(func)
        if p.name == "output" and "Path" in str(p.annotation)
    ]
    assert problems == []


def test_time_parameters_take_timelike() -> None:
    problems = [
        f"{qualname}({p.name}: {p.annotation})"
        for qualname, func in _callables()
        if not _is_repository(qualname)
        for p in _parameters(func)
        if p.name in TIME_PARAMETERS and "TimeLike" not in str(p.annotation)
    ]
    assert problems == []


@pytest.mark.parametrize("module_name", sorted(SERVICES))
def test_module_functions_named_like_a_service_method_are_its_shortcut(module_name: str) -> None:
    module = importlib.import_module(module_name)
    service = _service(module_name)
    methods = dict(_methods(service))
    problems = []
    for name in module.__all__:
        func = getattr(module, name)
        if not inspect.isfunction(func) or name not in methods:
            continue
        if f"{module_name}.{name}" in NOT_SHORTCUTS:
            continue
        if getattr(func, "__wrapped__", None) is not methods[name]:
            problems.append(f"{module_name}.{name} is not Service().{name}(...)")
        elif inspect.signature(func).parameters != dict(
            list(inspect.signature(methods[name]).parameters.items())[1:]
        ):
            problems.append(f"{module_name}.{name}: its signature differs from the method's")
    assert problems == []
    for qualname in NOT_SHORTCUTS:
        owner, _, name = qualname.rpartition(".")
        if owner == module_name:
            assert name in methods, f"{qualname} no longer collides: drop it from NOT_SHORTCUTS"


def test_there_is_one_stage_type() -> None:
    from cycleml.registry import Stage

    stages = {qualname for qualname, obj in _exported() if qualname.endswith(".Stage")}
    assert stages == {"cycleml.registry.Stage"}
    import cycleml.spec

    with pytest.warns(DeprecationWarning, match="GateStage"):
        assert cycleml.spec.Stage is cycleml.spec.GateStage
    assert Stage is not cycleml.spec.GateStage


def test_deprecated_aliases_name_a_live_method() -> None:
    for module_name in SERVICES:
        service = _service(module_name)
        for name, attr in inspect.getmembers(service):
            target = getattr(attr, "__deprecated__", None)
            if isinstance(target, str) and not name.startswith("_"):
                assert target != name
                assert callable(getattr(service, target)), f"{service.__name__}.{name}"


def test_the_checks_catch_violations() -> None:
    """The rules above fail on code that breaks them."""

    class Things:
        def fetch(self, version: int, name: str) -> None:
            """Wrong verb, wrong order."""

        def promote(self, name: str) -> None:
            """Promote means canary to primary, in Deployments only."""

    verbs = [name.split("_")[0] for name, _ in _methods(Things)]
    assert verbs == []  # a local class is not cycleml's: nothing is checked ...
    Things.__module__ = "cycleml.fake"
    for method in (Things.fetch, Things.promote):
        method.__module__ = "cycleml.fake"
    names = {name for name, _ in _methods(Things)}
    assert names == {"fetch", "promote"}  # ... until it is
    assert "fetch" not in {*COMMON_VERBS, *STAGE_VERBS}
    assert "Things" not in STAGE_VERBS["promote"][1]
    assert [p.name for p in _parameters(Things.fetch)][:2] != list(POINTERS)
