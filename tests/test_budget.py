"""Budgets before work: estimates of each run's messages, events and memory, and the one-line refusal."""

from pathlib import Path

import pytest

from commsim import budget, cli, scenario
from commsim.collectives import REGISTRY
from commsim.errors import CommsimError, ScenarioError
from commsim.runner import points

SCENARIOS = sorted(Path(__file__).parent.parent.joinpath("scenarios").glob("*.yaml"))


def parse(**changes):
    base = {"name": "b", "workers": 4, "engine": "message", "params": 1000, "algorithms": ["ring_allreduce"],
            "topology": {"kind": "star", "bandwidth": "8 Gbit/s", "latency": "1 us"}}
    return scenario.parse(base | changes, "b.yaml")


def only_run(loaded):
    return next(loaded.runs())


@pytest.mark.parametrize("algorithm", [name for name in REGISTRY if not name.startswith("schedule:")])
@pytest.mark.parametrize("n", [2, 5, 8])
def test_message_estimate_is_the_count_the_engine_moves(algorithm, n):
    """The estimate's messages are the closed form's, which the message engine's count equals."""
    loaded = parse(workers=n, params=1003, algorithms=[algorithm], payload="size-only",
                   topology={"kind": "fully_connected", "servers": 2})
    run = only_run(loaded)
    assert budget.estimate(loaded, run).messages == points.simulate_run(loaded, run).messages > 0


def test_schedule_engine_events_are_a_fraction_of_the_message_engine_s():
    """The same run: the message engine ~3 events a message, the schedule engine one per 8 transfers."""
    simulate = parse(workers=64, params=10**6, payload="size-only", engine="message")
    schedule = parse(workers=64, params=10**6, payload="size-only", engine="schedule")
    messages = 2 * 64 * 63
    assert budget.estimate(simulate, only_run(simulate)).events >= 3 * messages
    assert budget.estimate(schedule, only_run(schedule)).events < messages // 4


def test_nccl_estimates_bound_the_wire_messages():
    """model: nccl on 2 × 8 H100: the estimate (64 channels at most) is at least what NCCL's ring sends."""
    loaded = parse(model="nccl", workers=16, params=2**20, payload="size-only",
                   topology={"kind": "cluster", "preset": "hgx-h100", "nodes": 2})
    run = only_run(loaded)
    assert budget.estimate(loaded, run).messages >= points.simulate_run(loaded, run).messages > 0


@pytest.mark.parametrize(("algorithm", "dtype"), [("ring_allreduce", "float32"), ("recursive_doubling", "float64"),
                                                  ("all_to_all", "float16"), ("broadcast", "float32")])
def test_memory_estimate_bounds_the_traced_peak_of_a_data_run(algorithm, dtype):
    """A real-data run's peak allocation (tracemalloc, which sees numpy's buffers) stays under the estimate
    and above a quarter of it: buffers are drawn in their own precision and the check sums them one at a
    time, so the peak is 2-3 copies of the n buffers, not the 5 it was."""
    import tracemalloc

    loaded = parse(workers=8, params=2_000_000, dtype=dtype, algorithms=[algorithm])
    run = only_run(loaded)
    tracemalloc.start()
    try:
        points.simulate_run(loaded, run)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = budget.estimate(loaded, run).memory
    buffers = 8 * 2_000_000 * {"float16": 2, "float32": 4, "float64": 8}[dtype]
    assert estimate / 4 < peak < estimate
    assert peak < 3 * buffers + 3 * 8 * 2_000_000


def test_a_run_over_the_memory_budget_is_refused_with_the_estimate(tmp_path, capsys):
    """A data run of 64 × 1e9 float32 (256 GB of buffers): one line with the run, ~792 GB, the limit and
    what to try; exit 2 and nothing written."""
    path = tmp_path / "big.yaml"
    path.write_text("name: big\nworkers: 64\nparams: 1e9\ntopology: {kind: star}\nalgorithms: [ring_allreduce]\n"
                    "budget: {memory: 16 GB}\n")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"commsim: error: {path}: budget.memory: run 1 (ring_allreduce on star, n=64, p=1.0e9) needs ~792 GB, over "
        "the limit of 16.0 GB; try payload: size-only, fewer workers or engine: analytic\n")
    assert not (tmp_path / "out").exists()


def test_a_run_over_the_event_budget_is_refused_with_the_estimate():
    """Ring all-reduce on 8192 size-only workers: 134 M messages, 3 · (8,193 + 8,192) + 3 · 134,201,344 + 2 · 8,192
    = 402,669,571 events, over the default 2e8: 805 s at 5e5 events a second, "~13 min"."""
    with pytest.raises(ScenarioError) as error:
        parse(workers=8192, payload="size-only", engine="message")
    assert str(error.value) == (
        "b.yaml: budget.events: run 1 (ring_allreduce on star, n=8192, p=1000) needs ~4.0e8 events (~13 min), over the limit of "
        "2.0e8; try fewer workers, engine: schedule or engine: analytic")


def test_the_scenario_budget_overrides_the_environment_which_overrides_the_machine(monkeypatch):
    """COMMSIM_BUDGET lowers the events limit below a small run; the scenario's budget raises it again."""
    monkeypatch.setenv(budget.ENV, "events=10, memory=1 GB")
    assert budget.limits() == budget.Limits(memory=1e9, messages=budget.DEFAULT_MESSAGES, events=10)
    with pytest.raises(ScenarioError, match=r"^b\.yaml: budget\.events: run 1 .* over the limit of 10; "):
        parse()
    assert parse(budget={"events": "1e6"}).budget.events == 1e6
    monkeypatch.delenv(budget.ENV)
    assert 0 < budget.limits().memory <= budget.available_memory()


@pytest.mark.parametrize(("text", "message"), [
    ("events", "COMMSIM_BUDGET: expected key=value items like 'memory=8 GB', got 'events'"),
    ("speed=3", "COMMSIM_BUDGET: speed: unknown budget key; known: memory, messages, events"),
    ("memory=-1 GB", "COMMSIM_BUDGET: memory: must be > 0"),
    ("events=lots", "COMMSIM_BUDGET: events: cannot parse 'lots' as a count: expected a non-negative integer "
                    "(try e.g. '8', '1e6', '1_000_000', '2^20')"),
])
def test_a_bad_environment_budget_is_one_line_naming_the_variable(monkeypatch, text, message):
    """The variable is checked like a scenario key."""
    monkeypatch.setenv(budget.ENV, text)
    with pytest.raises(ScenarioError) as error:
        parse()
    assert str(error.value) == f"b.yaml: {message}"


@pytest.mark.parametrize(("value", "message"), [
    ({"memory": 0}, "budget.memory: Value error, must be > 0"),
    ({"events": "1e400x"}, "budget.events: cannot parse '1e400x' as a count"),
    ({"time": 5}, "budget.time: unknown key (got 5)"),
])
def test_a_bad_scenario_budget_names_its_key(value, message):
    """budget: is validated like every other key."""
    with pytest.raises(ScenarioError) as error:
        parse(budget=value)
    assert str(error.value).replace("Value error, ", "").startswith(f"b.yaml: {message}".replace("Value error, ", ""))


def test_the_analytic_engine_is_never_refused():
    """4 M workers and 1e15 params from the closed forms: no budget applies."""
    loaded = parse(workers="2^22", params="1e15", engine="analytic")
    assert loaded.workers == [1 << 22]


def test_a_huge_fat_tree_is_refused_before_it_is_built():
    """fat_tree k: 1024 would build 268 M links for minutes: the budget refuses it at once; k: 2000 is
    out of range by itself."""
    with pytest.raises(ScenarioError, match=r"^b\.yaml: budget\.memory: run 1 \(ring_allreduce on fat_tree, n=4"):
        parse(topology={"kind": "fat_tree", "k": 1024}, payload="size-only")
    with pytest.raises(ScenarioError) as error:
        parse(topology={"kind": "fat_tree", "k": 2000})
    assert str(error.value) == "b.yaml: topology.k: must be a whole number from 2 to 1,024, got 2000"


def test_too_many_runs_are_refused_without_expanding_them():
    """100,000 worker counts × 100 sizes is refused by counting."""
    with pytest.raises(ScenarioError) as error:
        parse(workers={"from": 1, "to": 100_000, "step": 1}, params={"from": 1, "to": 100, "step": 1},
              payload="size-only")
    assert str(error.value) == ("b.yaml: the sweep is 10,000,000 runs (topologies × algorithms × workers × sizes); "
                                "at most 100,000 in one scenario")


def test_keeping_the_message_log_counts_against_the_budget(tmp_path, capsys):
    """--messages keeps every message (34 B each): a run within its budget without a log is refused with one."""
    path = tmp_path / "log.yaml"
    path.write_text("name: log\nworkers: 64\nparams: 1000\npayload: size-only\ntopology: {kind: star}\n"
                    "algorithms: [ring_allreduce]\nbudget: {memory: 0.7 MB}\nengine: message\n")
    loaded = scenario.load(path)
    assert budget.estimate(loaded, only_run(loaded)).memory < 7e5 < budget.estimate(loaded, only_run(loaded), True).memory
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out"), "--messages", str(tmp_path / "m.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"commsim: error: {path}: budget.memory: run 1 (ring_allreduce on star, n=64, p=1000) needs ~")
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.csv").exists()


def test_training_is_budgeted_by_its_dataset_and_steps():
    """A synthetic dataset of 1e9 × 1000 features (8 TB) is refused by memory; 3e7 steps by events."""
    training = {"model": "logistic_regression", "steps": 10, "optimizer": {"name": "gradient_descent", "alpha": 0.1}}
    with pytest.raises(ScenarioError, match=r"budget\.memory: run 1 \(ring_allreduce on star, n=4\) needs ~8\.\d+ TB"):
        parse(params=None, training=training | {"samples": "1e9", "features": 1000})
    with pytest.raises(ScenarioError, match=r"budget\.events: .* try fewer workers, steps or a smaller model$"):
        parse(params=None, training=training | {"steps": "3e7"}, budget={"memory": "1 TB"})


def test_the_real_datasets_shapes_are_what_the_budget_assumes():
    """The budget knows digits and breast_cancer by shape without loading them."""
    from commsim.training.datasets import load_dataset

    for name, (samples, features, classes) in budget._REAL_DATASETS.items():
        dataset = load_dataset(name)
        assert (dataset.n_samples, dataset.n_features, dataset.n_classes) == (samples, features, classes)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_bundled_scenarios_fit_a_small_machine(path, monkeypatch):
    """Every bundled scenario loads under 2 GB and 3e7 events per run (the defaults of a small machine)."""
    monkeypatch.setenv(budget.ENV, "memory=2 GB, events=3e7")
    scenario.load(path)


def test_check_raises_commsim_error_for_direct_callers():
    """budget.check on a loaded scenario raises CommsimError (the scenario turns it into its own line)."""
    loaded = parse(workers=64, payload="size-only")
    with pytest.raises(CommsimError, match=r"^budget\.events: run 1 "):
        budget.check(loaded.model_copy(update={"budget": scenario.BudgetSpec(events=10)}))


def test_available_memory_respects_the_process_memory_limit():
    """Under ``ulimit -v`` (RLIMIT_AS) of 1 GiB the default memory limit is below 1 GiB, whatever the
    machine has, so a budget never lets through a run the process cannot hold."""
    import subprocess
    import sys

    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); "
            "from commsim import budget; print(budget.available_memory(), budget.limits().memory)")
    available, limit = map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                 check=True, timeout=60).stdout.split())
    assert 0 < available < 1 << 30
    assert limit == 0.8 * available


def test_the_runs_of_a_scenario_are_held_to_the_events_limit_together():
    """Each of 20 ring runs is within 1e5 events; together they are not."""
    loaded = parse(workers=64, params={"from": 1000, "to": 20000, "step": 1000}, payload="size-only", engine="message")
    one = budget.estimate(loaded, only_run(loaded)).events
    assert one < 1e5 < 20 * one
    with pytest.raises(ScenarioError, match=r"^b\.yaml: budget\.events: runs 1 to 5 together need ~1\.\de5 events "
                                            r"\(~0\.[23]\d? s\), over the limit of 1\.0e5; try fewer runs, fewer workers, engine: schedule"):
        parse(workers=64, params={"from": 1000, "to": 20000, "step": 1000}, payload="size-only",
              budget={"events": 1e5}, engine="message")


def test_all_to_all_where_routes_cross_is_budgeted_by_its_contention():
    """An all-to-all on a torus recomputes max-min rates over ~n² transfers for each message (measured: 0.6
    ms a message at n = 64, 1.7 ms at 128; 512 s at 256 on the schedule engine): its events grow as n⁴
    there (a star, where one switch joins everything, costs a hundredth), and at n = 512 it is refused on
    either engine, where the message count alone
    (261,632 messages) would have passed."""
    def events(kind, n, engine="simulate"):
        loaded = parse(workers=n, payload="size-only", engine=engine, algorithms=["all_to_all"],
                       topology={"kind": kind}, budget={"events": 1e15})
        return budget.estimate(loaded, only_run(loaded)).events

    assert events("torus", 128) / events("torus", 64) > 14
    assert events("torus", 128) > 100 * events("star", 128)
    for engine in ("simulate", "schedule"):
        with pytest.raises(ScenarioError, match=r"budget\.events: run 1 \(all_to_all on torus, n=512, p=1000\) needs "
                                                r"~6\.\de9 events"):
            parse(workers=512, payload="size-only", engine=engine, algorithms=["all_to_all"], topology={"kind": "torus"})


def _nccl(algorithm: str, size: str, extra: str = "", engine: str = "simulate"):
    """2 × 8 H100 under model: nccl, size-only."""
    import yaml

    text = (f"name: b\nworkers: 16\nsize: {size}\npayload: size-only\nalgorithms: [{algorithm}]\nmodel: nccl\n"
            f"engine: {engine}\ntopology: {{kind: cluster, preset: hgx-h100, nodes: 2}}\n{extra}")
    return scenario.parse(yaml.safe_load(text), "b.yaml")


@pytest.mark.parametrize("engine", ["simulate", "schedule"])
def test_nccl_ring_estimate_is_the_messages_it_sends(engine):
    """NCCL's ring on 4 channels over 16 ranks: each channel a ring of 2(n − 1) steps of n messages,
    4 · 16 · 30 = 1,920 — the estimate, and what either engine sends."""
    loaded = _nccl("ring_allreduce", "1 MiB", "channels: 4\n", engine)
    run = only_run(loaded)
    assert budget.estimate(loaded, run).messages == 4 * 16 * 30 == points.simulate_run(loaded, run).messages


def test_nccl_tree_estimate_bounds_its_chunks_by_one_per_channel():
    """NCCL's tree in LL (32 KiB chunks) on 4 channels over 16 ranks, each chunk up and down the 15
    edges (30 messages). 16 KiB: one chunk per channel, 4 · 30 = 120 sent, and the estimate (4 +
    ⌊16 KiB / 32 KiB⌋) · 30 = 120. 1 MiB: 256 KiB per channel = 8 chunks, 32 · 30 = 960 sent; the
    estimate (4 + 32) · 30 = 1,080 — at most one chunk per channel more than sent, never fewer."""
    for size, sent, estimated in (("16 KiB", 120, 120), ("1 MiB", 960, 1080)):
        loaded = _nccl("double_binary_tree", size, "channels: 4\nprotocol: ll\n")
        run = only_run(loaded)
        assert points.simulate_run(loaded, run).messages == sent
        assert budget.estimate(loaded, run).messages == estimated <= sent + 4 * 30


def test_auto_estimate_is_the_larger_of_ring_and_tree():
    """algorithms: [auto] on 16 channels of 2 × 8 H100 (no NVLS across nodes): 1 MiB runs NCCL's tree in LL128
    (64 KiB per channel: NCCL's LL128 chunk rule gives 17,280 B, 4 chunks a channel: 16 · 4 · 30 = 1,920
    messages), 256 MiB its ring (16 · 16 · 30 = 7,680); the estimate is the larger of ring 7,680 and tree (16 +
    size / 17,280, the smallest LL128 chunk) · 30: 7,680 at 1 MiB, (16 + 15,534) · 30 = 466,500 at 256 MiB.
    With channels: auto it counts the channels NCCL's search gives this cluster (16 on 2 × 8 H100, no NVLS across
    nodes): 16 · 480 = 7,680 at 1 MiB, no fewer than the run sends."""
    for size, engine, picked, sent, estimated in (("1 MiB", "simulate", "tree", 1920, 7680),
                                                  ("256 MiB", "schedule", "ring", 7680, 466_500)):
        loaded = _nccl("auto", size, "channels: 16\n", engine)
        run = only_run(loaded)
        result = points.simulate_run(loaded, run)
        assert (result.nccl["algorithm"], result.messages) == (picked, sent)
        assert budget.estimate(loaded, run).messages == estimated
    loaded = _nccl("auto", "1 MiB")
    assert budget.estimate(loaded, only_run(loaded)).messages == 16 * 480 >= points.simulate_run(loaded, only_run(loaded)).messages


def _traced(function):
    """(the function's result, its peak and its retained bytes as tracemalloc sees them)."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        result = function()
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak, retained


def test_the_message_log_takes_the_34_bytes_a_message_the_budget_counts():
    """Ring all-reduce of 64 size-only workers (8,064 messages): the log holds route and bytes (8 B
    each), start and end (8 B each) and the phase (2 B) per message, 34 B; the estimate grows by 34 B a
    message when the log is kept, and so does the memory a run holds (at most an eighth more: the log's
    columns grow in steps)."""
    loaded = parse(workers=64, payload="size-only")
    run = only_run(loaded)
    points.simulate_run(loaded, run, keep_log=True)  # imports done before measuring
    messages = 2 * 64 * 63
    without, _, held_without = _traced(lambda: points.simulate_run(loaded, run))
    logged, _, held_with = _traced(lambda: points.simulate_run(loaded, run, keep_log=True))
    log = logged.log
    assert len(log) == messages == without.messages
    assert sum(column.itemsize for column in (log.route, log.nbytes, log.start, log.end, log.phase)) == 34
    assert budget.estimate(loaded, run, True).memory - budget.estimate(loaded, run).memory == 34 * messages
    assert 34 * messages <= held_with - held_without <= 34 * messages * 1.25


def test_a_disturbed_run_is_budgeted_with_its_twin_its_log_and_the_walks_over_it():
    """Ring all-reduce of 64 size-only workers, worker 3 computing 4× longer: the run and its uniform twin
    each send 2 · 64 · 63 messages, twice that estimated; the run keeps its log and walks it for the
    critical path and the idle times (Python tuples per message): its peak memory stays under the
    estimate, and above a quarter of it. (Before the walks were counted the peak was 2.6× the estimate.)"""
    loaded = parse(workers=64, payload="size-only", stragglers={"compute": "10 us", "slowdown": {3: 4}})
    run = only_run(loaded)
    small = parse(workers=4, payload="size-only", stragglers={"compute": "10 us", "slowdown": {3: 4}})
    points.simulate_run(small, only_run(small))  # imports done before measuring
    result, peak, _ = _traced(lambda: points.simulate_run(loaded, run))
    estimate = budget.estimate(loaded, run)
    assert result.messages == 2 * 64 * 63 and estimate.messages == 2 * result.messages
    assert estimate.memory / 4 < peak < estimate.memory


def _most_in_flight(log) -> int:
    """The most messages under way at one instant (one delivered as another starts: not both)."""
    most = now = 0
    for _, change in sorted([(t, 1) for t in log.start] + [(t, -1) for t in log.end]):
        now += change
        most = max(most, now)
    return most


@pytest.mark.parametrize(("algorithm", "servers", "in_flight"), [
    ("sharded_parameter_server", 3, 8 * 3), ("parameter_server", 1, 8), ("all_to_all", 0, 8 * 7)])
def test_messages_in_flight_are_what_the_memory_estimate_charges(algorithm, servers, in_flight):
    """8 workers on a star: every worker pushes a shard to each of 3 servers at once (24 under way), or
    its buffer to the one server (8), or a piece to each other worker (56) — the count the memory
    estimate charges ``BYTES_PER_MESSAGE_IN_FLIGHT`` for; ring-like algorithms stay within 2 per rank."""
    topology = {"kind": "star", "bandwidth": "8 Gbit/s", "latency": "1 us"} | ({"servers": servers} if servers else {})
    loaded = parse(workers=8, payload="size-only", algorithms=[algorithm], topology=topology)
    run = only_run(loaded)
    log = points.simulate_run(loaded, run, keep_log=True).log
    assert _most_in_flight(log) == in_flight == budget._in_one_round(algorithm, 8, run.topology.server_count([algorithm]))
    for ringlike in ("ring_allreduce", "double_binary_tree", "recursive_doubling"):
        loaded = parse(workers=8, payload="size-only", algorithms=[ringlike])
        assert _most_in_flight(points.simulate_run(loaded, only_run(loaded), keep_log=True).log) <= 2 * 8


def test_each_term_of_an_estimate_by_hand():
    """The documented constants, by hand. A 64-worker star has 65 nodes and 64 links (129 elements: 3
    events and 1000 B each); ring all-reduce sends 2 · 64 · 63 = 8,064 messages, 128 at once (two per
    rank), sharing no link:
    message engine: events 3 · 129 + 3 · 8,064 + 2 · 64 = 24,707; memory 129,000 + 600 · 128 in flight +
    250 · min(8,064, 8 · 128) routes = 461,800, and 34 B a message more with the log;
    schedule engine (ring-like, no link shared: 12 transfers an event): events 3 · 129 + ⌊8,064 / 12⌋ = 1,059;
    memory 129,000 + 400 · 128 = 180,200 (for 3 workers, 12 messages, 6 at once: 3 · 7 + ⌊12 / 12⌋ = 22 events,
    7,000 + 400 · 6 = 9,400 B, whole numbers);
    real data (4 fp64 workers of 1000, 9 elements, 24 messages, 8 at once): events 27 + 72 + 8 + (2 · 4 ·
    1000 + 24 · 1000 / 4) / 32 = 544; memory 9,000 + 600 · 8 + 250 · 24 + 3 · 4 · 1000 · 8 + 24 · 1000 =
    139,800.
    All-to-all on a 4 × 4 torus (16 nodes, 32 links): 240 messages all at once, each recomputing rates for
    the others at 0.1 events each: events 3 · 48 + 240 · 0.1 · 240 + 3 · 240 + 32 = 6,656; memory 48,000 +
    600 · 240 + 250 · 240 = 252,000; on the schedule engine, whose transfers share links there (3 an event):
    events 3 · 48 + 240 · 0.1 · 240 + 240 / 3 = 5,984, memory 48,000 + 400 · 240 = 144,000."""
    from commsim.network import topology

    star = topology.build("star", 64, 1e9, 1e-6)
    assert star.number_of_nodes() + star.number_of_edges() == 129
    ring = parse(workers=64, payload="size-only")
    assert budget.estimate(ring, only_run(ring)) == budget.Estimate(8064, 24_707, 461_800)
    assert budget.estimate(ring, only_run(ring), True).memory == 461_800 + 34 * 8064
    fast = parse(workers=64, payload="size-only", engine="schedule")
    assert budget.estimate(fast, only_run(fast)) == budget.Estimate(8064, 1059, 180_200)
    three = parse(workers=3, payload="size-only", engine="schedule")  # 12 messages, 6 at once: whole events
    estimate = budget.estimate(three, only_run(three))
    assert estimate == budget.Estimate(12, 3 * 7 + 1, 7000 + 400 * 6)
    assert all(type(amount) is int for amount in (estimate.messages, estimate.events, estimate.memory))
    data = parse(workers=4, dtype="float64")
    estimate = budget.estimate(data, only_run(data))
    assert estimate == budget.Estimate(24, 544, 139_800)
    assert all(type(amount) is int for amount in (estimate.messages, estimate.events, estimate.memory))
    half = parse(workers=4, dtype="float16")  # 2 B an element: the buffers' 96,000 B become 24,000
    assert budget.estimate(half, only_run(half)) == budget.Estimate(24, 544, 139_800 - 96_000 + 24_000)
    torus = topology.build("torus", 16, 1e9, 1e-6)
    assert torus.number_of_nodes() + torus.number_of_edges() == 48
    a2a = parse(workers=16, payload="size-only", algorithms=["all_to_all"], topology={"kind": "torus"})
    assert budget.estimate(a2a, only_run(a2a)) == budget.Estimate(240, 6656, 252_000)
    shared = a2a.model_copy(update={"engine": "schedule"})
    assert budget.estimate(shared, only_run(shared)) == budget.Estimate(240, 5984, 144_000)


def test_disturbed_and_analytic_estimates_by_hand():
    """The ring of ``test_each_term_of_an_estimate_by_hand`` with a straggler: run twice (16,128 messages,
    2 · 24,707 events), the memory of the logged run (461,800 + 34 · 8,064 = 735,976) and 350 B a message
    for the walks over its log: 3,558,376. model: nccl answered by the analytic engine only builds the cluster and sends
    nothing: 3 events and 1000 B for each node and link counted, at least the built graph's 99 (2 × 8 H100:
    per node 8 GPUs, an NVSwitch, 8 NICs and 24 links; 8 rails, a spine, 8 rail–spine links) and at most
    a rail more per NIC (the count's slack)."""
    from commsim.network import topology

    late = parse(workers=64, payload="size-only", stragglers={"compute": "10 us", "slowdown": {3: 4}})
    assert budget.estimate(late, only_run(late)) == budget.Estimate(16_128, 49_414, 735_976 + 350 * 8064)
    cluster = topology.build("cluster", 16, 1.0, 0.0, preset="hgx-h100", nodes=2)
    elements = cluster.number_of_nodes() + cluster.number_of_edges()
    assert elements == 2 * (8 + 1 + 8 + 3 * 8) + 8 + 1 + 8 == 99
    answered = _nccl("ring_allreduce", "1 MiB", engine="analytic")
    estimate = budget.estimate(answered, only_run(answered))
    counted = estimate.memory // 1000
    assert estimate == budget.Estimate(0, 3 * counted, 1000 * counted) and elements <= counted <= elements + 8


def test_a_training_estimate_by_hand():
    """Logistic regression on the synthetic default (4,096 samples of 20 features, 2 classes: 42 parameters;
    32 a batch), 4 workers on a star, 10 steps. Ring, fp32: 2 · 4 · 3 = 24 messages a step, 240 in all;
    events 3 · 9 elements + 10 · (3 · 24 + 100 · 4) + 10 · 4 · (32 · 42 + 2 · 42) / 256 = 4,970; memory
    9,000 + 8 · 4096 · 21 (the data) + 8 · 4096 · (32 + 2) (activations) + 8 · 42 · 3 · 3 · 4 (replicas) +
    4 · 8 · 10 · 4 (curves) + (600 + 8 · 42) · 8 in flight = 1,832,104, 34 B a message more with the log.
    The parameter server with signs: ⌈42/8⌉ + 4 = 10 bytes a message, 8 a step, 4 at once (11 elements):
    events 33 + 10 · (3 · 8 + 400) + 223 = 4,496; memory 11,000 + 688,128 + 1,114,112 + 12,096 + 1,280 +
    (600 + 8 · 10) · 4 = 1,829,336. With 64 workers (131 elements), 128 messages a step of which 64 pushes
    share the server's link: ⌊128 · 0.0005 · 64⌋ = 4 events of contention a step."""
    training = {"model": "logistic_regression", "steps": 10}
    ring = parse(params=None, training=training | {"optimizer": {"name": "gradient_descent", "alpha": 0.1}})
    assert budget.estimate(ring, only_run(ring)) == budget.Estimate(240, 4970, 1_832_104)
    assert budget.estimate(ring, only_run(ring), True).memory == 1_832_104 + 34 * 240
    signs = parse(params=None, algorithms=["parameter_server"], topology={"kind": "star", "servers": 1},
                  training=training | {"optimizer": {"name": "sign_sgd", "learning_rate": 0.01, "wire": "sign"}})
    assert budget.estimate(signs, only_run(signs)) == budget.Estimate(80, 4496, 1_829_336)
    crowd = signs.model_copy(update={"workers": [64]})  # 128 messages a step, 64 pushes sharing the server's link
    estimate = budget.estimate(crowd, only_run(crowd))
    assert (estimate.messages, estimate.events) == (1280, 3 * 131 + 10 * (3 * 128 + 100 * 64 + 4) + 10 * 64 * 1428 // 256)


def test_the_logs_of_earlier_runs_count_against_later_ones():
    """With the log kept (--messages), every run's log stays until the results are written: three 64-worker
    rings (735,976 B each with its own log of 34 · 8,064 = 274,176 B) need 735,976, then 1,010,152,
    then 1,284,328 B; under a 1.2 MB limit the third is refused, and without the log none is; the limit
    is met at 1,284,328 exactly, not a byte below."""
    loaded = parse(workers=64, params={"from": 1000, "to": 3000, "step": 1000}, payload="size-only")
    limited = loaded.model_copy(update={"budget": scenario.BudgetSpec(memory=1.2e6)})
    budget.check(limited)
    with pytest.raises(CommsimError, match=r"^budget\.memory: run 3 \(ring_allreduce on star, n=64, p=3000\) needs ~1\.28 MB"):
        budget.check(limited, keep_log=True)
    assert budget.estimate(loaded, only_run(loaded), True).memory == 735_976
    budget.check(loaded.model_copy(update={"budget": scenario.BudgetSpec(memory=1_284_328)}), keep_log=True)
    with pytest.raises(CommsimError, match=r"^budget\.memory: run 3 "):
        budget.check(loaded.model_copy(update={"budget": scenario.BudgetSpec(memory=1_284_327)}), keep_log=True)


def test_the_memory_sources_are_read_by_hand(monkeypatch):
    """/proc/meminfo's MemAvailable is in kB (1000 kB: 1,024,000 B); without it, half the RAM (1000 pages of
    4096 B: 2,048,000); without that, 4 GiB. Under ``ulimit -v`` of 10 MiB with 1000 pages mapped there is
    10,485,760 − 4,096,000 B left, and a cgroup's memory.max of 5,000,000 with 1,000,000 used leaves
    4,000,000: the least of these is what a run may have; a process already over either has 0 left."""
    import io
    import resource

    files = {"/proc/meminfo": "MemTotal: 2000 kB\nMemAvailable: 1000 kB\n", "/proc/self/statm": "1000 500 0\n"}

    def fake_open(path, *args, **kwargs):
        if str(path) not in files:
            raise OSError(path)
        return io.StringIO(files[str(path)])

    def fake_sysconf(name):
        return {"SC_PHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}[name]

    class FakePath:
        texts = {"memory.max": "5000000\n", "memory.current": "1000000\n"}

        def __init__(self, *parts):
            self.name = parts[-1]

        def __truediv__(self, name):
            return FakePath(name)

        def read_text(self):
            return self.texts[self.name]

    monkeypatch.setattr(budget, "open", fake_open, raising=False)
    monkeypatch.setattr(budget.os, "sysconf", fake_sysconf)
    monkeypatch.setattr(budget, "Path", FakePath)
    monkeypatch.setattr(resource, "getrlimit", lambda _: (10 << 20, resource.RLIM_INFINITY))
    assert budget._machine_memory() == 1_024_000
    assert budget._process_limits() == [(10 << 20) - 4_096_000, 4_000_000]
    assert budget.available_memory() == 1_024_000
    monkeypatch.setattr(resource, "getrlimit", lambda _: (4_000_000, resource.RLIM_INFINITY))  # over it already
    FakePath.texts = {"memory.max": "5000000\n", "memory.current": "6000000\n"}
    assert budget._process_limits() == [0, 0]
    del files["/proc/meminfo"]
    assert budget._machine_memory() == 2_048_000 and type(budget._machine_memory()) is int
    monkeypatch.setattr(budget.os, "sysconf", lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert budget._machine_memory() == 4 << 30


def test_limits_take_anything_above_zero():
    """The smallest limits allowed are any positive amount (1 B of memory, 1 event, half a byte); 0 is
    refused."""
    assert budget.parse_limit("memory", "1 B") == 1.0 and budget.parse_limit("memory", 0.5) == 0.5
    assert budget.parse_limit("events", 1) == 1.0
    with pytest.raises(ValueError, match="^must be > 0$"):
        budget.parse_limit("events", 0)


def test_one_worker_sends_nothing_and_one_server_is_counted_as_one():
    """One worker: no messages in the estimate, textbook (the ring; the parameter server, whose closed
    form counts a push and a pull even then) or NCCL's (one Ethernet GPU); two GPUs on 2 channels: 2 · 2 ·
    2(2 − 1) = 8, as sent. The sharded server with a single server: 2n messages (a push and a pull per
    worker), as the engine sends."""
    import yaml

    for algorithm in ("ring_allreduce", "parameter_server"):
        alone = parse(workers=1, payload="size-only", algorithms=[algorithm], topology={"kind": "star", "servers": 1})
        assert budget.estimate(alone, only_run(alone)).messages == 0 == points.simulate_run(alone, only_run(alone)).messages
    for gpus, messages in ((1, 0), (2, 8)):
        nccl = scenario.parse(yaml.safe_load(
            f"name: b\nworkers: {gpus}\nsize: 1 MiB\npayload: size-only\nalgorithms: [ring_allreduce]\nmodel: nccl\n"
            f"channels: 2\ntopology: {{kind: cluster, preset: ethernet, nodes: {gpus}}}\n"), "b.yaml")
        run = only_run(nccl)
        assert budget.estimate(nccl, run).messages == messages == points.simulate_run(nccl, run).messages
    one_shard = parse(workers=5, payload="size-only", algorithms=["sharded_parameter_server"],
                      topology={"kind": "star", "servers": 1})
    run = only_run(one_shard)
    assert budget.estimate(one_shard, run).messages == 2 * 5 == points.simulate_run(one_shard, run).messages


def test_counts_in_messages_switch_to_powers_of_ten_at_10_000():
    """9,999 reads 9999, 10,000 reads 1.0e4."""
    assert (budget._count(9_999), budget._count(10_000), budget._count(1_234_567)) == ("9999", "1.0e4", "1.2e6")


def _refusal(loaded, **limits) -> str:
    with pytest.raises(CommsimError) as error:
        budget.check(loaded.model_copy(update={"budget": scenario.BudgetSpec(**limits)}))
    return str(error.value)


def test_what_a_refusal_suggests_fits_the_run():
    """payload: size-only only for the memory of a data run; engine: schedule only for a size-only
    message-engine run over its events or messages (not its memory; under model nccl too)."""
    assert _refusal(parse(workers=8), memory=1000).endswith("; try payload: size-only, fewer workers or engine: analytic")
    assert _refusal(parse(workers=8), events=10).endswith("; try fewer workers or engine: analytic")
    size_only = parse(workers=8, payload="size-only")
    assert _refusal(size_only, events=10).endswith("; try fewer workers, engine: schedule or engine: analytic")
    assert _refusal(size_only, memory=1000).endswith("; try fewer workers or engine: analytic")
    assert _refusal(_nccl("ring_allreduce", "1 MiB"), events=10).endswith(
        "; try fewer workers, engine: schedule or engine: analytic")


def test_exactly_100_000_runs_are_allowed():
    """1,000 worker counts × 100 sizes: the sweep is not refused by its count; its first run is then held
    to the events limit (one worker on a star: 3 elements · 3 events + 2 = 11)."""
    loaded = parse(workers=1, params={"from": 1, "to": 100, "step": 1}, payload="size-only")
    loaded = loaded.model_copy(update={"workers": list(range(1, 1001))})  # loading it would estimate every run
    assert budget.run_count(loaded) == budget.MAX_RUNS == 100_000
    assert _refusal(loaded, events=1).startswith("budget.events: run 1 (ring_allreduce on star, n=1, p=1) needs ~11 events")


def test_the_scenario_meets_its_events_limit_exactly():
    """Two 64-worker rings, 24,707 events each (``test_each_term_of_an_estimate_by_hand``): 49,414
    together meet a limit of 49,414 and exceed 49,413; without the log a run's memory is its own, 461,800
    meeting a limit of 461,800 and over 461,799 (the first run refused, not the second for the two together)."""
    loaded = parse(workers=64, params=[1000, 2000], payload="size-only")
    budget.check(loaded.model_copy(update={"budget": scenario.BudgetSpec(events=49_414)}))
    assert _refusal(loaded, events=49_413).startswith("budget.events: runs 1 to 2 together need ~4.9e4 events")
    budget.check(loaded.model_copy(update={"budget": scenario.BudgetSpec(memory=461_800)}))
    assert _refusal(loaded, memory=461_799).startswith("budget.memory: run 1 ")


def test_only_the_analytic_engine_without_model_nccl_skips_the_budget():
    """4 M workers by closed form pass any limit; model nccl answered by the analytic engine still builds
    its cluster: 50,000 nodes of 8 H100 (about 2 M nodes and links) are refused at 1 GB."""
    budget.check(parse(workers="2^22", params="1e15", engine="analytic").model_copy(
        update={"budget": scenario.BudgetSpec(memory=1, events=1)}))
    import yaml

    big = scenario.parse(yaml.safe_load(
        "name: b\nworkers: 400_000\nsize: 1 MiB\nalgorithms: [ring_allreduce]\nmodel: nccl\nengine: analytic\n"
        "topology: {kind: cluster, preset: hgx-h100, nodes: 50_000}\nbudget: {memory: 1 TB}\n"), "b.yaml")
    assert _refusal(big, memory=1e9).startswith("budget.memory: run 1 (ring_allreduce on cluster")


def test_a_workload_estimate_bounds_what_its_step_sends_under_nccl_s_own_protocol():
    """A DDP step of Llama-3-8B on 2 × 8 H100 under ``model: nccl`` (protocol auto): the estimate takes the one
    protocol NCCL picks for the step's largest call and the cluster's own channels, and still bounds the
    messages the step sends (each distinct call once, as the schedule engine's chain runs them), within 10×."""
    from commsim.engines.program import Collective, one_call
    from commsim.engines.schedule import run_program
    from commsim.runner.plans import plan_of

    loaded = scenario.parse({"name": "w", "workers": 16, "model": "nccl", "topology": {"kind": "cluster", "preset": "hgx-h100"},
                             "workload": {"model": "llama3-8b", "strategy": "ddp", "batch_per_gpu": 1, "dtype": "bf16"}},
                            "w.yaml")
    run = only_run(loaded)
    estimate = budget.estimate(loaded, run)
    plan = plan_of(loaded, run, "schedule")
    distinct = {id(task.schedule): task for task in plan.program.tasks if isinstance(task, Collective)}
    sent = sum(run_program(one_call(task.schedule, task.nodes, 16, plan.program.servers), plan.graph).messages
               for task in distinct.values())
    assert sent <= estimate.messages <= 10 * sent  # a bound, within an order of magnitude (6.4x here)


@pytest.mark.parametrize("algorithm", ["reduce_scatter", "all_gather", "broadcast"])
def test_nccl_block_and_chain_estimates_against_what_they_send(algorithm):
    """4 channels over 16 ranks, 1 MiB. NCCL's ring reduce-scatter and all-gather: each channel's ring n − 1
    steps of n messages, 4 · 16 · 15 = 960 — the estimate, and what runs. Broadcast: chunks down the chain of n − 1
    hops; the estimate (4 + ⌊1 MiB / 17,280⌋ = 64 chunks) · 15 = 960 bounds what runs."""
    loaded = _nccl(algorithm, "1 MiB", "channels: 4\n", "schedule")
    run = only_run(loaded)
    sent, estimated = points.simulate_run(loaded, run).messages, budget.estimate(loaded, run).messages
    if algorithm == "broadcast":
        assert estimated == (4 + (1 << 20) // 17_280) * 15 >= sent
    else:
        assert estimated == 4 * 16 * 15 == sent


def test_nvls_estimates_whole_pieces_on_one_node_and_nothing_across_nodes():
    """NVLS on one node of 4 H100s, 1000 floats (4000 B, under one 16 KiB piece): (C · 4 + ⌊4000 / 16,384⌋ = 0)
    pieces · (2 · 4 + 2) messages, C the most channels NCCL's search gives the node (its ring channels, 24, or
    its 4 NVLS ones): 960. Across 2 nodes NVLS does not run (NCCL needs CollNet there): 0."""
    import yaml

    from commsim.collectives.nccl import model

    text = ("name: b\nworkers: 4\nparams: 1000\npayload: size-only\nalgorithms: [nvls]\nmodel: nccl\nengine: schedule\n"
            "topology: {kind: cluster, preset: hgx-h100, nodes: 1, gpus_per_node: 4}\n")
    loaded = scenario.parse(yaml.safe_load(text), "b.yaml")
    run = only_run(loaded)
    machine = model.machine(run.topology.build(4, ["nvls"]))
    assert max(model.channels(machine).comm, model.nvls_graph(machine).channels) == 24
    assert budget.estimate(loaded, run).messages == 24 * 4 * 10 >= points.simulate_run(loaded, run).messages
    across = _nccl("nvls", "1 MiB", "", "schedule")
    assert budget.estimate(across, only_run(across)).messages == 0


def test_the_schedule_engine_prices_nccl_s_wide_rounds_and_textbook_shared_links_apart():
    """NCCL's ring on 4 channels of 2 × 8 H100 sends 4 · 16 · 30 = 1,920 transfers (what the run moves), in rounds
    of channels × n: 16 transfers an event, so ⌊1,920 / 16⌋ = 120 events beyond the 3 per counted node and link
    (the analytic engine's estimate, which only builds the cluster); a textbook ring on a star, no link shared,
    12 an event: 2 · 64 · 63 = 8,064 transfers, ⌊8,064 / 12⌋ = 672 events beyond the star's 3 · 129; a parameter
    server on a star of 256 workers, whose pushes share the server's link, 3 an event: 2 · 256 = 512 transfers,
    ⌊512 / 3⌋ = 170 events beyond the star's 3 · (2 · 257 + 1) = 1,545 and ⌊512 · 0.0005 · 256⌋ = 65 of
    contention: 1,780."""
    loaded = _nccl("ring_allreduce", "1 MiB", "channels: 4\n", "schedule")
    run = only_run(loaded)
    estimate = budget.estimate(loaded, run)
    counted = budget.estimate(_nccl("ring_allreduce", "1 MiB", "channels: 4\n", "analytic"), run).events
    assert estimate.messages == 1920 == points.simulate_run(loaded, run).messages
    assert estimate.events - counted == 1920 // 16 == 120
    ring = parse(workers=64, payload="size-only", engine="schedule")
    assert budget.estimate(ring, only_run(ring)).events - 3 * 129 == 8064 // 12 == 672
    server = parse(workers=256, payload="size-only", engine="schedule", algorithms=["parameter_server"])
    assert budget.estimate(server, only_run(server)) == budget.Estimate(512, 1780, 515_000 + 400 * 256)


def test_rounds_that_pair_ranks_over_their_own_links_cost_the_schedule_engine_no_contention():
    """All-to-all's rounds (shifts) and recursive doubling's (exchanges) send at most one message from and to each
    rank: on a star or a fully connected network no two of a round's share a link, and the schedule engine moves
    them whole. 16 workers, all-to-all: 240 transfers, 3 an event: on the star (33 nodes and links) 99 + 80 = 179
    events; fully connected (16 nodes, 120 links) 408 + 80 = 488; on the message engine the star's contention
    stays: 99 + ⌊240 · 0.0005 · 240⌋ + 3 · 240 + 2 · 16 = 99 + 28 + 720 + 32 = 879; on a 4 × 4 torus routes cross:
    the 5,984 of ``test_each_term_of_an_estimate_by_hand``. Recursive doubling on the star: 16 · 4 = 64
    transfers, 99 + ⌊64 / 3⌋ = 120."""
    a2a = {"payload": "size-only", "engine": "schedule", "algorithms": ["all_to_all"], "workers": 16}
    star = parse(**a2a)
    assert budget.estimate(star, only_run(star)).events == 179
    full = parse(**a2a | {"topology": {"kind": "fully_connected"}})
    assert budget.estimate(full, only_run(full)).events == 488
    sent = parse(**a2a | {"engine": "message"})
    assert budget.estimate(sent, only_run(sent)).events == 879
    doubling = parse(**a2a | {"algorithms": ["recursive_doubling"]})
    assert budget.estimate(doubling, only_run(doubling)) == budget.Estimate(64, 120, 33_000 + 400 * 32)
    assert points.simulate_run(doubling, only_run(doubling)).messages == 64


def test_what_fits_the_faster_engines_runs_and_what_cannot_finish_is_refused_with_its_time():
    """Ring all-reduce of 32,768 size-only ranks on the schedule engine: 2 · 32,768 · 32,767 = 2,147,418,112
    transfers (over the old 1e9 messages), 3 · 65,537 + ⌊2,147,418,112 / 12⌋ = 179,148,120 events (~6 min at
    6 M transfers a second): within the defaults now. NCCL's ring all-reduce of 1 GiB on 16 channels, 16 NCCL
    transfers an event beyond the cluster's counted nodes and links (the analytic engine's estimate): on 512 × 8
    H100, 16 · 4,096 · 8,190 = 536,739,840 transfers, 33,546,240 events (~1.1 min; 37 s of CPU measured); on
    1,024 × 8, 16 · 8,192 · 16,382 = 2,147,221,504 transfers, 134,201,344 events (~4.5 min; 184 s of CPU
    measured): within them now; on 2,048 × 8, 16 · 16,384 · 32,766 = 8,589,410,304 transfers, 536,838,144 events
    and ~0.25 M for the cluster, ~5.4e8 (~18 min): refused, its time in the line."""
    big = parse(workers=32768, payload="size-only", engine="schedule")
    assert budget.estimate(big, only_run(big)) == budget.Estimate(2_147_418_112, 179_148_120, 1000 * 65_537 + 400 * 65_536)
    import yaml

    text = ("name: b\nworkers: {}\nsize: 1 GiB\npayload: size-only\nalgorithms: [ring_allreduce]\nmodel: nccl\n"
            "engine: {}\ntopology: {{kind: cluster, preset: hgx-h100, nodes: {}}}\nchannels: 16\n")
    for nodes, transfers, events in ((512, 536_739_840, 33_546_240), (1024, 2_147_221_504, 134_201_344)):
        fits = scenario.parse(yaml.safe_load(text.format(8 * nodes, "schedule", nodes)), "b.yaml")
        estimate = budget.estimate(fits, only_run(fits))
        counted = budget.estimate(fits.model_copy(update={"engine": "analytic"}), only_run(fits)).events
        assert estimate.messages == transfers and estimate.events - counted == transfers // 16 == events
        assert estimate.events < budget.DEFAULT_EVENTS
    with pytest.raises(ScenarioError) as error:
        scenario.parse(yaml.safe_load(text.format(16384, "schedule", 2048)), "b.yaml")
    assert str(error.value) == (
        "b.yaml: budget.events: run 1 (ring_allreduce on cluster hgx-h100 x2048, n=16384, p=2.7e8) needs ~5.4e8 "
        "events (~18 min), over the limit of 2.0e8; try fewer workers or engine: analytic")


def test_the_message_engine_holds_what_its_estimate_charges_an_all_to_all():
    """All-to-all of 64 size-only workers on a star (4,032 messages, all in flight at once, one route each):
    the run's traced peak stays under the estimate (600 B a message in flight and 250 B a route) and above
    half of it."""
    loaded = parse(workers=64, payload="size-only", algorithms=["all_to_all"])
    run = only_run(loaded)
    points.simulate_run(loaded, run)  # imports done before measuring
    result, peak, _ = _traced(lambda: points.simulate_run(loaded, run))
    estimate = budget.estimate(loaded, run)
    assert result.messages == estimate.messages == 64 * 63
    assert estimate.memory == 1000 * 129 + 600 * 4032 + 250 * 4032
    assert estimate.memory / 2 < peak < estimate.memory


def _workload(engine="message", strategy="ddp", kind="star", algorithm="ring_allreduce", **topology):
    """A step of two layers (1,000 and 3,000 fp32 parameters; buckets of 8 KB after a first of 4 KB) on 4
    size-only workers: DDP all-reduces 3,000 then 1,000 elements; FSDP all-gathers 1,000, 3,000, 3,000, 1,000
    and reduce-scatters 3,000, 1,000."""
    return scenario.parse({"name": "w", "workers": 4, "engine": engine, "payload": "size-only", "algorithms": [algorithm],
                           "topology": {"kind": kind} | topology,
                           "workload": {"layers": [{"name": "a", "params": 1000}, {"name": "b", "params": 3000}],
                                        "strategy": strategy, "dtype": "fp32", "bucket_cap": "8 KB", "first_bucket": "4 KB",
                                        "step_time": "1 ms"}}, "w.yaml")


def test_a_workload_estimate_by_hand():
    """Each term of a workload step's estimate. A star of 4 counts 2 · 4 + 1 = 9 nodes and links (27 events,
    9,000 B); the step keeps 2 messages a rank in flight (8 · 600 B each on the message engine, 400 B on the
    schedule engine) and, with the log, 34 B a message (98 on the schedule engine).
    DDP's two ring all-reduces, 2 · 4 · 3 = 24 messages each: 48, as the run sends; events 27 + 3 · 48 = 171,
    memory 9,000 + 2 · 4 · 4,800 = 47,400 (+ 34 · 48 = 1,632 with the log).
    FSDP on the schedule engine: 6 calls of n(n − 1) = 12 messages (72 sent), 4 of them distinct, which alone its
    chain simulates: 48 messages, 27 + ⌊48 / 12⌋ = 31 events (ring-like: 12 transfers an event), 9,000 + 2 · 4 · 400
    = 12,200 B; with the log every call runs: 72 messages, 27 + 6 = 33 events, 12,200 + 98 · 72 = 19,256 B.
    Recursive doubling on a 2 × 2 torus (4 nodes and 8 links counted: 36 events, 12,000 B): 4 · 2 = 8 messages a
    call, 8 in flight that may share links at 0.1 events each, ⌊8 · 0.1 · 8⌋ = 6 a call; events 36 + 12 + 3 · 16 = 96,
    memory 50,400 (+ 34 · 16 = 544); on the schedule engine (3 transfers an event where links are shared) 36 +
    12 + ⌊16 / 3⌋ = 53 events and 12,000 + 3,200 = 15,200 B (+ 98 · 16 = 1,568). The tree (2(n − 1) = 6 messages
    up and down, twice: 12 a call, 8 in flight) ⌊12 · 0.1 · 8⌋ = 9 a call: 36 + 18 + 3 · 24 = 126 events.
    The analytic engine only counts the star: 0 messages, 27 events, 9,000 B."""
    ddp = _workload()
    run = only_run(ddp)
    assert budget.estimate(ddp, run) == budget.Estimate(48, 171, 47_400) and points.simulate_run(ddp, run).messages == 48
    assert budget.estimate(ddp, run, True) == budget.Estimate(48, 171, 49_032)
    fsdp = _workload("schedule", "fsdp")
    run = only_run(fsdp)
    assert budget.estimate(fsdp, run) == budget.Estimate(48, 31, 12_200)
    assert budget.estimate(fsdp, run, True) == budget.Estimate(72, 33, 19_256)
    sent = _workload("message", "fsdp")
    assert points.simulate_run(sent, only_run(sent)).messages == 72 == budget.estimate(sent, only_run(sent)).messages
    doubling = _workload(kind="torus", algorithm="recursive_doubling")
    run = only_run(doubling)
    assert budget.estimate(doubling, run) == budget.Estimate(16, 96, 50_400) and points.simulate_run(doubling, run).messages == 16
    assert budget.estimate(doubling, run, True).memory == 50_944
    fast = _workload("schedule", kind="torus", algorithm="recursive_doubling")
    assert budget.estimate(fast, only_run(fast)) == budget.Estimate(16, 53, 15_200)
    assert budget.estimate(fast, only_run(fast), True).memory == 16_768
    tree = _workload(kind="torus", algorithm="double_binary_tree")
    assert budget.estimate(tree, only_run(tree)) == budget.Estimate(24, 126, 50_400)
    answered = _workload("analytic")
    assert budget.estimate(answered, only_run(answered)) == budget.Estimate(0, 27, 9_000)


def test_a_workload_on_sharded_servers_is_estimated_with_its_servers():
    """DDP's two all-reduces through 2 sharded parameter servers on a star: each of 4 workers pushes a shard to
    each server and pulls it back, 2 · 4 · 2 = 16 messages a call, 32 in the step, as the run sends; the star
    counts its servers too, 2 · (4 + 2) + 1 = 13 nodes and links: events 39 + ⌊16 · 0.0005 · 8⌋ · 2 (= 0) +
    3 · 32 = 135, memory 13,000 + 2 · 4 · 8 · 600 = 51,400."""
    sharded = _workload(algorithm="sharded_parameter_server", servers=2)
    run = only_run(sharded)
    assert points.simulate_run(sharded, run).messages == 32
    assert budget.estimate(sharded, run) == budget.Estimate(32, 135, 51_400)


def test_a_workload_estimate_under_nccl_by_hand():
    """DDP of layers of 1,000 and 2,000,000 fp32 parameters (calls of 8,000,000 and 4,000 B) on one node of 4 H100
    (counted: 4 · 3 + 8 NICs · 2 + 1 + 8 · 3 + 1 = 54 nodes and links: 162 events, 54,000 B; 2 · 4 · 400 B in
    flight on the schedule engine). NCCL's tree on 2 channels, each chunk up and down 3 edges (6 messages),
    chunks no smaller than the protocol's smallest: with protocol auto, the one NCCL picks for the step's largest
    call, LL128 (17,280 B; for 4,000 B alone it would pick LL): (2 + ⌊8,000,000 / 17,280⌋ = 462) · 6 = 2,784 and
    (2 + 0) · 6 = 12, 2,796 messages; 8 in flight may share links at 0.002 events: ⌊2,784 · 0.002 · 8⌋ = 44 and
    ⌊12 · 0.002 · 8⌋ = 0; 16 NCCL transfers an event: 162 + 44 + ⌊2,796 / 16⌋ = 380 events, 57,200 B. Protocol LL
    (32 KiB): (2 + 244) · 6 + 12 = 1,488 messages, 162 + ⌊1,476 · 0.016⌋ (23) + ⌊1,488 / 16⌋ (93) = 278 events. Both bound what
    the step sends. The ring on 2 channels sends 2 · 4 · 2 · 3 = 48 a call, 96: the estimate; on the channels
    NCCL's search gives the node (24 ring channels, 4 NVLS ones: the larger), 24 · 24 · 2 = 1,152."""
    from commsim.collectives.nccl import model

    def step(algorithm="double_binary_tree", protocol="auto", channels=2):
        return scenario.parse({"name": "w", "workers": 4, "engine": "schedule", "payload": "size-only", "model": "nccl",
                               "protocol": protocol, "channels": channels, "algorithms": [algorithm],
                               "topology": {"kind": "cluster", "preset": "hgx-h100", "nodes": 1, "gpus_per_node": 4},
                               "workload": {"layers": [{"name": "a", "params": 1000}, {"name": "b", "params": 2_000_000}],
                                            "dtype": "fp32", "bucket_cap": "64 MB", "first_bucket": "4 KB"}}, "w.yaml")

    auto = step()
    run = only_run(auto)
    machine = model.machine(run.topology.build(4, [run.algorithm]))
    assert (model.choose(machine, 8_000_000).protocol, model.choose(machine, 4000).protocol) == ("ll128", "ll")
    assert budget.estimate(auto, run) == budget.Estimate(2796, 380, 57_200)
    assert 2796 >= points.simulate_run(auto, run).messages
    ll = step(protocol="ll")
    assert budget.estimate(ll, only_run(ll)) == budget.Estimate(1488, 278, 57_200)
    assert budget.estimate(ll, only_run(ll)).messages >= points.simulate_run(ll, only_run(ll)).messages
    ring = step("ring_allreduce")
    assert budget.estimate(ring, only_run(ring)).messages == 96 == points.simulate_run(ring, only_run(ring)).messages
    searched = step("ring_allreduce", channels="auto")
    assert budget.estimate(searched, only_run(searched)).messages == 1152


def test_the_schedule_engine_s_log_is_charged_its_columns_and_the_message_log():
    """The schedule engine keeps 8 columns of 8 B for each delivered transfer and then builds the message
    engine's 34 B log from them: 98 B a message. The 64-worker ring of ``test_each_term_of_an_estimate_by_hand``
    on it (180,200 B, 8,064 messages) needs 180,200 + 98 · 8,064 = 970,472 B with its log; its messages and
    events do not change."""
    fast = parse(workers=64, payload="size-only", engine="schedule")
    assert budget.estimate(fast, only_run(fast), True) == budget.Estimate(8064, 1059, 970_472)


def test_a_refusal_cuts_a_long_network_label_to_30_characters():
    """The run is named by its network's label, cut to 29 characters and "…"; an 8-worker ring on a star (17
    nodes and links) needs 3 · 17 + 3 · 112 + 2 · 8 = 403 events, 403 / 5e5 = 0.00081 s."""
    loaded = parse(workers=8, payload="size-only",
                   topology={"kind": "star", "label": "the star of the east wing, second floor"})
    assert _refusal(loaded, events=10) == (
        "budget.events: run 1 (ring_allreduce on the star of the east wing, se…, n=8, p=1000) needs ~403 events "
        "(~0.00081 s), over the limit of 10; try fewer workers, engine: schedule or engine: analytic")


def test_a_size_only_linear_regression_on_the_schedule_engine_by_hand():
    """Linear regression on the synthetic default (4,096 samples of 20 features) has 21 parameters and no
    classes; 5 size-only workers on a star (11 nodes and links), 300 steps, on the schedule engine. A step's
    ring sends 2 · 5 · 4 = 40 messages, 12,000 in all; ring-like, 12 transfers an event: ⌊40 / 12⌋ = 3 a step,
    no worker computes on real data: events 3 · 11 + 300 · 3 = 933. Memory 11,000 + 8 · 4,096 · 21 (the data) +
    8 · 4,096 · 32 (the hidden width's activations, no classes) + 4 · 8 · 300 · 5 (curves) + (600 + 8 · 21) ·
    10 in flight = 1,803,384 (no replicas without real data)."""
    training = {"model": "linear_regression", "steps": 300, "optimizer": {"name": "gradient_descent", "alpha": 0.1}}
    loaded = parse(workers=5, params=None, payload="size-only", engine="schedule", training=training)
    assert budget.estimate(loaded, only_run(loaded)) == budget.Estimate(12_000, 933, 1_803_384)


def test_nvls_is_estimated_on_one_node_of_the_preset_s_own_size():
    """Without ``nodes`` a cluster's workers fill nodes of its preset's GPUs: 8 H100s are one node, where NVLS on 2
    channels of 1 MiB runs (2 · 8 + ⌊1 MiB / 16 KiB⌋ = 80) pieces of 2 · 8 + 2 messages, 1,440, no fewer than it
    sends; 2 workers of the ``ethernet`` preset (one GPU a node) are 2 nodes, where NVLS does not run: 0."""
    import yaml

    def nvls(workers, preset):
        return scenario.parse(yaml.safe_load(
            f"name: b\nworkers: {workers}\nsize: 1 MiB\npayload: size-only\nalgorithms: [nvls]\nmodel: nccl\nchannels: 2\n"
            f"engine: schedule\ntopology: {{kind: cluster, preset: {preset}}}\n"), "b.yaml")

    node = nvls(8, "hgx-h100")
    assert budget.estimate(node, only_run(node)).messages == 80 * 18 >= points.simulate_run(node, only_run(node)).messages
    apart = nvls(2, "ethernet")
    assert budget.estimate(apart, only_run(apart)).messages == 0


def test_the_run_count_is_the_sweep_s_length():
    """Counted without expanding, the runs are as many as the sweep gives: 2 networks × 3 algorithms × 2 worker
    counts × (2 sizes × 2 dtypes) = 48; a workload's 2 strategies × 3 bucket caps on 2 networks = 12; a training's
    2 optimizers × 3 worker counts = 6."""
    two = [{"kind": "star"}, {"kind": "ring"}]
    sweep = parse(topology=None, topologies=two, algorithms=["ring_allreduce", "double_binary_tree", "all_to_all"],
                  workers=[4, 8], params=[1000, 2000], dtype=["float32", "float64"], payload="size-only")
    assert budget.run_count(sweep) == len(list(sweep.runs())) == 48
    steps = scenario.parse({"name": "w", "workers": 4, "payload": "size-only", "topologies": two,
                            "workload": {"layers": [{"name": "a", "params": 1000}], "strategy": ["ddp", "fsdp"],
                                         "bucket_cap": ["1 MB", "2 MB", "4 MB"], "step_time": "1 ms"}}, "w.yaml")
    assert budget.run_count(steps) == len(list(steps.runs())) == 12
    optimizers = [{"name": "gradient_descent", "alpha": 0.1}, {"name": "sign_sgd", "learning_rate": 0.01}]
    trained = parse(workers=[2, 3, 4], params=None, training={"model": "logistic_regression", "steps": 2,
                                                              "optimizer": optimizers})
    assert budget.run_count(trained) == len(list(trained.runs())) == 6


def test_the_time_a_refusal_quotes_turns_to_minutes_at_60_seconds():
    """At 5e5 events a second: 3e7 events are 60 s, "~1 min"; 29,999,999 are "~60 s" (two figures); 1.5e8 are
    "~5 min"."""
    assert (budget._minutes(3e7), budget._minutes(29_999_999), budget._minutes(1.5e8)) == ("~1 min", "~60 s", "~5 min")


def test_engine_auto_is_estimated_as_the_engine_it_picks():
    """``engine: auto`` runs a size-only ring on the schedule engine: the estimate is that engine's (the 64-worker
    ring of ``test_each_term_of_an_estimate_by_hand``: 1,059 events, 180,200 B), not the message engine's."""
    picked = parse(workers=64, payload="size-only", engine="auto")
    assert picked.engine_picked[0] == "schedule"
    assert budget.estimate(picked, only_run(picked)) == budget.Estimate(8064, 1059, 180_200)


def test_nccl_s_channels_are_the_scenario_s_else_the_search_s_else_64():
    """channels: 3 is taken as given; auto on 2 × 8 H100 is the larger of NCCL's 16 ring channels and its 8 NVLS
    ones; where the cluster cannot be read, NCCL's MAXCHANNELS, 64."""
    from commsim.collectives.nccl import model

    given = _nccl("ring_allreduce", "1 MiB", "channels: 3\n")
    assert budget._nccl_channels(given, None) == 3
    auto = _nccl("ring_allreduce", "1 MiB")
    machine = model.machine(only_run(auto).topology.build(16, ["ring_allreduce"]))
    assert budget._nccl_channels(auto, machine) == 16 and budget._nccl_channels(auto, None) == 64
