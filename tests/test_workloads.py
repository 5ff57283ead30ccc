"""Training steps of real models (the ``workload`` section): buckets, the overlap schedule, the strategies'
traffic and the wire formats, each against its closed form; the engines agree; bad input is one line."""

import math

import numpy as np
import pytest

from commsim import cli, scenario
from commsim.errors import ScenarioError
from commsim.runner.points import simulate_step
from commsim.training.strategies import buckets

ALPHA, BANDWIDTH = 5e-6, 12.5e9  # the ring's links: 5 us, 100 Gbit/s
PEAK, UTILIZATION = 1e12, 0.5  # FLOP/s: a layer of f FLOPs per sample takes f·batch / (PEAK·UTILIZATION)


def _scenario(layers, workers=4, **workload):
    """A workload on a ring of ``workers`` (contention-free for the ring's calls), compute from FLOPs."""
    engine = workload.pop("engine", "schedule")
    spec = {"layers": [{"name": f"l{i}", "params": p, "flops": f} for i, (p, f) in enumerate(layers)],
            "peak_flops": PEAK, "utilization": UTILIZATION, "dtype": "fp32", **workload}
    return scenario.parse({"name": "w", "workers": workers, "engine": engine,
                           "topology": {"kind": "ring", "bandwidth": "100 Gbit/s", "latency": "5 us"},
                           "workload": spec})


def _step(loaded, strategy=None):
    run = next(run for run in loaded.runs() if strategy is None or run.strategy == strategy)
    return simulate_step(loaded, run)


def test_buckets_follow_pytorchs_rule():
    """Reverse layer order; a bucket closes once it holds its cap (the first 400 B here, then 1000 B)."""
    assert buckets([100, 300, 200, 50], 4, cap=1000, first=400) == [[3, 2], [1], [0]]
    assert buckets([0, 10, 0], 4, cap=8, first=8) == [[1]]  # layers without parameters make no gradient
    assert buckets([250, 250], 4, cap=10**6, first=1000) == [[1], [0]]  # exactly the cap closes a bucket


def test_default_bucket_caps_are_pytorchs():
    """25 MiB per bucket, the first 1 MiB (torch.distributed's defaults)."""
    spec = _scenario([(64, 1.0)]).workload
    assert (spec.bucket_cap, spec.first_bucket) == ([25 * 2**20], 2**20)


LAYERS = [(4000, 3e6), (20000, 1e6), (8000, 4e6), (4000, 2e6), (12000, 5e6)]  # (params, forward FLOPs per sample)


def _ring_allreduce_s(elements, n, w=4):
    return 2 * (n - 1) * (ALPHA + elements // n * w / BANDWIDTH)


def _ddp_by_hand(n: int, batch: int, factor: float = 1.0, optimizer: float = 0.0) -> float:
    """The DDP step of LAYERS with buckets {4}, {3, 2, 1}, {0} (caps 20 kB first, 60 kB after), its slowest
    rank computing ``factor`` times as long: each all-reduce starts when that rank's gradient is ready."""
    forward = [factor * f * batch / (PEAK * UTILIZATION) for _, f in LAYERS]
    t = sum(forward)
    ready = {}
    for layer in reversed(range(len(LAYERS))):
        t += 2 * forward[layer]
        ready[layer] = t
    end = 0.0
    for group in ([4], [3, 2, 1], [0]):
        start = max(ready[group[-1]], end)
        end = start + _ring_allreduce_s(sum(LAYERS[i][0] for i in group), n)
    return max(end, t) + factor * optimizer


def test_a_straggler_sets_every_calls_start_on_both_engines():
    """stragglers.slowdown: rank 1 computes 1.7× as long; every call starts when it is ready: the step is the
    hand recurrence with its times, on the schedule engine and the analytic one, for each strategy's engines
    alike (ZeRO-2 and FSDP: the two engines agree)."""
    def loaded(engine, strategy):
        return scenario.parse({
            "name": "w", "workers": 4, "engine": engine, "stragglers": {"slowdown": {1: 1.7}},
            "topology": {"kind": "ring", "bandwidth": "100 Gbit/s", "latency": "5 us"},
            "workload": {"layers": [{"name": f"l{i}", "params": p, "flops": f} for i, (p, f) in enumerate(LAYERS)],
                         "peak_flops": PEAK, "utilization": UTILIZATION, "dtype": "fp32", "batch_per_gpu": 8,
                         "strategy": strategy, "bucket_cap": 60_000, "first_bucket": 20_000}})

    for strategy in ("ddp", "zero2", "fsdp"):
        simulated, answered = (_step(loaded(engine, strategy)) for engine in ("schedule", "analytic"))
        assert math.isclose(simulated.makespan_s, answered.makespan_s, rel_tol=1e-9), strategy
        if strategy == "ddp":
            assert math.isclose(simulated.makespan_s, _ddp_by_hand(4, 8, 1.7), rel_tol=1e-9)
            assert simulated.efficiency < 1 / 1.7 + 1e-9  # one GPU computes at full speed


def test_ddp_step_equals_the_hand_computed_overlap_schedule():
    """DDP on a contention-free ring: forward, backward in reverse (2 × forward each), bucket b's all-reduce
    starts at max(its last layer's gradient, the previous all-reduce's end) and takes 2(n−1)(α + P_b w/(nB));
    the optimizer follows the last. The simulated step equals this recurrence to 1e-9, on both engines."""
    n, batch, cap, first = 4, 8, 60_000, 20_000
    optimizer = 1e-5
    for engine in ("schedule", "message"):
        loaded = _scenario(LAYERS, n, batch_per_gpu=batch, bucket_cap=cap, first_bucket=first,
                           optimizer_time=optimizer, engine=engine)
        forward = [f * batch / (PEAK * UTILIZATION) for _, f in LAYERS]
        # buckets by hand, reverse order: 12000·4 = 48 kB ≥ 20 kB closes {4}; 4000 + 8000 + 20000 → 128 kB ≥ 60 kB
        # closes {3, 2, 1}; {0} is left
        groups = [[4], [3, 2, 1], [0]]
        t = sum(forward)
        ready = {}
        for layer in reversed(range(len(LAYERS))):
            t += 2 * forward[layer]
            ready[layer] = t
        end = 0.0
        for group in groups:
            start = max(ready[group[-1]], end)
            end = start + _ring_allreduce_s(sum(LAYERS[i][0] for i in group), n)
        step = max(end, t) + optimizer
        result = _step(loaded)
        assert result.buckets == 3
        assert math.isclose(result.makespan_s, step, rel_tol=1e-9), engine
        assert result.expected.makespan_s == pytest.approx(step, rel=1e-12)
        assert result.ok
        assert math.isclose(result.compute_s, 3 * sum(forward), rel_tol=1e-12)
        assert math.isclose(result.exposed_s, step - 3 * sum(forward) - optimizer, rel_tol=1e-9)
        comm = sum(_ring_allreduce_s(sum(LAYERS[i][0] for i in group), n) for group in groups)  # one after another
        assert math.isclose(result.comm_s, comm, rel_tol=1e-9)
        assert math.isclose(result.overlap, 1 - result.exposed_s / comm, rel_tol=1e-9) and 0 < result.overlap < 1
        assert math.isclose(result.throughput, n * batch / step, rel_tol=1e-9)
        assert math.isclose(result.efficiency, (3 * sum(forward) + optimizer) / step, rel_tol=1e-9)
        assert step == pytest.approx(_ddp_by_hand(n, batch, 1.0, optimizer), rel=1e-12)


def test_analytic_engine_answers_the_same_recurrence():
    """engine: analytic gives the overlap recurrence's step on the closed forms, equal to the simulation."""
    simulated = _step(_scenario(LAYERS, batch_per_gpu=8, bucket_cap=60_000, first_bucket=20_000))
    answered = _step(_scenario(LAYERS, batch_per_gpu=8, bucket_cap=60_000, first_bucket=20_000, engine="analytic"))
    assert answered.engine == "analytic"
    assert math.isclose(answered.makespan_s, simulated.makespan_s, rel_tol=1e-9)
    assert (answered.messages, answered.bytes) == (simulated.messages, simulated.bytes)


@pytest.mark.parametrize("n", [2, 4, 8])
def test_fsdp_sends_one_and_a_half_times_ddps_bytes(n):
    """Per rank: ZeRO-3/FSDP's two all-gathers and a reduce-scatter 3Ψw(n−1)/n, DDP's all-reduce 2Ψw(n−1)/n (the
    ZeRO paper's accounting); messages: a ring all-reduce per bucket 2n(n−1), per unit three calls of n(n−1)."""
    layers = [(8 * 7 * 5 * 3 * k, 1e6) for k in (1, 2, 3)]  # every unit divisible by n: no padding
    psi, w = sum(p for p, _ in layers), 4
    loaded = _scenario(layers, n, strategy=["ddp", "fsdp"], bucket_cap=10**9, first_bucket=10**9)
    ddp, fsdp = _step(loaded, "ddp"), _step(loaded, "fsdp")
    assert ddp.bytes / n == 2 * psi * w * (n - 1) / n
    assert fsdp.bytes / n == 3 * psi * w * (n - 1) / n
    assert fsdp.bytes / ddp.bytes == 1.5
    assert ddp.messages == 1 * 2 * n * (n - 1)  # one bucket (cap above the model)
    assert fsdp.messages == 3 * len(layers) * n * (n - 1)
    assert ddp.ok and fsdp.ok


def test_zero2_traffic_equals_ddps():
    """ZeRO-1/2: a reduce-scatter and an all-gather per bucket, the same bytes as DDP's all-reduce."""
    layers = [(4 * 1000, 1e6), (4 * 3000, 1e6)]
    loaded = _scenario(layers, 4, strategy=["ddp", "zero1", "zero2"])
    assert _step(loaded, "ddp").bytes == _step(loaded, "zero1").bytes == _step(loaded, "zero2").bytes


def test_fsdp_pads_units_to_a_multiple_of_n():
    """A unit of 10 elements on 4 ranks is gathered and scattered as 12 (FSDP's flat parameter padding)."""
    result = _step(_scenario([(10, 1e6)], 4, strategy="fsdp"))
    assert result.bytes == 3 * 4 * 3 * (12 // 4) * 4  # 3 calls × n ranks × (n−1) blocks × 3 elements × 4 B


def test_accumulation_divides_communication_by_k():
    """k micro-steps: k times the compute and samples, the same communication once: bytes per sample ÷ k."""
    one = _step(_scenario(LAYERS, batch_per_gpu=8))
    four = _step(_scenario(LAYERS, batch_per_gpu=8, accumulation=4))
    assert (four.bytes, four.messages) == (one.bytes, one.messages)
    assert math.isclose(four.compute_s, 4 * one.compute_s, rel_tol=1e-12)
    samples_one, samples_four = 4 * 8, 4 * 8 * 4
    assert (four.bytes / samples_four) * 4 == one.bytes / samples_one


def test_no_overlap_all_reduces_after_the_last_backward():
    """overlap: false: every bucket's all-reduce after the whole backward, one after the other."""
    n = 4
    loaded = _scenario(LAYERS, n, batch_per_gpu=8, bucket_cap=60_000, first_bucket=20_000, overlap=False)
    compute = 3 * sum(f * 8 / (PEAK * UTILIZATION) for _, f in LAYERS)
    comm = sum(_ring_allreduce_s(sum(LAYERS[i][0] for i in group), n) for group in ([4], [3, 2, 1], [0]))
    result = _step(loaded)
    assert math.isclose(result.makespan_s, compute + comm, rel_tol=1e-9)
    assert result.overlap == 0.0 or math.isclose(result.overlap, 0.0, abs_tol=1e-9)


def test_one_bit_buckets_are_32_times_smaller_plus_their_scales():
    """wire: sign carries ⌈p/8⌉ + 4 bytes per bucket: on a ring (sizes divisible by n) the total is fp32's / 32
    plus each bucket's scale moved 2(n−1) times."""
    n = 4
    layers = [(32 * 500, 1e6), (32 * 1500, 1e6)]  # p/8 + 4 divisible by 4
    fp32 = _step(_scenario(layers, n, bucket_cap=32 * 500 * 4, first_bucket=32 * 500 * 4))
    sign = _step(_scenario(layers, n, bucket_cap=32 * 500 * 4, first_bucket=32 * 500 * 4, wire="sign"))
    assert fp32.buckets == sign.buckets == 2
    assert sign.bytes == fp32.bytes // 32 + 2 * 2 * (n - 1) * 4
    assert sign.message_bytes == {(p // 8 + 4) // n: 2 * n * (n - 1) for p, _ in layers}  # {501: 24, 1501: 24}


def test_the_optimizer_sets_the_wire_and_so_the_bytes_and_the_time():
    """optimizer: sign_descent (steepest descent under L∞) sends each bucket as 1-bit signs and one fp32 scale;
    gradient_descent (under L2) the fp32 gradient. With overlap off every all-reduce is exposed: each step is
    compute + Σ over buckets 2(n−1)(α + bucket's bytes / n / β), bucket's bytes 4p against p/8 + 4."""
    n, batch = 4, 8
    layers = [(32 * 500, 1e6), (32 * 1500, 1e6)]  # two buckets of p = 16000 and 48000 elements
    caps = {"bucket_cap": 32 * 500 * 4, "first_bucket": 32 * 500 * 4, "overlap": False, "batch_per_gpu": batch}
    dense = _step(_scenario(layers, n, optimizer="gradient_descent", **caps))
    sign = _step(_scenario(layers, n, optimizer="sign_descent", **caps))
    assert (dense.wire, sign.wire) == ("fp32", "sign") and dense.buckets == sign.buckets == 2
    assert dense.bytes == sum(2 * (n - 1) * n * (p // n) * 4 for p, _ in layers)  # 2(n−1)/n · 4p per rank, × n
    assert sign.bytes == dense.bytes // 32 + 2 * 2 * (n - 1) * 4  # ÷ 32, plus each bucket's 4-byte scale 2(n−1)×
    compute = 3 * sum(f * batch / (PEAK * UTILIZATION) for _, f in layers)
    for result, bucket_bytes in ((dense, lambda p: 4 * p), (sign, lambda p: p // 8 + 4)):
        comm = sum(2 * (n - 1) * (ALPHA + bucket_bytes(p) / n / BANDWIDTH) for p, _ in layers)
        assert math.isclose(result.makespan_s, compute + comm, rel_tol=1e-9)


def test_the_optimizer_and_wire_agree_or_are_refused():
    """A wire the optimizer does not send is one line naming both: sign descent with a dense wire, gradient descent
    with signs; a dense optimizer with a narrower dense wire (bf16 compression) is allowed; a sign optimizer with
    a sharded strategy is refused as wire: sign is."""
    base = {"name": "w", "workers": 8, "topology": {"kind": "cluster", "preset": "hgx-h100"}}
    for workload, message in (
            ({"optimizer": "sign_descent", "wire": "bf16"},
             "workload.wire: 'bf16' conflicts with optimizer 'sign_descent', which sends 1-bit signs"),
            ({"optimizer": "gradient_descent", "wire": "sign"},
             "workload.wire: 'sign' conflicts with optimizer 'gradient_descent', which sends the whole gradient"),
            ({"optimizer": "signum", "strategy": "zero2"}, "workload.optimizer: 'signum' sends signs (1 bit per element"),
            ({"optimizer": "sign_decent"}, "workload.optimizer: unknown optimizer 'sign_decent'; did you mean "
                                           "sign_descent?")):
        with pytest.raises(ScenarioError) as error:
            scenario.parse({**base, "workload": {"model": "resnet50", **workload}}, source="w.yaml")
        assert str(error.value).startswith("w.yaml: ") and message in str(error.value) and "\n" not in str(error.value)
    allowed = scenario.parse({**base, "workload": {"model": "resnet50", "optimizer": "adam", "wire": "bf16",
                                                   "dtype": "fp32"}})
    assert allowed.workload.wire_format == "bf16"
    assert scenario.parse({**base, "workload": {"model": "resnet50", "dtype": "fp16", "optimizer": "momentum"}}
                          ).workload.wire_format == "fp16"


def test_step_time_mode_spreads_the_measured_step():
    """Given a measured 1-GPU step, compute is that step (a third forward, two thirds backward), the one-GPU
    time equals it, and communication is what the n-GPU step adds."""
    loaded = _scenario(LAYERS, 4, step_time="20 ms", batch_per_gpu=8)
    result = _step(loaded)
    assert math.isclose(result.compute_s, 0.02, rel_tol=1e-12)
    assert math.isclose(result.one_gpu_s, 0.02, rel_tol=1e-12)
    assert math.isclose(result.efficiency, 0.02 / result.makespan_s, rel_tol=1e-12)


def test_engines_agree_on_an_fsdp_step_on_a_cluster():
    """The message and schedule engines give the same task ends and counts for ZeRO-3 on a 2-node cluster."""
    results = {}
    for engine in ("schedule", "message"):
        loaded = scenario.parse({
            "name": "w", "workers": 4, "engine": engine,
            "topology": {"kind": "cluster", "preset": "hgx-h100", "gpus_per_node": 2},
            "workload": {"layers": [{"name": f"l{i}", "params": 4096 * (i + 1), "flops": 1e6} for i in range(3)],
                         "strategy": "zero3", "batch_per_gpu": 2}})
        results[engine] = _step(loaded)
    a, b = results["schedule"], results["message"]
    assert (a.messages, a.bytes) == (b.messages, b.bytes)
    np.testing.assert_allclose(a.timeline["end"], b.timeline["end"], rtol=1e-9)


def test_nccl_model_runs_a_ddp_step_with_counts_checked():
    """model: nccl: each bucket's all-reduce as NCCL runs it, counts equal NCCL's formulas."""
    loaded = scenario.parse({"name": "w", "workers": 16, "model": "nccl",
                             "topology": {"kind": "cluster", "preset": "hgx-h100"},
                             "workload": {"model": "resnet50", "batch_per_gpu": 32}})
    result = _step(loaded)
    assert result.ok and result.checks == {"messages": True, "bytes": True}
    assert result.expected.makespan_s is None  # NCCL's times have no closed form
    assert result.nccl["protocol"] in ("ll", "ll128", "simple")


def test_compute_from_the_presets_gpu_peak():
    """ResNet-50 on H100 in bf16: forward = FLOPs × batch / (989.5 TFLOP/s × 0.4), backward twice that."""
    from commsim.training.architectures import resnet50

    loaded = scenario.parse({"name": "w", "workers": 16, "topology": {"kind": "cluster", "preset": "hgx-h100"},
                             "workload": {"model": "resnet50", "batch_per_gpu": 64}})
    result = _step(loaded)
    assert math.isclose(result.compute_s, 3 * resnet50().flops_per_sample * 64 / (989.5e12 * 0.4), rel_tol=1e-12)


@pytest.mark.parametrize("optimizer, state, norm", [
    (None, 2, 0), ("adam", 2, 0), ("momentum", 1, 0), ("signum", 1, 0), ("gradient_descent", 0, 0),
    ("sign_sgd", 0, 0), ("sign_descent", 0, 1), ("coordinate_descent", 0, 1)])
def test_the_optimizer_step_moves_its_own_state(optimizer, state, norm):
    """One GPU's optimizer step is a memory-bound fp32 pass: read the parameter, the gradient and each of the
    s state tensors optim's ``init`` makes, write the parameter and each state (4 B each), plus one read of the
    gradient for a norm first (‖g‖₁ of sign descent, ‖g‖∞ of coordinate descent). ResNet-50 on an H100 (HBM3
    3.35 TB/s, the spec sheet): Adam 28 B per parameter, SGD 12, momentum 20, sign descent 16."""
    from commsim.training.architectures import resnet50

    import optim

    if optimizer is not None:  # the state count from optim itself: tensors of the parameters' shape in init
        made = optim.get(optimizer, 0.1).init(np.zeros(7))
        leaves = [leaf for leaf in (made if isinstance(made, tuple) else (made,)) for leaf in
                  (leaf if isinstance(leaf, tuple) else (leaf,))]
        assert sum(np.shape(leaf) == (7,) for leaf in leaves) == state
    workload = {"model": "resnet50", "batch_per_gpu": 64, **({"optimizer": optimizer} if optimizer else {})}
    loaded = scenario.parse({"name": "w", "workers": 16, "topology": {"kind": "cluster", "preset": "hgx-h100"},
                             "workload": workload})
    assert math.isclose(_step(loaded).optimizer_s, (12 + 8 * state + 4 * norm) * resnet50().params / 3.35e12,
                        rel_tol=1e-12)


def test_spectral_descent_needs_a_measured_optimizer_step():
    """An SVD per matrix is not a pass over memory: refused in one line unless optimizer_time is given, which
    is then the step."""
    base = {"name": "w", "workers": 8, "topology": {"kind": "cluster", "preset": "hgx-h100"}}
    with pytest.raises(ScenarioError) as error:
        scenario.parse({**base, "workload": {"model": "resnet50", "optimizer": "spectral_descent"}}, source="w.yaml")
    assert str(error.value) == ("w.yaml: workload.optimizer: 'spectral_descent' takes an SVD per weight matrix, "
                                "whose time commsim does not model; give workload.optimizer_time (one GPU's step)")
    timed = scenario.parse({**base, "workload": {"model": "resnet50", "optimizer": "spectral_descent",
                                                 "optimizer_time": "2 ms"}})
    assert _step(timed).optimizer_s == 2e-3


@pytest.mark.parametrize("workload, message", [
    ({"model": "resnet5"}, "workload.model: unknown model 'resnet5'; did you mean resnet50?"),
    ({"model": "resnet50", "layers": [{"name": "a", "params": 1}]}, "give either 'model'"),
    ({"model": "resnet50", "strategy": "fsdp", "wire": "sign"}, "workload.wire: 'sign'"),
    ({"model": "resnet50", "strategy": "ddpp"}, "unknown strategy 'ddpp'"),
    ({"model": "resnet50", "utilization": 1.5}, "workload.utilization"),
])
def test_bad_workloads_are_one_line(workload, message):
    """Each bad workload is one ScenarioError naming the key."""
    with pytest.raises(ScenarioError) as error:
        scenario.parse({"name": "w", "workers": 8, "topology": {"kind": "cluster", "preset": "hgx-h100"},
                        "workload": workload}, source="w.yaml")
    text = str(error.value)
    assert text.startswith("w.yaml: ") and message in text and "\n" not in text


def test_a_workload_without_a_gpu_needs_a_peak():
    """On a topology without GPUs, the compute needs peak_flops, step_time or measured layers."""
    with pytest.raises(ScenarioError, match="workload.peak_flops: topology 'ring' has no GPU"):
        scenario.parse({"name": "w", "workers": 4, "topology": {"kind": "ring"}, "workload": {"model": "vgg16"}})


def test_cli_refuses_a_bad_workload_with_exit_2(tmp_path, capsys):
    """commsim run: a bad workload value → exit 2, one line naming the file and key, no traceback."""
    path = tmp_path / "bad.yaml"
    path.write_text("name: w\nworkers: 8\ntopology: {kind: cluster, preset: hgx-h100}\n"
                    "workload: {model: resnet50, accumulation: 0}\n")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.yaml" in err[0] and "workload.accumulation" in err[0]
    assert not (tmp_path / "out").exists()


def test_trace_has_a_compute_and_a_communication_track_per_rank(tmp_path):
    """--trace: per rank a compute track and a communication track; the buckets' all-reduces are labelled and
    their slices are the timeline's calls (the last bucket's all-reduce ends where the step's last call ends)."""
    import json

    from commsim.report.trace import write_trace

    result = _step(_scenario(LAYERS, 4, batch_per_gpu=8, bucket_cap=60_000, first_bucket=20_000))
    events = json.loads(write_trace([result], tmp_path / "t.json").read_text())["traceEvents"]
    tracks = sorted(e["args"]["name"] for e in events if e["name"] == "thread_name")
    assert tracks == sorted(f"worker {r} {t}" for r in range(4) for t in ("compute", "communication"))
    calls = [e for e in events if e.get("cat") == "comm" and e["tid"] == 2]  # worker 0's communication
    assert [e["name"] for e in calls] == ["bucket 0 all-reduce", "bucket 1 all-reduce", "bucket 2 all-reduce"]
    last = calls[-1]
    assert result.optimizer_s == 0.0  # a ring has no GPU to time Adam on, and none was given
    assert math.isclose((last["ts"] + last["dur"]) * 1e-6, result.makespan_s, rel_tol=1e-9)


def _assert_the_chain_walks_alike(plan) -> None:
    """The chain shortcut and the event-by-event run (a kept log walks every event) of 8 workers' program:
    counts and bytes per link exactly, task times to 1e-12."""
    from commsim.engines import schedule

    shortcut = schedule.run_program(plan.program, plan.graph)
    walked = schedule.run_program(plan.program, plan.graph, keep_log=True)
    assert walked.log is not None and shortcut.log is None
    assert (shortcut.messages, shortcut.sizes, shortcut.bytes_per_link) == \
        (walked.messages, walked.sizes, walked.bytes_per_link)
    np.testing.assert_allclose(shortcut.task_end, walked.task_end[:, :8], rtol=1e-12)
    np.testing.assert_allclose(shortcut.task_start, walked.task_start[:, :8], rtol=1e-12)


def test_a_chain_of_calls_runs_each_distinct_call_once_with_the_same_result():
    """The schedule engine's chain shortcut (each distinct call simulated once, shifted) gives the event-by-event
    run's task times (to 1e-12) and counts exactly, on an FSDP step on a cluster with NCCL's calls."""
    from commsim.engines import schedule
    from commsim.runner.plans import plan_of

    loaded = scenario.parse({"name": "w", "workers": 8, "model": "nccl",
                             "topology": {"kind": "cluster", "preset": "hgx-h100", "gpus_per_node": 4},
                             "workload": {"model": "resnet50", "strategy": "fsdp", "batch_per_gpu": 8}})
    plan = plan_of(loaded, next(loaded.runs()), "schedule")
    assert schedule.chained(plan.program)
    _assert_the_chain_walks_alike(plan)


def test_a_chain_through_nvidia_s_nvswitch_gives_the_event_by_event_times():
    """A DDP step on one 8 × H100 node, whose all-reduces NCCL runs as NVLS through the NVSwitch (a server of
    the program): the chain shortcut gives the event-by-event run's task times (1e-12) and counts exactly."""
    from commsim.engines import schedule
    from commsim.runner.plans import plan_of

    loaded = scenario.parse({"name": "w", "workers": 8, "model": "nccl", "topology": {"kind": "cluster", "preset": "hgx-h100"},
                             "workload": {"model": "resnet50", "strategy": "ddp", "batch_per_gpu": 8}})
    plan = plan_of(loaded, next(loaded.runs()), "schedule")
    assert plan.program.servers and schedule.chained(plan.program)
    assert plan.nccl["algorithm"] == "nvls"
    _assert_the_chain_walks_alike(plan)


def test_calls_that_may_overlap_are_no_chain():
    """Two calls after the same compute (neither waits for the other) are not a chain."""
    from commsim.collectives.schedule import schedule_for
    from commsim.engines.program import Collective, Compute, Program
    from commsim.engines.schedule import chained

    call = schedule_for("ring_allreduce", 2, 4, 4)
    seconds = np.ones(2)
    assert chained(Program(2, (Compute(seconds), Collective(call, (0, 1), (0,)), Collective(call, (0, 1), (1,)))))
    assert not chained(Program(2, (Compute(seconds), Collective(call, (0, 1), (0,)), Collective(call, (0, 1), (0,)))))


def test_table_results_json_and_csv_agree(tmp_path, capsys):
    """commsim run on a workload: results.json's step and its parts, results.csv's row and the table's cells are
    the same numbers (the table's to its three digits)."""
    import csv
    import json

    path = tmp_path / "w.yaml"
    path.write_text("name: w\nworkers: 4\ntopology: {kind: ring, bandwidth: 100 Gbit/s, latency: 5 us}\n"
                    "workload: {model: resnet50, strategy: [ddp, zero3], peak_flops: 100 TFLOP/s, batch_per_gpu: 8}\n")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").read_text().splitlines()))
    assert [row["strategy"] for row in rows] == [run["strategy"] for run in runs] == ["ddp", "zero3"]
    for run, row in zip(runs, rows):
        assert math.isclose(run["step_s"], run["compute_s"] + run["exposed_s"] + run["optimizer_s"], rel_tol=1e-12)
        for key in ("step_s", "compute_s", "exposed_s", "optimizer_s", "overlap", "efficiency", "throughput"):
            assert float(row[key]) == run[key], key
        assert (int(row["messages"]), int(row["bytes"]), row["model"]) == (run["messages"], run["bytes"], "resnet50")
        line = next(line for line in printed.splitlines() if line.split()[:2] == [run["strategy"], "4"])
        assert f"{run['step_s'] * 1e3:.3g}" in line.split()[3]
    assert (tmp_path / "out" / "step_breakdown.png").is_file()


def test_layers_from_a_csv_beside_the_scenario(tmp_path):
    """workload.layers: FILE.csv (relative to the scenario's folder): a row per layer, measured forward and
    backward seconds where given; the step computes exactly those seconds."""
    (tmp_path / "layers.csv").write_text("name,params,forward,backward\nembed,4000,0.001,\nblock,8000,0.002,0.005\n")
    path = tmp_path / "w.yaml"
    path.write_text("name: w\nworkers: 4\ntopology: {kind: ring}\nworkload: {layers: layers.csv}\n")
    loaded = scenario.load(path)
    assert [layer.name for layer in loaded.workload.layers] == ["embed", "block"]
    result = _step(loaded)
    assert math.isclose(result.compute_s, 0.001 + 2 * 0.001 + 0.002 + 0.005, rel_tol=1e-12)


@pytest.mark.parametrize("text, message", [
    ("name,params,flops\nembed,many,1\n", "workload.layers.0.params"),
    ("name,parms,flops\nembed,1,1\n", "unknown column 'parms'"),
    ("", "needs a header"),
])
def test_a_bad_layers_csv_is_one_line(tmp_path, text, message):
    """A layers CSV with a bad cell, an unknown column or no rows: one line naming workload.layers."""
    (tmp_path / "layers.csv").write_text(text)
    path = tmp_path / "w.yaml"
    path.write_text("name: w\nworkers: 4\ntopology: {kind: ring}\nworkload: {layers: layers.csv, peak_flops: 1 TFLOP/s}\n")
    with pytest.raises(ScenarioError) as error:
        scenario.load(path)
    assert message in str(error.value) and "\n" not in str(error.value) and "workload.layers" in str(error.value)


def test_analytic_table_says_nothing_was_checked():
    """engine: analytic: the table says its steps are the recurrence, not simulated, and claims no match; every
    line fits 100 columns."""
    from commsim.report.tables import table
    from commsim.runner.points import simulate

    loaded = _scenario(LAYERS, 4, batch_per_gpu=8, strategy=["ddp", "fsdp"], engine="analytic")
    text = table(loaded, simulate(loaded))
    assert "nothing simulated, nothing checked" in text and "match their closed forms" not in text
    assert max(len(line) for line in text.splitlines()) <= 100
