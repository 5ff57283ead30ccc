"""NCCL's tree in the NCCL mode: per channel a chain through each node into its head GPU, the heads on
one of NCCL's two binary trees, chunks pipelined; checked: the trees, the exact mean, counts by
formula, both engines, and pipelining against hand bounds."""

from functools import partial

import numpy as np
import pytest

from commsim.collectives.follow import scheduled
from commsim.collectives.nccl.table import STEP_DATA_BYTES
from commsim.collectives.nccl.tree import channel_parents, chunk_bytes, message_sizes, nccl_tree_schedule
from commsim.engines.message import bytes_per_link, make_buffers, run_collective
from commsim.engines.schedule import participant_nodes, run_schedule, worker_finish
from commsim.network import topology


def _cluster(nodes: int, gpus: int):
    return topology.build("cluster", nodes * gpus, 1.0, 0.0, preset="hgx-h100", nodes=nodes, gpus_per_node=gpus,
                          nics_per_node=gpus)


def test_channel_trees_chain_each_node_into_its_head_and_alternate_the_node_trees():
    """2 nodes of 4: channel 0's heads are local 0 (node 1's head under node 0's), channel 1's local 1
    on the mirrored tree (node 0's head under node 1's); each chain runs from local head+3 down to the
    head (channel 1, node 0: 0 → 3 → 2 → 1)."""
    assert channel_parents(8, 4, 0) == [-1, 0, 1, 2, 0, 4, 5, 6]
    assert channel_parents(8, 4, 1) == [3, 5, 1, 2, 7, -1, 5, 6]


@pytest.mark.parametrize("protocol", ["simple", "ll", "ll128"])
def test_every_rank_ends_with_the_exact_mean_and_counts_follow_the_formula(protocol):
    """2 nodes × 4 GPUs, 4 channels, p = 100,003 fp64 (several chunks per channel in LL): exact mean,
    and each chunk crosses each of the n − 1 edges up and down; the schedule engine agrees."""
    n, p = 8, 100_003
    graph = _cluster(2, 4)
    algorithm = scheduled("test_tree", partial(nccl_tree_schedule, channels=4, protocol=protocol), None, "test")
    rng = np.random.default_rng(1)
    x = [rng.integers(-100, 100, p).astype(np.float64) for _ in range(n)]
    run = run_collective(algorithm, graph, x)
    for result in run.results:
        np.testing.assert_array_equal(result, np.mean(np.stack(x), axis=0))
    lengths = [(c + 1) * p // 4 - c * p // 4 for c in range(4)]
    chunks = sum(max(-(-length // (chunk_bytes(protocol, 8 * length, 2, 4) // 8)), 1) for length in lengths)
    assert run.network.messages == chunks * 2 * (n - 1) == sum(message_sizes(n, p, 8, 4, protocol, 4).values())
    assert run.network.message_sizes() == message_sizes(n, p, 8, 4, protocol, 4)
    schedule = nccl_tree_schedule(n, p, 8, channels=4, protocol=protocol, gpus_per_node=4)
    fast = run_schedule(schedule, graph, participant_nodes(schedule, n, ()))
    assert worker_finish(schedule, fast.finish_s, n).tolist() == pytest.approx(run.finish_s, rel=1e-9)
    assert fast.bytes_per_link == bytes_per_link(run.network)


def test_chunks_pipeline_along_the_chain():
    """One node of 4 GPUs, one channel, K = 16 chunks of 512 KiB: the chain 3 → 2 → 1 → 0 up and back down
    (height H = 3, the deepest parent at depth 2): H + 2 + K rounds, each at most the route's 0.6 µs and two
    chunks on a GPU's NVLink (one up, one down), and at least GPU 1's NVLink carrying every chunk twice;
    one chunk after another, 6 hops each, would take 6·K·(0.6 µs + 512 KiB/B) — over twice as long."""
    n, chunks = 4, 16
    p = chunks * STEP_DATA_BYTES["simple"] // 4
    graph = _cluster(1, 4)
    schedule = nccl_tree_schedule(n, p, 4, channels=1, gpus_per_node=4)
    assert schedule.rounds == 3 + 2 + chunks
    run = run_schedule(schedule, graph, participant_nodes(schedule, n, ()))
    hop = STEP_DATA_BYTES["simple"] / 450e9
    assert 2 * chunks * hop <= run.makespan(n) <= schedule.rounds * (0.6e-6 + 2 * hop) * (1 + 1e-9)
    assert run.makespan(n) < 6 * chunks * (0.6e-6 + hop) / 2


def test_model_nccl_runs_the_tree_for_the_double_binary_tree():
    """double_binary_tree under model nccl: NCCL's tree with its protocol pick, and its tuner's own choice
    between ring and tree said beside it."""
    import yaml

    from commsim import scenario
    from commsim.runner import points

    text = ("name: s\nworkers: 16\nsize: 1 MiB\npayload: size-only\nalgorithms: [double_binary_tree]\nmodel: nccl\n"
            "topology: {kind: cluster, preset: hgx-h100, nodes: 2}\n")
    (run,) = points.simulate(scenario.parse(yaml.safe_load(text), "s.yaml"))
    assert run.ok and run.nccl["algorithm"] == "tree" and run.nccl["channels"] == 16
    assert run.messages == sum(message_sizes(16, (1 << 20) // 4, 4, 16, run.nccl["protocol"], 8).values())
    assert run.nccl["nccl_would_pick"].startswith(("tree/", "ring/"))


def test_algorithm_auto_runs_what_nccls_tuner_picks_per_size():
    """algorithms: [auto] on 2 × 8 H100: at 1 MiB NCCL's tuner picks its tree (60.4 µs against the ring's
    81.9, tests/test_nccl_model.py), at 256 MiB its ring; each row runs the pick. Without model nccl,
    'auto' is refused."""
    import yaml

    from commsim import scenario
    from commsim.collectives.nccl import model as nccl_model
    from commsim.errors import ScenarioError
    from commsim.runner import points

    text = ("name: s\nworkers: 16\nsize: [1 MiB, 256 MiB]\npayload: size-only\nalgorithms: [auto]\nmodel: nccl\n"
            "topology: {kind: cluster, preset: hgx-h100, nodes: 2}\n")
    small, large = points.simulate(scenario.parse(yaml.safe_load(text), "s.yaml"))
    assert (small.nccl["algorithm"], large.nccl["algorithm"]) == ("tree", "ring") and small.ok and large.ok
    machine = nccl_model.machine(topology.build("cluster", 16, 1.0, 0.0, preset="hgx-h100", nodes=2))
    assert small.nccl["predicted_s"] == nccl_model.time_s(machine, "tree", small.nccl["protocol"], 1 << 20)
    assert small.messages == sum(message_sizes(16, (1 << 20) // 4, 4, 16, small.nccl["protocol"]).values())
    with pytest.raises(ScenarioError, match="'auto' \\(NCCL's pick of ring, tree or NVLS\\) needs 'model: nccl'"):
        scenario.parse(yaml.safe_load(text.replace("model: nccl\n", "")), "s.yaml")


def test_a_pipelined_tree_on_a_contention_free_pair_by_closed_form():
    """Two one-GPU Ethernet nodes, one channel, K = 4 chunks of 512 KiB, s = 524,288 B / 12.5 GB/s (the 100 GbE
    NIC) and α = 2·0.5 + 2·2 = 5 µs the route's latency: the child sends chunk j up in round j, the root sends
    it down in round j + 1, the two directions on separate links. Sends are buffered and the child's up and
    down are separate participants (NCCL's runTreeSplit), so this is a chain child → root → child of K chunks:
    the child's sends leave back to back (chunk j at j·s), the root's round j ends as chunk j arrives, at
    (j + 1)s + α, and its last chunk, sent at Ks + α, lands at T = (K + 1)s + 2α (not (K + 1)(s + α), the
    latency paid each round), on both engines, to 1e-9; 2K messages of a chunk; the first round, sums only,
    labelled "reduce", the others (with results coming down) "tree"."""
    n, chunks = 2, 4
    chunk = STEP_DATA_BYTES["simple"]
    graph = topology.build("cluster", 2, 1.0, 0.0, preset="ethernet", nodes=2)
    schedule = nccl_tree_schedule(n, chunks * chunk // 4, 4, channels=1, gpus_per_node=1)
    expected = (chunks + 1) * chunk / 12.5e9 + 2 * 5e-6
    run = run_schedule(schedule, graph, participant_nodes(schedule, n, ()))
    assert run.makespan(n) == pytest.approx(expected, rel=1e-9)
    algorithm = scheduled("test_pair", partial(nccl_tree_schedule, channels=1), None, "test")
    message = run_collective(algorithm, graph, make_buffers(n, chunks * chunk // 4, "float32", "size-only", 0))
    assert message.makespan_s == pytest.approx(expected, rel=1e-9)
    sizes = message_sizes(n, chunks * chunk // 4, 4, 1, "simple")
    assert message.network.message_sizes() == sizes == {chunk: 2 * chunks}
    log = message.network.log
    phases = [log.phases[i] for i in log.phase]  # round 0 only sums up; rounds 1-3 up and down; round 4 down
    assert (phases.count("reduce"), phases.count("tree")) == (1, 7)


def test_tree_chunks_are_one_step_of_each_protocols_buffer():
    """init.cc:810-813 buffers over NCCL_STEPS = 8 steps: Simple 4 MiB / 8 = 524,288 B; LL 8 · 512 · 8 · 16 =
    524,288 B / 8 = 65,536, half of it data (a flag with every 4 bytes): 32,768; LL128 120 · 640 · 8 · 8 =
    4,915,200 B / 8 = 614,400, 15 of every 16 words data: 576,000 — the tree's chunk on a large channel (LL128's
    smaller for small channels, tests/test_nccl_nvls.py)."""
    assert STEP_DATA_BYTES == {"simple": 524_288, "ll": 32_768, "ll128": 576_000}
    assert {protocol: chunk_bytes(protocol, 1 << 30, 2, 4) for protocol in STEP_DATA_BYTES} == STEP_DATA_BYTES


def test_each_channel_runs_its_tree_on_its_own_participants():
    """2 nodes of 4, 2 channels: channel c's sums go up between participants c·8 + r, along each edge of
    ``channel_parents(8, 4, c)`` (checked by hand in ``test_channel_trees_chain_...``), and its results come
    down to participants (2 + c)·8 + r (a rank's down half, apart from its up half as in NCCL's runTreeSplit),
    sent by the parent's down half, or by the root's up participant (which summed them)."""
    n, p = 8, 1000
    schedule = nccl_tree_schedule(n, p, 4, channels=2, gpus_per_node=4)
    up, down = set(), set()
    for k in range(schedule.rounds):
        round_ = schedule.round(k)
        for src, dst, add in zip(round_.src.tolist(), round_.dst.tolist(), round_.reduce.tolist()):
            (up if add else down).add((src, dst))
    edges = {(c * n + r, c * n + parent) for c in (0, 1)
             for r, parent in enumerate(channel_parents(n, 4, c)) if parent >= 0}
    assert up == edges
    roots = {c * n + channel_parents(n, 4, c).index(-1) for c in (0, 1)}  # participants 0 and 13
    assert roots == {0, 13}
    assert down == {(b if b in roots else b + 2 * n, a + 2 * n) for a, b in edges}
    assert schedule.participants == 4 * n and schedule.workers.tolist() == list(range(n)) * 4


def test_the_smallest_tree_chunk_is_ll128_s_floor():
    """The smallest chunk any protocol can take (what budgets bound the tree by): LL128's 576,000 B halved
    while over 128 KiB (288,000, 144,000, 72,000), then while over 32 KiB (36,000, 18,000), aligned down to
    the 1920-byte grain: 17,280 B — below LL's 32 KiB step and Simple's 512 KiB."""
    from commsim.collectives.nccl.tree import MIN_CHUNK_BYTES

    assert MIN_CHUNK_BYTES == 17_280


def _wire_sizes(schedule) -> dict[int, int]:
    """Wire size → count over every transfer of ``schedule``."""
    sizes: dict[int, int] = {}
    for k in range(schedule.rounds):
        for size in schedule.round(k).nbytes.tolist():
            sizes[size] = sizes.get(size, 0) + 1
    return sizes


@pytest.mark.parametrize(("p", "sizes"), [(2_160_000, {614_400: 210}), (2_159_999, {307_200: 420})])
def test_the_tree_s_ll128_chunk_follows_the_channel_s_bytes(p, sizes):
    """One node of 8 GPUs, one channel of p floats, LL128 (NCCL enqueue.cc:2286-2294, 2321): s = 1 + 0 + 0.8,
    576,000 B halved while ⌊B/chunk⌋ < 64·s/8 = 14.4. 2,160,000 floats = 8,640,000 B = 15 chunks: 576,000 B
    (144,000 floats) stays, 15 chunks of 4800 LL128 lines, 614,400 B; one float less, 14 < 14.4: 288,000 B
    (72,000 floats), ⌈2,159,999/72,000⌉ = 30 chunks of 71,999 or 72,000 floats, 2400 lines each: 307,200 B.
    Each chunk crosses the 7 edges up and down (formula and schedule)."""
    assert message_sizes(8, p, 4, 1, "ll128", gpus_per_node=8) == sizes
    assert _wire_sizes(nccl_tree_schedule(8, p, 4, 1, "ll128", gpus_per_node=8)) == sizes


def test_the_tree_defaults_to_one_gpu_per_node():
    """2 ranks, no GPUs per node given: 2 nodes of 1 GPU, s = 1 + 1 + 0.1 = 2.1, halve while ⌊B/chunk⌋ <
    134.4 (enqueue.cc:2290). 5,616,000 floats = 22,464,000 B = 39 × 576,000: 39 and 78 are below, 156 is not:
    144,000 B chunks (36,000 floats), 156 of them, 1200 lines each (153,600 B), up and down the one edge: 312
    messages. (One node of 2 GPUs would stop at 576,000 B, ⌊B/chunk⌋ = 39 ≥ 64·1.2/2 = 38.4: 78 messages.)"""
    p = 5_616_000
    assert message_sizes(2, p, 4, 1, "ll128") == {153_600: 312}
    assert _wire_sizes(nccl_tree_schedule(2, p, 4, 1, "ll128")) == {153_600: 312}
