"""``commsim validate --training``: published data-parallel step times (``validation/training/``) against the
step commsim predicts from the measured 1-GPU step of the same precision.

Each case of ``validation/training/cases.yaml`` names a measured table (a CSV of precision, gpus,
batch_per_gpu, measured_step_s) and the setup it was measured with: the cluster preset and its node count, the
bundled model, the strategy, the batch per GPU, and per precision the workload's ``dtype`` and ``wire`` (the
gradients' size in the buckets and on the wire). Per row of more than one GPU, the measured 1-GPU step goes in
as the workload's ``step_time`` (the compute is known; commsim adds only what communication costs), on
``model: nccl``, and the predicted n-GPU step is set beside the measured one: error = (predicted − measured) /
measured, held to ±5 % (issue 21). Throughput = GPUs × batch per GPU (× tokens per sample) ÷ step. Nothing is fitted to the table.

A precision marked ``counts: false`` with a ``why`` is shown, not counted (a miss whose cause is not
communication, explained beside the data).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import scenario_file
from ..errors import CommsimError

CASES = Path(__file__).resolve().parents[2] / "validation" / "training" / "cases.yaml"
"""The training cases of a source checkout."""
TOLERANCE = 0.05  # issue 21: "within 5 % of every point of the published tables"
FILES = ("validation_training.csv", "validation_training.json")
_KEYS = {"file", "title", "preset", "nodes", "model", "strategy", "batch_per_gpu", "precisions", "source"}
_PRECISION_KEYS = {"dtype", "wire", "counts", "why"}
_COLUMNS = ("precision", "gpus", "batch_per_gpu", "measured_step_s")


@dataclass(frozen=True)
class Row:
    """One measured row of more than one GPU and its prediction from the same precision's 1-GPU step."""

    precision: str
    gpus: int
    one_gpu_s: float
    measured_s: float
    predicted_s: float
    measured_throughput: float
    predicted_throughput: float
    counts: bool = True
    why: str = ""

    @property
    def error(self) -> float:
        """(predicted − measured) / measured."""
        return (self.predicted_s - self.measured_s) / self.measured_s

    @property
    def tolerance(self) -> float:
        return TOLERANCE

    @property
    def within(self) -> bool:
        return abs(self.error) <= TOLERANCE


@dataclass(frozen=True)
class Precision:
    """How one precision of a table is configured: the workload's dtype and wire, and whether it counts."""

    dtype: str
    wire: str | None
    counts: bool
    why: str


@dataclass(frozen=True)
class Case:
    """A measured table, its setup, and (once predicted) its rows."""

    file: str
    title: str
    preset: str
    nodes: int
    model: str
    strategy: str
    batch_per_gpu: int
    source: str
    precisions: dict[str, Precision]
    measured: tuple[tuple[str, int, float], ...]  # (precision, gpus, measured step) per CSV row
    unit: str = "samples/s"
    rows: tuple[Row, ...] = ()

    @property
    def misses(self) -> list[Row]:
        """The counted rows outside ±5 %."""
        return [row for row in self.rows if row.counts and not row.within]


def _fail(where: str, problem: str) -> CommsimError:
    return CommsimError(f"{where}: {problem}")


def read_cases(path: Path = CASES, only: str | None = None) -> list[Case]:
    """The cases of ``path`` checked and their tables read (one-line errors naming file, entry and key)."""
    document = scenario_file.read(path, str(path))
    if not isinstance(document, list):
        raise _fail(str(path), "must be a list of cases")
    return [_case(path, i, entry) for i, entry in enumerate(document)
            if only is None or isinstance(entry, dict) and entry.get("file") == only]


def workload_scenario(case: Case, precision: str, gpus: int, one_gpu_s: float, where: str = "<case>") -> Any:
    """The scenario predicting ``gpus`` GPUs of ``case`` at ``precision`` from the measured 1-GPU step."""
    from .. import scenario

    setting = case.precisions[precision]
    workload = {"model": case.model, "strategy": case.strategy, "batch_per_gpu": case.batch_per_gpu,
                "dtype": setting.dtype, "step_time": one_gpu_s}
    if setting.wire is not None:
        workload["wire"] = setting.wire
    return scenario.parse({"name": "validate-training", "workers": gpus, "model": "nccl",
                           "topology": {"kind": "cluster", "preset": case.preset}, "workload": workload}, where)


def _case(path: Path, i: int, entry: Any) -> Case:
    where = f"{path}: [{i}]"
    if not isinstance(entry, dict):
        raise _fail(where, "must be a mapping with file, preset, nodes, model, strategy, batch_per_gpu, precisions")
    unknown = set(entry) - _KEYS
    if unknown:
        raise _fail(f"{where}.{min(map(str, unknown))}", f"unknown key (known: {', '.join(sorted(_KEYS))})")
    missing = [key for key in sorted(_KEYS - {"title", "source"}) if key not in entry]
    if missing:
        raise _fail(where, f"missing {missing[0]}")
    nodes, batch = entry["nodes"], entry["batch_per_gpu"]
    for key, value in (("nodes", nodes), ("batch_per_gpu", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _fail(f"{where}.{key}", f"must be a whole number ≥ 1, got {value!r:.40}")
    precisions = _precisions(where, entry["precisions"])
    measured = _table(path.parent / str(entry["file"]), f"{where}.file", batch, precisions)
    case = Case(str(entry["file"]), str(entry.get("title", entry["file"])), str(entry["preset"]), nodes,
                str(entry["model"]), str(entry["strategy"]), batch, str(entry.get("source", "")), precisions, measured)
    from ..network import cluster

    most = max(gpus for _, gpus, _ in measured)
    for name in precisions:  # the setup itself checked by the scenario's own rules, before anything runs
        loaded = workload_scenario(case, name, most, 1.0, f"{where}.precisions.{name}")
    per_node = cluster.preset(case.preset).gpus_per_node
    if most > nodes * per_node:
        raise _fail(f"{where}.nodes", f"{nodes} node(s) of {case.preset} hold {nodes * per_node} GPUs; "
                                      f"the table has a row of {most}")
    per = loaded.workload.architecture().per
    return Case(**{**case.__dict__, "unit": "tokens/s" if per == "token" else "samples/s"})


def _precisions(where: str, value: Any) -> dict[str, Precision]:
    if not isinstance(value, dict) or not value:
        raise _fail(f"{where}.precisions", "must map each precision of the table to {dtype, wire, counts, why}")
    out = {}
    for name, setting in value.items():
        here = f"{where}.precisions.{name}"
        if not isinstance(setting, dict) or "dtype" not in setting:
            raise _fail(here, "must be a mapping with dtype (and wire, counts, why)")
        unknown = set(setting) - _PRECISION_KEYS
        if unknown:
            raise _fail(f"{here}.{min(map(str, unknown))}", f"unknown key (known: {', '.join(sorted(_PRECISION_KEYS))})")
        counts = setting.get("counts", True)
        if not isinstance(counts, bool):
            raise _fail(f"{here}.counts", f"must be true or false, got {counts!r:.40}")
        why = str(setting.get("why", ""))
        if not counts and not why.strip():
            raise _fail(f"{here}.why", "a precision that does not count needs a why: the reason, shown beside it")
        out[str(name)] = Precision(str(setting["dtype"]), None if setting.get("wire") is None else str(setting["wire"]),
                                   counts, why)
    return out


def _table(path: Path, where: str, batch: int, precisions: dict[str, Precision]) -> tuple[tuple[str, int, float], ...]:
    """(precision, gpus, measured step) per row of a measured CSV (``#`` lines are its source notes)."""
    try:
        text = scenario_file.read_text(path, str(path))
    except CommsimError as error:
        raise _fail(where, str(error)) from None
    rows = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    header = list(rows[0]) if rows else []
    absent = [column for column in _COLUMNS if column not in header]
    if not rows or absent:
        raise _fail(str(path), f"needs a header with {', '.join(_COLUMNS)} and a row per measurement"
                    + (f"; no column {absent[0]!r}" if absent else ""))
    out = []
    for number, row in enumerate(rows, start=1):
        here = f"{path}: row {number}"
        if row["precision"] not in precisions:
            raise _fail(f"{here}.precision", f"{row['precision']!r:.40} is not in the case's precisions "
                                             f"({', '.join(precisions)})")
        try:
            gpus, rows_batch, step = int(row["gpus"]), int(row["batch_per_gpu"]), float(row["measured_step_s"])
        except (TypeError, ValueError):
            raise _fail(here, f"gpus, batch_per_gpu must be whole numbers and measured_step_s a number, got "
                              f"{row['gpus']!r:.20}, {row['batch_per_gpu']!r:.20}, {row['measured_step_s']!r:.30}") from None
        if gpus < 1 or not step > 0 or step == float("inf"):
            raise _fail(here, f"needs gpus ≥ 1 and a measured step > 0, got {gpus} and {step!r}")
        if rows_batch != batch:
            raise _fail(f"{here}.batch_per_gpu", f"{rows_batch}, but the case says batch_per_gpu {batch}")
        out.append((row["precision"], gpus, step))
    for name in {precision for precision, gpus, _ in out if gpus > 1}:
        if not any(precision == name and gpus == 1 for precision, gpus, _ in out):
            raise _fail(str(path), f"precision {name!r} has no 1-GPU row to predict its other rows from")
    return tuple(out)


def predict(case: Case, simulate_step: Callable[[Any, Any], Any]) -> Case:
    """``case`` with a :class:`Row` per measured row of more than one GPU (module docstring), each step by
    ``simulate_step(scenario, run)`` (:func:`commsim.runner.points.simulate_step`, which the runner's modules
    below ``points`` are handed rather than import)."""
    one = {precision: step for precision, gpus, step in case.measured if gpus == 1}
    rows = []
    for precision, gpus, measured in case.measured:
        if gpus == 1:
            continue
        loaded = workload_scenario(case, precision, gpus, one[precision])
        result = simulate_step(loaded, next(loaded.runs()))
        setting = case.precisions[precision]
        work = result.throughput * result.makespan_s  # samples (tokens) of all GPUs in one step
        rows.append(Row(precision, gpus, one[precision], measured, result.makespan_s, work / measured,
                        result.throughput, setting.counts, setting.why))
    return Case(**{**case.__dict__, "rows": tuple(rows)})
