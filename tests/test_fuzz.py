"""The fuzz test of issue 11: a thousand malformed or mutated scenarios per run through the real loader and
``commsim run`` in process, each ending in exit 0, 1, 2 or 3 (a run stopped by its faults) — never a
traceback, never a half-written file, never an error longer than one short line.
(``benchmarks/fuzz_cli.py`` runs the same cases in subprocesses with a memory limit and a timeout each.)"""

import contextlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from fuzz_cases import CASES, LOW_BUDGET, Case
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commsim import cli
from commsim.budget import ENV


def run_case(case: Case) -> tuple[int, str, str, Path, Path]:
    """``commsim run`` on the case in a fresh directory: (exit status, stdout, stderr, the directory, --out)."""
    directory = Path(tempfile.mkdtemp(prefix="commsim-fuzz-"))
    scenario, out = case.materialise(directory)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(["run", str(scenario), "--out", str(out)])
    return code, stdout.getvalue(), stderr.getvalue(), directory, out


def judge(case: Case, code: int, stdout: str, stderr: str, directory: Path, out: Path) -> None:
    """What every case must end in."""
    said = stderr[:1000]  # what an assertion shows of stderr (an error line might be 100 kB long)
    assert code in (0, 1, 2, 3), (code, said)
    assert "Traceback" not in stdout + stderr, said
    assert not [path for path in directory.rglob("*") if "partial" in path.name or "commsim-probe" in path.name]
    if case.expect is not None:  # an input trap: refused, and the line says which
        assert code == 2 and case.expect in stderr, (case.expect, said)
    if code == 2:
        assert stderr.startswith("commsim: error: ") and stderr.endswith("\n"), said
        assert stderr.count("\n") == 1, said
        assert len(stderr) - len(str(directory)) < 300, said
        assert stdout == ""
        if case.out in ("fresh", "under_file"):
            assert not out.exists()
        if case.out == "stale":  # an earlier run's files are left alone when nothing new is written
            assert (out / "time_vs_workers.png").exists()
    else:
        document = json.loads((out / "results.json").read_text(encoding="utf-8"),
                              parse_constant=lambda constant: pytest.fail(f"{constant} in results.json"))
        assert document["runs"]
        assert not (out / "time_vs_workers.png").exists()  # a stale figure is removed


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=CASES)
def test_a_thousand_hostile_scenarios_end_in_exit_0_1_or_2_with_one_line(case):
    """Every mutated or corrupted scenario: exit 0, 1, 2 or 3; on 2 exactly one short stderr line and no
    output; never a .partial file; a written results.json is strict JSON; an input trap (a bare number,
    a misspelt key, an alias bomb of long strings) exits 2 with its own line. A low budget keeps it quick."""
    previous = os.environ.get(ENV)
    os.environ[ENV] = LOW_BUDGET
    code, stdout, stderr, directory, out = run_case(case)
    try:
        judge(case, code, stdout, stderr, directory, out)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous


def test_a_failing_case_is_reported_as_its_failure_whatever_its_size():
    """A failing case that holds a 100 kB value (RAW puts one in) is reported as the failure it is. Printed
    whole it is over hypothesis's 30 kB "overly large repr" limit, and under ``filterwarnings = error`` that
    warning replaced the failure (the fuzz test "failed" so under some seeds)."""
    big = st.builds(lambda made, out: Case(made[1], out, made[0], made[2]),
                    st.just(("textbook.yaml", b"name: '" + b"x" * 100_000 + b"'\n", "raw ('name',)")), st.just("fresh"))

    @settings(max_examples=1, database=None)
    @given(case=big)
    def fails(case):
        raise AssertionError(f"this case fails: {case.base}")

    with pytest.raises(AssertionError, match="this case fails: textbook.yaml"):
        fails()
