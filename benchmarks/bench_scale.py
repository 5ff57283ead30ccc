"""Scale benchmark (issue 22): NCCL's mode on clusters of thousands of nodes, the message engine's memory on
all-to-all, and the budget's estimates against what the engines take.

Every case runs in a fresh interpreter (its peak RSS, ``ru_maxrss``, is its own; MB = 1e6 B); wall time is
``time.perf_counter()``. Targets:

* ``build``: a cluster preset of 8,192 × 8 H100 on the rail fabric (65,536 GPUs, 139 k nodes, 197 k links),
  built and validated as ``topology.build`` does: under ``BUILD_TARGET_S``.
* ``nccl``: NCCL's ring all-reduce of 1 GiB on N × 8 H100 (16 channels, protocol as NCCL picks: LL128),
  size-only, on the schedule engine, from the scenario's text to the result (the budget's check, the
  preset and its fabric, NCCL's view of it, the run): 512 nodes (4,096 GPUs, 536,739,840 transfers) under
  ``NCCL_TARGET_S``. Also run at 64 nodes (8,372,224 transfers), where it finishes in seconds, for the rate.
  A case that takes longer than ``--timeout`` seconds is stopped and reported as such (a failed target).
* ``message all_to_all``: the message engine's all-to-all of n = 1024 on a star (1,047,552 messages, all
  in flight at once), p = 1e6 fp32, no log: peak under ``A2A_PEAK_TARGET_MB``.
* the budget: for each timed run, the time its events estimate stands for (``events / EVENTS_PER_SECOND``)
  against the run's CPU time (``time.process_time``: the wall time of a machine shared with other jobs
  stretches with their load); the estimate must not be more than ``BUDGET_SLACK`` × too high (a run
  that fits refused) nor too low (a run that cannot finish let through). A run the budget refuses with
  the default limits is run under a raised ``budget: {events: ...}`` and said so.

    python benchmarks/bench_scale.py              # every case (the 512-node NCCL run: many minutes today)
    python benchmarks/bench_scale.py --quick      # the build, NCCL on 64 nodes, all-to-all at n = 512
    python benchmarks/bench_scale.py --json out.json

Exit status 0 when every target holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from bench_engine import verdict  # this folder is on the path when run as a script

BUILD_NODES = 8192
BUILD_TARGET_S = 5.0
NCCL_TARGET_S = 60.0
NCCL_TARGET_NODES = 512
A2A_PEAK_TARGET_MB = 500.0
BUDGET_SLACK = 3.0

NCCL_SCENARIO = ("name: nccl-scale\nworkers: {workers}\nsize: 1 GiB\npayload: size-only\nmodel: nccl\nchannels: 16\n"
                 "engine: schedule\ntopology: {{kind: cluster, preset: hgx-h100, nodes: {nodes}}}\n"
                 "algorithms: [ring_allreduce]\nbudget: {{events: 1e12, messages: 1e12}}\n")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB on Linux


# -- the cases (each in its own process) ---------------------------------------------------------------
def run_build(nodes: int) -> dict:
    from commsim.network import topology

    start = time.perf_counter()
    graph = topology.build("cluster", nodes * 8, 1.0, 0.0, preset="hgx-h100", nodes=nodes)
    wall = time.perf_counter() - start
    return {"case": f"build/{nodes}", "wall_s": wall, "peak_mb": peak_mb(), "graph_nodes": graph.number_of_nodes(),
            "links": graph.number_of_edges()}


def run_nccl(nodes: int) -> dict:
    """The scenario from its text: loading (with the budget's estimate, which builds NCCL's view of the
    cluster) and the run (the preset and fabric built again, the schedule engine), both timed."""
    import yaml

    from commsim import budget, scenario
    from commsim.runner import points

    text = NCCL_SCENARIO.format(workers=nodes * 8, nodes=nodes)
    start, cpu = time.perf_counter(), time.process_time()
    loaded = scenario.parse(yaml.safe_load(text), "nccl-scale.yaml")
    run = next(loaded.runs())
    estimate = budget.estimate(loaded, run)
    loaded_s = time.perf_counter() - start
    result = points.simulate_run(loaded, run)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    refused = estimate.events > budget.DEFAULT_EVENTS or estimate.messages > budget.DEFAULT_MESSAGES
    return {"case": f"nccl/{nodes}", "wall_s": wall, "cpu_s": cpu, "load_s": loaded_s, "peak_mb": peak_mb(),
            "messages": result.messages, "estimated_messages": estimate.messages, "estimated_events": estimate.events,
            "estimated_s": estimate.events / budget.EVENTS_PER_SECOND, "refused_by_default": refused,
            "makespan_s": result.makespan_s, "engine": result.engine}


def run_all_to_all(n: int) -> dict:
    from commsim.engines.message import make_buffers, run_collective
    from commsim.network import topology

    graph = topology.build("star", n, 12.5e9, 5e-6)
    buffers = make_buffers(n, 1_000_000, "float32", "size-only", 0)
    start = time.perf_counter()
    run = run_collective("all_to_all", graph, buffers, keep_log=False)
    wall = time.perf_counter() - start
    return {"case": f"a2a/{n}", "wall_s": wall, "peak_mb": peak_mb(), "messages": run.network.messages,
            "makespan_s": run.makespan_s}


CASES = {"build": run_build, "nccl": run_nccl, "a2a": run_all_to_all}


def measure(case: str, size: int, timeout: float) -> dict:
    """One case in a fresh interpreter (this driver imports no commsim: its RSS stays below any case's)."""
    try:
        out = subprocess.run([sys.executable, __file__, "--case", f"{case}:{size}"], capture_output=True, text=True,
                             check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"case": f"{case}/{size}", "wall_s": float("inf"), "timed_out": timeout}
    return json.loads(out.stdout.strip().splitlines()[-1])


def checks(rows: list[dict]) -> list[tuple[str, bool]]:
    results = []
    for row in rows:
        kind, size = row["case"].split("/")
        if row.get("timed_out"):
            results.append((f"{row['case']}: stopped after {row['timed_out']:g} s", False))
            continue
        if kind == "build":
            results.append((f"preset {size} x 8 H100 ({row['graph_nodes']:,} nodes, {row['links']:,} links): "
                            f"{row['wall_s']:.2f} s < {BUILD_TARGET_S:g} s", row["wall_s"] < BUILD_TARGET_S))
        elif kind == "a2a":
            results.append((f"message engine all-to-all n={size} ({row['messages']:,} messages): peak "
                            f"{row['peak_mb']:.0f} MB < {A2A_PEAK_TARGET_MB:g} MB, {row['wall_s']:.1f} s",
                            int(size) < 1024 or row["peak_mb"] < A2A_PEAK_TARGET_MB))
        else:
            said = "refused by the default budget" if row["refused_by_default"] else "within the default budget"
            results.append((f"NCCL ring 1 GiB on {size} x 8 H100 ({row['messages']:,} transfers, {row['engine']} "
                            f"engine): {row['wall_s']:.1f} s (CPU {row['cpu_s']:.1f} s, loading {row['load_s']:.1f} s), peak {row['peak_mb']:.0f} MB"
                            + (f" < {NCCL_TARGET_S:g} s" if int(size) >= NCCL_TARGET_NODES else ""),
                            int(size) < NCCL_TARGET_NODES or row["wall_s"] < NCCL_TARGET_S))
            ratio = row["estimated_s"] / row["cpu_s"]
            results.append((f"  budget: {row['estimated_events']:.2e} events = {row['estimated_s']:.0f} s estimated, "
                            f"{ratio:.2f}x the CPU time; {said}; messages estimated = sent: "
                            f"{row['estimated_messages'] == row['messages']}",
                            1 / BUDGET_SLACK <= ratio <= BUDGET_SLACK and row["estimated_messages"] == row["messages"]))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the build, NCCL on 64 nodes, all-to-all at n = 512")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds a case may take (default 1800)")
    parser.add_argument("--json", metavar="PATH", help="also save the figures as JSON")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print its JSON
    args = parser.parse_args()
    if args.case:
        case, size = args.case.rsplit(":", 1)
        print(json.dumps(CASES[case](int(size))))
        return 0
    plan = [("build", BUILD_NODES), ("nccl", 64), ("a2a", 512)]
    if not args.quick:
        plan += [("a2a", 1024), ("nccl", NCCL_TARGET_NODES)]
    rows = []
    for case, size in plan:
        rows.append(measure(case, size, args.timeout))
        print(f"  {case} {size}: {rows[-1]['wall_s']:.2f} s", file=sys.stderr, flush=True)
    return verdict(checks(rows), args.json, {"rows": rows})


if __name__ == "__main__":
    sys.exit(main())
