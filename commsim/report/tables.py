"""Tables for people: runs, training, verification, links and the implicit-bias experiment. Nothing here simulates."""

from __future__ import annotations

from typing import Any

from ..engines.results import NotApplicable, RunResult, TrainingResult
from ..errors import TopologyError
from ..scenario import ITEMSIZE, Scenario
from ..units import format_bandwidth, format_bytes, format_time
from .records import BIAS_TOLERANCE

PASS, FAIL = "✓", "✗"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else PASS if ok else FAIL


def _time_cell(run: RunResult | TrainingResult) -> str:
    exp = run.expected
    if exp.makespan_s is None:
        return f"{format_time(run.makespan_s)} (no closed form)"
    relation = "" if exp.time_relation == "=" else exp.time_relation
    return f"{format_time(run.makespan_s)} ({relation}{format_time(exp.makespan_s)}) {_mark(run.checks.get('time'))}"


def _size_cell(run: RunResult | TrainingResult) -> str:
    sizes = sorted(run.message_bytes)
    if not sizes:
        return "-"
    shown = format_bytes(sizes[0]) if len(sizes) == 1 else f"{format_bytes(sizes[0])}..{format_bytes(sizes[-1])}"
    return shown


WIDTH = 100  # columns a table fits by default; --wide shows them all
EXPECTED_NOTE = "each value (its closed form; ≥ a lower bound, ≤ an upper one) and ✓ where they agree"


def _aligned(rows: list[tuple[str, ...]], right: set[int], droppable: tuple[str, ...] = (), wide: bool = True) -> list[str]:
    """Rows as aligned text (first row: the header). Unless ``wide``, the ``droppable`` columns (by header,
    first named first dropped) go until the table fits :data:`WIDTH` columns; the header says how many."""
    keep = list(range(len(rows[0])))
    dropped = 0

    def width() -> int:
        return sum(max(len(row[i]) for row in rows) for i in keep) + 2 * (len(keep) - 1)

    for name in droppable if not wide else ():
        if width() <= WIDTH:
            break
        if name in rows[0]:
            keep.remove(rows[0].index(name))
            dropped += 1
    widths = {i: max(len(row[i]) for row in rows) for i in keep}
    lines = [
        "  ".join(row[i].rjust(widths[i]) if i in right else row[i].ljust(widths[i]) for i in keep).rstrip()
        for row in rows
    ]
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
    """The scenario's name, ``extra``, and per network its links' real speeds (a line per network when several)."""
    if scenario.topology is not None:
        return f"{scenario.name}: {describe_links(scenario, scenario.topology)}{extra}"
    return "\n".join([f"{scenario.name}{extra.replace(', ', ': ', 1) if extra.startswith(', ') else extra}",
                      *(f"  {topo.title}: {describe_links(scenario, topo)}" for topo in scenario.networks)])


def _bandwidth_cell(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e9:.2f}"


def _summary(runs: list[RunResult] | list[TrainingResult]) -> str:
    ran = [run for run in runs if not isinstance(run, NotApplicable)]
    failed = sum(run.ok is False for run in ran)
    skipped = len(runs) - len(ran)
    return (f"{len(ran) - failed} of {len(ran)} runs match their closed forms" + (f"; {failed} do not" if failed else "")
            + (f"; {skipped} n/a (their topology or algorithm cannot take them)" if skipped else ""))


def training_table(scenario: Scenario, runs: list[TrainingResult], wide: bool = False) -> str:
    """Final loss and accuracy per (algorithm, optimizer), with the traffic and time checked."""
    spec = scenario.training
    lines = [_network_line(scenario, f"; {spec.model} on {spec.dataset}, {spec.steps} steps of {spec.batch_per_worker} per worker")]
    lines.append(EXPECTED_NOTE + "; time includes compute")
    rows = [("algorithm", "workers", "optimizer", "final loss", "accuracy", "messages", "message size",
             "bytes", "time", "compute share", "replicas")]
    for run in runs:
        checks = run.checks
        rows.append((
            run.algorithm,
            str(run.workers),
            run.optimizer,
            f"{run.final_loss:.4g}",
            "-" if run.final_accuracy is None else f"{run.final_accuracy:.3f}",
            f"{run.messages} ({run.expected.messages}) {_mark(checks['messages'])}",
            _size_cell(run),
            f"{format_bytes(run.bytes)} ({format_bytes(run.expected.bytes)}) {_mark(checks['bytes'])}",
            _time_cell(run),
            f"{sum(run.compute_s) / run.makespan_s:.0%}" if run.makespan_s else "-",
            _mark(checks["replicas"]),
        ))
    droppable = ("message size", "accuracy")  # never a checked column
    return "\n".join([*lines, *_aligned(rows, {1, 3, 4}, droppable, wide), _summary(runs)])


def table(scenario: Scenario, runs: list[RunResult] | list[TrainingResult], wide: bool = False) -> str:
    """The human table: each measured value beside its closed form and a check mark; it fits
    :data:`WIDTH` columns unless ``wide``."""
    if scenario.training is not None:
        return training_table(scenario, runs, wide)
    several = scenario.topology is None
    if scenario.engine == "analytic":
        return _analytic_table(scenario, runs, several)
    lines = [_network_line(scenario, f", {'/'.join(scenario.dtype)}, payload {scenario.payload}")]
    lines.append(EXPECTED_NOTE)
    header = ("algorithm", "workers", "size (B)", "messages", "message size",
              "bytes", "time", "algbw GB/s", "busbw GB/s", "mean")
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
            f"{run.messages} ({run.expected.messages}) {_mark(checks['messages'])}",
            _size_cell(run),
            f"{format_bytes(run.bytes)} ({format_bytes(run.expected.bytes)}) {_mark(checks['bytes'])}",
            _time_cell(run),
            _bandwidth_cell(run.algbw),
            _bandwidth_cell(run.busbw),
            _mark(checks.get("mean")) or "-",
        )
        rows.append((run.topology, *row) if several else row)
    right = {1 + several, 2 + several, 7 + several, 8 + several}
    droppable = ("algbw GB/s", "message size", "busbw GB/s")  # never a checked column
    reasons: dict[str, int] = {}
    for run in runs:
        if isinstance(run, NotApplicable):
            reasons[run.reason] = reasons.get(run.reason, 0) + 1
    notes = [f"n/a ({count} run{'s' * (count > 1)}): {reason}" for reason, count in reasons.items()]
    return "\n".join([*lines, *_aligned(rows, right, droppable, wide), *notes, _summary(runs)])


def _analytic_table(scenario: Scenario, runs: list[RunResult], several: bool) -> str:
    """The twin's answers, nothing simulated; "≥" marks a lower bound where links are shared."""
    lines = [_network_line(scenario, f", {'/'.join(scenario.dtype)}; engine analytic: closed forms only, nothing simulated")]
    header = ("algorithm", "workers", "params", "messages", "message size", "total bytes", "time", "algbw GB/s",
              "busbw GB/s", "formula")
    rows = [("topology", *header) if several else header]
    for run in runs:
        if isinstance(run, NotApplicable):
            continue
        exp = run.expected
        relation = "" if exp.time_relation == "=" else exp.time_relation
        time = "no closed form" if exp.makespan_s is None else f"{relation}{format_time(exp.makespan_s)}"
        row = (run.algorithm, str(run.workers), str(run.params), str(exp.messages), _size_cell(run),
               format_bytes(exp.bytes), time, _bandwidth_cell(run.algbw), _bandwidth_cell(run.busbw), exp.time_formula)
        rows.append((run.topology, *row) if several else row)
    bounds = sum(run.expected.time_relation == "≥" for run in runs)
    note = (f"{bounds} of {len(runs)} times are lower bounds (≥): links are shared there, and a simulation would take "
            "longer" if bounds else f"all {len(runs)} times are exact on these contention-free networks")
    right = {1 + several, 2 + several, 3 + several, 7 + several, 8 + several}
    return "\n".join([*lines, *_aligned(rows, right), note])


def _vector(values: Any) -> str:
    return "[" + ", ".join(f"{value:.7g}" for value in values) + "]"


def bias_table(rows: list[Any]) -> str:
    """Each optimizer's limit beside the minimum-norm solution of its norm."""
    lines = ["implicit bias on a·θ = 1, a = [1, 0.1, 0.01], θ0 = 0: each limit beside the minimum-norm solution"]
    table_rows = [("optimizer", "limit", "minimum-norm solution", "norm", "max |error|", "")]
    for row in rows:
        table_rows.append((
            row.name, _vector(row.limit), _vector(row.reference), row.norm, f"{row.max_abs_error:.1e}",
            _mark(row.max_abs_error <= BIAS_TOLERANCE),
        ))
    return "\n".join([*lines, *_aligned(table_rows, set())])


def verify_table(checks: list[Any], every_point: bool = False) -> str:
    """Simulated against analytic: one line per algorithm (its worst point), or every point."""
    lines = ["simulated vs analytic on fully_connected (contention-free), size-only fp32, 100 Gbit/s and 5 us per link"]
    rows = [("algorithm", "workers", "params", "messages (analytic)", "simulated time", "analytic time", "rel. error", "")]
    by_algorithm: dict[str, list[Any]] = {}
    for c in checks:
        by_algorithm.setdefault(c.algorithm, []).append(c)
    for name, points in by_algorithm.items():
        shown = points if every_point else [max(points, key=lambda c: (not c.ok, c.relative_error))]
        for c in shown:
            workers = str(c.workers) if every_point else f"{min(p.workers for p in points)}..{max(p.workers for p in points)}"
            params = str(c.params) if every_point else ",".join(str(p) for p in dict.fromkeys(p.params for p in points))
            rows.append((name, workers, params, f"{c.messages} ({c.expected_messages})",
                         format_time(c.makespan_s), format_time(c.expected_s), f"{c.relative_error:.1e}",
                         _mark(all(p.ok for p in points) if not every_point else c.ok)))
    failed = sum(not c.ok for c in checks)
    summary = f"{len(checks) - failed} of {len(checks)} points agree to 1e-9" + (f"; {failed} do not" if failed else "")
    if not every_point:
        lines.append("one line per algorithm: its worst point over every workers × params combination")
    return "\n".join([*lines, *_aligned(rows, {1, 4, 5, 6}), summary])


def links_table(runs: list[RunResult]) -> str:
    """Each simulated run's five busiest links (by busy time = bytes/bandwidth): bytes, busy time, utilisation."""
    rows = [("topology", "algorithm", "workers", "params", "link", "bytes", "busy", "utilisation")]
    for run in runs:
        for link in run.hottest_links() if getattr(run, "bytes_per_link", None) else ():
            rows.append((run.topology, run.algorithm, str(run.workers), str(run.params), link["link"],
                         format_bytes(link["bytes"]), format_time(link["busy_s"]), f"{link['utilisation']:.1%}"))
    return "\n".join(["busiest links (busy = bytes / bandwidth; utilisation = busy / makespan)", *_aligned(rows, {2, 3, 5, 6, 7})])
