"""Exports of the message log: every message as CSV, and a Chrome trace-event file for Perfetto.

The trace (https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU, the
"Trace Event Format") has one process per run and, per worker, a track of its idle time (the same gaps
the report sums), a track of its compute where it computes (a collective's stragglers: one slice before
the collective; training: one per step), a track of what it sends and one of what it receives. Perfetto
does not nest overlapping slices on one track, so concurrent sends (or receives) of a worker go on extra
lanes ("worker 3 send 2"). Each
link that carried bytes gets a counter track: messages in flight through it. Timestamps are in
microseconds, as the format defines.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..engines.activity import idle_spans
from ..engines.results import idle_gaps

MESSAGE_COLUMNS = ("algorithm", "topology", "workers", "params", "dtype", "src", "dst", "bytes", "start_s", "end_s",
                   "phase", "route")


def _messages(log: Any) -> Iterator[tuple[Any, Any, int, float, float, str, list[Any]]]:
    """(src, dst, bytes, start, end, phase, route nodes) of every message, in delivery order."""
    for i in range(len(log)):
        route = log.routes[log.route[i]]
        nodes = [route.src, *(link.v for link in route.links)]
        yield route.src, route.dst, log.nbytes[i], log.start[i], log.end[i], log.phases[log.phase[i]], nodes


def _head(run: Any) -> list[Any]:
    """A run's coordinates in the message CSV; a training run's ``dtype`` is its wire format."""
    return [run.algorithm, run.topology, run.workers, run.params, getattr(run, "dtype", None) or run.wire]


def _title(run: Any) -> str:
    title = f"{run.algorithm} on {run.topology}, {run.workers} workers, {run.params} params"
    return title + (f", {run.optimizer} on {run.wire}, {run.steps} steps" if hasattr(run, "optimizer") else "")


def messages_csv_text(runs: Iterable[Any]) -> str:
    """Every message of every simulated run (collective or training): the run's coordinates, then src,
    dst, bytes, start and end (seconds), phase and the route's nodes joined by '>'."""
    out = io.StringIO()
    _write_messages(runs, out)
    return out.getvalue()


def _write_messages(runs: Iterable[Any], out: Any) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MESSAGE_COLUMNS)
    for run in runs:
        if getattr(run, "log", None) is None:
            continue
        head = _head(run)
        for src, dst, nbytes, start, end, phase, nodes in _messages(run.log):
            writer.writerow([*head, src, dst, nbytes, repr(start), repr(end), phase, ">".join(map(str, nodes))])


def _lanes(intervals: list[tuple[float, float, dict[str, Any]]]) -> list[tuple[int, float, float, dict[str, Any]]]:
    """Give each interval the first lane free at its start (greedy, by start time): no overlaps per lane."""
    ends: list[float] = []
    placed = []
    for start, end, args in sorted(intervals, key=lambda item: (item[0], item[1])):
        lane = next((k for k, free in enumerate(ends) if free <= start), len(ends))
        if lane == len(ends):
            ends.append(end)
        else:
            ends[lane] = end
        placed.append((lane, start, end, args))
    return placed


def _us(seconds: float) -> float:
    return seconds * 1e6


def trace_events(runs: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """The trace events of every simulated run, one run at a time (runs without a message log are left out). A
    worker's idle slices are :func:`~commsim.engines.activity.idle_spans`, the gaps the report sums into
    its idle time; a worker that never finished has no idle track (the report's idle is None)."""
    for pid, run in enumerate(runs, start=1):
        if getattr(run, "timeline", None) is not None:
            yield from step_events(pid, run)
            continue
        if getattr(run, "log", None) is None:
            continue
        # equivalent: tids are opaque, any distinct increasing numbers give the same trace (and viewers ignore
        # a process's tid)
        yield {"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": _title(run)}}
        computing = getattr(run, "compute_spans", None) or []
        workers = len(run.finish_s)
        idle = idle_spans(run.log, computing, run.finish_s)
        training = hasattr(run, "optimizer")
        sends: dict[Any, list] = {}
        receives: dict[Any, list] = {}
        in_flight: dict[str, list[tuple[float, int]]] = {}
        for src, dst, nbytes, start, end, phase, nodes in _messages(run.log):
            args = {"src": str(src), "dst": str(dst), "bytes": nbytes, "phase": phase}
            sends.setdefault(src, []).append((start, end, args))
            receives.setdefault(dst, []).append((start, end, args))
            for u, v in zip(nodes, nodes[1:]):
                changes = in_flight.setdefault(f"{u}->{v}", [])
                changes += [(start, 1), (end, -1)]
        tid = 0  # equivalent: tids are opaque (any distinct increasing numbers: the same trace)
        nodes_in_order = sorted(set(sends) | set(receives) | set(range(workers)),
                                key=lambda node: (not isinstance(node, int), node if isinstance(node, int) else str(node)))
        for node in nodes_in_order:
            worker = isinstance(node, int)  # ranks are the only int nodes
            name = f"worker {node}" if isinstance(node, int) else str(node)
            spans = [(s, e) for s, e in (computing[node] if worker and node < len(computing) else []) if e > s]
            if worker:
                gaps = idle[node]
            else:  # a server: idle between its messages (it has no finish time; none after the last)
                gaps = idle_gaps([(s, e) for s, e, _ in sends.get(node, []) + receives.get(node, [])], 0.0)
            if gaps is not None:
                tid += 1  # equivalent: tids are opaque
                yield {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": f"{name} idle"}}
                for start, end in gaps:
                    yield {"ph": "X", "name": "idle", "cat": "idle", "pid": pid, "tid": tid,
                           "ts": _us(start), "dur": _us(end - start)}
            if spans:
                tid += 1  # equivalent: tids are opaque
                yield {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": f"{name} compute"}}
                for step, (start, end) in enumerate(spans):
                    yield {"ph": "X", "name": f"compute step {step}" if training else "compute", "cat": "compute",
                           "pid": pid, "tid": tid, "ts": _us(start), "dur": _us(end - start),
                           "args": {"step": step} if training else {}}
            for kind, intervals in (("send", sends.get(node, [])), ("receive", receives.get(node, []))):
                lanes: dict[int, int] = {}
                for lane, start, end, args in _lanes(intervals):
                    if lane not in lanes:
                        tid += 1  # equivalent: tids are opaque
                        lanes[lane] = tid
                        label = f"{name} {kind}" + (f" {lane + 1}" if lane else "")
                        yield {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": label}}
                    other = args["dst"] if kind == "send" else args["src"]
                    yield {"ph": "X", "name": f"{kind} {'to' if kind == 'send' else 'from'} {other}",
                           "cat": args["phase"] or kind, "pid": pid, "tid": lanes[lane],
                           "ts": _us(start), "dur": _us(end - start), "args": args}
        for link, changes in sorted(in_flight.items()):
            count = 0
            for time, step in sorted(changes, key=lambda change: (change[0], change[1])):
                count += step
                yield {"ph": "C", "name": f"link {link}", "pid": pid, "ts": _us(time),
                       "args": {"messages in flight": count}}


def chrome_trace(runs: Iterable[Any]) -> dict[str, Any]:
    """The trace-event document of every simulated run (:func:`trace_events`)."""
    return {"traceEvents": list(trace_events(runs)), "displayTimeUnit": "ns"}


def step_events(pid: int, run: Any) -> list[dict[str, Any]]:
    """A workload step's trace: per rank a compute track (forward, each layer's backward, the optimizer step)
    and a communication track (each call by its label: "bucket 3 all-reduce", "all-gather layers.7 (fwd)")."""
    timeline = run.timeline
    title = (f"{run.strategy} {run.model} on {run.topology}, {run.workers} GPUs, {run.algorithm}, "
             f"bucket cap {run.bucket_cap} B")
    events: list[dict[str, Any]] = [{"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": title}}]
    start, end = timeline["start"], timeline["end"]
    for rank in range(start.shape[1]):
        for offset, track in ((1, "compute"), (2, "communication")):
            tid = 2 * rank + offset
            events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                           "args": {"name": f"worker {rank} {track}"}})
            for index, (label, stream) in enumerate(zip(timeline["labels"], timeline["streams"])):
                a, b = float(start[index, rank]), float(end[index, rank])
                if (stream == "comm") != (track == "communication") or not (b > a) or b == float("inf"):
                    continue
                events.append({"ph": "X", "name": label, "cat": stream, "pid": pid, "tid": tid, "ts": _us(a),
                               "dur": _us(b - a)})
    return events


def write_trace(runs: Iterable[Any], path: Path) -> Path:
    """Write the Chrome/Perfetto trace of ``runs`` to ``path``, an event at a time (the text of
    ``json.dumps(chrome_trace(runs), separators=(",", ":"))``, without the whole document in memory)."""
    from .outputs import write_atomically
    from .records import finite

    def write(temporary: Path) -> None:
        with temporary.open("w", encoding="utf-8") as out:
            out.write('{"traceEvents":[')
            for index, event in enumerate(trace_events(runs)):
                out.write("," * (index > 0) + json.dumps(finite(event), separators=(",", ":"), allow_nan=False))
            out.write('],"displayTimeUnit":"ns"}\n')

    return write_atomically({path: write})[0]


def write_messages(runs: Iterable[Any], path: Path) -> Path:
    """Write every message of ``runs`` as CSV to ``path``, a row at a time (:func:`messages_csv_text`'s text)."""
    from .outputs import write_atomically

    def write(temporary: Path) -> None:
        with temporary.open("w", encoding="utf-8", newline="") as out:
            _write_messages(runs, out)

    return write_atomically({path: write})[0]
