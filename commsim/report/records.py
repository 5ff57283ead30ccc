"""Results for programs: each run as a JSON record, ``results.json`` and ``results.csv``, written atomically."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..engines import analytic
from ..engines.results import NotApplicable, RunResult, StepResult, TrainingResult
from ..scenario import Scenario
from .outputs import write_atomically, write_text_atomically

BIAS_TOLERANCE = 1e-6


def _traffic_record(run: RunResult | TrainingResult) -> dict[str, Any]:
    """What every run records: its traffic and time beside the closed forms, and the checks."""
    expected = asdict(run.expected)
    expected["message_bytes"] = {str(size): count for size, count in expected["message_bytes"].items()}
    return {
        "messages": run.messages,
        "bytes": run.bytes,
        "message_bytes": {str(size): count for size, count in run.message_bytes.items()},
        "makespan_s": run.makespan_s,
        "expected": expected,
        "checks": run.checks,
        "ok": run.ok,
    }


def _not_applicable_record(run: NotApplicable) -> dict[str, Any]:
    return {"algorithm": run.algorithm, "topology": run.topology, "workers": run.workers, "params": run.params,
            "dtype": run.dtype, "engine": run.engine, "unavailable": run.reason, "ok": None}


def run_record(run: RunResult | NotApplicable) -> dict[str, Any]:
    """One run as plain JSON-able data (message sizes as string keys, as JSON requires)."""
    if isinstance(run, NotApplicable):
        return _not_applicable_record(run)
    return {
        "algorithm": run.algorithm,
        "topology": run.topology,
        "workers": run.workers,
        "params": run.params,
        "dtype": run.dtype,
        "bytes_per_param": run.bytes_per_param,
        "payload": run.payload,
        **_traffic_record(run),
        "finish_s": [t if t == t else None for t in run.finish_s],  # None: the rank never finished
        "mean": run.mean,
        "engine": run.engine,
        "kind": run.kind,
        "algbw_Bps": run.algbw,
        "busbw_Bps": run.busbw,
        "hottest_links": run.hottest_links() if run.bytes_per_link else [],
        "bytes_per_link": run.bytes_per_link,
        "link_bandwidth": dict(sorted(run.link_bandwidth.items())),  # by name, as bytes_per_link: the same on every engine
        **({"nccl": run.nccl} if run.nccl is not None else {}),
        **({"disturbance": run.disturbance} if run.disturbance is not None else {}),
    }


def training_record(run: TrainingResult) -> dict[str, Any]:
    """One training run as JSON-able data, with its loss curves against step and simulated time."""
    return {
        "algorithm": run.algorithm,
        "topology": run.topology,
        "workers": run.workers,
        "optimizer": run.optimizer,
        "wire": run.wire,
        "model": run.model,
        "dataset": run.dataset,
        "params": run.n_params,
        "steps": run.steps,
        "final_loss": run.final_loss,
        "final_accuracy": run.final_accuracy,
        **_traffic_record(run),
        "replicas_identical": run.replicas_identical,
        "curves": {"loss": run.loss, "time_s": run.step_end_s, "compute_s": run.compute_s, "comm_s": run.comm_s},
        "bytes_per_link": run.bytes_per_link,
        **({"disturbance": run.disturbance} if run.disturbance is not None else {}),
    }


STEP_FIELDS = ("strategy", "algorithm", "topology", "workers", "model", "params", "dtype", "wire", "batch_per_gpu",
               "accumulation", "bucket_cap", "buckets")
STEP_TIMES = ("compute_s", "optimizer_s", "comm_s", "exposed_s", "overlap", "throughput", "unit", "one_gpu_s",
              "efficiency")


def step_record(run: StepResult | NotApplicable) -> dict[str, Any]:
    """One workload step as JSON-able data: its coordinates, where the time went, its traffic and checks."""
    if isinstance(run, NotApplicable):
        return _not_applicable_record(run)
    return {**{key: getattr(run, key) for key in STEP_FIELDS}, "step_s": run.makespan_s,
            **{key: getattr(run, key) for key in STEP_TIMES}, **_traffic_record(run), "engine": run.engine,
            "bytes_per_link": run.bytes_per_link, **({"nccl": run.nccl} if run.nccl is not None else {})}


def result_of(record: dict[str, Any]) -> RunResult | TrainingResult | NotApplicable:
    """A run back from its JSON record, as ``results.json`` holds it (no message log): what a sweep, whose
    points may come from other processes or an earlier sweep, prints its table from."""
    head = {key: record[key] for key in ("algorithm", "topology", "workers")}
    if "unavailable" in record:
        return NotApplicable(**head, params=record["params"], dtype=record["dtype"], reason=record["unavailable"])
    expected = record["expected"]
    traffic = {
        "messages": record["messages"], "bytes": record["bytes"], "makespan_s": record["makespan_s"],
        "message_bytes": {int(size): count for size, count in record["message_bytes"].items()},
        "expected": analytic.Expected(**{**expected, "message_bytes": {int(size): count for size, count
                                                                       in expected["message_bytes"].items()}}),
        "bytes_per_link": record["bytes_per_link"], "disturbance": record.get("disturbance"),
    }
    if "strategy" in record:
        return StepResult(**{key: record[key] for key in (*STEP_FIELDS, *STEP_TIMES)}, **traffic_of_step(traffic),
                          engine=record["engine"], nccl=record.get("nccl"))
    if "curves" in record:
        curves = record["curves"]
        return TrainingResult(
            **head, **traffic, optimizer=record["optimizer"], wire=record["wire"], model=record["model"],
            dataset=record["dataset"], n_params=record["params"], steps=record["steps"], loss=curves["loss"],
            step_end_s=curves["time_s"], compute_s=curves["compute_s"], comm_s=curves["comm_s"],
            final_loss=record["final_loss"], final_accuracy=record["final_accuracy"],
            replicas_identical=record["replicas_identical"])
    return RunResult(
        **head, **traffic, params=record["params"], dtype=record["dtype"], bytes_per_param=record["bytes_per_param"],
        payload=record["payload"], finish_s=[math.nan if t is None else t for t in record["finish_s"]],
        link_bandwidth=record["link_bandwidth"], mean=record["mean"], engine=record["engine"], nccl=record.get("nccl"))


def traffic_of_step(traffic: dict[str, Any]) -> dict[str, Any]:
    """A record's traffic as a :class:`StepResult` takes it."""
    return {key: value for key, value in traffic.items() if key != "disturbance"}


def record_of(scenario: Scenario) -> Any:
    """What makes one run's JSON record for this scenario's runs."""
    if scenario.workload is not None:
        return step_record
    return training_record if scenario.training is not None else run_record


def results_document(scenario: Scenario, runs: list[Any]) -> dict[str, Any]:
    """The whole ``results.json`` document."""
    record = record_of(scenario)
    return document(scenario, [record(run) for run in runs])


def document(scenario: Scenario, records: list[dict[str, Any]]) -> dict[str, Any]:
    """``results.json`` from the runs' records: ok is None when no run was checked."""
    checked = [record["ok"] for record in records if record.get("ok") is not None]
    return {"scenario": scenario.model_dump(mode="json"), "ok": all(checked) if checked else None, "runs": records}


def all_ok(runs: list[RunResult] | list[TrainingResult]) -> bool | None:
    """Every checked run passed; None when no run was checked (the analytic engine's answers)."""
    checked = [run.ok for run in runs if run.ok is not None]
    return all(checked) if checked else None


CSV_COLUMNS = (
    "engine", "algorithm", "topology", "workers", "params", "dtype", "bytes_per_param", "payload",
    "messages", "expected_messages", "bytes", "expected_bytes",
    "makespan_s", "expected_makespan_s", "time_relation", "ok", "algbw_Bps", "busbw_Bps", "note",
)


STEP_CSV_COLUMNS = ("engine", "strategy", "algorithm", "topology", "workers", "model", "bucket_cap", "buckets",
                    "step_s", "expected_step_s", "compute_s", "optimizer_s", "comm_s", "exposed_s", "overlap",
                    "throughput", "unit", "efficiency", "messages", "expected_messages", "bytes", "expected_bytes", "ok",
                    "note")

TRAINING_CSV_COLUMNS = ("algorithm", "topology", "workers", "optimizer", "wire", "step", "loss", "time_s", "compute_s", "comm_s")


def csv_rows(record: dict[str, Any]) -> list[list[Any]]:
    """The ``results.csv`` rows of one run's JSON record (a training run: one row per step), so a sweep can
    write a point's rows from its record alone."""
    if "strategy" in record:
        exp = record["expected"]
        return [[record["engine"], *(record[key] for key in STEP_FIELDS[:5]), record["bucket_cap"],
                 record["buckets"], repr(record["step_s"]), "" if exp["makespan_s"] is None else repr(exp["makespan_s"]),
                 *(repr(record[key]) for key in STEP_TIMES[:6]), record["unit"], repr(record["efficiency"]),
                 record["messages"], exp["messages"], record["bytes"], exp["bytes"],
                 "" if record["ok"] is None else record["ok"], ""]]
    if "curves" in record:
        curves = record["curves"]
        head = [record["algorithm"], record["topology"], record["workers"], record["optimizer"], record["wire"]]
        return [[*head, step, repr(loss), repr(end), repr(compute), repr(comm)] for step, (loss, end, compute, comm)
                in enumerate(zip(curves["loss"], curves["time_s"], curves["compute_s"], curves["comm_s"]))]
    head = [record["engine"], record["algorithm"], record["topology"], record["workers"], record["params"], record["dtype"]]
    if "unavailable" in record:
        return [[*head, *[""] * (len(CSV_COLUMNS) - len(head) - 1), f"n/a: {record['unavailable']}"]]
    exp = record["expected"]

    def number(value: float | None) -> str:
        return "" if value is None else repr(value)

    return [[
        *head, record["bytes_per_param"], record["payload"], record["messages"], exp["messages"], record["bytes"],
        exp["bytes"], repr(record["makespan_s"]), number(exp["makespan_s"]), exp["time_relation"],
        "" if record["ok"] is None else record["ok"], number(record["algbw_Bps"]), number(record["busbw_Bps"]), "",
    ]]


def csv_header(training: bool, workload: bool = False) -> list[str]:
    return list(STEP_CSV_COLUMNS if workload else TRAINING_CSV_COLUMNS if training else CSV_COLUMNS)


def csv_text_of(records: list[dict[str, Any]], training: bool, workload: bool = False) -> str:
    """``results.csv`` from the runs' JSON records."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(csv_header(training, workload))
    for record in records:
        writer.writerows(csv_rows(record))
    return out.getvalue()


def training_csv_text(runs: list[TrainingResult]) -> str:
    """The curves in long form: one CSV row per (run, step)."""
    return csv_text_of([training_record(run) for run in runs], training=True)


def csv_text(runs: list[RunResult | NotApplicable]) -> str:
    """One CSV row per run with the measured and expected totals."""
    return csv_text_of([run_record(run) for run in runs], training=False)


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON has no NaN: null instead)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def json_text(document: Any, indent: int | None = 1) -> str:
    """``document`` as JSON any parser reads (non-finite numbers as null; ``allow_nan=False`` makes sure),
    ending in a newline."""
    return json.dumps(finite(document), indent=indent, ensure_ascii=False, allow_nan=False) + "\n"


def write_results(directory: Path, scenario: Scenario, runs: list[RunResult] | list[TrainingResult]) -> list[Path]:
    """Write ``results.json`` and ``results.csv`` atomically (both appear whole, or neither changes)."""
    directory.mkdir(parents=True, exist_ok=True)
    return write_atomically({
        directory / "results.json": json_text(results_document(scenario, runs)),
        directory / "results.csv": (csv_text_of([step_record(run) for run in runs], False, True)
                                    if scenario.workload is not None else training_csv_text(runs)
                                    if scenario.training is not None else csv_text(runs)),
    })


def write_bias_results(directory: Path, rows: list[Any]) -> list[Path]:
    """``results.json`` and ``results.csv`` of the implicit-bias experiment, written atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    records = [
        {"optimizer": row.name, "norm": row.norm, "limit": row.limit.tolist(), "reference": row.reference.tolist(),
         "max_abs_error": row.max_abs_error, "ok": row.max_abs_error <= BIAS_TOLERANCE}
        for row in rows
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["optimizer", "norm", "limit", "reference", "max_abs_error", "ok"])
    for record in records:
        writer.writerow([record["optimizer"], record["norm"], record["limit"], record["reference"],
                         repr(record["max_abs_error"]), record["ok"]])
    return write_atomically({directory / "results.json": json_text({"experiment": "implicit_bias", "runs": records}),
                             directory / "results.csv": out.getvalue()})


def write_validation(directory: Path, cases: list[Any]) -> Path:
    """``validation.csv``: one row per measured size (case file, collective, size, measured and simulated
    seconds, the error and its target, NCCL's model's seconds and error, its pick, whether the case
    counts, whether the point is held and why, the table's launch mode and floor, whether the
    prediction is calibrated, and a held miss's stated cause), atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "collective", "size_bytes", "measured_s", "simulated_s", "error", "tolerance",
                     "nccl_model_s", "nccl_model_error", "pick", "counts", "held", "reason", "launch", "floor_s",
                     "calibrated", "cause"])
    for case in cases:
        for p in case.points:
            writer.writerow([case.file, case.collective, p.size, repr(p.measured_s), repr(p.simulated_s),
                             repr(p.error), "" if p.tolerance is None else p.tolerance,
                             "" if p.predicted_s is None else repr(p.predicted_s),
                             "" if p.model_error is None else repr(p.model_error), p.pick, case.counts, p.held,
                             p.reason, case.launch, repr(case.floor_s), case.calibrated, p.cause])
    return write_text_atomically(directory / "validation.csv", out.getvalue())


def _training_rows(case: Any) -> list[dict[str, Any]]:
    return [{"file": case.file, "precision": row.precision, "gpus": row.gpus, "batch_per_gpu": case.batch_per_gpu,
             "one_gpu_step_s": row.one_gpu_s, "measured_step_s": row.measured_s, "predicted_step_s": row.predicted_s,
             "error": row.error, "tolerance": row.tolerance, "within": row.within,
             "measured_throughput": row.measured_throughput, "predicted_throughput": row.predicted_throughput,
             "unit": case.unit, "counts": row.counts, "why": row.why} for row in case.rows]


def write_training_validation(directory: Path, cases: list[Any]) -> list[Path]:
    """``validation_training.csv`` (a row per predicted row: file, precision, GPUs, the 1-GPU, measured and
    predicted steps in seconds, error, target, whether within it, both throughputs, whether it counts and
    why) and ``validation_training.json`` (the same per case, with its setup, and the summary), both whole
    or neither."""
    per_case = [_training_rows(case) for case in cases]
    rows = [row for case_rows in per_case for row in case_rows]
    columns = list(rows[0]) if rows else ["file"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([repr(value) if isinstance(value, float) else value for value in row.values()])
    counted = [row for row in rows if row["counts"]]
    document = {
        "summary": {"tables": len(cases), "rows": len(rows), "counted": len(counted),
                    "counted_within": sum(row["within"] for row in counted)},
        "cases": [{"file": case.file, "title": case.title, "source": case.source, "preset": case.preset,
                   "nodes": case.nodes, "model": case.model, "strategy": case.strategy,
                   "batch_per_gpu": case.batch_per_gpu,
                   "precisions": {name: {"dtype": p.dtype, "wire": p.wire, "counts": p.counts, "why": p.why}
                                  for name, p in case.precisions.items()},
                   "rows": case_rows} for case, case_rows in zip(cases, per_case)]}
    directory.mkdir(parents=True, exist_ok=True)
    return write_atomically({directory / "validation_training.csv": out.getvalue(),
                             directory / "validation_training.json": json_text(document)})


def write_validation_json(directory: Path, cases: list[Any]) -> Path:
    """``validation.json``: what ``validation.csv`` holds, per table (its machine, launch mode and floor,
    whether it counts and is calibrated) with its points (held, why, within), and the summary the table
    prints (held points, how many within target), atomically."""
    points = [p for case in cases for p in case.points]
    held = [p for p in points if p.held]
    document = {
        "calibrated": any(case.calibrated for case in cases),
        "summary": {"tables": len(cases), "counted_tables": sum(case.counts for case in cases), "points": len(points),
                    "held": len(held), "held_within_target": sum(1 for p in held if p.within)},
        "cases": [{"file": case.file, "title": case.title, "preset": case.preset, "nodes": case.nodes,
                   "algorithm": case.algorithm, "collective": case.collective, "counts": case.counts, "why": case.why,
                   "launch": case.launch, "floor_s": case.floor_s, "calibrated": case.calibrated,
                   "points": [{"size_bytes": p.size, "measured_s": p.measured_s, "simulated_s": p.simulated_s,
                               "error": p.error, "tolerance": p.tolerance, "nccl_model_s": p.predicted_s,
                               "nccl_model_error": p.model_error, "pick": p.pick, "held": p.held, "reason": p.reason,
                               "within": p.within, "cause": p.cause} for p in case.points]} for case in cases]}
    return write_text_atomically(directory / "validation.json", json_text(document))
