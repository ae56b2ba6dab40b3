"""The kernel's "a dataset version was read" event, and tracking's subscription to it.

``cycleml.data`` announces a read through ``cycleml.store`` without importing tracking; the
default tracker records it as the input of its active run on the reading thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import cycleml
import cycleml.tracking
from cycleml.settings import Settings
from cycleml.store import DatasetRead, notify_dataset_read, subscribe_dataset_reads
from cycleml.tracking import Tracker


@dataclass(frozen=True)
class Version:
    """A stand-in for ``cycleml.data.DatasetVersion``: identifiers only."""

    name: str = "iris"
    version: int = 3
    digest: str = "ab" * 32

    @property
    def uri(self) -> str:
        return f"datasets:/{self.name}/{self.version}"


def test_listeners_are_called_in_order_until_closed() -> None:
    calls: list[tuple[str, str]] = []
    first = subscribe_dataset_reads(lambda v: calls.append(("first", v.uri)))
    second = subscribe_dataset_reads(lambda v: calls.append(("second", v.uri)))
    try:
        notify_dataset_read(Version())
        first.close()
        first.close()  # closing twice does nothing
        assert not first.active
        assert second.active
        notify_dataset_read(Version(version=4))
    finally:
        first.close()
        second.close()
    notify_dataset_read(Version(version=5))
    assert calls == [
        ("first", "datasets:/iris/3"),
        ("second", "datasets:/iris/3"),
        ("second", "datasets:/iris/4"),
    ]


def test_subscribing_and_closing_from_many_threads_while_announcing() -> None:
    seen: list[DatasetRead] = []
    lock = threading.Lock()
    stop = threading.Event()

    def record(version: DatasetRead) -> None:
        with lock:
            seen.append(version)

    def churn() -> None:
        for _ in range(200):
            subscribe_dataset_reads(record).close()

    def announce() -> None:
        while not stop.is_set():
            notify_dataset_read(Version())

    announcer = threading.Thread(target=announce)
    announcer.start()
    workers = [threading.Thread(target=churn) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    announcer.join()
    with lock:
        seen.clear()
    notify_dataset_read(Version())  # every subscription was closed: nobody listens
    assert seen == []


def test_without_a_default_tracker_a_read_records_nothing_and_creates_none() -> None:
    cycleml.tracking._default.replace(None)
    notify_dataset_read(Version())
    assert cycleml.tracking._default._tracker is None


def test_a_read_is_the_input_of_the_active_run_of_the_reading_thread(
    sqlite_settings: Settings, default_tracker: Callable[..., Tracker]
) -> None:
    default_tracker(sqlite_settings)
    other_thread = threading.Thread(target=notify_dataset_read, args=(Version(version=1),))
    with cycleml.start_run() as run:
        other_thread.start()  # no active run on that thread: nothing recorded
        other_thread.join()
        notify_dataset_read(Version(version=2))
    notify_dataset_read(Version(version=3))  # after the run: nothing recorded
    tags = cycleml.get_run(run.info.run_id).data.tags
    assert tags["cycleml.input.iris"] == f"datasets:/iris/2 {'ab' * 8}"
    client = cycleml.tracking.get_tracker().client
    edges = client.repository.db.lineage_edges("run", run.info.run_id)  # type: ignore[attr-defined]
    assert [e.src_id for e in edges if e.relation == "input_to"] == ["iris/2"]


def test_another_trackers_run_records_nothing(
    sqlite_settings: Settings, default_tracker: Callable[..., Tracker]
) -> None:
    default_tracker(sqlite_settings)
    own = Tracker(sqlite_settings)
    try:
        with own.start_run() as run:
            notify_dataset_read(Version())  # only the default tracker's runs record reads
        assert "cycleml.input.iris" not in own.client.get_run(run.info.run_id).data.tags
    finally:
        own.close()
