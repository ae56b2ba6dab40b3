"""Events between stages that may not import each other (DESIGN.md, section 3).

A stage announces an event through the kernel, and a stage that cares subscribes to it
explicitly, so neither imports the other. There is one event: *a dataset version was read*.
``cycleml.data`` announces it when it loads a version; ``cycleml.tracking`` subscribes for as
long as it has a default tracker and records the read as the input of that tracker's active
run on the reading thread.

Listeners are per process and are called on the announcing thread, in the order they
subscribed; an exception raised by a listener reaches the announcer (a failed lineage write
fails the load, as when the data stage called tracking directly).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

__all__ = ["DatasetRead", "Subscription", "notify_dataset_read", "subscribe_dataset_reads"]


class DatasetRead(Protocol):
    """What a listener learns about a dataset version that was read: identifiers only."""

    @property
    def name(self) -> str:
        """The dataset's name."""
        ...

    @property
    def version(self) -> int:
        """The version number."""
        ...

    @property
    def uri(self) -> str:
        """``datasets:/name/N``."""
        ...

    @property
    def digest(self) -> str:
        """The version's content digest (BLAKE3, hex)."""
        ...


DatasetReadListener = Callable[[DatasetRead], object]

_lock = threading.Lock()
# Replaced, never mutated: an announcement reads one consistent tuple without the lock.
_listeners: tuple[DatasetReadListener, ...] = ()


class Subscription:
    """A listener's registration; :meth:`close` removes it (closing twice does nothing)."""

    def __init__(self, listener: DatasetReadListener) -> None:
        self._listener: DatasetReadListener | None = listener

    @property
    def active(self) -> bool:
        """Whether the listener is still called."""
        return self._listener is not None

    def close(self) -> None:
        """Stop calling the listener."""
        global _listeners
        with _lock:
            listener, self._listener = self._listener, None
            if listener is not None:
                rest = list(_listeners)
                rest.remove(listener)
                _listeners = tuple(rest)


def subscribe_dataset_reads(listener: DatasetReadListener) -> Subscription:
    """Call ``listener(version)`` each time a dataset version is read, until closed."""
    global _listeners
    with _lock:
        _listeners = (*_listeners, listener)
    return Subscription(listener)


def notify_dataset_read(version: DatasetRead) -> None:
    """Announce that ``version`` was read: every current listener is called with it."""
    for listener in _listeners:
        listener(version)
