"""A point of a scenario with stragglers or faults: the disturbed run and its uniform twin (same network,
every worker computing the base time, nothing failing), and what the disturbance cost.

Reported beside the run (``RunResult.disturbance``): the uniform makespan and what the run lost against
it, each worker's compute and idle time, the critical path, the bytes a link failure rerouted, the
crashes and the messages they cut off (with the bytes never sent), and in ``drop_stragglers`` mode which
gradients the server dropped and how far the mean it formed is from the mean of all n."""

from __future__ import annotations

import dataclasses
from typing import Any

import networkx as nx
import numpy as np

from ..collectives import get
from ..engines import analytic
from ..engines.analytic import closed_form
from ..engines.disturbed import Disturbance, DisturbedRun, critical_path, idle_s, run_disturbed
from ..engines.message import bytes_per_link, link_bandwidths, make_buffers, mean_error, with_busiest_link_bound
from ..engines.results import NotApplicable, RunResult
from ..errors import TopologyError
from ..scenario import RunSpec, Scenario


def slow_links(graph: nx.Graph, scenario: Scenario) -> nx.Graph:
    """``stragglers.links``: every edge at a listed worker takes its bandwidth and/or latency."""
    spec = scenario.stragglers
    for rank, speed in (spec.links.items() if spec is not None else ()):
        for _, _, data in graph.edges(rank, data=True):
            if speed.bandwidth is not None:
                data["bandwidth"] = speed.bandwidth
            if speed.latency is not None:
                data["latency"] = speed.latency
    return graph


def disturbance_of(scenario: Scenario, n: int, uniform: bool = False, base: float | None = None) -> Disturbance:
    """The scenario's disturbance for n workers; ``uniform``: its twin, every worker computing the base
    time with nothing else going wrong. ``base``: training's compute per step (each rank gets it times its
    slowdown, and the compute jitter is drawn per step), else the stragglers' ``compute`` (jitter drawn once)."""
    spec, faults = scenario.stragglers, scenario.faults
    training = base is not None
    if base is None:
        base = spec.compute if spec is not None and spec.compute is not None else 0.0
    if uniform:
        return Disturbance(tuple([base] * n))
    if spec is None:
        compute = [base] * n
    elif training:
        compute = [base * factor for factor in spec.factors(n, scenario.seed)]
    else:
        compute = spec.compute_s(n, scenario.seed, base)
    return Disturbance(
        compute_s=tuple(float(t) for t in compute),
        jitter_s=spec.jitter.message if spec is not None else 0.0,
        link_failures=tuple((*down.between, down.at) for down in faults.link_down) if faults is not None else (),
        crashes=tuple((crash.worker, crash.at) for crash in faults.crash) if faults is not None else (),
        keep=n - faults.dropped if faults is not None and faults.dropped is not None else None,
        seed=scenario.seed,
        compute_jitter=spec.jitter.compute if training and spec is not None else 0.0,
    )


def _mean_check(buffers: list[Any], run: DisturbedRun, kind: str) -> dict[str, Any] | None:
    """Against the mean of the gradients used (all of them, or the ones a dropping server kept), and, when
    some were dropped, how far the result is from the mean of all n."""
    live = [rank for rank, result in enumerate(run.results) if result is not None]
    if not live or not isinstance(buffers[0], np.ndarray):
        return None
    dropped = sorted({rank for call in run.dropped for rank in call})
    kept = [buffer for rank, buffer in enumerate(buffers) if rank not in dropped]
    error, tolerance, identical = mean_error(kept, [run.results[rank] for rank in live], kind)
    check = {"max_error": error, "tolerance": tolerance, "identical": identical}
    if dropped:
        everyone = np.mean(np.stack(buffers).astype(np.float64), axis=0)
        result = np.asarray(run.results[live[0]], dtype=np.float64)
        check["vs_all_max_error"] = float(np.max(np.abs(result - everyone)))
        check["vs_all_relative"] = float(np.linalg.norm(result - everyone) / max(np.linalg.norm(everyone), 1e-300))
    return check


def _expected(twin: analytic.Expected, disturbance: Disturbance, run: DisturbedRun, gamma: float) -> analytic.Expected:
    """Counts as the closed form's while nobody crashed (a crash sends less); time at least the fastest
    compute plus the uniform closed form (a delay, a slower link or a longer route never helps; a server
    that waits for fewer gradients does, so dropping has no time to check)."""
    if disturbance.keep is not None:
        return dataclasses.replace(twin, makespan_s=None, time_formula="")
    if twin.makespan_s is None:
        return twin
    fastest = min(disturbance.compute_s, default=0.0)
    relation = "=" if twin.time_relation == "=" and not _varies(disturbance, run) else "≥"
    return dataclasses.replace(twin, makespan_s=fastest + twin.makespan_s, time_relation=relation,
                               time_formula=f"{'min compute + ' if fastest else ''}{twin.time_formula}")


def _varies(disturbance: Disturbance, run: DisturbedRun) -> bool:
    """Whether the run can differ from every-worker-the-same (anything but equal compute times; failures and
    crashes that came after the run ended never happened)."""
    return (len(set(disturbance.compute_s)) > 1 or bool(disturbance.jitter_s) or bool(run.network.failed)
            or bool(run.crashed) or disturbance.keep is not None)


def _report(net: Any, stopped: str | None, uniform_s: float, makespan_s: float, disturbance: Disturbance,
            compute: list[list[tuple[float, float]]], finish: list[float], crashed: list[tuple[int, float]],
            dropped: list[list[int]]) -> dict[str, Any]:
    """What every disturbed run reports: why it stopped, or its time against the twin's; each worker's
    compute (the length of its ``compute`` spans) and idle time; the critical path; what failed, crashed,
    was rerouted, lost or dropped."""
    path = critical_path(net.log, compute, finish, net.posted) if stopped is None else None
    return {
        "stopped": stopped,
        "uniform_makespan_s": uniform_s,
        "lost_s": None if stopped is not None else makespan_s - uniform_s,
        "compute_s": [sum(end - start for start, end in spans) for spans in compute],
        "idle_s": idle_s(net.log, compute, finish),
        "critical_path": None if path is None else {**dataclasses.asdict(path), "text": path.describe()},
        "rerouted_bytes": int(round(net.rerouted_bytes)),
        "lost_messages": len(net.lost),
        "lost_bytes": int(round(sum(unsent for _, _, unsent in net.lost))),
        "failed_links": [[str(u), str(v), at] for at, u, v in net.failed],
        "crashed": [[rank, at] for rank, at in crashed],
        "dropped": dropped,
    }


def compute_spans(disturbance: Disturbance) -> list[list[tuple[float, float]]]:
    """A collective's compute per rank: (0, its compute time), cut short where the rank crashed sooner."""
    crashed_at: dict[int, float] = {}
    for rank, at in disturbance.crashes:
        crashed_at[rank] = min(at, crashed_at.get(rank, at))
    return [[(0.0, min(t, crashed_at.get(rank, t)))] for rank, t in enumerate(disturbance.compute_s)]


def _kept_makespan(run: DisturbedRun) -> float | None:
    """When the server dropped gradients: when the last worker whose gradient always counted finished."""
    dropped = {rank for call in run.dropped for rank in call}
    if not dropped or run.stopped is not None:
        return None
    return max((t for rank, t in enumerate(run.finish_s) if rank not in dropped and t == t), default=None)


def disturbed_run(scenario: Scenario, run: RunSpec, keep_log: bool = False) -> RunResult | NotApplicable:
    """One point under the scenario's stragglers and faults, beside its uniform twin (the scenario's own
    network, without the stragglers' slow links)."""
    from .points import not_applicable

    n, topo = run.workers, run.topology
    try:
        graphs = [slow_links(topo.build(n, [run.algorithm]), scenario), topo.build(n, [run.algorithm])]
    except (TopologyError, ValueError) as error:
        return not_applicable(run, str(error))
    disturbance = disturbance_of(scenario, n)
    if disturbance.keep is not None and run.algorithm != "parameter_server":
        disturbance = dataclasses.replace(disturbance, keep=None)
    missing = [(u, v) for u, v, _ in disturbance.link_failures if not graphs[0].has_edge(u, v)]
    if missing:
        u, v = missing[0]
        absent = [node for node in (u, v) if node not in graphs[0]]
        return not_applicable(run, f"faults.link_down: {absent[0]} is not in {run.algorithm}'s network" if absent
                              else f"faults.link_down: no link {u}–{v} in this topology")
    itemsize = np.dtype(run.dtype).itemsize
    twin = closed_form(run.algorithm, graphs[0], n, run.params, itemsize, scenario.gamma)
    buffers = make_buffers(n, run.params, run.dtype, scenario.payload, scenario.seed)
    uniform = run_disturbed(run.algorithm, graphs[1], buffers, disturbance_of(scenario, n, uniform=True),
                            scenario.gamma, keep_log=False)
    done = run_disturbed(run.algorithm, graphs[0], buffers, disturbance, scenario.gamma, keep_log=True)
    net = done.network
    compute = compute_spans(disturbance)
    report = _report(net, done.stopped, uniform.makespan_s, done.makespan_s, disturbance, compute, done.finish_s,
                     done.crashed, done.dropped) | {"kept_makespan_s": _kept_makespan(done)}
    mean = _mean_check(buffers, done, get(run.algorithm).kind) if scenario.payload == "data" else None
    return RunResult(
        algorithm=run.algorithm, topology=topo.title, workers=n, params=run.params, dtype=run.dtype,
        bytes_per_param=itemsize, payload=scenario.payload, messages=net.messages,
        bytes=sum(size * count for size, count in net.sizes.items()), message_bytes=net.message_sizes(),
        makespan_s=done.makespan_s, finish_s=done.finish_s, bytes_per_link=bytes_per_link(net),
        link_bandwidth=link_bandwidths(net), expected=with_busiest_link_bound(_expected(twin, disturbance, done, scenario.gamma), net),
        mean=mean, log=net.log if keep_log else None, disturbance=report, compute_spans=compute,
    )


def training_disturbance(scenario: Scenario, run: RunSpec, setup: Any) -> Disturbance:
    """The disturbance of a training point: the model's compute per step, each rank's slowdown."""
    base = setup.model.flops_per_example * setup.batch_per_worker / setup.flops_per_second
    disturbance = disturbance_of(scenario, run.workers, base=base)
    return disturbance if run.algorithm == "parameter_server" else dataclasses.replace(disturbance, keep=None)


def training_report(trace: Any, uniform: Any, disturbance: Disturbance, setup: Any, run: RunSpec) -> dict[str, Any]:
    """What the disturbance did to a training run against its uniform twin: time lost, the loss at the
    end against the twin's, idle per worker, critical path, reroutes, crashes, drops."""
    done = trace.stopped is None
    uniform_loss = setup.model.loss(uniform.replicas[0], setup.dataset.X, setup.dataset.y)
    final_loss = setup.model.loss(trace.replicas[0], setup.dataset.X, setup.dataset.y) if done else None
    ends = [steps[-1] if steps else 0.0 for steps in (uniform.step_end_s, trace.step_end_s)]
    return _report(trace.network, trace.stopped, *ends, disturbance, trace.compute_spans, trace.finish_s,
                   trace.crashed, trace.dropped) | {
        "kept_makespan_s": None,
        "steps_done": len(trace.loss),
        "uniform_final_loss": uniform_loss,
        "final_loss_change": None if final_loss is None else final_loss - uniform_loss,
    }


def training_expected(expected: analytic.Expected, disturbance: Disturbance, trace: Any, setup: Any) -> analytic.Expected:
    """How a training run's closed-form time becomes a bound under a disturbance: at least steps × (fastest
    compute + T); none when the server drops gradients (waiting for fewer is faster)."""
    if disturbance.keep is not None:
        return dataclasses.replace(expected, makespan_s=None, time_formula="")
    if expected.makespan_s is None or not (_varies(disturbance, trace) or disturbance.compute_jitter):
        return expected
    base = setup.model.flops_per_example * setup.batch_per_worker / setup.flops_per_second
    faster = setup.steps * (min(disturbance.compute_s, default=0.0) - base)
    return dataclasses.replace(expected, makespan_s=expected.makespan_s + faster, time_relation="≥",
                               time_formula=f"steps·(fastest compute + {expected.time_formula.split('+', 1)[-1].strip(' )')})")
