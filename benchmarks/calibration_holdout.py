"""Calibration judged on tables it did not see: leave-one-table-out over the bundled measured tables.

For every machine of ``validation/cases.yaml`` with at least two tables (their ``machine`` key), each
table in turn is the only one calibrated on (``commsim calibrate``'s rules: the NVLink factor from a one-node
table, the network path from a several-node one, the launch floor), and every other table of that
machine (other node counts, other settings) is predicted with that calibration. Per held-out table: the
worst error and how many of its sizes from 64 KiB up are within 5 % (issue 20's target), beside the
spec-only prediction's.

    python benchmarks/calibration_holdout.py [--cases validation/cases.yaml] [--sizes]

``--sizes`` also prints each held-out table's error per size from 64 KiB up (size in KiB: error).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

from commsim.errors import CommsimError
from commsim.runner import calibrate, validate

FROM = 64 << 10
TARGET = 0.05


def _judged(case: validate.Case) -> tuple[int, int, float]:
    """(points from 64 KiB up within 5 %, points from 64 KiB up, worst |error| there)."""
    points = [p for p in case.points if p.size >= FROM]
    return (sum(abs(p.error) <= TARGET for p in points), len(points),
            max((abs(p.error) for p in points), default=0.0))


def _short(file: str) -> str:
    return file.removesuffix(".csv").replace("nccl-tests-", "#")


def _rates(result: calibrate.Calibration) -> str:
    parts = [f"{name} × {value:.4g}" for name, value in (("NVLink", result.nvlink_efficiency),
                                                         ("network", result.network_efficiency)) if value]
    return ", ".join(parts + [f"floor {result.launch_floor_s * 1e6:.3g} us"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, default=validate.CASES)
    parser.add_argument("--sizes", action="store_true", help="print each held-out table's error per size too")
    args = parser.parse_args()
    machines: dict[str, list[validate.Entry]] = defaultdict(list)
    for entry in validate.read_cases(args.cases):
        machines[entry.machine].append(entry)
    spec = {entry.file: _judged(validate.predict(entry)) for group in machines.values() if len(group) > 1
            for entry in group}
    total = [0, 0]
    for machine, group in machines.items():
        if len(group) < 2:
            continue
        print(f"machine {machine}: {len(group)} tables (from 64 KiB up: within 5 %, worst error)")
        for seen in group:
            try:
                result = calibrate.calibrate([seen])
            except CommsimError as error:
                print(f"  calibrated on {_short(seen.file)}: refused:")
                print(textwrap.fill(str(error).split(": ", 1)[1], 96, initial_indent="    ", subsequent_indent="    "))
                continue
            print(f"  calibrated on {_short(seen.file)}: {_rates(result)}")
            for case in calibrate.calibrated_cases([e for e in group if e is not seen], result):
                within, count, worst = _judged(case)
                s_within, s_count, s_worst = spec[case.file]
                total[0] += within
                total[1] += count
                print(f"    {_short(case.file):34} {within:>3} of {count:<3} {worst:>7.1%}   "
                      f"spec-only {s_within:>2} of {s_count:<3} {s_worst:>7.1%}")
                if args.sizes:
                    errors = " ".join(f"{p.size >> 10}:{p.error:+.0%}" for p in case.points if p.size >= FROM)
                    print(textwrap.fill(errors, 96, initial_indent="      ", subsequent_indent="      "))
    share = total[0] / total[1] if total[1] else 0.0
    print(f"held out, calibrated: {total[0]} of {total[1]} points from 64 KiB up within 5 % ({share:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
