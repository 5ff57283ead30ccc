"""End-to-end tests of the implicit-bias experiment through the command line (`commsim bias`, `commsim run`)."""

import json
from pathlib import Path

import numpy as np
import pytest

from commsim import cli

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
TOLERANCE = 1e-6

# Where each optimizer should end on a·θ = 1, a = [1, 0.1, 0.01], θ0 = 0 (background.md §2).
EXPECTED_LIMITS = {
    "gradient_descent": [0.990001, 0.0990001, 0.00990001],  # a/‖a‖², minimum L2 norm
    "adam": [100 / 111] * 3,  # minimum L∞ norm
    "sign_descent": [100 / 111] * 3,  # minimum L∞ norm
    "rescaled_gradient_descent": [1 / 3, 10 / 3, 100 / 3],  # minimum ‖θ‖_D, D = diag(a²)
}


def check_bias_output(status: int, stdout: str, out: Path) -> None:
    """Exit 0, four ✓ rows, results.json limits at the expected points, and a trajectories PNG."""
    assert status == 0
    lines = stdout.splitlines()
    for name in EXPECTED_LIMITS:
        rows = [line for line in lines if line.split() and line.split()[0] == name]
        assert len(rows) == 1, name
        assert rows[0].rstrip().endswith("✓"), rows[0]
    assert "✗" not in stdout
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert document["experiment"] == "implicit_bias"
    runs = {run["optimizer"]: run for run in document["runs"]}
    assert list(runs) == list(EXPECTED_LIMITS)
    for name, expected in EXPECTED_LIMITS.items():
        run = runs[name]
        np.testing.assert_allclose(run["limit"], expected, rtol=0, atol=TOLERANCE, err_msg=name)
        np.testing.assert_allclose(run["reference"], expected, rtol=0, atol=TOLERANCE, err_msg=name)
        assert run["max_abs_error"] <= TOLERANCE and run["ok"] is True
    png = (out / "trajectories.png").read_bytes()
    assert len(png) > 1000 and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert (out / "results.csv").read_text(encoding="utf-8").count("\n") == 1 + len(EXPECTED_LIMITS)


def test_bias_command_prints_four_checked_rows_and_writes_results(tmp_path, capsys):
    """`commsim bias --out DIR` exits 0, prints the four ✓ rows and writes results.json and trajectories.png."""
    out = tmp_path / "bias"
    status = cli.main(["bias", "--out", str(out)])
    check_bias_output(status, capsys.readouterr().out, out)


def test_run_on_the_implicit_bias_scenario_does_the_same(tmp_path, capsys):
    """`commsim run scenarios/implicit_bias.yaml --out DIR` is the bias experiment: same rows and files."""
    out = tmp_path / "bias-run"
    status = cli.main(["run", str(SCENARIOS / "implicit_bias.yaml"), "--out", str(out)])
    check_bias_output(status, capsys.readouterr().out, out)


def test_bias_results_are_identical_from_both_commands(tmp_path, capsys):
    """`commsim bias` and `commsim run implicit_bias.yaml` write byte-identical results.json."""
    assert cli.main(["bias", "--out", str(tmp_path / "a")]) == 0
    assert cli.main(["run", str(SCENARIOS / "implicit_bias.yaml"), "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert (tmp_path / "a" / "results.json").read_bytes() == (tmp_path / "b" / "results.json").read_bytes()


@pytest.mark.parametrize("text", ["name: x\nexperiment: implicit_bias\nsteps: 3\n", "name: x\nexperiment: other\n"])
def test_bad_experiment_scenario_exits_two(tmp_path, capsys, text):
    """An experiment scenario with an unknown key or experiment exits 2 with one stderr line."""
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    status = cli.main(["run", str(path), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status == 2
    assert len(captured.err.strip().splitlines()) == 1
    assert "experiment" in captured.err or "steps" in captured.err
    assert not (tmp_path / "out").exists()
