"""The predict process: scores batches for one served model outside the server's GIL.

Scikit-learn forests and pipelines spend most of ``predict`` in Python (one dispatch per
tree), holding the GIL. On a predict thread they starve the event loop that parses the
next requests, so batches stay small and latency grows. A served model therefore scores
in its own process (``spawn``: no inherited threads or locks), loaded from the model folder
the server verified; frames and results cross by pickle, a few microseconds for a batch.
The loaded model lives in this module for the life of the worker process only.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cycleml.models import LoadedModel, load_model
from cycleml.serving._batcher import BatchResult

__all__ = ["predict_in_worker", "predict_process"]

_model: LoadedModel | None = None


def _load(path: str) -> None:
    global _model
    threadpool_limits(limits=1)  # as in the server process (see _runner._serve)
    _model = load_model(path)


def predict_in_worker(frame: pd.DataFrame, proba: bool) -> BatchResult:
    """Score a checked frame with the worker's model (runs in the worker process)."""
    if _model is None:
        raise RuntimeError("the predict process has no model loaded")
    return score(_model, frame, proba)


def score(model: LoadedModel, frame: pd.DataFrame, proba: bool) -> BatchResult:
    """Predictions (and probabilities when asked) of an already checked frame."""
    predictions = model.predict(frame, enforce=False)
    probabilities = model.predict_proba(frame, enforce=False) if proba else None
    return BatchResult(predictions, None if probabilities is None else np.asarray(probabilities))


def predict_process(model_path: str | Path) -> ProcessPoolExecutor:
    """A one-process pool with the model at ``model_path`` loaded, ready to score."""
    pool = ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_load,
        initargs=(str(model_path),),
    )
    pool.submit(int).result()  # start it now: load errors surface here, not on a request
    return pool
