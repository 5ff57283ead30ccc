"""Check the copying of the verbatim nccl-tests tables in validation/*.txt, row by row.

Each file holds nccl-tests output as printed, after `## ` citation lines that include
`## collective: NAME_perf` and `## ranks: N`. For every data row (both the out-of-place and the
in-place triple) the printed numbers must agree with each other within the rounding of their
printed digits (nccl-tests: time in us, GB = 1e9 B):

    algbw = size / time / 1e3                      (size 0 rows: algbw = 0)
    busbw = algbw * factor,  factor = 2(n-1)/n     all_reduce_perf
                                      (n-1)/n      reduce_scatter_perf, all_gather_perf, alltoall_perf
                                      1            broadcast_perf, reduce_perf, sendrecv_perf

This only catches transcription errors (a dropped digit, a swapped column); it changes nothing.

    python benchmarks/check_validation_tables.py [FILE ...]     (default: validation/*.txt)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

# A tag some builds or launchers print before each row ("[STAT]:", "[0]", "[1,0]<stdout>:"); only the
# parsing skips it, the file keeps it.
ROW_TAG = re.compile(r"^\[[^\]]*\](<stdout>)?:?")
FACTORS = {
    "all_reduce_perf": lambda n: 2 * (n - 1) / n,
    "reduce_scatter_perf": lambda n: (n - 1) / n,
    "all_gather_perf": lambda n: (n - 1) / n,
    "alltoall_perf": lambda n: (n - 1) / n,
    "broadcast_perf": lambda n: 1.0,
    "reduce_perf": lambda n: 1.0,
    "sendrecv_perf": lambda n: 1.0,
}
VALIDATION = Path(__file__).resolve().parent.parent / "validation"


def _half_ulp(text: str) -> float:
    """Half a unit in the last printed place of a number such as '40848.8' or '16059'."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0 ** -decimals


def _triple_ok(size: int, factor: float, time_s: str, algbw_s: str, busbw_s: str) -> tuple[bool, str]:
    """(time, algbw, busbw) of one row agree within the rounding of their printed digits."""
    time, algbw, busbw = float(time_s), float(algbw_s), float(busbw_s)
    d_alg, d_bus, d_time = _half_ulp(algbw_s), _half_ulp(busbw_s), _half_ulp(time_s)
    if size == 0:
        expected, slack = 0.0, d_alg
    else:
        expected = size / time / 1e3
        slack = size / 1e3 * (1 / max(time - d_time, 1e-12) - 1 / time) + d_alg + 1e-9
    if abs(expected - algbw) > slack:
        return False, f"algbw {algbw_s} but size/time = {expected:.4f}"
    if abs(algbw * factor - busbw) > d_alg * factor + d_bus + 1e-9:
        return False, f"busbw {busbw_s} but algbw x {factor:.4f} = {algbw * factor:.4f}"
    return True, ""


def _meta(lines: list[str], key: str) -> str | None:
    for line in lines:
        if line.startswith(f"## {key}:"):
            return line.split(":", 1)[1].strip()
    return None


def check(path: Path) -> tuple[int, int, list[str]]:
    """(rows checked, rows passed, problems) of one table file."""
    lines = path.read_text().splitlines()
    collective, ranks = _meta(lines, "collective"), _meta(lines, "ranks")
    if collective not in FACTORS or ranks is None or not ranks.isdigit():
        return 0, 0, [f"needs '## collective: <one of {', '.join(FACTORS)}>' and '## ranks: N'"]
    factor = FACTORS[collective](int(ranks))
    checked = passed = 0
    problems = []
    for number, line in enumerate(lines, 1):
        fields = ROW_TAG.sub("", line.strip()).split()
        if not fields or line.lstrip().startswith("#") or not fields[0].isdigit():
            continue
        # nccl-tests >= 2.10: size count type redop root | time algbw busbw #wrong | (in-place) x 4
        # older: size count type | time algbw busbw error | (in-place) x 4
        triples = ((5, 6, 7), (9, 10, 11)) if len(fields) >= 13 else ((3, 4, 5), (7, 8, 9))
        checked += 1
        size, ok, why = int(fields[0]), True, ""
        for t, a, b in triples:
            if b < len(fields):
                good, reason = _triple_ok(size, factor, fields[t], fields[a], fields[b])
                if not good and ok:
                    ok, why = False, reason
        passed += ok
        if not ok:
            problems.append(f"line {number}: {why}")
    return checked, passed, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    files = args.files or sorted(VALIDATION.glob("*.txt"))
    failed = 0
    for path in files:
        checked, passed, problems = check(path)
        failed += bool(problems) or checked == 0
        print(f"{path.name:60} {passed:>3}/{checked:<3} rows pass")
        for problem in problems:
            print(f"    {problem}")
    print("PASS" if not failed else f"FAIL: {failed} files with rows that do not agree")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
