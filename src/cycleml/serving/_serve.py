"""Build the server app for a model URI or a stored deployment, and watch deployments.

``cycleml serve models:/churn@champion`` serves one model. ``cycleml serve --deployment
churn`` serves a stored deployment (primary, canary split, shadow) and polls the metadata
store: when ``cycleml deploy promote|rollback`` (or any change) bumps the deployment's
revision, the new models are loaded in the background and swapped in at once; requests in
flight finish on the models they started with, so none fails during the switch. Every
scored row goes to the prediction log, which flushes at shutdown (SIGTERM included).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from cycleml.models import FetchedModel, fetch_model
from cycleml.serving._app import DEFAULT_MAX_BODY_BYTES, create_app
from cycleml.serving._deployments import Deployment, Deployments
from cycleml.serving._feedback import record_feedback
from cycleml.serving._metrics import ServerMetrics
from cycleml.serving._predlog import PredictionLogger
from cycleml.serving._scoring import Arms, BatchingOptions, ScoringService, ServedModel
from cycleml.serving._worker import PredictProcesses
from cycleml.settings import Settings, resolve_settings

__all__ = ["ServerOptions", "deployment_app", "model_app"]

_log = logging.getLogger("cycleml.serving")


@dataclass(frozen=True)
class ServerOptions:
    """How a server batches, limits bodies and follows its deployment."""

    batching: BatchingOptions = field(default_factory=BatchingOptions)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    poll_interval_s: float = 1.0
    log_max_rows: int = 10_000
    log_max_delay_s: float = 2.0


def model_app(
    model_uri: str, *, settings: Settings | None = None, options: ServerOptions | None = None
) -> FastAPI:
    """An app serving one model (no prediction log: that belongs to deployments)."""
    options = options or ServerOptions()
    settings = settings or resolve_settings()
    metrics = ServerMetrics()
    served = _served(model_uri, settings, options, metrics)
    service = ScoringService(Arms(served), metrics=metrics)
    return create_app(service, max_body_bytes=options.max_body_bytes)


def deployment_app(
    name: str, *, settings: Settings | None = None, options: ServerOptions | None = None
) -> FastAPI:
    """An app serving the stored deployment ``name`` and following its changes."""
    options = options or ServerOptions()
    settings = settings or resolve_settings()
    deployments = Deployments(settings)
    metrics = ServerMetrics()
    deployment = deployments.get(name)
    arms = _arms(deployment, settings, options, metrics, {})
    logger = PredictionLogger(
        settings, name, max_rows=options.log_max_rows, max_delay_s=options.log_max_delay_s
    )
    service = ScoringService(arms, metrics=metrics, log_rows=logger.log, on_close=[logger.close])
    watcher = _Watcher(deployments, service, settings, options, metrics)

    def feedback(records: list[dict[str, Any]]) -> int:
        return record_feedback(name, records, settings=settings)

    return create_app(
        service,
        max_body_bytes=options.max_body_bytes,
        record_feedback=feedback,
        on_startup=(watcher.start,),
        on_shutdown=(watcher.stop,),
    )


class _Watcher:
    """Polls the deployment and swaps the served models when its revision changes."""

    def __init__(
        self,
        deployments: Deployments,
        service: ScoringService,
        settings: Settings,
        options: ServerOptions,
        metrics: ServerMetrics,
    ) -> None:
        self.deployments, self.service = deployments, service
        self.settings, self.options, self.metrics = settings, options, metrics
        self._task: asyncio.Task[None] | None = None
        self._retired: dict[asyncio.Task[None], ServedModel] = {}

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task, model in list(self._retired.items()):  # close them now, not in 30 s
            task.cancel()
            await model.close()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.options.poll_interval_s)
            try:
                await self.check(loop)
            except Exception as exc:
                _log.error("cannot follow deployment %s: %s", self.service.arms.deployment, exc)

    async def check(self, loop: asyncio.AbstractEventLoop) -> None:
        """Swap in the deployment's current models if its revision moved."""
        current = self.service.arms
        assert current.deployment is not None
        latest = await loop.run_in_executor(None, self.deployments.get, current.deployment)
        if latest.revision == current.revision:
            return
        reuse = {(m.name, m.version): m for m in current.served()}
        arms = await loop.run_in_executor(
            None, _arms, latest, self.settings, self.options, self.metrics, reuse
        )
        retired = self.service.swap(arms)
        _log.warning("deployment %s: now revision %s", latest.name, latest.revision)
        for model in retired:  # let requests that hold the old models finish first
            task = loop.create_task(_close_later(model, 30.0))
            self._retired[task] = model
            task.add_done_callback(lambda done: self._retired.pop(done, None))


async def _close_later(model: ServedModel, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    await model.close()


def _arms(
    deployment: Deployment,
    settings: Settings,
    options: ServerOptions,
    metrics: ServerMetrics,
    reuse: dict[tuple[str, str], ServedModel],
) -> Arms:
    keys = {
        "primary": (deployment.model_name, deployment.model_version),
        "canary": (deployment.canary_name, deployment.canary_version),
        "shadow": (deployment.shadow_name, deployment.shadow_version),
    }
    wanted = {(n, str(v)) for n, v in keys.values() if n is not None and v is not None}
    # Every new model's predict process starts before any of them is waited for.
    starting = [
        _start(f"models:/{name}/{version}", settings, options)
        for name, version in sorted(wanted - set(reuse))
    ]
    for done, started in enumerate(starting):
        try:
            served = _finish(started, options, metrics)
        except BaseException:
            for fetched, process in starting[done + 1 :]:  # _finish cleaned up its own
                fetched.close()
                if process is not None:
                    process.cancel()
            raise
        reuse[(served.name, served.version)] = served

    def arm(arm_name: str) -> ServedModel | None:
        name, version = keys[arm_name]
        return None if name is None or version is None else reuse[(name, str(version))]

    primary, canary = arm("primary"), arm("canary")
    assert primary is not None
    return Arms(
        primary=primary,
        canary=canary,
        percent=float(deployment.canary_percent or 0) if canary is not None else 0.0,
        shadow=arm("shadow"),
        deployment=deployment.name,
        revision=deployment.revision,
    )


def _start(
    uri: str, settings: Settings, options: ServerOptions
) -> tuple[FetchedModel, PredictProcesses | None]:
    """Fetch and verify ``uri`` (fast) and start its predict process loading from it."""
    fetched = fetch_model(uri, settings=settings)
    try:
        process = PredictProcesses(str(fetched.path)) if options.batching.predict_process else None
    except BaseException:
        fetched.close()
        raise
    return fetched, process


def _finish(
    started: tuple[FetchedModel, PredictProcesses | None],
    options: ServerOptions,
    metrics: ServerMetrics,
) -> ServedModel:
    """Deserialize the model here while its predict process loads its own copy."""
    fetched, process = started
    try:
        model = fetched.load()
    except BaseException:
        if process is not None:
            process.cancel()
        raise
    name = model.name or model.path.name or fetched.uri
    version = str(model.version) if model.version is not None else "0"
    return ServedModel(model, name=name, version=version, batching=options.batching,
                       metrics=metrics, process=process)  # fmt: skip


def _served(
    uri: str, settings: Settings, options: ServerOptions, metrics: ServerMetrics
) -> ServedModel:
    """Load ``uri`` here and, at the same time, in its predict process (see ``_worker``)."""
    return _finish(_start(uri, settings, options), options, metrics)
