"""The schedule engine against the message engine (same messages, bytes per link and per-rank times to
1e-9) over the whole registry, and against closed forms where it runs alone."""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim import cli, scenario
from commsim.collectives import REGISTRY, get
from commsim.collectives.schedule import SCHEDULES, schedule_for
from commsim.engines.message import bytes_per_link, make_buffers, run_collective
from commsim.engines.schedule import participant_nodes, run_schedule, worker_finish
from commsim.errors import CommsimError, ScenarioError
from commsim.network import topology as topologies
from commsim.runner import points

B, ALPHA = 12.5e9, 1e-6
BUILT_IN = sorted(name for name in REGISTRY if not name.startswith("schedule:"))  # not schedules read from files
TOPOLOGIES = [("star", 5, {}), ("star", 8, {}), ("fully_connected", 6, {}), ("ring", 7, {}), ("fat_tree", 12, {}),
              ("torus", 9, {}), ("hypercube", 8, {}), ("tree", 11, {}), ("hierarchical", 8, {"gpus_per_node": 4}),
              ("star", 2, {}), ("star", 1, {})]


def _graph(algorithm: str, kind: str, n: int, speeds: dict | None = None, **options):
    spec = get(algorithm)
    servers = (2 if algorithm == "sharded_parameter_server" else 1) if spec.server else 0
    graph = topologies.build(kind, n, B, ALPHA, servers=servers, **options)
    for edge, bandwidth in (speeds or {}).items():
        graph.edges[edge]["bandwidth"] = bandwidth
    return graph


def both(algorithm: str, graph, n: int, p: int, gamma: float = 0.0):
    """(message engine run, schedule engine run, the schedule's per-worker finish times)."""
    message = run_collective(algorithm, graph, make_buffers(n, p, "float32", "size-only", 0), gamma=gamma, keep_log=False)
    servers = topologies.servers(graph)
    used = servers[:1] if algorithm == "parameter_server" else servers
    schedule = schedule_for(algorithm, n, p, 4, len(used), graph.graph.get("gpus_per_node"))
    run = run_schedule(schedule, graph, participant_nodes(schedule, n, used), gamma)
    return message, run, worker_finish(schedule, run.finish_s, n)


def assert_same(message, run, finish) -> None:
    assert finish == pytest.approx(message.finish_s, rel=1e-9, abs=1e-18)
    assert run.messages == message.network.messages
    assert run.sizes == message.network.message_sizes()
    assert run.bytes_per_link == bytes_per_link(message.network)


def test_every_registered_algorithm_has_a_schedule():
    assert set(SCHEDULES) == set(REGISTRY) and len(BUILT_IN) == 13


def _buildable(algorithm: str, kind: str, n: int, options: dict) -> bool:
    try:
        _graph(algorithm, kind, n, **options)
    except (topologies.TopologyError, ValueError):  # a server on a ring or a torus: no such run
        return False
    return True


CASES = [(algorithm, kind, n, options) for algorithm in BUILT_IN for kind, n, options in TOPOLOGIES
         if _buildable(algorithm, kind, n, options)]


def test_the_grid_leaves_out_only_servers_without_a_place():
    """Only the parameter servers on ring, torus and hypercube are missing from the grid."""
    missing = {(a, k) for a in BUILT_IN for k, n, o in TOPOLOGIES if (a, k, n, o) not in CASES}
    assert missing == {(a, k) for a in ("parameter_server", "sharded_parameter_server") for k in ("ring", "torus", "hypercube")}


@pytest.mark.parametrize(("algorithm", "kind", "n", "options"), CASES, ids=[f"{a}-{k}{n}" for a, k, n, _ in CASES])
def test_schedule_engine_equals_message_engine(algorithm, kind, n, options):
    """Every algorithm on every topology kind, with p below n, not divisible by n, and with γ."""
    graph = _graph(algorithm, kind, n, **options)
    for p, gamma in ((1, 0.0), (1003, 0.0), (1003, 3e-10)):
        assert_same(*both(algorithm, graph, n, p, gamma))


@settings(max_examples=25)
@given(algorithm=st.sampled_from(BUILT_IN), n=st.integers(1, 20), p=st.integers(1, 5000),
       kind=st.sampled_from(["star", "fat_tree", "tree"]), seed=st.integers(0, 1000))
def test_schedule_engine_on_unequal_shared_links(algorithm, n, p, kind, seed):
    """Links of random speeds (½×–3×), shared or not: the two engines still agree."""
    try:
        graph = _graph(algorithm, kind, n)
    except (topologies.TopologyError, ValueError):
        return
    rng = random.Random(seed)
    for u, v in graph.edges:
        graph.edges[u, v]["bandwidth"] = B * rng.choice([0.5, 1, 2, 3])
    assert_same(*both(algorithm, graph, n, p, gamma=rng.choice([0.0, 1e-10])))


def test_ring_on_a_star_by_formula_at_scale():
    """Ring all-reduce of p = 1e6 fp32 on a 1024-worker star: 2(n−1)(2α + ⌈p/n⌉·4/B), and 2n(n−1)
    messages, a round at a time (no link shared)."""
    n, p = 1024, 1_000_000
    graph = topologies.build("star", n, B, ALPHA)
    run = run_schedule(schedule_for("ring_allreduce", n, p, 4), graph, list(range(n)))
    assert not run.fluid and run.messages == 2 * n * (n - 1)
    assert run.makespan(n) == pytest.approx(2 * (n - 1) * (2 * ALPHA + -(-p // n) * 4 / B), rel=1e-9)
    assert run.sizes == {976 * 4: 2 * (n - 1) * (n - 576), 977 * 4: 2 * (n - 1) * 576}  # 576 chunks of ⌈p/n⌉


def test_all_to_all_on_a_star_by_formula():
    """All-to-all, 64 workers: each uplink carries 63 copies of P at once, fairly shared:
    2α + 63P/B; this needs the fluid way."""
    n, p = 64, 10_000
    run = run_schedule(schedule_for("all_to_all", n, p, 4), topologies.build("star", n, B, ALPHA), list(range(n)))
    assert run.fluid and run.messages == n * (n - 1)
    assert run.makespan(n) == pytest.approx(2 * ALPHA + (n - 1) * p * 4 / B, rel=1e-9)
    assert run.busiest_link_bound == pytest.approx((n - 1) * p * 4 / B + 2 * ALPHA, rel=1e-12)


def test_scenario_engine_schedule_gives_the_simulated_rows(tmp_path):
    """`engine: schedule` answers every point as `engine: simulate` does (to 1e-9), labelled "schedule"."""
    text = ("name: s\nworkers: [3, 8]\nparams: 1001\npayload: size-only\ntopologies: [{kind: star, servers: 2}, {kind: torus}]\n"
            "algorithms: [ring_allreduce, rabenseifner, all_to_all, sharded_parameter_server]\n")
    fast = points.simulate(scenario.parse(__import__("yaml").safe_load(text + "engine: schedule\n"), "s.yaml"))
    slow = points.simulate(scenario.parse(__import__("yaml").safe_load(text), "s.yaml"))
    assert len(fast) == len(slow) == 16
    for a, b in zip(fast, slow):
        if isinstance(b, points.NotApplicable):
            assert isinstance(a, points.NotApplicable) and a.reason == b.reason
            continue
        assert a.engine == "schedule" and a.ok == b.ok
        assert (a.messages, a.bytes, a.message_bytes, a.bytes_per_link) == (b.messages, b.bytes, b.message_bytes, b.bytes_per_link)
        assert a.makespan_s == pytest.approx(b.makespan_s, rel=1e-9)
        assert np.allclose(a.finish_s, b.finish_s, rtol=1e-9)
        assert a.expected.makespan_s == pytest.approx(b.expected.makespan_s, rel=1e-12)


def test_schedule_engine_refuses_values_and_logs_what_the_message_engine_logs(tmp_path):
    """Values (a data payload, a model that trains) need per-rank processes: ``engine: schedule`` refuses
    them in one line. Its message log is the message engine's: the same messages, each sent and delivered at
    the same times (to 1e-12), so a trace or an export reads the same from either."""
    import yaml

    from commsim.report.trace import messages_csv_text

    base = "name: s\nworkers: 5\nparams: 1003\nalgorithms: [ring_allreduce]\ntopology: {kind: star}\nengine: schedule\n"
    with pytest.raises(ScenarioError, match=r"^s\.yaml: engine: 'schedule' moves sizes only, not values \(real buffers"):
        scenario.parse(yaml.safe_load(base), "s.yaml")
    training = (base.replace("params: 1003\n", "")
                + "training: {model: linear_regression, steps: 1, optimizer: [{name: gradient_descent, alpha: 0.1}]}\n")
    with pytest.raises(ScenarioError, match=r"^s\.yaml: engine: 'schedule' moves sizes only, not values \(a real model"):
        scenario.parse(yaml.safe_load(training), "s.yaml")
    runs = {}
    for engine in ("schedule", "message"):
        loaded = scenario.parse(yaml.safe_load(base.replace("schedule", engine) + "payload: size-only\n"), "s.yaml")
        (point,) = loaded.runs()
        runs[engine] = points.simulate_run(loaded, point, keep_log=True)
    rows = {engine: sorted(line.split(",") for line in messages_csv_text([run]).splitlines()[1:])
            for engine, run in runs.items()}
    assert len(rows["schedule"]) == len(rows["message"]) == 2 * 5 * 4
    for a, b in zip(rows["schedule"], rows["message"]):
        assert a[:8] + a[10:] == b[:8] + b[10:]  # coordinates, endpoints, bytes, phase, route
        assert [float(x) for x in a[8:10]] == pytest.approx([float(x) for x in b[8:10]], rel=1e-12)
    assert issubclass(ScenarioError, CommsimError)


def test_an_empty_round_of_an_imported_schedule_takes_no_time():
    """A schedule file for 3 workers: 1 and 2 add their buffer into 0 (sharing 0's downlink on a star:
    2P/B), an empty round, 0 copies the sum to both (sharing its uplink): 4α + 4P/B for everyone, on both
    engines, the fluid way (links are shared)."""
    from commsim.collectives.follow import scheduled
    from commsim.collectives.imported import parse_schedule

    document = {"name": "gather_then_copy", "collective": "allreduce", "workers": 3, "chunks": 1,
                "rounds": [[{"src": 1, "dst": 0, "chunk": 0}, {"src": 2, "dst": 0, "chunk": 0}], [],
                           [{"src": 0, "dst": 1, "chunk": 0, "op": "copy"}, {"src": 0, "dst": 2, "chunk": 0, "op": "copy"}]]}
    imported = parse_schedule(document, "gather.json")
    n, p = 3, 1000
    graph = topologies.build("star", n, B, ALPHA)
    expected = [4 * ALPHA + 4 * p * 4 / B] * n
    run = run_schedule(imported.schedule(n, p, 4), graph, list(range(n)))
    assert run.fluid and run.messages == 4 and run.finish_s.tolist() == pytest.approx(expected, rel=1e-12)
    algorithm = scheduled("test_gather_then_copy", imported.schedule, None, "test")
    message = run_collective(algorithm, graph, make_buffers(n, p, "float32", "size-only", 0), keep_log=False)
    assert message.finish_s == pytest.approx(expected, rel=1e-12)


def test_max_min_rates_are_the_same_for_a_multiset_of_routes_met_again():
    """Four transfers on a 4-rank star, every link 8 B/s, two of them on route 0 → 2: 0's uplink carries three
    (0 → 2 twice, 0 → 1) and 2's downlink three (0 → 2 twice, 3 → 2): each gets 8/3. The same multiset in
    another order, asked again (from the kept fill), gives each transfer its route's rate; new multisets are
    filled anew (0 → 1 and 3 → 2 alone: 8 each; 0 → 2 and 0 → 1 on 0's uplink: 4 each)."""
    from commsim.engines.routes import Routes
    from commsim.network import topology

    graph = topology.build("star", 4, 8.0, 0.0)
    routes = Routes(graph, [0, 1, 2, 3])
    ids = routes.lookup(np.array([0, 0, 3, 0]), np.array([2, 1, 2, 2]))
    first = routes.max_min_rates(ids)
    np.testing.assert_allclose(first, [8 / 3] * 4, rtol=1e-12)
    again = routes.max_min_rates(ids[[3, 2, 1, 0]])
    assert again.tolist() == first[[3, 2, 1, 0]].tolist()
    alone = routes.max_min_rates(routes.lookup(np.array([0, 3]), np.array([1, 2])))
    assert alone.tolist() == [8.0, 8.0]
    fewer = routes.max_min_rates(routes.lookup(np.array([0, 0]), np.array([2, 1])))
    assert fewer.tolist() == [4.0, 4.0]


INF = float("inf")
FAULTED = {  # (topology, n, algorithm, faults, compute per worker, servers, quorum kept, elements)
    "crash in a ring": ("ring", 5, "ring_allreduce", {"crash_s": [INF, 3e-6, INF, INF, INF]}, None, 0, None, 600),
    "crash after unequal computes": ("star", 4, "ring_allreduce", {"crash_s": [INF, INF, 6e-6, INF]},
                                     [0, 2e-6, 1e-6, 0], 0, None, 600),
    "crash cutting a transfer": ("star", 4, "ring_allreduce", {"crash_s": [INF, INF, 3e-6, INF]}, None, 0, None, 60000),
    "crash cutting a later transfer": ("star", 4, "ring_allreduce", {"crash_s": [INF, INF, 8e-6, INF]}, None, 0, None,
                                       60000),
    "crash between transfers": ("star", 4, "ring_allreduce", {"crash_s": [INF, INF, 5e-6, INF]}, None, 0, None, 60000),
    "jitter after a slow worker": ("star", 4, "ring_allreduce", {"jitter_s": 2e-6, "seed": 3}, [0, 4e-6, 0, 0], 0, None,
                                   600),
    "jitter and a crash": ("star", 4, "ring_allreduce", {"crash_s": [INF, 4e-6, INF, INF], "jitter_s": 3e-6, "seed": 2},
                           None, 0, None, 600),
    "fat tree link down": ("fat_tree", 8, "ring_allreduce", {"link_failures": (("pod0.edge0", "pod0.agg0", 2e-6),)},
                           None, 0, None, 60000),
    "ring link down under a transfer": ("ring", 4, "ring_allreduce", {"link_failures": ((1, 2, 3e-6),)}, None, 0, None,
                                        60000),
    "partition": ("ring", 4, "ring_allreduce", {"link_failures": ((0, 1, 1e-6), (2, 3, 1e-6))}, None, 0, None, 600),
    "a crash after the end": ("ring", 4, "ring_allreduce", {"crash_s": [INF, 1e-3, INF, INF]}, None, 0, None, 600),
    "a crash after a partition": ("ring", 4, "ring_allreduce", {"link_failures": ((0, 1, 1e-6), (2, 3, 1e-6)),
                                                               "crash_s": [INF, 1e-3, INF, INF]}, None, 0, None, 600),
    "a partition after the end": ("ring", 4, "ring_allreduce", {"link_failures": ((0, 1, 1e-3), (2, 3, 1e-3))}, None, 0,
                                  None, 600),
    "server sharing its link, a worker crashes": ("star", 4, "parameter_server",
                                                  {"crash_s": [INF, 1e-6, INF, INF, INF]}, None, 1, None, 600),
    "quorum of 1 under jitter": ("star", 4, "parameter_server", {"jitter_s": 3e-6, "seed": 1}, None, 1, 1, 600),
    "quorum of 2 under jitter": ("star", 4, "parameter_server", {"jitter_s": 3e-6, "seed": 1}, None, 1, 2, 600),
    "quorum of 3, a worker crashes": ("star", 4, "parameter_server", {"crash_s": [INF, 1e-6, INF, INF, INF]}, None, 1,
                                      3, 600),
    # the fluid way (4 pushes share the server's link, 3.125 GB/s each): worker 1 crashing at 0.3 us has sent
    # 937.5 of its 2400 B; the other 1462.5 B never leave
    "a crash cutting a push on a shared link": ("star", 4, "parameter_server", {"crash_s": [INF, 0.3e-6, INF, INF, INF]},
                                                None, 1, None, 600),
    "a crash cutting a push on a shared link, quorum of 3": ("star", 4, "parameter_server",
                                                             {"crash_s": [INF, 0.3e-6, INF, INF, INF]}, None, 1, 3, 600),
    # worker 3 cut off while the pushes share the server's link: a partition on the fluid way
    "a partition under shared pushes": ("star", 4, "parameter_server", {"link_failures": ((3, "switch", 0.5e-6),)},
                                        None, 1, None, 600),
    # pushes entering one after another (transfers in flight in several groups): a crash and a failure
    # under a later group's
    "a crash cutting a later group's push": ("star", 4, "parameter_server", {"crash_s": [INF, INF, INF, 0.5e-6, INF]},
                                             [0, 1e-7, 2e-7, 3e-7], 1, None, 6000),
    "a crash cutting a later group's push, of two": ("star", 2, "parameter_server", {"crash_s": [INF, 0.5e-6, INF]},
                                                     [0, 1e-7], 1, None, 6000),
    "a fat tree link down under later groups' pushes": ("fat_tree", 8, "parameter_server",
                                                        {"link_failures": (("pod1.edge0", "pod1.agg0", 0.5e-6),)},
                                                        [i * 1e-7 for i in range(8)], 1, None, 6000),
    # worker 0's push lands alone, then 1, 2 and 3 at one instant: the server takes 1 and 2 (lower senders first)
    "quorum of 3, three pushes landing at once after one": ("star", 4, "parameter_server", {}, [0, 1e-6, 1e-6, 1e-6],
                                                            1, 3, 600),
    "quorum of 2, three pushes landing at once after one": ("star", 4, "parameter_server", {}, [0, 1e-6, 1e-6, 1e-6],
                                                            1, 2, 600),
    # the server linked to each worker (no shared link): the quorum a round at a time
    "quorum of 2 under jitter, the server linked to each": ("fully_connected", 4, "parameter_server",
                                                            {"jitter_s": 3e-6, "seed": 1}, None, 1, 2, 600),
    "quorum of 3, a worker crashes, the server linked to each": ("fully_connected", 4, "parameter_server",
                                                                 {"crash_s": [INF, 1e-6, INF, INF, INF]}, None, 1, 3,
                                                                 600),
    "quorum of 4 of 4 under jitter, the server linked to each": ("fully_connected", 4, "parameter_server",
                                                                 {"jitter_s": 3e-6, "seed": 4}, None, 1, 4, 600),
    # ties a scenario can state: a link failing at the instant the first transfers leave (t = 0) or as their
    # last byte leaves (600 B at 12.5 GB/s: 48 ns); a worker crashing as round 0's message lands (1.048 us),
    # or as it leaves round 1 (2 × 1.048 us)
    "a link failing as transfers leave": ("ring", 4, "ring_allreduce", {"link_failures": ((1, 2, 0.0),)}, None, 0,
                                          None, 600),
    "a link failing as a last byte leaves": ("ring", 4, "ring_allreduce", {"link_failures": ((1, 2, 600 / B),)}, None,
                                             0, None, 600),
    "a crash as a message lands": ("star", 4, "ring_allreduce", {"crash_s": [INF, 600 / B + 2 * ALPHA, INF, INF]},
                                   None, 0, None, 600),
    "a crash as a round ends": ("ring", 4, "ring_allreduce", {"crash_s": [INF, 2 * (600 / B + ALPHA), INF, INF]},
                                None, 0, None, 600),
    # a crash at the instant its owner joins (t = 0): the crash comes first, so the call never began for it
    "a crash at the instant it joins": ("star", 4, "ring_allreduce", {"crash_s": [INF, 0.0, INF, INF]}, None, 0, None,
                                        600),
    "a crash at the instant its compute begins": ("star", 4, "ring_allreduce", {"crash_s": [INF, 0.0, INF, INF]},
                                                  [1e-6] * 4, 0, None, 600),
    "a server crashing at the instant it joins": ("star", 4, "parameter_server", {"crash_s": [INF] * 4 + [0.0]}, None,
                                                  1, None, 600),
    "quorum of 3, a worker crashing as it joins": ("star", 4, "parameter_server", {"crash_s": [INF, 0.0, INF, INF, INF]},
                                                   None, 1, 3, 600),
}


@pytest.mark.parametrize("case", sorted(FAULTED))
def test_faults_as_the_message_engine_says(case):
    """Crashes (before, during and after a transfer), jitter, link failures (routed and on a ring, under a
    transfer), a partition, a server whose link is shared, quorums: the schedule engine (its round-at-a-time
    way or its fluid way) against the message engine, an independent SimPy model of the same network — every
    task's start and end per owner to 1e-9, counts, sizes, bytes per link, what stopped, crashed, was dropped,
    cut off, rerouted and waited for, and the log's length."""
    from commsim.collectives.textbook.parameter_server import dropping_server_schedule
    from commsim.engines import message
    from commsim.engines import schedule as engine
    from commsim.engines.program import Faults, one_call

    kind, n, algorithm, faults, compute, servers, keep, p = FAULTED[case]
    if "crash_s" in faults:
        faults = {**faults, "crash_s": np.array(faults["crash_s"])}
    graph = topologies.build(kind, n, B, ALPHA, servers=servers)
    used = topologies.servers(graph)
    made = dropping_server_schedule(n, p, 4, keep) if keep else schedule_for(algorithm, n, p, 4, len(used), None)
    program = one_call(made, participant_nodes(made, n, used), n, list(used),
                       None if compute is None else np.array(compute, dtype=float))
    want, got = (e.run_program(program, graph, 0.0, Faults(**faults), keep_log=True) for e in (message, engine))
    for name in ("task_start", "task_end"):
        assert np.allclose(getattr(got, name), getattr(want, name), rtol=1e-9, atol=0, equal_nan=True), name
    for name in ("messages", "sizes", "bytes_per_link", "stopped", "crashed", "dropped", "waiting", "failed"):
        assert getattr(got, name) == getattr(want, name), name
    assert got.rerouted_bytes == pytest.approx(want.rerouted_bytes, rel=1e-9)
    assert [(s, d) for s, d, _ in got.lost] == [(s, d) for s, d, _ in want.lost]
    assert [b for _, _, b in got.lost] == pytest.approx([b for _, _, b in want.lost], rel=1e-9)
    assert len(got.log) == len(want.log)
    if case == "a partition under shared pushes":
        assert got.fluid and got.stopped.startswith("network partitioned at t = 500 ns")
    if "later group" in case:
        assert got.fluid and (got.lost != [] or got.rerouted_bytes > 0)
    if "cutting a push" in case:
        assert got.fluid and [(s, d) for s, d, _ in got.lost] == [(1, "server")]
        assert got.lost[0][2] == pytest.approx(2400 - 0.3e-6 * B / 4, rel=1e-12)
    if "landing at once" in case:
        assert got.dropped == [[3] if keep == 3 else [2, 3]]
    if "linked to each" in case:  # no link shared: the round-at-a-time way, the quorum kept per round
        assert not got.fluid and got.dropped == want.dropped != []
    if case == "fat tree link down":  # transfers under way when it fails, none on it: a round at a time holds
        assert not got.fluid and got.rerouted_bytes == 0


def test_two_steps_past_a_crashed_worker_as_the_message_engine_says():
    """Two training steps (compute 1 us, a server taking the first 3 of 4 pushes): worker 1 crashes during its
    first compute, so it never joins a call nor starts its second compute, while the others go on through
    both steps — per task and owner as the message engine says, the server dropping worker 1 in each call."""
    from commsim.collectives.textbook.parameter_server import dropping_server_schedule
    from commsim.engines import message
    from commsim.engines import schedule as engine
    from commsim.engines.program import Faults, steps

    graph = topologies.build("star", 4, B, ALPHA, servers=1)
    used = topologies.servers(graph)
    made = dropping_server_schedule(4, 600, 4, 3)
    program = steps(made, participant_nodes(made, 4, used), 4, np.full(4, 1e-6), 2, list(used))
    faults = Faults(crash_s=np.array([INF, 0.5e-6, INF, INF, INF]))
    want, got = (e.run_program(program, graph, 0.0, faults, keep_log=True) for e in (message, engine))
    assert np.isnan(got.task_start[1:, 1]).all() and np.isfinite(got.task_start[2, [0, 2, 3]]).all()
    for name in ("task_start", "task_end", "finish_s"):
        assert np.allclose(getattr(got, name), getattr(want, name), rtol=1e-9, atol=0, equal_nan=True), name
    assert got.dropped == want.dropped == [[1], [1]] and got.crashed == want.crashed == [(1, 0.5e-6)]


def test_a_program_of_computes_alone():
    """No collective: no participant's finish, each worker's compute ends when it has computed."""
    from commsim.engines.program import Compute, Program
    from commsim.engines.schedule import run_program

    run = run_program(Program(3, (Compute(np.array([1e-6, 2e-6, 3e-6])),), ()), topologies.build("star", 3, B, ALPHA))
    assert run.finish_s.tolist() == [] and run.messages == 0
    assert run.task_start.tolist() == [[0.0, 0.0, 0.0]] and run.task_end.tolist() == [[1e-6, 2e-6, 3e-6]]


def test_a_worker_crashing_in_its_compute_has_crashed():
    """Computes alone, worker 0 crashing at 0.5 us in its 1 us compute, or at 1 us: it has crashed (its
    compute never ends), the others finish; as the message engine says."""
    from commsim.engines import message
    from commsim.engines import schedule as engine
    from commsim.engines.program import Compute, Faults, Program

    program = Program(3, (Compute(np.array([1e-6, 2e-6, 3e-6])),), ())
    graph = topologies.build("star", 3, B, ALPHA)
    for crash in (0.5e-6, 1e-6):  # during it, or at the instant it would end: it does not
        faults = Faults(crash_s=np.array([crash, INF, INF]))
        want, got = (e.run_program(program, graph, 0.0, faults) for e in (message, engine))
        assert got.crashed == want.crashed == [(0, crash)]
        assert got.task_end.tolist() == want.task_end.tolist() == [[INF, 2e-6, 3e-6]]
        assert got.stopped == want.stopped


def test_a_call_waits_for_the_later_of_two_computes():
    """A ring all-reduce of 2 after two computes (worker 0: 1 and 3 us, worker 1: 4 and 2 us): each joins at
    the later of its two, 3 and 4 us; its first round ends at 4 us + 2α + m/B for both (m = 400 B), as each
    waits for the other's message, its second one step later (by hand)."""
    from commsim.engines.program import Collective, Compute, Program
    from commsim.engines.schedule import run_program

    made = schedule_for("ring_allreduce", 2, 200, 4, 0, None)
    program = Program(2, (Compute(np.array([1e-6, 4e-6])), Compute(np.array([3e-6, 2e-6])),
                          Collective(made, (0, 1), (0, 1))), ())
    run = run_program(program, topologies.build("star", 2, B, ALPHA))
    assert run.task_start[2].tolist() == [3e-6, 4e-6]
    step = 2 * ALPHA + 400 / B
    assert run.finish_s.tolist() == pytest.approx([4e-6 + 2 * step, 4e-6 + 2 * step], rel=1e-12)


def test_a_server_joins_its_next_call_when_it_has_left_the_last():
    """Two parameter-server calls that wait for nothing (4 workers, one server or two sharing the buffer, a
    star): the workers push for the second at once, but a server takes part in it only once it has left
    the first — every task's start and end per owner as the message engine says."""
    from commsim.engines import message
    from commsim.engines import schedule as engine
    from commsim.engines.program import Collective, Program

    for algorithm, servers in (("parameter_server", 1), ("sharded_parameter_server", 2)):
        graph = topologies.build("star", 4, B, ALPHA, servers=servers)
        used = topologies.servers(graph)
        graph.edges[used[-1], "switch"]["bandwidth"] = 2 * B  # the last server ends before the workers
        made = schedule_for(algorithm, 4, 600, 4, servers, None)
        nodes = tuple(participant_nodes(made, 4, used))
        program = Program(4, (Collective(made, nodes), Collective(made, nodes)), tuple(used))
        want, got = (e.run_program(program, graph, 0.0, keep_log=True) for e in (message, engine))
        for server in range(4, 4 + servers):
            assert got.task_start[1, server] == pytest.approx(got.task_end[0, server], rel=1e-12)
            assert got.task_end[0, server] > 0
        for name in ("task_start", "task_end"):
            assert np.allclose(getattr(got, name), getattr(want, name), rtol=1e-9, atol=0, equal_nan=True), name


def test_a_call_delayed_starts_late():
    """A ring all-reduce of 2 with a 5 us delay (the call's own, after it is joined at 0): two steps of
    2α + m/B (m = 400 B) from 5 us, by hand."""
    from commsim.engines.program import one_call
    from commsim.engines.schedule import run_program

    made = schedule_for("ring_allreduce", 2, 200, 4, 0, None)
    run = run_program(one_call(made, [0, 1], 2, [], None, 5e-6), topologies.build("star", 2, B, ALPHA))
    assert run.finish_s.tolist() == pytest.approx([5e-6 + 2 * (2 * ALPHA + 400 / B)] * 2, rel=1e-12)


def test_a_crash_as_its_last_byte_leaves_loses_nothing():
    """Ring all-reduce of 2 on a star of 10 B/s links of 0.35 s: worker 0's first 4 B are on the wire until
    0.4 s. Crashing at 0.4 s it has sent them all (delivered at 1.1 s, logged; nothing lost); at 0.39 s the
    last 0.1 B never leave. Both as the message engine says."""
    from commsim.engines import message
    from commsim.engines import schedule as engine
    from commsim.engines.program import Faults, one_call

    graph = topologies.build("star", 2, 10.0, 0.35)
    program = one_call(schedule_for("ring_allreduce", 2, 2, 4, 0, None), [0, 1], 2, [])
    for crash, lost in ((0.4, []), (0.39, [(0, 1)]), (1.1, [])):  # 1.1 s: as it has received round 0's, it stops
        faults = Faults(crash_s=np.array([crash, INF]))
        want, got = (e.run_program(program, graph, 0.0, faults, keep_log=True) for e in (message, engine))
        assert [(s, d) for s, d, _ in got.lost] == [(s, d) for s, d, _ in want.lost] == lost
        assert got.messages == want.messages and len(got.log) == len(want.log) == (1 if lost else 3)
        assert got.task_end.tolist() == want.task_end.tolist() and got.crashed == want.crashed == [(0, crash)]


def test_a_chain_of_calls_ends_where_each_step_does_by_hand():
    """Three training steps of a ring all-reduce on a star of 4 (p = 4000 fp32: chunks of 4000 B), each after a
    1 us compute: a chain of calls, each joined at one instant, so each distinct call runs once and is shifted.
    A ring step takes 2α + 4000 / B; a call 2(n − 1) = 6 steps; every worker finishes at 3 · (1 us + 6 · step),
    as the program run event by event (a log kept) says too."""
    from commsim.engines.program import steps
    from commsim.engines.schedule import run_program

    graph = topologies.build("star", 4, B, ALPHA)
    made = schedule_for("ring_allreduce", 4, 4000, 4)
    program = steps(made, participant_nodes(made, 4, ()), 4, np.full(4, 1e-6), 3)
    chain, whole = run_program(program, graph), run_program(program, graph, keep_log=True)
    expected = 3 * (1e-6 + 6 * (2 * ALPHA + 4000 / B))
    assert chain.finish_s.tolist() == pytest.approx([expected] * 4, rel=1e-12)
    assert whole.finish_s.tolist() == pytest.approx([expected] * 4, rel=1e-12)
    assert chain.messages == whole.messages == 3 * 2 * 4 * 3


def test_run_schedule_counts_the_workers_among_the_nodes_it_is_given():
    """Ring all-reduce of 300 fp32 on a star of 3 (1 GB/s, 1 us): 4 steps of 2α + 400 B / B = 2.4 us, 12 messages;
    one call of 3 workers, so one row of 3 task ends, each 9.6 us."""
    graph = topologies.build("star", 3, 1e9, 1e-6)
    made = schedule_for("ring_allreduce", 3, 300, 4)
    run = run_schedule(made, graph, participant_nodes(made, 3, ()))
    assert run.task_end.shape == (1, 3) and run.messages == 12
    assert run.task_end[0].tolist() == pytest.approx([4 * (2e-6 + 400 / 1e9)] * 3, rel=1e-12)


def test_a_crash_at_the_instant_its_owner_joins_comes_first(tmp_path):
    """README: "at one instant a fault comes before anything else". Worker 1 crashing at t = 0, the instant it
    would join a ring of 4 (and a server crashing as it would join its call): the call never began for it — no
    start, no end — on both engines, while the others began at 0 and never end (stuck). Ring of 4 on a star:
    round 0 is 3 sends (worker 1 sends nothing); worker 2 waits on 1 for ever, worker 3 got 2's and sends
    round 1, worker 0 got 3's and sends round 1 and 2 ... : 0 → 1 lands (to a dead node), 3 → 0, 0 → 1: 6 messages.
    On the command line both engines write the same results.json but for the engine's name."""
    import json

    from commsim.engines import message
    from commsim.engines import schedule as engine
    from commsim.engines.program import Faults, one_call

    graph = topologies.build("star", 4, B, ALPHA)
    made = schedule_for("ring_allreduce", 4, 600, 4, 0, None)
    program = one_call(made, participant_nodes(made, 4, []), 4, [], None)
    for e in (message, engine):
        run = e.run_program(program, graph, 0.0, Faults(crash_s=np.array([INF, 0.0, INF, INF])))
        np.testing.assert_array_equal(run.task_start, [[0.0, np.nan, 0.0, 0.0]], e.__name__)
        np.testing.assert_array_equal(run.task_end, [[INF, np.nan, INF, INF]], e.__name__)
        assert (run.stopped, run.crashed, run.messages) == ("stuck", [(1, 0.0)], 6)
        assert run.waiting == {0: [3], 2: [1], 3: [2]}
    served = topologies.build("star", 4, B, ALPHA, servers=1)
    used = topologies.servers(served)
    made = schedule_for("parameter_server", 4, 600, 4, 1, None)
    program = one_call(made, participant_nodes(made, 4, used), 4, list(used), None)
    for e in (message, engine):
        run = e.run_program(program, served, 0.0, Faults(crash_s=np.array([INF] * 4 + [0.0])))
        np.testing.assert_array_equal(run.task_start, [[0.0] * 4 + [np.nan]], e.__name__)
        np.testing.assert_array_equal(run.task_end, [[INF] * 4 + [np.nan]], e.__name__)
        assert (run.stopped, run.messages) == ("stuck", 4)  # the 4 pushes cross the network to a dead server
    written = {}
    for name in ("message", "schedule"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"name: c\nengine: {name}\npayload: size-only\nworkers: 4\nsize: 600\n"
                        "topology: {kind: star, bandwidth: 100 Gbit/s, latency: 1 us}\n"
                        "algorithms: [ring_allreduce, parameter_server]\nfaults: {crash: [{worker: 1, at: 0 s}]}\n")
        assert cli.main(["run", str(path), "--out", str(tmp_path / name)]) == 3  # stopped runs
        text = (tmp_path / name / "results.json").read_text()
        written[name] = json.loads(text.replace('"engine": "message"', '"engine": "?"')
                                   .replace('"engine": "schedule"', '"engine": "?"'))
    assert written["message"] == written["schedule"]
    assert list(written["message"]["runs"][0]["link_bandwidth"]) == sorted(written["message"]["runs"][0]["link_bandwidth"])


RING_CRASHES = [1e-6, 1e-6, 1e-6, 5e-6]  # every worker of a ring of 4 crashed by 5 us (worker 3 last)
RUN_ENDS = {  # case → (topology, servers, crash_s, link failures, what stopped, crashes listed, failures listed)
    "stuck: a failure long after still comes": ("ring", 0, [INF, 1e-6, INF, INF], ((0, 1, 1e-3),), "stuck",
                                                [(1, 1e-6)], [(1e-3, 0, 1)]),
    "stuck: a later crash still comes": ("ring", 0, [INF, 1e-6, INF, 1e-3], (), "stuck", [(1, 1e-6), (3, 1e-3)], []),
    "every worker crashed: a failure before the last crash": ("ring", 0, RING_CRASHES, ((0, 1, 4e-6),),
                                                              "every worker crashed", None, [(4e-6, 0, 1)]),
    "every worker crashed: a failure at the last crash": ("ring", 0, RING_CRASHES, ((0, 1, 5e-6),),
                                                          "every worker crashed", None, [(5e-6, 0, 1)]),
    "every worker crashed: a failure after never comes": ("ring", 0, RING_CRASHES, ((0, 1, 6e-6),),
                                                          "every worker crashed", None, []),
    "every worker crashed: a partition after never comes": ("ring", 0, RING_CRASHES, ((0, 1, 6e-6), (2, 3, 6e-6)),
                                                            "every worker crashed", None, []),
    "finished: a failure after never comes": ("ring", 0, [INF] * 4, ((0, 1, 1e-3),), None, [], []),
    "every worker crashed: a server's later crash never comes": ("star", 1, [1e-6] * 4 + [5e-6], (),
                                                                 "every worker crashed",
                                                                 [(w, 1e-6) for w in range(4)], []),
    "every worker crashed: a server's crash at that instant comes": ("star", 1, [1e-6] * 5, (), "every worker crashed",
                                                                     [(w, 1e-6) for w in range(5)], []),
}


@pytest.mark.parametrize("case", sorted(RUN_ENDS))
def test_what_comes_after_a_run_ends(case):
    """README: "a run ends when every worker has finished or crashed: a failure or crash due after that never
    happens". A stuck run never ends (its workers wait for ever), so every failure and crash due comes; a run
    whose workers all crashed ends at the last crash (a fault at that instant still comes: a fault comes first);
    a finished run at its last end. Both engines, the lists by hand (ring all-reduce of 4 × 150 fp32)."""
    from commsim.engines import message
    from commsim.engines import schedule as engine
    from commsim.engines.program import Faults, one_call

    kind, servers, crash, failures, stopped, crashed, failed = RUN_ENDS[case]
    graph = topologies.build(kind, 4, B, ALPHA, servers=servers)
    used = topologies.servers(graph)
    made = schedule_for("parameter_server" if servers else "ring_allreduce", 4, 600, 4, servers, None)
    program = one_call(made, participant_nodes(made, 4, used), 4, list(used), None)
    crashed = [(w, at) for w, at in enumerate(crash)] if crashed is None else crashed
    for e in (message, engine):
        run = e.run_program(program, graph, 0.0, Faults(crash_s=np.array(crash), link_failures=failures))
        assert (run.stopped, run.crashed, run.failed) == (stopped, crashed, failed), e.__name__


@pytest.mark.parametrize(("kind", "algorithm", "servers", "worker"),
                         [("star", "ring_allreduce", 0, 1), ("star", "parameter_server", 1, 2)])
def test_a_worker_crashing_at_the_instant_it_would_finish_never_finishes(kind, algorithm, servers, worker):
    """A crash comes first at its instant: a worker crashing exactly when it would have finished (its time
    taken from the run without faults) never finishes (end inf, listed as crashed), the others finish as
    without the crash. Ring of 4 on a star (the round-at-a-time way), and a parameter server whose link the
    pushes share (the fluid way); both engines."""
    from commsim.engines import message
    from commsim.engines import schedule as engine
    from commsim.engines.program import Faults, one_call

    graph = topologies.build(kind, 4, B, ALPHA, servers=servers)
    used = topologies.servers(graph)
    made = schedule_for(algorithm, 4, 600, 4, servers, None)
    program = one_call(made, participant_nodes(made, 4, used), 4, list(used), None)
    for e in (message, engine):
        calm = e.run_program(program, graph, 0.0)  # each engine's own instant (their sums may differ in the last bit)
        at = float(calm.task_end[0, worker])
        crash = np.full(4 + servers, INF)
        crash[worker] = at
        run = e.run_program(program, graph, 0.0, Faults(crash_s=crash))
        expected = calm.task_end.copy()
        expected[0, worker] = INF
        np.testing.assert_array_equal(run.task_end, expected, e.__name__)
        assert (run.stopped, run.crashed) == (None, [(worker, at)]), e.__name__
        assert run.fluid == (e is engine and servers > 0)


def test_a_server_that_got_its_quorum_before_it_joins_the_call_leaves_it_at_once():
    """Two steps of a parameter server keeping the first 3 of 4 pushes, on a star whose link to worker 3 runs at
    a tenth of the rate: the server's step-1 call ends only when its slow pull to worker 3 lands, but workers 0–2
    (pulled sooner, no compute) push step 2 before that, so the server enters step 2's push round with its 3
    already in, and sends its pulls at once (worker 3 dropped). The fluid way against the message engine."""
    from commsim.collectives.textbook.parameter_server import dropping_server_schedule
    from commsim.engines import message
    from commsim.engines import schedule as engine
    from commsim.engines.program import steps

    graph = topologies.build("star", 4, B, ALPHA, servers=1)
    graph.edges["switch", 3]["bandwidth"] = B / 10
    used = topologies.servers(graph)
    made = dropping_server_schedule(4, 60000, 4, 3)
    program = steps(made, participant_nodes(made, 4, used), 4, np.zeros(4), 2, list(used))
    want, got = (e.run_program(program, graph, 0.0) for e in (message, engine))
    assert got.fluid and got.dropped == want.dropped == [[3], [3]]
    server_ends_step_1 = got.task_end[1, 4]  # tasks: compute, call, compute, call
    assert np.all(got.task_end[2, :3] < server_ends_step_1)  # their step-2 computes (and pushes) come first
    for name in ("task_start", "task_end", "finish_s"):
        assert np.allclose(getattr(got, name), getattr(want, name), rtol=1e-9, atol=0, equal_nan=True), name


def test_rates_kept_per_multiset_of_chunks_by_hand():
    """The fluid way's rates, kept per multiset of its chunks' routes, on a 4-rank star of 8 B/s links: chunks
    [0 → 2, 0 → 2, 0 → 1] and [3 → 1] — 0's uplink carries three (8/3 each, 3 → 1 at 8/3 too by then), then
    3 → 1 alone fills what 1's downlink has left, 8 − 8/3 − 8/3: 16/3. The same chunks again (other arrays,
    the other order) take what was kept, each its own rates; the same routes cut into other chunks
    ([0 → 2, 3 → 1] and [0 → 2, 0 → 1]) are filled anew, and again."""
    from commsim.engines.program import one_call
    from commsim.engines.schedule import _Execution, _Fluid
    from commsim.network import topology

    graph = topology.build("star", 4, 8.0, 0.0)
    program = one_call(schedule_for("ring_allreduce", 4, 100, 4, 0, None), [0, 1, 2, 3], 4)
    fluid = _Fluid(_Execution(program, graph, 0.0, None, False))
    ids = {pair: int(fluid.ex.routes.lookup(np.array([pair[0]]), np.array([pair[1]]))[0])
           for pair in ((0, 2), (0, 1), (3, 1))}

    def rates(*chunks):
        fluid.tx.chunks = [{"route": np.array([ids[pair] for pair in chunk])} for chunk in chunks]
        fluid._rates(fluid.tx.chunks)
        return [chunk["rate"].tolist() for chunk in fluid.tx.chunks]

    third = 8 / 3
    first = rates([(0, 2), (0, 2), (0, 1)], [(3, 1)])
    np.testing.assert_allclose(first[0], [third] * 3, rtol=1e-12)
    np.testing.assert_allclose(first[1], [16 / 3], rtol=1e-12)
    kept = len(fluid.filled)
    assert rates([(3, 1)], [(0, 2), (0, 2), (0, 1)]) == first[::-1] and len(fluid.filled) == kept
    cut = rates([(0, 2), (3, 1)], [(0, 2), (0, 1)])
    assert cut == [[first[0][0], first[1][0]], [first[0][0]] * 2] and len(fluid.filled) == kept + 1
    assert rates([(0, 2), (0, 1)], [(0, 2), (3, 1)]) == cut[::-1] and len(fluid.filled) == kept + 1


@pytest.mark.parametrize("block", [3, 10**9])
def test_tallies_in_blocks_as_the_message_engine_says(monkeypatch, block):
    """The fluid way's counts and bytes per route, tallied a block at a time, with blocks of 3 transfers (blocks
    end mid-round, a crash cuts a transfer between blocks) or one block for the whole run (nothing tallied yet
    when the crash takes the bytes never sent off their route): the message engine's counts, sizes, bytes per
    link and what was lost."""
    from commsim.engines import message
    from commsim.engines import schedule as engine
    from commsim.engines.program import Faults, one_call

    monkeypatch.setattr(engine, "_BLOCK", block)
    graph = topologies.build("star", 4, B, ALPHA)
    made = schedule_for("ring_allreduce", 4, 60000, 4, 0, None)
    program = one_call(made, participant_nodes(made, 4, []), 4)
    faults = Faults(crash_s=np.array([INF, INF, 3e-6, INF]))
    want, got = message.run_program(program, graph, 0.0, faults), engine.run_program(program, graph, 0.0, faults,
                                                                                         fluid=True)
    assert got.fluid and got.lost and got.messages < 2 * 4 * 3
    assert (got.messages, got.sizes, got.bytes_per_link) == (want.messages, want.sizes, want.bytes_per_link)
    assert [b for _, _, b in got.lost] == pytest.approx([b for _, _, b in want.lost], rel=1e-9)


def test_routes_found_only_where_all_are_known():
    """Routes.found on a 4-rank star: None (and no route added: ids are numbered in the order pairs are first
    looked up) until every pair was looked up; then the ids lookup gave, in the pairs' order."""
    from commsim.engines.routes import Routes
    from commsim.network import topology

    routes = Routes(topology.build("star", 4, 8.0, 0.0), [0, 1, 2, 3])
    src, dst = np.array([3, 0, 1]), np.array([0, 2, 0])
    assert routes.found(src, dst) is None and len(routes.ids) == 0
    ids = routes.lookup(src[:2], dst[:2])
    assert routes.found(src, dst) is None and len(routes.ids) == 2
    ids = np.concatenate([ids, routes.lookup(src[2:], dst[2:])])
    assert ids.tolist() == [1, 0, 2]  # new pairs numbered by source: 0 → 2 before 3 → 0
    assert routes.found(src, dst).tolist() == [1, 0, 2]
    assert routes.found(src[::-1], dst[::-1]).tolist() == [2, 0, 1]
    assert routes.found(np.array([2]), np.array([3])) is None and routes.found(src[:0], dst[:0]).tolist() == []


def test_patterns_forgotten_hand_their_bytes_to_the_tally_first(monkeypatch):
    """Rounds over four pairs of (src, dst) arrays, A B C A B C D A B C, on a 4-rank star (each round's transfers
    share a link: the fluid way), with three patterns kept at most: A, B and C carry their bytes in place from
    their second round on, and D makes them forgotten — their bytes must reach the tally first. Counts, sizes
    and bytes per link as the message engine says."""
    from dataclasses import replace

    from commsim.collectives.schedule import listed, pieces
    from commsim.engines import message
    from commsim.engines import schedule as engine
    from commsim.engines.program import one_call

    monkeypatch.setattr(engine, "_ROUNDS_KEPT", 3)
    pairs = {"A": ([0, 0], [1, 2]), "B": ([1, 3], [2, 2]), "C": ([2, 2], [3, 0]), "D": ([3, 1], [0, 0])}
    arrays = {name: (np.array(src), np.array(dst)) for name, (src, dst) in pairs.items()}
    rounds = []
    for j, name in enumerate("ABCABCDABC"):
        src, dst = arrays[name]
        made = pieces(src, dst, [0, 10 * (j + 1)], [10 * (j + 1), 10 * (j + 1) + 7 * (j + 1)], 4, name)
        rounds.append(replace(made, src=src, dst=dst))  # (the same arrays: one pattern)
    schedule = listed(4, rounds, 200)
    graph = topologies.build("star", 4, B, ALPHA)
    program = one_call(schedule, [0, 1, 2, 3], 4)
    want, got = message.run_program(program, graph), engine.run_program(program, graph, fluid=True)
    assert got.fluid and got.messages == want.messages == 20
    assert (got.sizes, got.bytes_per_link) == (want.sizes, want.bytes_per_link)
    assert np.allclose(got.task_end, want.task_end, rtol=1e-9)
