"""The predict process: scores batches for one served model outside the server's GIL.

Scikit-learn forests and pipelines spend most of ``predict`` in Python (one dispatch per
tree), holding the GIL. On a predict thread they starve the event loop that parses the
next requests, so batches stay small and latency grows. A served model therefore scores
in its own process (``spawn``: no inherited threads or locks); frames and results cross
by pickle, a few microseconds for a batch. The loaded model lives in this module for the
life of the worker process only.

The process starts as soon as the server has the model's verified folder and loads from
it while the server deserializes its own copy, so both load at once (on two cores that
nearly halves the time to healthy). It imports only what loading a local folder needs
(the flavors, not tracking or the stores). Given a ``runs:/`` or ``models:/`` URI instead,
it downloads the model itself and deletes the download once the model is in memory.

``spawn`` starts a fresh interpreter that imports the user's main script again: a script
that starts a server from its top level, outside ``if __name__ == "__main__":``, would run
again in the child (registering models twice, starting another server) and then fail with
``BrokenProcessPool``. :func:`check_main_module` detects that before anything starts.
"""

from __future__ import annotations

import ast
import linecache
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import FrameType, ModuleType

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cycleml.errors import CycleMLError, InvalidState
from cycleml.models import LoadedModel, load_model
from cycleml.serving._batcher import BatchResult
from cycleml.settings import Settings

__all__ = ["PredictProcesses", "check_main_module", "predict_in_worker", "score"]

_model: LoadedModel | None = None
_load_error: Exception | None = None  # raised to the server by _ready, never printed here


def _exit_with_parent(parent: int, every_s: float = 0.5) -> None:
    """End this process soon after the server that started it is gone (killed or crashed
    before it could shut the pool down), instead of living on as an orphan."""
    while os.getppid() == parent:
        time.sleep(every_s)
    os._exit(0)


def _load(model_uri: str, settings: Settings | None) -> None:
    global _model
    watcher = threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True)
    watcher.start()
    threadpool_limits(limits=1)  # as in the server process (see _runner._serve)
    try:
        _model = load_model(model_uri, settings=settings)
    except Exception as exc:  # the pool would print it; the server reports it instead
        global _load_error
        _load_error = exc
        return
    _model.close()  # in memory now: the downloaded folder is not needed any more


def _ready() -> None:
    """Runs in the worker: raises the error that loading the model met, if any."""
    if _load_error is not None:
        raise _load_error


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


def _guarded_lines(tree: ast.Module) -> list[tuple[int, int]]:
    """Line ranges of the bodies of top-level ``if __name__ == "__main__":`` blocks."""
    ranges = []
    for node in tree.body:
        if not isinstance(node, ast.If):
            continue
        test = ast.unparse(node.test).replace("'", '"')
        if test in ('__name__ == "__main__"', '"__main__" == __name__'):
            ranges.append((node.body[0].lineno, node.body[-1].end_lineno or node.lineno))
    return ranges


def _top_level_line(main: ModuleType) -> int | None:
    """The line of the main script's top level that is running now, if it is running."""
    frame: FrameType | None = sys._getframe()
    namespace = vars(main)
    while frame is not None:
        if frame.f_globals is namespace and frame.f_code.co_name == "<module>":
            return frame.f_lineno
        frame = frame.f_back
    return None


def check_main_module() -> None:
    """Refuse to spawn while an unguarded main script's top level is running.

    Raises:
        InvalidState: The script would run again in the predict process; nothing was
            started.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or path is None or multiprocessing.parent_process() is not None:
        return  # interactive, -c, or already a child: spawn re-runs nothing here
    line = _top_level_line(main)
    if line is None:
        return
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return  # not a script we can read; let multiprocessing speak for itself
    if any(start <= line <= end for start, end in _guarded_lines(tree)):
        return
    code = linecache.getline(path, line).strip()
    raise InvalidState(
        f"Cannot start the model's predict process from line {line} of {path} "
        f"({code!r}): cycleml scores each served model in a spawned process, which imports "
        'your script again, and this line is not under `if __name__ == "__main__":`, so '
        "the script would run a second time there (registering models again, then "
        "failing).",
        hint='Put the script\'s work under `if __name__ == "__main__":` (see docs/serving.md),'
        " or pass ServerOptions(batching=BatchingOptions(predict_process=False)) to score on "
        "a thread.",
        details={"script": path, "line": line},
    )


class PredictProcesses:
    """Makes the predict process of one model; the first starts loading at once.

    Each call returns a ready one-process pool: the first call waits for the process
    started in ``__init__`` (so load errors surface when the server starts, not on a
    request), later calls (an app whose lifespan runs twice) start a new one.
    """

    def __init__(self, model_uri: str, settings: Settings | None = None) -> None:
        check_main_module()
        self._uri, self._settings = model_uri, settings
        self._started: tuple[ProcessPoolExecutor, Future[None]] | None = self._start()

    def _start(self) -> tuple[ProcessPoolExecutor, Future[None]]:
        pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_load,
            initargs=(self._uri, self._settings),
        )
        return pool, pool.submit(_ready)  # spawns the process now

    def __call__(self) -> ProcessPoolExecutor:
        pool, ready = self._started or self._start()
        self._started = None
        try:
            ready.result()
        except BrokenProcessPool as exc:
            pool.shutdown(wait=False, cancel_futures=True)
            raise CycleMLError(
                f"The predict process for {self._uri} exited while loading the model.",
                hint="Its error is printed above; check that the model loads with "
                f"`cycleml predict {self._uri} --input <file>`.",
            ) from exc
        except Exception:  # the model's own load error, raised again here
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        return pool

    def cancel(self) -> None:
        """Stop the process started in ``__init__`` if nobody has asked for it."""
        if self._started is not None:
            self._started[0].shutdown(wait=False, cancel_futures=True)
            self._started = None
