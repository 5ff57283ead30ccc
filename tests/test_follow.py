"""The message engine following schedules: every algorithm is written once, as its schedule; the
follower's data semantics (copies, sums in participant order, copy-on-write, snapshots of what is
overwritten while in flight) checked on hand-made schedules; generator algorithms still run."""

import numpy as np
import pytest

from commsim.collectives import REGISTRY, Algorithm, get, register
from commsim.collectives.follow import scheduled
from commsim.collectives.schedule import SCHEDULES, Round, Schedule, ints, pieces
from commsim.engines.message import make_buffers, run_collective
from commsim.network import topology

B, ALPHA = 12.5e9, 1e-6
BUILT_IN_ALLREDUCE = [name for name, spec in REGISTRY.items() if spec.kind == "allreduce" and not name.startswith("schedule:")]


@pytest.fixture
def registered():
    """Register algorithms for one test only."""
    added = []

    def add(algorithm: Algorithm) -> str:
        register(algorithm)
        added.append(algorithm.name)
        return algorithm.name

    yield add
    for name in added:
        REGISTRY.pop(name, None)
        SCHEDULES.pop(name, None)


def test_every_built_in_algorithm_is_its_schedule():
    """Each built-in worker (and server) is the follower of the schedule the schedule engine runs."""
    for name, algorithm in REGISTRY.items():
        assert algorithm.schedule is not None and SCHEDULES[name] is algorithm.schedule, name
        assert algorithm.worker.__qualname__ == "schedule_worker.<locals>.worker", name
        if algorithm.server is not None:
            assert algorithm.server.__qualname__ == "schedule_server.<locals>.server", name


def _swap_then_exchange(n: int, p: int, w: int, **_: object) -> Schedule:
    """Two workers, two chunks (0:h, h:p). Round 0: they swap chunk 1 (copies). Round 1: they exchange
    chunk 0 and each adds in the other's, while its own chunk 0 is in flight."""
    h = p // 2
    swap = pieces([0, 1], [1, 0], [h, h], [p, p], w, "swap")
    add = pieces([0, 1], [1, 0], [0, 0], [h, h], w, "exchange", True)
    return Schedule(2, 2, [swap, add].__getitem__, p=p)


def test_a_range_written_while_in_flight_is_sent_as_a_copy(registered):
    """By hand: both end with x0[:h] + x1[:h] in chunk 0 (not x0 + 2·x1, as a view read after the
    receiver's own addition would give), and the other's chunk 1; the inputs are untouched."""
    name = registered(scheduled("test_swap_exchange", _swap_then_exchange, None, "test"))
    x = [np.arange(10, dtype=np.float64) + 1, 100 * (np.arange(10, dtype=np.float64) + 1)]
    before = [a.copy() for a in x]
    run = run_collective(name, topology.build("star", 2, B, ALPHA), x)
    summed = x[0][:5] + x[1][:5]
    np.testing.assert_array_equal(run.results[0], np.concatenate([summed, x[1][5:]]))
    np.testing.assert_array_equal(run.results[1], np.concatenate([summed, x[0][5:]]))
    for a, b in zip(x, before):
        np.testing.assert_array_equal(a, b)
    phases = run.network.log.phases
    assert [phases[i] for i in run.network.log.phase] == ["swap", "swap", "exchange", "exchange"]


def _gather_three(n: int, p: int, w: int, **_: object) -> Schedule:
    """Workers 1 and 2 send their buffers to worker 0, which adds both in (with its own): one round."""
    add = pieces([2, 1], [0, 0], [0, 0], [p, p], w, "gather", True, scale=([0], [0], [p]))
    return Schedule(3, 1, lambda k: add, p=p)


def test_additions_into_one_range_are_summed_in_participant_order(registered):
    """Worker 0 forms ((x0 + x1) + x2) / 3 whatever order the transfers are listed or arrive in: float32
    values whose sum depends on the order (checked)."""
    name = registered(scheduled("test_gather_three", _gather_three, None, "test"))
    x = [np.array([1e8, 1.0, -1e8], dtype=np.float32), np.array([1.0, 1e8, 3.0], dtype=np.float32),
         np.array([-1e8, -1e8, 1e8], dtype=np.float32)]
    in_order = ((x[0] + x[1]) + x[2]) / np.float32(3)
    assert not np.array_equal(in_order, ((x[2] + x[1]) + x[0]) / np.float32(3))
    run = run_collective(name, topology.build("star", 3, B, ALPHA), x)
    np.testing.assert_array_equal(run.results[0], in_order)


def test_double_binary_tree_sums_travel_as_reduce_and_results_as_broadcast():
    """Each tree has n − 1 edges: 2(n − 1) messages up in 'reduce' and 2(n − 1) down in 'broadcast',
    each from child to parent and parent to child of its tree."""
    from commsim.collectives.textbook.trees import double_binary_tree_shape

    n = 7
    run = run_collective("double_binary_tree", topology.build("star", n, B, ALPHA), make_buffers(n, 10, "float32", "data", 0))
    log = run.network.log
    edges = {(c, parents[c]) for parents, _ in double_binary_tree_shape(n) for c in range(n) if parents[c] >= 0}
    up = [log.endpoints(i) for i in range(len(log)) if log.phases[log.phase[i]] == "reduce"]
    down = [log.endpoints(i)[::-1] for i in range(len(log)) if log.phases[log.phase[i]] == "broadcast"]
    assert len(up) == len(down) == 2 * (n - 1)
    assert set(up) == set(down) == edges


def test_rounds_and_calls_are_dropped_once_every_participant_is_done_with_them():
    """A round's lists go when the last participant passes it; a call leaves the network's list once every
    worker has joined it (40 training-like calls on one network keep none)."""
    import simpy

    from commsim.collectives.base import Comm
    from commsim.collectives.follow import _Call, _Calls
    from commsim.collectives.textbook.ring import ring_allreduce_schedule
    from commsim.network.fluid import Network

    call = _Call(simpy.Environment().event(), 0)
    call.start(ring_allreduce_schedule(2, 10, 4), [0, 1], 4, True)
    call.plan(0)
    assert 0 in call.plans
    call.plan(0)
    assert call.plans == {}
    n = 4
    env = simpy.Environment()
    net = Network(env, topology.build("star", n, B, ALPHA))
    worker = get("ring_allreduce").worker

    def rank(r):
        for _ in range(40):
            yield from worker(Comm(net, r, n), make_buffers(1, 100, "float32", "size-only", 0)[0])

    for r in range(n):
        env.process(rank(r))
    env.run()
    (calls,) = net.shared.values()
    assert isinstance(calls, _Calls) and calls.calls == {} and calls.next == {r: 40 for r in range(n)}


def _pass_right(comm, buffer):
    """A generator algorithm: send the buffer to the right neighbour, return the mean of it and the left one's."""
    sent = comm.send((comm.rank + 1) % comm.size, buffer)
    incoming = yield comm.recv((comm.rank - 1) % comm.size)
    yield sent
    return (buffer + incoming) / 2


def test_generator_algorithms_still_run(registered):
    """An algorithm no schedule describes runs as a per-rank generator: rank r ends with
    (x_r + x_(r−1)) / 2, one message of P per rank at α·2 + P/B on a star."""
    name = registered(Algorithm("test_pass_right", _pass_right))
    x = make_buffers(4, 250, "float64", "data", 1)
    run = run_collective(name, topology.build("star", 4, B, ALPHA), x)
    for r in range(4):
        np.testing.assert_array_equal(run.results[r], (x[r] + x[r - 1]) / 2)
    assert run.network.messages == 4 and run.makespan_s == pytest.approx(2 * ALPHA + 250 * 8 / B, rel=1e-12)
    assert get(name).schedule is None and name not in SCHEDULES


def test_a_server_that_responds_replaces_the_mean():
    """The parameter server hands its mean to ``respond`` and sends back what it returns (here the
    mean doubled), so every worker gets 2·mean; a shard server ignores ``respond``."""
    import simpy

    from commsim.collectives.base import Comm
    from commsim.network.fluid import Network

    for name, expect in (("parameter_server", 2.0), ("sharded_parameter_server", 1.0)):
        n = 3
        graph = topology.build("star", n, B, ALPHA, servers=2 if name.startswith("sharded") else 1)
        env = simpy.Environment()
        net = Network(env, graph)
        servers = topology.servers(graph)
        x = [np.full(8, float(r + 1)) for r in range(n)]
        workers = [env.process(get(name).worker(Comm(net, r, n, servers), x[r])) for r in range(n)]
        for server in servers:
            env.process(get(name).server(Comm(net, server, n, servers), lambda mean: mean * 2))
        env.run()
        for process in workers:
            np.testing.assert_array_equal(process.value, np.full(8, 2.0 * expect))


def _shared_swap(n: int, p: int, w: int, **_: object) -> Schedule:
    """Two ranks, two participants each sharing the rank's buffer (0, 2 on rank 0; 1, 3 on rank 1):
    participants 0 and 1 exchange their whole buffers, add them and divide by n; 2 and 3 do nothing."""
    swap = pieces([0, 1], [1, 0], [0, 0], [p, p], w, "swap", True, scale=([0, 1], [0, 0], [p, p]))
    return Schedule(4, 1, lambda k: swap, ints([0, 1, 0, 1]), p)


def test_a_shared_buffer_written_whole_while_in_flight_is_sent_as_a_copy(registered):
    """Written in place (the rank's participants share it), the whole buffer a participant sends must be a
    copy: both ranks end with (x0 + x1)/2."""
    name = registered(scheduled("test_shared_swap", _shared_swap, None, "test"))
    x = [np.full(6, 2.0), np.full(6, 4.0)]
    run = run_collective(name, topology.build("star", 2, B, ALPHA), x)
    for result in run.results:
        np.testing.assert_array_equal(result, np.full(6, 3.0))


def _gather_then_scatter(n: int, p: int, w: int, **_: object) -> Schedule:
    """Round 0: workers 2 and 1 (listed in that order) send their buffers to worker 0, which adds them in and
    takes the mean; round 1: worker 0 sends the mean to 2 and 1."""
    gather = pieces([2, 1], [0, 0], [0, 0], [p, p], w, "gather", True, scale=([0], [0], [p]))
    scatter = pieces([0, 0], [2, 1], [0, 0], [p, p], w, "scatter")
    return Schedule(3, 2, [gather, scatter].__getitem__, p=p)


@pytest.mark.parametrize("payload", ["size-only", "data"])
def test_a_participant_waits_for_every_receive_and_send_of_its_round(registered, payload):
    """Worker 0 receives two messages in round 0 and sends two in round 1 (the follower's one-receive
    fast path must not take such a round). Fully connected, α = 1 µs, link 2–0 at B/10: by hand, 0 has
    both pushes at t0 = α + 10P/B, then 1 ends at t0 + α + P/B, and 0 and 2 at t0 + α + 10P/B; four
    messages; with data every worker ends with the mean. The schedule engine gives the same times."""
    name = registered(scheduled("test_gather_scatter", _gather_then_scatter, None, "test"))
    p = 1000
    graph = topology.build("fully_connected", 3, B, ALPHA)
    graph.edges[2, 0]["bandwidth"] = B / 10
    x = make_buffers(3, p, "float64", payload, 4)
    run = run_collective(name, graph, x)
    P = p * 8
    t0 = ALPHA + 10 * P / B
    expected = [t0 + ALPHA + 10 * P / B, t0 + ALPHA + P / B, t0 + ALPHA + 10 * P / B]
    assert run.finish_s == pytest.approx(expected, rel=1e-12)
    assert run.network.messages == 4
    if payload == "data":
        for result in run.results:
            np.testing.assert_array_equal(result, (x[0] + x[1] + x[2]) / 3)
    from commsim.engines.schedule import run_schedule

    schedule = _gather_then_scatter(3, p, 8)
    assert run_schedule(schedule, graph, [0, 1, 2]).finish_s.tolist() == pytest.approx(expected, rel=1e-12)


def _uneven(n: int, p: int, w: int, **_: object) -> Schedule:
    """Round 0: 2 → 1, 0 → 1, 1 → 0 (participant 1 receives two, the others one); round 1: 0 → 1, 1 → 0,
    1 → 2 (participant 1 sends two). Whole buffers, copied."""
    first = pieces([2, 0, 1], [1, 1, 0], [0, 0, 0], [p, p, p], w, "first")
    second = pieces([0, 1, 1], [1, 0, 2], [0, 0, 0], [p, p, p], w, "second")
    return Schedule(3, 2, [first, second].__getitem__, p=p)


def test_rounds_where_some_send_or_receive_two_wait_for_all_of_them(registered):
    """Fully connected, α = 1 µs, link 1–2 at B/10, P bytes a message. By hand: round 0 ends for 0 at
    t0 = α + P/B, for 1 and 2 at t1 = α + 10P/B (2 → 1 is slow); round 1: 0 receives 1's at t1 + α + P/B
    = 2α + 11P/B, 1 and 2 end when 1 → 2 arrives, t1 + α + 10P/B = 2α + 20P/B; six messages."""
    name = registered(scheduled("test_uneven", _uneven, None, "test"))
    p, P = 500, 500 * 4
    graph = topology.build("fully_connected", 3, B, ALPHA)
    graph.edges[1, 2]["bandwidth"] = B / 10
    run = run_collective(name, graph, make_buffers(3, p, "float32", "size-only", 0))
    expected = [2 * ALPHA + 11 * P / B, 2 * ALPHA + 20 * P / B, 2 * ALPHA + 20 * P / B]
    assert run.finish_s == pytest.approx(expected, rel=1e-12) and run.network.messages == 6


def test_a_schedule_without_servers_ignores_the_servers_of_its_topology():
    """Binomial broadcast of 5 size-only workers on a star that also has 2 servers: the servers take no
    part (idle participants send and wait for nothing), 4 messages, ⌈lg 5⌉ = 3 rounds of 2α + P/B; the same
    finish times as on the star without servers."""
    p = 1000
    with_servers = run_collective("broadcast", topology.build("star", 5, B, ALPHA, servers=2),
                                  make_buffers(5, p, "float32", "size-only", 0))
    without = run_collective("broadcast", topology.build("star", 5, B, ALPHA), make_buffers(5, p, "float32", "size-only", 0))
    assert with_servers.network.messages == without.network.messages == 4
    assert with_servers.finish_s == without.finish_s
    assert max(with_servers.finish_s) == pytest.approx(3 * (2 * ALPHA + p * 4 / B), rel=1e-12)


@pytest.mark.parametrize(("n", "p"), [(2, 2), (2, 3), (3, 2)])
def test_a_last_chunk_from_element_1_to_the_end_is_written_in_place(n, p):
    """n and p where the last chunk is elements 1:p (not the whole buffer, though it ends at p): every
    all-reduce still gives every worker the exact mean."""
    for algorithm in BUILT_IN_ALLREDUCE:
        servers = (2 if algorithm == "sharded_parameter_server" else 1) if get(algorithm).server else 0
        x = [np.arange(p, dtype=np.float64) * (r + 1) + r for r in range(n)]
        run = run_collective(algorithm, topology.build("star", n, B, ALPHA, servers=servers), x)
        for result in run.results:
            np.testing.assert_array_equal(result, sum(x) / n, err_msg=algorithm)


def _swap_then_exchange_tail(n: int, p: int, w: int, **_: object) -> Schedule:
    """Two workers, p = 2. Round 0: they swap element 0 (copies). Round 1: they exchange element 1 (the
    range 1:p) and each adds in the other's, while its own is in flight."""
    swap = pieces([0, 1], [1, 0], [0, 0], [1, 1], w, "swap")
    add = pieces([0, 1], [1, 0], [1, 1], [p, p], w, "exchange", True)
    return Schedule(2, 2, [swap, add].__getitem__, p=p)


def test_a_range_ending_at_the_end_written_while_in_flight_is_sent_as_a_copy(registered):
    """As ``test_a_range_written_while_in_flight_is_sent_as_a_copy`` for the range 1:p: both end with
    x0[1] + x1[1] there, not x0 + 2·x1 (a view read after the receiver's own addition)."""
    name = registered(scheduled("test_swap_exchange_tail", _swap_then_exchange_tail, None, "test"))
    x = [np.array([1.0, 2.0]), np.array([10.0, 20.0])]
    run = run_collective(name, topology.build("star", 2, B, ALPHA), x)
    np.testing.assert_array_equal(run.results[0], [10.0, 22.0])
    np.testing.assert_array_equal(run.results[1], [1.0, 22.0])


def _eager_overwrite(n: int, p: int, w: int, **_: object) -> Schedule:
    """Eager, three participants, p = 2. Round 0: 2 → 0 element 1 (0 now writes its own copy); round 1:
    0 → 1 element 0; round 2: 2 → 0 element 0, added in — while 0's round-1 send may still be under way."""
    rounds = [pieces([2], [0], [1], [2], w, "copy"), pieces([0], [1], [0], [1], w, "send"),
              pieces([2], [0], [0], [1], w, "add", True)]
    return Schedule(3, 3, rounds.__getitem__, p=p, eager=True)


def test_an_eager_senders_sends_are_copies(registered):
    """Eager: participant 0 goes on before its send to 1 (over a link at B/1000) is delivered, and adds
    2's element 0 into its own while that send is under way; 1 still gets x0[0] as sent, and 0 ends with
    x0[0] + x2[0] and x2[1]."""
    name = registered(scheduled("test_eager_overwrite", _eager_overwrite, None, "test"))
    graph = topology.build("fully_connected", 3, B, ALPHA)
    graph.edges[0, 1]["bandwidth"] = B / 1000
    x = [np.array([1.0, 2.0]), np.array([10.0, 20.0]), np.array([100.0, 200.0])]
    run = run_collective(name, graph, x)
    np.testing.assert_array_equal(run.results[0], [101.0, 200.0])
    np.testing.assert_array_equal(run.results[1], [1.0, 20.0])
    assert run.finish_s[0] > 2 * ALPHA  # 0's send outlived its later rounds: it ends with its delivery


@pytest.mark.parametrize("payload", ["size-only", "data"])
def test_combining_takes_gamma_per_byte_added(payload):
    """Ring all-reduce of 4 workers on a star, p = 1000 fp32 (chunks c = 1000 B), γ = 1 ns/B: 6 steps of
    2α + c/B, and after each of the 3 reduce-scatter steps γ·c = 1 µs of adding: 6(2α + c/B) + 3γc for
    every worker, with values or without."""
    n, c, gamma = 4, 1000, 1e-9
    run = run_collective("ring_allreduce", topology.build("star", n, B, ALPHA), make_buffers(n, 1000, "float32", payload, 0),
                         gamma=gamma)
    assert run.finish_s == pytest.approx([6 * (2 * ALPHA + c / B) + 3 * gamma * c] * n, rel=1e-12)


def test_each_rounds_lists_are_made_once_and_dropped_once_everyone_passed(monkeypatch):
    """Size-only ring all-reduce of 4 (6 rounds): each round's per-participant lists are made once, and
    none is left in its call when the run ends."""
    from commsim.collectives import follow

    made = []

    class Counted(follow._Plan):
        def __init__(self, round_, call):
            super().__init__(round_, call)
            made.append(call)

    monkeypatch.setattr(follow, "_Plan", Counted)
    run_collective("ring_allreduce", topology.build("star", 4, B, ALPHA), make_buffers(4, 100, "float32", "size-only", 0))
    assert len(made) == 6 and all(call.plans == {} for call in made)


def test_a_size_only_server_under_a_wire_format_holds_nothing():
    """Size-only buffers whose wire bytes come from a wire format (not the sizes fast path): two workers,
    two shard servers; each server receives its shard (500 elements) from both workers at 2 B an element
    on the wire (the format's half of 4), holds nothing and sends the same sizes back: 8 messages of
    1000 B; each worker ends with a size-only buffer of p."""
    import simpy

    from commsim.collectives.base import Comm
    from commsim.collectives.payload import SizeOnly
    from commsim.network.fluid import Network

    graph = topology.build("star", 2, B, ALPHA, servers=2)
    env = simpy.Environment()
    net = Network(env, graph)
    servers = topology.servers(graph)

    def half(buffer):
        return buffer.nbytes // 2

    spec = get("sharded_parameter_server")
    workers = [env.process(spec.worker(Comm(net, r, 2, servers, wire_bytes=half), SizeOnly(1000, 4))) for r in range(2)]
    for server in servers:
        env.process(spec.server(Comm(net, server, 2, servers, wire_bytes=half)))
    env.run()
    assert all(isinstance(w.value, SizeOnly) and len(w.value) == 1000 for w in workers)
    assert net.message_sizes() == {1000: 8}


@pytest.mark.parametrize("payload", ["size-only", "data"])
def test_a_server_the_schedule_does_not_use_takes_no_part(payload):
    """The parameter server on a star with two servers: the second has no participant in the schedule and
    leaves at once; the run is the one on a star with one server (2n messages, the same times, the mean)."""
    n = 4
    x = make_buffers(n, 300, "float64", payload, 5)
    one = run_collective("parameter_server", topology.build("star", n, B, ALPHA, servers=1), x)
    two = run_collective("parameter_server", topology.build("star", n, B, ALPHA, servers=2), x)
    assert two.network.messages == one.network.messages == 2 * n
    assert two.finish_s == one.finish_s
    if payload == "data":
        for result in two.results:
            np.testing.assert_array_equal(result, one.results[0])


def test_a_rounds_sizes_are_one_int_object_per_distinct_size():
    """A round's sizes column holds one object per distinct size, in the round's order, so a message holding its
    size holds no int of its own: [5000, 70000, 5000, 5000] has two objects (sizes above 256 are not cached)."""
    from commsim.collectives.follow import _shared_ints

    sizes = _shared_ints(np.array([5000, 70000, 5000, 5000]))
    assert sizes == [5000, 70000, 5000, 5000] and all(type(size) is int for size in sizes)
    assert sizes[0] is sizes[2] is sizes[3] and len({id(size) for size in sizes}) == 2


def test_a_round_s_integer_columns_are_32_bit_where_they_fit():
    """Columns of a round's integers hold 4 B an item while every value fits in 32 bits (−2³¹ … 2³¹ − 1), 8 B
    otherwise, the values unchanged either way; anything else is a list."""
    from commsim.collectives.follow import _column

    fits = _column(np.array([0, 2**31 - 1, -2**31, 7]))
    assert (fits.typecode, fits.itemsize, list(fits)) == ("i", 4, [0, 2**31 - 1, -2**31, 7])
    for value in (2**31, -2**31 - 1):
        wide = _column(np.array([1, value]))
        assert (wide.typecode, list(wide)) == ("q", [1, value])
    assert _column(np.array([], dtype=np.int64)).typecode == "i"
    assert _column(np.array([0.5, 2.0])) == [0.5, 2.0]


def test_all_to_all_s_round_is_made_when_asked_and_its_sized_round_has_no_element_ranges():
    """n = 3, p = 5 elements of w = 4 B: the 6 ordered pairs (s ≠ d) in sender order, 20 B each; each rank adds
    in 2 · 20 = 40 B and divides its whole buffer; one size, 6 times. The sized round is the same transfers
    without lo, hi and scale; the schedule keeps no round (each call makes a new one)."""
    from commsim.collectives.textbook.all_to_all import all_to_all_schedule

    schedule = all_to_all_schedule(3, 5, 4)
    full, sized = schedule.round(0), schedule.sized_round(0)
    pairs = [(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
    for round_ in (full, sized):
        assert list(zip(round_.src.tolist(), round_.dst.tolist())) == pairs
        assert round_.nbytes.tolist() == [20] * 6 and round_.combine.tolist() == [40] * 3
        assert (round_.phase, round_.reduce) == ("exchange", True)
        assert [part.tolist() for part in round_.sizes] == [[20], [6]]
    assert full.lo.tolist() == [0] * 6 and full.hi.tolist() == [5] * 6
    assert [part.tolist() for part in full.scale] == [[0, 1, 2], [0, 0, 0], [5, 5, 5]]
    assert sized.lo is None and sized.hi is None and sized.scale is None
    assert schedule.round(0) is not full and schedule.sized_round(0) is not sized


@pytest.mark.parametrize("payload", ["size-only", "data"])
def test_a_call_moving_sizes_only_follows_the_sized_round(registered, payload):
    """A schedule whose sized round differs from its round (1000 B against the round's 8 elements of 4 B) is
    followed by its sized round when sizes only move: one message 0 → 1 across a star, 2α + 1000 B/B; with data,
    by its round: 2α + 32 B/B."""

    def make(n, p, w, **_):
        full = pieces(ints([0]), ints([1]), ints([0]), ints([p]), w, "copy")
        return Schedule(n, 1, lambda k: full, p=p, sized=lambda k: Round(ints([0]), ints([1]), ints([1000]), "copy"))

    name = registered(scheduled("test_sized_differs", make, None, "test"))
    run = run_collective(name, topology.build("star", 2, B, ALPHA), make_buffers(2, 8, "float32", payload, 0))
    nbytes = 1000 if payload == "size-only" else 32
    assert run.network.message_sizes() == {nbytes: 1}
    assert run.makespan_s == pytest.approx(2 * ALPHA + nbytes / B, rel=1e-12)
