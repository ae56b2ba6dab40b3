"""What the model server does for one request, without HTTP: route, check, score, log.

:class:`ScoringService` holds the served models as one immutable :class:`Arms` snapshot
(primary, optional canary with its percentage, optional shadow). A request takes the
snapshot once, so a promotion or rollback that swaps the snapshot mid-flight never mixes
two configurations in one request, and nothing is dropped: the old models keep serving the
requests that already hold them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from cycleml.errors import CycleMLError, ExtraColumnsWarning, SignatureError
from cycleml.serving._batcher import (
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_WAIT_MS,
    BatchResult,
    MicroBatcher,
)
from cycleml.serving._deployments import split
from cycleml.serving._metrics import ServerMetrics
from cycleml.serving._protocols import json_ready
from cycleml.serving._worker import PredictProcesses, predict_in_worker, score

if TYPE_CHECKING:
    from cycleml.models import LoadedModel, Signature

__all__ = ["Arms", "BatchingOptions", "Scored", "ScoringService", "ServedModel"]

_log = logging.getLogger("cycleml.serving")


@dataclass(frozen=True)
class BatchingOptions:
    """Micro-batching settings shared by every served model.

    ``predict_process`` scores in a separate process per model (see
    :mod:`cycleml.serving._worker`); ``False`` scores on a thread of the server process.
    """

    enabled: bool = True
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    predict_process: bool = True


class ServedModel:
    """One loaded model with its own micro-batcher."""

    def __init__(
        self,
        model: LoadedModel,
        *,
        name: str,
        version: str,
        batching: BatchingOptions,
        metrics: ServerMetrics | None = None,
        process: PredictProcesses | None = None,
    ) -> None:
        """``process`` is the model's predict process when the caller started it early
        (loading while ``model`` loaded); by default it starts from ``model``'s folder."""
        self.model, self.name, self.version = model, name, version
        self._reported_extra: set[tuple[str, ...]] = set()
        observe: Callable[[int], None] | None = None
        if metrics is not None:
            histogram = metrics.batch_rows.labels(model=name, version=version)
            observe = histogram.observe
        predict: Callable[[pd.DataFrame, bool], BatchResult] = self._predict
        executor = None
        if batching.predict_process:
            executor = process or PredictProcesses(str(model.path))
            predict = predict_in_worker
        elif process is not None:
            process.cancel()
        self.batcher = MicroBatcher(
            predict,
            max_batch_size=batching.max_batch_size,
            max_wait_ms=batching.max_wait_ms,
            enabled=batching.enabled,
            batch_observer=observe,
            executor=executor,
            idle_predict=self._predict if batching.predict_process else None,
        )
        self.batcher.start()  # a model that cannot load fails the server's start, not a request

    @property
    def is_classifier(self) -> bool:
        """Whether the model has ``predict_proba``."""
        return bool(getattr(self.model, "is_classifier", False))

    def check(self, frame: pd.DataFrame, *, nan_floats: bool = False) -> pd.DataFrame:
        """The frame checked and coerced against the signature (422 on a mismatch).

        ``nan_floats`` lets nulls into every ``float`` column as NaN, whatever the
        signature's ``nullable`` says (MLflow's scoring protocol: its schemas have no
        nullability, and a float column carries NaN).
        """
        signature = self.model.signature
        if signature is None:
            return frame
        checking = self._nan_floats_signature if nan_floats else signature
        return checking.enforce(frame, on_extra=self._dropped)

    def _dropped(self, columns: list[str]) -> None:
        """Log each distinct set of dropped columns once, not on every request."""
        key = tuple(columns)
        if key in self._reported_extra:
            return
        self._reported_extra.add(key)
        _log.warning(
            "%s (model %s version %s; reported once per set of columns)",
            ExtraColumnsWarning(columns), self.name, self.version,
        )  # fmt: skip

    @functools.cached_property
    def _nan_floats_signature(self) -> Signature:
        signature = self.model.signature
        assert signature is not None
        inputs = [dataclasses.replace(c, nullable=True) if c.type == "float" else c
                  for c in signature.inputs]  # fmt: skip
        return dataclasses.replace(signature, inputs=inputs)

    async def score(
        self, frame: pd.DataFrame, *, proba: bool, nan_floats: bool = False
    ) -> BatchResult:
        """Check ``frame`` and score it through the batcher.

        With ``nan_floats`` (see :meth:`check`), a model that fails on input holding nulls
        its signature does not allow gets a 422 naming them, not a 500: they are the
        request's fault.
        """
        checked = self.check(frame, nan_floats=nan_floats)
        try:
            return await self.batcher.submit(checked, proba=proba and self.is_classifier)
        except Exception as exc:
            if nan_floats and not isinstance(exc, CycleMLError):
                self._refuse_nulls(frame, exc)
            raise

    def _refuse_nulls(self, frame: pd.DataFrame, failure: Exception) -> None:
        """Raise the strict signature's 422 if ``frame`` has nulls it does not allow."""
        try:
            self.check(frame)
        except SignatureError as refused:
            raise SignatureError(
                f"{refused.message} The model cannot score them: "
                f"{type(failure).__name__}: {failure}",
                hint="Send values for these columns (this model does not take missing values).",
                details=refused.details,
            ) from failure

    def _predict(self, frame: pd.DataFrame, proba: bool) -> BatchResult:
        return score(self.model, frame, proba)

    async def close(self) -> None:
        """Stop the batcher and remove the model's downloaded folder."""
        await self.batcher.close()
        self.model.close()


@dataclass(frozen=True)
class Arms:
    """The models one server answers with, swapped as a whole on a deployment change."""

    primary: ServedModel
    canary: ServedModel | None = None
    percent: float = 0.0
    shadow: ServedModel | None = None
    deployment: str | None = None
    revision: int | None = None

    def served(self) -> list[ServedModel]:
        """Every distinct model in the snapshot."""
        out: list[ServedModel] = []
        for arm in (self.primary, self.canary, self.shadow):
            if arm is not None and all(arm is not seen for seen in out):
                out.append(arm)
        return out


@dataclass(frozen=True)
class Scored:
    """The outcome of one scoring request."""

    arm: str
    model: ServedModel
    result: BatchResult
    request_id: str
    row_ids: list[str]


class ScoringService:
    """Route, check, score and log requests for a model or a deployment.

    Args:
        arms: The initial snapshot.
        metrics: The server's Prometheus metrics.
        log_rows: Receives the prediction-log rows of every scored request (a
            :class:`~cycleml.serving.PredictionLogger`'s ``log``); ``None`` logs nothing.
        on_close: Called by :meth:`close` after the batchers stop (flush the log).
    """

    def __init__(
        self,
        arms: Arms,
        *,
        metrics: ServerMetrics,
        log_rows: Callable[[list[dict[str, Any]]], None] | None = None,
        on_close: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.arms = arms
        self.metrics = metrics
        self._log_rows = log_rows
        self._on_close = list(on_close)
        self._background: set[asyncio.Task[None]] = set()

    def swap(self, arms: Arms) -> list[ServedModel]:
        """Serve ``arms`` from now on; return the models no longer served (close them later)."""
        old, self.arms = self.arms, arms
        keep = arms.served()
        return [m for m in old.served() if all(m is not k for k in keep)]

    def find(self, name: str, version: str | None) -> ServedModel | None:
        """The served (non-shadow) model called ``name`` (at ``version``), if any."""
        arms = self.arms
        for model in (arms.primary, arms.canary):
            if model is not None and model.name == name and version in (None, model.version):
                return model
        return None

    async def score(
        self,
        frame: pd.DataFrame,
        *,
        request_id: str,
        key: str | None = None,
        proba: bool = False,
        model: ServedModel | None = None,
        nan_floats: bool = False,
    ) -> Scored:
        """Score ``frame`` on the routed arm (or ``model``), shadow it, and log it.

        ``nan_floats``: nulls in float columns reach the model as NaN (MLflow's protocol;
        see :meth:`ServedModel.check`).
        """
        arms = self.arms
        started = time.perf_counter()
        if model is None:
            arm = split(arms.percent, key) if arms.canary is not None else "primary"
            model = arms.canary if arm == "canary" and arms.canary is not None else arms.primary
        else:
            arm = "canary" if model is arms.canary else "primary"
        result = await model.score(frame, proba=proba, nan_floats=nan_floats)
        rows = len(frame)
        row_ids = [request_id] if rows == 1 else [f"{request_id}/{i}" for i in range(rows)]
        latency_ms = (time.perf_counter() - started) * 1000.0
        if self._log_rows is not None:
            self._emit(frame, result, model, arm, row_ids, latency_ms)
        if arms.shadow is not None and arms.shadow is not model:
            shadowed = self._shadow(arms.shadow, frame, row_ids, nan_floats)
            task = asyncio.get_running_loop().create_task(shadowed)
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return Scored(arm, model, result, request_id, row_ids)

    async def drain(self) -> None:
        """Wait for shadow scoring still in flight."""
        if self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def close(self) -> None:
        """Drain shadow scoring, stop every batcher, then run the close callbacks."""
        await self.drain()
        for model in self.arms.served():
            await model.close()
        for callback in self._on_close:
            callback()

    async def _shadow(
        self, shadow: ServedModel, frame: pd.DataFrame, row_ids: list[str], nan_floats: bool
    ) -> None:
        started = time.perf_counter()
        try:
            result = await shadow.score(frame, proba=shadow.is_classifier, nan_floats=nan_floats)
        except Exception as exc:
            _log.warning("shadow model %s/%s failed: %s", shadow.name, shadow.version, exc)
            return
        if self._log_rows is not None:
            latency_ms = (time.perf_counter() - started) * 1000.0
            self._emit(frame, result, shadow, "shadow", row_ids, latency_ms)

    def _emit(
        self,
        frame: pd.DataFrame,
        result: BatchResult,
        model: ServedModel,
        arm: str,
        row_ids: Sequence[str],
        latency_ms: float,
    ) -> None:
        assert self._log_rows is not None
        inputs = frame.to_json(orient="records", lines=True, date_format="iso").splitlines()
        predictions = json_ready(result.predictions)
        probabilities = (
            json_ready(result.probabilities) if result.probabilities is not None else None
        )
        now_ms = int(time.time() * 1000)
        version = int(model.version) if model.version.isdigit() else None
        rows = []
        for i, row_id in enumerate(row_ids):
            output: dict[str, Any] = {"prediction": predictions[i]}
            if probabilities is not None:
                output["probabilities"] = probabilities[i]
            rows.append({
                "request_id": row_id, "time": now_ms, "deployment": self.arms.deployment,
                "model_name": model.name, "model_version": version, "arm": arm,
                "inputs": inputs[i], "outputs": json.dumps(output), "latency_ms": latency_ms,
            })  # fmt: skip
        try:
            self._log_rows(rows)
        except Exception as exc:
            _log.error("prediction log refused %d rows: %s", len(rows), exc)
