"""Buffered sends (``Schedule(buffered=True)``, NCCL's FIFOs: a sender goes on once its send's last byte has left,
its receives still count on delivery, and its call ends once its sends are delivered): the network's end of
transmission, closed forms on contention-free chains and a tree by hand, and the message engine, the schedule
engine's round-at-a-time way and its fluid way equal on shared links and under crashes."""

from functools import partial

import networkx as nx
import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim.collectives.follow import scheduled
from commsim.collectives.nccl import pipeline
from commsim.collectives.nccl.table import STEP_DATA_BYTES
from commsim.collectives.nccl.tree import nccl_tree_schedule
from commsim.engines import message
from commsim.engines import schedule as engine
from commsim.engines.message import bytes_per_link, make_buffers, run_collective
from commsim.engines.program import Faults, one_call
from commsim.engines.schedule import participant_nodes, run_schedule, worker_finish
from commsim.network import topology
from commsim.network.disturbances import DisturbedNetwork
from commsim.network.fluid import Network

MAKERS = {"tree": nccl_tree_schedule, "broadcast": pipeline.nccl_broadcast_schedule,
          "reduce": pipeline.nccl_reduce_schedule}
CHUNK = STEP_DATA_BYTES["simple"]  # 524,288 B: one chunk of every Simple pipeline here


def _cluster(nodes: int, gpus: int):
    """H100 nodes whose NVLinks are 400 GB/s and 1 µs (GPU → NVSwitch → GPU: 2 µs)."""
    return topology.build("cluster", nodes * gpus, 1.0, 0.0, preset="hgx-h100", nodes=nodes, gpus_per_node=gpus,
                          nics_per_node=gpus, nvlink_bandwidth="400 GB/s", nvlink_latency="1 us")


def _three_ways(kind: str, graph, n: int, p: int, **options):
    """Per-rank finish times on the message engine, the schedule engine (its own pick of way) and its fluid way
    forced, each checked against the message engine's counts, sizes and bytes per link; and the schedule
    engine's run."""
    make = partial(MAKERS[kind], **options)
    algorithm = scheduled(f"test_buffered_{kind}", make, None, "test", kind="allreduce" if kind == "tree" else kind)
    by_messages = run_collective(algorithm, graph, make_buffers(n, p, "float32", "size-only", 0), keep_log=False)
    schedule = make(n, p, 4, gpus_per_node=graph.graph.get("gpus_per_node"))
    assert schedule.buffered
    nodes = participant_nodes(schedule, n, ())
    fast = run_schedule(schedule, graph, nodes)
    fluid = engine.run_program(one_call(schedule, nodes, n, []), graph, fluid=True)
    for run in (fast, fluid):
        assert (run.messages, run.sizes, run.bytes_per_link) == (
            by_messages.network.messages, by_messages.network.message_sizes(), bytes_per_link(by_messages.network))
    finishes = [np.asarray(by_messages.finish_s), worker_finish(schedule, fast.finish_s, n),
                worker_finish(schedule, fluid.finish_s, n)]
    return finishes, fast


# -- the network: when a message's last byte has left ----------------------------------------------------------

def _left_times(sends, link_bandwidth=1000.0, latency=0.25, network=Network):
    """(start, nbytes) messages 0 → 1 on one link of ``link_bandwidth`` B/s: (when each one's ``left`` fired,
    when it was delivered)."""
    graph = nx.Graph()
    graph.add_edge(0, 1, bandwidth=link_bandwidth, latency=latency)
    env = simpy.Environment()
    net = network(env, graph)
    left_at, delivered_at = [None] * len(sends), [None] * len(sends)

    def sender(i, start, nbytes):
        yield env.timeout(start)
        left = env.event()
        delivered = net.send(0, 1, nbytes, tag=i, left=left)
        yield left
        left_at[i] = env.now
        yield delivered
        delivered_at[i] = env.now

    for i, (start, nbytes) in enumerate(sends):
        env.process(sender(i, start, nbytes))
    env.run()
    return left_at, delivered_at


@pytest.mark.parametrize("network", [Network, DisturbedNetwork])
def test_a_send_reports_when_its_last_byte_has_left(network):
    """1000 B/s, 0.25 s latency. Alone, 1000 B leave at 1 s (delivered 1.25 s); a second message of 1000 B
    joining at 0.5 s makes both share: the first has 500 B left at 500 B/s, so its last byte leaves at 1.5 s
    (not the 1 s it was due alone), delivered at 1.75 s; the second sends 500 B by 1.5 s, then alone the
    other 500 B by 2 s, delivered at 2.25 s. A message of no bytes has left as it is sent (0.1 s), delivered a
    latency later. On the disturbed network (no fault) the same."""
    assert _left_times([(0.0, 1000)], network=network) == ([1.0], [1.25])
    left, delivered = _left_times([(0.0, 1000), (0.5, 1000)], network=network)
    assert left == pytest.approx([1.5, 2.0], rel=1e-12) and delivered == pytest.approx([1.75, 2.25], rel=1e-12)
    assert _left_times([(0.1, 0)], network=network) == ([0.1], [0.35])


def test_only_a_send_asking_for_its_end_is_kept_for_it():
    """1000 B/s: message 0 (1000 B, no ``left``) and message 1 (1000 B, ``left``) share the link from 0 s; at
    0.5 s the network keeps only message 1 for its end of transmission (none is kept for a send that does not ask:
    its memory is the plain flow's), and once it has left (2 s, sharing) none is kept."""
    graph = nx.Graph()
    graph.add_edge(0, 1, bandwidth=1000.0, latency=0.25)
    env = simpy.Environment()
    net = Network(env, graph)
    left = env.event()
    net.send(0, 1, 1000, tag=0)
    net.send(0, 1, 1000, tag=1, left=left)
    env.run(until=0.5)
    assert len(net._leaving) == 1 and next(iter(net._leaving.values())) is left
    env.run()
    assert left.processed and net._leaving == {}


def test_a_jittered_send_leaves_after_its_delay():
    """Jitter on the disturbed network delays a message's start: its ``left`` fires its transmission after that
    start, and delivery a latency later still (the start read from the network's record of late sends)."""
    graph = nx.Graph()
    graph.add_edge(0, 1, bandwidth=1000.0, latency=0.25)
    env = simpy.Environment()
    net = DisturbedNetwork(env, graph, jitter_s=0.5, seed=3)
    times = {}

    def sender():
        left = env.event()
        delivered = net.send(0, 1, 1000, left=left)
        yield left
        times["left"] = env.now
        yield delivered
        times["delivered"] = env.now

    env.process(sender())
    env.run()
    ((_, _, start), sent), = net.posted.items()
    assert sent == 0.0 and 0.0 < start < 0.5
    assert times == pytest.approx({"left": start + 1.0, "delivered": start + 1.25}, rel=1e-12)


@pytest.mark.parametrize(("first", "expected"), [(1000, [2.25, 1.25, 2.25]), (0, [1.25, 0.25, 1.25])])
def test_a_sender_waits_for_its_send_to_have_left(first, expected):
    """Participant 0 sends 1000 B to 1 in round 0, then 1000 B to 2 in round 1, on a fully connected graph (each
    pair its own link: 1000 B/s, 0.25 s). Buffered, round 0 ends for it as its last byte leaves (1 s), so the
    second send lands at 1 + 1 + 0.25 = 2.25 s and 0 ends then; 1 ends at 1.25 s. Eager it would send both at
    once (2 at 1.25 s); waiting for delivery, the second would land at 2.5 s. A first message of no bytes has
    left as it is sent: the second leaves at 0 and lands at 1.25 s, the first at 0.25 s. The message engine, the
    schedule engine (its stream, its round at a time with a log, its fluid way) all say so."""
    from dataclasses import replace

    from commsim.collectives.schedule import Round, ints, listed

    graph = nx.complete_graph(3)
    nx.set_edge_attributes(graph, 1000.0, "bandwidth")
    nx.set_edge_attributes(graph, 0.25, "latency")
    rounds = [Round(ints([0]), ints([to]), ints([size]), "fan", None, ints([0]), ints([size // 4]), False)
              for to, size in ((1, first), (2, 1000))]
    schedule = replace(listed(3, rounds, 250), buffered=True)
    program = one_call(schedule, [0, 1, 2], 3, [])
    runs = [message.run_program(program, graph), engine.run_program(program, graph),
            engine.run_program(program, graph, keep_log=True), engine.run_program(program, graph, fluid=True)]
    for run in runs:
        assert run.task_end[0].tolist() == pytest.approx(expected, rel=1e-12)
    assert [run.fluid for run in runs[1:]] == [False, False, True]


# -- closed forms ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["broadcast", "reduce"])
def test_a_chain_pays_its_hop_latencies_once(kind):
    """One node of n = 5 GPUs, one channel, K = 8 chunks of 512 KiB: a chain over the NVSwitch (each hop its own
    pair of links: contention-free), s = 524,288 B / 400 GB/s and a = 2 µs a hop. The sender at position d
    (broadcast: rank d from the root; reduce: rank d + 1, ending at the root) sends chunk j in round d + j; a
    buffered sender goes on once it has left, so chunk j leaves position d at (d + j)·s + d·a and lands at
    (d + j + 1)·s + (d + 1)·a. Position d < n − 1 ends as its last send lands: (d + K)·s + (d + 1)·a; the last
    position as its last receive does: T = (K + n − 2)·s + (n − 1)·a — the n − 1 hop latencies once, not K + n − 2
    times as when each round waits for its delivery. Per rank, on the message engine, the round-at-a-time way
    (rounds 3-7 alike: taken as a block) and the fluid way, to 1e-9."""
    n, k = 5, 8
    s, a = CHUNK / 400e9, 2e-6
    finishes, fast = _three_ways(kind, _cluster(1, n), n, k * CHUNK // 4, channels=1)
    position = [(d + 1) % n if kind == "reduce" else d for d in range(n)]  # the rank at position d
    expected = np.zeros(n)
    for d, rank in enumerate(position):
        expected[rank] = (d + k) * s + (d + 1) * a if d < n - 1 else (k + n - 2) * s + (n - 1) * a
    assert not fast.fluid
    for finish in finishes:
        assert finish.tolist() == pytest.approx(expected.tolist(), rel=1e-9)


def test_the_tree_pipelines_up_and_down_by_hand():
    """2 nodes × 2 GPUs, one channel, K = 2 chunks of 512 KiB. Channel 0's tree: GPU 1 → 0 and 3 → 2 in the nodes,
    2 → 0 between them (0 the root). NVLink hop: s = 524,288 B / 400 GB/s, a = 2 µs; network hop (GPU → NIC →
    rail → NIC → GPU): t = 524,288 B / 50 GB/s, b = 2·0.5 + 2·2 = 5 µs; t > s, b > a; no two transfers on a link.
    Up: GPUs 1 and 3 send chunk j at j·s (landing (j + 1)s + a); GPU 2 has chunk 0 at s + a, and its round j
    ends as chunk j − 1 has left, at s + a + j·t, so chunk j lands at 0 at s + a + (j + 1)t + b. The root's round 1
    ends at E1 = s + a + t + b (chunk 0 from GPU 2); in round 2 it sends chunk 0 down (to 1: s, to 2: t) and has
    chunk 1 at E2 = E1 + t; in round 3 it sends chunk 1 down, landing at 1 at E2 + s + a, at 2 at E2 + t + b. GPU 2's
    down half (its own participant, as NCCL's runTreeSplit has its own threads) forwards chunk 0 to GPU 3 as it
    comes (E1 + t + b), chunk 1 once that has left and chunk 1 is in (E2 + t + b), landing at E2 + t + b + s + a.
    Each rank ends with its last participant: GPU 0 as its last send lands, E2 + t + b = s + a + 3t + 2b; GPU 1
    with chunk 1, 2s + 2a + 2t + b; GPUs 2 and 3 as chunk 1 lands at 3, 2s + 2a + 3t + 2b. Three ways, to 1e-9."""
    s, a, t, b = CHUNK / 400e9, 2e-6, CHUNK / 50e9, 5e-6
    expected = [s + a + 3 * t + 2 * b, 2 * s + 2 * a + 2 * t + b, 2 * s + 2 * a + 3 * t + 2 * b,
                2 * s + 2 * a + 3 * t + 2 * b]
    finishes, fast = _three_ways("tree", _cluster(2, 2), 4, 2 * CHUNK // 4, channels=1)
    assert not fast.fluid
    for finish in finishes:
        assert finish.tolist() == pytest.approx(expected, rel=1e-9)


# -- the engines agree ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "nodes", "g", "channels", "protocol", "chunks"), [
    ("tree", 2, 4, 2, "simple", 3),  # two channels' chains and trees meeting on NVLinks and NICs
    ("tree", 4, 1, 1, "ll", 5),  # a root sending down to two children through its one NIC
    ("tree", 3, 2, 3, "ll128", 2),
    ("broadcast", 2, 4, 2, "simple", 3),
    ("reduce", 3, 2, 2, "ll", 4),
])
def test_the_engines_agree_on_shared_links(kind, nodes, g, channels, protocol, chunks):
    """Buffered schedules where links are shared (the schedule engine's fluid way): per-rank finish times on the
    message engine, the schedule engine and its fluid way forced equal to 1e-9, with the same counts, sizes and
    bytes per link (checked in ``_three_ways``)."""
    n = nodes * g
    p = channels * chunks * {"simple": CHUNK, "ll": 32_768, "ll128": 576_000}[protocol] // 4 - 7  # a short last one
    finishes, fast = _three_ways(kind, _cluster(nodes, g), n, p, channels=channels, protocol=protocol)
    assert fast.fluid
    for finish in finishes[1:]:
        assert finish.tolist() == pytest.approx(finishes[0].tolist(), rel=1e-9)


def test_the_engines_agree_on_a_star():
    """The tree of 6 GPUs on one star switch (one node: a chain 5 → 4 → … → 0 and back): the same three ways."""
    graph = topology.build("star", 6, 100e9, 1e-6)
    finishes, _ = _three_ways("tree", graph, 6, 3 * CHUNK // 4, channels=2)
    for finish in finishes[1:]:
        assert finish.tolist() == pytest.approx(finishes[0].tolist(), rel=1e-9)


@pytest.mark.parametrize(("kind", "nodes", "g", "channels", "victim", "fraction"), [
    ("broadcast", 1, 5, 1, 2, 0.4),  # a chain with no shared link: the round-at-a-time way
    ("tree", 2, 2, 1, 2, 0.5),  # the tree by hand above, GPU 2 (the inter-node hop) gone mid-call
    ("tree", 2, 4, 2, 5, 0.3),  # shared links: the fluid way
    ("reduce", 2, 2, 2, 0, 0.6),  # the root of a reduce
])
def test_the_engines_agree_under_a_crash(kind, nodes, g, channels, victim, fraction):
    """A rank crashing part-way through a buffered call (at ``fraction`` of the calm makespan): every task's start
    and end per owner on the schedule engine (its own way and the fluid way forced) as the message engine says, to
    1e-9, with what stopped, crashed and waited, the counts and the bytes cut off; the victim never finishes."""
    n = nodes * g
    graph = _cluster(nodes, g)
    schedule = MAKERS[kind](n, 3 * CHUNK // 4 * channels, 4, channels=channels, gpus_per_node=g)
    program = one_call(schedule, participant_nodes(schedule, n, ()), n, [])
    calm = message.run_program(program, graph)
    crash = np.full(n, np.inf)
    crash[victim] = fraction * float(np.max(calm.task_end))
    faults = Faults(crash_s=crash)
    want = message.run_program(program, graph, 0.0, faults)
    assert want.task_end[0, victim] == np.inf
    for got in (engine.run_program(program, graph, 0.0, faults), engine.run_program(program, graph, 0.0, faults,
                                                                                     fluid=True)):
        for name in ("task_start", "task_end"):
            assert np.allclose(getattr(got, name), getattr(want, name), rtol=1e-9, atol=0, equal_nan=True), name
        for name in ("messages", "sizes", "bytes_per_link", "stopped", "crashed", "waiting"):
            assert getattr(got, name) == getattr(want, name), name
        assert [b for _, _, b in got.lost] == pytest.approx([b for _, _, b in want.lost], rel=1e-9)


@given(data=st.data(), kind=st.sampled_from(["star", "fully_connected", "ring"]), n=st.integers(2, 5))
@settings(max_examples=25, deadline=None)
def test_random_buffered_schedules_agree_on_every_way(data, kind, n):
    """Random buffered schedules (1-4 rounds of 0-6 transfers of 0-4000 B between random participants, several
    from one sender or to one receiver, links shared or not) on a star, a fully connected graph and a ring:
    every participant's finish on the message engine, the schedule engine and its fluid way forced to 1e-9, and
    the same counts, sizes and bytes per link."""
    from dataclasses import replace

    from hypothesis import assume

    from commsim.collectives.schedule import Round, ints, listed

    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 2), st.sampled_from([0, 1000, 2500, 4000]))
    rounds = []
    for transfers in data.draw(st.lists(st.lists(pairs, max_size=6), min_size=1, max_size=4)):
        src = [s for s, _, _ in transfers]
        dst = [(s + 1 + d) % n for s, d, _ in transfers]  # never itself
        size = [b for _, _, b in transfers]
        rounds.append(Round(ints(src), ints(dst), ints(size), "random", None, ints([0] * len(src)),
                            ints([b // 4 for b in size]), False))
    assume(any(len(round_.src) for round_ in rounds))
    schedule = replace(listed(n, rounds, 1000), buffered=True)
    graph = topology.build(kind, n, 1e9, 1e-6)
    program = one_call(schedule, list(range(n)), n, [])
    want = message.run_program(program, graph)
    for got in (engine.run_program(program, graph), engine.run_program(program, graph, fluid=True)):
        assert got.task_end[0].tolist() == pytest.approx(want.task_end[0].tolist(), rel=1e-9)
        assert (got.messages, got.sizes, got.bytes_per_link) == (want.messages, want.sizes, want.bytes_per_link)
