"""Micro-batching on a real random forest: merged under concurrency, exact results, isolation."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

from cycleml.serving._batcher import BatchResult, MicroBatcher


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, RandomForestClassifier]:
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return x, RandomForestClassifier(n_estimators=20, random_state=0).fit(x, y)


class Recorder:
    """Scores with the forest and records each call's batch size."""

    def __init__(self, model: RandomForestClassifier, *, fail_on: float | None = None) -> None:
        self.model, self.sizes, self.fail_on = model, [], fail_on
        self.lock = threading.Lock()

    def __call__(self, frame: pd.DataFrame, proba: bool) -> BatchResult:
        with self.lock:
            self.sizes.append(len(frame))
        if self.fail_on is not None and (frame["mean radius"] == self.fail_on).any():
            raise RuntimeError("poisoned row")
        probabilities = self.model.predict_proba(frame) if proba else None
        return BatchResult(self.model.predict(frame), probabilities)


async def fan_out(batcher: MicroBatcher, frames: list[pd.DataFrame]) -> list[object]:
    return await asyncio.gather(*(batcher.submit(f, proba=True) for f in frames),
                                return_exceptions=True)  # fmt: skip


def test_concurrent_requests_merge_and_get_their_own_rows(
    data: tuple[pd.DataFrame, RandomForestClassifier],
) -> None:
    x, model = data
    recorder = Recorder(model)
    frames = [x.iloc[i : i + 1] for i in range(64)]

    async def run() -> list[object]:
        batcher = MicroBatcher(recorder, max_batch_size=32, max_wait_ms=5)
        try:
            return await fan_out(batcher, frames)
        finally:
            await batcher.close()

    results = asyncio.run(run())
    expected = model.predict_proba(x.iloc[:64])
    for i, result in enumerate(results):
        assert isinstance(result, BatchResult)
        assert result.predictions.tolist() == [model.predict(x.iloc[i : i + 1])[0]]
        np.testing.assert_allclose(result.probabilities, expected[i : i + 1])
    assert max(recorder.sizes) <= 32
    assert len(recorder.sizes) < 64 / 4  # merged: far fewer predict calls than requests


def test_a_lone_request_is_scored_at_once_and_batching_off_never_merges(
    data: tuple[pd.DataFrame, RandomForestClassifier],
) -> None:
    x, model = data
    recorder = Recorder(model)

    async def run() -> None:
        batcher = MicroBatcher(recorder, max_wait_ms=1000)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await batcher.submit(x.iloc[:1])
        assert loop.time() - started < 0.5  # an idle batcher does not wait max_wait_ms
        await batcher.close()
        off = MicroBatcher(recorder, enabled=False)
        await fan_out(off, [x.iloc[i : i + 1] for i in range(8)])
        await off.close()

    asyncio.run(run())
    assert recorder.sizes == [1] * 9


def test_a_failing_request_does_not_fail_the_others_in_its_batch(
    data: tuple[pd.DataFrame, RandomForestClassifier],
) -> None:
    x, model = data
    poison = float(x["mean radius"].iloc[5])
    recorder = Recorder(model, fail_on=poison)
    frames = [x.iloc[i : i + 1] for i in range(16)]

    async def run() -> list[object]:
        batcher = MicroBatcher(recorder, max_batch_size=64, max_wait_ms=20)
        try:
            return await fan_out(batcher, frames)
        finally:
            await batcher.close()

    results = asyncio.run(run())
    failed = [i for i, r in enumerate(results) if isinstance(r, Exception)]
    poisoned = [i for i in range(16) if x["mean radius"].iloc[i] == poison]
    assert failed == poisoned
    assert all(isinstance(results[i], BatchResult) for i in range(16) if i not in failed)


def test_bad_settings_are_refused(data: tuple[pd.DataFrame, RandomForestClassifier]) -> None:
    _, model = data
    with pytest.raises(ValueError, match="max_batch_size"):
        MicroBatcher(Recorder(model), max_batch_size=0)
    with pytest.raises(ValueError, match="max_wait_ms"):
        MicroBatcher(Recorder(model), max_wait_ms=-1)


def test_the_batcher_works_again_after_close(
    data: tuple[pd.DataFrame, RandomForestClassifier],
) -> None:
    """An app whose lifespan runs twice (test clients, fuzzers) keeps scoring."""
    x, model = data
    recorder = Recorder(model)
    batcher = MicroBatcher(recorder)

    async def once() -> list[object]:
        try:
            return await fan_out(batcher, [x.iloc[:1], x.iloc[1:2]])
        finally:
            await batcher.close()

    first, second = asyncio.run(once()), asyncio.run(once())
    assert all(isinstance(r, BatchResult) for r in first + second)


def test_a_lone_request_takes_the_idle_path_and_concurrent_ones_the_main_one(
    data: tuple[pd.DataFrame, RandomForestClassifier],
) -> None:
    x, model = data
    main, idle = Recorder(model), Recorder(model)

    async def run() -> None:
        batcher = MicroBatcher(main, idle_predict=idle, max_wait_ms=5)
        try:
            await batcher.submit(x.iloc[:1])
            await fan_out(batcher, [x.iloc[i : i + 1] for i in range(16)])
        finally:
            await batcher.close()

    asyncio.run(run())
    assert idle.sizes[0] == 1
    assert sum(main.sizes) + sum(idle.sizes) == 17
    assert sum(main.sizes) >= 8  # under concurrency most rows go to the main executor
