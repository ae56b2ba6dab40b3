"""The core every part of the SQL metadata store shares: engine, transactions, actor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from cycleml.errors import CycleMLError, StoreError
from cycleml.store._engine import (
    make_engine,
    read_connection,
    retry_transient,
    write_connection,
)
from cycleml.store._migrate import upgrade_to_head

__all__ = ["StoreBase"]

T = TypeVar("T")


class StoreBase:
    """Engine, migrations and transaction helpers; the domain mixins build on it.

    Args:
        uri: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host/db``.
        actor: The name audit rows record for mutations made through this store.
        migrate: Apply pending schema migrations on open (the default).
    """

    def __init__(self, uri: str, *, actor: str, migrate: bool = True) -> None:
        self.uri = uri
        self.actor = actor
        self._engine: Engine = make_engine(uri)
        if migrate:
            try:
                self.schema_version = retry_transient(lambda: upgrade_to_head(self._engine))
            except (StoreError, DBAPIError) as exc:
                self._engine.dispose()
                # retry_transient wraps the driver's error in a StoreError; name the store.
                cause = exc if isinstance(exc, DBAPIError) else exc.__cause__
                if not isinstance(cause, DBAPIError):
                    raise  # e.g. an unknown schema revision: its message says it all
                raise StoreError(
                    f"Cannot open the metadata store at {self.redacted_uri}: {cause.orig or cause}",
                    hint="Check the URI, and that the database server is running.",
                ) from cause
            except BaseException:
                self._engine.dispose()
                raise
        else:
            self.schema_version = ""

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for advanced use and tests)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    @property
    def redacted_uri(self) -> str:
        """The URI with any password hidden, safe to print."""
        return self._engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Release the store's database connections."""
        self._engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with read_connection(self._engine) as conn:
            yield conn

    def _write(self, func: Callable[[Connection], T]) -> T:
        """Run ``func`` in one write transaction, retried on transient lock errors.

        Everything ``func`` writes commits together or not at all.
        """

        def attempt() -> T:
            with write_connection(self._engine) as conn:
                return func(conn)

        try:
            return retry_transient(attempt)
        except (CycleMLError, IntegrityError):
            raise  # domain errors, and constraint races the caller translates
        except DBAPIError as exc:
            raise StoreError(
                f"The metadata store refused the write: {exc.orig or exc}",
                hint="This is likely a bug in cycleml or a damaged database; please report it.",
            ) from exc

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
