"""Benchmark: `engine: analytic` answers a collective for 10⁵ workers from its closed form.

Target (issue 4): under one second per (algorithm, n = 100,000) answer on the 2-core machine, so a
user can look at scales no simulation reaches and see (≥) where a simulation would differ.

    python benchmarks/bench_analytic.py [--workers N]
"""

from __future__ import annotations

import argparse
import sys
import time

from commsim import scenario
from commsim.collectives import REGISTRY
from commsim.runner import points

TARGET_S = 1.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=100_000)
    args = parser.parse_args()
    failed = 0
    print(f"engine analytic, star, 100 Gbit/s, 5 us per link, p = 1e9 fp32, n = {args.workers:,}")
    print(f"{'algorithm':26} {'messages':>16} {'time (s)':>14} {'relation':>8} {'wall (s)':>9}")
    for name in REGISTRY:
        loaded = scenario.parse({
            "name": "bench", "engine": "analytic", "workers": args.workers, "params": 1_000_000_000,
            "algorithms": [name], "topology": {"kind": "star", "bandwidth": "100 Gbit/s", "latency": "5 us"},
        })
        start = time.perf_counter()
        (run,) = points.simulate(loaded)
        wall = time.perf_counter() - start
        failed += wall >= TARGET_S
        print(f"{name:26} {run.messages:>16,} {run.makespan_s:>14.6g} {run.expected.time_relation:>8} {wall:>9.4f}"
              f"{'' if wall < TARGET_S else '  SLOW'}")
    print("PASS" if not failed else f"FAIL: {failed} answers took {TARGET_S} s or more")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
