"""One golden summary per bundled scenario: counts, bytes, times and final losses, pinned.

Regenerate after an intended change with ``COMMSIM_UPDATE_GOLDEN=1 pytest tests/test_golden.py``
and review the diff: every number in it should still match its closed form.
"""

import json
import os
from pathlib import Path

import pytest

from commsim import bias, scenario, simulate

SCENARIOS = sorted(Path(__file__).parent.parent.joinpath("scenarios").glob("*.yaml"))
GOLDEN = Path(__file__).parent / "golden"


def summary(path: Path) -> list[dict]:
    """The numbers a user reads off a scenario's table."""
    loaded = scenario.load(path)
    if isinstance(loaded, scenario.ExperimentScenario):
        return [{"optimizer": row.name, "limit": row.limit.tolist()} for row in bias.bias_table()]
    rows = []
    for run in simulate.simulate(loaded):
        row = {"algorithm": run.algorithm, "workers": run.workers, "messages": run.messages, "bytes": run.bytes,
               "makespan_s": run.makespan_s, "ok": run.ok}
        if isinstance(run, simulate.TrainingResult):
            row |= {"optimizer": run.optimizer, "final_loss": run.final_loss}
        rows.append(row)
    return rows


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_bundled_scenario_matches_its_golden_summary(path):
    """Every bundled scenario passes its checks and reproduces its pinned numbers."""
    got = summary(path)
    golden = GOLDEN / f"{path.stem}.json"
    if os.environ.get("COMMSIM_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=1) + "\n")
    want = json.loads(golden.read_text())
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.get("ok", True)
        exact = {k: v for k, v in w.items() if k not in ("makespan_s", "final_loss", "limit")}
        assert {k: g[k] for k in exact} == exact
        assert g.keys() == w.keys()
        for key, tolerance in (("makespan_s", {"rel": 1e-12}), ("final_loss", {"rel": 1e-6}), ("limit", {"abs": 1e-9})):
            if key in w:
                assert g[key] == pytest.approx(w[key], **tolerance), key
