"""One pipeline: every model × engine × disturbance × workload runs, or is refused in one line that says why;
where the message and the schedule engines both run, they agree (to 1e-9) on times, per-rank finish, idle,
lost time, rerouted bytes and message counts."""

import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim import scenario
from commsim.errors import ScenarioError
from commsim.runner import points

MODELS = ("alpha-beta", "nccl")
ENGINES = ("message", "schedule", "analytic")
DISTURBANCES = ("none", "stragglers", "link override", "link_down", "partition", "crash", "drop_stragglers")
WORKLOADS = ("collective", "training")


def _text(model: str, engine: str, disturbance: str, workload: str, n: int = 4, params: int = 1000,
          at: float = 0.3, algorithm: str | None = None) -> str:
    """A scenario of one cell: ``at`` places the faults within the run (as a fraction of a few µs)."""
    if model == "nccl":
        topology = f"{{kind: cluster, preset: hgx-h100, nodes: 2, gpus_per_node: {n // 2}, nics_per_node: {n // 2}}}"
        algorithm = algorithm or "ring_allreduce"
    else:
        kind = "ring" if disturbance == "link_down" else "star"
        topology = f"{{kind: {kind}, bandwidth: 8 Gbit/s, latency: 1 us}}"
        algorithm = algorithm or ("parameter_server" if disturbance == "drop_stragglers" or kind == "star"
                                  else "ring_allreduce")
    t = f"{at * 20:.6f} us"
    faults = {
        "none": "",
        "stragglers": "stragglers: {compute: 2 us, slowdown: {1: 3}}\n" if workload == "collective"
        else "stragglers: {slowdown: {1: 3}}\n",
        "link override": "stragglers: {links: {1: {bandwidth: 2 Gbit/s, latency: 3 us}}}\n",
        "link_down": (f"faults: {{link_down: [{{between: [0, node0.nic0], at: {t}}}]}}\n" if model == "nccl"
                      else f"faults: {{link_down: [{{between: [0, 1], at: {t}}}]}}\n"),
        "partition": (f"faults: {{link_down: [{{between: [0, node0.nic0], at: {t}}}, {{between: [0, node0.nvswitch], "
                      f"at: {t}}}]}}\n" if model == "nccl" else f"faults: {{link_down: [{{between: [1, switch], at: {t}}}]}}\n"),
        "crash": f"faults: {{crash: [{{worker: 1, at: {t}}}]}}\n",
        "drop_stragglers": "stragglers: {compute: 2 us, slowdown: {1: 3}}\nfaults: {drop_stragglers: 1}\n"
        if workload == "collective" else "stragglers: {slowdown: {1: 3}}\nfaults: {drop_stragglers: 1}\n",
    }[disturbance]
    work = (f"params: {params}\n" if workload == "collective" else
            "training: {model: linear_regression, features: 3, samples: 64, batch_per_worker: 8, steps: 2,\n"
            "  optimizer: {name: gradient_descent, alpha: 0.1}, compute: {flops_per_second: 1.92e8}}\n")
    return (f"name: cell\nworkers: {n}\n{work}topology: {topology}\nalgorithms: [{algorithm}]\nmodel: {model}\n"
            f"engine: {engine}\npayload: size-only\n{faults}")


def _load(text: str) -> scenario.Scenario:
    return scenario.parse(yaml.safe_load(text), "cell.yaml")


def _run(loaded: scenario.Scenario):
    (point,) = loaded.runs()
    one = points.simulate_training if loaded.training is not None else points.simulate_run
    return one(loaded, point)


CELLS = [(m, e, d, w) for m in MODELS for e in ENGINES for d in DISTURBANCES for w in WORKLOADS]
REFUSED = {
    ("nccl", "drop_stragglers"): "faults.drop_stragglers: only 'parameter_server' can proceed without some gradients",
    ("analytic", "link_down"): "faults.link_down: engine 'analytic' has no closed form for it",
    ("analytic", "partition"): "faults.link_down: engine 'analytic' has no closed form for it",
    ("analytic", "crash"): "faults.crash: engine 'analytic' has no closed form for it",
    ("analytic", "drop_stragglers"): "faults.drop_stragglers: engine 'analytic' has no closed form for it",
}


def _refusal(model: str, engine: str, disturbance: str) -> str | None:
    return REFUSED.get((engine, disturbance)) or REFUSED.get((model, disturbance))


@pytest.mark.parametrize(("model", "engine", "disturbance", "workload"), CELLS, ids=["-".join(c) for c in CELLS])
def test_every_cell_runs_or_is_refused_in_one_line(model, engine, disturbance, workload):
    """Each of the 84 cells runs (its checks hold where it has any; a stopped run says why) or is refused
    with one line naming the key and why."""
    text = _text(model, engine, disturbance, workload)
    refusal = _refusal(model, engine, disturbance)
    if refusal is not None:
        with pytest.raises(ScenarioError) as error:
            _load(text)
        assert "\n" not in str(error.value) and str(error.value).startswith(f"cell.yaml: {refusal}")
        return
    run = _run(_load(text))
    assert run.engine == engine
    if disturbance == "partition" and engine != "analytic":
        assert run.stopped is not None and run.stopped.startswith("network partitioned")
        return
    if disturbance == "crash" and engine != "analytic":
        assert run.stopped is None or "cannot finish (worker 1 crashed at t = 6.00 us)" in run.stopped
    if engine == "analytic":
        assert run.ok is None and run.makespan_s > 0
        return
    assert run.stopped is not None or run.ok, run.checks


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == pytest.approx(b, rel=1e-9, abs=1e-15)


def _assert_engines_agree(text_message: str, text_schedule: str) -> None:
    message, schedule = (_run(_load(text)) for text in (text_message, text_schedule))
    assert (message.messages, message.message_bytes, message.bytes_per_link) == (
        schedule.messages, schedule.message_bytes, schedule.bytes_per_link)
    assert _same(message.makespan_s, schedule.makespan_s)
    assert all(_same(a, b) for a, b in zip(message.finish_s, schedule.finish_s, strict=True))
    if message.disturbance is None:
        assert schedule.disturbance is None
        return
    a, b = message.disturbance, schedule.disturbance
    assert a["stopped"] == b["stopped"] and a["crashed"] == b["crashed"] and a["dropped"] == b["dropped"]
    assert a["rerouted_bytes"] == b["rerouted_bytes"] and a["lost_bytes"] == b["lost_bytes"]
    assert _same(a["lost_s"], b["lost_s"]) and _same(a["uniform_makespan_s"], b["uniform_makespan_s"])
    assert all(_same(x, y) for x, y in zip(a["idle_s"], b["idle_s"], strict=True))
    assert all(_same(x, y) for x, y in zip(a["compute_s"], b["compute_s"], strict=True))


@settings(max_examples=40, deadline=None)
@given(model=st.sampled_from(MODELS), disturbance=st.sampled_from(DISTURBANCES), workload=st.sampled_from(WORKLOADS),
       n=st.sampled_from([2, 4, 6]), params=st.integers(1, 4000), at=st.floats(0.0, 1.0))
def test_the_message_and_schedule_engines_agree_on_every_disturbance(model, disturbance, workload, n, params, at):
    """Any cell both engines run, at any size and fault time: the same counts, bytes per link, makespan,
    per-rank finish, idle, compute, lost time, rerouted and lost bytes, crashes, drops and stop reason."""
    if _refusal(model, "message", disturbance) is not None:
        return
    n = max(n, 4) if model == "nccl" else n  # NCCL's cluster: 2 nodes of n/2 GPUs on an NVSwitch
    texts = [_text(model, engine, disturbance, workload, n, params, at) for engine in ("message", "schedule")]
    _assert_engines_agree(*texts)


@pytest.mark.parametrize("algorithm", ["reduce_scatter", "all_gather", "broadcast", "reduce", "alltoall", "auto"])
def test_nccl_collectives_agree_on_both_engines_under_a_straggler_and_a_failure(algorithm):
    """NCCL's collectives on 2 × 2 H100 GPUs, one GPU slower and its NIC link failing mid-run: the engines
    agree as everywhere."""
    texts = [_text("nccl", engine, "link_down", "collective", 4, 100_000, 0.1, algorithm).replace(
        "faults:", "stragglers: {compute: 2 us, slowdown: {1: 3}}\nfaults:") for engine in ("message", "schedule")]
    _assert_engines_agree(*texts)


def test_a_rerouted_message_leaves_a_finished_one_alone():
    """Ring of 3, links of 1 GB/s and 1 us. 1→0 sends 1000 B (on the wire 0–1 us, delivered at 2 us); 2→0
    sends 4000 B on the link 2–0, which fails at 1.5 us: its last 2500 B go on by 2→1→0, over the link
    1→0 that 1→0's message has left (it is only propagating): that one still arrives at 2 us (the message
    engine once sent its last byte again, a latency late), and 2→0 at 1.5 + 2.5 + 2 = 6 us."""
    from commsim.collectives.schedule import Schedule, pieces
    from commsim.engines import message, schedule
    from commsim.engines.program import Faults, one_call
    from commsim.network import topology as topologies

    graph = topologies.build("ring", 3, 1e9, 1e-6)
    round_ = pieces([1, 2], [0, 0], [0, 0], [1000, 4000], 1, "")  # bytes 0:1000 and 0:4000, copied
    program = one_call(Schedule(3, 1, lambda k: round_, p=4000), [0, 1, 2], 3)
    faults = Faults(link_failures=((2, 0, 1.5e-6),))
    for engine in (message, schedule):
        record = engine.run_program(program, graph, faults=faults, keep_log=True)
        ends = {record.log.endpoints(i): record.log.end[i] for i in range(len(record.log))}
        assert ends[1, 0] == pytest.approx(2e-6, rel=1e-12), engine.__name__
        assert ends[2, 0] == pytest.approx(6e-6, rel=1e-12), engine.__name__
        assert record.rerouted_bytes == pytest.approx(2500, rel=1e-12)


def test_a_delivery_at_a_partitions_instant_comes_after_it_on_both_engines():
    """Six H100 GPUs training, the partition at 20 us: two transfers land on that instant, which the
    schedule engine sums to 19.999999999999998 us and the message engine to 20 us. A partition stops
    a run at its stated time × (1 − 1e-12), before what happens then, so neither engine delivers them
    (once the schedule engine counted 44 messages and the message engine 42); the stop is reported at
    20 us as stated."""
    from commsim.engines.program import partition_acts
    from commsim.runner.plans import plan_of

    assert partition_acts(2e-5) == 2e-5 * (1 - 1e-12)
    logs = {}
    for engine in ("message", "schedule"):
        loaded = _load(_text("nccl", engine, "partition", "training", 6, 1, 1.0))
        (run,) = loaded.runs()
        plan = plan_of(loaded, run, engine, keep_log=True)
        record = points.EXECUTE[engine](plan)
        logs[engine] = sorted(record.log.end[i] for i in range(len(record.log)))
        assert record.stopped_at == 2e-5 and record.stopped.startswith("network partitioned at t = 20.0 us")
        assert max(logs[engine]) < partition_acts(2e-5)
        logs[engine, "messages"] = record.messages
    # sent = delivered + the 6 of the ring's round under way at the stop (one per rank)
    assert logs["message", "messages"] == logs["schedule", "messages"] == len(logs["message"]) + 6
    assert logs["message"] == pytest.approx(logs["schedule"], rel=1e-12)
