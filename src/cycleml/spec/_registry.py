"""The metric registry: named metrics looked up by exact lowercase name.

A :class:`MetricRegistry` is a plain object. :data:`DEFAULT_METRICS` is built once from the
built-in metrics and is *frozen*: registering into it raises :class:`InvalidState`. To add a
custom metric, either call :func:`register_metric` without a registry (it returns a new,
unfrozen copy of the defaults with the metric added) or register into a registry you own.
Pass that registry to :func:`~cycleml.spec.load_spec` so specs may name the custom metric.
No module-level state is ever mutated.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from cycleml.errors import AlreadyExists, InvalidInput, InvalidState, NotFound
from cycleml.spec._builtin import builtin_metrics
from cycleml.spec._metrics import TASKS, MetricDef

__all__ = [
    "DEFAULT_METRICS",
    "MetricRegistry",
    "closest_name",
    "get_metric",
    "list_metrics",
    "register_metric",
    "unknown_metric_error",
]


class MetricRegistry:
    """A set of named metrics.

    Args:
        metrics: Initial metrics; names must be unique.
        frozen: When true, :meth:`register` refuses; use :meth:`copy` to extend.
    """

    def __init__(self, metrics: Iterable[MetricDef] = (), *, frozen: bool = False) -> None:
        self._metrics: dict[str, MetricDef] = {}
        self._frozen = False
        for metric in metrics:
            self.register(metric)
        self._frozen = frozen

    @property
    def frozen(self) -> bool:
        """Whether :meth:`register` is refused."""
        return self._frozen

    def register(self, metric: MetricDef, *, replace: bool = False) -> None:
        """Add ``metric``.

        Raises:
            InvalidState: The registry is frozen.
            AlreadyExists: The name is taken and ``replace`` is false.
        """
        if not isinstance(metric, MetricDef):
            raise InvalidInput(f"Expected a MetricDef, got {type(metric).__name__}.")
        if self._frozen:
            raise InvalidState(
                f"Cannot register metric {metric.name!r}: this metric registry is frozen.",
                hint="Call register_metric(metric) to get an extended copy, or "
                "registry.copy() and register into the copy.",
            )
        if metric.name in self._metrics and not replace:
            raise AlreadyExists(
                f"Metric {metric.name!r} is already registered.",
                hint="Pick another name, or pass replace=True to override it.",
                details={"name": metric.name},
            )
        self._metrics[metric.name] = metric

    def get(self, name: str) -> MetricDef:
        """Return the metric called ``name``.

        Raises:
            NotFound: Unknown name; the message suggests the closest name and lists all.
        """
        try:
            return self._metrics[name]
        except (KeyError, TypeError):
            raise unknown_metric_error(name, self.names()) from None

    def names(self, task: str | None = None) -> list[str]:
        """Sorted metric names, optionally only those that fit ``task``."""
        if task is not None and task not in TASKS:
            raise InvalidInput(f"Unknown task {task!r}; valid: {', '.join(TASKS)}.")
        return sorted(n for n, m in self._metrics.items() if task is None or task in m.tasks)

    def copy(self, *, frozen: bool = False) -> MetricRegistry:
        """Return an independent registry with the same metrics."""
        return MetricRegistry(self._metrics.values(), frozen=frozen)

    def __contains__(self, name: object) -> bool:
        return name in self._metrics

    def __iter__(self) -> Iterator[MetricDef]:
        return iter([self._metrics[n] for n in self.names()])

    def __len__(self) -> int:
        return len(self._metrics)

    def __repr__(self) -> str:
        state = ", frozen" if self._frozen else ""
        return f"MetricRegistry({len(self)} metrics{state})"


def closest_name(name: object, names: list[str]) -> str | None:
    """Return the known name closest to ``name`` (difflib), or ``None``."""
    if not isinstance(name, str):
        return None
    match = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if not match:
        match = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.6)
    return match[0] if match else None


def unknown_metric_error(name: object, names: list[str]) -> NotFound:
    """Build the error for an unknown metric name (suggestion plus the full list)."""
    guess = closest_name(name, names)
    suggestion = f" Did you mean {guess!r}?" if guess else ""
    return NotFound(
        f"Unknown metric {name!r}.{suggestion} Known metrics: {', '.join(names)}.",
        hint="Use one of the known names, or register a custom metric.",
        details={"name": name, "suggestion": guess, "valid": names},
    )


#: The built-in metrics. Frozen: extend with :func:`register_metric` or ``.copy()``.
DEFAULT_METRICS = MetricRegistry(builtin_metrics(), frozen=True)


def get_metric(name: str, registry: MetricRegistry | None = None) -> MetricDef:
    """Return the metric ``name`` from ``registry`` (default: the built-ins).

    Raises:
        NotFound: Unknown name; the message suggests the closest match and lists all.
    """
    return (registry or DEFAULT_METRICS).get(name)


def list_metrics(task: str | None = None, registry: MetricRegistry | None = None) -> list[str]:
    """Sorted metric names in ``registry`` (default: the built-ins), optionally for ``task``."""
    return (registry or DEFAULT_METRICS).names(task)


def register_metric(
    metric: MetricDef, *, registry: MetricRegistry | None = None, replace: bool = False
) -> MetricRegistry:
    """Register a custom metric and return the registry that now holds it.

    With ``registry=None`` the frozen built-in registry is left untouched: the result is a
    new, unfrozen copy of the built-ins plus ``metric``. Keep it and pass it on (for example
    ``load_spec(path, registry=...)``). With a registry, ``metric`` is added to it in place
    and that same registry is returned.

    Raises:
        AlreadyExists: The name is taken (and ``replace`` is false).
        InvalidState: ``registry`` is frozen.
    """
    target = DEFAULT_METRICS.copy() if registry is None else registry
    target.register(metric, replace=replace)
    return target
