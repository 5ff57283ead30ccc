"""One function makes a point's result from its plan and what the engine recorded (and, for a disturbed
point, its uniform twin's record): counts and times beside the closed forms, the mean check, and what
the disturbance cost — whichever engine ran."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ..engines.activity import critical_path, idle_s
from ..engines.analytic import Expected
from ..engines.message import mean_error, with_busiest_link_bound
from ..engines.plan import Plan
from ..engines.record import Record, stop_text
from ..engines.results import RunResult, TrainingResult
from ..training.loop import replicas_identical, trace_of


def _total(sizes: dict[int, int]) -> int:
    return sum(size * count for size, count in sizes.items())


def _finish(plan: Plan, record: Record) -> np.ndarray:
    """Each worker's end of its last task; NaN for all if the run stopped, for one that never finished."""
    finish = record.owner_finish(plan.workers)
    return np.full(plan.workers, np.nan) if record.stopped is not None else finish


def _makespan(finish: np.ndarray) -> float:
    done = finish[np.isfinite(finish)]
    return float(done.max()) if len(done) else 0.0


def compute_spans(plan: Plan, record: Record) -> list[list[tuple[float, float]]]:
    """Per worker its compute (start, end) spans, cut at its crash (one that crashed before starting has none)."""
    spans: list[list[tuple[float, float]]] = [[] for _ in range(plan.workers)]
    if plan.program is None:
        return spans
    crash = dict(record.crashed)
    for index, task in enumerate(plan.program.tasks):
        if hasattr(task, "seconds"):
            for rank in range(plan.workers):
                start, end = record.task_start[index, rank], record.task_end[index, rank]
                if np.isfinite(start):
                    spans[rank].append((float(start), float(min(end, crash.get(rank, end), record.stopped_at))))
    return spans


def _varies(plan: Plan, record: Record) -> bool:
    """Whether the run can differ from every-worker-the-same (anything but equal compute times; failures and
    crashes that came after the run ended never happened)."""
    compute = plan.compute_s
    uneven = compute is not None and len(np.unique(np.asarray(compute))) > 1
    return (uneven or bool(plan.faults is not None and plan.faults.jitter_s) or bool(record.failed)
            or bool(record.crashed) or plan.extra.get("keep") is not None)


def disturbed_expected(plan: Plan, record: Record, twin: Expected) -> Expected:
    """Counts as the closed form's; time at least the fastest compute plus the uniform closed form (a delay,
    a slower link or a longer route never helps; a server that waits for fewer gradients does, so dropping
    has no time to check)."""
    if plan.extra.get("keep") is not None:
        return dataclasses.replace(twin, makespan_s=None, time_formula="")
    if twin.makespan_s is None:
        return twin
    fastest = float(np.min(plan.compute_s)) if plan.compute_s is not None and np.size(plan.compute_s) else 0.0
    relation = "=" if twin.time_relation == "=" and not _varies(plan, record) else "≥"
    return dataclasses.replace(twin, makespan_s=fastest + twin.makespan_s, time_relation=relation,
                               time_formula=f"{'min compute + ' if fastest else ''}{twin.time_formula}")


def disturbance_report(plan: Plan, record: Record, twin: Record, finish: np.ndarray,
                       spans: list[list[tuple[float, float]]]) -> dict[str, Any]:
    """What every disturbed run reports: why it stopped, or its time against the twin's; each worker's
    compute (the length of its spans) and idle time; the critical path; what failed, crashed, was
    rerouted, lost or dropped."""
    stopped = stop_text(record, plan.algorithm, plan.workers)
    uniform = _makespan(twin.owner_finish(plan.workers))
    makespan = _makespan(finish)
    path = critical_path(record.log, spans, finish.tolist(), record.posted) if stopped is None and record.log is not None else None
    dropped_ranks = {rank for call in record.dropped for rank in call}
    kept = None
    if dropped_ranks and stopped is None:
        kept = max((float(t) for rank, t in enumerate(finish) if rank not in dropped_ranks and np.isfinite(t)),
                   default=None)
    return {
        "stopped": stopped,
        "uniform_makespan_s": uniform,
        "lost_s": None if stopped is not None else makespan - uniform,
        "compute_s": [sum(b - a for a, b in mine) for mine in spans],
        "idle_s": ([None] * plan.workers if stopped is not None or record.log is None  # never finished: no idle
                   else idle_s(record.log, spans, finish.tolist())),
        "critical_path": None if path is None else {**dataclasses.asdict(path), "text": path.describe()},
        "rerouted_bytes": int(round(record.rerouted_bytes)),
        "lost_messages": len(record.lost),
        "lost_bytes": int(round(sum(unsent for _, _, unsent in record.lost))),
        "failed_links": [[str(u), str(v), at] for at, u, v in record.failed],
        "crashed": [[rank, at] for rank, at in record.crashed],
        "dropped": [list(call) for call in record.dropped],
        "kept_makespan_s": kept,
    }


def _mean_check(plan: Plan, record: Record) -> dict[str, Any] | None:
    """Against the mean of the gradients used (all of them, or the ones a dropping server kept), and, when
    some were dropped, how far the result is from the mean of all n."""
    hooks = record.hooks
    if plan.payload != "data" or hooks is None or not hooks.buffers or record.results is None:
        return None
    buffers, results = hooks.buffers, record.results
    down = {rank for rank, _ in record.crashed}
    live = [rank for rank in range(plan.workers) if rank not in down and rank < len(results) and results[rank] is not None]
    if not live or record.stopped is not None:
        return None
    dropped = sorted({rank for call in record.dropped for rank in call})
    kept = [buffer for rank, buffer in enumerate(buffers) if rank not in dropped]
    error, tolerance, identical = mean_error(kept, [results[rank] for rank in live], plan.kind)
    check = {"max_error": error, "tolerance": tolerance, "identical": identical}
    if dropped:
        everyone = np.mean(np.stack(buffers).astype(np.float64), axis=0)
        result = np.asarray(results[live[0]], dtype=np.float64)
        check["vs_all_max_error"] = float(np.max(np.abs(result - everyone)))
        check["vs_all_relative"] = float(np.linalg.norm(result - everyone) / max(np.linalg.norm(everyone), 1e-300))
    return check


def run_result(plan: Plan, record: Record, twin: Record | None, engine: str) -> RunResult:
    """A collective point's result from its plan and record."""
    common = dict(algorithm=plan.algorithm, topology=plan.topology, workers=plan.workers, params=plan.params,
                  dtype=plan.dtype, bytes_per_param=plan.itemsize, payload=plan.payload, nccl=plan.nccl, engine=engine)
    if engine == "analytic":
        expected = plan.expected
        makespan = expected.makespan_s if expected.makespan_s is not None else math.nan
        return RunResult(**common, messages=expected.messages, bytes=expected.bytes, message_bytes=expected.message_bytes,
                         makespan_s=makespan, finish_s=[], bytes_per_link={}, link_bandwidth={}, expected=expected)
    finish = _finish(plan, record)
    spans = compute_spans(plan, record)
    expected = plan.expected
    report = None
    if twin is not None:
        expected = disturbed_expected(plan, record, expected)
        report = disturbance_report(plan, record, twin, finish, spans)
    return RunResult(**common, messages=record.messages, bytes=_total(record.sizes),
                     message_bytes=dict(sorted(record.sizes.items())), makespan_s=_makespan(finish),
                     finish_s=finish.tolist(), bytes_per_link=record.bytes_per_link, link_bandwidth=record.link_bandwidth,
                     expected=with_busiest_link_bound(expected, record.busiest_link_bound), mean=_mean_check(plan, record),
                     log=record.log if plan.keep_log else None, disturbance=report,
                     compute_spans=spans if plan.compute_s is not None else [])


def training_result(plan: Plan, record: Record, twin: Record | None, engine: str, optimizer: Any) -> TrainingResult:
    """A training point's result: curves, counts and their closed forms, the disturbance against the twin."""
    setup = plan.extra["setup"]
    n, steps = plan.workers, setup.steps
    common = dict(algorithm=plan.algorithm, topology=plan.topology, workers=n, optimizer=optimizer.title,
                  wire=optimizer.wire, model=setup.model.name, dataset=setup.dataset.name, n_params=setup.model.n_params,
                  steps=steps)
    if engine == "analytic":
        expected = plan.expected
        return TrainingResult(**common, loss=[], step_end_s=[], compute_s=[], comm_s=[], final_loss=math.nan,
                              final_accuracy=None, messages=expected.messages, bytes=expected.bytes,
                              message_bytes=expected.message_bytes,
                              makespan_s=expected.makespan_s if expected.makespan_s is not None else math.nan,
                              expected=expected, replicas_identical=None, bytes_per_link={}, engine="analytic")
    hooks = record.hooks if plan.hooks is not None else None
    trace = trace_of(record, hooks, steps, n, plan.compute_s)
    data = setup.dataset
    if trace.replicas:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # a run that diverges says so by its loss
            final_loss = setup.model.loss(trace.replicas[0], data.X, data.y)
            final_accuracy = setup.model.accuracy(trace.replicas[0], data.X, data.y)
    else:
        final_loss, final_accuracy = (trace.loss or [math.nan])[-1], None
    expected = plan.expected
    report = None
    if twin is not None:
        finish = np.asarray(trace.finish_s) if record.stopped is None else np.full(n, np.nan)
        report = disturbance_report(plan, record, twin, finish, trace.compute_spans)
        uniform = twin.hooks if plan.hooks is not None else None
        uniform_loss = (setup.model.loss(uniform.params[0], data.X, data.y) if uniform is not None else None)
        report |= {"kept_makespan_s": None, "steps_done": len(trace.step_end_s), "uniform_final_loss": uniform_loss,
                   "final_loss_change": None if uniform_loss is None or not trace.replicas else final_loss - uniform_loss,
                   "uniform_makespan_s": (trace_of(twin, uniform, steps, n, plan.twin.compute_s).step_end_s or [0.0])[-1]}
        report["lost_s"] = None if report["stopped"] else (trace.step_end_s or [0.0])[-1] - report["uniform_makespan_s"]
        expected = _training_bound(plan, record, expected, setup)
    return TrainingResult(
        **common, loss=trace.loss, step_end_s=trace.step_end_s, compute_s=trace.compute_s, comm_s=trace.comm_s,
        final_loss=final_loss, final_accuracy=final_accuracy, messages=record.messages, bytes=_total(record.sizes),
        message_bytes=dict(sorted(record.sizes.items())), makespan_s=trace.step_end_s[-1] if trace.step_end_s else 0.0,
        expected=expected, replicas_identical=replicas_identical(trace.replicas) if trace.replicas else (
            None if hooks is None else False),
        bytes_per_link=record.bytes_per_link, log=record.log if plan.keep_log else None, finish_s=trace.finish_s,
        compute_spans=trace.compute_spans, disturbance=report, engine=engine)


def _training_bound(plan: Plan, record: Record, expected: Expected, setup: Any) -> Expected:
    """How a training run's closed-form time becomes a bound under a disturbance: at least steps × (fastest
    compute + T); none when the server drops gradients (waiting for fewer is faster)."""
    if plan.extra.get("keep") is not None:
        return dataclasses.replace(expected, makespan_s=None, time_formula="")
    jittered = plan.compute_s is not None and len(np.unique(plan.compute_s)) > 1
    if expected.makespan_s is None or not (_varies(plan, record) or jittered):
        return expected
    from .plans import step_compute_s

    faster = setup.steps * (float(np.min(plan.compute_s)) - step_compute_s(setup))
    return dataclasses.replace(expected, makespan_s=expected.makespan_s + faster, time_relation="≥",
                               time_formula=f"steps·(fastest compute + {expected.time_formula.split('+', 1)[-1].strip(' )')})")
