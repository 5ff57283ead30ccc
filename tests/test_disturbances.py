"""Faults on the network (``commsim.network.disturbances``): links that fail under routed and shared
traffic, and nodes that crash with messages under way, against hand computations and a naive fluid model."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import simpy
from test_network import _reference_fluid

from commsim.engines.disturbed import Disturbance, run_disturbed
from commsim.engines.message import make_buffers
from commsim.network.disturbances import DisturbedNetwork, schedule_failures
from commsim.network.topology import build

B, ALPHA = 1e9, 1e-6  # 8 Gbit/s and 1 us per link


def _deliveries(net: DisturbedNetwork, sends: list[tuple]) -> list[float | None]:
    """Start every (src, dst, nbytes) at 0 on ``net``; when each is delivered (None: never)."""
    times: list[float | None] = [None] * len(sends)
    for i, (src, dst, nbytes) in enumerate(sends):
        net.recv(dst, src)
        net.send(src, dst, nbytes).callbacks.append(lambda _event, i=i: times.__setitem__(i, net.env.now))
    net.env.run()
    return times


def _ring_finish(delay: list[float]) -> list[float]:
    """The ring all-reduce's finish times from its dependencies alone (every worker starting at 0, worker i's
    message to i + 1 taking ``delay[i]``): S_i(s + 1) = max(S_i(s) + d_i, S_{i−1}(s) + d_{i−1}), 2(n − 1) steps."""
    start = [0.0] * len(delay)
    for _ in range(2 * (len(delay) - 1)):
        start = [max(start[i] + delay[i], start[i - 1] + delay[i - 1]) for i in range(len(delay))]
    return start


def test_a_rerouted_message_frees_the_links_it_leaves_by_hand():
    """On a 4-ring, 0→2 (by 1) and 1→2 share link 1→2, 1000 B each, B/2 apiece. Link 0–1 fails at 1 us, when
    each has sent 500 B: 0→2 takes the other way (0→3→2) with its 500 B, alone, at B; 1→2 is alone on 1→2 and
    goes at B too: both transmissions end at 1.5 us; 1→2 lands α later (2.5 us), 0→2 2α later (3.5 us).
    Left at B/2 (its link never reallocated), 1→2 would land at 3 us. 500 B were rerouted."""
    env = simpy.Environment()
    net = DisturbedNetwork(env, build("ring", 4, B, ALPHA, servers=0, overrides=[]))
    schedule_failures(net, [(0, 1, 1e-6)])
    assert _deliveries(net, [(0, 2, 1000), (1, 2, 1000)]) == pytest.approx([3.5e-6, 2.5e-6], rel=1e-12)
    assert net.rerouted_bytes == pytest.approx(500, rel=1e-12)


def test_all_to_all_on_an_8_ring_with_a_link_down_mid_run_matches_a_fluid_model():
    """8-ring all-to-all (56 messages of 100 kB, all at once), link 0–1 down at 100 us: by then the flows
    sharing each link have sent what their max-min rates allow (flows that finish change the others' rates),
    the ones crossing 0–1 go the other way round with the rest. Every worker's finish and the bytes rerouted
    are those of a naive fluid model (max-min rates recomputed at every event), and so are the bytes each link
    carried (the bytes a rerouted message sent before the failure on its old route, the rest on its new one)."""
    n, p = 8, 25_000
    graph = build("ring", n, B, ALPHA, servers=0, overrides=[])
    done = run_disturbed("all_to_all", graph, make_buffers(n, p, "float32", "size-only", 0),
                         Disturbance((0.0,) * n, link_failures=((0, 1, 100e-6),)))
    sends = [(src, dst, 4 * p) for src in range(n) for dst in range(n) if src != dst]
    rerouted: list[float] = []
    carried: dict[tuple, float] = {}
    delivered = _reference_fluid(build("ring", n, B, ALPHA, servers=0, overrides=[]), sends, [0.0] * len(sends),
                                 failures=[(0, 1, 100e-6)], rerouted=rerouted, carried=carried)
    finish = [max(t for (src, dst, _), t in zip(sends, delivered) if rank in (src, dst)) for rank in range(n)]
    assert 0 < sum(rerouted) < 4 * p * len(rerouted)  # some bytes had left, some had not
    assert done.stopped is None and done.finish_s == pytest.approx(finish, rel=1e-9)
    assert done.network.rerouted_bytes == pytest.approx(sum(rerouted), rel=1e-9)
    links = done.network.bytes_per_link
    assert sorted(links) == sorted(f"{u}->{v}" for u, v in carried)
    for (u, v), nbytes in carried.items():  # whole bytes: a reroute moves its bytes left rounded
        assert links[f"{u}->{v}"] == pytest.approx(nbytes, abs=len(rerouted))


def test_a_mid_run_failure_keeps_each_message_on_its_own_route_in_the_log():
    """Link 0–1 of a 4-ring fails in step 3: every pair i→i+1 still sent 6 messages, and the log says so
    (a route found anew after the failure is numbered apart from the routes already there)."""
    n = 4
    graph = build("ring", n, B, ALPHA, servers=0, overrides=[])
    done = run_disturbed("ring_allreduce", graph, make_buffers(n, 400, "float32", "data", 0),
                         Disturbance((0.0,) * n, link_failures=((0, 1, 3e-6),)))
    log = done.network.log
    pairs = [log.endpoints(i) for i in range(len(log))]
    assert sorted(set(pairs)) == [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert all(pairs.count(pair) == 6 for pair in set(pairs))


def _fat_tree_ring(failures: tuple) -> tuple:
    n, p = 4, 1000  # 1000 B per message
    graph = build("fat_tree", n, B, ALPHA, servers=0, overrides=[], k=4)
    done = run_disturbed("ring_allreduce", graph, make_buffers(n, p, "float32", "data", 0),
                         Disturbance((0.0,) * n, link_failures=failures))
    return done, p * 4 // n


def test_a_fat_tree_link_down_carries_nothing_and_its_traffic_takes_the_other_aggregation():
    """A k = 4 fat tree with 4 workers: 0, 1 under pod0.edge0, 2, 3 under pod0.edge1. Ring messages 0→1 and
    2→3 take 2 hops, 1→2 and 3→0 four (up to the aggregation switch ECMP picks, crc32 of the pair, and down).
    With the link from edge0 to 1→2's aggregation switch down from t = 0, its 6 messages climb through the
    other one: that link carries 6 × 1000 B, the dead one nothing, and every step still takes 2α or 4α + m/B
    (no two messages share a directed link), so the finish times are the ring's dependency model's."""
    up = zlib.crc32(repr((1, 2)).encode()) % 2
    done, m = _fat_tree_ring((("pod0.edge0", f"pod0.agg{up}", 0.0),))
    near, far = 2 * ALPHA + m / B, 4 * ALPHA + m / B
    assert done.finish_s == pytest.approx(_ring_finish([near, far, near, far]), rel=1e-12)
    links = done.network.bytes_per_link
    assert f"pod0.edge0->pod0.agg{up}" not in links and f"pod0.agg{up}->pod0.edge0" not in links
    assert links[f"pod0.edge0->pod0.agg{1 - up}"] == 6 * m


def test_a_switch_cut_off_with_no_worker_behind_it_is_no_partition():
    """The same fat tree: pod3.edge1 has no host; cutting both its links leaves it alone, and no participant
    with it, so the run goes on (nothing it carried) and ends as the ring's dependency model says. Every route
    the topology's router (ECMP) picks survives, so 1→2 and 3→0 still climb to the aggregation switch crc32
    of their pair picks (not the first a hop-shortest search finds): 6 messages each way."""
    done, m = _fat_tree_ring((("pod3.edge1", "pod3.agg0", 0.0), ("pod3.edge1", "pod3.agg1", 0.0)))
    near, far = 2 * ALPHA + m / B, 4 * ALPHA + m / B
    assert done.stopped is None
    assert done.finish_s == pytest.approx(_ring_finish([near, far, near, far]), rel=1e-12)
    up, back = (zlib.crc32(repr(pair).encode()) % 2 for pair in ((1, 2), (3, 0)))
    climbed = {f"pod0.edge0->pod0.agg{up}", f"pod0.agg{up}->pod0.edge1", f"pod0.edge1->pod0.agg{back}",
               f"pod0.agg{back}->pod0.edge0"}
    carried = {link: nbytes for link, nbytes in done.network.bytes_per_link.items() if "agg" in link}
    assert carried == dict.fromkeys(climbed, 6 * m)


def test_a_crashed_sender_s_message_under_way_never_arrives_and_frees_its_link_by_hand():
    """Star (two hops of α each): 0→2 and 1→2 share link switch→2, 1000 B each at B/2. Node 0 crashes at
    1 us, 500 B sent: its message is lost (never delivered; the receive posted for it waits on), and 1→2
    has the link alone: its last 500 B take 0.5 us, it lands at 1.5 us + 2α = 3.5 us (at B/2 it would be
    4 us). Node 0 sends and receives nothing more; a message to it still crosses the network and is
    delivered (its sender goes on)."""
    env = simpy.Environment()
    net = DisturbedNetwork(env, build("star", 3, B, ALPHA, servers=0, overrides=[]))
    net.recv(0, 1)  # node 0 waits for 1, which never sends: after the crash it waits for nothing
    env.timeout(1e-6).callbacks.append(lambda _event: net.crash(0))
    late: list[float] = []

    heard = []

    def after_the_crash():
        yield env.timeout(2e-6)
        net.send(0, 1, 1000).callbacks.append(lambda _event: late.append(env.now))
        heard.append(net.recv(0, 2))
        yield net.send(2, 0, 1000)
        late.append(env.now)

    env.process(after_the_crash())
    assert _deliveries(net, [(0, 2, 1000), (1, 2, 1000)]) == [None, pytest.approx(3.5e-6, rel=1e-12)]
    assert late == [pytest.approx(2e-6 + 2 * ALPHA + 1e-6, rel=1e-12)]  # only 2→0 arrived
    assert not heard[0].triggered  # the crashed node's receive never fires
    assert net.lost == [(0, 2, pytest.approx(500, rel=1e-12))]
    assert [key[:2] for key, entry in net._channels.items() if entry[0] is False] == [(0, 2)]  # 2 waits on 0


def test_a_message_waiting_out_its_jitter_when_its_sender_crashes_never_starts():
    """With jitter, 0→1 (1000 B) is sent at 0 and starts after the seeded draw d·J; node 0 crashing at
    d·J/2 means it never starts: all 1000 B are lost, nothing crosses, the receive waits on."""
    env = simpy.Environment()
    jitter = 10e-6
    net = DisturbedNetwork(env, build("star", 2, B, ALPHA, servers=0, overrides=[]), jitter_s=jitter, seed=3)
    delay = jitter * float(np.random.default_rng([3, 7]).random())
    env.timeout(delay / 2).callbacks.append(lambda _event: net.crash(0))
    assert _deliveries(net, [(0, 1, 1000)]) == [None]
    assert net.lost == [(0, 1, 1000.0)] and net.messages == 0 and len(net.log) == 0
    assert [key[:2] for key, entry in net._channels.items() if entry[0] is False] == [(0, 1)]


def test_a_receive_whose_message_was_cut_gets_the_channel_s_next_one_by_hand():
    """0 sends 1000 B then 10 B to 2 on a star (B/2 each while both flow); 2 has posted one receive, matched
    to the first. The 10 B have left by 20 ns (and 10 B of the other); node 0 crashes at 30 ns, the 1000 B
    message (20 B sent) is lost, and the receive gets the channel's next message, the 10 B one, when it
    lands: 20 ns + 2α."""
    env = simpy.Environment()
    net = DisturbedNetwork(env, build("star", 3, B, ALPHA, servers=0, overrides=[]))
    got: list[tuple[float, str]] = []
    net.recv(2, 0).callbacks.append(lambda event: got.append((env.now, event.value)))
    net.send(0, 2, 1000, payload="first")
    net.send(0, 2, 10, payload="second")
    env.timeout(30e-9).callbacks.append(lambda _event: net.crash(0))
    env.run()
    assert got == [(pytest.approx(20e-9 + 2 * ALPHA, rel=1e-12), "second")]
    assert net.lost == [(0, 2, pytest.approx(980, rel=1e-9))]



def _received(net: DisturbedNetwork, at: float, count: int) -> list[tuple[float, str]]:
    """Node 2 posts ``count`` receives from 0 at time ``at`` (now if 0): (when, payload) of each that fires."""
    got: list[tuple[float, str]] = []

    def post(_event=None):
        for _ in range(count):
            event = net.recv(2, 0)
            if event.processed:  # its message had landed already
                got.append((net.env.now, event.value))
            else:
                event.callbacks.append(lambda event: got.append((net.env.now, event.value)))

    if at:
        net.env.timeout(at).callbacks.append(post)
    else:
        post()
    return got


def test_receives_after_a_cut_get_the_channel_s_messages_in_order_by_hand():
    """0 sends 1000 B ("first"), then 10 B twice ("second", "third") to 2 on a star, three flows at B/3; 2 has
    posted one receive, matched to "first". The two 10 B messages have left at 30 ns (10 B of "first" too);
    node 0 crashes at 40 ns, "first" (20 B sent) is lost: the receive gets "second" when it lands (30 ns + 2α),
    and a receive posted at 5 us gets "third" at once."""
    env = simpy.Environment()
    net = DisturbedNetwork(env, build("star", 3, B, ALPHA, servers=0, overrides=[]))
    got = _received(net, 0.0, 1)
    later = _received(net, 5e-6, 1)
    for payload, nbytes in (("first", 1000), ("second", 10), ("third", 10)):
        net.send(0, 2, nbytes, payload=payload)
    env.timeout(40e-9).callbacks.append(lambda _event: net.crash(0))
    env.run()
    assert got == [(pytest.approx(30e-9 + 2 * ALPHA, rel=1e-12), "second")]
    assert later == [(pytest.approx(5e-6, rel=1e-12), "third")]
    assert net.lost == [(0, 2, pytest.approx(980, rel=1e-9))] and net._channels == {}


@pytest.mark.parametrize("short", [["a"], ["a", "b"]])
def test_a_cut_message_no_receive_was_matched_to_leaves_the_channel_by_hand(short):
    """0 sends k messages of 10 B ("a", "b"), then "c" (1000 B) to 2 before 2 posts any receive, k + 1 flows at
    B/(k + 1): the short ones have left at 10(k + 1) ns; node 0 crashes 10 ns later and "c" (20 B sent) is
    lost. k + 1 receives posted at 5 us get the short ones at once, in order; the last waits for ever."""
    env = simpy.Environment()
    net = DisturbedNetwork(env, build("star", 3, B, ALPHA, servers=0, overrides=[]))
    got = _received(net, 5e-6, len(short) + 1)
    for payload in short:
        net.send(0, 2, 10, payload=payload)
    net.send(0, 2, 1000, payload="c")
    env.timeout(10e-9 * (len(short) + 2)).callbacks.append(lambda _event: net.crash(0))
    env.run()
    assert got == [(pytest.approx(5e-6, rel=1e-12), payload) for payload in short]
    assert net.lost == [(0, 2, pytest.approx(980, rel=1e-9))]
    assert [(key[:2], len(entry) - 1) for key, entry in net._channels.items() if entry[0] is False] == [((0, 2), 1)]


def test_a_cut_message_s_receive_waits_with_the_receives_behind_it_by_hand():
    """2 posts two receives from 0; 0 sends 1000 B, matched to the first, and crashes at 0.5 us (500 B sent):
    the message is lost and both receives wait on 0, for ever."""
    env = simpy.Environment()
    net = DisturbedNetwork(env, build("star", 3, B, ALPHA, servers=0, overrides=[]))
    got = _received(net, 0.0, 2)
    net.send(0, 2, 1000, payload="lost")
    env.timeout(0.5e-6).callbacks.append(lambda _event: net.crash(0))
    env.run()
    assert got == [] and net.lost == [(0, 2, pytest.approx(500, rel=1e-9))]
    assert [(key[:2], len(entry) - 1) for key, entry in net._channels.items() if entry[0] is False] == [((0, 2), 2)]


def test_a_partition_names_eight_nodes_a_side_and_counts_the_rest():
    """A 17-ring with links 7–8 and 16–0 down at 1 us: the second splits it into 0..7 (eight workers, all
    named) and 8..16 (nine: the first eight named, "and 1 more")."""
    n = 17
    graph = build("ring", n, B, ALPHA, servers=0, overrides=[])
    done = run_disturbed("ring_allreduce", graph, make_buffers(n, 17, "float32", "size-only", 0),
                         Disturbance((0.0,) * n, link_failures=((7, 8, 1e-6), (16, 0, 1e-6))))
    assert done.stopped == ("network partitioned at t = 1.00 us (link 16–0 failed): workers 0, 1, 2, 3, 4, 5, 6, 7 "
                            "cannot reach 8, 9, 10, 11, 12, 13, 14, 15 and 1 more")


def test_a_crash_after_a_rate_change_loses_what_the_new_rate_left_by_hand():
    """Star: 0→2 (1000 B) and 1→2 (200 B) start at 0 and share switch→2 at B/2. 1→2 has left at 0.4 us (and
    lands 2α later, 2.4 us); 0→2 then has 800 B left, alone at B. Node 0 crashes at 1 us: 200 B were still to
    send (not the 0 B its first rate would leave: 1000 B − B·1 us), so the message is lost, and it is not
    delivered either at 2 us, when its transmission at B/2 would have ended (that timer is stale)."""
    env = simpy.Environment()
    net = DisturbedNetwork(env, build("star", 3, B, ALPHA, servers=0, overrides=[]))
    env.timeout(1e-6).callbacks.append(lambda _event: net.crash(0))
    assert _deliveries(net, [(0, 2, 1000), (1, 2, 200)]) == [None, pytest.approx(0.4e-6 + 2 * ALPHA, rel=1e-12)]
    assert net.lost == [(0, 2, pytest.approx(200, rel=1e-9))]


@pytest.mark.parametrize("seed", [None, 3])
def test_a_send_naming_no_transfer_starts_after_the_seed_s_own_draw_by_hand(seed):
    """A send that names no transfer (a hand-written algorithm's) draws its delay from the seed's own stream,
    U = default_rng([seed, 7]) (seed 0 when none is given): 0→1 (1000 B) on a star with J = 10 us lands at
    U·J + 2α + 1000 B / B, and the log has it start at U·J."""
    env = simpy.Environment()
    jitter = 10e-6
    graph = build("star", 2, B, ALPHA, servers=0, overrides=[])
    seeded = {} if seed is None else {"seed": seed}
    net = DisturbedNetwork(env, graph, jitter_s=jitter, **seeded)
    delay = jitter * float(np.random.default_rng([seed or 0, 7]).random())
    assert _deliveries(net, [(0, 1, 1000)]) == [pytest.approx(delay + 2 * ALPHA + 1000 / B, rel=1e-12)]
    assert net.log.start[0] == pytest.approx(delay, rel=1e-12)
