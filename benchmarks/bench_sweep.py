"""A 200-point sweep with --jobs 1 and with every core: wall time and the speed-up.

    python benchmarks/bench_sweep.py            # 200 points (5 algorithms × 5 worker counts × 8 sizes)
    python benchmarks/bench_sweep.py --quick    # 20 points, a smoke run

Each run is `commsim sweep` in a fresh process (spawned workers, imports and all), into its own
directory; the two results.csv must be byte-identical.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = """name: bench-sweep
workers: {workers}
size: {{from: 64 KiB, to: 8 MiB, factor: 2}}
algorithms: {algorithms}
topology: {{kind: star, bandwidth: 100 Gbit/s, latency: 2 us, servers: 2}}
payload: size-only
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    algorithms = "[ring_allreduce, recursive_doubling, parameter_server, sharded_parameter_server, all_to_all]"
    workers = "[32, 64, 96, 128, 160]"
    if args.quick:
        algorithms, workers = "[ring_allreduce, parameter_server]", "[8]"
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sweep.yaml"
        path.write_text(SCENARIO.format(workers=workers, algorithms=algorithms))
        seconds = {}
        for jobs in (1, cores):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "commsim.cli", "sweep", str(path), "--jobs", str(jobs),
                                   "--out", f"{folder}/j{jobs}"], capture_output=True, text=True)
            seconds[jobs] = time.perf_counter() - start
            if done.returncode:
                print(done.stdout, done.stderr, file=sys.stderr)
                return 1
            print(f"--jobs {jobs}: {seconds[jobs]:.1f} s  ({done.stdout.splitlines()[0]})")
        same = (Path(folder) / "j1/results.csv").read_bytes() == (Path(folder) / f"j{cores}/results.csv").read_bytes()
        print(f"speed-up with {cores} jobs: {seconds[1] / seconds[cores]:.2f}×; results.csv identical: {same}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
