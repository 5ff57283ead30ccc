"""Run a scenario's points on any ``concurrent.futures.Executor``: in this process, local processes, or Dask.

A point is one (topology, algorithm, workers, dtype, params | optimizer) run. Each finished point's JSON
record is appended to ``results.jsonl`` and its rows to ``results.csv`` in point order, as soon as every
earlier point is done too; ``--resume`` skips points whose record is already there. At the end the three
files are rewritten in point order, so the same scenario gives byte-identical files whichever executor,
job count or resume history produced them.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import CommsimError
from ..report.records import (
    csv_header,
    csv_rows,
    json_text,
    run_record,
    step_record,
    training_record,
)
from ..report.outputs import write_text_atomically
from ..report.records import document as results_document
from ..scenario import RunSpec, Scenario

RECORDS = "results.jsonl"


def point_key(run: RunSpec) -> str:
    """What identifies a point across runs of the same scenario (for ``--resume``)."""
    optimizer = run.optimizer.title if run.optimizer is not None else ""
    return json.dumps([run.topology.title, run.algorithm, run.workers, run.params, run.dtype, optimizer,
                       *([run.strategy, run.bucket_cap] if run.strategy is not None else [])])


def run_point(scenario: Scenario, run: RunSpec) -> dict[str, Any]:
    """Simulate one point and return its JSON record (the message log stays in the worker process)."""
    from ..collectives.imported import ensure_registered
    from . import points

    for path in scenario.schedule_files.values():  # a fresh worker process has not read them yet
        ensure_registered(path)

    if scenario.workload is not None:
        return step_record(points.simulate_step(scenario, run))
    if scenario.training is not None:
        return training_record(points.simulate_training(scenario, run))
    return run_record(points.simulate_run(scenario, run))


def _leave_ctrl_c_to_parent() -> None:
    """A worker process ignores Ctrl-C: the parent stops the sweep and cleans up (no traceback per worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def executor_for(kind: str, jobs: int, scheduler: str | None = None) -> Iterator[Executor | None]:
    """``local`` (processes; None — this process, in point order — for one job) or ``dask`` (the scheduler
    at ``scheduler``, else a ``LocalCluster`` of ``jobs`` single-threaded worker processes)."""
    if kind == "local":
        if jobs == 1:
            yield None
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_leave_ctrl_c_to_parent) as pool:
            try:
                yield pool
            except BaseException:  # Ctrl-C or an error: the points not started yet never start
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        return
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise CommsimError("--executor dask: dask is not installed (pip install 'commsim[dask]')") from None
    if scheduler:
        with Client(scheduler, timeout="10s") as client:
            yield client.get_executor()
        return
    with LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client.get_executor()


def _read_records(directory: Path) -> dict[str, dict[str, Any]]:
    """Records of an earlier sweep into ``directory``, by point key."""
    path = directory / RECORDS
    if not path.exists():
        return {}
    done = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            entry = json.loads(line)
            done[entry["key"]] = entry["record"]
        except (ValueError, KeyError, TypeError):
            raise CommsimError(f"--resume: {path}: line {number} is not a sweep record; remove the file to start over") from None
    return done


def _csv_lines(record: dict[str, Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(csv_rows(record))
    return out.getvalue()


def sweep(
    scenario: Scenario,
    directory: Path,
    executor: Executor | None,
    resume: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
    work: Callable[[RunSpec], float] | None = None,
) -> list[dict[str, Any]]:
    """Run every point (those already in ``directory`` skipped with ``resume``) on ``executor`` (None: here,
    one after another) and write
    ``results.csv``, ``results.jsonl`` and ``results.json``; the records in point order.
    ``progress(done, total, share)`` is called as points finish: ``share`` the part of the work done, each
    point weighing ``work(point)`` (at least 1; default: every point 1)."""
    points = list(scenario.runs())
    keys = [point_key(run) for run in points]
    if len(set(keys)) != len(keys):
        raise CommsimError("the scenario has two points that are the same run (a repeated value in a sweep)")
    directory.mkdir(parents=True, exist_ok=True)
    earlier = _read_records(directory) if resume else {}
    records: list[dict[str, Any] | None] = [earlier.get(key) for key in keys]
    training = scenario.training is not None
    written = 0  # points whose rows are in the files, a prefix of the point order
    whole = (0, 0)  # where the files end after the last point written whole
    with open(directory / "results.csv", "w", encoding="utf-8") as table, \
            open(directory / RECORDS, "w", encoding="utf-8") as log:
        table.write(",".join(csv_header(training, scenario.workload is not None)) + "\n")

        def flush() -> None:
            nonlocal written, whole
            while written < len(points) and records[written] is not None:
                table.write(_csv_lines(records[written]))
                log.write(json_text({"key": keys[written], "record": records[written]}, indent=None))
                written += 1
            table.flush()
            log.flush()
            whole = (table.tell(), log.tell())

        try:
            weights = [max(work(run), 1.0) if work is not None and progress else 1.0 for run in points]
            _run_points(scenario, points, records, executor, flush, progress, weights)
        except BaseException:  # Ctrl-C or a failing point: no half-written line for --resume to trip on
            table.truncate(whole[0])
            log.truncate(whole[1])
            raise
    final = [record for record in records if record is not None]
    document = results_document(scenario, final)
    write_text_atomically(directory / "results.json", json_text(document))
    return final


def _run_points(scenario: Scenario, points: list[RunSpec], records: list[dict[str, Any] | None], executor: Executor | None,
                flush: Callable[[], None], progress: Callable[[int, int, float], None] | None,
                weights: list[float]) -> None:
    """Run the points without a record, in this process or on ``executor``, flushing each as it is done;
    ``progress`` hears the points done and the part of the ``weights`` they carry."""
    flush()
    missing = [i for i, record in enumerate(records) if record is None]
    done = len(points) - len(missing)
    total = sum(weights) or 1.0
    work = total - sum(weights[i] for i in missing)
    if progress:
        progress(done, len(points), work / total)
    if executor is None:
        finished: Iterator[tuple[int, dict[str, Any]]] = ((i, run_point(scenario, points[i])) for i in missing)
    else:
        futures = {executor.submit(run_point, scenario, points[i]): i for i in missing}
        finished = ((futures[future], future.result()) for future in as_completed(futures))
    for index, record in finished:
        records[index] = record
        done += 1
        work += weights[index]
        flush()
        if progress:
            progress(done, len(points), work / total)


def default_jobs() -> int:
    """Every core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
