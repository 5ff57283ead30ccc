"""Stragglers and faults against hand computations and an independent model of the ring's dependencies."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from commsim import cli, scenario
from commsim.engines.activity import critical_path, idle_s
from commsim.engines.disturbed import Disturbance, run_disturbed
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
@given(n=st.integers(1, 7), slow=st.integers(0, 6), k=st.integers(1, 6), chunk=st.integers(1, 50))
@example(n=1, slow=0, k=3, chunk=5)  # one worker: no message, it finishes when it has computed
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


def test_the_parameter_server_uses_the_first_server_and_the_sharded_one_every_server_by_hand():
    """A star with two servers, 4 workers, P = 1600 B. The parameter server is the first server alone: its
    link carries the 4 pushes, then the 4 pulls, 2(2α + 4P/B) = 16.8 us, and the second server's link
    carries nothing (so cutting it off is no partition). The sharded server splits P over both: 2(2α + 4(P/2)/B) = 10.4 us."""
    p = 400
    size = 4 * p
    plain = _run("star", 4, p, Disturbance((0.0,) * 4), "parameter_server", servers=2)
    assert plain.finish_s == pytest.approx([2 * (2 * ALPHA + 4 * size / B)] * 4, rel=1e-12)
    assert plain.network.messages == 8
    cut = _run("star", 4, p, Disturbance((0.0,) * 4, link_failures=(("server1", "switch", 1e-6),)), "parameter_server",
               servers=2)  # the unused server cut off: no partition, nothing changes
    assert cut.stopped is None and cut.finish_s == plain.finish_s
    sharded = _run("star", 4, p, Disturbance((0.0,) * 4), "sharded_parameter_server", servers=2)
    assert sharded.finish_s == pytest.approx([2 * (2 * ALPHA + 4 * (size / 2) / B)] * 4, rel=1e-12)
    assert sharded.network.messages == 16


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


@pytest.mark.parametrize("crashed", [1, 3])
def test_drop_stragglers_takes_the_first_arrivals_and_their_mean(crashed):
    """keep = 3 of 4 with one worker crashed at 0 (the last one too): the server averages the other three
    exactly (in rank order, divided by 3), the crashed worker gets nothing, and 2n − 1 = 7 messages cross
    (it never pushes). Pushes share the server link: 2α + 3P/B; pulls: 2α + 4P/B."""
    n, p = 4, 400
    buffers = make_buffers(n, p, "float32", "data", 0)
    graph = build("star", n, B, ALPHA, servers=1, overrides=[])
    done = run_disturbed("parameter_server", graph, buffers,
                         Disturbance((0.0,) * 4, crashes=((crashed, 0.0),), keep=3))
    assert done.stopped is None and done.dropped == [[crashed]]
    live = [rank for rank in range(n) if rank != crashed]
    expected = (buffers[live[0]] + buffers[live[1]] + buffers[live[2]]) / np.float32(3)
    for rank in live:
        assert np.array_equal(done.results[rank], expected)
    assert done.results[crashed] is None and done.network.messages == 7
    assert done.makespan_s == pytest.approx(4 * ALPHA + 7 * 4 * p / B, rel=1e-12)


def test_dropped_gradients_arriving_late_never_count_in_a_later_call():
    """Two calls in a row with worker 3 slow: each call's mean is of that call's first three gradients,
    tagged by call, even though the slow worker's first gradient arrives during the second call."""
    from commsim.collectives import Comm
    from commsim.collectives.textbook.parameter_server import DROPPED, first_arrivals
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
    assert net.shared[DROPPED] == {0: {3}, 1: {3}}  # per call, the ranks it dropped
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
    default = _run("star", 5, 100, Disturbance((0.0,) * 5, jitter_s=2e-6))  # seed 0, as a scenario's default
    assert default.finish_s == _run("star", 5, 100, Disturbance((0.0,) * 5, jitter_s=2e-6, seed=0)).finish_s


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
    ("engine: analytic\npayload: size-only\nfaults: {crash: [{worker: 1}]}",
     "faults.crash: engine 'analytic' has no closed form for it; use 'engine: schedule' (or 'message')"),
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
    says it dropped worker 2; exit status 3: a run stopped (every check of the other holds)."""
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nworkers: 4\nparams: 400\nalgorithms: [ring_allreduce, parameter_server]\n"
                    "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\n"
                    "stragglers: {compute: 1 ms, slowdown: {3: 4}}\n"
                    "faults: {drop_stragglers: 1, crash: [{worker: 2, at: 0.5 ms}]}\n")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 3
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
    """``commsim sweep`` of the crash scenario: one point matches its closed forms, one stopped (exit 3)."""
    assert cli.main(["sweep", "worker_crash", "--out", str(tmp_path / "out"), "--jobs", "1"]) == 3
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith("2 points: 1 of 1 match their closed forms; 1 stopped by their faults") for line in out)


def test_figure_shows_each_run_beside_its_twin(tmp_path):
    """The figure's bars, read back: uniform and disturbed times in ms (a stopped run's bar is empty and
    labelled); no worker idles, so no idle panel (tests/test_plots.py reads its note and markers)."""
    from commsim.report.plots import disturbance_figure
    from commsim.report.records import run_record

    runs = list(_bundled("worker_crash").values())
    figure = disturbance_figure([run_record(run) for run in runs])
    (times,) = figure.axes
    widths = [patch.get_width() for patch in times.patches]
    assert widths[:2] == pytest.approx([run.disturbance["uniform_makespan_s"] * 1e3 for run in runs])
    assert widths[2:] == pytest.approx([0.0, runs[1].makespan_s * 1e3])
    assert [text.get_text() for text in times.texts] == ["stopped"]


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


def test_training_compute_jitter_is_per_step_and_bounded(tmp_path):
    """Training draws each step's compute anew: rank r's step times lie in [c_r, c_r(1 + J)), differ from
    step to step and between ranks, and the same seed draws the same ones."""
    from commsim.runner.plans import compute_of

    loaded = _scenario(tmp_path, TRAINING.format(algorithm="ring_allreduce")
                       + "stragglers: {slowdown: {1: 2}, jitter: {compute: 0.5}}\nseed: 4\n")
    times = compute_of(loaded, 2, 1e-3, 6)  # [step, rank]
    for rank, base in enumerate((1e-3, 2e-3)):
        assert all(base <= t < 1.5 * base for t in times[:, rank]) and len(set(times[:, rank])) == 6
    assert (times[:, 1] / 2 != times[:, 0]).all()
    assert np.array_equal(compute_of(loaded, 2, 1e-3, 6), times)


# -- the critical path ---------------------------------------------------------------------------------


def _log(messages: list[tuple]) -> "MessageLog":
    """A message log of (src, dst, start, end), in delivery order."""
    from commsim.network.fluid import Link, MessageLog, Route

    log = MessageLog()
    log.phases.append("")
    for i, (src, dst, start, end) in enumerate(messages):
        log.routes.append(Route(i, src, dst, (Link(src, dst, 1.0, 0.0),)))
        log.route.append(i)
        log.nbytes.append(1)
        log.start.append(start)
        log.end.append(end)
        log.phase.append(0)
    return log


def test_critical_path_counts_both_kinds_of_waiting_by_hand():
    """Worker 1 computes 0–4 ms and sends to 0 at 4.5 ms (0.5 ms waiting after its compute); it lands at
    5 ms, and worker 0 finishes at 5.25 ms (0.25 ms waiting after a message). Its own 0→1 message
    (1.2–1.5 ms) released nothing. Path: 4 ms compute, 1 message of 0.5 ms, 0.75 ms waiting: 5.25 ms."""
    log = _log([(0, 1, 1.2e-3, 1.5e-3), (1, 0, 4.5e-3, 5e-3)])
    path = critical_path(log, [[(0.0, 1e-3)], [(0.0, 4e-3)]], [5.25e-3, 5e-3])
    assert (path.origin, path.hops, path.computes, path.messages) == (1, [1, 0], 1, 1)
    assert path.compute_s == 4e-3 and path.message_s == pytest.approx(0.5e-3, rel=1e-12)
    assert path.gap_s == pytest.approx(0.75e-3, rel=1e-12)


def test_critical_path_through_messages_of_no_duration_ends():
    """Messages that take no time (0 B, no latency) back and forth at 2 ms, after 1 ms computes: the walk
    goes back through each message at most once, then waits 1 ms back to a compute."""
    log = _log([(0, 1, 2e-3, 2e-3), (1, 0, 2e-3, 2e-3), (0, 1, 2e-3, 2e-3), (1, 0, 2e-3, 2e-3)])
    path = critical_path(log, [[(0.0, 1e-3)], [(0.0, 1e-3)]], [2e-3, 2e-3])
    assert path.compute_s == 1e-3 and path.message_s == 0 and path.gap_s == 1e-3 and 1 <= path.messages <= 4


@pytest.mark.parametrize(("workers", "extra"), [
    (2, "stragglers: {compute: 1 ms}"),
    (3, "faults: {crash: [{worker: 0, at: 1 s}]}"),
])
def test_runs_whose_messages_take_no_time_end(tmp_path, workers, extra):
    """The issue's two hangs: p = 1 float on n ≥ 2 workers leaves chunks of 0 B, which take no time with no
    latency. Each run ends; the path adds up to the makespan: compute + the 4 B chunk's hops at 1e10 B/s.
    With n = 3 the crash at 1 s comes after the run has ended: nothing crashed."""
    loaded = _scenario(tmp_path, f"name: s\nworkers: {workers}\nparams: 1\nalgorithms: [ring_allreduce]\n"
                                 f"topology: {{kind: star, bandwidth: 1e10, latency: 0}}\n{extra}\n")
    (run,) = [simulate_run(loaded, point) for point in loaded.runs()]
    info = run.disturbance
    path = info["critical_path"]
    assert info["stopped"] is None and info["crashed"] == []
    assert path["compute_s"] + path["message_s"] + path["gap_s"] == pytest.approx(run.makespan_s, rel=1e-12)
    if workers == 2:  # 1 ms, then the 4 B chunk's two steps (2 hops of 4e-10 s each)
        assert run.makespan_s == pytest.approx(1e-3 + 2 * 4e-10, rel=1e-12)


def _ring_model_path(log, compute: list[float], n: int) -> tuple:
    """An independent model of the ring all-reduce's dependencies, read off when each message started and
    ended: worker i's step-s message (to i + 1) is released when its own step-(s−1) message and the one from
    i − 1 have both landed (step 0: by its compute), and starts a jitter later. Returns each message's
    jitter, each worker's finish, and the causal chain back from the last finisher: its waiting (the
    jitters on it), its messages and its origin."""
    sent: dict[tuple[int, int], tuple[float, float]] = {}
    for k in range(len(log)):
        src, _ = log.endpoints(k)
        sent[src, sum(1 for rank, _ in sent if rank == src)] = (log.start[k], log.end[k])
    steps = 2 * (n - 1)

    def release(i: int, s: int) -> float:
        return compute[i] if s == 0 else max(sent[i, s - 1][1], sent[(i - 1) % n, s - 1][1])

    jitter = {(i, s): sent[i, s][0] - release(i, s) for i in range(n) for s in range(steps)}
    finish = [release(i, steps) for i in range(n)]
    i, waiting = max(range(n), key=lambda rank: finish[rank]), 0.0
    for s in reversed(range(steps)):
        if sent[(i - 1) % n, s][1] >= sent[i, s][1]:  # the message from i − 1 landed last: it released i
            i = (i - 1) % n
        waiting += jitter[i, s]
    return jitter, finish, waiting, steps, i


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000))
@example(seed=0)  # the issue's: 83.5 us waiting
@example(seed=17)  # a message from i − 1 lands while i's own send waits out its jitter: it released nothing
def test_critical_path_waiting_on_a_jittered_ring_matches_a_dependency_model(seed):
    """Ring of 4, worker 3 computing 4 ms and the rest 1 ms, messages starting up to 20 us late (25 us
    each: α + m/B on their own link). The jitters read off the log are the seeded draws (in some order),
    each in [0, J); the finishes are the dependency model's; the critical path starts at worker 3's
    compute and waits exactly the jitters on the model's causal chain (the first one after the compute,
    the rest between messages)."""
    n, p, jitter_s = 4, 250_000, 20e-6
    compute = [1e-3, 1e-3, 1e-3, 4e-3]
    graph = build("ring", n, 12.5e9, 5e-6, servers=0, overrides=[])
    done = run_disturbed("ring_allreduce", graph, make_buffers(n, p, "float32", "data", 0),
                         Disturbance(tuple(compute), jitter_s=jitter_s, seed=seed))
    log = done.network.log
    jitter, finish, waiting, messages, origin = _ring_model_path(log, compute, n)
    from commsim.network.jitter import jitter_fraction

    # drawn per transfer: the collective is the program's task 1 (after the compute), 2(n − 1) rounds of n
    draws = np.concatenate([jitter_fraction(seed, 1, k, np.arange(n)) for k in range(2 * (n - 1))]) * jitter_s
    assert sorted(jitter.values()) == pytest.approx(sorted(draws), abs=1e-15)
    assert done.finish_s == pytest.approx(finish, rel=1e-15)
    path = critical_path(log, [[(0.0, t)] for t in compute], done.finish_s, done.network.posted)
    assert (path.origin, path.computes, path.compute_s, path.messages) == (origin, 1, 4e-3, messages)
    assert path.message_s == pytest.approx(messages * (5e-6 + p * 4 / n / 12.5e9), rel=1e-9)
    assert path.gap_s == pytest.approx(waiting, rel=1e-9)
    assert path.compute_s + path.message_s + path.gap_s == pytest.approx(done.makespan_s, rel=1e-12)


# -- crashes -------------------------------------------------------------------------------------------


def _registered() -> list[str]:
    from commsim.collectives import REGISTRY

    return [name for name in REGISTRY if not name.startswith("schedule:")]


@pytest.mark.parametrize("algorithm", _registered())
def test_a_crash_stops_everything_its_rank_does_on_every_algorithm(algorithm):
    """Rank 3 of 8 crashes halfway through sending its first message (read off the same run without the
    crash): that message never arrives, nothing of rank 3's starts after the crash (on every tree of the
    double binary tree too), rank 3 never finishes and waits on nobody, and every other rank finishes or
    the run stops."""
    from commsim.collectives import get

    n, rank = 8, 3
    servers = 2 if algorithm == "sharded_parameter_server" else int(get(algorithm).server is not None)
    graph = build("star", n, B, ALPHA, servers=servers, overrides=[])
    buffers = make_buffers(n, 800, "float32", "data", 0)
    plain = run_disturbed(algorithm, graph, buffers, Disturbance((0.0,) * n))
    log = plain.network.log
    first = min(i for i in range(len(log)) if log.endpoints(i)[0] == rank)
    route = log.routes[log.route[first]]
    at = log.start[first] + (log.end[first] - route.latency - log.start[first]) / 2
    done = run_disturbed(algorithm, build("star", n, B, ALPHA, servers=servers, overrides=[]), buffers,
                         Disturbance((0.0,) * n, crashes=((rank, at),)))
    log = done.network.log
    mine = [i for i in range(len(log)) if log.endpoints(i)[0] == rank]
    assert all(log.start[i] < at for i in mine)
    assert all(log.end[i] - log.routes[log.route[i]].latency <= at * (1 + 1e-12) for i in mine)  # sent before
    assert len(mine) < sum(1 for i in range(len(plain.network.log)) if plain.network.log.endpoints(i)[0] == rank)
    assert done.crashed == [(rank, at)] and done.finish_s[rank] != done.finish_s[rank]
    assert done.stopped is not None or all(t == t for r, t in enumerate(done.finish_s) if r != rank)
    waiting = done.stopped.split("waiting: ")[-1].split("; ") if done.stopped else []
    assert not [who for who in waiting if who.startswith(f"{rank} on")]  # a crashed rank waits on nothing


def test_a_crashed_worker_s_push_under_way_never_reaches_the_dropping_server_by_hand():
    """8 workers on a star (100 Gbit/s, 5 us), 1 MB each, 1 ms compute, ``drop_stragglers: 1``; worker 5
    crashes at 1.10 ms, during the pushes (8 sharing the server's link at B/8: 1.00–1.64 ms, landing at
    1.65). Its push is lost: the other 7 have 843,750 B left each, at B/7 they end at 1.5725 ms and land
    10 us later, all seven, which is what the server keeps. The 8 pulls then take 8P/B + 2α: 2.2325 ms.
    The mean is that of the seven live workers'; worker 5 is dropped; 15 messages arrive."""
    n, p, alpha, bandwidth = 8, 250_000, 5e-6, 12.5e9
    graph = build("star", n, bandwidth, alpha, servers=1, overrides=[])
    buffers = make_buffers(n, p, "float32", "data", 0)
    done = run_disturbed("parameter_server", graph, buffers,
                         Disturbance((1e-3,) * n, crashes=((5, 1.1e-3),), keep=n - 1))
    live = [rank for rank in range(n) if rank != 5]
    assert done.stopped is None and done.dropped == [[5]]
    assert [done.finish_s[rank] for rank in live] == pytest.approx([2.2325e-3] * 7, rel=1e-12)
    expected = sum((buffers[rank] for rank in live[1:]), buffers[live[0]].copy()) / np.float32(7)
    assert all(np.array_equal(done.results[rank], expected) for rank in live)
    assert len(done.network.log) == 15
    assert done.network.lost == [(5, "server", pytest.approx(843_750, rel=1e-12))]


def test_every_worker_crashed_is_a_stopped_run(tmp_path):
    """Both workers crash at 0: nothing finished, so the run stopped (no time, no loss against the twin)."""
    loaded = _scenario(tmp_path, "name: s\nworkers: 2\nparams: 400\nalgorithms: [ring_allreduce]\n"
                                 "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\n"
                                 "faults: {crash: [{worker: 0, at: 0 s}, {worker: 1, at: 0 s}]}\n")
    (run,) = [simulate_run(loaded, point) for point in loaded.runs()]
    assert run.disturbance["stopped"] == ("ring_allreduce cannot finish (worker 0 crashed at t = 0 s, worker 1 "
                                          "crashed at t = 0 s): every worker crashed")
    assert run.ok is None and run.disturbance["lost_s"] is None


def test_a_link_failing_after_the_run_has_ended_changes_nothing(tmp_path):
    """A 2-worker star ends its ring at 2(2α + P/(2B)) = 4.2 us; link 1–switch failing at 1 s comes after:
    the run finished (no partition), nothing failed, the time is the closed form's."""
    loaded = _scenario(tmp_path, "name: s\nworkers: 2\nparams: 100\nalgorithms: [ring_allreduce]\n"
                                 "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\n"
                                 "faults: {link_down: [{between: [1, switch], at: 1 s}]}\n")
    (run,) = [simulate_run(loaded, point) for point in loaded.runs()]
    assert run.disturbance["stopped"] is None and run.disturbance["failed_links"] == []
    assert run.makespan_s == pytest.approx(2 * (2 * ALPHA + 200 / B), rel=1e-12) and run.ok is True
    assert run.expected.time_relation == "="


def test_a_server_s_link_can_fail_by_hand(tmp_path):
    """Fully connected, 2 workers and a server, link server–0 down from t = 0: 0's push goes 0→1→server and
    shares 1→server with 1's push (B/2 each): 1's lands at 2P/B + α, 0's at 2P/B + 2α; the pulls likewise
    share server→1 (server→1→0 for worker 0): 0 finishes at 4P/B + 4α. 2P were rerouted."""
    loaded = _scenario(tmp_path, "name: s\nworkers: 2\nparams: 400\nalgorithms: [parameter_server]\n"
                                 "topology: {kind: fully_connected, bandwidth: 8 Gbit/s, latency: 1 us}\n"
                                 "faults: {link_down: [{between: [server, 0], at: 0 s}]}\n")
    (run,) = [simulate_run(loaded, point) for point in loaded.runs()]
    size = 1600
    assert run.finish_s == pytest.approx([4 * size / B + 4 * ALPHA, 4 * size / B + 3 * ALPHA], rel=1e-12)
    assert run.disturbance["rerouted_bytes"] == 2 * size and run.ok is True


def test_a_server_cut_off_is_a_partition(tmp_path):
    """On a star the server's one link is its only way out: failing it at 1 us splits the network."""
    loaded = _scenario(tmp_path, BASE + "algorithms: [parameter_server]\n"
                                 "faults: {link_down: [{between: [server, switch], at: 1 us}]}\n")
    (run,) = [simulate_run(loaded, point) for point in loaded.runs()]
    assert run.disturbance["stopped"] == ("network partitioned at t = 1.00 us (link server–switch failed): "
                                          "workers 0, 1, 2, 3 cannot reach server")


def test_tied_arrivals_keep_the_lowest_ranks():
    """Fully connected with a server, latency 0: worker 1's link runs at B/2, so its push (from t = 0) lands
    at 2P/B; worker 0 computes P/B and its push lands at 2P/B too. Keeping one of two, the server keeps
    worker 0 (the lower rank) and drops worker 1, whatever order the two arrive in within the instant."""
    n, p = 2, 250
    size = 4 * p
    graph = build("fully_connected", n, B, 0.0, servers=1, overrides=[{"between": [1, "server"], "bandwidth": B / 2}])
    buffers = make_buffers(n, p, "float32", "data", 0)
    done = run_disturbed("parameter_server", graph, buffers, Disturbance((size / B, 0.0), keep=1))
    assert done.dropped == [[1]]
    assert np.array_equal(done.results[1], buffers[0])


def test_a_gradient_landing_later_in_the_same_instant_still_wins_its_tie():
    """Zero-byte gradients over links with no latency, all at t = 0, but worker 0's process starts its
    push one event later in that instant than worker 1's: the server decides after the instant, so
    keeping one of two it keeps worker 0."""
    from commsim.collectives import Comm
    from commsim.collectives.textbook.parameter_server import DROPPED, first_arrivals
    from commsim.network.fluid import Network
    import simpy

    graph = build("star", 2, B, 0.0, servers=1, overrides=[])
    env = simpy.Environment()
    net = Network(env, graph)
    algorithm = first_arrivals(1)

    def worker(rank):
        if rank == 0:
            yield env.timeout(0)
        yield from algorithm.worker(Comm(net, rank, 2, ("server",)), np.zeros(0, dtype=np.float32))

    for rank in (1, 0):
        env.process(worker(rank))
    env.process(algorithm.server(Comm(net, "server", 2, ("server",))))
    env.run()
    assert net.shared[DROPPED] == {0: {1}}  # call 0 dropped rank 1


# -- bad input and exit statuses -----------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "message"), [
    ("faults: {link_down: [{between: [0, switch], at: 0 s}, {between: [switch, 0], at: 1 us}]}",
     "faults.link_down.1.between: link switch–0 already fails (faults.link_down.0)"),
    ("stragglers: {compute: 1.0e+308, slowdown: {3: 4}}", "stragglers.compute: at most 1e+09 s"),
    ("stragglers: {compute: 1 ms, slowdown: {3: 1.0e+300}}", "stragglers.slowdown: worker 3: a slowdown factor is at most 1e+06"),
    ("stragglers: {compute: 1 ms, slowdown: [1, 2, 3, 4, 5]}", "stragglers.slowdown: 5 factors for workers=4"),
    ("stragglers: {compute: 1 ms, jitter: {compute: 1.0e+308}}", "stragglers.jitter.compute: at most 1e+06"),
    ("stragglers: {compute: 1 ms, slowdown: {uniform: [1, 1.0e+300]}}", "stragglers.slowdown: uniform: a slowdown factor is at most 1e+06"),
    ("faults: {drop_stragglers: true}", "faults.drop_stragglers:"),
    ("faults: {backup_workers: true}", "faults.backup_workers:"),
])
def test_more_bad_disturbances_are_one_line_naming_the_key(tmp_path, capsys, extra, message):
    """The same link failed twice (either way round), times that would be infinite or absurd, a list of
    factors longer than the workers, a boolean for a count: exit status 2, one line naming the key."""
    path = tmp_path / "s.yaml"
    path.write_text(BASE.replace("params: 400", "params: 400\nalgorithms: [parameter_server]") + extra + "\n")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("topology", "message"), [
    ("{kind: star, bandwidth: 8 Gbit/s, latency: 1e300 s}", "topology.latency: at most 1e+09 s"),
    ("{kind: star, bandwidth: 1e-300 B/s, latency: 1 us}", "topology.bandwidth: at least 1 bit/s"),
    ("{kind: star, links: [{between: [0, switch], latency: 1e300 s}]}", "topology.links.0.latency: at most 1e+09 s"),
    ("{kind: hierarchical, gpus_per_node: 2, nic_bandwidth: 1e-300 B/s}", "topology: nic_bandwidth must be at least 1 bit/s"),
    ("{kind: hierarchical, gpus_per_node: 2, nic_latency: 1e300 s}", "topology: nic_latency must be at most 1e+09 s"),
    ("{kind: from_file, path: ring.edges}", "link 0-1 has latency 1e+300 s; it must be at most 1e+09 s"),
])
def test_times_that_would_not_be_finite_are_refused(tmp_path, capsys, topology, message):
    """A latency that sums to infinity or a bandwidth that divides to it, in the scenario, a topology's own
    options or a topology file: exit status 2, one line."""
    (tmp_path / "ring.edges").write_text("0 1 1e9 1e300\n1 2\n2 3\n3 0\n")
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nworkers: 4\nparams: 400\nalgorithms: [ring_allreduce]\ntopology: {topology}\n")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_compute_rate_that_would_make_times_overflow_is_refused(tmp_path, capsys):
    """Training at 1e-300 FLOP/s computes for ~1e302 s a step (infinite after a few): one line, exit 2."""
    path = tmp_path / "t.yaml"
    path.write_text(TRAINING.format(algorithm="ring_allreduce").replace("1.92e5", "1e-300"))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training.compute.flops_per_second: at least 1 FLOP/s" in err, err


def test_slowdown_factors_written_with_an_exponent_are_numbers(tmp_path):
    """YAML reads ``1e1`` as text (it wants ``1.0e+1``); a factor takes it as 10, as other keys take ``1e6``."""
    loaded = _scenario(tmp_path, BASE + "algorithms: [ring_allreduce]\nstragglers: {compute: 1 ms, slowdown: {3: 1e1}}\n")
    assert loaded.stragglers.compute_s(4, 0, 1e-3) == [1e-3, 1e-3, 1e-3, 1e-2]


STOPPING = ("name: s\nworkers: 4\nparams: 400\nalgorithms: [ring_allreduce]\n"
            "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\nfaults: {crash: [{worker: 2, at: 0 s}]}\n")


def test_a_run_stopped_by_its_faults_exits_3(tmp_path, capsys):
    """``run`` and ``sweep`` of a scenario whose run stops: exit status 3 (not 0: a script can tell), and
    the summary counts it."""
    path = tmp_path / "s.yaml"
    path.write_text(STOPPING)
    assert cli.main(["run", str(path), "--out", str(tmp_path / "run")]) == cli.EXIT_STOPPED == 3
    assert "1 stopped" in capsys.readouterr().out
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "sweep"), "--jobs", "1"]) == 3
    assert "1 stopped by their faults" in capsys.readouterr().out


def test_a_failed_check_outranks_a_stopped_run(tmp_path, monkeypatch):
    """A run that stopped beside one whose numbers miss their closed form: exit status 1 (a wrong number
    matters more than a fault that did what the scenario asked)."""
    from commsim.engines.results import RunResult

    path = tmp_path / "s.yaml"
    path.write_text(STOPPING.replace("[ring_allreduce]", "[ring_allreduce, parameter_server]")
                    .replace("faults: {", "faults: {drop_stragglers: 1, "))
    monkeypatch.setattr(RunResult, "checks", property(lambda self: {"time": False} if self.stopped is None else {}))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "run")]) == 1


def test_a_crash_hands_a_receive_the_channel_s_next_message_posted_unwaited():
    """Star, α = 1 us, B = 1 GB/s. Node 0 sends 1 MB (matched to node 1's receive, posted first) and then 100 B on
    the same channel unwaited (as a rank posting many sends does); they share 0's links at B/2, so the 100 B has
    left at 0.2 us and arrives 2α later, at 2.2 us; the 1 MB then goes alone at B. Node 0 crashes at 1 us: the
    1 MB (100 + 800 B sent, 999,100 B not) is lost and the receive gets the 100 B message instead, when it
    arrives."""
    import simpy

    from commsim.network.disturbances import DisturbedNetwork

    env = simpy.Environment()
    net = DisturbedNetwork(env, build("star", 4, B, ALPHA, overrides=[]), keep_log=False)
    receive = net.recv(1, 0)
    assert net.send(0, 1, 1_000_000, payload="big") is receive
    small = net.send(0, 1, 100, payload="small", waited=False)
    assert small.callbacks == ()
    env.timeout(1e-6).callbacks.append(lambda _event: net.crash(0))
    got = []
    receive.callbacks.append(lambda event: got.append((env.now, event.value)))
    env.run()
    assert got == [(pytest.approx(2 * ALPHA + 100 / (B / 2), rel=1e-12), "small")]
    assert net.lost == [(0, 1, pytest.approx(1_000_000 - 0.2e-6 * B / 2 - 0.8e-6 * B, rel=1e-12))]
