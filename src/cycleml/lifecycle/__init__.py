"""Wires the lifecycle stages into the project workflow (``cycleml demo`` for now)."""

from __future__ import annotations

from cycleml.lifecycle._demo import DEMO_SPEC, DemoResult, run_demo

__all__ = ["DEMO_SPEC", "DemoResult", "run_demo"]
