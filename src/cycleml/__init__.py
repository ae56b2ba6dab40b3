"""cycleml: the whole machine-learning lifecycle from one ``pip install``.

The tracking API is available at the top level, with MLflow's names::

    import cycleml

    with cycleml.start_run(run_name="baseline"):
        cycleml.log_param("C", 1.0)
        cycleml.log_metric("auc", 0.93)

Names are loaded when first used, so ``import cycleml`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cycleml._lazy import lazy_exports

if TYPE_CHECKING:
    from cycleml.models import autolog
    from cycleml.tracking import (
        active_run,
        configure,
        end_run,
        get_run,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        search_runs,
        set_experiment,
        set_tag,
        set_tags,
        start_run,
    )

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "active_run",
    "autolog",
    "configure",
    "end_run",
    "get_run",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "search_runs",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "autolog": "cycleml.models",
        **{name: "cycleml.tracking" for name in __all__ if name not in ("__version__", "autolog")},
    },
)
