"""NCCL's NVLS and NVLS-tree (issue 20): the tuner's latency and bandwidth by hand from tuning.cc and the NVLS
search, ``auto`` picking as NCCL's tuner does, the NVLS schedule's closed form on both engines, NCCL's NVLS
chunks; and NCCL's small-message rules: channels and threads, the tree's LL128 chunk, the tree × 0.85."""

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim import scenario
from commsim.collectives.nccl import model as M
from commsim.collectives.nccl import nvls, tree
from commsim.engines import message as message_engine
from commsim.engines import schedule as schedule_engine
from commsim.engines.program import one_call
from commsim.engines.schedule import participant_nodes
from commsim.network import topology
from commsim.runner import points

SWITCH = "node0.nvswitch"


def _machine(preset: str, nodes: int, gpus: int = 8) -> M.Machine:
    return M.machine(topology.build("cluster", nodes * gpus, 1.0, 0.0, preset=preset, nodes=nodes))


# -- NCCL's tuner ----------------------------------------------------------------------------------
def test_nvls_graph_and_tuner_values_on_h100_b200_and_a100_by_hand():
    """NVLS search: channel c (head GPU c) takes s of every GPU's NVLink, 2s of its head's, so g channels need
    (g + 1)·s ≤ NCCL's NVLink count (H100 18 × 20.6 = 370.8 GB/s: 9 × 50 = 450 no, 9 × 40 = 360 yes; B200 18 ×
    40.1 = 721.8: 9 × 90 = 810 no, 9 × 80 = 720 yes); pass 2 raises the network speed to the first listed ≥ 2×
    intra or the top (H100 intra list tops at 60, B200 at 90). Across nodes (inter list, ≤ min(PCIe 48, NIC 50)):
    48 fits 6 channels (7 × 48 = 336, 8 × 48 > 370.8), 45 and 42 fit 7, 40 all 8 (kept: more channels), then the
    network speed rises to 48 (the reach). tuning.cc:307-323, 377-382, 424-428:
    H100 node NVLS: 8 × min(40·.85·7/8·2 = 59.5, 60) = 476 busBw, × 8/14 = 272 GB/s, 25 µs.
    B200 node NVLS: 8 × min(80·.74·7/8·2 = 103.6, 90) = 720, × 8/14 = 411.43 GB/s.
    2 × 8 H100 NVLS-tree: 8 × min(59.5, 48·2, 57.7) = 461.6, × 16/30 = 246.19 GB/s, 25 + 2·1·20.9 = 66.8 µs.
    4 × 8 H100 NVLS-tree: 8 × min(59.5, 48, 45.5) = 364, × 32/62 = 187.87 GB/s, 25 + 2·2·20.9 = 108.6 µs.
    A100: no NVLS (sm80, search.cc:1124)."""
    h100, b200, a100 = _machine("hgx-h100", 1), _machine("hgx-b200", 1), _machine("dgx-a100", 1)
    assert M.nvls_graph(h100) == M.NvlsGraph(8, 40.0, 60.0)
    assert M.nvls_graph(b200) == M.NvlsGraph(8, 80.0, 90.0)
    assert M.nvls_graph(_machine("hgx-h100", 2)) == M.NvlsGraph(8, 40.0, 48.0)
    assert M.nvls_graph(a100) is None and not M.enabled(a100, "simple", "nvls")
    lat, bw = M.latency_and_bandwidth(h100, "nvls", "simple")
    assert (lat, bw) == pytest.approx((25.0, 8 * 59.5 * 8 / 14), rel=1e-12)
    assert M.latency_and_bandwidth(b200, "nvls", "simple")[1] == pytest.approx(8 * 90 * 8 / 14, rel=1e-12)
    assert M.latency_and_bandwidth(_machine("hgx-h100", 2), "nvls_tree", "simple") == pytest.approx(
        (66.8, 8 * 57.7 * 16 / 30), rel=1e-6)
    assert M.latency_and_bandwidth(_machine("hgx-h100", 4), "nvls_tree", "simple") == pytest.approx(
        (108.6, 8 * 45.5 * 32 / 62), rel=1e-6)
    # 3 × 8 B200 (4+ column; the network speed not doubled past 2 nodes): 8 × min(48·.74·7/8·2 = 62.16, 48, 80)
    assert M.latency_and_bandwidth(_machine("hgx-b200", 3), "nvls_tree", "simple") == pytest.approx(
        (66.8, 8 * 48 * 24 / 46), rel=1e-6)
    # NVLS on one node only, NVLS-tree on several only, Simple only (tuning.cc:301, 501-506)
    assert not M.enabled(h100, "simple", "nvls_tree") and not M.enabled(_machine("hgx-h100", 2), "simple", "nvls")
    assert not M.enabled(h100, "ll128", "nvls")
    # reduce-scatter on one H100 node: intra × 7/8 instead of × 2, no algBw ratio: 8 × 40·.85·7/8·7/8 GB/s
    assert M.latency_and_bandwidth(h100, "nvls", "simple", "reduce_scatter")[1] == pytest.approx(
        8 * 40 * 0.85 * 7 / 8 * 7 / 8, rel=1e-12)


def test_auto_picks_as_nccls_tuner_on_h100_and_a100_nodes():
    """NCCL's min over its table (enqueue.cc:2028-2047), hand-computed (µs; time = lat + bytes/(1000·algBw)):
    8 × H100, 1 KiB: ring/LL 6.6 + 14·0.6 = 15.0 + 1024/(1000·141·8/14) = 15.013 (ring 12 × 30 = 360 × .5 capped
    at llMax 141), tree/LL 6.8 + 2·7·0.6 = 15.2 + …, NVLS 25 + …: ring/LL.
    8 × H100, 16 MiB: NVLS 25 + 16777216/272000 = 86.68; ring/LL128 14 + 14·1.9 = 40.6 + 16777216/(331.2·8/14
    ·1000) = 129.24; ring/Simple 8.4 + 14·3.4 = 56 + 16777216/(360·8/14·1000) = 137.56: NVLS.
    8 × A100 (no NVLS), 1 GiB: ring/Simple (12 × 20 = 240 × 8/14; 56 + 7829.4 µs) before ring/LL128.
    2 × 8 H100, 256 MiB: NVLS-tree 66.8 + 268435456/246186.7 = 1157.2; ring/Simple (8.4 + 28·3.4 + 2·14)·1.4
    = 184.24 + 268435456/204800 = 1494.96: NVLS-tree. 1 KiB: tree/LL.
    4 × 8 H100, 8 GiB: ring/Simple 282.8·1.4 + 8589934592/(384·32/62·1000) = 43737.1 beats NVLS-tree 108.6 +
    8589934592/187870.97 = 45831.0; at 256 MiB NVLS-tree 1537.4 beats ring 1750.3."""
    h100, a100 = _machine("hgx-h100", 1), _machine("dgx-a100", 1)
    small = M.choose(h100, 1024)
    assert (small.algorithm, small.protocol) == ("ring", "ll")
    assert small.time_s == pytest.approx((15.0 + 1024 / (1000 * 141 * 8 / 14)) * 1e-6, rel=1e-9)
    big = M.choose(h100, 16 << 20)
    assert (big.algorithm, big.time_s) == ("nvls", pytest.approx((25 + (16 << 20) / 272000) * 1e-6, rel=1e-9))
    assert big.alternatives["ring", "simple"] == pytest.approx((56 + (16 << 20) / (360 * 8 / 14 * 1000)) * 1e-6)
    assert ("nvls", "ll") not in big.alternatives  # NCCL rates NVLS in Simple only
    a = M.choose(a100, 1 << 30)
    assert (a.algorithm, a.protocol) == ("ring", "simple") and a.alternatives["nvls", "simple"] is None
    two = _machine("hgx-h100", 2)
    pick = M.choose(two, 256 << 20)
    assert pick.algorithm == "nvls_tree"
    assert pick.time_s == pytest.approx((66.8 + (256 << 20) / (8 * 57.7 * 16 / 30 * 1000)) * 1e-6, rel=1e-6)
    assert pick.alternatives["ring", "simple"] == pytest.approx((184.24 + (256 << 20) / 204800) * 1e-6, rel=1e-6)
    assert (M.choose(two, 1024).algorithm, M.choose(two, 1024).protocol) == ("tree", "ll")
    four = _machine("hgx-h100", 4)
    assert M.choose(four, 256 << 20).algorithm == "nvls_tree"
    huge = M.choose(four, 8 << 30)
    assert (huge.algorithm, huge.protocol) == ("ring", "simple")
    assert huge.alternatives["nvls_tree", "simple"] == pytest.approx((108.6 + (8 << 30) / (364 * 32 / 62 * 1000)) * 1e-6,
                                                                     rel=1e-6)


def test_the_plan_runs_nvls_through_the_switch_and_says_nvls_tree_is_nccls_pick_across_nodes():
    """One H100 node, 16 MiB: the plan runs NVLS on 16 CTAs (nvls.cc:155), the NVSwitch as the schedule's
    participant after the ranks, NCCL's 25 µs before it, GPU–switch links at 272 × 9/8 = 306 GB/s."""
    graph = topology.build("cluster", 8, 1.0, 0.0, preset="hgx-h100", nodes=1)
    plan = M.plan(graph, 16 << 20)
    assert (plan.algorithm, plan.channels, plan.servers) == ("nvls", 16, (SWITCH,))
    assert plan.base_latency_s == pytest.approx(25e-6, rel=1e-12)
    assert plan.graph.edges[0, SWITCH]["bandwidth"] == pytest.approx(272e9 * 9 / 8, rel=1e-12)
    assert plan.graph.edges[0, SWITCH]["latency"] == 0.0
    two = topology.build("cluster", 16, 1.0, 0.0, preset="hgx-h100", nodes=2)
    assert M.plan(two, 256 << 20).algorithm == "ring"  # NVLS-tree is predicted, not scheduled
    assert M.choose(M.machine(two), 256 << 20).algorithm == "nvls_tree"


# -- the NVLS schedule -----------------------------------------------------------------------------
def _switch_node(n: int, rate: float):
    graph = topology.build("cluster", n, 1.0, 0.0, preset="hgx-h100", nodes=1, gpus_per_node=n, nics_per_node=n)
    for _, _, data in graph.edges(SWITCH, data=True):
        data["bandwidth"], data["latency"] = rate, 0.0
    return graph


def _both_engines(n: int, p: int, w: int, channels: int, graph) -> tuple[np.ndarray, object, object]:
    schedule = nvls.nccl_nvls_schedule(n, p, w, channels=channels, gpus_per_node=n)
    nodes = participant_nodes(schedule, n, (SWITCH,))
    program = one_call(schedule, nodes, n, (SWITCH,))
    fast = schedule_engine.run_program(program, graph)
    slow = message_engine.run_program(program, graph)
    return fast.finish_s, fast, slow


@pytest.mark.parametrize(("loops", "chunk"), [(5, 32768), (3, 16384)])
def test_nvls_time_equals_its_closed_form_on_a_contention_free_switch_on_both_engines(loops, chunk):
    """4 GPUs, one channel of L loops of 4 chunks (640 KiB: under 8·4·64 KiB, not under 2·4·32 KiB, so 32 KiB
    chunks; 192 KiB: 16 KiB chunks), links of R = 100 GB/s, no latency: rounds 0, 1 and the last two move n·c
    over a GPU's link, the L − 1 between (n + 1)·c: T = (4n + (L − 1)(n + 1))·c/R, on both engines to 1e-9,
    the same messages (2n + 2 per piece) and bytes per link ((n + 1)·c·L each way)."""
    n, w, rate = 4, 4, 100e9
    p = loops * n * chunk // w
    assert nvls.chunk_bytes(p * w, n) == chunk
    finish, fast, slow = _both_engines(n, p, w, 1, _switch_node(n, rate))
    expected = (4 * n + (loops - 1) * (n + 1)) * chunk / rate
    assert float(finish[:n].max()) == pytest.approx(expected, rel=1e-9)
    assert slow.finish_s[:n].tolist() == pytest.approx(finish[:n].tolist(), rel=1e-9)
    assert fast.messages == slow.messages == loops * n * (2 * n + 2)
    assert fast.sizes == slow.sizes == {chunk: loops * n * (2 * n + 2)}
    assert fast.sizes == nvls.message_sizes(n, p, w, 1, "simple")
    assert fast.bytes_per_link == slow.bytes_per_link
    assert fast.bytes_per_link[f"0->{SWITCH}"] == fast.bytes_per_link[f"{SWITCH}->0"] == (n + 1) * chunk * loops


def test_nvls_chunks_and_the_last_short_loop_by_hand():
    """enqueue.cc:2262-2274 on a channel of B bytes, 8 heads: 128 KiB from 64 MiB up, 64 KiB below, 32 KiB below
    8·8·64 KiB = 4 MiB, 16 KiB below 2·8·32 KiB = 512 KiB. all_reduce.h:416: 37,768 floats over 4 heads in 16 KiB
    chunks (151,072 B < 256 KiB): 2 loops of 4 × 4096, then ⌈5000/4⌉ = 1250 rounded up to 4096 per head:
    head 0 takes 4096, head 1 the last 904, heads 2 and 3 nothing."""
    assert [nvls.chunk_bytes(b, 8) for b in (64 << 20, (64 << 20) - 1, (4 << 20) - 1, (512 << 10) - 1, 100)] == [
        131072, 65536, 32768, 16384, 16384]
    assert nvls.chunk_bytes(4 << 20, 8) == 65536 and nvls.chunk_bytes(512 << 10, 8) == 32768
    loops = nvls.pieces(37768, 4, 4)
    assert len(loops) == 3 and loops[1] == [(h, 16384 + 4096 * h, 16384 + 4096 * (h + 1)) for h in range(4)]
    assert loops[2] == [(0, 32768, 36864), (1, 36864, 37768)]


def _scenario(engine: str, payload: str, params: int) -> str:
    return (f"name: nvls\nworkers: 4\nparams: {params}\nmodel: nccl\nalgorithms: [nvls]\nengine: {engine}\n"
            f"payload: {payload}\ntopology: {{kind: cluster, preset: hgx-h100, nodes: 1, gpus_per_node: 4}}\n")


def _run(text: str):
    loaded = scenario.parse(yaml.safe_load(text), "nvls.yaml")
    (point,) = loaded.runs()
    return points.simulate_run(loaded, point)


def test_nvls_scenario_leaves_the_mean_and_both_engines_agree():
    """``algorithms: [nvls]`` on 4 H100 GPUs: every rank ends with the mean (real buffers, message engine), and
    the two engines give the same makespan (to 1e-9), messages and bytes per link on sizes alone."""
    data = _run(_scenario("message", "data", 50_000))
    assert data.ok and data.nccl["algorithm"] == "nvls"
    a, b = (_run(_scenario(engine, "size-only", 50_000)) for engine in ("message", "schedule"))
    assert a.makespan_s == pytest.approx(b.makespan_s, rel=1e-9)
    assert (a.messages, a.bytes_per_link) == (b.messages, b.bytes_per_link)


def test_nvls_on_an_a100_node_is_not_run_and_says_why():
    """A100 has no NVLS (sm80): the point is not applicable, with NCCL's reason in one line."""
    run = _run(_scenario("schedule", "size-only", 1000).replace("hgx-h100", "dgx-a100"))
    assert isinstance(run, points.NotApplicable)
    assert run.reason == "algorithms: nvls needs sm90+ GPUs on an NVSwitch, one node (NCCL search.cc:1124)"
    assert "\n" not in run.reason


# -- small messages -------------------------------------------------------------------------------
def test_small_message_channels_and_threads_on_an_h100_node_by_hand():
    """enqueue.cc:2070-2116, 585-720 on 8 × H100 (24 channels): ring Simple, 512 threads, threshold 64 → a channel
    per 32 KiB: 256 KiB → 8 (cells of 16 KiB, 2 per channel: 8), + 1 warp = 544 threads; 1 MiB → nc 24, traffic
    2 MiB/24 = 87,392 per channel = 3 cells → 1 + 20 + 1 = 22 channels; 64 KiB → 2; 1 KiB → 1 channel, threads
    512 → 64 (halved while 1024 < 1·t·64 and t a multiple of 128) + 32 = 96. Tree LL128 (640 threads, threshold
    8), 64 KiB: nc 12 (61,440 ≤ 65,536 < 66,560), 4 cells of 16 KiB, 1 per channel: 4. NVLS: 16 CTAs, 640."""
    m = _machine("hgx-h100", 1)
    assert M.launch(m, "ring", "simple", 256 << 10, "allreduce", 4) == M.Launch(8, 544, 24)
    assert M.launch(m, "ring", "simple", 1 << 20, "allreduce", 4).channels == 22
    assert M.launch(m, "ring", "simple", 64 << 10, "allreduce", 4).channels == 2
    assert M.launch(m, "ring", "simple", 1024, "allreduce", 4) == M.Launch(1, 96, 24)
    assert M.launch(m, "tree", "ll128", 64 << 10, "allreduce", 4) == M.Launch(4, 640, 24)
    assert M.launch(m, "nvls", "simple", 64 << 20, "allreduce", 4) == M.Launch(16, 640, 16)
    graph = topology.build("cluster", 8, 1.0, 0.0, preset="hgx-h100", nodes=1)
    assert M.plan(graph, 256 << 10, ("ring",), ("simple",)).channels == 8


@pytest.mark.parametrize(("nbytes", "nodes", "chunk"), [
    (8_640_000, 1, 576_000), (8_639_999, 1, 288_000), (4_320_000, 1, 288_000), (4_319_999, 1, 144_000),
    (2_160_000, 1, 144_000), (2_159_999, 1, 71_040), (288_000, 1, 71_040), (287_999, 1, 34_560),
    (144_000, 1, 34_560), (143_999, 1, 17_280), (13_248_000, 2, 576_000), (13_247_999, 2, 288_000)])
def test_tree_ll128_chunk_rule_at_its_boundaries(nbytes, nodes, chunk):
    """enqueue.cc:2286-2294, 2321, ppn 8: s = 1 + lg(nodes) + 0.8; halve 576,000 while ⌊B/chunk⌋ < 64·s/8 (14.4
    on one node: B < 15 chunks; 22.4 on two: B < 23) and chunk > 128 KiB (576,000 → 288,000 → 144,000 → 72,000),
    then while ⌊B/chunk⌋ < 16·s/8 = 3.6 (B < 4 chunks) and chunk > 32 KiB (→ 36,000 → 18,000); align down to
    1920 B (72,000 → 71,040; 36,000 → 34,560; 18,000 → 17,280)."""
    assert tree.chunk_bytes("ll128", nbytes, nodes, 8) == chunk


def test_tree_ll128_chunk_rule_compares_strictly():
    """With 40 GPUs a node s = 1 + 0 + 4 = 5 and 64·s/40 = 8 exactly: ⌊4,608,000/576,000⌋ = 8 is not below it
    (576,000 stays), one byte less is (288,000)."""
    assert tree.chunk_bytes("ll128", 4_608_000, 1, 40) == 576_000
    assert tree.chunk_bytes("ll128", 4_607_999, 1, 40) == 288_000


def test_the_tree_schedule_takes_the_ll128_chunk_rule():
    """8 GPUs, one channel of 35,999 floats (143,996 B): 17,280-byte chunks, ⌈35,999/4320⌉ = 9 of them, each
    crossing the 7 tree edges up and down: 126 messages (a fixed 576,000 B chunk would make it 14)."""
    sizes = tree.message_sizes(8, 35_999, 4, 1, "ll128", gpus_per_node=8)
    assert sum(sizes.values()) == 9 * 2 * 7


def test_tree_bandwidth_times_085_with_one_gpu_per_node():
    """tuning.cc:336 with search.cc:1133 (one GPU per node: the tree's pattern is TREE): 4 Ethernet nodes, one
    channel of 12 GB/s (100 GbE; PCIe Gen4 as NCCL counts it 24): tree Simple min(12·.92, 17.8) × .85 × .5 =
    4.692 GB/s; the ring unchanged, 12 × 4/6 = 8."""
    m = _machine("ethernet", 4, 1)
    assert M.channels(m) == M.Channels(1, 12.0, 2)
    assert M.latency_and_bandwidth(m, "tree", "simple")[1] == pytest.approx(12 * 0.92 * 0.85 * 0.5, rel=1e-12)
    assert M.latency_and_bandwidth(m, "ring", "simple")[1] == pytest.approx(8.0, rel=1e-12)


@settings(max_examples=15, deadline=None)
@given(n=st.sampled_from([2, 3, 4]), p=st.integers(1, 40_000), channels=st.integers(1, 3))
def test_nvls_leaves_every_rank_the_mean_and_the_engines_agree_at_any_size(n, p, channels):
    """Any small node, size and channel count (partial last loops, heads with nothing, channels of one loop):
    on real buffers every rank ends with the exact mean of the n inputs (integers, so sums are exact), and the
    schedule engine gives the message engine's per-rank finish (to 1e-9), messages, sizes and bytes per link —
    the sizes also NVLS's formula (2n + 2 crossings per piece)."""
    graph = _switch_node(n, 50e9)
    schedule = nvls.nccl_nvls_schedule(n, p, 8, channels=channels, gpus_per_node=n)
    nodes = participant_nodes(schedule, n, (SWITCH,))
    program = one_call(schedule, nodes, n, (SWITCH,))
    rng = np.random.default_rng(p)
    x = [rng.integers(-64, 64, p).astype(np.float64) for _ in range(n)]
    hooks = message_engine.Hooks(x, 8)
    slow = message_engine.run_program(program, graph, hooks=hooks)
    for result in slow.results:
        np.testing.assert_array_equal(result, np.mean(np.stack(x), axis=0))
    fast = schedule_engine.run_program(program, graph)
    assert fast.finish_s[:n].tolist() == pytest.approx(slow.finish_s[:n].tolist(), rel=1e-9)
    assert (fast.messages, fast.sizes, fast.bytes_per_link) == (slow.messages, slow.sizes, slow.bytes_per_link)
    assert fast.sizes == nvls.message_sizes(n, p, 8, channels, "simple")


def test_the_budget_estimate_of_nvls_bounds_what_it_sends():
    """1 MiB of NVLS on 4 H100 GPUs, 16 CTAs of 64 KiB (16 KiB chunks: one loop of 4 heads × 16 KiB):
    16 · 4 · (2·4 + 2) = 640 messages sent; the estimate counts (C channels · 4 + 1 MiB / 16 KiB) · 10, C the
    most channels NCCL's search gives the node (its ring/tree ones or its NVLS ones), never fewer than sent."""
    from commsim import budget
    from commsim.collectives.nccl import model

    loaded = scenario.parse(yaml.safe_load(_scenario("schedule", "size-only", 262_144)), "nvls.yaml")
    (point,) = loaded.runs()
    sent = points.simulate_run(loaded, point).messages
    assert sent == 16 * 4 * 10
    machine = model.machine(point.topology.build(4, ["nvls"]))
    most = max(model.channels(machine).comm, model.nvls_graph(machine).channels)
    assert budget.estimate(loaded, point).messages == (most * 4 + 64) * 10 >= sent


def test_nvls_loops_by_hand_where_the_last_chunk_differs_and_channels_differ():
    """all_reduce.h:413-455 with 32 KiB chunks (4 heads, 70,536 floats = 282,144 B: ≥ 2·4·32 KiB, < 8·4·64 KiB):
    loops of 4 × 8192; the rest, 5000, in chunks of ⌈5000/4⌉ = 1250 rounded up to 4096, not 8192: head 0 4096,
    head 1 the last 904. 36,864 floats in 16 KiB chunks: the rest 4096 is head 0's whole, head 1's piece empty
    (none sent). Two channels of 4096 and 4097 floats over 2 heads (16 KiB chunks, loops of 4096): 1 and 2
    loops, so 2 + 3 rounds; in each round B the heads divide what they received (loop 0: heads 0 and 1, 0:2048
    and 2048:4096), in round 2 also the second channel's head 0 its one float. One rank: nothing to send."""
    loops = nvls.pieces(70_536, 4, 4)
    assert len(loops) == 3 and loops[1][3] == (3, 32768 + 3 * 8192, 65536)
    assert loops[2] == [(0, 65536, 69632), (1, 69632, 70536)]
    assert nvls.pieces(36_864, 4, 4)[2] == [(0, 32768, 36864)]
    schedule = nvls.nccl_nvls_schedule(2, 8193, 8, channels=2, gpus_per_node=2)
    assert schedule.rounds == 5 and schedule.participants == 3
    b = schedule.round(1)
    assert [column.tolist() for column in b.scale] == [[0, 1, 0, 1], [0, 2048, 4096, 6144], [2048, 4096, 6144, 8192]]
    assert [column.tolist() for column in schedule.round(2).scale] == [[0], [8192], [8193]]
    assert nvls.nccl_nvls_schedule(1, 10, 4).rounds == 0 and nvls.nccl_nvls_schedule(1, 10, 4).participants == 1


@pytest.mark.parametrize(("options", "graph"), [
    ({"nodes": 1, "gpus_per_node": 4}, M.NvlsGraph(4, 60.0, 60.0)),
    ({"nodes": 2, "nics_per_node": 4}, M.NvlsGraph(4, 48.0, 48.0)),
    ({"nodes": 2, "nic_bandwidth": "200 Gbit/s"}, M.NvlsGraph(8, 24.0, 24.0)),
    ({"nodes": 1, "nvlink_bandwidth": "100 GB/s"}, M.NvlsGraph(8, 6.0, 12.0)),
    ({"nodes": 2, "nvlink_bandwidth": "100 GB/s", "nic_bandwidth": "100 Gbit/s"}, M.NvlsGraph(8, 6.0, 12.0)),
    ({"nodes": 2, "nics_per_node": 1}, M.NvlsGraph(1, 48.0, 48.0)),
    ({"nodes": 1, "nvlink_bandwidth": "25 GB/s"}, None)])
def test_nvls_search_on_other_h100_nodes_by_hand(options, graph):
    """search.cc's NVLS search, by hand. 4 GPUs: start at 60 (60·4 ≤ 370.8·4/3), 4 heads fit ((4 + 1)·60 = 300 ≤
    370.8), 60 is the top speed. 2 × 8 with 4 NICs: 4 channels at most (a NIC each); 48 fits them (5·48 = 240),
    nothing slower beats 4 × 48, the network speed is already the reach (PCIe 48). 2 × 8 with 200 Gbit/s NICs:
    the reach is 25, the first speed under it 24 fits all 8 heads (9·24 ≤ 370.8), 30 is beyond the NIC so pass 2
    stops. One node with 100 GB/s of NVLink (4 links, 82.4 GB/s as NCCL counts): start where 8·s ≤ 82.4·8/7 =
    94.2 (11), 11 fits 6 heads only (⌊82.4/11⌋ − 1), 6 fits all 8; pass 2 raises the network speed 6 → 11 → 12,
    stopping at 2 × 6. The same across 2 nodes with 100 Gbit/s NICs (reach 12.5): 12 fits 5, 6 all 8; pass 2
    reaches 12 (≤ 12.5), not 15. One NIC a node: one channel (48 GB/s), too few for NVLS-tree. One NVLink (20.6
    GB/s): 9·s ≤ 20.6 needs s ≤ 2.29, below the list's 3: no NVLS."""
    m = M.machine(topology.build("cluster", 8 * options["nodes"] if "gpus_per_node" not in options else 4, 1.0, 0.0,
                                 preset="hgx-h100", **options))
    assert M.nvls_graph(m) == graph
    assert M.enabled(m, "simple", "nvls" if options["nodes"] == 1 else "nvls_tree") == (graph is not None
                                                                                      and graph.channels >= 2)


def test_small_message_thresholds_of_ll_and_the_last_channel_by_hand():
    """Ring LL's threshold is 8 × ranks (tuning.cc:593): 256 KiB on 8 × H100 drops to 8 channels (8 · 512 · 64 =
    256 KiB), cells of 4 KiB (32 KiB / (2 × 4)), 8 per channel: 8 channels, 512 threads. The tree's LL threshold is
    8: 24 channels stay, traffic 2 MiB / 24 = 87,392 a channel, 3 cells of 32 KiB traffic each: 1 + 20 + 1 = 22
    channels, 640 threads (the tree always). Ring Simple, 40,000 B: one channel (40,000 < 2 · 512 · 64), where
    40,000 ≥ 512 · 64 keeps 512 threads (+ 32)."""
    m = _machine("hgx-h100", 1)
    assert M.launch(m, "ring", "ll", 256 << 10, "allreduce", 4) == M.Launch(8, 512, 24)
    assert M.launch(m, "tree", "ll", 256 << 10, "allreduce", 4) == M.Launch(22, 640, 24)
    assert M.launch(m, "ring", "simple", 40_000, "allreduce", 4) == M.Launch(1, 544, 24)
    assert M.launch(m, "ring", "ll", 1024, "allreduce", 4).threads == 96  # 512 → 64 (not a multiple of 128), ≥ 3 warps
    assert M.launch(m, "ring", "simple", 0, "allreduce", 4).channels == 1  # nothing to send: one channel
    # 1,179,640 B: 24 channels, traffic 2,359,280 / 24 = 98,303, rounded up to 16 B = 98,304 = 3 cells' traffic,
    # 72 cells: 24 channels of 3 (rounded to 17 B it would be 98,311, 4 cells a channel, 18 channels)
    assert M.launch(m, "ring", "simple", 1_179_640, "allreduce", 4).channels == 24


def test_the_cells_fill_both_channels_of_a_two_channel_machine():
    """4 one-GPU Ethernet nodes run NCCL's 2 channels (1 × 12 GB/s, doubled): 1 MiB ring Simple keeps both (1 MiB ≥
    2 · 256 · 64; 256 threads as channels × speed = 12 ≤ PCI_BW), 64 cells of 16 KiB, 32 a channel (2 MiB of
    traffic / 2): 2 channels, 288 threads."""
    m = _machine("ethernet", 4, 1)
    assert M.launch(m, "ring", "simple", 1 << 20, "allreduce", 4) == M.Launch(2, 288, 2)


def test_reduce_scatter_cells_on_six_ranks_by_hand():
    """Reduce-scatter on a 6-GPU H100 node (24 channels): traffic per byte 6, cells ⌈⌈32,768/6⌉ = 5462 / 16⌉ · 16 =
    5472 B. 328,320 B in all (the tuner's bytes): 10 channels (10 · 512 · 64 ≤ 328,320 < 11 · …); the task's
    54,720 B are 10 cells, traffic 328,320 / 10 = 32,832 a channel = one cell's (5472 · 6): 10 channels."""
    m = M.machine(topology.build("cluster", 6, 1.0, 0.0, preset="hgx-h100", nodes=1, gpus_per_node=6))
    assert M.launch(m, "ring", "simple", 328_320, "reduce_scatter", 4) == M.Launch(10, 544, 24)


def test_nvls_ctas_follow_the_architecture_and_the_nodes():
    """NCCL's NVLS CTAs (src/transport/nvls.cc:155-157, 209-213): NVLS_NCHANNELS_SM90 = 16 on Hopper on one node
    or several, NVLS_NCHANNELS_SM100_NVL = 24 on one Blackwell node, NVLS_NCHANNELS_SM100 = 32 on two (where its
    SM100 multi-node tuning, nvls.cc:171-176, keeps 32 for 2 nodes); a 64 MiB call fills them all."""
    for preset, nodes, ctas in (("hgx-h100", 1, 16), ("hgx-h100", 2, 16), ("hgx-b200", 1, 24), ("hgx-b200", 2, 32)):
        launch = M.launch(_machine(preset, nodes), "nvls" if nodes == 1 else "nvls_tree", "simple", 64 << 20,
                          "allreduce", 4)
        assert launch == M.Launch(ctas, 640, ctas), (preset, nodes)


def test_nvls_runs_on_a_graph_of_exactly_two_channels():
    """tuning.cc:308-309: NVLS and NVLS-tree need at least 2 graph channels. One node of 2 H100s: both GPUs
    heads, (2 + 1)·60 ≤ 370.8 GB/s, 2 channels: NVLS runs. Two nodes of 8 with 2 NICs each: a channel per NIC,
    48 GB/s (the GPU's PCIe reach), (2 + 1)·48 ≤ 370.8: 2 channels, NVLS-tree runs; with 1 NIC a node, 1
    channel: it does not."""
    def build(nodes, gpus, nics):
        return M.machine(topology.build("cluster", nodes * gpus, 1.0, 0.0, preset="hgx-h100", nodes=nodes,
                                        gpus_per_node=gpus, nics_per_node=nics))

    pair, two_nics, one_nic = build(1, 2, 2), build(2, 8, 2), build(2, 8, 1)
    assert M.nvls_graph(pair).channels == 2 and M.enabled(pair, "simple", "nvls")
    assert M.nvls_graph(two_nics) == M.NvlsGraph(2, 48.0, 48.0) and M.enabled(two_nics, "simple", "nvls_tree")
    assert M.nvls_graph(one_nic).channels == 1 and not M.enabled(one_nic, "simple", "nvls_tree")


def test_nvls_reduce_scatter_needs_at_most_32_gpus_a_node():
    """enqueue.cc:2004-2005: NVLS runs collectives other than all-reduce only with at most NCCL_MAX_NVLS_ARITY =
    32 local ranks. One node of 40 H100s: NVLS all-reduce is rated (32 heads of 11 GB/s: 33 × 11 ≤ 370.8), NVLS
    reduce-scatter and all-gather are not, the ring's are; on 32 GPUs NVLS reduce-scatter is rated."""
    def node(gpus):
        return M.machine(topology.build("cluster", gpus, 1.0, 0.0, preset="hgx-h100", nodes=1, gpus_per_node=gpus))

    wide, full = node(40), node(32)
    assert M.nvls_graph(wide).channels == 32
    assert M.time_s(wide, "nvls", "simple", 1 << 20) is not None
    assert M.time_s(wide, "nvls", "simple", 1 << 20, "reduce_scatter") is None
    assert M.time_s(wide, "nvls", "simple", 1 << 20, "all_gather") is None
    assert M.time_s(wide, "ring", "simple", 1 << 20, "reduce_scatter") is not None
    assert M.time_s(full, "nvls", "simple", 1 << 20, "reduce_scatter") is not None


@pytest.mark.parametrize(("nbytes", "factor"), [(63, 1.0), (64, 0.9), (8 << 20, 0.8), ((1 << 30) - 1, 0.9), (1 << 30, 1.0)])
def test_nvls_tree_takes_the_tree_correction_on_blackwell_only(nbytes, factor):
    """tuning.cc:639-646: NVLS-tree all-reduce on sm100 (x86) takes treeCorrectionFactor[Simple][⌊lg(B/64)⌋] for
    indices 0..23: none below 64 B, .9 at 64 B (index 0), .8 at 8 MiB (17), .9 just under 1 GiB (23), none at 1 GiB
    (24). 3 × 8 B200: 66.8 µs and 8 × 48 × 24/46 GB/s (test above). 2 × 8 H100 (sm90): never, 66.8 µs and
    8 × 57.7 × 16/30 GB/s."""
    b200, h100 = _machine("hgx-b200", 3), _machine("hgx-h100", 2)
    # the time less the latency, in µs: the bandwidth term alone (64 B takes 0.0004 µs of 66.8)
    assert M.time_s(b200, "nvls_tree", "simple", nbytes) * 1e6 - 66.8 == pytest.approx(
        nbytes / (1000 * 8 * 48 * 24 / 46 * factor), rel=1e-6)
    assert M.time_s(h100, "nvls_tree", "simple", nbytes) * 1e6 - 66.8 == pytest.approx(
        nbytes / (1000 * 8 * 57.7 * 16 / 30), rel=1e-6)


def test_choosing_among_nvls_algorithms_where_there_is_no_nvls_says_why():
    """An A100 node (sm80: no NVLS graph, search.cc:1124) asked for NVLS and NVLS-tree only: the reason is the
    missing NVLS, not the protocols."""
    with pytest.raises(ValueError, match=r"^algorithms: nvls/nvls_tree needs sm90\+ GPUs"):
        M.choose(_machine("dgx-a100", 1), 1 << 20, ("nvls", "nvls_tree"))


def test_threads_per_channel_by_algorithm_and_protocol():
    """tuning.cc:244-256: ring Simple 256 threads where the ring graph's channels × speed ≤ PCI_BW = 12 GB/s (4
    Ethernet nodes: 1 channel of 12), else 512; tree Simple 512 either way; LL 512; LL128 640 on ring and tree;
    NVLS 640."""
    slow, h100 = M.machine(topology.build("cluster", 4, 1.0, 0.0, preset="ethernet", nodes=4)), _machine("hgx-h100", 1)
    assert M.channels(slow) == M.Channels(1, 12.0, 2)
    assert [M.max_threads(slow, a, p) for a in ("ring", "tree") for p in ("simple", "ll", "ll128")] == [
        256, 512, 640, 512, 512, 640]
    assert [M.max_threads(h100, a, p) for a in ("ring", "tree") for p in ("simple", "ll", "ll128")] == [
        512, 512, 640, 512, 512, 640]
    assert M.max_threads(h100, "nvls", "simple") == 640


def test_a_broadcast_moves_one_byte_per_byte_into_its_cells():
    """64 KiB on an H100 node, ring LL128: 24 channels cut to 12 (12 × 640 × 8 = 61,440 ≤ 65,536), 640 threads.
    A broadcast's traffic is 1 B a byte (enqueue.cc:91-102): cells of 32 KiB, 2 of them, one per channel: 2
    channels. An all-reduce's 2 B a byte: cells of 16 KiB, traffic 128 KiB / 12 = 10,928 B a channel, one cell
    each: 4 channels."""
    h100 = _machine("hgx-h100", 1)
    assert M.launch(h100, "ring", "ll128", 64 << 10, "broadcast", 4) == M.Launch(2, 640, 24)
    assert M.launch(h100, "ring", "ll128", 64 << 10, "allreduce", 4) == M.Launch(4, 640, 24)


def test_a_channel_takes_the_cells_its_traffic_rounds_up_to():
    """400,000 B all-reduce, ring LL128 on an H100 node: all 24 channels (400,000 ≥ 24 × 640 × 8), traffic 2 B a
    byte: 800,000 / 24 = 33,333 B a channel, up to 16 B: 33,344 (enqueue.cc:618); cells of 16 KiB carry 32 KiB of
    traffic, so a channel takes ⌈33,344 / 32,768⌉ = 2 (enqueue.cc:659-664) of the ⌈400,000 / 16,384⌉ = 25 cells:
    13 channels."""
    assert M.launch(_machine("hgx-h100", 1), "ring", "ll128", 400_000, "allreduce", 4) == M.Launch(13, 640, 24)


def test_an_empty_send_takes_one_channel_in_ll():
    """enqueue.cc:916-917, 929: a send of 0 B takes 1 channel and LL (0 ≤ 1 × the LL threshold), as one of 1 B
    does. An all-to-all of 16 B among 8 ranks (fewer floats than ranks) sends 0 B to each peer: NCCL's plan is 1
    part in LL."""
    graph = topology.build("cluster", 8, 1.0, 0.0, preset="hgx-h100", nodes=1)
    channels = M.p2p_channels(M.machine(graph))
    assert channels.send(0) == channels.send(1) == (1, "ll")
    planned = M.plan(graph, 16, collective=M.ALLTOALL)
    assert (planned.channels, planned.protocol) == (1, "ll")


def test_a_small_all_to_all_send_takes_a_part_per_minimum_part():
    """8 H100s in a node (p2p: min 4 parts, parts ≥ 512 KiB / 8 = 64 KiB): an all-to-all of 800,000 B sends
    100,000 B to each peer in min(4, ⌈100,000 / 65,536⌉) = 2 parts, Simple (100,000 > 2 × 16 KiB; enqueue.cc:
    919-933); each part ⌈50,000 / 4 KiB⌉ × 4 KiB = 53,248 B, the second the 46,752 left (device.h:260-270): 56
    sends of each."""
    graph = topology.build("cluster", 8, 1.0, 0.0, preset="hgx-h100", nodes=1)
    planned = M.plan(graph, 800_000, collective=M.ALLTOALL)
    assert (planned.channels, planned.protocol) == (2, "simple")
    schedule = planned.make(8, 200_000, 4)
    assert sorted(schedule.round(0).nbytes.tolist()) == [46_752] * 56 + [53_248] * 56
    assert planned.message_sizes(8, 200_000, 4) == {46_752: 56, 53_248: 56}


def test_a_part_of_exactly_the_largest_size_is_not_split():
    """2 × 8 H100 (p2p: 1 part at least, 4 at most, chunk 128 KiB: parts of 64 to 128 KiB): 131,072 B is one part
    of exactly the largest, not split (enqueue.cc:923 partSize > maxPartSize); one byte more is 2 parts."""
    channels = M.p2p_channels(_machine("hgx-h100", 2))
    assert (channels.per_peer, channels.min_parts, channels.chunk) == (4, 1, 131_072)
    assert channels.send(131_072) == (1, "simple")
    assert channels.send(131_073) == (2, "simple")


@pytest.mark.parametrize(("preset", "gpus", "options", "per_peer"), [
    ("hgx-h100", 8, {}, 4),
    ("hgx-h100", 8, {"nics_per_node": 16, "nic_bandwidth": "100 Gbit/s"}, 2),
    ("hgx-h100", 8, {"nics_per_node": 16}, 4),
    ("hgx-h100", 8, {"nics_per_node": 24, "nic_bandwidth": "40 Gbit/s"}, 4),
    ("hgx-h100", 1, {}, 4),
    ("ethernet", 1, {}, 1),
    ("ethernet", 2, {"nic_bandwidth": "400 Gbit/s", "pcie_bandwidth": "64 GB/s"}, 2)])
def test_p2p_channels_per_peer_across_two_nodes_by_hand(preset, gpus, options, per_peer):
    """paths.cc:920-953, topo.cc:1974-1998: a GPU counts its NICs, each at min(PCIe, NIC), until they reach its
    PCIe; a remote peer gets max(NICs, ⌈⌊GB/s⌋ / 14⌉), a local one 2 × NVLink links (H100: 36) or 2 over PCIe; the
    fewest, up to a power of two (paths.cc:976), halved while × ⌈n/8⌉ > the p2p channels. H100 (PCIe 48): 1 NIC
    of 50 a GPU reaches 48: ⌈48/14⌉ = 4; 2 of 12.5: 25, max(2, 2) = 2; 2 of 50: the first reaches 48, stop: 4 (not
    2 at 96: 7 → 8); 3 of 5: 15, max(3, 2) = 3 → 4; one H100 a node, 8 NICs: 4, and 4 × ⌈2/8⌉ is not above its 4
    channels. Ethernet (1 NIC of 12.5): ⌈12/14⌉ = 1, pow2Up(1) = 1. 2 GPUs over PCIe (64 GB/s raw: 48.75) with a
    50 GB/s NIC: the network 4, the local peer over PCIe 2: 2."""
    m = M.machine(topology.build("cluster", 2 * gpus, 1.0, 0.0, preset=preset, nodes=2, gpus_per_node=gpus,
                                 **options))
    assert M.p2p_channels(m).per_peer == per_peer
    if preset == "hgx-h100" and gpus == 1:
        assert M.p2p_channels(m).channels == 4


def test_p2p_channels_per_peer_halve_down_to_one_on_many_nodes():
    """9 nodes of 2 PCIe GPUs with 50 GB/s NICs (PCIe 64 GB/s raw: 48.75): 2 channels per peer (the local peer
    over PCIe), 4 p2p channels; 2 × ⌈18/8⌉ = 6 > 4: halved to 1 (paths.cc:997-1000). An all-to-all of 7,200,000
    B sends 400,000 B to each peer in min(1, ⌈400,000 / 64 KiB⌉) = 1 part, Simple: 18 × 17 = 306 messages."""
    graph = topology.build("cluster", 18, 1.0, 0.0, preset="ethernet", nodes=9, gpus_per_node=2,
                           nic_bandwidth="400 Gbit/s", pcie_bandwidth="64 GB/s")
    assert M.p2p_channels(M.machine(graph)).per_peer == 1
    planned = M.plan(graph, 7_200_000, collective=M.ALLTOALL)
    assert (planned.channels, planned.protocol) == (1, "simple")
    assert planned.make(18, 1_800_000, 4).round(0).nbytes.tolist() == [400_000] * 306


def test_p2p_channels_per_peer_halve_on_two_nodes_and_stop_at_one():
    """paths.cc:993-1000, on any number of nodes above one: 2 × 8 H100 with 64 NICs a node and PCIe of 256 GB/s raw
    (195): 4 NICs of 50 reach 200 ≥ 195, max(4, ⌈200/14⌉ = 15) = 15 → 16 per peer; 16 × ⌈16/8⌉ = 32 > 16 p2p
    channels: 8. 17 Ethernet nodes: 1 per peer, 1 × ⌈17/8⌉ = 3 > 2 channels, but never below 1."""
    wide = topology.build("cluster", 16, 1.0, 0.0, preset="hgx-h100", nodes=2, nics_per_node=64, pcie_bandwidth="256 GB/s")
    assert (M.p2p_channels(M.machine(wide)).channels, M.p2p_channels(M.machine(wide)).per_peer) == (16, 8)
    many = topology.build("cluster", 17, 1.0, 0.0, preset="ethernet", nodes=17)
    assert (M.p2p_channels(M.machine(many)).channels, M.p2p_channels(M.machine(many)).per_peer) == (2, 1)


def test_an_all_to_all_send_of_exactly_16_kib_goes_as_ll():
    """8 H100s in a node, an all-to-all of 131,103 B: 32,775 floats (4 B each unless told), 4096 to each rank:
    16,384 B to each peer, 1 part, and 16,384 ≤ 1 × 16 KiB: LL (enqueue.cc:932); 131,232 B (32,808 floats, 4101 a
    rank) is 16,404 B to each peer: Simple."""
    graph = topology.build("cluster", 8, 1.0, 0.0, preset="hgx-h100", nodes=1)
    planned = M.plan(graph, 131_103, collective=M.ALLTOALL)
    assert (planned.channels, planned.protocol) == (1, "ll")
    assert M.plan(graph, 131_232, collective=M.ALLTOALL).protocol == "simple"


def test_p2p_channels_per_peer_round_the_batches_up_and_one_node_is_only_capped():
    """paths.cc:993-1003. 2 nodes of 2 H100s, 8 NICs of 50 a GPU, PCIe 512 GB/s raw (390): 8 NICs reach 400, max(8,
    ⌈400/14⌉ = 29) → 32 per peer (NVLink 36); 8 p2p channels; 32 × ⌈4/8⌉ = 32 > 8 → 16 → 8 (a batch is rounded up:
    ⌈4/8⌉ = 1, not 1/2). One node of 16 H100s: NVLink 2 × 18 = 36 → 64, only capped at the 32 p2p channels (no
    halving by ⌈16/8⌉ on one node): 32."""
    small = topology.build("cluster", 4, 1.0, 0.0, preset="hgx-h100", nodes=2, gpus_per_node=2, nics_per_node=16,
                           pcie_bandwidth="512 GB/s")
    assert (M.p2p_channels(M.machine(small)).channels, M.p2p_channels(M.machine(small)).per_peer) == (8, 8)
    wide = topology.build("cluster", 16, 1.0, 0.0, preset="hgx-h100", nodes=1, gpus_per_node=16)
    assert (M.p2p_channels(M.machine(wide)).channels, M.p2p_channels(M.machine(wide)).per_peer) == (32, 32)
