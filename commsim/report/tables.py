"""Tables for people: runs, training, verification, links and the implicit-bias experiment. Nothing here simulates."""

from __future__ import annotations

import itertools
import re
from typing import Any

from ..engines.results import NotApplicable, RunResult, StepResult, TrainingResult
from ..errors import TopologyError
from ..scenario import ITEMSIZE, Scenario
from ..units import column_unit, format_bandwidth, format_in, format_time
from .records import BIAS_TOLERANCE

PASS, FAIL = "✓", "✗"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else PASS if ok else FAIL


def _count_cell(value: int, expected: int, ok: bool | None) -> str:
    """A count and its check; the closed form in brackets only where it differs (✓ means equal)."""
    return f"{value} {_mark(ok)}" if value == expected else f"{value} ({expected}) {_mark(ok)}"


def _scaled_cell(value: float, expected: float | None, relation: str, ok: bool | None, factor: float) -> str:
    """A time or byte total in its column's unit and its check: ``"364 (≥286) ✓"`` against a bound,
    ``"56.0 ✓"`` where it equals its closed form (to 1e-9 for times), the form in brackets otherwise."""
    shown = format_in(value, factor)
    if expected is None:  # nothing to check it against: said once under the table
        return shown
    if relation == "=" and ok:
        return f"{shown} {_mark(ok)}"
    return f"{shown} ({'' if relation == '=' else relation}{format_in(expected, factor)}) {_mark(ok)}"


class _Units:
    """One time unit and one byte unit for a table's columns, chosen from its runs' values."""

    def __init__(self, runs: list[Any]) -> None:
        ran = [run for run in runs if not isinstance(run, NotApplicable)]
        self.time, self.time_factor = column_unit([run.makespan_s for run in ran], "time")
        self.bytes, self.bytes_factor = column_unit([run.bytes for run in ran], "bytes")

    def time_cell(self, run: RunResult | TrainingResult) -> str:
        exp = run.expected
        return _scaled_cell(run.makespan_s, exp.makespan_s, exp.time_relation, run.checks.get("time"), self.time_factor)

    def bytes_cell(self, run: RunResult | TrainingResult) -> str:
        return _scaled_cell(run.bytes, run.expected.bytes, "=", run.checks.get("bytes"), self.bytes_factor)


def _size_cell(run: RunResult | TrainingResult) -> str:
    sizes = sorted(run.message_bytes)
    if not sizes:
        return "-"
    return str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}..{sizes[-1]}"


WIDTH = 100  # columns a table fits by default; --wide shows them all
EXPECTED_NOTE = "✓: equals its closed form (times to 1e-9), or keeps the bound in brackets (≥ lower, ≤ upper)"


def _aligned(rows: list[tuple[str, ...]], right: set[int], droppable: tuple[str, ...] = (), wide: bool = True,
             group: int | None = None) -> list[str]:
    """Rows as aligned text (first row: the header). Unless ``wide``, the ``droppable`` columns (by the start
    of their header, first named first dropped) go until the table fits :data:`WIDTH` columns; the last line says how many.
    With ``group``, that column becomes a heading line above each run of rows that share its value."""
    keep = [i for i in range(len(rows[0])) if i != group]
    dropped = 0

    def width() -> int:
        return sum(max(len(row[i]) for row in rows) for i in keep) + 2 * (len(keep) - 1)

    for name in droppable if not wide else ():
        if width() <= WIDTH:
            break
        column = next((i for i in keep if rows[0][i].startswith(name)), None)
        if column is not None:
            keep.remove(column)
            dropped += 1
    widths = {i: max(len(row[i]) for row in rows) for i in keep}
    lines, heading = [], None
    for number, row in enumerate(rows):
        if group is not None and number and row[group] != heading:
            heading = row[group]
            lines.append(f"{heading}:")
        lines.append("  ".join(row[i].rjust(widths[i]) if i in right else row[i].ljust(widths[i]) for i in keep).rstrip())
    if dropped:
        lines.append(f"({dropped} more column{'s' * (dropped > 1)} with --wide)")
    return lines


def _speed_range(values: list[float], show: Any) -> str:
    low, high = min(values), max(values)
    return show(low) if low == high else f"{show(low)}–{show(high)}"


def describe_links(scenario: Scenario, topo: Any) -> str:
    """A topology's kind and the real speeds of its links (ranges where they differ), read off the graph
    built for the scenario's smallest worker count; the spec's own values where nothing small builds."""

    for n in sorted(set(scenario.workers)):
        if n > 4096:
            break
        try:
            graph = topo.build(n, scenario.algorithms)
        except (TopologyError, ValueError):
            continue
        edges = list(graph.edges(data=True))
        if edges:
            bandwidths = _speed_range([d["bandwidth"] for _, _, d in edges], lambda b: format_bandwidth(b, bits=True))
            latencies = _speed_range([d["latency"] for _, _, d in edges], format_time)
            return f"{topo.kind}, {bandwidths} and {latencies} per link"
    return f"{topo.kind}, {format_bandwidth(topo.bandwidth, bits=True)} and {format_time(topo.latency)} per link"


def _network_line(scenario: Scenario, extra: str = "") -> str:
    """The scenario's name, ``extra``, and per network its links' real speeds (a line per network when
    several), wrapped within :data:`WIDTH` columns."""
    if scenario.topology is not None:
        lines = [f"{scenario.name}: {describe_links(scenario, scenario.topology)}{extra}"]
    else:
        lines = [f"{scenario.name}{extra.replace(', ', ': ', 1) if extra.startswith(', ') else extra}",
                 *(f"  {topo.title}: {_unnamed(topo, describe_links(scenario, topo))}" for topo in scenario.networks)]
    return "\n".join(part for line in lines for part in wrapped(line.lstrip(), len(line) - len(line.lstrip())))


def engine_line(scenario: Scenario) -> str:
    """Which engine ran the runs, and why (``engine: auto`` says what decided it)."""
    engine, why = scenario.engine_picked
    return f"engine {engine} ({why})"


def _unnamed(topo: Any, described: str) -> str:
    """A topology without a label is titled by its kind: say its options instead of the kind again."""
    if topo.title != topo.kind:
        return described
    options = ", ".join(f"{key}={value}" for key, value in topo.options.items() if not key.endswith(("bandwidth", "latency")))
    speeds = described.removeprefix(f"{topo.kind}, ")
    return f"{options}; {speeds}" if options else speeds


def _bandwidth_column(runs: list[Any], name: str) -> tuple[str, float]:
    """The header of nccl-tests' ``name`` ("algbw", "busbw") in the unit its column needs (``"busbw (GB/s)"``,
    ``"busbw (MB/s)"`` where it is small) and that unit's factor: every cell keeps three significant digits."""
    unit, factor = column_unit([getattr(run, name) or 0.0 for run in runs if not isinstance(run, NotApplicable)],
                               "bandwidth")
    return f"{name} ({unit})", factor


def _bandwidth_cell(value: float | None, factor: float) -> str:
    return "-" if value is None else format_in(value, factor)


def _summary(runs: list[RunResult] | list[TrainingResult]) -> str:
    ran = [run for run in runs if not isinstance(run, NotApplicable)]
    stopped = sum(getattr(run, "stopped", None) is not None for run in ran)
    failed = sum(run.ok is False for run in ran)
    skipped = len(runs) - len(ran)
    ran_through = len(ran) - stopped
    matched = f"{ran_through - failed} of {ran_through} runs match their closed forms" if ran_through or not stopped else ""
    return (matched + (f"; {failed} do not" if failed else "")
            + (f"{'; ' if matched else ''}{stopped} stopped (their faults left them unable to finish)" if stopped else "")
            + (f"; {skipped} n/a (their topology or algorithm cannot take them)" if skipped else ""))


def training_table(scenario: Scenario, runs: list[TrainingResult], wide: bool = False, summary: bool = True) -> str:
    """Final loss and accuracy per optimizer, under a heading per (algorithm, workers), with the traffic
    and time checked."""
    spec = scenario.training
    lines = [_network_line(scenario, f"; {spec.model} on {spec.dataset}, {spec.steps} steps of "
                                     f"{spec.batch_per_worker} per worker")]
    lines += [engine_line(scenario), EXPECTED_NOTE, "time includes compute; compute: its share of the time"]
    units = _Units(runs)
    rows = [("", "optimizer", "final loss", "accuracy", "messages", "message size (B)", f"bytes ({units.bytes})",
             f"time ({units.time})", "compute", "replicas")]
    for run in runs:
        checks = run.checks
        rows.append((
            f"{run.algorithm}, {run.workers} workers",
            run.optimizer,
            f"{run.final_loss:.4g}" if run.loss else "-",  # a run stopped before its first step has none
            "-" if run.final_accuracy is None else f"{run.final_accuracy:.3f}",
            _count_cell(run.messages, run.expected.messages, checks.get("messages")),
            _size_cell(run),
            units.bytes_cell(run),
            "stopped" if run.stopped is not None else units.time_cell(run),
            f"{sum(run.compute_s) / run.makespan_s:.0%}" if run.makespan_s else "-",
            _mark(checks.get("replicas")),
        ))
    droppable = ("message size (B)", "accuracy")  # never a checked column
    notes = _disturbance_notes(runs)
    return "\n".join([*lines, *_aligned(rows, {2, 3, 6, 7, 8}, droppable, wide, group=0), *notes,
                      *([_summary(runs)] if summary else [])])


def _rate(value: float) -> str:
    """A throughput in three significant digits with an SI prefix: 1.23M, 456k."""
    for prefix, factor in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= factor:
            return f"{format_in(value, factor)}{prefix}"
    return format_in(value, 1.0)


def step_table(scenario: Scenario, runs: list[StepResult | NotApplicable], wide: bool = False,
               summary: bool = True) -> str:
    """Per (topology, algorithm) a heading, per strategy and worker count a row: the step and where its time
    went (compute, exposed communication, optimizer, all in the step's unit), overlap, throughput, scaling
    efficiency against one GPU, and the traffic checked against the calls' closed forms."""
    spec = scenario.workload
    arch = spec.architecture()
    what = ("sequence" if arch.per == "token" else "sample") + "s" * (spec.batch_per_gpu > 1)
    batch = f"{spec.batch_per_gpu} {what} per GPU" + (f" × {spec.accumulation} micro-steps" if spec.accumulation > 1 else "")
    lines = [_network_line(scenario, f"; {arch.name} ({arch.params / 1e9:.3g} B params), {batch}, {spec.dtype}, "
                                     f"wire {spec.wire_format}"), engine_line(scenario), EXPECTED_NOTE,
             "exposed = step - compute - optimizer; overlap: the share of communication hidden;",
             "efficiency: one GPU's step / this step (above 100 % where sharding divides the optimizer)"]
    ran = [run for run in runs if not isinstance(run, NotApplicable)]
    units = _Units(runs)
    unit = ran[0].unit if ran else "samples/s"
    rows = [("", "strategy", "workers", "buckets", f"step ({units.time})", "compute", "exposed", "optimizer",
             "overlap", unit, "efficiency", "messages", f"bytes ({units.bytes})")]
    for run in runs:
        head = f"{run.topology}, {run.algorithm}"
        if isinstance(run, NotApplicable):
            rows.append((head, "", str(run.workers), "n/a", *[""] * 9))
            continue
        checks = run.checks
        rows.append((head, run.strategy, str(run.workers), str(run.buckets) if run.strategy != "fsdp" and
                     run.strategy != "zero3" else "-",
                     "stopped" if run.stopped is not None else units.time_cell(run),
                     format_in(run.compute_s, units.time_factor), format_in(run.exposed_s, units.time_factor),
                     format_in(run.optimizer_s, units.time_factor), f"{run.overlap:.0%}", _rate(run.throughput),
                     f"{run.efficiency:.1%}", _count_cell(run.messages, run.expected.messages, checks.get("messages")),
                     units.bytes_cell(run)))
    droppable = ("messages", f"bytes ({units.bytes})", "buckets", "optimizer")
    notes = [f"n/a: {run.reason}" for run in runs if isinstance(run, NotApplicable)][:3]
    analytic = bool(ran) and all(run.engine == "analytic" for run in ran)
    if analytic:
        notes += wrapped("engine analytic: each step is the overlap recurrence of its calls' closed forms (NCCL's "
                         "own predicted times with model nccl), links never shared; nothing simulated, nothing checked")
    else:
        notes += _unchecked_times(ran)
    return "\n".join([*lines, *_aligned(rows, {2, 3, 4, 5, 6, 7, 8, 9, 10, 12}, droppable, wide, group=0), *notes,
                      *([_summary(runs)] if summary and not analytic else [])])


def table(scenario: Scenario, runs: list[RunResult] | list[TrainingResult], wide: bool = False,
          summary: bool = True) -> str:
    """The human table: each measured value beside its closed form and a check mark; it fits
    :data:`WIDTH` columns unless ``wide``; ``summary``: end with the line that counts the runs matching
    their closed forms (a sweep prints its own)."""
    if scenario.workload is not None:
        return step_table(scenario, runs, wide, summary)
    if scenario.training is not None:
        return training_table(scenario, runs, wide, summary)
    several = scenario.topology is None
    if scenario.engine == "analytic":
        return _analytic_table(scenario, runs, several, wide)
    lines = [_network_line(scenario, f", {'/'.join(scenario.dtype)}, payload {scenario.payload}")]
    lines.append(engine_line(scenario))
    lines.append(EXPECTED_NOTE)
    units = _Units(runs)
    (algbw, algbw_factor), (busbw, busbw_factor) = (_bandwidth_column(runs, name) for name in ("algbw", "busbw"))
    header = ("algorithm", "workers", "size (B)", "messages", "message size (B)",
              f"bytes ({units.bytes})", f"time ({units.time})", algbw, busbw, "mean")
    rows = [("topology", *header) if several else header]
    for run in runs:
        if isinstance(run, NotApplicable):  # the reason goes under the table, once per distinct reason
            size = str(run.params * ITEMSIZE[run.dtype])
            row = (run.algorithm, str(run.workers), size, "n/a", *[""] * (len(header) - 4))
            rows.append((run.topology, *row) if several else row)
            continue
        checks = run.checks
        row = (
            run.algorithm,
            str(run.workers),
            str(run.params * run.bytes_per_param),
            _count_cell(run.messages, run.expected.messages, checks.get("messages")),
            _size_cell(run),
            units.bytes_cell(run),
            "stopped" if run.stopped is not None else units.time_cell(run),
            _bandwidth_cell(run.algbw, algbw_factor),
            _bandwidth_cell(run.busbw, busbw_factor),
            _mark(checks.get("mean")) or "-",
        )
        rows.append((run.topology, *row) if several else row)
    right = {1 + several, 2 + several, 5 + several, 6 + several, 7 + several, 8 + several}
    droppable = ("algbw", "message size (B)", "busbw")  # never a checked column
    reasons: dict[str, int] = {}
    for run in runs:
        if isinstance(run, NotApplicable):
            reasons[run.reason] = reasons.get(run.reason, 0) + 1
    notes = [f"n/a ({count} run{'s' * (count > 1)}): {reason}" for reason, count in reasons.items()]
    notes += _nccl_notes(runs)
    notes += _disturbance_notes(runs)
    notes += _unchecked_times(runs)
    table_lines = _aligned(rows, right, droppable, wide, group=0 if several else None)
    return "\n".join([*lines, *table_lines, *notes, *([_summary(runs)] if summary else [])])


def _noted(runs: list[Any], attribute: str, time_key: str, title: str) -> tuple[list[Any], float, list[str]]:
    """The runs that carry ``attribute`` (a dict of notes), the time unit of its ``time_key`` values, and the
    notes' title (``{unit}`` replaced by that unit), wrapped; no lines when no run carries it."""
    shown = [run for run in runs if not isinstance(run, NotApplicable) and getattr(run, attribute, None) is not None]
    if not shown:
        return [], 1.0, []
    unit, factor = column_unit([getattr(run, attribute)[time_key] for run in shown], "time")
    return shown, factor, wrapped(title.format(unit=unit), 0)


def wrapped(text: str, indent: int = 0, hang: int = 2) -> list[str]:
    """``text`` broken at spaces into lines of at most :data:`WIDTH` columns, never between a number and
    the word after it ("500 us", "8 workers"): the first line indented ``indent`` columns, the rest
    ``indent + hang``."""
    import textwrap

    glued = re.sub(r"(?<=\d) (?=\S)", "\u00a0", text)  # textwrap breaks at ASCII whitespace only
    lines = textwrap.wrap(glued, WIDTH, initial_indent=" " * indent, subsequent_indent=" " * (indent + hang),
                          break_long_words=False, break_on_hyphens=False)
    return [line.replace("\u00a0", " ") for line in lines]


def _per_worker(values: list[float | None], factor: float, most: int = 32) -> str:
    """Each worker's value in a block's unit, neighbours that show the same merged: ``"1.98 on 0–6, 0 on 7,
    1.98 on 8–15"`` ("-": the worker never finished); at most ``most`` groups, then where the rest are."""
    groups: list[list[Any]] = []  # [shown value, first rank, last rank]
    for rank, value in enumerate(values):
        text = "-" if value is None else format_in(value, factor)
        if groups and groups[-1][0] == text:
            groups[-1][2] = rank
        else:
            groups.append([text, rank, rank])
    parts = [f"{text} on {first}" + (f"–{last}" if last > first else "") for text, first, last in groups[:most]]
    return ", ".join(parts) + (f", … (every worker's in results.json)" if len(groups) > most else "")


def _disturbance_notes(runs: list[Any]) -> list[str]:
    """Under a table with stragglers or faults: per run, what it lost against its uniform twin, each
    worker's compute and idle time, the critical path, and what failed, crashed, was rerouted or dropped;
    every time in the block's one unit."""
    from ..engines.activity import CriticalPath

    shown, factor, lines = _noted(runs, "disturbance", "uniform_makespan_s",
                                  "Stragglers and faults, against the same run with every worker alike and nothing failing ({unit}):")

    def show(seconds: float) -> str:
        return format_in(seconds, factor)

    for run in shown:
        info = run.disturbance
        head = f"{run.algorithm}, {run.workers} workers"
        for rank, at in info["crashed"]:
            head += f"; worker {rank} crashed at {show(at)}"
        for u, v, at in info["failed_links"]:
            head += f"; link {u}–{v} failed at {show(at)}"
        notes = []
        if info["stopped"] is not None:
            done = f" after {info['steps_done']} of {run.steps} steps" if "steps_done" in info else ""
            lines += wrapped(f"{head}: stopped{done}: {info['stopped']}", 2)
        else:
            lines += wrapped(f"{head}: {show(run.makespan_s)} against {show(info['uniform_makespan_s'])} uniform, "
                              f"lost {show(info['lost_s'])}", 2)
        if info.get("final_loss_change") is not None:
            notes.append(f"final loss {run.final_loss:.6g} against {info['uniform_final_loss']:.6g} uniform "
                         f"({info['final_loss_change']:+.3g})")
        notes.append(f"compute per worker: {_per_worker(info['compute_s'], factor)}")
        if any(t is not None for t in info["idle_s"]):
            notes.append(f"idle per worker: {_per_worker(info['idle_s'], factor)}")
        if info["critical_path"] is not None:
            path = CriticalPath(**{key: value for key, value in info["critical_path"].items() if key != "text"})
            notes.append(f"critical path: {path.describe(show)}")
        if info["rerouted_bytes"]:
            notes.append(f"rerouted: {info['rerouted_bytes']} B took a longer way round")
        if info.get("lost_messages"):
            notes.append(f"lost: {info['lost_messages']} message(s) cut off by their sender's crash, "
                         f"{info['lost_bytes']} B never sent")
        dropped = sorted({rank for call in info["dropped"] for rank in call})
        if dropped:
            calls = len(info["dropped"])
            away = f"; the mean is {run.mean['vs_all_relative']:.3g} (relative L2) from the mean of all" if getattr(run, "mean", None) and "vs_all_relative" in run.mean else ""
            kept = info["kept_makespan_s"]
            done = f"; the workers it kept finished at {show(kept)}" if kept is not None else ""
            notes.append(f"dropped: {sum(map(len, info['dropped']))} gradient(s) over {calls} round(s), "
                         f"from workers {', '.join(map(str, dropped))}{done}{away}")
        for note in notes:
            lines += wrapped(note, 4)
    return lines


def _nccl_notes(runs: list[Any]) -> list[str]:
    """Under a ``model: nccl`` table: per run, what NCCL's tuner picks (algorithm, protocol, channels) and
    NCCL's own cost model's time beside the simulated one — compared, not checked: neither is a closed form."""
    shown, factor, lines = _noted(runs, "nccl", "predicted_s",
                                  "NCCL (model nccl), times in {unit}: what NCCL picks, and the time its own cost model "
                                  "predicts beside the simulated one (compared, not checked: neither is a closed form):")
    if not shown:
        return []
    rows = [("topology", "algorithm", "workers", "size (B)", "picks", "channels", "NCCL model", "simulated",
             "difference")]
    for run in shown:
        info = run.nccl
        rows.append((run.topology, run.algorithm, str(run.workers), str(run.params * run.bytes_per_param),
                     f"{info['algorithm']}/{info['protocol']}", str(info["channels"]),
                     "none" if info["predicted_s"] is None else format_in(info["predicted_s"], factor),
                     format_in(run.makespan_s, factor),
                     "" if info["predicted_s"] is None else f"{(run.makespan_s - info['predicted_s']) / info['predicted_s']:+.1%}"))
    several = len({run.topology for run in shown}) > 1
    return lines + _aligned(rows if several else [row[1:] for row in rows], {i + several for i in (1, 2, 4, 5, 6, 7)},
                            group=0 if several else None)


def _unchecked_times(runs: list[Any]) -> list[str]:
    """The line that says how many finished runs have a time with no closed form (NCCL's model, a server that
    drops stragglers): their time is shown, not checked."""
    finished = [run for run in runs if not isinstance(run, NotApplicable) and getattr(run, "stopped", None) is None]
    unchecked = [run for run in finished if run.expected.makespan_s is None]
    if not unchecked:
        return []
    if len(unchecked) == 1:
        return ["the time of 1 run has no closed form and is not checked (no ✓ or ✗ beside it)"]
    return [f"the times of {len(unchecked)} runs have no closed form and are not checked (no ✓ or ✗ beside them)"]


def _analytic_table(scenario: Scenario, runs: list[RunResult], several: bool, wide: bool = False) -> str:
    """The twin's answers, nothing simulated; "≥" marks a lower bound where links are shared."""
    lines = [_network_line(scenario, f", {'/'.join(scenario.dtype)}; engine analytic: closed forms only, nothing simulated")]
    answered = [run for run in runs if not isinstance(run, NotApplicable)]
    time_unit, time_factor = column_unit([run.expected.makespan_s or 0.0 for run in answered], "time")
    bytes_unit, bytes_factor = column_unit([run.expected.bytes for run in answered], "bytes")
    (algbw, algbw_factor), (busbw, busbw_factor) = (_bandwidth_column(answered, name) for name in ("algbw", "busbw"))
    header = ("algorithm", "workers", "params", "messages", "message size (B)", f"total bytes ({bytes_unit})",
              f"time ({time_unit})", algbw, busbw, "formula")
    rows = [("topology", *header) if several else header]
    for run in answered:
        exp = run.expected
        relation = "" if exp.time_relation == "=" else exp.time_relation
        time = "no closed form" if exp.makespan_s is None else f"{relation}{format_in(exp.makespan_s, time_factor)}"
        row = (run.algorithm, str(run.workers), str(run.params), str(exp.messages), _size_cell(run),
               format_in(exp.bytes, bytes_factor), time, _bandwidth_cell(run.algbw, algbw_factor),
               _bandwidth_cell(run.busbw, busbw_factor),
               exp.time_formula)
        rows.append((run.topology, *row) if several else row)
    bounds = sum(run.expected.time_relation == "≥" for run in answered)
    why = ("the workers compute unevenly; a simulation would take longer" if scenario.stragglers
           else "links are shared there, and a simulation would take longer")
    note = (f"{bounds} of {len(answered)} times are lower bounds (≥): {why}" if bounds
            else f"all {len(answered)} times are exact on these contention-free networks")
    right = {i + several for i in range(1, 9)}
    droppable = ("formula", "algbw", "message size (B)")
    return "\n".join([*lines, *_aligned(rows, right, droppable, wide, group=0 if several else None), note])


def _vector(values: Any) -> str:
    return "[" + ", ".join(f"{value:.7g}" for value in values) + "]"


def bias_table(rows: list[Any]) -> str:
    """Each optimizer's limit, and under it the minimum-norm solution of its norm."""
    lines = wrapped("implicit bias on a·θ = 1, a = [1, 0.1, 0.01], θ0 = 0: each limit, and under it the "
                     "minimum-norm solution of the optimizer's norm", 0)
    table_rows = [("optimizer", "norm", "limit / minimum-norm solution", "max |error|", "")]
    for row in rows:
        table_rows.append((row.name, row.norm, _vector(row.limit), f"{row.max_abs_error:.1e}",
                           _mark(row.max_abs_error <= BIAS_TOLERANCE)))
        table_rows.append(("", "", _vector(row.reference), "", ""))
    return "\n".join([*lines, *_aligned(table_rows, set())])


def verify_table(checks: list[Any], every_point: bool = False) -> str:
    """Simulated against analytic: one line per algorithm (its worst point), or every point."""
    lines = wrapped("simulated vs analytic on fully_connected (contention-free), size-only fp32, 100 Gbit/s and "
                     "5 us per link; messages: the closed form's count in brackets where it differs", 0)
    unit, factor = column_unit([c.makespan_s for c in checks], "time")
    rows = [("algorithm", "workers", "params", "messages", f"simulated ({unit})", f"analytic ({unit})",
             "rel. error", "")]
    by_algorithm: dict[str, list[Any]] = {}
    for c in checks:
        by_algorithm.setdefault(c.algorithm, []).append(c)
    for name, points in by_algorithm.items():
        shown = points if every_point else [max(points, key=lambda c: (not c.ok, c.relative_error))]
        for c in shown:
            workers, params = str(c.workers), str(c.params)
            messages = str(c.messages) + ("" if c.messages == c.expected_messages else f" ({c.expected_messages})")
            rows.append((name, workers, params, messages,
                         format_in(c.makespan_s, factor), format_in(c.expected_s, factor), f"{c.relative_error:.1e}",
                         _mark(all(p.ok for p in points) if not every_point else c.ok)))
    failed = sum(not c.ok for c in checks)
    summary = f"{len(checks) - failed} of {len(checks)} points agree to 1e-9" + (f"; {failed} do not" if failed else "")
    if not every_point:
        counts = sorted({c.workers for c in checks})
        sizes = ", ".join(str(p) for p in dict.fromkeys(c.params for c in checks))
        lines += wrapped(f"one line per algorithm: its worst point (its workers and params shown) over every "
                         f"combination of workers {counts[0]}..{counts[-1]} and params {sizes}", 0)
    return "\n".join([*lines, *_aligned(rows, {1, 2, 4, 5, 6}), summary])


def links_table(runs: list[RunResult]) -> str:
    """Each simulated run's five busiest links (by busy time = bytes/bandwidth): bytes, busy time, utilisation,
    under a heading per run."""
    hottest = [(run, link) for run in runs if getattr(run, "bytes_per_link", None) for link in run.hottest_links()]
    bytes_unit, bytes_factor = column_unit([link["bytes"] for _, link in hottest], "bytes")
    time_unit, time_factor = column_unit([link["busy_s"] for _, link in hottest], "time")
    rows = [("", "link", f"bytes ({bytes_unit})", f"busy ({time_unit})", "utilisation")]
    for run, link in hottest:
        rows.append((f"{run.algorithm} on {run.topology}, {run.workers} workers, {run.params} params", link["link"],
                     format_in(link["bytes"], bytes_factor), format_in(link["busy_s"], time_factor),
                     f"{link['utilisation']:.1%}"))
    return "\n".join(["busiest links (busy = bytes / bandwidth; utilisation = busy / makespan), under each run:",
                      *_aligned(rows, {2, 3, 4}, group=0)])


def _size_text(size: int) -> str:
    """A power-of-two size as nccl-tests users read it: "64 KiB", "8 GiB" (bytes otherwise)."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} B"


def _percent(error: float) -> str:
    """A signed relative error to 0.1 % ("+0.0%" for what rounds to zero either side, never "-0.0%")."""
    text = f"{error:+.1%}"
    return "+0.0%" if text == "-0.0%" else text


def validation_misses(cases: list[Any]) -> str:
    """Every held point outside its target, under its table's title: its size and error, the points of one cause
    together, then the cause the cases file states for them ("cause not stated" where it states none); then how
    many have a cause."""
    lines, missed, stated = [], 0, 0
    for case in cases:
        misses = case.misses
        if not misses:
            continue
        lines += wrapped(f"{case.title} ({case.file}):", 0)
        for cause, group in itertools.groupby(misses, key=lambda p: p.cause):
            points = list(group)
            missed, stated = missed + len(points), stated + len(points) * bool(cause)
            # a size and its error on one line (wrapped() breaks at no non-breaking space and prints it as a space)
            lines += wrapped(", ".join(f"{_size_text(p.size)}\u00a0{_percent(p.error)}" for p in points) + ":", 2)
            lines += wrapped(cause or "cause not stated", 6, 0)
    summary = f"{missed} held point{'s' * (missed != 1)} outside target, {stated} with a stated cause"
    return "\n".join(["held points outside their target, with their cause (validation/cases.yaml 'causes'):",
                      *lines, summary])


def validation_table(cases: list[Any]) -> str:
    """Per measured table: size, measured time, the NCCL mode's simulated time and its relative error
    against its target (✓ within, ✗ outside, on held points only), NCCL's own model's time and error, its
    pick and whether the point is held (and why); then a summary of the held points."""
    blocks = []
    for case in cases:
        unit, factor = column_unit([p.measured_s for p in case.points], "time")
        label = "calibrated" if case.calibrated else "simulated"
        rows = [("size", f"measured ({unit})", f"{label} ({unit})", "error", f"NCCL ({unit})", "error", "picks",
                 "held")]
        for p in case.points:
            mark = _mark(p.within) if p.held else ""
            model = "—" if p.predicted_s is None else format_in(p.predicted_s, factor)
            model_error = "—" if p.model_error is None else _percent(p.model_error)
            rows.append((_size_text(p.size), format_in(p.measured_s, factor), format_in(p.simulated_s, factor),
                         f"{_percent(p.error)} {mark}".rstrip(), model, model_error, p.pick,
                         f"{'yes' if p.held else 'no'} ({p.reason})"))
        counted = "" if case.counts else f"  [not counted: {case.why}]"
        collective = "" if case.collective == "all_reduce" else f" {case.collective},"
        heading = (f"{case.title}: {case.preset} × {case.nodes},{collective} "
                   f"{'ring forced' if case.algorithm == 'ring' else 'NCCL chooses'}; {case.launch}, launch floor "
                   f"{case.floor_s * 1e6:.3g} us" + ("; CALIBRATED (not spec-only)" if case.calibrated else ""))
        blocks.append("\n".join([*wrapped(heading + counted, 0), *_aligned(rows, right={1, 2, 3, 4, 5})]))
    points = [p for case in cases for p in case.points]
    held = [p for p in points if p.held]
    counted = sum(case.counts for case in cases)
    calibrated = "calibrated, " if any(case.calibrated for case in cases) else ""
    shown_only = len(cases) - counted
    summary = (f"{calibrated}{sum(1 for p in held if p.within)} of {len(held)} held points within target (±5 % from "
               f"1 MiB to 8 GiB, ±15 % below 1 MiB) on {counted} counted table{'s' * (counted != 1)}; "
               f"{len(points) - len(held)} points not held (no target at their size, a -g N table's launch floor "
               f"at 5 % or more of the time, or a table not counted)"
               + (f"; {shown_only} table{'s' * (shown_only != 1)} shown, not counted" if shown_only else ""))
    return "\n\n".join([*blocks, "\n".join(wrapped(summary, 0))])


def training_validation_table(cases: list[Any]) -> str:
    """Per published table: per row of more than one GPU its precision, GPUs, the measured 1-GPU step that
    configures it, the measured and predicted n-GPU step (ms), the error (✓ within ±5 %, ✗ outside), whether
    the row counts, and the measured and predicted throughput; then a summary of the counted rows."""
    blocks = []
    for case in cases:
        rows = [("precision", "GPUs", "1-GPU ms", "measured ms", "predicted ms", "error", "counts", "measured/s",
                 "predicted/s")]
        for row in case.rows:
            rows.append((row.precision, str(row.gpus), f"{row.one_gpu_s * 1e3:.1f}", f"{row.measured_s * 1e3:.1f}",
                         f"{row.predicted_s * 1e3:.1f}", f"{row.error:+.1%} {_mark(row.within)}",
                         "yes" if row.counts else "no", f"{row.measured_throughput:,.0f}",
                         f"{row.predicted_throughput:,.0f}"))
        setup = (f"{case.preset} × {case.nodes} node{'s' * (case.nodes > 1)}, {case.model}, {case.strategy}, model "
                 f"nccl; each row predicted from its precision's measured 1-GPU step; throughput in {case.unit}")
        notes = [line for precision, setting in case.precisions.items() if not setting.counts
                 for line in wrapped(f"{precision} not counted: {setting.why}", 0, 2)]
        blocks.append("\n".join([*wrapped(case.title, 0), *wrapped(setup, 2, 2),
                                 *_aligned(rows, right={1, 2, 3, 4, 5, 7, 8}), *notes]))
    counted = [row for case in cases for row in case.rows if row.counts]
    shown_only = sum(not row.counts for case in cases for row in case.rows)
    summary = (f"{sum(row.within for row in counted)} of {len(counted)} counted rows within ±5 % of the measured "
               f"step" + (f"; {shown_only} row{'s' * (shown_only != 1)} shown, not counted" if shown_only else ""))
    return "\n\n".join([*blocks, "\n".join(wrapped(summary, 0))])
