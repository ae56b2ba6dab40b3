"""Metric gates: a spec's thresholds checked against a run's or model version's metrics.

The same check serves as a training gate (``applies_to: train``, tagged on runs when they
end), a deployment gate (``deploy``, enforced by stage transitions) and later a monitoring alert.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cycleml.spec._model import MetricSpec

__all__ = ["GateCheck", "GateReport", "check_gates"]


@dataclass(frozen=True)
class GateCheck:
    """One metric gate's verdict on one model version."""

    metric: str
    direction: str
    threshold: float | None
    value: float | None
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class GateReport:
    """Every deploy gate's verdict on a model version."""

    name: str
    version: int
    checks: tuple[GateCheck, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        """True when every gate passed (or there are none)."""
        return all(check.passed for check in self.checks)

    @property
    def failures(self) -> list[GateCheck]:
        """The gates that refused the version."""
        return [check for check in self.checks if not check.passed]


def check_gates(
    metrics: Mapping[str, float], gates: Sequence[MetricSpec], *, name: str, version: int
) -> GateReport:
    """Check a version's metrics against metric specs; a missing metric fails its gate."""
    checks = []
    for gate in gates:
        value = metrics.get(gate.name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            checks.append(
                GateCheck(
                    gate.name,
                    gate.direction,
                    gate.threshold,
                    value,
                    False,
                    f"{gate.name} was not logged by the source run",
                )
            )
            continue
        passed = gate.passes(value)
        reason = gate.describe_failure(value)  # states the comparison, met or not
        checks.append(GateCheck(gate.name, gate.direction, gate.threshold, value, passed, reason))
    return GateReport(name=name, version=version, checks=tuple(checks))
