"""Published data-parallel step times (validation/training/) against commsim's prediction from the measured 1-GPU
step: within 5 % where communication is what scaling costs; the known miss on the side communication cannot
explain."""

import csv
from pathlib import Path

from commsim import scenario
from commsim.runner.points import simulate_step

TABLE = Path(__file__).parent.parent / "validation" / "training" / "resnet50_dgxa100_dle.csv"


def _rows() -> dict[tuple[str, int], dict]:
    lines = [line for line in TABLE.read_text().splitlines() if not line.startswith("#")]
    return {(row["precision"], int(row["gpus"])): row for row in csv.DictReader(lines)}


def _predicted(one_gpu_step: float, gpus: int, batch: int) -> float:
    loaded = scenario.parse({"name": "v", "workers": gpus, "model": "nccl",
                             "topology": {"kind": "cluster", "preset": "dgx-a100"},
                             "workload": {"model": "resnet50", "strategy": "ddp", "batch_per_gpu": batch,
                                          "dtype": "fp32", "step_time": one_gpu_step}})
    return simulate_step(loaded, next(loaded.runs())).makespan_s


def test_resnet50_tf32_on_a_dgx_a100_within_5_percent():
    """TF32, 8 GPUs: the predicted step is within 5 % of the measured one (282.6 ms)."""
    rows = _rows()
    measured = float(rows["tf32", 8]["measured_step_s"])
    predicted = _predicted(float(rows["tf32", 1]["measured_step_s"]), 8, 256)
    assert abs(predicted - measured) <= 0.05 * measured


def test_resnet50_mixed_precision_miss_is_not_communication():
    """Mixed precision, 8 GPUs: the listed miss. commsim's step is faster than the measured one and adds under
    0.1 % to the 1-GPU step: what the real run lost (16 %) is not the all-reduce (validation/training/README.md)."""
    rows = _rows()
    one = float(rows["mixed", 1]["measured_step_s"])
    measured = float(rows["mixed", 8]["measured_step_s"])
    predicted = _predicted(one, 8, 256)
    assert predicted < 0.9 * measured and predicted - one < 1e-3 * one
