"""``cycleml.autolog()``: tracking's scikit-learn autologging, with servable models.

Tracking records params, training metrics and the data's hash for every outermost
``fit``; this module gives it the model logger that writes the fitted estimator as a
cycleml model folder through :func:`~cycleml.models.log_model` (flavor, a signature
typed from the training data, an input example, pinned requirements, hashes), so
``runs:/<run_id>/model`` registers, serves and loads like any logged model.
"""

from __future__ import annotations

from typing import Any

from cycleml.models._package import log_model
from cycleml.tracking import Tracker
from cycleml.tracking import autolog as _tracking_autolog

__all__ = ["EXAMPLE_ROWS", "autolog", "log_fitted_model"]

#: Training rows kept as the logged model's input example.
EXAMPLE_ROWS = 5


def _head(X: Any, rows: int) -> Any:
    """The first ``rows`` rows of a DataFrame, array, sparse matrix or list."""
    if hasattr(X, "iloc"):
        return X.iloc[:rows]
    if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy sparse: the example is dense
        return X[:rows].toarray()
    if hasattr(X, "slice") and hasattr(X, "num_rows"):  # pyarrow Table
        return X.slice(0, rows)
    return X[:rows]


def log_fitted_model(tracker: Tracker, estimator: Any, X: Any, y: Any, artifact_path: str) -> None:
    """Log a just-fitted estimator into ``tracker``'s active run as a model folder.

    The signature's inputs are typed from all of ``X`` (so a column with a null anywhere
    is nullable); outputs come from predicting the first rows, which are also kept as
    the input example. ``y`` is not needed: the outputs are the model's own.
    """
    del y
    if X is None:
        log_model(estimator, artifact_path, signature=None, tracker=tracker)
        return
    log_model(
        estimator,
        artifact_path,
        input_example=_head(X, EXAMPLE_ROWS),
        signature_data=None if hasattr(X, "nnz") else X,  # sparse: typed from the example
        tracker=tracker,
    )


def autolog(
    *, disable: bool = False, log_models: bool = True, log_training_metrics: bool = True
) -> None:
    """Turn scikit-learn autologging on (or off with ``disable=True``).

    Every outermost ``fit`` then logs the estimator's params, training metrics
    (``training_*``), the training data's shape and content hash as tags, and, with
    ``log_models``, the fitted model as a servable model folder under ``model/``
    (``runs:/<run_id>/model``). A logging failure is a warning and never breaks training.
    """
    _tracking_autolog(
        disable=disable,
        log_models=log_models,
        log_training_metrics=log_training_metrics,
        model_logger=log_fitted_model,
    )
