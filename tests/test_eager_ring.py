"""NCCL's eager ring on H100 clusters, per rank, against an independent event model written here: at 34+
ranks (more than 64 sends under way per rank) and with one or two channels, where the only other check
(the two engines against each other, n = 16 and 16 channels) does not reach.

The model. Ring c (of C) visits node x's GPUs from local c on (x·g + (c + k) mod g); every rank sends its
chunk to the next one each round at once when it has received the previous round's (eager: it does not
wait for its sends), and ends when its last receive is in and its last send delivered. A send inside a
node crosses the GPU's NVLink up and the next GPU's down (2 × 0.3 µs, 450 GB/s); a send to the next node
goes up NVLink to the GPU of the destination's NIC, down to it, over PCIe to the NIC, the rail and back
(PXN: 2 × 0.3 + 2 × 0.5 + 2 × 2 = 5.6 µs, the NIC's 50 GB/s its bottleneck). Worked out from the preset
(commsim/network/cluster.py): with C ≤ 2 and a NIC per GPU, only sends of one GPU meet on a link, and all
of them on its NVLink uplink (450 GB/s), its inter-node sends also on its NIC path (50 GB/s); so each
GPU's sends share those two max-min fairly, and nothing else is shared.
"""

import heapq
from functools import partial

import numpy as np
import pytest

from commsim.collectives.follow import scheduled
from commsim.collectives.nccl.ring import nccl_ring_schedule
from commsim.engines import schedule as engine
from commsim.engines.program import one_call
from commsim.engines.message import make_buffers, run_collective
from commsim.engines.schedule import participant_nodes, run_schedule, worker_finish
from commsim.network import topology

US = 1e-6
NVLINK, NIC = 450e9, 50e9  # hgx-h100: NVLink per direction; 400 Gbit/s NIC
INSIDE, BETWEEN = 2 * 0.3 * US, 2 * 0.3 * US + 2 * 0.5 * US + 2 * 2.0 * US  # route latencies (see above)


def _cluster(nodes: int, gpus: int):
    return topology.build("cluster", nodes * gpus, 1.0, 0.0, preset="hgx-h100", nodes=nodes, gpus_per_node=gpus,
                          nics_per_node=gpus)


def _max_min(flows: list[bool]) -> list[float]:
    """Rates of one GPU's sends (True: to the next node) on its uplink and its NIC path, by progressive
    filling: raise every unfrozen rate together until a link is full, freeze the sends on it, repeat."""
    rate = [0.0] * len(flows)
    frozen = [False] * len(flows)
    spare = {"up": NVLINK, "nic": NIC}
    while not all(frozen):
        users = {"up": [i for i in range(len(flows)) if not frozen[i]],
                 "nic": [i for i in range(len(flows)) if not frozen[i] and flows[i]]}
        step = min(spare[link] / len(who) for link, who in users.items() if who)
        for link, who in users.items():
            spare[link] -= step * len(who)
        for i in users["up"]:
            rate[i] += step
        for link, who in users.items():
            if who and spare[link] <= 1e-9 * (NVLINK if link == "up" else NIC):
                for i in who:
                    frozen[i] = True
    return rate


def eager_rings(nodes: int, g: int, channels: int, chunk_bytes: int) -> tuple[list[float], list[float]]:
    """Each rank's (last receive, last delivery of its own sends) in seconds under the model of the module
    docstring, every chunk ``chunk_bytes``; a rank finishes at the later of the two."""
    n = nodes * g
    rounds = 2 * (n - 1)
    order = [[x * g + (c + k) % g for x in range(nodes) for k in range(g)] for c in range(channels)]
    last_receive, last_sent = [0.0] * n, [0.0] * n
    sending: dict[int, list[list]] = {r: [] for r in range(n)}  # per GPU: [bytes left, between?, c, i, k]
    arrivals: list[tuple[float, int, int, int]] = []  # (time, channel, receiving position, round)
    received = set()
    waiting = [[0] * n for _ in range(channels)]  # the round each participant waits to receive next
    now = 0.0

    def send(c: int, i: int, k: int) -> None:
        src, dst = order[c][i], order[c][(i + 1) % n]
        sending[src].append([float(chunk_bytes), src // g != dst // g, c, i, k])

    for c in range(channels):
        for i in range(n):
            send(c, i, 0)
    while any(sending.values()) or arrivals:
        rates = {r: _max_min([f[1] for f in flows]) for r, flows in sending.items() if flows}
        ends = [now + f[0] / rate for r, flows in sending.items() for f, rate in zip(flows, rates.get(r, ()))]
        later = min(ends + [arrivals[0][0]] if arrivals else ends)
        for r, flows in sending.items():
            for f, rate in zip(flows, rates.get(r, ())):
                f[0] -= rate * (later - now)
            for f in [f for f, rate in zip(flows, rates.get(r, ())) if f[0] <= 1e-9 * chunk_bytes]:
                flows.remove(f)
                _, between, c, i, k = f
                delivered = later + (BETWEEN if between else INSIDE)
                heapq.heappush(arrivals, (delivered, c, (i + 1) % n, k))
                last_sent[r] = max(last_sent[r], delivered)
        now = later
        while arrivals and arrivals[0][0] <= now:
            _, c, i, k = heapq.heappop(arrivals)
            received.add((c, i, k))
            while waiting[c][i] < rounds and (c, i, waiting[c][i]) in received:
                last_receive[order[c][i]] = now
                waiting[c][i] += 1
                if waiting[c][i] < rounds:
                    send(c, i, waiting[c][i])
    return last_receive, last_sent


def _engines(nodes: int, g: int, channels: int, p: int):
    """Per-rank finish times: the message engine, the schedule engine, and its fluid way forced."""
    n = nodes * g
    graph = _cluster(nodes, g)
    algorithm = scheduled("test_eager", partial(nccl_ring_schedule, channels=channels), None, "test")
    message = run_collective(algorithm, graph, make_buffers(n, p, "float32", "size-only", 0), keep_log=False)
    schedule = nccl_ring_schedule(n, p, 4, channels=channels, gpus_per_node=g)
    nodes_of = participant_nodes(schedule, n, ())
    fast = run_schedule(schedule, graph, nodes_of)
    fluid = engine.run_program(one_call(schedule, nodes_of, n, []), graph, fluid=True)
    messages = channels * 2 * n * (n - 1)  # each ring: 2(n − 1) steps of n messages of p·4/(C·n) bytes
    sizes = {p * 4 // (channels * n): messages}
    assert message.network.messages == fast.messages == fluid.messages == messages
    assert message.network.message_sizes() == fast.sizes == fluid.sizes == sizes
    return [np.asarray(message.finish_s), worker_finish(schedule, fast.finish_s, n), worker_finish(schedule, fluid.finish_s, n)]


@pytest.mark.parametrize(("nodes", "g", "channels", "chunk"), [
    (5, 8, 1, 6400),  # 1 MiB-ish over 40 ranks: 78 rounds, 78 sends under way at the end
    (5, 8, 2, 3200),  # two rings of 40 sharing each GPU's NVLink, 1 MiB-ish
    (2, 4, 1, 32768),  # 1 MiB over 8 ranks: an inter-node sender has several sends under way
])
def test_eager_ring_finish_times_per_rank(nodes, g, channels, chunk):
    """Every rank's finish time, on both engines (and the schedule engine's fluid way), equals the model's
    to 1e-9. The ranks that send to the next node (local c − 1 mod g in ring c) end with their last send,
    after their last receive; the others with their last receive."""
    n = nodes * g
    p = channels * n * chunk // 4
    last_receive, last_sent = eager_rings(nodes, g, channels, chunk)
    expected = np.maximum(last_receive, last_sent).tolist()
    ends_by_sending = [r for r in range(n) if last_sent[r] > last_receive[r]]
    assert ends_by_sending == sorted(x * g + (c - 1) % g for x in range(nodes) for c in range(channels))
    for finish in _engines(nodes, g, channels, p):
        assert finish.tolist() == pytest.approx(expected, rel=1e-9)


def test_a_rank_crashing_as_its_last_send_lands_never_finishes():
    """Eager: a rank ends when its last send is delivered, which for ranks 3 and 7 of 2 × 4 on one ring (their
    sends cross to the next node) is after their last receive. Rank 3 crashing at exactly that instant (the
    engine's own, from its run without faults: the two engines' sums differ in the last bits): a crash comes
    first, so it never finishes (end inf), while every other rank ends as without the crash."""
    from commsim.engines import message
    from commsim.engines.program import Faults

    n, graph = 8, _cluster(2, 4)
    schedule = nccl_ring_schedule(n, 65536, 4, channels=1, gpus_per_node=4)
    program = one_call(schedule, participant_nodes(schedule, n, ()), n, [])
    last_receive, last_sent = eager_rings(2, 4, 1, 32768)
    assert last_sent[3] > last_receive[3]  # its own send ends it
    for e in (message, engine):
        calm = e.run_program(program, graph)
        at = float(calm.task_end[0, 3])
        assert at == pytest.approx(last_sent[3], rel=1e-9)
        crash = np.full(n, np.inf)
        crash[3] = at
        expected = calm.task_end.copy()
        expected[0, 3] = np.inf
        run = e.run_program(program, graph, 0.0, Faults(crash_s=crash))
        np.testing.assert_array_equal(run.task_end, expected, e.__name__)
        assert (run.stopped, run.crashed, run.fluid) == (None, [(3, at)], False), e.__name__
