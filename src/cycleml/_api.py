"""The API convention's two tools: module-level shortcuts and deprecated names.

Every stage has one service named for its collection (``Datasets``, ``Models``,
``Deployments``, ``Monitors``). A module-level function that bears a service method's name is
exactly ``Service().method(...)`` on the current project, built by :func:`shortcut`, so its
signature, docstring and behaviour cannot drift from the method's. A renamed public name
keeps working for one release through :func:`deprecated_method` or :func:`warn_renamed`,
with a ``DeprecationWarning`` that names the new spelling. ``tests/test_api_convention.py``
checks both.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from cycleml.errors import InvalidInput

__all__ = ["deprecated_method", "renamed_parameters", "shortcut", "warn_renamed"]

P = ParamSpec("P")
R = TypeVar("R")


class _Closable(Protocol):
    def close(self) -> None: ...


S = TypeVar("S", bound=_Closable)


def shortcut(service: Callable[[], S], method: Callable[Concatenate[S, P], R]) -> Callable[P, R]:
    """``method`` as a module-level function: ``service()``, call, close.

    The function keeps the method's name, docstring and signature (without ``self``);
    ``__wrapped__`` is the method, which is how the API test recognises a shortcut.
    """

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        instance = service()
        try:
            return method(instance, *args, **kwargs)
        finally:
            instance.close()

    signature = inspect.signature(method)
    call.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:]
    )
    call.__module__ = method.__module__
    call.__qualname__ = method.__name__
    return call


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (removed after one release)."""
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new}.",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def deprecated_method(
    new: Callable[Concatenate[S, P], R], old_name: str, owner: str
) -> Callable[Concatenate[S, P], R]:
    """A method named ``old_name`` that warns and calls ``new`` with the same arguments.

    For a pure rename. A rename that also reorders arguments writes its alias by hand
    (calling :func:`warn_renamed`), so old positional calls keep their meaning.
    """

    def alias(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        warn_renamed(f"{owner}.{old_name}", f"{owner}.{new.__name__}")
        return new(self, *args, **kwargs)

    functools.update_wrapper(alias, new)

    alias.__name__ = old_name
    alias.__qualname__ = f"{owner}.{old_name}"
    alias.__doc__ = f"Deprecated alias of :meth:`{new.__name__}` (removed after one release)."
    alias.__deprecated__ = new.__name__  # type: ignore[attr-defined]
    return alias


def renamed_parameters(**renamed: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Accept each old keyword (``old="new"``) for one release, warning, as the new one.

    The signature shows only the new names; passing both spellings is an
    :class:`~cycleml.errors.InvalidInput`. ``__renamed_parameters__`` lists the old names
    (the API test reads it).
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        where = func.__qualname__
        params = list(inspect.signature(func).parameters)
        # A new name passed by position counts as given: where it sits among the arguments.
        position = {new: params.index(new) for new in renamed.values()}

        @functools.wraps(func)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            for old, new in renamed.items():
                if old in kwargs:
                    warn_renamed(f"{where}({old}=...)", f"{where}({new}=...)")
                    if new in kwargs or len(args) > position[new]:
                        raise InvalidInput(
                            f"{where} got both {new}= and {old}=; pass {new}= only.",
                            hint=f"{old}= is the deprecated spelling of {new}=.",
                        )
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        call.__renamed_parameters__ = dict(renamed)  # type: ignore[attr-defined]
        return call

    return decorate
