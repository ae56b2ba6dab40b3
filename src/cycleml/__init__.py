"""cycleml: the whole machine-learning lifecycle from one ``pip install``.

The tracking API is available at the top level, with MLflow's names::

    import cycleml

    with cycleml.start_run(run_name="baseline"):
        cycleml.log_param("C", 1.0)
        cycleml.log_metric("auc", 0.93)
"""

from __future__ import annotations

from cycleml.tracking import (
    active_run,
    autolog,
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
