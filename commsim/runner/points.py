"""One point of a scenario, run: planned (``plans``), executed by the engine the scenario picks (a lookup,
``EXECUTE``), its result made from the record (``results``); or a row saying why it is not applicable."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ..engines import analytic, message, schedule
from ..engines.results import NotApplicable, RunResult, TrainingResult
from ..errors import ScenarioError
from ..scenario import RunSpec, Scenario
from .plans import NotRunnable, engine_for, plan_of
from .results import run_result, training_result


def one_blas_thread(simulate: Callable[..., Any]) -> Callable[..., Any]:
    """``simulate`` with BLAS held to one thread (threadpoolctl): a simulation's matrices are small, a BLAS
    pool would fight a sweep's other worker processes for the cores, and one thread sums in one order
    whatever the machine's core count."""

    @functools.wraps(simulate)
    def pinned(*args: Any, **kwargs: Any) -> Any:
        with threadpool_limits(limits=1, user_api="blas"):
            return simulate(*args, **kwargs)

    return pinned


def not_applicable(run: RunSpec, reason: str) -> NotApplicable:
    return NotApplicable(run.algorithm, run.topology.title, run.workers, run.params, run.dtype, reason)


EXECUTE = {"message": message.execute, "schedule": schedule.execute, "analytic": analytic.execute}
"""Every engine takes any plan it can run (the scenario refuses, at load, what an engine cannot)."""


def _execute(scenario: Scenario, run: RunSpec, progress: Any, keep_log: bool) -> tuple[Any, ...] | NotApplicable:
    """(plan, record, the twin's record, engine) of one point, or why it cannot run."""
    engine, _ = engine_for(scenario)
    try:
        plan = plan_of(scenario, run, engine, keep_log)
    except NotRunnable as error:
        return not_applicable(run, str(error))
    execute = EXECUTE[engine]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a diverging model says so by its loss
        record = execute(plan, progress)
        twin = execute(plan.twin) if plan.twin is not None and engine != "analytic" else None
    return plan, record, twin, engine


@one_blas_thread
def simulate_run(scenario: Scenario, run: RunSpec, progress: Any = None,
                 keep_log: bool = False) -> RunResult | NotApplicable:
    """One (topology, algorithm, workers, dtype, params) point of a scenario: planned, executed by its
    engine (beside its uniform twin when disturbed), or not applicable. ``keep_log`` keeps every message
    (for a trace, an export or a timeline)."""
    if run.unavailable is not None:
        return not_applicable(run, run.unavailable)
    done = _execute(scenario, run, progress, keep_log)
    return done if isinstance(done, NotApplicable) else run_result(*done)


@one_blas_thread
def simulate_training(scenario: Scenario, run: RunSpec, progress: Any = None, keep_log: bool = False) -> TrainingResult:
    """Train with one (algorithm, workers, optimizer) point of a training scenario; ``progress`` hears the
    share of simulated time done; ``keep_log`` keeps every message (for a trace or an export)."""
    done = _execute(scenario, run, progress, keep_log)
    if isinstance(done, NotApplicable):
        raise ScenarioError(f"workers: {done.reason}")
    return training_result(*done, run.optimizer)


@one_blas_thread
def simulate_step(scenario: Scenario, run: RunSpec, progress: Any = None, keep_log: bool = False) -> Any:
    """One training step of a workload with one (strategy, algorithm, workers, bucket cap) point, or why it
    cannot run."""
    from .workloads import step_result

    if run.unavailable is not None:
        return not_applicable(run, run.unavailable)
    done = _execute(scenario, run, progress, keep_log)
    return done if isinstance(done, NotApplicable) else step_result(*done, run)


def simulate_point(scenario: Scenario) -> Callable[..., Any]:
    """What simulates one point of ``scenario``: a step of a workload, training, or a collective."""
    if scenario.workload is not None:
        return simulate_step
    return simulate_training if scenario.training is not None else simulate_run


def simulate(scenario: Scenario) -> list[Any]:
    """Every run of a scenario, in the order the scenario lists them."""
    one = simulate_point(scenario)
    return [one(scenario, run) for run in scenario.runs()]
