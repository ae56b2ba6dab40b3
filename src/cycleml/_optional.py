"""Optional dependencies: import one, or say which cycleml extra installs it.

A feature that needs a package outside cycleml's core dependencies (polars for
``output="polars"``, psycopg for PostgreSQL) imports it through :func:`require`. When the
package is missing, or installed but broken (psycopg without its libpq wrapper), the user
gets one :class:`~cycleml.errors.InvalidInput` naming the extra, instead of a
``ModuleNotFoundError`` traceback from deep inside a library::

    pl = require("polars", extra="polars", needed_for='load(output="polars")')
"""

from __future__ import annotations

import importlib
from types import ModuleType

from cycleml.errors import InvalidInput

__all__ = ["require"]


def require(
    module: str,
    *,
    extra: str,
    needed_for: str,
    package: str | None = None,
    alternative: str | None = None,
) -> ModuleType:
    """Import ``module``, or raise an error naming the extra that installs it.

    Args:
        module: The import name (``"psycopg"``).
        extra: The cycleml extra that installs it (``pip install "cycleml[<extra>]"``).
        needed_for: What the user asked for: the subject of the message.
        package: How the message names the package (defaults to ``module``).
        alternative: Another way that needs nothing extra, appended to the hint.

    Raises:
        InvalidInput: The module is not installed or fails to import; ``details`` holds
            ``module`` and ``extra``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name == module:
            why = "which is not installed"
        else:  # installed, but it or a library it needs fails to import
            why = f"which cannot be imported ({exc})"
        hint = f'Install it with `pip install "cycleml[{extra}]"`'
        hint += f", or {alternative}." if alternative else "."
        raise InvalidInput(
            f"{needed_for} needs {package or module}, {why}.",
            hint=hint,
            details={"module": module, "extra": extra},
        ) from exc
