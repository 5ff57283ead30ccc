"""Byte-identity check: every bundled scenario's outputs from two checkouts, compared file by file.

Each scenario in ``scenarios/`` (this checkout's files, for both) is run from DIR with ``commsim run FILE
--out NAME --plot --links``, once per checkout (a fresh interpreter with that checkout first on the path), and
the two directories (terminal output included, as ``stdout.txt``) are compared byte for byte.

    python benchmarks/same_outputs.py /work/main /tmp/before   # run one checkout's outputs into a dir
    python benchmarks/same_outputs.py . /tmp/after
    python benchmarks/same_outputs.py --diff /tmp/before /tmp/after  # exit 0 when byte-identical
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import time
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def run_all(checkout: str, out: Path) -> None:
    """Every bundled scenario on ``checkout``'s commsim, its files and terminal output under ``out``."""
    env = {**os.environ, "PYTHONPATH": str(Path(checkout).resolve())}
    for path in sorted(SCENARIOS.glob("*.yaml")):
        target = out / path.stem
        target.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "commsim.cli", "run", str(path), "--out", path.stem, "--plot",
                               "--links"], capture_output=True, text=True, env=env, cwd=out)  # paths it prints: alike
        (target / "stdout.txt").write_text(done.stdout + done.stderr + f"exit {done.returncode}\n")
        print(f"{path.stem}: exit {done.returncode}, {time.perf_counter() - start:.1f} s", flush=True)


def differ(before: Path, after: Path) -> list[str]:
    """Files present in only one tree or differing in a byte."""
    found = []
    compared = filecmp.dircmp(before, after)
    found += [f"only in {before}: {name}" for name in compared.left_only]
    found += [f"only in {after}: {name}" for name in compared.right_only]
    _, mismatch, errors = filecmp.cmpfiles(before, after, compared.common_files, shallow=False)
    found += [f"differs: {before / name}" for name in mismatch + errors]
    for name in compared.common_dirs:
        found += differ(before / name, after / name)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--diff", action="store_true", help="compare two output directories")
    parser.add_argument("first", help="a checkout (or, with --diff, the 'before' outputs)")
    parser.add_argument("second", help="the output directory (or, with --diff, the 'after' outputs)")
    args = parser.parse_args()
    if args.diff:
        found = differ(Path(args.first), Path(args.second))
        files = sum(len(files) for _, _, files in os.walk(args.first))
        for line in found:
            print(line)
        print(f"{files} files compared, {len(found)} differences")
        return 1 if found else 0
    run_all(args.first, Path(args.second))
    return 0


if __name__ == "__main__":
    sys.exit(main())
