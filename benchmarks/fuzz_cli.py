"""Fuzz the ``commsim`` command line in subprocesses: the cases of ``tests/fuzz_cases.py`` (the bundled
scenarios made small, then mutated or corrupted), each run as ``python -m commsim.cli run`` in its own
process under a memory limit (``RLIMIT_AS``) and a timeout, and a summary of how they ended.

    python benchmarks/fuzz_cli.py --cases 1000 [--jobs 2] [--timeout 20] [--memory 2GiB] [--seed 0] [--full-size]

Outcomes: ``clean`` (exit 0, 1 or 3 with strict-JSON results, or exit 2 with one short stderr line and no
output), ``traceback``, ``timeout``, ``killed`` (a signal, or out of memory), ``long error`` (exit 2 with
more than one line, or a line of 300 characters or more beyond the file name), ``bad output`` (a
``.partial`` file, output beside an error, results that are not strict JSON), ``wrong error`` (an input
trap -- a bare number, a misspelt key, an alias bomb of long strings -- not refused with its own line)
and ``other`` exit statuses.
The child's budget (``COMMSIM_BUDGET``) is half the memory limit and, in events, half the timeout at
0.5 M events a second (5e6 for 20 s), so a scenario the budget lets through fits the limits even on a
loaded machine: a timeout or a kill means an estimate is wrong. ``--full-size``
mutates the bundled scenarios at their own sizes, which puts the estimates to the test. Exit status 1
if any case is not clean.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fuzz_cases import CASES, FULL_SIZE_CASES, Case  # noqa: E402  (tests/ is not a package)
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from commsim.units import parse_bytes  # noqa: E402


def collect(count: int, at: int, full_size: bool = False) -> list[Case]:
    """``count`` cases drawn by hypothesis (reproducible for a seed), from the bundled scenarios made small
    or, with ``full_size``, at their own sizes."""
    cases: list[Case] = []

    @seed(at)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(FULL_SIZE_CASES if full_size else CASES)
    def gather(case: Case) -> None:
        cases.append(case)

    gather()
    return cases


def judge(case: Case, code: int | None, stdout: str, stderr: str, directory: Path, out: Path) -> str:
    """The outcome of one case (see the module docstring)."""
    if code is None:
        return "timeout"
    if code < 0 or "MemoryError" in stderr:
        return "killed"
    if "Traceback" in stderr or "Traceback" in stdout:
        return "traceback"
    if case.expect is not None and (code != 2 or case.expect not in stderr):
        return "wrong error"
    if any("partial" in path.name or "commsim-probe" in path.name for path in directory.rglob("*")):
        return "bad output"
    if code == 2:
        if stderr.count("\n") != 1 or not stderr.startswith("commsim: error: ") or len(stderr) - len(str(directory)) >= 300:
            return "long error"
        if case.out in ("fresh", "under_file") and out.exists():
            return "bad output"
        return "clean"
    if code in (0, 1, 3):
        try:
            json.loads((out / "results.json").read_text(encoding="utf-8"),
                       parse_constant=lambda constant: (_ for _ in ()).throw(ValueError(constant)))
        except (OSError, ValueError):
            return "bad output"
        return "clean"
    return "other"


def run(case: Case, timeout: float, memory: int, budget: str) -> tuple[str, float, str]:
    """Run one case in a fresh directory and subprocess: (outcome, seconds, the first stderr line)."""
    directory = Path(tempfile.mkdtemp(prefix="commsim-fuzz-cli-"))
    try:
        scenario, out = case.materialise(directory)

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

        env = {**os.environ, "COMMSIM_BUDGET": budget, "PYTHONPATH": str(ROOT)}
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-m", "commsim.cli", "run", str(scenario), "--out", str(out)],
                                  capture_output=True, text=True, errors="replace", timeout=timeout, preexec_fn=limit,
                                  env=env, cwd=directory, check=False)
            code, stdout, stderr = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired:
            code, stdout, stderr = None, "", ""
        seconds = time.perf_counter() - start
        return judge(case, code, stdout, stderr, directory, out), seconds, (stderr.splitlines() or [""])[-1][:300]
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="how many cases (default 1000)")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)), help="cases at a time (default: every core)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per case (default 20)")
    parser.add_argument("--memory", default="2GiB", help="RLIMIT_AS of each case (default 2GiB)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed of the cases (default 0)")
    parser.add_argument("--report", type=Path, help="also write every case that is not clean as JSON here")
    parser.add_argument("--full-size", action="store_true",
                        help="mutate the bundled scenarios at their own sizes (default: made small first)")
    parser.add_argument("--events", help="the children's events budget (default: half the timeout at 0.5 M events/s)")
    args = parser.parse_args()
    memory = int(parse_bytes(args.memory))
    budget = f"memory={memory // 2}, events={args.events or f'{args.timeout * 2.5e5:.2g}'}"
    started = time.perf_counter()
    cases = collect(args.cases, args.seed, args.full_size)
    generated = time.perf_counter() - started
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda case: run(case, args.timeout, memory, budget), cases))
    wall = time.perf_counter() - started
    outcomes = Counter(outcome for outcome, _, _ in results)
    slowest = max(results, key=lambda result: result[1])
    print(f"{len(cases)} cases in {wall:.0f} s ({generated:.0f} s to generate; {args.jobs} at a time, {args.timeout:g} s and "
          f"{args.memory} each, COMMSIM_BUDGET='{budget}'); slowest {slowest[1]:.1f} s")
    for outcome in ("clean", "traceback", "timeout", "killed", "long error", "bad output", "wrong error", "other"):
        print(f"  {outcome:<11} {outcomes.get(outcome, 0)}")
    print(f"  exit 2 with one line: {sum(1 for outcome, _, line in results if outcome == 'clean' and line.startswith('commsim: error:'))}"
          f" (of which input traps refused with their own line: "
          f"{sum(1 for case, (outcome, _, _) in zip(cases, results) if outcome == 'clean' and case.expect)})")
    bad = [{"outcome": outcome, "base": case.base, "mutation": case.mutation, "out": case.out, "expect": case.expect,
            "stderr": line,
            "content": None if case.content is None else case.content[:2000].decode("utf-8", "replace")}
           for case, (outcome, _, line) in zip(cases, results) if outcome != "clean"]
    for entry in bad[:10]:
        print(f"  {entry['outcome']}: {entry['base']} | {entry['mutation'][:100]} | {entry['stderr'][:200]}")
    if args.report:
        args.report.write_text(json.dumps(bad, indent=1) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
