"""``commsim compare``: one table (and a grouped bar chart) of simulated time per algorithm and topology.

Rows are algorithms (with any other coordinate that varies in the scenario), columns the topologies
or any swept key given with ``--by``; each cell the simulated time, with nccl-tests' busbw and the
utilisation of the busiest link under it. Two marks answer the two questions a comparison asks: ``*``
the fastest column of each row (the best topology for an algorithm), ``+`` the fastest algorithm in each
column among the rows that differ only by algorithm. Times within 0.5 % of the fastest tie with it:
every one is marked, and the table lists the ties; the times are printed with as many digits as it
takes to tell apart those that do not tie.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..units import column_unit, format_in
from .tables import WIDTH, wrapped

BY = ("topology", "workers", "params", "dtype")
COORDINATES = ("algorithm", "topology", "workers", "params", "dtype")
BEST = "*"  # the fastest column of its row
BEST_ALGORITHM = "+"  # the fastest algorithm of its column (among rows alike but for the algorithm)
TIE = 0.005  # a time within 0.5 % of the fastest ties with it


@dataclass(frozen=True)
class Comparison:
    """Cells by (row, column): a run's JSON record, None where the scenario has no such point. ``groups``:
    each row's coordinates other than its algorithm (rows of one group differ only by algorithm)."""

    by: str
    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], dict[str, Any]]
    groups: dict[str, str] = field(default_factory=dict)

    def time(self, row: str, column: str) -> float | None:
        """The cell's simulated time; None where nothing ran (no point, or n/a)."""
        cell = self.cells.get((row, column))
        return cell["makespan_s"] if cell is not None and "makespan_s" in cell else None

    def best(self, row: str) -> list[str]:
        """The columns where ``row`` ran fastest, ties within :data:`TIE` included (none if nothing ran)."""
        return _fastest({column: self.time(row, column) for column in self.columns})

    def best_algorithms(self, column: str) -> list[str]:
        """The rows that ran fastest in ``column`` among those of their group (ties within :data:`TIE`)."""
        fastest: list[str] = []
        for group in dict.fromkeys(self.groups.get(row, "") for row in self.rows):
            fastest += _fastest({row: self.time(row, column) for row in self.rows if self.groups.get(row, "") == group})
        return fastest

    def compared(self) -> list[list[float]]:
        """The sets of times the marks compare: each row's, and each column's within each group."""
        sets = [[t for column in self.columns if (t := self.time(row, column)) is not None] for row in self.rows]
        for column in self.columns:
            for group in dict.fromkeys(self.groups.get(row, "") for row in self.rows):
                sets.append([t for row in self.rows if self.groups.get(row, "") == group
                             and (t := self.time(row, column)) is not None])
        return sets


def _fastest(times: dict[str, float | None]) -> list[str]:
    """The keys whose time is within :data:`TIE` of the smallest."""
    timed = {key: t for key, t in times.items() if t is not None}
    fastest = min(timed.values(), default=None)
    return [key for key, t in timed.items() if t <= fastest * (1 + TIE)]


def tied(a: float, b: float) -> bool:
    """Two times within :data:`TIE` of each other."""
    return abs(a - b) <= TIE * min(a, b)


def comparison(records: list[dict[str, Any]], by: str = "topology") -> Comparison:
    """Arrange records into rows (algorithm and every other varying coordinate) × columns (values of ``by``)."""
    if by not in BY:
        raise ValueError(f"--by: {by!r} is not a swept key; choose one of {', '.join(BY)}")
    varying = [key for key in COORDINATES if key not in ("algorithm", by) and len({r[key] for r in records}) > 1]

    def group_of(record: dict[str, Any]) -> str:
        return " ".join(f"{key}={record[key]}" for key in varying)

    def row_of(record: dict[str, Any]) -> str:
        return " ".join(part for part in (record["algorithm"], group_of(record)) if part)

    rows = list(dict.fromkeys(row_of(record) for record in records))
    columns = list(dict.fromkeys(str(record[by]) for record in records))
    cells = {(row_of(record), str(record[by])): record for record in records}
    groups = {row_of(record): group_of(record) for record in records}
    return Comparison(by, rows, columns, cells, groups)


def digits_needed(result: Comparison, factor: float) -> int:
    """3 significant digits, or 4 where two compared times that do not tie would print alike at 3 in the
    table's unit (``factor`` seconds). Four always tell them apart: they differ by more than :data:`TIE`
    (0.5 %), and four digits round by at most 0.05 %."""
    apart = all(format_in(a, factor) != format_in(b, factor)
                for times in result.compared() for a, b in itertools.combinations(times, 2) if not tied(a, b))
    return 3 if apart else 4


def _cell_lines(cell: dict[str, Any] | None, marks: str, factor: float, digits: int, bandwidth: float) -> tuple[str, str]:
    """A cell's time in the table's unit (``factor`` seconds, ``digits`` significant) and its marks (two
    columns, blank where none), and under
    it busbw (in the table's bandwidth unit, ``bandwidth`` B/s) and the busiest link's utilisation."""
    if cell is None:
        return "-   ", ""
    if "unavailable" in cell:
        return "n/a   ", ""
    time = f"{format_in(cell['makespan_s'], factor, digits)} {marks:<2}"  # marks padded: the numbers stay aligned
    busbw = "" if cell.get("busbw_Bps") is None else format_in(cell["busbw_Bps"], bandwidth)
    links = cell.get("hottest_links") or []
    busiest = f"{links[0]['utilisation']:.0%}" if links else ""
    return time, " ".join(part for part in (busbw, busiest) if part)


def table_text(result: Comparison) -> str:
    """The comparison as aligned text: two lines per row (time and marks; busbw and the busiest link's
    utilisation), in blocks of columns that fit :data:`WIDTH`; the legend above, the ties below."""
    unit, factor = column_unit([t for row in result.rows for column in result.columns
                                if (t := result.time(row, column)) is not None], "time")
    bandwidth_unit, bandwidth = column_unit([cell.get("busbw_Bps") or 0.0 for cell in result.cells.values()], "bandwidth")
    digits = digits_needed(result, factor)
    by_row = {row: result.best(row) for row in result.rows}
    by_column = {column: result.best_algorithms(column) for column in result.columns}

    def marks(row: str, column: str) -> str:
        timed_in_row = sum(result.time(row, c) is not None for c in result.columns) > 1
        group = result.groups.get(row, "")
        timed_in_column = sum(result.time(r, column) is not None for r in result.rows
                              if result.groups.get(r, "") == group) > 1
        return ((BEST if timed_in_row and column in by_row[row] else "")
                + (BEST_ALGORITHM if timed_in_column and row in by_column[column] else ""))

    corner = result.by if result.by != "topology" else "algorithm \\ topology"
    labels = [corner, *(line for row in result.rows for line in (row, ""))]
    columns = []
    for column in result.columns:
        pairs = [_cell_lines(result.cells.get((row, column)), marks(row, column), factor, digits, bandwidth)
                 for row in result.rows]
        columns.append([column, *(line for pair in pairs for line in pair)])
    label_width = max(map(len, labels))
    widths = [max(map(len, cells)) for cells in columns]
    blocks: list[list[int]] = [[]]
    for k, width in enumerate(widths):
        used = label_width + sum(widths[j] + 2 for j in blocks[-1])
        if blocks[-1] and used + width + 2 > WIDTH:
            blocks.append([])
        blocks[-1].append(k)
    text = _legend(result, unit, bandwidth_unit, any(marks(row, column) for row in result.rows for column in result.columns))
    for number, block in enumerate(blocks):
        if number:
            text.append("")
        for i, label in enumerate(labels):
            line = label.ljust(label_width) + "".join("  " + columns[k][i].rjust(widths[k]) for k in block)
            if line.strip():  # a row without busbw or link usage has no second line
                text.append(line.rstrip())
    return "\n".join(text + _ties(result, by_row, by_column))


def _legend(result: Comparison, unit: str, bandwidth_unit: str, marked: bool) -> list[str]:
    """What the cells hold and what the marks mean, in lines of at most :data:`WIDTH` columns."""
    lines = [f"simulated time ({unit}) per cell; under it busbw ({bandwidth_unit}) and the busiest link's utilisation"]
    if marked:
        alike = " among rows alike but for it" if any(result.groups.values()) else ""
        lines.append(f"{BEST} the fastest {result.by} in its row, {BEST_ALGORITHM} the fastest algorithm in its column"
                     f"{alike}; times within {TIE:.1%} of the fastest tie with it (marked too)")
    return [part for line in lines for part in wrapped(line)]


def _ties(result: Comparison, by_row: dict[str, list[str]], by_column: dict[str, list[str]]) -> list[str]:
    """One line (wrapped) naming every tie the marks hide: a row fastest on several columns, a column whose
    fastest algorithm is shared."""
    ties = [f"{row} on {' and '.join(columns)}" for row, columns in by_row.items() if len(columns) > 1]
    for column, rows in by_column.items():
        for group in dict.fromkeys(result.groups.get(row, "") for row in rows):
            alike = [result.cells[row, column]["algorithm"] for row in rows if result.groups.get(row, "") == group]
            if len(alike) > 1:
                ties.append(f"{' and '.join(alike)} on {column}" + (f" ({group})" if group else ""))
    return wrapped(f"ties (within {TIE:.1%}): " + "; ".join(ties)) if ties else []


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
