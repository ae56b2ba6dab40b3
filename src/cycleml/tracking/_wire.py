"""Tracking's JSON on the wire, shared by the server's router and the REST repository.

Entities travel as their ``to_dict`` (:mod:`cycleml.tracking._entities`); this module adds
what has no entity of its own:

* a batch of metric points, **column by column**: ``{"keys": [...], "values": [...],
  "steps": [...], "timestamps": [...]}``, so a flush of 1,000 points is four flat lists in one
  request (the buffer already holds them this way, :class:`MetricColumns`);
* one metric's history, the same columns under its ``key``;
* an artifact record (``{"path", "digest", "size"}``).

Non-finite values are spelled ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (strict JSON).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from cycleml.store import ArtifactEntry
from cycleml.tracking._buffer import MetricColumns
from cycleml.tracking._entities import NON_FINITE, Metric, json_float

__all__ = [
    "artifact_from_dict",
    "artifact_to_dict",
    "history_from_json",
    "history_to_json",
    "metrics_from_json",
    "metrics_to_json",
]


def _json_values(values: Sequence[float]) -> list[float | str]:
    # One C-level pass decides for the whole column: a finite sum means no NaN or infinity
    # (an overflowing sum of finite values just takes the slow path).
    if math.isfinite(sum(values)):
        return list(values)
    return [json_float(v) for v in values]


def _read_values(values: Sequence[Any]) -> list[Any]:
    """Non-finite spellings back to floats; anything else as sent (the repository checks)."""
    return [NON_FINITE.get(v, v) if isinstance(v, str) else v for v in values]


def metrics_to_json(
    keys: Sequence[str], values: Sequence[float], steps: Sequence[int], stamps: Sequence[int]
) -> dict[str, list[Any]]:
    """Validated metric columns (``check_metrics``'s output) as one JSON object."""
    return {
        "keys": list(keys),
        "values": _json_values(values),
        "steps": list(steps),
        "timestamps": list(stamps),
    }


def metrics_from_json(data: Mapping[str, Sequence[Any]]) -> MetricColumns:
    """:func:`metrics_to_json`'s columns as the points the repository writes (unchecked)."""
    columns = MetricColumns()
    columns.keys = list(data["keys"])
    columns.values = _read_values(data["values"])
    columns.steps = list(data["steps"])
    columns.stamps = list(data["timestamps"])
    columns.checked = False  # sent by any client: the repository validates them
    return columns


def history_to_json(key: str, points: Sequence[Metric]) -> dict[str, Any]:
    """One metric's history (``get_metric_history``) as columns."""
    return {
        "key": key,
        "values": _json_values([p.value for p in points]),
        "steps": [p.step for p in points],
        "timestamps": [p.timestamp for p in points],
    }


def history_from_json(data: Mapping[str, Any]) -> list[Metric]:
    """:func:`history_to_json`'s columns back as points."""
    key = data["key"]
    values = _read_values(data["values"])
    return [
        Metric(key, float(value), step, stamp)
        for value, step, stamp in zip(values, data["steps"], data["timestamps"], strict=True)
    ]


def artifact_to_dict(entry: ArtifactEntry) -> dict[str, Any]:
    """One artifact record as JSON."""
    return {"path": entry.path, "digest": entry.digest, "size": entry.size}


def artifact_from_dict(data: Mapping[str, Any]) -> ArtifactEntry:
    """:func:`artifact_to_dict`'s output back."""
    return ArtifactEntry(data["path"], data["digest"], data["size"])
