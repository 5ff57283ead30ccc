"""Tables for people, JSON and CSV for programs. Nothing here simulates."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .scenario import Scenario
from .simulate import RunResult
from .units import format_bandwidth, format_bytes, format_time

PASS, FAIL = "✓", "✗"


def run_record(run: RunResult) -> dict[str, Any]:
    """One run as plain JSON-able data (message sizes as string keys, as JSON requires)."""
    expected = asdict(run.expected)
    expected["message_bytes"] = {str(size): count for size, count in expected["message_bytes"].items()}
    return {
        "algorithm": run.algorithm,
        "topology": run.topology,
        "workers": run.workers,
        "params": run.params,
        "dtype": run.dtype,
        "bytes_per_param": run.bytes_per_param,
        "payload": run.payload,
        "messages": run.messages,
        "bytes": run.bytes,
        "message_bytes": {str(size): count for size, count in run.message_bytes.items()},
        "makespan_s": run.makespan_s,
        "finish_s": run.finish_s,
        "expected": expected,
        "mean": run.mean,
        "checks": run.checks,
        "ok": run.ok,
        "bytes_per_link": run.bytes_per_link,
    }


def results_document(scenario: Scenario, runs: list[RunResult]) -> dict[str, Any]:
    """The whole ``results.json`` document."""
    return {
        "scenario": scenario.model_dump(mode="json"),
        "ok": all(run.ok for run in runs),
        "runs": [run_record(run) for run in runs],
    }


CSV_COLUMNS = (
    "algorithm", "topology", "workers", "params", "dtype", "bytes_per_param", "payload",
    "messages", "expected_messages", "bytes", "expected_bytes",
    "makespan_s", "expected_makespan_s", "time_is_bound", "ok",
)


def csv_text(runs: list[RunResult]) -> str:
    """One CSV row per run with the measured and expected totals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for run in runs:
        exp = run.expected
        writer.writerow([
            run.algorithm, run.topology, run.workers, run.params, run.dtype, run.bytes_per_param, run.payload,
            run.messages, exp.messages, run.bytes, exp.bytes,
            repr(run.makespan_s), "" if exp.makespan_s is None else repr(exp.makespan_s), exp.time_is_bound, run.ok,
        ])
    return out.getvalue()


def write_results(directory: Path, scenario: Scenario, runs: list[RunResult]) -> list[Path]:
    """Write ``results.json`` and ``results.csv`` atomically (each appears whole or not at all)."""
    directory.mkdir(parents=True, exist_ok=True)
    contents = {
        "results.json": json.dumps(results_document(scenario, runs), indent=1, ensure_ascii=False) + "\n",
        "results.csv": csv_text(runs),
    }
    written = []
    for name, text in contents.items():
        path = directory / name
        partial = directory / f".{name}.partial"
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
        written.append(path)
    return written


def _mark(ok: bool | None) -> str:
    return "" if ok is None else PASS if ok else FAIL


def _time_cell(run: RunResult) -> str:
    exp = run.expected
    if exp.makespan_s is None:
        return f"{format_time(run.makespan_s)} (no closed form)"
    relation = "≥" if exp.time_is_bound else ""
    return f"{format_time(run.makespan_s)} ({relation}{format_time(exp.makespan_s)}) {_mark(run.checks.get('time'))}"


def _size_cell(run: RunResult) -> str:
    sizes = sorted(run.message_bytes)
    if not sizes:
        return "-"
    shown = format_bytes(sizes[0]) if len(sizes) == 1 else f"{format_bytes(sizes[0])}..{format_bytes(sizes[-1])}"
    return shown


def table(scenario: Scenario, runs: list[RunResult]) -> str:
    """The human table: each measured value beside its closed form and a check mark."""
    topo = scenario.topology
    lines = [
        f"{scenario.name}: {topo.kind}, {format_bandwidth(topo.bandwidth, bits=True)} and "
        f"{format_time(topo.latency)} per link, {scenario.dtype}, payload {scenario.payload}",
    ]
    header = ("algorithm", "workers", "params", "messages (expected)", "message size",
              "total bytes (expected)", "time (expected)", "mean")
    rows = [header]
    for run in runs:
        checks = run.checks
        rows.append((
            run.algorithm,
            str(run.workers),
            str(run.params),
            f"{run.messages} ({run.expected.messages}) {_mark(checks['messages'])}",
            _size_cell(run),
            f"{format_bytes(run.bytes)} ({format_bytes(run.expected.bytes)}) {_mark(checks['bytes'])}",
            _time_cell(run),
            _mark(checks.get("mean")) or "-",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {1, 2}
    for row in rows:
        cells = [cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
    failed = sum(not run.ok for run in runs)
    lines.append(f"{len(runs) - failed} of {len(runs)} runs match their closed forms" + ("" if not failed else f"; {failed} do not"))
    return "\n".join(lines)
