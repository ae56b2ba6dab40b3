"""Lazy re-exports for package ``__init__`` modules (PEP 562), as scikit-learn does.

``import cycleml`` must cost next to nothing (DESIGN.md section 3): a package's public
names are looked up in their private module only when first used. A package writes its
imports under ``if TYPE_CHECKING:`` (what type checkers and readers see), its ``__all__``,
and one mapping from each public name to the module that defines it::

    __getattr__, __dir__ = lazy_exports(__name__, {"load_spec": "cycleml.spec._load"})

``tests/test_public_api.py`` checks that the three agree in every package.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for ``exports`` (name -> module).

    The first access imports the defining module and caches the value in the package's
    namespace, so later accesses are plain attribute lookups.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        namespace = vars(sys.modules[package])
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
