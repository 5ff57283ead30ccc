"""The bundled scenarios, each simulated once per test session: the golden summaries and the table
widths read the same runs (``tests/`` is not a package: test modules import this as ``bundled``)."""

from __future__ import annotations

import functools
from pathlib import Path

from commsim import scenario
from commsim.runner import points

SCENARIO_DIR = Path(__file__).parent.parent / "scenarios"
SCENARIOS = sorted(SCENARIO_DIR.glob("*.yaml"))


@functools.cache
def simulated(path: Path) -> tuple:
    """A bundled scenario's runs, simulated once for every test that reads them."""
    return tuple(points.simulate(scenario.load(path)))
