"""One golden summary per bundled scenario: counts, bytes, times and final losses, pinned.

Regenerate after an intended change with ``COMMSIM_UPDATE_GOLDEN=1 pytest tests/test_golden.py``
and review the diff: every number in it should still match its closed form.
"""

import json
import os
from pathlib import Path

import pytest
from bundled import SCENARIO_DIR, SCENARIOS, simulated

from commsim import scenario
from commsim.runner import points
from commsim.training import bias

GOLDEN = Path(__file__).parent / "golden"


def summary(path: Path) -> list[dict]:
    """The numbers a user reads off a scenario's table."""
    loaded = scenario.load(path)
    if isinstance(loaded, scenario.ExperimentScenario):
        return [{"optimizer": row.name, "limit": row.limit.tolist()} for row in bias.bias_table()]
    rows = []
    for run in simulated(path):
        if isinstance(run, points.NotApplicable):
            rows.append({"algorithm": run.algorithm, "workers": run.workers, "topology": run.topology, "unavailable": run.reason})
            continue
        row = {"algorithm": run.algorithm, "workers": run.workers, "messages": run.messages, "bytes": run.bytes,
               "makespan_s": run.makespan_s, "ok": run.ok}
        if hasattr(run, "strategy"):  # a workload's step
            row |= {"strategy": run.strategy, "compute_s": run.compute_s, "exposed_s": run.exposed_s}
        if isinstance(run, points.TrainingResult):
            row |= {"optimizer": run.optimizer, "final_loss": run.final_loss}
        if run.disturbance is not None:
            info = run.disturbance
            row |= {"stopped": info["stopped"], "lost_s": info["lost_s"], "rerouted_bytes": info["rerouted_bytes"],
                    "dropped": info["dropped"], "idle_s": info["idle_s"]}
        rows.append(row)
    return rows


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_bundled_scenario_matches_its_golden_summary(path):
    """Every bundled scenario passes its checks and reproduces its pinned numbers."""
    got = summary(path)
    golden = GOLDEN / f"{path.stem}.json"
    if os.environ.get("COMMSIM_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=1) + "\n")
    want = json.loads(golden.read_text())
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.get("ok", True) or (g["ok"] is None and g["stopped"])  # a run its faults stop is not checked
        approximate = ("makespan_s", "final_loss", "limit", "lost_s", "idle_s", "compute_s", "exposed_s")
        exact = {k: v for k, v in w.items() if k not in approximate}
        assert {k: g[k] for k in exact} == exact
        assert g.keys() == w.keys()
        for key, tolerance in (("makespan_s", {"rel": 1e-12}), ("final_loss", {"rel": 1e-6}), ("limit", {"abs": 1e-9}),
                               ("compute_s", {"rel": 1e-12}), ("exposed_s", {"rel": 1e-9, "abs": 1e-15}),
                               ("lost_s", {"rel": 1e-9, "abs": 1e-15}), ("idle_s", {"rel": 1e-9, "abs": 1e-15})):
            if isinstance(w.get(key), list):  # idle per worker: None where a worker never finished
                assert [v is None for v in g[key]] == [v is None for v in w[key]], key
                numbers = [(a, b) for a, b in zip(g[key], w[key]) if b is not None]
                assert [a for a, _ in numbers] == pytest.approx([b for _, b in numbers], **tolerance), key
            elif w.get(key) is not None:
                assert g[key] == pytest.approx(w[key], **tolerance), key


US = 1e-6
P = 4e6  # 1e6 fp32 parameters
INTRA, NIC, FAT = 2400e9 / 8, 200e9 / 8, 100e9 / 8  # bytes/s of the scenario's NVLink, NICs and fat tree
HAND = {  # the allreduce_algorithms scenario's times, worked out by hand from its YAML
    # 14 ring steps; the slowest crosses GPU–NIC–switch–NIC–GPU (1 + 2 + 2 + 1 µs) with P/8 at NIC speed
    ("2 nodes x 4 GPUs", "ring_allreduce"): 14 * (6 * US + P / 8 / NIC),
    # intra-node ring reduce-scatter (3 steps of P/4 over NVLink), a 2-node ring per local rank (2 steps of
    # P/8, the node's 4 GPUs sharing its NIC), intra-node all-gather like the reduce-scatter
    ("2 nodes x 4 GPUs", "hierarchical_ring"): 2 * 3 * (US + P / 4 / INTRA) + 2 * (6 * US + 4 * (P / 8) / NIC),
    # each node's NIC carries its 4 GPUs' 4 cross-node copies of P; then the route's 6 µs
    ("2 nodes x 4 GPUs", "all_to_all"): 16 * P / NIC + 6 * US,
    # the server's one link (NIC speed) carries 8 pushes, then 8 pulls; GPU–NIC–switch–server is 5 µs
    ("2 nodes x 4 GPUs", "parameter_server"): 2 * (5 * US + 8 * P / NIC),
    ("2 nodes x 4 GPUs", "sharded_parameter_server"): 2 * (5 * US + 8 * (P / 2) / NIC),
    # servers sit in pod 2: 6 links from any worker in pod 0 or 1
    ("fat tree k=4", "parameter_server"): 2 * (6 * US + 8 * P / FAT),
    ("fat tree k=4", "sharded_parameter_server"): 2 * (6 * US + 8 * (P / 2) / FAT),
}


def test_allreduce_algorithms_scenario_times_by_hand():
    """The bundled comparison's times that have a hand computation equal it to 1e-9, independently of the golden file."""
    runs = {(run.topology, run.algorithm): run for run in simulated(SCENARIO_DIR / "allreduce_algorithms.yaml")}
    for key, seconds in HAND.items():
        assert runs[key].makespan_s == pytest.approx(seconds, rel=1e-9), key


def test_parameter_server_wall_by_formula():
    """Star, 100 Gbit/s, 2 µs, P = 4 MB: the server 2(2α + nP/B); 4 sharded servers 2(2α + nP/4/B) once
    n ≥ 4; ring 2(n−1)(2α + ⌈p/n⌉·4/B) — for n = 2 … 1024."""
    alpha, b, p = 2e-6, 12.5e9, 1_000_000
    runs = simulated(SCENARIO_DIR / "parameter_server_wall.yaml")
    assert len(runs) == 30 and max(run.workers for run in runs) == 1024
    for run in runs:
        n = run.workers
        expected = {
            "parameter_server": 2 * (2 * alpha + n * 4 * p / b),
            "sharded_parameter_server": 2 * (2 * alpha + n * 4 * p / 4 / b),
            "ring_allreduce": 2 * (n - 1) * (2 * alpha + -(-p // n) * 4 / b),
        }[run.algorithm]
        if run.algorithm != "sharded_parameter_server" or n >= 4:
            assert run.makespan_s == pytest.approx(expected, rel=1e-9), (run.algorithm, n)
        else:  # fewer workers than servers: the workers' own links are the bottleneck
            assert run.makespan_s > expected


def test_message_size_sweep_ring_by_formula():
    """8 workers on a star: ring all-reduce of S bytes takes 14(2α + ⌈S/4/8⌉·4/B), 8 B to 1 GiB by factors of 2."""
    runs = [r for r in simulated(SCENARIO_DIR / "message_size_sweep.yaml") if r.algorithm == "ring_allreduce"]
    assert [r.params * 4 for r in runs] == [8 * 2**k for k in range(28)] and runs[-1].params * 4 == 2**30
    for run in runs:
        assert run.makespan_s == pytest.approx(14 * (2 * 2e-6 + -(-run.params // 8) * 4 / 12.5e9), rel=1e-9)


def test_topologies_64_by_formula():
    """64 workers, 1 MB: ring all-reduce 126(hα + ⌈p/64⌉·4/B) with h = 2 (star), 1 (ring, fully connected);
    the parameter server on a star 2(2α + 64P/B) and n/a on a ring."""
    alpha, b, p = 1e-6, 12.5e9, 250_000
    runs = {(r.topology, r.algorithm): r for r in simulated(SCENARIO_DIR / "topologies_64.yaml")}
    chunk = -(-p // 64) * 4 / b
    for kind, hops in (("star", 2), ("ring", 1), ("fully_connected", 1)):
        assert runs[kind, "ring_allreduce"].makespan_s == pytest.approx(126 * (hops * alpha + chunk), rel=1e-9)
    assert runs["star", "parameter_server"].makespan_s == pytest.approx(2 * (2 * alpha + 64 * 4 * p / b), rel=1e-9)
    assert isinstance(runs["ring", "parameter_server"], points.NotApplicable)


def test_fat_tree_vs_torus_ring_by_hand():
    """Ring all-reduce sends rank r → r+1, every flow alone on its links on both networks (each host's one
    uplink carries its one send; at a torus row's end the route takes 2 unused links), so each of the
    2(n−1) steps lasts the longest route's h·α + (P/n)/B: h = 4 on a one-pod fat tree (16 workers), 6 across
    pods (64), 2 on the torus (a row's end). All-to-all on the fat tree: each host's uplink carries its
    n−1 copies of P, so at least (n−1)P/B + 2α, and the 2-D torus, with 4 links per worker, is slower."""
    alpha, b, p = 1e-6, 12.5e9, 4e6
    runs = {(r.topology, r.algorithm, r.workers): r for r in simulated(SCENARIO_DIR / "fat_tree_vs_torus.yaml")}
    for (topology, n), hops in {("fat_tree", 16): 4, ("fat_tree", 64): 6, ("torus", 16): 2, ("torus", 64): 2}.items():
        ring = runs[topology, "ring_allreduce", n]
        assert ring.makespan_s == pytest.approx(2 * (n - 1) * (hops * alpha + p / n / b), rel=1e-9), (topology, n)
        assert (ring.messages, ring.bytes) == (2 * n * (n - 1), 2 * (n - 1) * p)
    for n in (16, 64):
        fat, torus = runs["fat_tree", "all_to_all", n], runs["torus", "all_to_all", n]
        assert fat.makespan_s >= (n - 1) * p / b + 2 * alpha and torus.makespan_s > fat.makespan_s
        assert fat.messages == torus.messages == n * (n - 1)


def test_sign_vote_by_formula():
    """The MLP 32→128→4 has p = 32·128 + 128 + 128·4 + 4 = 4740 parameters; a message is S = 4p bytes in
    fp32 or ⌈p/8⌉ + 4 as signs. On the star (10 Gbit/s, 5 µs), each of 200 steps is compute (6p FLOPs × 32
    examples at 10 TFLOP/s) plus the parameter server's 2(2α + nS/B) or all-to-all's 2α + (n−1)S/B; the
    server sends 2n messages a step, all-to-all n(n−1)."""
    p, steps, alpha, b = 32 * 128 + 128 + 128 * 4 + 4, 200, 5e-6, 10e9 / 8
    compute = 6 * p * 32 / 10e12
    runs = simulated(SCENARIO_DIR / "sign_vote.yaml")
    assert len(runs) == 2 * 2 * 3
    for run in runs:
        n, size = run.workers, 4 * p if run.wire == "fp32" else -(-p // 8) + 4
        per_step, comm = {
            "parameter_server": (2 * n, 2 * (2 * alpha + n * size / b)),
            "all_to_all": (n * (n - 1), 2 * alpha + (n - 1) * size / b),
        }[run.algorithm]
        assert (run.n_params, run.messages, run.bytes) == (p, steps * per_step, steps * per_step * size)
        assert run.makespan_s == pytest.approx(steps * (compute + comm), rel=1e-9), (run.algorithm, n, run.optimizer)
    sign = [run for run in runs if run.wire == "sign"]
    assert all(run.final_loss < 0.25 for run in sign)  # 1 bit per element still trains (golden pins the values)


def test_nccl_clusters_counts_and_bytes_by_hand():
    """nccl_clusters (2 nodes × 8 GPUs, NCCL's 16 channels, LL128 at 1 and 32 MiB, Simple at 1 GiB, on both
    clusters). Ring: 16 channels · 2n(n−1) = 7680 messages of S/256 data bytes, LL128 wire ⌈d/120⌉·128.
    Tree: each channel's S/16 cut evenly into K chunks of at most NCCL's tree chunk, each chunk over 15 edges up
    and down. LL128's chunk (enqueue.cc:2286-2294, s = 1 + lg 2 + 0.1·8 = 2.8 with 8 GPUs a node): 576,000 B
    halved while ⌊B/chunk⌋ < 64·2.8/8 = 22.4 and above 128 KiB, then while < 16·2.8/8 = 5.6 and above 32 KiB,
    aligned down to 1920 B. 1 MiB (65,536 B a channel): → 72,000 → 36,000 → 18,000, 17,280: K = 4 of 16,384 B;
    32 MiB (2 MiB a channel): → 72,000 (29 ≥ 5.6), 71,040: K = ⌈524,288/17,760⌉ = 30; 1 GiB Simple: 512 KiB,
    K = 128."""
    runs = simulated(SCENARIO_DIR / "nccl_clusters.yaml")
    def ll128(d):
        return -(-d // 120) * 128

    def cut(length, k):  # k chunks of a channel's floats, as even as integers allow
        return [(j + 1) * length // k - j * length // k for j in range(k)]

    ring = [(7680, 7680 * ll128(4096)), (7680, 7680 * ll128(131072)), (7680, 7680 * 4194304)]
    thirty = cut(524288, 30)
    tree = [(16 * 4 * 30, 16 * 4 * 30 * ll128(16384)), (16 * 30 * 30, 16 * 30 * sum(ll128(4 * x) for x in thirty)),
            (16 * 128 * 30, 16 * 128 * 30 * 524288)]
    assert [(r.messages, r.bytes) for r in runs] == (ring + tree) * 2
    assert [r.nccl["protocol"] for r in runs] == ["ll128", "ll128", "simple"] * 4
