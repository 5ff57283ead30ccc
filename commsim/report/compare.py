"""``commsim compare``: one table (and a grouped bar chart) of simulated time per algorithm and topology.

Rows are algorithms (with any other coordinate that varies in the scenario), columns the topologies
or any swept key given with ``--by``; each cell the simulated time, with nccl-tests' busbw and the
utilisation of the busiest link under it. The fastest cell of each row is marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..units import column_unit, format_in

BY = ("topology", "workers", "params", "dtype")
COORDINATES = ("algorithm", "topology", "workers", "params", "dtype")
BEST = "*"


@dataclass(frozen=True)
class Comparison:
    """Cells by (row, column): a run's JSON record, None where the scenario has no such point."""

    by: str
    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], dict[str, Any]]

    def best(self, row: str) -> list[str]:
        """The columns where ``row`` ran fastest (all of them on a tie to 1e-12; none if nothing ran)."""
        timed = {column: cell["makespan_s"] for column in self.columns
                 if (cell := self.cells.get((row, column))) is not None and "makespan_s" in cell}
        fastest = min(timed.values(), default=None)
        return [column for column, time in timed.items() if time <= fastest * (1 + 1e-12)]


def comparison(records: list[dict[str, Any]], by: str = "topology") -> Comparison:
    """Arrange records into rows (algorithm and every other varying coordinate) × columns (values of ``by``)."""
    if by not in BY:
        raise ValueError(f"--by: {by!r} is not a swept key; choose one of {', '.join(BY)}")
    varying = [key for key in COORDINATES if key not in ("algorithm", by) and len({r[key] for r in records}) > 1]

    def row_of(record: dict[str, Any]) -> str:
        return " ".join([record["algorithm"], *(f"{key}={record[key]}" for key in varying)])

    rows = list(dict.fromkeys(row_of(record) for record in records))
    columns = list(dict.fromkeys(str(record[by]) for record in records))
    cells = {(row_of(record), str(record[by])): record for record in records}
    return Comparison(by, rows, columns, cells)


def _cell_lines(cell: dict[str, Any] | None, best: bool, factor: float) -> tuple[str, str]:
    """A cell's time in the table's unit (``factor`` seconds), and under it busbw (GB/s) and the busiest link."""
    if cell is None:
        return "-", ""
    if "unavailable" in cell:
        return "n/a", ""
    time = format_in(cell["makespan_s"], factor) + (f" {BEST}" if best else "")
    busbw = "" if cell.get("busbw_Bps") is None else f"{format_in(cell['busbw_Bps'], 1e9)} GB/s"
    links = cell.get("hottest_links") or []
    busiest = f"{links[0]['utilisation']:.0%}" if links else ""
    return time, " ".join(part for part in (busbw, busiest and f"link {busiest}") if part)


def table_text(result: Comparison) -> str:
    """The comparison as aligned text: two lines per row (time; busbw and busiest-link utilisation)."""
    header = [result.by if result.by != "topology" else "algorithm \\ topology", *result.columns]
    unit, factor = column_unit([cell["makespan_s"] for cell in result.cells.values() if "makespan_s" in cell], "time")
    lines: list[list[str]] = [header]
    for row in result.rows:
        best = result.best(row)
        pairs = [_cell_lines(result.cells.get((row, column)), column in best, factor) for column in result.columns]
        lines.append([row, *(time for time, _ in pairs)])
        lines.append(["", *(detail for _, detail in pairs)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
            for line in lines]
    note = (f"simulated time ({unit}) per cell, {BEST} the fastest in its row (ties all marked); under it nccl-tests' busbw "
            "and the busiest link's utilisation")
    return "\n".join([note, *text])


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _title(result: Comparison, networks: dict[str, str]) -> str:
    """What every cell shares: the workers and the buffer where each is one value, and the network where it
    is one (by topology: every column's the same, else the legend says each)."""
    ran = [cell for cell in result.cells.values() if "makespan_s" in cell]
    workers = sorted({cell["workers"] for cell in ran})
    buffers = sorted({(cell["params"], cell["dtype"], cell["params"] * cell["bytes_per_param"]) for cell in ran})
    from .plots import buffer_text

    where = "" if len(workers) == 1 else " (per column)" if result.by == "workers" else " (per row)"
    parts = [f"{', '.join(map(str, workers[:-1]))}{' or ' * (len(workers) > 1)}{workers[-1]} workers{where}"]
    if len(buffers) == 1:
        params, dtype, size = buffers[0]
        parts.append(f"{buffer_text(size)} buffer ({params:,} {dtype})")
    topologies = {cell["topology"] for cell in ran}
    texts = {networks[title] for title in topologies if title in networks}
    if len(texts) == 1 and (result.by == "topology" or len(topologies) == 1):
        parts.append(texts.pop() if result.by == "topology" else f"on {topologies.pop()}: {texts.pop()}")
    return f"simulated time per algorithm and {result.by}\n" + ", ".join(parts)


def figure(result: Comparison, networks: Sequence[Any] = ()) -> Any:
    """One group per row, one dot per column at its simulated time on a log axis (a bar there would start at
    an arbitrary floor: its length would mean nothing); "n/a" where the column cannot run the row's algorithm.
    The title says the workers, the buffer and the network (``networks``: the scenario's topology specs)."""
    import matplotlib
    import matplotlib.ticker

    from .plots import _pyplot, network_text

    plt = _pyplot()
    described = {spec.title: network_text(spec) for spec in networks}
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(result.rows) + 2), 4.8), layout="constrained")
    width = 0.8 / max(len(result.columns), 1)
    unit, factor = column_unit([cell["makespan_s"] for cell in result.cells.values() if "makespan_s" in cell], "time")
    below = matplotlib.transforms.blended_transform_factory(ax.transData, ax.transAxes)
    apart = result.by == "topology" and len(set(described.values())) > 1  # each network in its legend entry
    for k, column in enumerate(result.columns):
        xs, times = [], []
        for x, row in enumerate(result.rows):
            at = x + (k - (len(result.columns) - 1) / 2) * width
            cell = result.cells.get((row, column))
            if cell is not None and "makespan_s" in cell:
                xs.append(at)
                times.append(cell["makespan_s"] / factor)
            else:
                ax.text(at, 0.02, "n/a" if cell is not None else "not\nrun", transform=below, ha="center", va="bottom",
                        fontsize=9, fontweight="bold", color=f"C{k % 10}")
        label = f"{column}: {described[column]}" if apart and column in described else column
        ax.plot(xs, times, linestyle="none", marker=MARKERS[k % len(MARKERS)], markersize=8, color=f"C{k % 10}",
                label=label)
    ax.set_xticks(range(len(result.rows)), result.rows, rotation=20, ha="right")
    ax.set_xlim(-0.5, len(result.rows) - 0.5)
    ax.set_xticks([x - 0.5 for x in range(1, len(result.rows))], minor=True)  # a rule between groups
    ax.tick_params(axis="x", which="minor", length=0)
    ax.grid(axis="x", which="minor", color="0.85", linewidth=0.8)
    ax.set_yscale("log")
    ax.grid(axis="y", which="both", color="0.93", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    # minor ticks labelled at 2× and 5× only, so a log axis spanning decades stays legible
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(
        lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "25" else ""))
    ax.set_ylabel(f"simulated time ({unit})")
    ax.set_xlabel("algorithm")
    ax.set_title(_title(result, described), fontsize=10)
    ax.legend(title=result.by, fontsize="small")
    return fig


def save_figure(result: Comparison, directory: Path, networks: Sequence[Any] = ()) -> list[Path]:
    """``compare_by_<by>.png`` and ``.svg`` in ``directory`` (without timestamps, written whole)."""
    from .plots import save

    return save(figure(result, networks), directory, f"compare_by_{result.by}", dpi=120)
