"""What a monitor checks and how: :class:`MonitorConfig`, stored as JSON with the monitor.

A window is a number of rows (``5000``) or a duration (``"15m"``, ``"1h"``, ``"1d"``). The
checks are named in :data:`CHECKS`; each takes its options from the section of the same
name (``drift`` takes :func:`drift`'s keyword arguments, and so on). Alert rules name the
metrics an evaluation produces (see :mod:`cycleml.monitoring._evaluate`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cycleml.errors import InvalidInput
from cycleml.monitoring._alerts import AlertRule
from cycleml.monitoring._durations import parse_window
from cycleml.monitoring._notify import notifier_from_config

__all__ = ["CHECKS", "MonitorConfig", "parse_alert", "parse_window"]

#: The checks a monitor can run on each window.
CHECKS = (
    "drift",
    "prediction_drift",
    "multivariate",
    "quality",
    "performance",
    "estimated_performance",
    "fairness",
)


@dataclass(frozen=True)
class MonitorConfig:
    """A monitor's checks, window, options, alert rules and notifications.

    Attributes:
        checks: Names from :data:`CHECKS`, run on every window.
        window: Rows per window (``5000``) or a duration (``"1h"``).
        lag: Seconds a window must be over before it is evaluated, so rows the prediction
            logger still holds in memory are written first.
        columns: Input columns to check; default: every column of the reference.
        drift: Keyword arguments for :func:`cycleml.monitoring.drift` (``method``,
            ``threshold``, ``methods``, ``thresholds``, ``correction``, ``drift_share``).
        quality: Keyword arguments for :func:`cycleml.monitoring.data_quality`.
        performance: Keyword arguments for :func:`cycleml.monitoring.performance`
            (``task``, ``metrics``, ``positive_class``).
        estimated_performance: Keyword arguments for
            :func:`cycleml.monitoring.estimate_performance`; ``reference`` (required for
            that check) names labelled, scored data to calibrate on: a Parquet path or a
            ``datasets:/`` URI with ``label`` and ``score`` (or ``probabilities``) columns.
        fairness: Keyword arguments for :func:`cycleml.monitoring.fairness`
            (``sensitive``: default the project's sensitive attributes; ``thresholds``:
            default the project's ``problem.fairness``).
        rules: Alert rules as dicts (``name``, ``metric``, ``operator``, ``threshold``,
            ``for_windows``, ``cooldown``, ``notify``, ``severity``).
        notifications: Notifiers by name: ``{"kind": "log"}``,
            ``{"kind": "webhook", "url": ..., "retries": 3}`` or
            ``{"kind": "retrain", "command": [...]}``.
    """

    checks: tuple[str, ...] = ("drift", "quality")
    window: int | str = "1h"
    lag: float = 30.0
    columns: tuple[str, ...] | None = None
    drift: Mapping[str, Any] = field(default_factory=dict)
    quality: Mapping[str, Any] = field(default_factory=dict)
    performance: Mapping[str, Any] = field(default_factory=dict)
    estimated_performance: Mapping[str, Any] = field(default_factory=dict)
    fairness: Mapping[str, Any] = field(default_factory=dict)
    rules: tuple[Mapping[str, Any], ...] = ()
    notifications: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [c for c in self.checks if c not in CHECKS]
        if unknown or not self.checks:
            raise InvalidInput(
                f"Unknown monitor check {unknown[0]!r}." if unknown else "No checks given.",
                hint=f"Choose from: {', '.join(CHECKS)}.",
            )
        parse_window(self.window)
        if "estimated_performance" in self.checks and not self.estimated_performance.get(
            "reference"
        ):
            raise InvalidInput(
                "The estimated_performance check needs labelled, scored reference data.",
                hint='Set estimated_performance={"reference": "validation-scored.parquet"}.',
            )
        if not isinstance(self.lag, int | float) or isinstance(self.lag, bool) or self.lag < 0:
            raise InvalidInput(f"lag must be seconds >= 0; received {self.lag!r}.")
        for name, notifier in self.notifications.items():
            notifier_from_config(name, notifier)  # a bad kind or setting fails here
        for rule in self.rules:
            AlertRule.from_dict(rule)
            for target in rule.get("notify") or ():
                if target not in self.notifications and target != "log":
                    raise InvalidInput(
                        f"Alert rule {rule.get('name')!r} notifies {target!r}, which is not "
                        f"configured (notifiers: {', '.join(self.notifications) or 'none'}).",
                        hint="Add it under notifications, or use the built-in 'log'.",
                    )

    def to_dict(self) -> dict[str, Any]:
        """The JSON stored with the monitor."""
        return {
            "checks": list(self.checks),
            "window": self.window,
            "lag": self.lag,
            "columns": None if self.columns is None else list(self.columns),
            "drift": dict(self.drift),
            "quality": dict(self.quality),
            "performance": dict(self.performance),
            "estimated_performance": dict(self.estimated_performance),
            "fairness": dict(self.fairness),
            "rules": [dict(rule) for rule in self.rules],
            "notifications": {k: dict(v) for k, v in self.notifications.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorConfig:
        """Read :meth:`to_dict`'s output (unknown keys are an error)."""
        known = set(cls.__dataclass_fields__)
        extra = sorted(set(data) - known)
        if extra:
            raise InvalidInput(
                f"Unknown monitor setting {extra[0]!r}.",
                hint=f"Settings: {', '.join(sorted(known))}.",
            )
        values = dict(data)
        for key in ("checks", "columns", "rules"):
            if values.get(key) is not None:
                values[key] = tuple(_listed(values[key], key))
        return cls(**values)


def _listed(value: Any, key: str) -> Sequence[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidInput(f"{key} must be a list; received {value!r}.")
    return value


_ALERT_RE = re.compile(
    r"^\s*(?P<metric>[\w.\-]+)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<threshold>[-+0-9.eE]+)"
    r"(?:\s+for\s+(?P<for>\d+))?(?:\s+cooldown\s+(?P<cooldown>\S+))?"
    r"(?:\s+severity\s+(?P<severity>\w+))?\s*$"
)


def parse_alert(
    text: str, *, name: str | None = None, notify: Sequence[str] = ("log",)
) -> AlertRule:
    """An alert rule from ``"METRIC OP THRESHOLD [for N] [cooldown 1h] [severity S]"``.

    For example ``"drift.share >= 0.3 for 2 cooldown 1h severity critical"``: fire when
    the share of drifted columns is at least 0.3 in two windows in a row, notify again
    after an hour while it lasts.
    """
    match = _ALERT_RE.match(text or "")
    if match is None:
        raise InvalidInput(
            f"Cannot read the alert rule {text!r}.",
            hint='Write "METRIC OP THRESHOLD [for N] [cooldown 1h] [severity critical]", '
            'e.g. "drift.share >= 0.3 for 2".',
        )
    try:
        threshold = float(match["threshold"])
    except ValueError as exc:
        raise InvalidInput(f"The threshold of alert rule {text!r} is not a number.") from exc
    rule: dict[str, Any] = {
        "name": name or f"{match['metric']} {match['op']} {match['threshold']}",
        "metric": match["metric"],
        "operator": match["op"],
        "threshold": threshold,
        "for_windows": int(match["for"] or 1),
        "cooldown": match["cooldown"],
        "notify": list(notify),
    }
    if match["severity"]:
        rule["severity"] = match["severity"]
    return AlertRule.from_dict(rule)
