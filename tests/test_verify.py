"""`commsim verify`: every registered algorithm against its twin on a contention-free network."""

import pytest

from commsim import cli
from commsim.collectives import REGISTRY
from commsim.engines.verify import SIZES, WORKERS, verify


@pytest.mark.parametrize("algorithm", list(REGISTRY))
@pytest.mark.parametrize("gamma", [0.0, 2e-10])
def test_every_algorithm_agrees_with_its_twin_for_n_2_to_17(algorithm, gamma):
    """Counts, sizes and time (to 1e-9) for n = 2..17 and p ∈ {1, 1000, 1000003}, with and without γ."""
    checks = verify([algorithm], gamma=gamma)
    assert len(checks) == len(WORKERS) * len(SIZES)
    bad = [(c.workers, c.params, c.messages, c.expected_messages, c.relative_error) for c in checks if not c.ok]
    assert bad == []


def test_verify_command_prints_one_line_per_algorithm_and_exits_zero(capsys):
    """`commsim verify --algorithms ...` prints each algorithm's worst point and the total."""
    assert cli.main(["verify", "--algorithms", "ring_allreduce", "all_to_all"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"{2 * len(WORKERS) * len(SIZES)} of {2 * len(WORKERS) * len(SIZES)} points agree to 1e-9"
    assert sum(line.startswith(("ring_allreduce", "all_to_all")) for line in out) == 2


def test_verify_command_refuses_unknown_algorithms(capsys):
    """An unknown algorithm name is bad input: exit 2, one line naming the option."""
    assert cli.main(["verify", "--algorithms", "gossip"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--algorithms: unknown algorithm 'gossip'" in err


def test_verify_leaves_out_schedules_read_from_files(tmp_path):
    """A schedule read from a file runs on its own worker count (the bundled one: 4): once registered in this
    process, the default grid (n = 2..17) still covers only the built-in algorithms."""
    from pathlib import Path

    from commsim.collectives.imported import ensure_registered

    name = ensure_registered(str(Path(__file__).parent.parent / "scenarios" / "ring4_schedule.json"))
    assert name in REGISTRY
    checks = verify(workers=[2], sizes=[1])
    assert {c.algorithm for c in checks} == {algorithm for algorithm in REGISTRY if not algorithm.startswith("schedule:")}
    assert all(c.ok for c in checks)
