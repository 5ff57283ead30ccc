"""The schedule engine's round stream (issue 22): sized rounds, stated size histograms, the per-route check
of rounds that repeat their pairs, and bytes written when the pairs change — against hand computations."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim.collectives import REGISTRY, get
from commsim.collectives.schedule import Round, Schedule, ints, listed, ring_rounds, schedule_for
from commsim.engines.program import one_call
from commsim.engines.schedule import _Spread, participant_nodes, run_program, run_schedule
from commsim.network import topology as topologies

B, ALPHA = 12.5e9, 1e-6


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 12), p=st.integers(0, 60), w=st.integers(1, 8), steps=st.sampled_from([(1, 1), (1, 0), (0, 1)]),
       offsets=st.tuples(st.integers(-3, 3), st.integers(-3, 3)))
def test_sized_ring_rounds_are_the_full_rounds_without_ranges(n, p, w, steps, offsets):
    """Every sized round sends what the full round sends (pairs, bytes, what is combined, phase), and the
    stated histogram is the round's own."""
    schedule = ring_rounds(n, p, w, steps[0] * (n - 1), steps[1] * (n - 1), *offsets)
    for k in range(schedule.rounds):
        full, sized = schedule.round(k), schedule.sized_round(k)
        assert sized.lo is None and sized.hi is None and sized.scale is None
        for field in ("src", "dst", "nbytes"):
            assert np.array_equal(getattr(full, field), getattr(sized, field))
        assert (full.combine is None) == (sized.combine is None)
        if full.combine is not None:
            assert np.array_equal(full.combine, sized.combine)
        assert full.phase == sized.phase and full.reduce == sized.reduce
        values, counts = np.unique(full.nbytes, return_counts=True)
        for stated in (full.sizes, sized.sizes):
            assert np.array_equal(stated[0], values) and np.array_equal(stated[1], counts)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 9), data=st.data())
def test_spread_takes_the_maximum_as_maximum_at_does(n, data):
    """Identity, rotations, permutations and ends with repeats or gaps: the same maxima as np.maximum.at."""
    kind = data.draw(st.sampled_from(["rotation", "permutation", "any"]))
    if kind == "rotation":
        ends = (np.arange(n) + data.draw(st.integers(0, n - 1))) % n
    elif kind == "permutation":
        ends = np.array(data.draw(st.permutations(range(n))), dtype=np.int64)
    else:
        ends = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=2 * n)), dtype=np.int64)
    values = np.array(data.draw(st.lists(st.floats(0, 10), min_size=len(ends), max_size=len(ends))))
    into = np.array(data.draw(st.lists(st.floats(0, 10), min_size=n, max_size=n)))
    expected = into.copy()
    np.maximum.at(expected, ends, values)
    spread = _Spread(ends, n)
    spread.maximum(into, values)
    assert np.array_equal(into, expected)
    assert np.array_equal(spread.gather(np.arange(n) * 2.0), np.arange(n)[ends] * 2.0)
    assert spread.identity == np.array_equal(ends, np.arange(n))


def test_a_repeated_pair_sharing_its_link_a_round_later_goes_fluid():
    """Eager sender 0 sends P to 1 in two rounds, the same pair arrays both times: it starts round 1 at once,
    while round 0's transfer is on the link, so the two share it (B/2 each) and both arrive at 2P/B + 2α;
    a round at a time (no sharing) would say P/B + 2α."""
    src, dst, nbytes = ints([0]), ints([1]), ints([10_000])
    round_ = Round(src, dst, nbytes, "x")
    schedule = Schedule(2, 2, lambda k: round_, p=2_500, eager=True)
    run = run_schedule(schedule, topologies.build("star", 2, B, ALPHA), [0, 1])
    assert run.fluid
    assert run.makespan(2) == pytest.approx(2 * 10_000 / B + 2 * ALPHA, rel=1e-12)


def test_the_same_pairs_a_round_apart_do_not_share():
    """The same pair twice, not eager: round 1 starts when round 0's transfer is delivered, so a round at a
    time holds: 2(P/B + 2α), two messages of P on each of 0→switch and switch→1."""
    round_ = Round(ints([0]), ints([1]), ints([10_000]), "x")
    run = run_schedule(Schedule(2, 2, lambda k: round_, p=2_500), topologies.build("star", 2, B, ALPHA), [0, 1])
    assert not run.fluid and run.makespan(2) == pytest.approx(2 * (10_000 / B + 2 * ALPHA), rel=1e-12)
    assert run.bytes_per_link == {"0->switch": 20_000, "switch->1": 20_000}


def test_bytes_per_link_when_the_pairs_change_and_come_back():
    """Rounds 0–1 around the ring 0→1→2→0, round 2 back the other way (some bytes zero), round 3 the ring
    again: every link's bytes by hand, and the sizes counted from the rounds."""
    ring, back = (ints([0, 1, 2]), ints([1, 2, 0])), (ints([0, 1, 2]), ints([2, 0, 1]))
    rounds = [Round(*ring, ints([100, 200, 300]), "a"), Round(*ring, ints([1, 2, 3]), "a"),
              Round(*back, ints([10, 0, 30]), "b"), Round(*ring, ints([1000, 2000, 3000]), "a")]
    run = run_schedule(listed(3, rounds, 3), topologies.build("star", 3, B, ALPHA), [0, 1, 2])
    assert not run.fluid and run.messages == 12
    ring_up = {0: 100 + 1 + 1000, 1: 200 + 2 + 2000, 2: 300 + 3 + 3000}  # sender r → r + 1
    back_up = {0: 10, 1: 0, 2: 30}  # sender r → r − 1
    expected = {}
    for r in range(3):
        expected[f"{r}->switch"] = ring_up[r] + back_up[r]
        expected[f"switch->{(r + 1) % 3}"] = expected.get(f"switch->{(r + 1) % 3}", 0) + ring_up[r]
        expected[f"switch->{(r - 1) % 3}"] = expected.get(f"switch->{(r - 1) % 3}", 0) + back_up[r]
    assert run.bytes_per_link == dict(sorted(expected.items()))
    assert run.sizes == {0: 1, 1: 1, 2: 1, 3: 1, 10: 1, 30: 1, 100: 1, 200: 1, 300: 1, 1000: 1, 2000: 1, 3000: 1}


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 9), servers=st.integers(0, 2), data=st.data())
def test_routes_through_the_hub_are_the_routers_paths(n, servers, data):
    """On a star the routes of many pairs at once (through the hub) are the router's, path by path: the same
    links, latency and bottleneck, numbered alike."""
    from commsim.engines.routes import Routes

    graph = topologies.build("star", n, B, ALPHA, servers=servers)
    graph.edges[0, "switch"]["bandwidth"] = B / 2  # one slower link: bottlenecks differ
    nodes = [*range(n), *topologies.servers(graph)]
    size = len(nodes)
    pairs = data.draw(st.lists(st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)), min_size=1, max_size=30))
    src, dst = ints([a for a, _ in pairs]), ints([b for _, b in pairs])
    hub, searched = Routes(graph, nodes), Routes(graph, nodes)
    searched._through_hub = lambda new: None  # the path-by-path way
    ids = hub.lookup(src, dst)
    assert np.array_equal(ids, searched.lookup(src, dst))
    for name in ("flat", "length", "start", "latency", "bottleneck", "rerouted", "keys", "ids"):
        assert np.array_equal(getattr(hub, name), getattr(searched, name)), name
    assert hub.latency[ids] == pytest.approx(np.full(len(ids), 2 * ALPHA), rel=1e-15)


@settings(max_examples=30, deadline=None)
@given(algorithm=st.sampled_from(sorted(name for name in REGISTRY if not name.startswith("schedule:"))),
       kind=st.sampled_from(["star", "fat_tree", "ring", "fully_connected"]), n=st.integers(1, 12),
       p=st.integers(1, 3000), gamma=st.sampled_from([0.0, 3e-10]))
def test_the_stream_gives_the_bits_of_the_round_by_round_way(algorithm, kind, n, p, gamma):
    """With a log kept the engine takes every round on its own, as before the stream: the same times to the last
    bit, messages, sizes, bytes per link and bound."""
    spec = get(algorithm)
    servers = (2 if algorithm == "sharded_parameter_server" else 1) if spec.server else 0
    try:
        graph = topologies.build(kind, n, B, ALPHA, servers=servers)
    except (topologies.TopologyError, ValueError):
        return
    used = topologies.servers(graph)[:1] if algorithm == "parameter_server" else topologies.servers(graph)
    schedule = schedule_for(algorithm, n, p, 4, len(used), graph.graph.get("gpus_per_node"))
    program = one_call(schedule, participant_nodes(schedule, n, used), n, list(used))
    streamed, alone = run_program(program, graph, gamma), run_program(program, graph, gamma, keep_log=True)
    assert streamed.fluid == alone.fluid
    assert np.array_equal(streamed.finish_s, alone.finish_s, equal_nan=True)
    assert np.array_equal(streamed.task_end, alone.task_end, equal_nan=True)
    assert (streamed.messages, streamed.sizes, streamed.bytes_per_link, streamed.busiest_link_bound) == \
        (alone.messages, alone.sizes, alone.bytes_per_link, alone.busiest_link_bound)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.integers(0, 6), max_size=12), width=st.sampled_from([1, 10**9]), columns=st.integers(1, 3),
       data=st.data())
def test_the_shortcuts_give_what_numpy_gives(values, width, columns, data):
    """Distinct values, the size histogram and "rows already in order" as np.unique and sorted() say, with
    constant columns, short and wide ranges, ties and rows out of order."""
    from commsim.engines.routes import _distinct
    from commsim.engines.schedule import _histogram, _in_order, _values

    array = ints(values) * width
    assert _values(array) == np.unique(array).tolist()
    if len(array):
        got, expected = _histogram(array), np.unique(array, return_counts=True)
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    assert np.array_equal(_distinct(array), np.unique(array))
    assert np.array_equal(_distinct(np.unique(array)), np.unique(array))
    table = [ints(data.draw(st.lists(st.integers(0, 2), min_size=len(values), max_size=len(values))))
             for _ in range(columns)]
    rows = list(zip(*(column.tolist() for column in table)))
    assert _in_order(*table) == all(a < b for a, b in zip(rows, rows[1:]))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 8), channels=st.integers(1, 3), p=st.integers(1, 5000), gamma=st.sampled_from([0.0, 3e-10]),
       which=st.sampled_from(["all_reduce", "reduce_scatter", "all_gather"]), kind=st.sampled_from(["star", "fat_tree"]))
def test_the_stream_gives_the_bits_of_nccl_rings(n, channels, p, gamma, which, kind):
    """NCCL's eager rings (channels: participants are not the workers, sends not in worker order): streamed, the
    same bits as round by round."""
    from commsim.collectives.nccl import ring

    make = {"all_reduce": ring.nccl_ring_schedule, "reduce_scatter": ring.nccl_reduce_scatter_schedule,
            "all_gather": ring.nccl_all_gather_schedule}[which]
    schedule = make(n, p, 4, channels=channels)
    graph = topologies.build(kind, n, B, ALPHA)
    program = one_call(schedule, participant_nodes(schedule, n, ()), n, [])
    streamed, alone = run_program(program, graph, gamma), run_program(program, graph, gamma, keep_log=True)
    assert streamed.fluid == alone.fluid
    assert np.array_equal(streamed.finish_s, alone.finish_s) and np.array_equal(streamed.task_end, alone.task_end)
    assert (streamed.messages, streamed.sizes, streamed.bytes_per_link) == \
        (alone.messages, alone.sizes, alone.bytes_per_link)


@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(["star", "fat_tree", "ring"]), n=st.integers(2, 9), data=st.data())
def test_incidence_lists_every_link_of_every_route(kind, n, data):
    """(links, owner) of routes as long as each other or not: each route's links in order, by hand from the
    route table."""
    from commsim.engines.routes import Routes

    routes = Routes(topologies.build(kind, n, B, ALPHA), list(range(n)))
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=1, max_size=12))
    ids = routes.lookup(ints([a for a, _ in pairs]), ints([b for _, b in pairs]))
    links, owner = routes.incidence(ids)
    expected = [(routes.flat[routes.start[r] + j], position) for position, r in enumerate(ids.tolist())
                for j in range(routes.length[r])]
    assert list(zip(links.tolist(), owner.tolist())) == expected


@pytest.mark.parametrize("eager", [False, True])
@pytest.mark.parametrize("stated_runs", [False, True])
def test_rounds_and_runs_sliced_from_a_longer_array(eager, stated_runs):
    """A schedule's own sized rounds (and runs of them) whose sizes and what they combine are slices of one
    array of 3n sizes, not the ring's 2n: every rank's finish by the recurrence written here (star of 3: a
    transfer takes bytes/B + 2α; a rank is ready after its receive (and, not eager, its own send) plus
    γ·combined; eager, it ends at the later of that and its last send's delivery)."""
    from commsim.collectives.schedule import Run

    n, gamma = 3, 1e-10
    sizes = ints([100, 700, 300] * 3)  # 3n sizes: every window of 3 a rotation of the first, one histogram
    offsets, combined = [0, 4, 2, 6, 1, 5], [6, 2, 4, 0, 5, 1]
    ranks, right = ints(range(n)), ints([1, 2, 0])
    histogram = np.unique(sizes[:n], return_counts=True)

    def sized(k: int) -> Round:
        at, c = offsets[k], combined[k]
        return Round(ranks, right, sizes[at: at + n], "x", sizes[c: c + n], sizes=histogram, sliced=(sizes, at))

    runs = (lambda k: Run(k, sized(k), sizes, offsets[k:], combined[k:])) if stated_runs else None
    schedule = Schedule(n, len(offsets), sized, p=0, eager=eager, sized=sized, runs=runs)
    run = run_schedule(schedule, topologies.build("star", n, B, ALPHA), [0, 1, 2], gamma)
    ready, sent = np.zeros(n), np.zeros(n)
    for at, c in zip(offsets, combined):
        delivery = ready + sizes[at: at + n] / B + 2 * ALPHA  # rank r's send, to r + 1
        received = np.roll(delivery, 1)
        sent = np.maximum(sent, delivery)
        ready = (received if eager else np.maximum(received, delivery)) + gamma * sizes[c: c + n]
    assert not run.fluid
    assert run.finish_s.tolist() == pytest.approx((np.maximum(ready, sent) if eager else ready).tolist(), rel=1e-12)
    assert run.messages == n * len(offsets) and run.sizes == {100: 6, 300: 6, 700: 6}
    assert run.bytes_per_link["0->switch"] == sum(int(sizes[at]) for at in offsets)


def test_a_block_of_alike_rounds_counts_each_round_own_sizes():
    """Three rounds around the ring 0→1→2→0 with no stated histogram, each of other sizes: rounds 1 and 2 go in
    one block, and every message is counted at its own size; not eager, rank r ends round k at
    max(its send, its receive) = max(k's sizes of r and r − 1)/B + 2α after round k − 1."""
    ring = (ints([0, 1, 2]), ints([1, 2, 0]))
    sizes = [[100, 200, 300], [1, 2, 3], [7000, 8, 9]]
    run = run_schedule(listed(3, [Round(*ring, ints(s), "a") for s in sizes], 3), topologies.build("star", 3, B, ALPHA),
                       [0, 1, 2])
    assert not run.fluid and run.messages == 9
    assert run.sizes == {size: 1 for row in sizes for size in row}
    ready = np.zeros(3)
    for row in sizes:
        delivery = ready + ints(row) / B + 2 * ALPHA
        ready = np.maximum(delivery, np.roll(delivery, 1))
    assert run.finish_s.tolist() == pytest.approx(ready.tolist(), rel=1e-12)


def _eager_ring_of_3(rows: list[tuple[str, list[int]]], stated: bool = False) -> Schedule:
    """Eager rounds on 3 ranks, around the ring ("ring": r → r + 1) or back ("back": r → r − 1), of the sizes
    given (sender r's first); ``stated``: each round states its histogram."""
    import dataclasses

    from commsim.collectives.schedule import pieces

    pairs = {"ring": ([0, 1, 2], [1, 2, 0]), "back": ([0, 1, 2], [2, 0, 1])}
    rounds = [pieces(*pairs[way], [0, 0, 0], sizes, 1, "x") for way, sizes in rows]
    if stated:
        rounds = [dataclasses.replace(r, sizes=np.unique(r.nbytes, return_counts=True)) for r in rounds]
    return Schedule(3, len(rounds), rounds.__getitem__, p=max(max(sizes) for _, sizes in rows), eager=True)


@pytest.mark.parametrize("stated", [False, True])
def test_an_eager_empty_send_under_a_transfer_on_its_link_shares_nothing(stated):
    """Eager ring of 3 on a star (bytes/B + 2α a transfer): round 0 sizes (X, s, s), round 1 (0, s, s). Rank 0
    receives round 0 at s/B + 2α = 2.08 us and sends its empty round-1 message then, while its X is on its
    link until X/B = 8 us: an empty send takes no link, so nothing is shared (a round at a time holds).
    By hand: rank 0 ends with its X delivered, 10 us; rank 1 receives X at 10 us and its s is delivered at
    12.08 us; rank 2 receives that at 12.08 us."""
    X, s = 100_000, 1_000  # 8 us and 0.08 us at 12.5 GB/s
    run = run_schedule(_eager_ring_of_3([("ring", [X, s, s]), ("ring", [0, s, s])], stated),
                       topologies.build("star", 3, B, ALPHA), [0, 1, 2])
    assert not run.fluid
    assert run.finish_s.tolist() == pytest.approx([10e-6, 12.08e-6, 12.08e-6], rel=1e-12)


def test_an_eager_send_on_a_link_the_last_round_of_a_block_still_uses_goes_fluid():
    """Eager ring of 3: rounds 0–2 of s each go one at a time and in a block (no link shared), round 3 of the
    block gives rank 0 a long X; round 4 goes back the other way, and rank 0 sends it as soon as it has
    received round 3 (s/B + 2α), its X still on its link: they share it (the fluid way), as in the message
    engine (every rank's finish to 1e-9)."""
    from commsim.collectives.follow import scheduled
    from commsim.engines.message import make_buffers, run_collective

    X, s = 100_000, 1_000
    schedule = _eager_ring_of_3([("ring", [s, s, s])] * 3 + [("ring", [X, s, s]), ("back", [s, s, s])])
    graph = topologies.build("star", 3, B, ALPHA)
    run = run_schedule(schedule, graph, [0, 1, 2])
    message = run_collective(scheduled("eager_ring_of_3", lambda *_, **__: schedule, None, "test"), graph,
                             make_buffers(3, X, "float32", "size-only", 0), keep_log=False)
    assert run.fluid
    assert run.finish_s.tolist() == pytest.approx(message.finish_s, rel=1e-9)


def test_an_eager_send_a_rounding_error_before_its_link_is_free_shares_nothing():
    """Two ranks on a star of 10 B/s links of 0.35 s: rank 0 sends 8 B (on its link until 0.8 s) and receives
    rank 1's 1 B at 0.1 + 0.7 = 0.7999999999999999 s, when it sends round 1 at once (eager): before its link
    is free by a rounding error only, which is no sharing (a round at a time holds). By hand: rank 1
    receives the 8 B at 1.5 s and sends its round 1 then, delivered at 1.5 + 0.1 + 0.7 = 2.3 s, the end of
    both."""
    graph = topologies.build("star", 2, 10.0, 0.35)
    assert 0.1 + (0.35 + 0.35) < 0.8  # the rounding the test needs
    first, then = Round(ints([0, 1]), ints([1, 0]), ints([8, 1]), "x"), Round(ints([0, 1]), ints([1, 0]), ints([1, 1]), "x")
    awaiting_all = Round(ints([0, 1]), ints([1, 0]), ints([1, 1]), "x", quorum=ints([0, 0]))  # not a block's: checked alone
    for rounds in ([first, then], [first, then, then], [first, awaiting_all]):  # round 1 alone, or in a block of two
        run = run_schedule(Schedule(2, len(rounds), rounds.__getitem__, p=8, eager=True), graph, [0, 1])
        assert not run.fluid
        assert run.finish_s.tolist() == pytest.approx([2.3 + 0.8 * (len(rounds) - 2)] * 2, rel=1e-12)


def test_blocks_of_two_rotations_in_turn():
    """Three rounds around the ring 0→1→2→0, three back (r → r − 1), three around again, each rank its own
    size: three blocks whose receives are rotated by 1, 2, 1. Not eager, rank r ends each round at the later
    of its send's and its receive's delivery (bytes/B + 2α each on a star), by the recurrence written here."""
    ring, back = (ints([0, 1, 2]), ints([1, 2, 0])), (ints([0, 1, 2]), ints([2, 0, 1]))
    ways = [ring] * 3 + [back] * 3 + [ring] * 3
    sizes = ints([1000, 5000, 3000])
    rounds = [Round(*way, sizes, "x") for way in ways]
    run = run_schedule(listed(3, rounds, 5000), topologies.build("star", 3, B, ALPHA), [0, 1, 2])
    ready = np.zeros(3)
    for src, dst in ways:
        delivery = ready + sizes / B + 2 * ALPHA
        received = np.zeros(3)
        received[dst] = delivery[src]
        ready = np.maximum(delivery, received)
    assert not run.fluid
    assert run.finish_s.tolist() == pytest.approx(ready.tolist(), rel=1e-12)


@pytest.mark.parametrize("block", [1, 5, 12])
def test_blocks_of_any_length_give_the_same_bits(monkeypatch, block):
    """Rounds go in blocks of at most ``_BLOCK`` transfers (a memory bound): with blocks of 1, 5 or 12
    transfers (one round, or a few), a textbook ring (runs of rounds), with a combine cost too, and NCCL's
    eager ring (a block at a time) give the bits of the default blocks."""
    from commsim.collectives.nccl.ring import nccl_ring_schedule
    from commsim.engines import schedule as engine

    n, graph = 5, topologies.build("star", 5, B, ALPHA)
    cases = [(ring_rounds(n, 1003, 4, n - 1, n - 1, 0, 1), 0.0), (ring_rounds(n, 1003, 4, n - 1, n - 1, 0, 1), 3e-10),
             (nccl_ring_schedule(n, 1003, 4, channels=1), 0.0)]
    default = [run_program(one_call(s, participant_nodes(s, n, ()), n, []), graph, gamma) for s, gamma in cases]
    monkeypatch.setattr(engine, "_BLOCK", block)
    for (schedule, gamma), expected in zip(cases, default):
        run = run_program(one_call(schedule, participant_nodes(schedule, n, ()), n, []), graph, gamma)
        assert not run.fluid and not expected.fluid
        assert np.array_equal(run.finish_s, expected.finish_s) and np.array_equal(run.task_end, expected.task_end)
        assert (run.messages, run.sizes, run.bytes_per_link) == (expected.messages, expected.sizes, expected.bytes_per_link)


@pytest.mark.parametrize("keep_log", [False, True])  # the stream, or round by round with a log
@pytest.mark.parametrize("stated", [False, True])
def test_an_empty_transfer_beside_a_real_one_on_its_link_shares_nothing(stated, keep_log):
    """Star of 3, 10 B/s links of 0.35 s (a route: 0.7 s): one round where 0 sends 1 B to 2 and nothing to 1
    (the empty transfer takes no link, so 0's link is not shared: a round at a time holds), 1 sends 8 B to 0.
    By hand: 0 ends at its receive, 0.8 + 0.7 = 1.5 s, 1 at its send's delivery, 1.5 s, 2 at its receive,
    0.1 + 0.7 = 0.8 s."""
    import dataclasses

    round_ = Round(ints([0, 0, 1]), ints([2, 1, 0]), ints([1, 0, 8]), "x")
    if stated:
        round_ = dataclasses.replace(round_, sizes=np.unique(round_.nbytes, return_counts=True))
    run = run_program(one_call(listed(3, [round_], 8), [0, 1, 2], 3), topologies.build("star", 3, 10.0, 0.35),
                      keep_log=keep_log)
    assert not run.fluid
    assert run.finish_s.tolist() == pytest.approx([1.5, 1.5, 0.8], rel=1e-12)


@pytest.mark.parametrize("quorum", [None, ints([0, 0])])
def test_an_eager_send_10_ns_before_its_link_is_free_shares_it(quorum):
    """Two ranks on a star (12.5 GB/s, 1 us links): rank 0 sends 100 kB (on its link until 8 us) and receives
    rank 1's 74,875 B at 5.99 + 2 = 7.99 us, when it sends round 1 (eager, in a block of alike rounds or, with
    a quorum stated, alone): 10 ns before its link is free, which is sharing — the fluid way, as the message
    engine says (every rank's finish to 1e-9)."""
    from commsim.collectives.follow import scheduled
    from commsim.collectives.schedule import pieces
    from commsim.engines.message import make_buffers, run_collective

    import dataclasses

    first = pieces(ints([0, 1]), ints([1, 0]), ints([0, 0]), ints([100_000, 74_875]), 1, "x")
    then = dataclasses.replace(pieces(ints([0, 1]), ints([1, 0]), ints([0, 0]), ints([1000, 1000]), 1, "x"),
                               quorum=quorum)
    schedule = Schedule(2, 2, [first, then].__getitem__, p=100_000, eager=True)
    graph = topologies.build("star", 2, B, ALPHA)
    run = run_schedule(schedule, graph, [0, 1])
    message = run_collective(scheduled("eager_pair", lambda *_, **__: schedule, None, "test"), graph,
                             make_buffers(2, 100_000, "float32", "size-only", 0), keep_log=False)
    assert run.fluid
    assert run.finish_s.tolist() == pytest.approx(message.finish_s, rel=1e-9)


@pytest.mark.parametrize("keep_log", [False, True])
def test_two_single_bytes_into_one_receiver_beside_an_empty_transfer_share_its_link(keep_log):
    """Star of 3, 10 B/s links of 0.35 s: 0 and 1 each send 1 B to 2 and 2 sends nothing to 0 in one round:
    the two bytes share switch→2 (5 B/s each), so both arrive at 0.2 + 0.7 = 0.9 s (the fluid way); the
    empty transfer arrives at 0.7 s."""
    round_ = Round(ints([0, 1, 2]), ints([2, 2, 0]), ints([1, 1, 0]), "x")
    run = run_program(one_call(listed(3, [round_], 1), [0, 1, 2], 3), topologies.build("star", 3, 10.0, 0.35),
                      keep_log=keep_log)
    assert run.fluid
    assert run.finish_s.tolist() == pytest.approx([0.9, 0.9, 0.9], rel=1e-12)


def test_a_round_with_an_empty_transfer_checks_each_real_one_at_its_own_start():
    """Star of 3, 10 B/s links of 0.35 s. Round 0: 1 sends 8 B to 2 (on 1's link until 0.8 s, delivered at
    1.5 s). Round 1: 0 sends nothing to 2 at 0 s, 1 sends 1 B to 0 at 1.5 s, after its link is free: nothing
    shared (a round at a time holds). By hand: 0 receives at 1.5 + 0.1 + 0.7 = 2.3 s, 1 ends with that
    delivery, 2 with its receive of round 0 (1.5 s; the empty one arrives at 0.7 s)."""
    rounds = [Round(ints([1]), ints([2]), ints([8]), "x"), Round(ints([0, 1]), ints([2, 0]), ints([0, 1]), "x")]
    run = run_schedule(listed(3, rounds, 8), topologies.build("star", 3, 10.0, 0.35), [0, 1, 2])
    assert not run.fluid
    assert run.finish_s.tolist() == pytest.approx([2.3, 2.3, 1.5], rel=1e-12)


@pytest.mark.parametrize("keep_log", [False, True])
def test_an_eager_send_rounding_before_its_link_is_free_on_new_pairs_shares_nothing(keep_log):
    """As the rounding test above, but round 1 has other pairs (0 → 2 only), checked against the links' last
    ends: rank 0 sends at 0.7999999999999999 s, its 8 B on its link until 0.8 s: no sharing. By hand: 0 ends
    with its round-1 delivery, 0.8 + 0.1 + 0.7 = 1.6 s, 1 with its receive of the 8 B, 1.5 s, 2 at 1.6 s."""
    rounds = [Round(ints([0, 1]), ints([1, 0]), ints([8, 1]), "x"), Round(ints([0]), ints([2]), ints([1]), "x")]
    run = run_program(one_call(Schedule(3, 2, rounds.__getitem__, p=8, eager=True), [0, 1, 2], 3),
                      topologies.build("star", 3, 10.0, 0.35), keep_log=keep_log)
    assert not run.fluid
    assert run.finish_s.tolist() == pytest.approx([1.6, 1.5, 1.6], rel=1e-12)


def test_an_empty_transfer_leaves_its_links_last_ends_alone():
    """Star of 4, 10 B/s links of 0.35 s, eager: round 0, 0 sends 8 B to 1 (0's link busy until 0.8 s); round
    1, 0 sends nothing to 2 (at 0 s) while 3 sends 1 B to 2; round 2, 0 sends 1 B to 3, at 0 s: on its link
    beside the 8 B (the empty transfer did not free it), 5 B/s each, so the 1 B arrives at 0.2 + 0.7 = 0.9 s
    (3's end) and the 8 B at (8 + 1)/10 + 0.7 = 1.6 s (0's and 1's end; the fluid way); 2 receives 3's byte
    at 0.1 + 0.7 = 0.8 s."""
    rounds = [Round(ints([0]), ints([1]), ints([8]), "x"), Round(ints([0, 3]), ints([2, 2]), ints([0, 1]), "x"),
              Round(ints([0]), ints([3]), ints([1]), "x")]
    run = run_schedule(Schedule(4, 3, rounds.__getitem__, p=8, eager=True), topologies.build("star", 4, 10.0, 0.35),
                       [0, 1, 2, 3])
    assert run.fluid
    assert run.finish_s.tolist() == pytest.approx([1.6, 1.6, 0.8, 0.9], rel=1e-12)


def test_a_real_transfer_after_an_empty_one_leaves_its_own_last_end():
    """Star of 3, 10 B/s links of 0.35 s. Round 0: 1 sends 8 B to 2 (delivered at 1.5 s). Round 1: 0 sends
    nothing to 2, 1 sends 1 B to 0 at 1.5 s (on switch→0 until 1.6 s). Round 2: 2 sends 1 B to 0 at 1.5 s,
    on switch→0 too: both 5 B/s, both delivered at 1.5 + 0.2 + 0.7 = 2.4 s, every rank's end (the fluid way)."""
    rounds = [Round(ints([1]), ints([2]), ints([8]), "x"), Round(ints([0, 1]), ints([2, 0]), ints([0, 1]), "x"),
              Round(ints([2]), ints([0]), ints([1]), "x")]
    run = run_schedule(listed(3, rounds, 8), topologies.build("star", 3, 10.0, 0.35), [0, 1, 2])
    assert run.fluid
    assert run.finish_s.tolist() == pytest.approx([2.4, 2.4, 2.4], rel=1e-12)
