"""The network model: route timing, max-min fair sharing, full duplex, matching, accounting."""

import copy

import networkx as nx
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim.network import topology
from commsim.network.fluid import Network

B = 1e9  # bytes/s
ALPHA = 2e-6  # s


def _net(graph):
    env = simpy.Environment()
    return env, Network(env, graph)


def _deliveries(env, net, sends, starts=None):
    """Send (src, dst, nbytes) messages (each at its start time) and return delivery times."""
    times = [None] * len(sends)
    starts = starts or [0.0] * len(sends)

    def sender(i, src, dst, nbytes):
        yield env.timeout(starts[i])
        yield net.send(src, dst, nbytes)
        times[i] = env.now

    for i, (src, dst, nbytes) in enumerate(sends):
        env.process(sender(i, src, dst, nbytes))
    env.run()
    return times


def test_message_alone_takes_latencies_plus_bytes_over_bottleneck():
    """A lone message costs the sum of route latencies plus bytes / the smallest bandwidth."""
    graph = topology.star(3, B, ALPHA)
    topology.apply_overrides(graph, [{"between": [2, "switch"], "bandwidth": B / 4, "latency": 3 * ALPHA}])
    env, net = _net(graph)
    (t,) = _deliveries(env, net, [(0, 2, 10_000)])
    assert t == pytest.approx(ALPHA + 3 * ALPHA + 10_000 / (B / 4), rel=1e-12)


@given(k=st.integers(1, 40), size=st.integers(1, 10**7))
@settings(max_examples=40, deadline=None)
def test_k_equal_transfers_share_one_link_fairly(k, size):
    """k equal transfers started together on one link all end at latency + k·size/B."""
    graph = nx.Graph()
    graph.add_edge(0, 1, bandwidth=B, latency=ALPHA)
    env, net = _net(graph)
    times = _deliveries(env, net, [(0, 1, size)] * k)
    assert times == pytest.approx([ALPHA + k * size / B] * k, rel=1e-12)


def test_links_are_full_duplex():
    """Opposite directions of one link do not share bandwidth."""
    graph = nx.Graph()
    graph.add_edge(0, 1, bandwidth=B, latency=ALPHA)
    env, net = _net(graph)
    assert _deliveries(env, net, [(0, 1, 5000), (1, 0, 5000)]) == pytest.approx([ALPHA + 5000 / B] * 2, rel=1e-12)


def test_max_min_fairness_gives_spare_capacity_to_unbottlenecked_flow():
    """Three flows into worker 2 get B/3 each; a flow sharing only their source link gets the 2B/3 left."""
    env, net = _net(topology.star(4, B, ALPHA))
    size = 3_000_000
    a, b, d, c = _deliveries(env, net, [(0, 2, size), (1, 2, size), (3, 2, size), (0, 1, size)])
    assert (a, b, d) == pytest.approx([2 * ALPHA + 3 * size / B] * 3, rel=1e-12)
    assert c == pytest.approx(2 * ALPHA + size / (2 * B / 3), rel=1e-12)


def test_rate_changes_midway_keep_bytes_sent_so_far():
    """A flow joined halfway slows to B/2 for the overlap, then the survivor speeds back up."""
    graph = nx.Graph()
    graph.add_edge(0, 1, bandwidth=B, latency=0.0)
    env, net = _net(graph)
    size = 1_000_000
    first, second = _deliveries(env, net, [(0, 1, size), (0, 1, size)], starts=[0.0, size / (2 * B)])
    assert first == pytest.approx(1.5 * size / B, rel=1e-12)
    assert second == pytest.approx(2.0 * size / B, rel=1e-12)


def test_zero_byte_message_costs_only_latency():
    """A message of no bytes is delivered after the route latency and still counted."""
    env, net = _net(topology.ring(4, B, ALPHA))
    assert _deliveries(env, net, [(0, 2, 0)]) == pytest.approx([2 * ALPHA])
    assert len(net.log) == 1 and net.log.nbytes[0] == 0


def test_messages_match_in_order_per_channel_and_tag():
    """Receives get payloads in send order per (src, dst, tag), whoever comes first."""
    env, net = _net(topology.fully_connected(2, B, ALPHA))
    got = []

    def receiver():
        got.append((yield net.recv(1, 0, tag="b")))
        got.append((yield net.recv(1, 0)))
        got.append((yield net.recv(1, 0)))

    def sender():
        net.send(0, 1, 8, payload="first")
        net.send(0, 1, 8, payload="second")
        yield env.timeout(1.0)
        net.send(0, 1, 8, payload="tagged", tag="b")

    env.process(receiver())
    env.process(sender())
    env.run()
    assert got == ["tagged", "first", "second"]


def test_log_and_link_accounting():
    """Each message is logged with endpoints, bytes, times and phase; route bytes add up per link."""
    env, net = _net(topology.star(3, B, ALPHA))
    net.send(0, 1, 1000, phase="push")
    net.send(2, 1, 3000, phase="pull")
    env.run()
    log = net.log
    assert [log.endpoints(i) for i in range(len(log))] == [(0, 1), (2, 1)]
    assert list(log.nbytes) == [1000, 3000]
    assert [log.phases[p] for p in log.phase] == ["push", "pull"]
    assert list(log.start) == [0.0, 0.0]
    # both share switch->1: B/2 each while both run, then 2000 bytes alone at B
    assert log.end[0] == pytest.approx(2 * ALPHA + 2000 / B, rel=1e-12)
    assert log.end[1] == pytest.approx(2 * ALPHA + 2000 / B + 2000 / B, rel=1e-12)
    per_link = {}
    for route in net.routes:
        for link in route.links:
            per_link[link.u, link.v] = per_link.get((link.u, link.v), 0) + route.bytes
    assert per_link == {(0, "switch"): 1000, (2, "switch"): 3000, ("switch", 1): 4000}


def test_sending_to_self_is_refused():
    """A node cannot send to itself."""
    env, net = _net(topology.star(2, B, ALPHA))
    with pytest.raises(ValueError, match="itself"):
        net.send(1, 1, 10)


def test_routes_are_shortest_and_deterministic():
    """Routes are hop-shortest and the same in two networks built alike."""
    routes = []
    for _ in range(2):
        _, net = _net(topology.ring(6, B, ALPHA))
        routes.append([[(link.u, link.v) for link in net.route(0, dst).links] for dst in range(1, 6)])
    assert routes[0] == routes[1]
    assert [len(r) for r in routes[0]] == [1, 2, 3, 2, 1]


def test_link_is_free_while_the_previous_message_propagates():
    """Bytes that have left a link no longer share it, though their message is still in flight."""
    graph = nx.Graph()
    graph.add_edge(0, 1, bandwidth=B, latency=1e-3)
    env, net = _net(graph)
    size = 1_000_000  # 1 ms on the wire, then 1 ms of propagation
    first, second = _deliveries(env, net, [(0, 1, size), (0, 1, size)], starts=[0.0, 1.5e-3])
    assert first == pytest.approx(2e-3, rel=1e-12)
    assert second == pytest.approx(1.5e-3 + 2e-3, rel=1e-12)


def _reference_fluid(graph, sends, starts, failures=(), rerouted=None, carried=None):
    """A naive fluid simulator, independent of commsim: max-min rates recomputed at every event. A flow takes
    networkx's single-source shortest path when it starts; at a failure (u, v, time) the edge goes, and each
    flow crossing it goes on with the bytes it has left along such a path found anew (``rerouted``, if given,
    collects those bytes; ``carried``, the bytes that crossed each directed link). Deliveries: the end of
    transmission plus the latency of the path taken last."""
    graph = copy.deepcopy(graph)  # Graph.copy would change each node's neighbour order, and so the paths
    links = {}
    for u, v, data in graph.edges(data=True):
        links[u, v] = links[v, u] = data["bandwidth"]

    def route(flow):
        path = nx.single_source_shortest_path(graph, flow["src"])[flow["dst"]]
        flow["hops"] = list(zip(path, path[1:]))
        flow["latency"] = sum(graph.edges[hop]["latency"] for hop in flow["hops"])

    flows = [{"src": src, "dst": dst, "hops": None, "left": float(size), "start": start, "done": None}
             for (src, dst, size), start in zip(sends, starts)]
    pending = sorted(failures, key=lambda failure: failure[2])
    now = 0.0
    while any(f["done"] is None for f in flows):
        while pending and pending[0][2] <= now:
            u, v, _ = pending.pop(0)
            graph.remove_edge(u, v)
            for f in flows:
                if f["hops"] is not None and f["done"] is None and {(u, v), (v, u)} & set(f["hops"]):
                    route(f)
                    if rerouted is not None:
                        rerouted.append(f["left"])
        active = [f for f in flows if f["start"] <= now and f["done"] is None]
        for f in active:
            if f["hops"] is None:
                route(f)
            if f["left"] <= 1e-9:
                f["done"] = now
        active = [f for f in active if f["done"] is None]
        rates, spare, frozen = {}, dict(links), set()
        while len(frozen) < len(active):  # progressive filling
            counts = {h: sum(1 for i, f in enumerate(active) if i not in frozen and h in f["hops"]) for h in links}
            share = min(spare[h] / c for h, c in counts.items() if c)
            for i, f in enumerate(active):
                if i not in frozen:
                    rates[i] = rates.get(i, 0.0) + share
                    for h in f["hops"]:
                        spare[h] -= share
            for i, f in enumerate(active):
                if i not in frozen and any(spare[h] <= 1e-9 * links[h] for h in f["hops"]):
                    frozen.add(i)
        upcoming = [f["start"] for f in flows if f["start"] > now] + [at for _, _, at in pending]
        finishing = [now + f["left"] / rates[i] for i, f in enumerate(active)]
        if not upcoming + finishing:
            continue
        step = min(upcoming + finishing) - now
        for i, f in enumerate(active):
            f["left"] -= rates[i] * step
            for hop in f["hops"] if carried is not None else ():
                carried[hop] = carried.get(hop, 0.0) + rates[i] * step
        now += step
    return [f["done"] + f["latency"] for f in flows]


SPEEDS = st.sampled_from([B / 4, B / 2, B, 2 * B])
LATENCIES = st.sampled_from([0.0, ALPHA, 3 * ALPHA])
SHAPES = {  # trees, so every route is the one shortest path the reference takes too
    "star": [(0, "s0"), (1, "s0"), (2, "s0"), (3, "s0")],
    "dumbbell": [(0, "s0"), (1, "s0"), ("s0", "s1"), (2, "s1"), (3, "s1")],
}


@st.composite
def trees_with_unequal_links(draw):
    """A star or a two-switch dumbbell of 4 workers whose links each draw a bandwidth and a latency."""
    graph = nx.Graph()
    for u, v in SHAPES[draw(st.sampled_from(sorted(SHAPES)))]:
        graph.add_edge(u, v, bandwidth=draw(SPEEDS), latency=draw(LATENCIES))
    return graph


@given(
    graph=trees_with_unequal_links(),
    sends=st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 4) .map(lambda k: 250_000 * k)),
        min_size=1, max_size=7,
    ).map(lambda xs: [(s, d, b) for s, d, b in xs if s != d]).filter(bool),
    data=st.data(),
)
@settings(max_examples=400)
def test_deliveries_match_a_naive_fluid_reference(graph, sends, data):
    """Random messages (sizes, start times) on stars and dumbbells whose links differ are delivered when a
    naive max-min model says: lone flows, flows that start to share, and flows that finish together."""
    starts = data.draw(st.lists(st.sampled_from([0.0, 1e-4, 2.5e-4, 6e-4]), min_size=len(sends), max_size=len(sends)))
    env, net = _net(graph)
    got = _deliveries(env, net, sends, starts)
    assert got == pytest.approx(_reference_fluid(graph, sends, starts), rel=1e-9, abs=1e-15)


def test_a_link_with_a_little_spare_capacity_is_not_saturated():
    """Two flows leave worker 0 over a fat uplink to links of B and 1.0005·B: each runs at its own
    downlink's rate, so the faster one is 0.05 % earlier (a looser saturation test would freeze it at B)."""
    graph = nx.Graph()
    graph.add_edge(0, "s", bandwidth=4 * B, latency=0.0)
    graph.add_edge("s", 1, bandwidth=B, latency=0.0)
    graph.add_edge("s", 2, bandwidth=1.0005 * B, latency=0.0)
    env, net = _net(graph)
    size = 1_000_000
    slow, fast = _deliveries(env, net, [(0, 1, size), (0, 2, size)])
    assert slow == pytest.approx(size / B, rel=1e-12)
    assert fast == pytest.approx(size / (1.0005 * B), rel=1e-12)


def _count_reallocations(monkeypatch):
    calls = []
    real = Network._reallocate

    def counted(self, event):
        calls.append(self.env.now)
        return real(self, event)

    monkeypatch.setattr(Network, "_reallocate", counted)
    return calls


def test_rates_are_computed_once_per_instant_for_many_new_flows(monkeypatch):
    """Five flows that start together on one link cost one max-min computation, not five (and one more
    at the instant they all finish together)."""
    calls = _count_reallocations(monkeypatch)
    graph = nx.Graph()
    graph.add_edge(0, 1, bandwidth=B, latency=ALPHA)
    env, net = _net(graph)
    assert _deliveries(env, net, [(0, 1, 1000)] * 5) == pytest.approx([ALPHA + 5000 / B] * 5, rel=1e-12)
    assert calls == pytest.approx([0.0, 5000 / B], rel=1e-12)


def test_rates_wait_for_every_event_of_the_instant(monkeypatch):
    """A flow started after a zero-length timeout at the same instant joins the same computation: the
    reallocation runs after the instant's ordinary events, so it runs once (and once as they finish)."""
    calls = _count_reallocations(monkeypatch)
    graph = nx.Graph()
    graph.add_edge(0, 1, bandwidth=B, latency=ALPHA)
    env, net = _net(graph)
    times = []

    def sender(delay, count):
        if delay is not None:
            yield env.timeout(delay)
        for event in [net.send(0, 1, 1000) for _ in range(count)]:
            yield event
        times.append(env.now)

    env.process(sender(None, 2))  # two flows at once: they share, so a reallocation is due
    env.process(sender(0.0, 1))  # a third flow, after a zero timeout, in the same instant
    env.run()
    assert times == pytest.approx([ALPHA + 3000 / B] * 2, rel=1e-12)
    assert calls == pytest.approx([0.0, 3000 / B], rel=1e-12)


def test_a_link_freed_this_instant_is_idle(monkeypatch):
    """A message sent the instant a lone message's last byte leaves the link (while it still propagates)
    runs alone: one timer, no rate computation."""
    calls = _count_reallocations(monkeypatch)
    graph = nx.Graph()
    graph.add_edge(0, 1, bandwidth=B, latency=1e-3)
    env, net = _net(graph)
    size = 1_000_000
    first, second = _deliveries(env, net, [(0, 1, size), (0, 1, size)], starts=[0.0, size / B])
    assert (first, second) == pytest.approx([size / B + 1e-3, 2 * size / B + 1e-3], rel=1e-12)
    assert calls == []


@settings(max_examples=60)
@given(nodes=st.integers(2, 30), extra=st.integers(0, 60), seed=st.integers(0, 10**6))
def test_shortest_path_is_the_single_source_path(nodes, extra, seed):
    """The early-stopping search returns exactly the path nx.single_source_shortest_path picks (ties
    broken the same way), for every pair of a random connected graph with many equal-length paths."""
    from commsim.network.fluid import shortest_path

    graph = nx.random_labeled_tree(nodes, seed=seed) if hasattr(nx, "random_labeled_tree") else nx.random_tree(nodes, seed=seed)
    graph.add_edges_from(nx.gnm_random_graph(nodes, extra, seed=seed).edges)
    for src in graph:
        paths = nx.single_source_shortest_path(graph, src)
        assert all(shortest_path(graph, src, dst) == paths[dst] for dst in graph)


def test_shortest_path_refuses_a_disconnected_pair():
    from commsim.network.fluid import shortest_path

    graph = nx.Graph([(0, 1), (2, 3)])
    with pytest.raises(nx.NetworkXNoPath):
        shortest_path(graph, 0, 3)


def test_without_the_log_messages_are_counted_alike():
    """keep_log=False keeps no per-message record but the same counts: all-to-all on a 4x4 torus (shared
    links) sends n(n−1) = 240 messages of P, and finish times, bytes per link and sizes equal the logged run's."""
    from commsim.engines.message import bytes_per_link, make_buffers, message_histogram, run_collective

    graph = topology.build("torus", 16, 1e9, 1e-6)
    logged = run_collective("all_to_all", graph, make_buffers(16, 1000, "float32", "size-only", 0))
    counted = run_collective("all_to_all", graph, make_buffers(16, 1000, "float32", "size-only", 0), keep_log=False)
    assert counted.network.log is None and counted.network.messages == 240
    assert counted.network.message_sizes() == message_histogram(logged.network.log) == {4000: 240}
    assert counted.finish_s == logged.finish_s
    assert bytes_per_link(counted.network) == bytes_per_link(logged.network)


def test_lone_flows_due_together_share_one_timer():
    """A ring step's n lone messages are due at the same instant: one timer for all, so a 64-worker ring
    all-reduce (2·64·63 = 8064 messages, p a multiple of n) schedules about one event per step and
    worker start, not one per message, and still takes 2(n−1)(2α + (P/n)/B)."""
    from commsim.engines.message import make_buffers, run_collective

    n, p = 64, 64_000
    run = run_collective("ring_allreduce", topology.build("star", n, 1e9, 1e-6), make_buffers(n, p, "float32", "size-only", 0))
    assert run.network.messages == 2 * n * (n - 1)
    assert next(run.network.env._eid) < 2 * n + 2 * 2 * (n - 1)  # process starts, and about one timer per step
    assert run.makespan_s == pytest.approx(2 * (n - 1) * (2e-6 + p * 4 / n / 1e9), rel=1e-12)


def test_routes_are_found_once_per_pair_and_listed_in_the_order_found():
    """A pair's messages share one route (one index, one count of messages and bytes); ``routes`` lists them in
    the order found, whichever source they start from; a 2-hop star route's latency is one shared 2α object;
    forgotten routes are found anew under new indices."""
    env, net = _net(topology.star(4, B, ALPHA))
    net.send(0, 1, 100)
    net.send(2, 3, 7)
    net.send(0, 2, 30)
    net.send(0, 1, 50)
    env.run()
    first, second, third = net.routes
    assert [(r.src, r.dst, r.index) for r in net.routes] == [(0, 1, 0), (2, 3, 1), (0, 2, 2)]
    assert net.route(0, 1) is first
    assert [(link.u, link.v) for link in first.links] == [(0, "switch"), ("switch", 1)]
    assert (first.messages, first.bytes, second.messages, second.bytes, third.bytes) == (2, 150, 1, 7, 30)
    assert first.latency == 2 * ALPHA and first.latency is second.latency is third.latency
    assert net._known(2, 3) and not net._known(3, 2)
    assert net._forget_routes() == [first, second, third] and net.routes == []
    again = net.route(0, 1)
    assert again is not first and again.index == 3 and not net._known(2, 3)


def test_a_message_is_the_event_of_its_delivery_whichever_side_comes_first():
    """Star, two hops of α, B: a receive posted before its send and a send before its receive each give both sides
    one event, which fires with the payload at 2α + bytes/B (1000 B: 2 us + 1 us); an event given to ``send``
    (not one of the network's) is fired the same way."""
    env, net = _net(topology.star(4, B, ALPHA))
    posted = net.recv(1, 0)
    sent_after = net.send(0, 1, 1000, payload="a")
    sent_first = net.send(2, 1, 1000, payload="b")
    received_after = net.recv(1, 2)
    given = simpy.Event(env)
    assert net.send(3, 2, 1000, payload="c", delivery=given) is given
    times = {}
    for name, event in (("a", posted), ("b", received_after), ("c", given)):
        event.callbacks.append(lambda event, name=name: times.__setitem__(name, (env.now, event.value)))
    env.run()
    assert posted is sent_after and sent_first is received_after
    # a and b share switch→1 (B/2 each): 2000 B in 2 us, then 2α; c (3→2) goes alone
    assert times == {"a": (pytest.approx(2 * ALPHA + 2e-6, rel=1e-12), "a"),
                     "b": (pytest.approx(2 * ALPHA + 2e-6, rel=1e-12), "b"),
                     "c": (pytest.approx(2 * ALPHA + 1e-6, rel=1e-12), "c")}


def test_a_message_s_event_has_no_dict_and_simpy_s_interface():
    """A message's event is no SimPy Event subclass (whose instances carry a dict, ≈ 48 B a message) yet is read
    as one: pending, then processed with its payload; ``&`` waits for both (star, α = 2 us, B = 1 GB/s: 1000 B
    and 3000 B on disjoint routes arrive at 2α + 1 us and 2α + 3 us); ``succeed`` fires it as SimPy does."""
    env, net = _net(topology.star(4, B, ALPHA))
    short, long = net.send(0, 1, 1000, payload="s"), net.send(2, 3, 3000, payload="l")
    assert not hasattr(short, "__dict__") and not isinstance(short, simpy.Event)
    assert not short.triggered and not short.processed
    both = []

    def waiter():
        values = yield short & long
        both.append((env.now, [values[short], values[long]]))

    env.process(waiter())
    env.run()
    assert short.processed and short.ok and (short.value, long.value) == ("s", "l")
    assert both == [(pytest.approx(2 * ALPHA + 3e-6, rel=1e-12), ["s", "l"])]
    unsent = net.recv(3, 1)
    assert unsent.succeed("given") is unsent
    env.run()
    assert unsent.processed and unsent.value == "given"


def test_the_channel_table_is_copied_smaller_as_it_empties(monkeypatch):
    """The channel table (a dict, which never shrinks) is copied as it falls to each power of two from
    ``_SHRINK_FROM`` (here 4) down, and made anew once empty; it keeps its order, and each receive still gets
    its channel's message: 6 sends on 6 channels, received one by one in reverse."""
    from commsim.network import fluid

    monkeypatch.setattr(fluid, "_SHRINK_FROM", 4)
    env, net = _net(topology.star(7, B, ALPHA))
    sent = [net.send(0, dst, 100 * dst, payload=dst) for dst in range(1, 7)]
    tables = [net._channels]
    received = []
    for dst in range(6, 0, -1):
        received.append(net.recv(dst, 0))
        tables.append(net._channels)
        assert list(net._channels) == [(0, d, None) for d in range(1, dst)]
    assert received == sent[::-1]
    # copied on reaching 4 entries, then 2, then 1; fresh at 0
    new = [later is not earlier for earlier, later in zip(tables, tables[1:])]
    assert new == [False, True, False, True, True, True]
    assert net._shrink_at == 4
    env.run()
    assert [event.value for event in received] == [6, 5, 4, 3, 2, 1]


def test_a_message_posted_unwaited_has_no_callback_list_until_one_waits():
    """``waited=False``: the event has no callback list (an all-to-all posts n(n−1) before waiting on any), so SimPy
    refuses to wait on it as it is; ``waitable`` gives it one, and a process waiting then resumes at its delivery
    (star, α = 2 us, B = 1 GB/s: 2α + 1 us for 1000 B). Delivered before anyone waits, it is simply processed; a
    send (waited) matched to a receive posted unwaited returns it with a list."""
    from commsim.network.fluid import waitable

    env, net = _net(topology.star(4, B, ALPHA))
    sent = net.send(0, 1, 1000, payload="a", waited=False)
    early = net.send(2, 3, 1000, payload="b", waited=False)
    receive = net._event_for((3, 2, None), False, False)
    assert sent.callbacks == () and early.callbacks == () and receive.callbacks == ()
    resumed = []

    def refused():
        yield sent

    def waiter():
        value = yield waitable(sent)
        resumed.append((env.now, value))

    with pytest.raises(AttributeError):
        env.process(refused())
        env.step()
    env.process(waiter())
    matched = net.send(3, 2, 500, payload="c")
    assert matched is receive and matched.callbacks == []
    env.run()
    assert resumed == [(pytest.approx(2 * ALPHA + 1e-6, rel=1e-12), "a")]
    assert early.processed and early.value == "b" and early.callbacks is None
    assert waitable(early) is early and early.callbacks is None  # processed: nothing to wait for


def test_a_message_keeps_its_size_start_phase_and_tag_only_where_a_log_or_a_fault_reads_them():
    """Without a log a message's event has no size, start, phase or tag (32 B a message an all-to-all does
    without); with a log it has them (1000 B sent at 0 in phase 0, tag "t"), and on a network that may be
    disturbed (a crash withdraws a message by its tag) even without a log."""
    from commsim.network.disturbances import DisturbedNetwork

    fields = ("nbytes", "start", "phase", "tag")
    env = simpy.Environment()
    bare = Network(env, topology.star(4, B, ALPHA), keep_log=False).send(0, 1, 1000, tag="t", phase="p")
    assert not any(hasattr(bare, field) for field in fields)
    with pytest.raises(AttributeError):  # nor a slot for another event to fire (its own fires)
        bare.delivery = None
    logged = Network(env, topology.star(4, B, ALPHA), keep_log=True).send(0, 1, 1000, tag="t", phase="p")
    assert [getattr(logged, field) for field in fields] == [1000, 0.0, 0, "t"]
    disturbed = DisturbedNetwork(env, topology.star(4, B, ALPHA), keep_log=False).send(0, 1, 1000, tag="t")
    assert [getattr(disturbed, field) for field in fields] == [1000, 0.0, 0, "t"]
    env.run()
    assert bare.processed and bare.at == pytest.approx(2 * ALPHA + 1e-6, rel=1e-12)
