"""Engine benchmark: how fast commsim runs big collectives, against a bare SimPy loop.

What it measures (star topology, 100 Gbit/s = 12.5e9 B/s and 5 us per link, p = 1e6 fp32
elements, size-only payload so no array arithmetic is timed):

* ``ring_allreduce`` for n = 128, 512, 1024 (2n(n-1) messages: 2,095,104 at n = 1024), and
  ``all_to_all`` for n = 512 (n(n-1) = 261,632 messages, every uplink shared by n-1 flows).
  Wall time is ``time.perf_counter()`` around ``run_collective`` (which builds the Network and
  runs SimPy); building the networkx topology is reported separately ("build s").
* A bare SimPy loop of the same ring: one process per rank, 2(n-1) steps, each step holding the
  rank's own uplink (``simpy.Resource(capacity=1)``) for one ``env.timeout(step)`` with
  step = 2*latency + ceil(p/n)*4/B. That is the least SimPy work any ring simulation does
  (same processes, same number of scheduled events per step, same simulated makespan), with
  no routing, message matching, link sharing or logging. Like ``run_collective``, it runs with
  the cyclic garbage collector off.

How to read the ratio: ratio = commsim wall / bare-loop wall, measured side by side
(alternating, best of a few repetitions). 1.0 would mean commsim's network model costs nothing
beyond SimPy's own event loop; the target is ratio <= 1.5 for the n = 1024 ring. The ratio is
much less sensitive to the machine and its load than the wall seconds, but both are noisy on a
busy machine: rerun a case that looks off.

Every measured run is a fresh subprocess of this script (hidden ``--case`` flag), so its peak
memory (``ru_maxrss``, the whole process, interpreter and imports included; MB = 1e6 bytes) is
its own. Targets: ring n = 1024 within 1.5x the bare loop and under 1 GB peak; all-to-all
n = 512 under 10 s; and every run's message count and makespan equal to the closed forms of
``commsim.collectives.analytic``. Exit status 0 when they hold, 1 otherwise.

The schedule engine (``engine: schedule``) runs the same collectives from their schedules a round
at a time; it is timed beside the message engine on the n = 1024 ring (targets: at least 30x
faster than both the message engine and the bare loop), on the n = 8192 ring (134 M messages:
under 30 s and 2 GB), on all-to-all at n = 1024 (1 M messages, every link shared: under 10 s), and at
the scale of issue 22: the n = 65,536 ring (8.6 G messages: under 60 s and 4 GB) and all-to-all at
n = 4096 (16.8 M messages: under 60 s).

Its yardstick is the numpy floor (:func:`ring_floor`): ring all-reduce on the star as a bare recurrence,
per round start = the sender's finish, delivery = start + bytes/B + 2 latencies, finish = the later of
its own send delivered and its receive arrived. No simulator can take a round in fewer array passes; it
must reproduce the engine's makespan to 1e-12 (checked). Every schedule-engine wall time is also given
as a multiple of the floor at the same n measured in the same run (before and after each engine run,
the best kept), which the machine's load affects far less than the seconds; target: the n = 8192 ring
within 3x of its floor. CPU seconds (``time.process_time``) are reported beside the wall seconds.
The message engine's all-to-all at n = 1024 (1 M messages in flight at once) is held to a peak under
500 MB (issue 22; it was 1,986 MB).
The message engine itself is held to a peak under 100 MB (n = 1024) and 300 MB (n = 2048)
without a message log, and, with ``--before DIR`` (a checkout of an earlier commit, e.g.
``git worktree add /tmp/base 045ad2b``), to 1.5x the speed of that checkout's on the n = 1024 and
2048 rings, timed alternately (this machine's speed drifts by 1.5x within minutes, so only
side-by-side pairs compare); ``--before-target 1.0`` holds it to no slower instead (issue 22).
NCCL's mode at scale, the budget's estimates and the all-to-all's memory alone: ``bench_scale.py``.

    python benchmarks/bench_engine.py             # full run (a few minutes)
    python benchmarks/bench_engine.py --quick     # n = 128 ring and all-to-all only (smoke run)
    python benchmarks/bench_engine.py --json out.json
    python benchmarks/bench_engine.py --pipeline  # the plan/execute pipeline's cases only (issue 19)
    python benchmarks/bench_engine.py --schedule  # the schedule engine's cases and their floors only (issue 22)

The pipeline cases run whole scenarios on the schedule engine (``engine: auto`` with sizes only): ring
all-reduce on 4,096 workers with a 3x straggler and a link failure mid-run (under 5 s), 100 training
steps of 1,024 workers (under 30 s), NCCL's 8 GiB all-gather on 4 x 8 H100 (under 5 s).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import resource
import subprocess
import sys
import time

BANDWIDTH = 12.5e9  # B/s (100 Gbit/s)
LATENCY = 5e-6  # s per link
PARAMS = 1_000_000  # fp32 elements
ITEMSIZE = 4
TOPOLOGY = "star"

# (algorithm, n, repetitions): the ring is run alternately with its bare loop, best time kept.
FULL = [("ring_allreduce", 128, 5), ("ring_allreduce", 512, 3), ("ring_allreduce", 1024, 2), ("ring_allreduce", 2048, 1),
        ("all_to_all", 512, 1), ("all_to_all", 1024, 1)]
QUICK = [("ring_allreduce", 128, 3), ("all_to_all", 128, 1)]

SCHEDULE_CASES = [("ring_allreduce", 1024, 3), ("ring_allreduce", 8192, 3), ("all_to_all", 1024, 1),
                  ("ring_allreduce", 65536, 1), ("all_to_all", 4096, 1)]
FLOOR_TARGET = 3.0  # schedule engine's ring at n = 8192 within 3x the numpy floor, same run
SCALE_TARGET_S, SCALE_PEAK_MB = 60.0, 4000.0  # ring n = 65,536: under a minute and 4 GB; all-to-all n = 4096: a minute
SPEEDUP_TARGET = 30.0  # schedule vs message engine and vs bare loop, ring n = 1024
MESSAGE_SPEEDUP_TARGET = 1.5  # message engine now vs the --before checkout, alternated
MESSAGE_PEAK_TARGET_MB = {1024: 100.0, 2048: 300.0}

RATIO_TARGET = 1.5  # ring n = 1024: commsim wall <= 1.5 x bare wall
PEAK_TARGET_MB = 1000.0  # ring n = 1024: peak RSS < 1 GB
ALL_TO_ALL_TARGET_S = 10.0  # all-to-all n = 512: wall < 10 s
ALL_TO_ALL_PEAK_TARGET_MB = 500.0  # all-to-all n = 1024 (1 M messages in flight at once): peak < 500 MB (issue 22)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux


# -- the measured cases (each runs in its own process) -----------------------------------------
def run_commsim(algorithm: str, n: int) -> dict:
    from commsim.engines import analytic
    from commsim.engines.message import make_buffers, run_collective
    from commsim.network import topology

    start = time.perf_counter()
    graph = topology.build(TOPOLOGY, n, BANDWIDTH, LATENCY)
    build_s = time.perf_counter() - start
    buffers = make_buffers(n, PARAMS, "float32", "size-only", 0)
    before_mb = peak_mb()
    start = time.perf_counter()
    run = run_collective(algorithm, graph, buffers, keep_log=False)
    wall_s = time.perf_counter() - start
    peak = peak_mb()
    exp = analytic.expected(algorithm, TOPOLOGY, n, PARAMS, ITEMSIZE, LATENCY, BANDWIDTH)
    return {"build_s": build_s, "wall_s": wall_s, "messages": run.network.messages, "makespan_s": run.makespan_s,
            "expected_messages": exp.messages, "expected_makespan_s": exp.makespan_s,
            "rss_before_run_mb": before_mb, "peak_mb": peak}


def ring_floor(n: int, p: int = PARAMS, w: int = ITEMSIZE, bandwidth: float = BANDWIDTH,
               latency: float = LATENCY) -> float:
    """Ring all-reduce of p elements of w bytes on an n-worker star in bare numpy: its makespan.

    Chunk c is elements ⌊c·p/n⌋ … ⌊(c+1)·p/n⌋ (MPICH's blocks). Rank r sends chunk (r − k) mod n at
    reduce-scatter step k and (r + 1 − k) mod n at all-gather step k to rank r + 1 over two links, so per
    round: start = the sender's finish, delivery = start + bytes/B + 2α, finish = max(own send delivered,
    receive arrived) (a rank's send goes to r + 1, its receive comes from r − 1). A rank's chunk sizes in a
    round are a slice of the sizes laid out twice, so a round is four array passes and one scalar."""
    import numpy as np

    bounds = (np.arange(n + 1) * p) // n
    transmit = np.tile(np.diff(bounds) * w, 2) / bandwidth  # seconds per chunk, twice over
    hops = latency + latency
    finish, delivered = np.zeros(n), np.empty(n)
    for k in range(2 * (n - 1)):
        first = (-k) % n if k < n - 1 else (1 - (k - (n - 1))) % n  # rank 0's chunk
        np.add(finish, transmit[first: first + n], out=delivered)
        delivered += hops
        np.maximum(delivered[1:], delivered[:-1], out=finish[1:])  # own send, or the one from r − 1
        finish[0] = max(delivered[0], delivered[-1])
    return float(finish.max())


def run_floor(n: int) -> dict:
    import numpy  # noqa: F401  (imported before the clock starts, as the engine's case does)

    before_mb = peak_mb()
    start, cpu = time.perf_counter(), time.process_time()
    makespan = ring_floor(n)
    return {"wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu, "makespan_s": makespan,
            "rss_before_run_mb": before_mb, "peak_mb": peak_mb()}


def run_schedule_engine(algorithm: str, n: int) -> dict:
    from commsim.collectives.schedule import schedule_for
    from commsim.engines import analytic
    from commsim.engines.schedule import run_schedule
    from commsim.network import topology

    graph = topology.build(TOPOLOGY, n, BANDWIDTH, LATENCY)
    before_mb = peak_mb()
    start, cpu = time.perf_counter(), time.process_time()
    run = run_schedule(schedule_for(algorithm, n, PARAMS, ITEMSIZE), graph, list(range(n)))
    wall_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
    exp = analytic.expected(algorithm, TOPOLOGY, n, PARAMS, ITEMSIZE, LATENCY, BANDWIDTH)
    return {"build_s": 0.0, "wall_s": wall_s, "cpu_s": cpu_s, "messages": run.messages, "makespan_s": run.makespan(n),
            "expected_messages": exp.messages, "expected_makespan_s": exp.makespan_s,
            "rss_before_run_mb": before_mb, "peak_mb": peak_mb(), "fluid": run.fluid}


def run_bare_ring(n: int) -> dict:
    import simpy

    before_mb = peak_mb()
    start = time.perf_counter()
    env = simpy.Environment()
    uplinks = [simpy.Resource(env, capacity=1) for _ in range(n)]
    step_s = 2 * LATENCY + -(-PARAMS // n) * ITEMSIZE / BANDWIDTH
    steps = 0

    def rank(r: int):
        nonlocal steps
        uplink = uplinks[r]
        for _ in range(2 * (n - 1)):
            with uplink.request() as request:
                yield request
                yield env.timeout(step_s)
            steps += 1

    for r in range(n):
        env.process(rank(r))
    gc.disable()  # as run_collective does
    try:
        env.run()
    finally:
        gc.enable()
    wall_s = time.perf_counter() - start
    return {"wall_s": wall_s, "messages": steps, "makespan_s": env.now,
            "rss_before_run_mb": before_mb, "peak_mb": peak_mb()}


def measure_before(checkout: str, n: int) -> dict:
    """The ring on the message engine of an earlier checkout (``--before DIR``), in a fresh interpreter
    with that checkout first on the path."""
    import os

    env = {**os.environ, "PYTHONPATH": checkout}
    script = os.path.join(checkout, "benchmarks", "bench_engine.py")
    out = subprocess.run([sys.executable, script, "--case", f"ring_allreduce:{n}"], capture_output=True, text=True,
                         check=True, env=env, cwd=checkout)
    return json.loads(out.stdout.strip().splitlines()[-1])


def before_bench(checkout: str, sizes: dict[int, int]) -> dict[int, list[tuple[float, float]]]:
    """(before, now) wall seconds of the ring, alternated ``sizes[n]`` times per n."""
    pairs: dict[int, list[tuple[float, float]]] = {}
    for n, reps in sizes.items():
        for _ in range(reps):
            old = measure_before(checkout, n)["wall_s"]
            new = measure("ring_allreduce", n)["wall_s"]
            print(f"  ring n={n}: before {old:.2f} s, now {new:.2f} s", file=sys.stderr)
            pairs.setdefault(n, []).append((old, new))
    return pairs


# -- the pipeline on the schedule engine: stragglers and faults, training steps, NCCL's collectives --------------
PIPELINE_CASES = {
    # ring all-reduce on a star, worker 7 three times slower, worker 100's link failing at 5 ms (on a star that
    # splits the network: the run stops there, and says so)
    "straggler_and_failure": ("name: a\nworkers: 4096\nparams: 1_000_000\npayload: size-only\n"
                              "topology: {kind: star, bandwidth: 100 Gbit/s, latency: 5 us}\nalgorithms: [ring_allreduce]\n"
                              "stragglers: {compute: 1 ms, slowdown: {7: 3}}\n"
                              "faults: {link_down: [{between: [100, switch], at: 5 ms}]}\n", 5.0),
    # 100 training steps of 1024 workers, sizes only (an MLP's 1,354 gradients a step on the ring)
    "training_1024": ("name: b\nworkers: 1024\npayload: size-only\ntopology: {kind: star, bandwidth: 100 Gbit/s, latency: 5 us}\n"
                      "algorithms: [ring_allreduce]\ntraining: {model: mlp, hidden: 32, steps: 100, samples: 4096,\n"
                      "  batch_per_worker: 4, optimizer: {name: gradient_descent, alpha: 0.1}}\n", 30.0),
    # NCCL's all-gather of 8 GiB on 4 × 8 H100 (preset and fabric included)
    "nccl_all_gather_8GiB": ("name: c\nworkers: 32\nsize: 8 GiB\npayload: size-only\nmodel: nccl\n"
                             "topology: {kind: cluster, preset: hgx-h100, nodes: 4}\nalgorithms: [all_gather]\n", 5.0),
}
"""name → (scenario, target seconds): each loaded and simulated in a fresh process, the simulation timed."""


def run_pipeline(name: str) -> dict:
    """One :data:`PIPELINE_CASES` scenario: loading excluded, every point simulated (beside its twin)."""
    import yaml

    from commsim import scenario
    from commsim.runner import points

    loaded = scenario.parse(yaml.safe_load(PIPELINE_CASES[name][0]), f"{name}.yaml")
    start = time.perf_counter()
    runs = points.simulate(loaded)
    wall = time.perf_counter() - start
    run = runs[0]
    return {"case": f"pipeline/{name}", "n": run.workers, "wall_s": wall, "peak_mb": peak_mb(), "engine": run.engine,
            "messages": run.messages, "makespan_s": run.makespan_s, "ok": run.ok,
            "stopped": getattr(run, "stopped", None)}


def pipeline_bench() -> list[dict]:
    """Each pipeline case's figures, or its error's last line (a scenario refused, say by the memory budget)."""
    rows = []
    for name in PIPELINE_CASES:
        try:
            rows.append(measure(f"pipeline/{name}", 0))
        except subprocess.CalledProcessError as failed:
            rows.append({"case": f"pipeline/{name}", "error": (failed.stderr.strip().splitlines() or ["?"])[-1]})
    return rows


def pipeline_checks(rows: list[dict]) -> list[tuple[str, bool]]:
    results = []
    for row in rows:
        name = row["case"].split("/", 1)[1]
        target = PIPELINE_CASES[name][1]
        if "error" in row:
            results.append((f"{name}: did not run: {row['error'][:70]}", False))
            continue
        said = f"stopped: {row['stopped'][:60]}" if row["stopped"] else f"ok {row['ok']}"
        results.append((f"{name} on the {row['engine']} engine: {row['wall_s']:.2f} s < {target:g} s "
                        f"({row['messages']:,} messages, {said}; peak {row['peak_mb']:.0f} MB)",
                        row["wall_s"] < target and row["engine"] == "schedule" and row["ok"] is not False))
    return results


def measure(case: str, n: int) -> dict:
    """Run one case in a fresh interpreter and return its figures.

    Linux carries the parent's resident size at fork over into the child's ``ru_maxrss``, so
    this driver never imports commsim (or numpy): its own few MB stay below any child's peak.
    """
    out = subprocess.run([sys.executable, __file__, "--case", f"{case}:{n}"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the driver ---------------------------------------------------------------------------------
def bench(cases: list[tuple[str, int, int]]) -> list[dict]:
    rows = []
    for algorithm, n, reps in cases:
        sim, bare = [], []
        for _ in range(reps):
            sim.append(measure(algorithm, n))
            print(f"  {algorithm} n={n}: {sim[-1]['wall_s']:.2f} s", end="", flush=True, file=sys.stderr)
            if algorithm == "ring_allreduce":
                bare.append(measure("bare", n))
                print(f", bare {bare[-1]['wall_s']:.2f} s", end="", flush=True, file=sys.stderr)
            print(file=sys.stderr)
        best = min(sim, key=lambda r: r["wall_s"])
        row = {
            "case": algorithm, "n": n, "reps": reps, "messages": best["messages"],
            "expected_messages": best["expected_messages"], "makespan_s": best["makespan_s"],
            "expected_makespan_s": best["expected_makespan_s"], "build_s": best["build_s"], "wall_s": best["wall_s"],
            "wall_all_s": [r["wall_s"] for r in sim], "peak_mb": max(r["peak_mb"] for r in sim),
            "rss_before_run_mb": best["rss_before_run_mb"],
        }
        if bare:
            best_bare = min(bare, key=lambda r: r["wall_s"])
            row.update({
                "bare_s": best_bare["wall_s"], "bare_all_s": [r["wall_s"] for r in bare],
                "bare_peak_mb": max(r["peak_mb"] for r in bare), "bare_makespan_s": best_bare["makespan_s"],
                "ratio": best["wall_s"] / best_bare["wall_s"],
                "pair_ratios": [s["wall_s"] / b["wall_s"] for s, b in zip(sim, bare)],
            })
        rows.append(row)
    return rows


def same_time(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9)


def checks(rows: list[dict]) -> list[tuple[str, bool]]:
    """(description, holds) for the closed forms of every run and the targets of the issue."""
    results = []
    for r in rows:
        label = f"{r['case']} n={r['n']}"
        results.append((f"{label}: messages and makespan equal the closed form",
                        r["messages"] == r["expected_messages"] and same_time(r["makespan_s"], r["expected_makespan_s"])
                        and ("bare_makespan_s" not in r or same_time(r["bare_makespan_s"], r["expected_makespan_s"]))))
        if r["case"] == "ring_allreduce" and r["n"] == 1024:
            results.append((f"{label} ({r['messages']:,} messages): ratio {r['ratio']:.2f} <= {RATIO_TARGET}",
                            r["ratio"] <= RATIO_TARGET))
            results.append((f"{label}: peak {r['peak_mb']:.0f} MB < {PEAK_TARGET_MB:.0f} MB", r["peak_mb"] < PEAK_TARGET_MB))
        if r["case"] == "all_to_all" and r["n"] == 512:
            results.append((f"{label}: wall {r['wall_s']:.2f} s < {ALL_TO_ALL_TARGET_S:.0f} s",
                            r["wall_s"] < ALL_TO_ALL_TARGET_S))
        if r["case"] == "all_to_all" and r["n"] == 1024:
            results.append((f"{label} ({r['messages']:,} messages): peak {r['peak_mb']:.0f} MB < "
                            f"{ALL_TO_ALL_PEAK_TARGET_MB:.0f} MB", r["peak_mb"] < ALL_TO_ALL_PEAK_TARGET_MB))
    return results


def table(rows: list[dict]) -> str:
    head = ("case", "n", "messages", "makespan s", "closed form s", "build s", "wall s", "bare s", "ratio",
            "peak MB", "bare MB")
    lines = [head]
    for r in rows:
        ring = "ratio" in r
        lines.append((
            r["case"], str(r["n"]), f"{r['messages']:,}", f"{r['makespan_s']:.9f}", f"{r['expected_makespan_s']:.9f}",
            f"{r['build_s']:.3f}", f"{r['wall_s']:.2f}", f"{r['bare_s']:.2f}" if ring else "-",
            f"{r['ratio']:.2f}" if ring else "-", f"{r['peak_mb']:.0f}", f"{r['bare_peak_mb']:.0f}" if ring else "-",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
                     for line in lines)


def schedule_bench(cases: list[tuple[str, int, int]]) -> list[dict]:
    """Each case's best of ``reps`` runs, with the numpy floor at its n run before and after each (best kept)."""
    rows = []
    for algorithm, n, reps in cases:
        runs, floors = [], [measure("floor", n)]
        for _ in range(reps):
            runs.append(measure(f"schedule/{algorithm}", n))
            floors.append(measure("floor", n))
            print(f"  schedule {algorithm} n={n}: {runs[-1]['wall_s']:.2f} s, floor {floors[-2]['wall_s']:.3f} / "
                  f"{floors[-1]['wall_s']:.3f} s", file=sys.stderr)
        best, floor = min(runs, key=lambda r: r["wall_s"]), min(floors, key=lambda r: r["wall_s"])
        rows.append({"case": algorithm, "n": n, **best, "peak_mb": max(r["peak_mb"] for r in runs),
                     "wall_all_s": [r["wall_s"] for r in runs], "floor_s": floor["wall_s"],
                     "floor_all_s": [r["wall_s"] for r in floors], "floor_cpu_s": min(r["cpu_s"] for r in floors),
                     "floor_makespan_s": floor["makespan_s"], "floor_ratio": best["wall_s"] / floor["wall_s"],
                     "floor_cpu_ratio": best["cpu_s"] / min(r["cpu_s"] for r in floors)})
    return rows


def floor_of(row: dict) -> str:
    """A schedule-engine row's wall time as a multiple of the ring's numpy floor at its n (CPU time too)."""
    yardstick = "floor" if row["case"] == "ring_allreduce" else "the ring's floor at this n"
    return (f"{row['floor_ratio']:.2f}x {yardstick} ({row['floor_s']:.3f} s; CPU {row['cpu_s']:.2f} s = "
            f"{row['floor_cpu_ratio']:.2f}x {row['floor_cpu_s']:.3f} s)")


def _message_row(rows: list[dict], case: str, n: int) -> dict | None:
    return next((r for r in rows if r["case"] == case and r["n"] == n), None)


def schedule_table(scheduled: list[dict], rows: list[dict]) -> str:
    lines = []
    for r in scheduled:
        message = _message_row(rows, r["case"], r["n"])
        versus = ""
        if message:
            versus = f"; message engine {message['wall_s']:.2f} s ({message['wall_s'] / r['wall_s']:.0f}x)"
            if "bare_s" in message:
                versus += f", bare loop {message['bare_s']:.2f} s ({message['bare_s'] / r['wall_s']:.0f}x)"
        lines.append(f"  {r['case']} n={r['n']}: {r['messages']:,} messages, makespan {r['makespan_s']:.9f} s "
                     f"(closed form {r['expected_makespan_s']:.9f}), {r['wall_s']:.3f} s, peak {r['peak_mb']:.0f} MB"
                     f"{', fluid' if r['fluid'] else ''}{versus}")
        lines.append(f"    = {floor_of(r)}")
    return "\n".join(lines)


def schedule_checks(scheduled: list[dict], rows: list[dict]) -> list[tuple[str, bool]]:
    results = []
    for r in scheduled:
        label = f"schedule {r['case']} n={r['n']}"
        results.append((f"{label}: messages and makespan equal the closed form",
                        r["messages"] == r["expected_messages"] and same_time(r["makespan_s"], r["expected_makespan_s"])))
        message = _message_row(rows, r["case"], r["n"])
        if r["case"] == "ring_allreduce" and r["n"] == 1024 and message:
            for name, seconds in (("message engine", message["wall_s"]), ("bare SimPy loop", message["bare_s"])):
                speedup = seconds / r["wall_s"]
                results.append((f"{label}: {speedup:.0f}x faster than the {name} (target {SPEEDUP_TARGET:.0f}x)",
                                speedup >= SPEEDUP_TARGET))
        if r["case"] == "ring_allreduce":
            results.append((f"{label}: the numpy floor's makespan equals the engine's to 1e-12",
                            math.isclose(r["floor_makespan_s"], r["makespan_s"], rel_tol=1e-12)))
        if r["case"] == "ring_allreduce" and r["n"] == 8192:
            results.append((f"{label}: {r['wall_s']:.1f} s < 30 s and peak {r['peak_mb']:.0f} MB < 2000 MB",
                            r["wall_s"] < 30 and r["peak_mb"] < 2000))
            results.append((f"{label}: {r['floor_ratio']:.2f}x the numpy floor, same run (target {FLOOR_TARGET:g}x)",
                            r["floor_ratio"] <= FLOOR_TARGET))
        if r["case"] == "ring_allreduce" and r["n"] == 65536:
            results.append((f"{label}: {r['wall_s']:.1f} s < {SCALE_TARGET_S:g} s and peak {r['peak_mb']:.0f} MB < "
                            f"{SCALE_PEAK_MB:g} MB", r["wall_s"] < SCALE_TARGET_S and r["peak_mb"] < SCALE_PEAK_MB))
        if r["case"] == "all_to_all" and r["n"] == 4096:
            results.append((f"{label}: {r['wall_s']:.1f} s < {SCALE_TARGET_S:g} s (peak {r['peak_mb']:.0f} MB)",
                            r["wall_s"] < SCALE_TARGET_S))
        if r["case"] == "all_to_all" and r["n"] == 1024:
            results.append((f"{label}: {r['wall_s']:.1f} s < 10 s", r["wall_s"] < 10))
    for n in MESSAGE_PEAK_TARGET_MB:
        message = _message_row(rows, "ring_allreduce", n)
        if message:
            results.append((f"message engine ring n={n}: peak {message['peak_mb']:.0f} MB < {MESSAGE_PEAK_TARGET_MB[n]:.0f} MB",
                            message["peak_mb"] < MESSAGE_PEAK_TARGET_MB[n]))
    return results


def verdict(results: list[tuple[str, bool]], json_path: str | None = None, figures: dict | None = None) -> int:
    """Print each check as PASS or FAIL, save ``figures`` and the checks as JSON if asked; the exit status
    (0: every target holds)."""
    for description, holds in results:
        print(f"{'PASS' if holds else 'FAIL'}  {description}")
    if json_path:
        with open(json_path, "w") as f:
            json.dump({**(figures or {}), "checks": [{"check": d, "holds": h} for d, h in results]}, f, indent=2)
    return 0 if all(holds for _, holds in results) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the n=128 ring and all-to-all (smoke run)")
    parser.add_argument("--json", metavar="PATH", help="also save the figures as JSON")
    parser.add_argument("--before", metavar="DIR", help="a checkout of an earlier commit: time its message-engine "
                        "ring (n = 1024 twice, 2048 once) alternately with this one's (e.g. git worktree add DIR 045ad2b)")
    parser.add_argument("--before-target", type=float, default=MESSAGE_SPEEDUP_TARGET, metavar="X",
                        help="the speed-up over --before to hold (default 1.5; 1.0: no slower, as issue 22 asks)")
    parser.add_argument("--pipeline", action="store_true", help="only the pipeline cases (stragglers and a failure at "
                        "n = 4096, 100 training steps of 1024 workers, NCCL's 8 GiB all-gather on 4 × 8 H100)")
    parser.add_argument("--schedule", action="store_true", help="only the schedule engine's cases, each beside the "
                        "numpy floor (ring n = 1024, 8192, 65,536; all-to-all n = 1024, 4096)")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print its JSON
    args = parser.parse_args()

    if args.case:
        case, n = args.case.rsplit(":", 1)
        if case == "bare":
            result = run_bare_ring(int(n))
        elif case == "floor":
            result = run_floor(int(n))
        elif case.startswith("schedule/"):
            result = run_schedule_engine(case.split("/", 1)[1], int(n))
        elif case.startswith("pipeline/"):
            result = run_pipeline(case.split("/", 1)[1])
        else:
            result = run_commsim(case, int(n))
        print(json.dumps(result))
        return 0

    if args.schedule:
        scheduled = schedule_bench(SCHEDULE_CASES)
        print(f"schedule engine ({TOPOLOGY}, {BANDWIDTH:.3g} B/s, {LATENCY * 1e6:g} us per link, p = {PARAMS:,} fp32):")
        print(schedule_table(scheduled, []))
        return verdict(schedule_checks(scheduled, []), args.json, {"schedule": scheduled})
    if args.pipeline:
        return verdict(pipeline_checks(pipeline_bench()))
    rows, scheduled = bench(QUICK if args.quick else FULL), []
    print(f"{TOPOLOGY}, {BANDWIDTH:.3g} B/s, {LATENCY * 1e6:g} us per link, p = {PARAMS:,} fp32, size-only payload; "
          "best wall time of the repetitions, peak = max RSS")
    print("message engine (and the bare SimPy loop):")
    print(table(rows))
    results = checks(rows)
    if not args.quick:
        scheduled = schedule_bench(SCHEDULE_CASES)
        print("schedule engine:")
        print(schedule_table(scheduled, rows))
        results += schedule_checks(scheduled, rows)
        print("the pipeline on the schedule engine (loading excluded):")
        results += pipeline_checks(pipeline_bench())
    if args.before:
        print(f"message engine against {args.before}, alternated (wall s, before / now):")
        for n, pairs in before_bench(args.before, {1024: 2, 2048: 1}).items():
            ratios = [old / new for old, new in pairs]
            print(f"  ring n={n}: " + ", ".join(f"{old:.1f} / {new:.1f} = {old / new:.2f}x" for old, new in pairs))
            results.append((f"message engine ring n={n}: {min(ratios):.2f}x-{max(ratios):.2f}x faster than {args.before} "
                            f"alternated (target {args.before_target}x)", sum(ratios) / len(ratios) >= args.before_target))
    if args.quick:
        print("(--quick: smoke run; the n=1024 and n=512 targets are not checked)")
    return verdict(results, args.json, {"rows": rows, "schedule": scheduled})


if __name__ == "__main__":
    sys.exit(main())
