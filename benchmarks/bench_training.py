"""One training step of a real model at scale: Llama-2-70B with FSDP on 64 × 8 H100 (``model: nccl``).

    python benchmarks/bench_training.py                # 70B FSDP on 512 GPUs: analytic, then the schedule engine
    python benchmarks/bench_training.py --nodes 8      # the same on 8 × 8 GPUs
    python benchmarks/bench_training.py --quick        # Llama-2-7B on 2 × 8, a smoke run

Each case runs `commsim run` in a fresh process and prints its wall time and the step it reports. Target
(issue 21): the 512-GPU step on the schedule engine under a minute. The schedule engine runs a chain of calls
(one communication stream) by simulating each distinct call once: a 70B FSDP step has 246 calls but five
distinct ones; each of those, a ring of 512 ranks on NCCL's 16 channels sharing the NICs, is simulated message
by message (fluid, 4.2 M messages), which is where the time goes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = """name: bench-training
workers: {workers}
topology: {{kind: cluster, preset: hgx-h100}}
model: nccl
engine: {engine}
workload: {{model: {model}, strategy: fsdp, batch_per_gpu: 1, dtype: bf16}}
"""


def run(model: str, nodes: int, engine: str, folder: Path) -> tuple[float, str]:
    path = folder / f"{engine}.yaml"
    path.write_text(SCENARIO.format(workers=8 * nodes, engine=engine, model=model))
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "import sys; from commsim.cli import main; sys.exit(main())", "run",
                           str(path), "--out", str(folder / engine)],
                          capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(done.stderr or done.stdout)
    row = next(line for line in done.stdout.splitlines() if line.strip().startswith("fsdp"))
    return seconds, " ".join(row.split())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=64)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--engines", default="analytic,schedule")
    args = parser.parse_args()
    model, nodes = ("llama2-7b", 2) if args.quick else ("llama2-70b", args.nodes)
    with tempfile.TemporaryDirectory() as folder:
        for engine in args.engines.split(","):
            seconds, row = run(model, nodes, engine, Path(folder))
            print(f"{model} fsdp on {nodes} x 8 H100, engine {engine}: {seconds:.1f} s wall; {row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
