"""Stragglers and faults against hand computations and an independent model of the ring's dependencies."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim import cli, scenario
from commsim.engines.disturbed import Disturbance, critical_path, idle_s, run_disturbed
from commsim.engines.message import make_buffers
from commsim.network.topology import build
from commsim.runner.points import simulate_run

ALPHA, B = 1e-6, 1e9  # 1 us and 8 Gbit/s per link


def ring_finish(compute: list[float], delay: list[float]) -> list[float]:
    """The ring all-reduce's finish times from its dependencies alone (no simulator): worker i starts step
    s + 1 once its own step-s message (to i + 1, ``delay[i]`` long) and the one from i − 1 have arrived:
    S_i(s+1) = max(S_i(s) + d_i, S_{i−1}(s) + d_{i−1}), S_i(0) = its compute; 2(n − 1) steps."""
    n = len(compute)
    start = list(compute)
    for _ in range(2 * (n - 1)):
        start = [max(start[i] + delay[i], start[i - 1] + delay[i - 1]) for i in range(n)]
    return start


def _run(kind: str, n: int, p: int, disturbance: Disturbance, algorithm: str = "ring_allreduce", servers: int = 0):
    graph = build(kind, n, B, ALPHA, servers=servers, overrides=[])
    return run_disturbed(algorithm, graph, make_buffers(n, p, "float32", "data", 0), disturbance)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 7), slow=st.integers(0, 6), k=st.integers(1, 6), chunk=st.integers(1, 50))
def test_ring_with_one_worker_k_times_slower_by_hand(n, slow, k, chunk):
    """Ring all-reduce on a star, worker s computing k·c and the rest c: every step is 2α + m/B (one
    flow per directed link), so the run ends at k·c + 2(n−1)(2α + m/B); it loses (k−1)·c against the
    uniform run; every other worker idles (k−1)·c − (2α + m/B) (it sent its first message, then waits
    for the chain from the slow one), the slow one never; the critical path starts at its compute."""
    slow, c, p = slow % n, 1e-3, chunk * n
    step = 2 * ALPHA + p * 4 / n / B
    compute = [c] * n
    compute[slow] = k * c
    done = _run("star", n, p, Disturbance(tuple(compute)))
    uniform = _run("star", n, p, Disturbance(tuple([c] * n)))
    assert done.makespan_s == pytest.approx(k * c + 2 * (n - 1) * step, rel=1e-12)
    assert done.makespan_s - uniform.makespan_s == pytest.approx((k - 1) * c, rel=1e-9, abs=1e-15)
    assert done.finish_s == pytest.approx(ring_finish(compute, [step] * n), rel=1e-12)
    idle = idle_s(done.network.log, [[(0.0, t)] for t in compute], done.finish_s)
    others = [t for rank, t in enumerate(idle) if rank != slow]
    if k > 1 and n > 1:
        assert others == pytest.approx([(k - 1) * c - step] * (n - 1), rel=1e-9)
        assert idle[slow] == 0
        path = critical_path(done.network.log, [[(0.0, t)] for t in compute], done.finish_s)
        assert path.origin == slow and path.compute_s == k * c
        assert path.messages == 2 * (n - 1) and path.message_s == pytest.approx(2 * (n - 1) * step, rel=1e-9)


def test_parameter_server_with_one_slow_worker_by_hand():
    """Parameter server on a star, n = 4, P = 1600 B, worker 3 computing 4 ms and the rest 1 ms. Uniform:
    the server link carries the 4 pushes, then the 4 pulls: c + 2(2α + 4P/B) = 1.0168 ms. Slow: the three
    pushes are done early, then the slow push alone (2α + P/B) and the 4 pulls (2α + 4P/B):
    4c + 4α + 5P/B = 4.0120 ms. The server waits once, so it loses (k−1)c − 3P/B = 2.9952 ms."""
    p, c = 400, 1e-3
    size = 4 * p
    done = _run("star", 4, p, Disturbance((c, c, c, 4 * c)), "parameter_server", servers=1)
    uniform = _run("star", 4, p, Disturbance((c,) * 4), "parameter_server", servers=1)
    assert uniform.makespan_s == pytest.approx(c + 2 * (2 * ALPHA + 4 * size / B), rel=1e-12)
    assert done.makespan_s == pytest.approx(4 * c + 4 * ALPHA + 5 * size / B, rel=1e-12)
    assert done.makespan_s - uniform.makespan_s == pytest.approx(3 * c - 3 * size / B, rel=1e-9)


def test_link_failure_on_a_ring_reroutes_the_long_way_round_by_hand():
    """Ring all-reduce on a 4-ring whose link 0–1 fails at t = 0: 0→1 goes 0→3→2→1, three hops of links
    the ring's own flows (i→i+1) do not use, so it is alone: 3α + m/B = 3.4 us against 1.4 us, and every
    step waits for it (worker 0 for its own send, the rest down the chain): 6 × 3.4 = 20.4 us. All six
    0→1 messages (400 B) were rerouted: 2400 B."""
    m = 400
    done = _run("ring", 4, 400, Disturbance((0.0,) * 4, link_failures=((0, 1, 0.0),)))
    long_way, direct = 3 * ALPHA + m / B, ALPHA + m / B
    assert done.makespan_s == pytest.approx(6 * long_way, rel=1e-12)
    assert done.finish_s == pytest.approx(ring_finish([0.0] * 4, [long_way, direct, direct, direct]), rel=1e-12)
    assert done.network.rerouted_bytes == 6 * m
    assert done.results[0] is not None and np.array_equal(done.results[0], done.results[3])


def test_link_failure_mid_message_moves_the_bytes_left_by_hand():
    """The same ring, link 0–1 failing at 3.0 us: steps 1–2 take 1.4 us each; step 3's 0→1 message
    started at 2.8 us and has sent 200 of its 400 B, so 200 B continue the long way (0.2 us + 3α): it
    lands at 6.2 us; steps 4–6 take 3.4 us: 16.4 us. Rerouted: 200 + 3 × 400 = 1400 B."""
    done = _run("ring", 4, 400, Disturbance((0.0,) * 4, link_failures=((0, 1, 3e-6),)))
    assert done.makespan_s == pytest.approx(16.4e-6, rel=1e-12)
    assert done.network.rerouted_bytes == pytest.approx(1400, rel=1e-12)


def test_partition_stops_the_run_and_names_both_sides():
    """Cutting a 4-ring at 0–1 and then 2–3 leaves {0, 3} and {1, 2}: the run stops and says so."""
    done = _run("ring", 4, 400, Disturbance((0.0,) * 4, link_failures=((0, 1, 1e-6), (2, 3, 1e-6))))
    assert done.stopped == "network partitioned at t = 1.00 us (link 2–3 failed): workers 0, 3 cannot reach 1, 2"
    assert done.results == [None] * 4


def test_crash_under_ring_says_who_waits_on_whom():
    """Ring on a star (steps of 2.4 us), worker 2 crashing at 3 us, in step 2 (its step-2 send to 3 is
    under way): 3 gets it, sends step 3 to 0 and waits on 2 for ever; 0 then waits on 3, and 1 on 0."""
    done = _run("star", 4, 400, Disturbance((0.0,) * 4, crashes=((2, 3e-6),)))
    assert done.stopped == ("ring_allreduce cannot finish (worker 2 crashed at t = 3.00 us): "
                            "waiting: 0 on 3; 1 on 0; 3 on 2")
    assert done.crashed == [(2, 3e-6)] and done.results == [None] * 4


def test_crash_under_a_parameter_server_without_dropping_waits_for_ever():
    """The server waits on the crashed worker; the others wait on the server."""
    done = _run("star", 4, 400, Disturbance((0.0,) * 4, crashes=((1, 0.0),)), "parameter_server", servers=1)
    assert done.stopped.endswith("waiting: 0 on server; 2 on server; 3 on server; server on 1")


def test_drop_stragglers_takes_the_first_arrivals_and_their_mean():
    """keep = 3 of 4 with worker 1 crashed at 0: the server averages workers 0, 2, 3 exactly (in rank
    order, divided by 3), the crashed worker gets nothing, and 2n − 1 = 7 messages cross (it never pushes).
    Pushes share the server link: 2α + 3P/B; pulls: 2α + 4P/B."""
    n, p = 4, 400
    buffers = make_buffers(n, p, "float32", "data", 0)
    graph = build("star", n, B, ALPHA, servers=1, overrides=[])
    done = run_disturbed("parameter_server", graph, buffers, Disturbance((0.0,) * 4, crashes=((1, 0.0),), keep=3))
    assert done.stopped is None and done.dropped == [[1]]
    expected = (buffers[0] + buffers[2] + buffers[3]) / np.float32(3)
    for rank in (0, 2, 3):
        assert np.array_equal(done.results[rank], expected)
    assert done.results[1] is None and done.network.messages == 7
    assert done.makespan_s == pytest.approx(4 * ALPHA + 7 * 4 * p / B, rel=1e-12)


def test_dropped_gradients_arriving_late_never_count_in_a_later_call():
    """Two calls in a row with worker 3 slow: each call's mean is of that call's first three gradients,
    tagged by call, even though the slow worker's first gradient arrives during the second call."""
    from commsim.collectives import Comm
    from commsim.collectives.parameter_server import DROPPED, first_arrivals
    from commsim.network.fluid import Network
    import simpy

    n, p = 4, 8
    graph = build("star", n, B, ALPHA, servers=1, overrides=[])
    env = simpy.Environment()
    net = Network(env, graph)
    algorithm = first_arrivals(3)
    calls = [[np.full(p, 10.0 * call + rank, dtype=np.float32) for rank in range(n)] for call in range(2)]
    out: dict[tuple[int, int], np.ndarray] = {}

    def worker(rank):
        for call in range(2):
            yield env.timeout(1e-3 if rank == 3 else 0.0)
            out[rank, call] = yield from algorithm.worker(Comm(net, rank, n, ("server",)), calls[call][rank])

    def server():
        for _ in range(2):
            yield from algorithm.server(Comm(net, "server", n, ("server",)))

    for rank in range(n):
        env.process(worker(rank))
    env.process(server())
    env.run()
    assert net.shared[DROPPED] == [[3], [3]]
    assert np.array_equal(out[0, 0], np.full(p, 1.0, dtype=np.float32))  # (0 + 1 + 2) / 3
    assert np.array_equal(out[0, 1], np.full(p, 11.0, dtype=np.float32))  # (10 + 11 + 12) / 3


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 6), jitter_us=st.floats(0.01, 5.0), seed=st.integers(0, 10_000))
def test_message_jitter_stays_within_its_bound(n, jitter_us, seed):
    """Each of a ring's 2(n−1) steps waits at most J more than without jitter (each send starts < J late,
    no link is shared on a star), and never less: uniform ≤ T ≤ uniform + 2(n−1)J."""
    jitter = jitter_us * 1e-6
    plain = _run("star", n, 40 * n, Disturbance((0.0,) * n))
    done = _run("star", n, 40 * n, Disturbance((0.0,) * n, jitter_s=jitter, seed=seed))
    assert plain.makespan_s <= done.makespan_s <= plain.makespan_s + 2 * (n - 1) * jitter * (1 + 1e-9)


def test_jitter_is_seeded():
    """The same seed gives the same times, bit for bit; another seed other times."""
    runs = [_run("star", 5, 100, Disturbance((0.0,) * 5, jitter_s=2e-6, seed=seed)) for seed in (1, 1, 2)]
    assert runs[0].finish_s == runs[1].finish_s
    assert runs[0].finish_s != runs[2].finish_s


def _scenario(tmp_path, text: str) -> scenario.Scenario:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return scenario.load(path)


BASE = "name: s\nworkers: 4\nparams: 400\ntopology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\n"


def test_slow_links_of_one_worker_by_hand(tmp_path):
    """``stragglers.links``: worker 3's link at 0.8 Gbit/s. Ring steps through it take 2α + m/B'
    (1 us + 1 us + 400 B / 0.1 GB/s = 6 us), the rest 2.4 us; the dependency model gives the finish."""
    loaded = _scenario(tmp_path, BASE + "algorithms: [ring_allreduce]\n"
                       "stragglers: {links: {3: {bandwidth: 0.8 Gbit/s}}}\n")
    (run,) = [simulate_run(loaded, point) for point in loaded.runs()]
    slow, fast = 2 * ALPHA + 400 / 1e8, 2 * ALPHA + 400 / B
    assert run.finish_s == pytest.approx(ring_finish([0.0] * 4, [fast, fast, slow, slow]), rel=1e-12)
    assert run.disturbance["lost_s"] == pytest.approx(6 * slow - 6 * fast, rel=1e-9)


def test_slowdown_list_distribution_and_compute_jitter(tmp_path):
    """A list gives worker i the i-th factor (the rest 1); a lognormal draw depends on the seed; compute
    jitter stretches each compute by a factor in [1, 1 + J)."""
    listed = _scenario(tmp_path, BASE + "algorithms: [ring_allreduce]\nstragglers: {compute: 1 ms, slowdown: [2, 3]}\n")
    assert listed.stragglers.compute_s(4, 0, 1e-3) == [2e-3, 3e-3, 1e-3, 1e-3]
    drawn = _scenario(tmp_path, BASE + "algorithms: [ring_allreduce]\nstragglers: {compute: 1 ms, slowdown: {lognormal: 0.5}}\n")
    assert drawn.stragglers.compute_s(4, 0, 1e-3) != drawn.stragglers.compute_s(4, 1, 1e-3)
    assert drawn.stragglers.compute_s(4, 3, 1e-3) == drawn.stragglers.compute_s(4, 3, 1e-3)
    noisy = _scenario(tmp_path, BASE + "algorithms: [ring_allreduce]\nstragglers: {compute: 1 ms, jitter: {compute: 0.5}}\n")
    times = noisy.stragglers.compute_s(4, 0, 1e-3)
    assert all(1e-3 <= t < 1.5e-3 for t in times) and len(set(times)) == 4


@pytest.mark.parametrize(("extra", "message"), [
    ("stragglers: {slowdown: {3: 4}}", "stragglers.compute: slowdown and compute jitter scale a compute time"),
    ("stragglers: {compute: 1 ms, slowdown: {9: 4}}", "stragglers.slowdown: no worker 9 with workers=4"),
    ("stragglers: {compute: 1 ms, slowdown: {1: 0}}", "stragglers.slowdown: worker 1: a slowdown factor must be a number > 0, got 0"),
    ("stragglers: {compute: 1 ms, slowdown: [1, .nan]}", "stragglers.slowdown: item 1: a slowdown factor must be a number > 0, got nan"),
    ("stragglers: {compute: 1 ms, slowdown: {uniform: [2, 1]}}", "stragglers.slowdown: uniform: give [low, high] with 0 < low <= high"),
    ("stragglers: {compute: 1 ms, slowdown: {x: 2}}", "stragglers.slowdown: a worker is a whole number, got 'x'"),
    ("faults: {crash: [{worker: 4}]}", "faults.crash.0.worker: no worker 4 with workers=4"),
    ("faults: {drop_stragglers: 1}", "faults.drop_stragglers: only 'parameter_server'"),
    ("engine: schedule\npayload: size-only\nfaults: {crash: [{worker: 1}]}", "faults: stragglers and faults are simulated"),
    ("faults: {link_down: [{between: [0, 1]}]}", "faults.link_down.0.between: no link 0–1"),
])
def test_bad_disturbances_are_one_line_naming_the_key(tmp_path, capsys, extra, message):
    """Each mistake: exit status 2 and one line naming the key."""
    path = tmp_path / "s.yaml"
    path.write_text(BASE + "algorithms: [ring_allreduce]\n" + extra + "\n")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_cli_reports_a_stopped_run_and_a_drop(tmp_path, capsys):
    """Worker 2 crashing at 0.5 ms, during its compute: the ring stops (the table says who waits on whom),
    the dropping server carries on with the other three (worker 3 is 4× slow, so it waits for it) and
    says it dropped worker 2; exit status 0, the run did what the scenario asked."""
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nworkers: 4\nparams: 400\nalgorithms: [ring_allreduce, parameter_server]\n"
                    "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\n"
                    "stragglers: {compute: 1 ms, slowdown: {3: 4}}\n"
                    "faults: {drop_stragglers: 1, crash: [{worker: 2, at: 0.5 ms}]}\n")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # notes wrap at 100 columns
    assert "stopped: ring_allreduce cannot finish (worker 2 crashed at t = 500 us): waiting: 0 on 3; 1 on 0; 3 on 2" in flat
    assert "dropped: 1 gradient(s) over 1 round(s), from workers 2" in flat
    assert "1 of 1 runs match their closed forms; 1 stopped" in out
    runs = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    assert [run["disturbance"]["crashed"] for run in runs] == [[[2, 5e-4]], [[2, 5e-4]]]
    assert runs[0]["ok"] is None and runs[1]["ok"] is True
    assert runs[1]["disturbance"]["dropped"] == [[2]]
    assert runs[1]["makespan_s"] == pytest.approx(4e-3 + 4 * ALPHA + 5 * 1600 / B, rel=1e-12)


TRAINING = ("name: t\nworkers: 4\nalgorithms: [{algorithm}]\ntopology: {{kind: star, bandwidth: 8 Gbit/s, latency: 1 us}}\n"
            "training: {{model: linear_regression, features: 3, samples: 64, batch_per_worker: 8, steps: 3,\n"
            "  optimizer: {{name: gradient_descent, alpha: 0.1}}, compute: {{flops_per_second: 1.92e5}}}}\n")
"""Linear regression on 3 features: 4 parameters, 6·4·8 = 192 FLOP per step: 1 ms at 1.92e5 FLOP/s."""


def _train(tmp_path, algorithm: str, extra: str):
    from commsim.runner.points import simulate_training

    loaded = _scenario(tmp_path, TRAINING.format(algorithm=algorithm) + extra)
    (point,) = loaded.runs()
    return simulate_training(loaded, point)


def test_training_ring_with_one_slow_worker_by_hand(tmp_path):
    """Ring training, worker 3 computing 4 ms a step and the rest 1 ms: every step waits for it, so
    3 steps take 3·(4 ms + T), T = 6·(2α + 4 B/B) = 12.024 us; 9 ms lost against the uniform twin; the
    model's loss is unchanged (the same gradients are averaged); replicas identical."""
    run = _train(tmp_path, "ring_allreduce", "stragglers: {slowdown: {3: 4}}\n")
    T = 6 * (2 * ALPHA + 4 / B)
    assert run.makespan_s == pytest.approx(3 * (4e-3 + T), rel=1e-12)
    assert run.disturbance["lost_s"] == pytest.approx(9e-3, rel=1e-9)
    assert run.disturbance["final_loss_change"] == 0.0 and run.ok is True
    assert run.disturbance["critical_path"]["computes"] == 3 and run.disturbance["critical_path"]["origin"] == 3


def test_training_ring_crash_stops_after_the_steps_it_finished(tmp_path):
    """Uniform steps end at s·(1 ms + T); a crash of worker 1 at 2.5 ms lands in step 3: two steps done."""
    run = _train(tmp_path, "ring_allreduce", "faults: {crash: [{worker: 1, at: 2.5 ms}]}\n")
    assert run.disturbance["steps_done"] == 2 and run.ok is None
    assert run.disturbance["stopped"].startswith("ring_allreduce cannot finish (worker 1 crashed at t = 2.50 ms)")


def test_training_parameter_server_dropping_a_crashed_worker_trains_on(tmp_path):
    """With drop_stragglers: 1, the server carries on without the worker that crashed at 0: every step
    drops it, every step finishes, the live replicas agree, and the loss differs from the uniform twin's
    (3 of 4 shards' gradients)."""
    run = _train(tmp_path, "parameter_server", "faults: {drop_stragglers: 1, crash: [{worker: 2, at: 0 s}]}\n")
    assert run.disturbance["dropped"] == [[2], [2], [2]] and run.disturbance["steps_done"] == 3
    assert run.replicas_identical and run.ok is True
    assert run.disturbance["final_loss_change"] != 0.0


def _bundled(name: str) -> dict:
    loaded = scenario.load(name)
    return {(run.algorithm, run.workers): run for run in (simulate_run(loaded, point) for point in loaded.runs())}


A5, BW, P = 5e-6, 100e9 / 8, 1e6  # the bundled scenarios' 5 us, 100 Gbit/s, 1 MB


def test_bundled_stragglers_by_hand():
    """Worker 3 computes 4 ms, the rest 1 ms, on a star. Ring: 4 ms + 2(n−1)(2α + P/(nB)); it loses
    exactly 3 ms. Parameter server: 4 ms + 4α + (n+1)P/B (the slow push alone, then n pulls)."""
    runs = _bundled("stragglers")
    for n in (4, 8):
        ring, server = runs["ring_allreduce", n], runs["parameter_server", n]
        assert ring.makespan_s == pytest.approx(4e-3 + 2 * (n - 1) * (2 * A5 + P / n / BW), rel=1e-12)
        assert ring.disturbance["lost_s"] == pytest.approx(3e-3, rel=1e-9)
        assert server.makespan_s == pytest.approx(4e-3 + 4 * A5 + (n + 1) * P / BW, rel=1e-12)
        assert server.disturbance["uniform_makespan_s"] == pytest.approx(1e-3 + 2 * (2 * A5 + n * P / BW), rel=1e-12)
        assert runs["double_binary_tree", n].makespan_s >= 4e-3
        assert all(run.ok for run in (ring, server)) and ring.disturbance["critical_path"]["origin"] == 3


def test_bundled_link_failure_by_hand():
    """Link 0–1 of the 8-ring down from t = 0: 0→1 goes 7 hops, alone on its links: each of the 14 ring
    steps takes 7α + P/(8B) = 45 us (630 us against 14 × 15 = 210 us), and all 14 of its 125 kB
    messages are rerouted. All-to-all: the bytes rerouted are those of every pair whose hop-shortest
    path on the intact ring (networkx's, on the topology's graph) crossed 0–1."""
    import networkx as nx

    runs = _bundled("link_failure")
    ring = runs["ring_allreduce", 8]
    assert ring.makespan_s == pytest.approx(14 * (7 * A5 + P / 8 / BW), rel=1e-12)
    assert ring.disturbance["lost_s"] == pytest.approx(14 * 6 * A5, rel=1e-9)
    assert ring.disturbance["rerouted_bytes"] == 14 * 125_000
    paths = dict(nx.all_pairs_shortest_path(build("ring", 8, BW, A5, servers=0, overrides=[])))
    crossing = sum(any({a, b} == {0, 1} for a, b in zip(path, path[1:]))
                   for src, row in paths.items() for dst, path in row.items() if src != dst)
    assert runs["all_to_all", 8].disturbance["rerouted_bytes"] == crossing * int(P)


def test_bundled_partition_by_hand():
    """Steps of 15 us: by the second failure (20 us) two steps have started (16 messages); cutting 0–1
    and 4–5 leaves {0, 5, 6, 7} and {1, 2, 3, 4}."""
    run = _bundled("partition")["ring_allreduce", 8]
    assert run.stopped == ("network partitioned at t = 20.0 us (link 4–5 failed): "
                           "workers 0, 5, 6, 7 cannot reach 1, 2, 3, 4")
    assert run.messages == 16 and run.ok is None


def test_bundled_worker_crash_by_hand():
    """Worker 5 crashes in its compute. Ring: 6 waits on 5's first message for ever, 7 then on 6, and so
    round to 4 on 3. The dropping server takes the 7 gradients that come: 1 ms + (2α + 7P/B) + (2α +
    8P/B) = 2.22 ms, 15 messages, worker 5 dropped, the mean that of the other seven."""
    runs = _bundled("worker_crash")
    ring, server = runs["ring_allreduce", 8], runs["parameter_server", 8]
    assert ring.stopped == ("ring_allreduce cannot finish (worker 5 crashed at t = 500 us): "
                            "waiting: 0 on 7; 1 on 0; 2 on 1; 3 on 2; 4 on 3; 6 on 5; 7 on 6")
    assert server.makespan_s == pytest.approx(1e-3 + 4 * A5 + 15 * P / BW, rel=1e-12)
    assert server.messages == 15 and server.disturbance["dropped"] == [[5]]
    assert server.disturbance["kept_makespan_s"] == server.makespan_s  # every kept worker gets the same pull
    assert server.mean["max_error"] <= server.mean["tolerance"] and server.mean["vs_all_max_error"] > 0


def test_sweep_counts_stopped_points_apart(tmp_path, capsys):
    """``commsim sweep`` of the crash scenario: one point matches its closed forms, one stopped."""
    assert cli.main(["sweep", "worker_crash", "--out", str(tmp_path / "out"), "--jobs", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("2 points: 1 of 1 match their closed forms; 1 stopped by their faults") for line in out)


def test_figure_shows_each_run_beside_its_twin(tmp_path):
    """The figure's bars, read back: uniform and disturbed times in ms (a stopped run's bar is empty and
    labelled), and one idle bar per finished worker."""
    from commsim.report.plots import disturbance_figure
    from commsim.report.records import run_record

    runs = list(_bundled("worker_crash").values())
    figure = disturbance_figure([run_record(run) for run in runs])
    times, idle = figure.axes[:2]
    widths = [patch.get_width() for patch in times.patches]
    assert widths[:2] == pytest.approx([run.disturbance["uniform_makespan_s"] * 1e3 for run in runs])
    assert widths[2:] == pytest.approx([0.0, runs[1].makespan_s * 1e3])
    assert [text.get_text() for text in times.texts] == [" stopped"]
    assert len(idle.patches) == 7  # the server's run: 7 workers finished (5 crashed); the ring's: none


def test_scenario_seed_draws_the_jitter(tmp_path):
    """The scenario's seed draws the message jitter: seeds 1 and 1 give the same times, 2 others."""
    def makespan(seed: int) -> float:
        path = tmp_path / f"s{seed}.yaml"
        path.write_text(BASE.replace("name: s", f"name: s\nseed: {seed}") + "algorithms: [ring_allreduce]\n"
                        "stragglers: {jitter: {message: 3 us}}\n")
        loaded = scenario.load(path)
        (point,) = loaded.runs()
        return simulate_run(loaded, point).makespan_s

    assert makespan(1) == makespan(1) != makespan(2)


def test_budget_counts_the_uniform_twin(tmp_path):
    """A disturbed run is simulated twice (its twin, then itself): the budget estimates twice the
    messages and events of the same run without stragglers: 2 · 2n(n−1) = 48 for a 4-ring."""
    from commsim import budget

    plain = _scenario(tmp_path, BASE + "algorithms: [ring_allreduce]\n")
    slow = _scenario(tmp_path, BASE + "algorithms: [ring_allreduce]\nstragglers: {compute: 1 ms, slowdown: {3: 4}}\n")
    once, twice = (budget.estimate(s, next(iter(s.runs()))) for s in (plain, slow))
    assert once.messages == 24 and twice.messages == 48 and twice.events == 2 * budget.estimate(plain, next(iter(plain.runs())), keep_log=True).events


def test_training_compute_jitter_is_per_step_and_bounded():
    """Training draws each step's compute anew: rank r's step times lie in [c_r, c_r(1 + J)), differ from
    step to step and between ranks, and the same seed draws the same ones."""
    disturbance = Disturbance((1e-3, 2e-3), compute_jitter=0.5, seed=4)
    times = [disturbance.step_compute_s(rank, 6) for rank in (0, 1)]
    for rank, base in enumerate((1e-3, 2e-3)):
        assert all(base <= t < 1.5 * base for t in times[rank]) and len(set(times[rank])) == 6
    assert [t / 2 for t in times[1]] != times[0]
    assert Disturbance((1e-3, 2e-3), compute_jitter=0.5, seed=4).step_compute_s(1, 6) == times[1]
