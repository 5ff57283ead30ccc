"""Figures (matplotlib is imported here, lazily, and only the Agg backend is used)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..engines.results import TrainingResult
from .outputs import write_atomically


def loss_vs_time(runs: list[TrainingResult], directory: Path) -> list[Path]:
    """``loss_vs_time.png``/``.svg`` of a training run just simulated (see :func:`training_loss`)."""
    from .records import training_record

    return save(training_loss([training_record(run) for run in runs]), directory, "loss_vs_time")


def stragglers_and_faults(runs: list[Any], directory: Path) -> list[Path]:
    """``stragglers_and_faults.png``/``.svg`` of runs just simulated (see :func:`disturbance_figure`)."""
    from .records import run_record, training_record

    records = [training_record(run) if hasattr(run, "loss") else run_record(run) for run in runs]
    return save(disturbance_figure(records), directory, "stragglers_and_faults")


def bias_trajectories(runs: Sequence[Any], path: Path) -> Path:
    """The figure of :func:`bias_figure`, saved as a PNG at ``path``."""
    figure = bias_figure(runs)
    write_atomically({path: lambda partial: figure.savefig(partial, format="png", dpi=100, metadata={"Software": None})})
    _pyplot().close(figure)
    return path


def bias_figure(runs: Sequence[Any]) -> object:
    """One panel per optimizer: θ₁, θ₂, θ₃ against the step, each limit's minimum-norm solution dotted.
    Lines that coincide (sign descent moves all coordinates alike) stay visible: each coordinate has its
    own dash pattern and marker."""
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(runs), figsize=(4.0 * len(runs), 3.4), layout="constrained", squeeze=False)
    dashes, markers = ["-", "--", "-."], ["o", "s", "^"]
    for ax, run in zip(axes[0], runs, strict=True):
        steps = range(len(run.trajectory))
        for i in range(run.trajectory.shape[1]):
            ax.plot(steps, run.trajectory[:, i], linestyle=dashes[i % 3], marker=markers[i % 3], markersize=3.5,
                    markevery=(i, 3 + i), color=f"C{i}", label=f"θ{i + 1}", linewidth=1.2)
            ax.axhline(run.reference[i], color=f"C{i}", linestyle=":", linewidth=1.0)
        ax.set_title(f"{run.name}\n→ min {run.norm} solution (dotted)", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("parameter value θᵢ")
        ax.legend(fontsize=8)
    return figure


# -- figures from a results.json document -------------------------------------------------------------

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "commsim"  # same figure, same SVG bytes
    import matplotlib.pyplot as plt

    return plt


def save(figure, directory: Path, name: str, dpi: int = 110) -> list[Path]:
    """``name``.png and ``name``.svg in ``directory``, without timestamps (same data, same bytes), each
    written whole or not at all."""
    plt = _pyplot()  # sets svg.hashsalt even for a figure drawn elsewhere (compare)
    files = {}
    for suffix, metadata in (("png", {"Software": None}), ("svg", {"Date": None})):
        files[directory / f"{name}.{suffix}"] = (
            lambda partial, suffix=suffix, metadata=metadata: figure.savefig(partial, format=suffix, dpi=dpi, metadata=metadata))
    try:
        return write_atomically(files)
    finally:
        plt.close(figure)


def _series(records: list[dict], x: Any, fixed: tuple[str, ...]) -> dict[str, list[dict]]:
    """Records grouped into lines: one per algorithm and every other coordinate that varies, sorted by
    ``x`` (a record's key, or a function of the record)."""
    order = x if callable(x) else (lambda record: record[x])
    varying = [key for key in fixed if len({str(r[key]) for r in records}) > 1]
    lines: dict[str, list[dict]] = {}
    for record in records:
        label = " ".join([record["algorithm"], *(f"{key}={record[key]}" for key in varying)])
        lines.setdefault(label, []).append(record)
    return {label: sorted(points, key=order) for label, points in lines.items()}


def _size(record: dict) -> int:
    return record["params"] * record["bytes_per_param"]


def _log_axes(ax: Any, xlabel: str, ylabel: str, y_log: bool = True) -> None:
    """Log₂ x axis (workers, sizes), log y unless told otherwise, both labelled with their units."""
    ax.set_xscale("log", base=2)
    if y_log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def time_vs_workers(records: list[dict]) -> object:
    """Simulated time against workers, log-log, a line per algorithm (and topology, size, ...), the closed
    form dashed in the same colour (a bound where the run says "≥")."""
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    for k, (label, points) in enumerate(_series(records, "workers", ("topology", "params", "dtype")).items()):
        color = f"C{k % 10}"
        ax.plot([r["workers"] for r in points], [r["makespan_s"] for r in points], "o-", color=color, label=label)
        expected = [(r["workers"], r["expected"]["makespan_s"]) for r in points if r["expected"]["makespan_s"]]
        if expected:
            ax.plot(*zip(*expected), "--", color=color, linewidth=0.9)
    _log_axes(ax, "workers", "time (s)")
    ax.set_title("time against workers (dashed: the closed form, or its lower bound)")
    ax.legend(fontsize=7)
    return figure


def _two_panels(records: list[dict], x: Any, fixed: tuple[str, ...], left_y: Any, right_y: Any,
                markersize: float = 6) -> tuple[object, Any, Any]:
    """A figure of two panels side by side, one line per series in each: ``left_y`` and ``right_y`` of a
    record against ``x`` (a key or a function of the record)."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
    at = x if callable(x) else (lambda record: record[x])
    for label, points in _series(records, x, fixed).items():
        xs = [at(r) for r in points]
        left.plot(xs, [left_y(r) for r in points], "o-", label=label, markersize=markersize)
        right.plot(xs, [right_y(r) for r in points], "o-", label=label, markersize=markersize)
    return figure, left, right


def traffic_vs_workers(records: list[dict]) -> object:
    """Messages and bytes against workers, log-log: the textbook table n(n−1), 2n, 2n(n−1) as a picture."""
    figure, left, right = _two_panels(records, "workers", ("topology", "params", "dtype"),
                                      lambda r: r["messages"], lambda r: r["bytes"])
    _log_axes(left, "workers", "messages")
    _log_axes(right, "workers", "bytes sent (B)")
    left.set_title("messages: all-to-all n(n−1), parameter server 2n, ring 2n(n−1)")
    right.set_title("bytes: n(n−1)P, 2nP, 2(n−1)P")
    left.legend(fontsize=7)
    return figure


def time_and_busbw_vs_size(records: list[dict]) -> object:
    """Time and nccl-tests' busbw against the buffer size, log-log: latency-bound to bandwidth-bound."""
    figure, left, right = _two_panels(records, _size, ("topology", "workers", "dtype"), lambda r: r["makespan_s"],
                                      lambda r: (r["busbw_Bps"] or 0) / 1e9, markersize=3)
    _log_axes(left, "message size (B)", "time (s)")
    _log_axes(right, "message size (B)", "busbw (GB/s)", y_log=False)
    left.set_title(f"time against size, {records[0]['workers']} workers")
    right.set_title("bus bandwidth against size (nccl-tests' busbw)")
    right.legend(fontsize=7)
    return figure


def topology_usage(graph, record: dict) -> object:
    """The topology drawn with networkx, each link coloured and widened by its utilisation in ``record``
    (busier direction: bytes / (bandwidth × makespan))."""
    import networkx as nx

    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(7, 6), layout="constrained")
    makespan = record["makespan_s"] or 1.0
    load = record.get("bytes_per_link", {})
    utilisation = []
    for u, v, data in graph.edges(data=True):
        busiest = max(load.get(f"{u}->{v}", 0), load.get(f"{v}->{u}", 0))
        utilisation.append(busiest / data["bandwidth"] / makespan)
    layout = nx.kamada_kawai_layout(graph) if graph.number_of_nodes() <= 200 else nx.spring_layout(graph, seed=0)
    cmap = plt.get_cmap("viridis")
    nx.draw_networkx_nodes(graph, layout, ax=ax, node_size=120,
                           node_color=["C1" if isinstance(node, int) else "0.6" for node in graph])
    nx.draw_networkx_edges(graph, layout, ax=ax, edge_color=utilisation, edge_cmap=cmap, edge_vmin=0, edge_vmax=1,
                           width=[0.5 + 4 * u for u in utilisation])
    if graph.number_of_nodes() <= 40:
        nx.draw_networkx_labels(graph, layout, ax=ax, font_size=6)
    bar = figure.colorbar(plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1)), ax=ax)
    bar.set_label("link utilisation (busy time / makespan)")
    ax.set_title(f"{record['algorithm']} on {record['topology']}, {record['workers']} workers")
    ax.set_axis_off()
    return figure


def training_loss(records: list[dict]) -> object:
    """Loss against simulated time on a log time axis, one panel per wire format (a fast compressed run is
    not squeezed to the left of a slow fp32 one); colour = optimizer (and workers), dash = algorithm, ● = the end."""
    plt = _pyplot()
    wires = list(dict.fromkeys(record["wire"] for record in records))
    entries = max(sum(1 for record in records if record["wire"] == wire) for wire in wires)
    height = max(4.5, 1.8 + 0.16 * entries)  # its legend fits (0.15 in a row); past ~30 rows the layout collapsed
    figure, axes = plt.subplots(1, len(wires), figsize=(3.2 + 4.3 * len(wires), height), layout="constrained",
                                sharey=True, squeeze=False)
    colors = {key: f"C{i % 10}" for i, key in enumerate(dict.fromkeys((r["optimizer"], r["workers"]) for r in records))}
    dashes = dict(zip(dict.fromkeys(r["algorithm"] for r in records), ["-", "--", ":", "-."] * 8))
    several_n = len({r["workers"] for r in records}) > 1
    for ax, wire in zip(axes[0], wires):
        for record in (r for r in records if r["wire"] == wire):
            curves = record["curves"]
            label = f"{record['algorithm']} × {record['optimizer']}" + (f" (n={record['workers']})" if several_n else "")
            ax.plot(curves["time_s"], curves["loss"], label=label, linewidth=1.2, marker="o", markevery=[-1],
                    markersize=4, color=colors[record["optimizer"], record["workers"]],
                    linestyle=dashes[record["algorithm"]])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("simulated time (s), compute included")
        ax.set_ylabel("training loss (mean of worker batches)")
        ax.set_title(f"wire {wire}" if len(wires) > 1 else f"{records[0]['model']} on {records[0]['dataset']}")
        ax.legend(fontsize=7)
    figure.suptitle("training loss against simulated time")
    return figure


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def disturbance_figure(records: list[dict[str, Any]]) -> object:
    """Stragglers and faults: each run's time beside its uniform twin's (a stopped run is marked), and
    each worker's idle time."""
    plt = _pyplot()
    shown = [record for record in records if "disturbance" in record]
    height = max(3.2, 0.45 * len(shown) + 1.6)
    figure, (times, idle) = plt.subplots(1, 2, figsize=(12, height), layout="constrained",
                                         gridspec_kw={"width_ratios": [1, 1.3]})
    labels = [f"{r['algorithm']}, {r['workers']} workers" + (f", {r['optimizer']}" if "optimizer" in r else "")
              for r in shown]
    scale = 1e3 if max((r["disturbance"]["uniform_makespan_s"] for r in shown), default=0) >= 1e-3 else 1e6
    unit = "ms" if scale == 1e3 else "us"
    y = list(range(len(shown)))[::-1]
    uniform = [r["disturbance"]["uniform_makespan_s"] * scale for r in shown]
    actual = [0.0 if r["disturbance"]["stopped"] else r["makespan_s"] * scale for r in shown]
    times.barh([i + 0.2 for i in y], uniform, height=0.4, color="0.7", label="uniform twin")
    times.barh([i - 0.2 for i in y], actual, height=0.4, color="C3", label="with stragglers and faults")
    for i, record in zip(y, shown):
        if record["disturbance"]["stopped"]:
            times.text(0, i - 0.2, " stopped", va="center", ha="left", fontsize=8, color="C3")
    times.set_yticks(y, labels, fontsize=8)
    times.set_xlabel(f"time ({unit})")
    times.set_title("time against the uniform twin", fontsize=10)
    times.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=2)
    width = 0.8 / max(len(shown), 1)
    for i, record in enumerate(shown):
        values = record["disturbance"]["idle_s"]
        ranks = [rank for rank, value in enumerate(values) if value is not None]
        idle.bar([rank - 0.4 + (i + 0.5) * width for rank in ranks], [values[rank] * scale for rank in ranks],
                 width=width, color=f"C{i % 10}", hatch=["", "//", "..", "xx"][i % 4], label=labels[i])
    idle.xaxis.get_major_locator().set_params(integer=True)
    idle.set_ylim(bottom=0)
    idle.set_xlabel("worker")
    idle.set_ylabel(f"idle ({unit})")
    idle.set_title("idle per worker (neither computing nor sending nor receiving)", fontsize=10)
    idle.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return figure


def plot_results(directory: Path) -> list[Path]:
    """Every figure the ``results.json`` in ``directory`` has data for; the paths written."""
    import json

    from ..scenario import parse

    document = json.loads((directory / "results.json").read_text(encoding="utf-8"))
    records = document["runs"]
    written: list[Path] = []
    if any("disturbance" in record for record in records):
        written += save(disturbance_figure(records), directory, "stragglers_and_faults")
    if records and "curves" in records[0]:
        return written + save(training_loss(records), directory, "loss_vs_time")
    ran = [r for r in records if "unavailable" not in r and r.get("makespan_s")]
    if len({r["workers"] for r in ran}) > 1:
        by_size = {_size(r) for r in ran}
        for size in sorted(by_size, reverse=True):  # the largest: bandwidth-bound
            subset = [r for r in ran if _size(r) == size]
            if len({r["workers"] for r in subset}) > 1:
                suffix = "" if len(by_size) == 1 else f"_{size}B"
                written += save(time_vs_workers(subset), directory, f"time_vs_workers{suffix}")
                written += save(traffic_vs_workers(subset), directory, f"messages_and_bytes_vs_workers{suffix}")
                break  # one size is enough for these two pictures
    if len({_size(r) for r in ran}) > 1:  # at the largest worker count: a line per algorithm (and topology)
        most = max(r["workers"] for r in ran)
        written += save(time_and_busbw_vs_size([r for r in ran if r["workers"] == most]), directory,
                        f"time_and_busbw_vs_size_n{most}")
    scenario = parse(document["scenario"], str(directory / "results.json"), budget=False)  # it ran already
    for topo in getattr(scenario, "networks", []):
        mine = [r for r in ran if r["topology"] == topo.title and r.get("bytes_per_link")]
        if mine:
            record = max(mine, key=lambda r: (r["workers"], -mine.index(r)))
            graph = topo.build(record["workers"], [record["algorithm"]])
            name = f"topology_{_slug(topo.title)}_{record['algorithm']}_n{record['workers']}"
            written += save(topology_usage(graph, record), directory, name)
    return written


def worker_timeline(run) -> object:
    """A Gantt chart of one simulated run: per worker its sends (upper half of its row), receives (lower
    half) and idle time (grey), against simulated time in µs; overlapping messages are drawn see-through."""
    from ..engines.results import idle_gaps
    from .trace import _messages

    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(9, 0.35 * run.workers + 1.8), layout="constrained")
    sends: dict[int, list] = {}
    receives: dict[int, list] = {}
    for src, dst, _, start, end, _, _ in _messages(run.log):
        if isinstance(src, int):
            sends.setdefault(src, []).append((start * 1e6, (end - start) * 1e6))
        if isinstance(dst, int):
            receives.setdefault(dst, []).append((start * 1e6, (end - start) * 1e6))
    for worker in range(run.workers):
        ax.broken_barh(sends.get(worker, []), (worker, 0.45), facecolors="C0", alpha=0.6, edgecolors="white", linewidth=0.5)
        ax.broken_barh(receives.get(worker, []), (worker + 0.45, 0.45), facecolors="C1", alpha=0.6, edgecolors="white", linewidth=0.5)
        busy = [(s / 1e6, (s + d) / 1e6) for s, d in sends.get(worker, []) + receives.get(worker, [])]
        idle = [(a * 1e6, (b - a) * 1e6) for a, b in idle_gaps(busy, run.finish_s[worker])]
        ax.broken_barh(idle, (worker, 0.9), facecolors="0.85")
    ax.set_ylim(run.workers, 0)
    ax.set_yticks([w + 0.45 for w in range(run.workers)], [str(w) for w in range(run.workers)])
    ax.set_xlabel("simulated time (µs)")
    ax.set_ylabel("worker")
    ax.set_title(f"{run.algorithm} on {run.topology}, {run.workers} workers: sends (blue), receives (orange), idle (grey)")
    return figure


def timelines(runs: list, directory: Path, limit: int = 5000) -> list[Path]:
    """A timeline of each algorithm's run on each topology with the fewest workers above one (at most
    ``limit`` messages, so the chart stays legible)."""
    chosen: dict[tuple[str, str], object] = {}
    for run in runs:
        log = getattr(run, "log", None)
        if log is None or run.workers < 2 or len(log) > limit:
            continue
        key = (run.topology, run.algorithm)
        if key not in chosen or run.workers < chosen[key].workers:
            chosen[key] = run
    written = []
    for (topology, algorithm), run in chosen.items():
        written += save(worker_timeline(run), directory, f"timeline_{_slug(topology)}_{algorithm}_n{run.workers}")
    return written


def validation_errors(cases: list[Any]) -> object:
    """Relative error of the simulated NCCL mode against each measured table, by message size (log x), with the
    ±15 % and ±5 % bands; the tables that count in colour, the others thin and grey."""
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(9, 6.5))
    ax.axhspan(-15, 15, color="0.93", zorder=0, label="±15 % (target below 64 KiB)")
    ax.axhspan(-5, 5, color="0.82", zorder=0, label="±5 % (target from 1 MiB to 8 GiB)")
    for case in sorted(cases, key=lambda case: case.counts):
        sizes = [p.size for p in case.points]
        errors = [100 * p.error for p in case.points]
        if case.counts:
            ax.plot(sizes, errors, marker="o", markersize=3, label=case.title)
        else:
            ax.plot(sizes, errors, color="0.6", linewidth=0.7, linestyle=":", zorder=1)
    ax.plot([], [], color="0.6", linewidth=0.7, linestyle=":", label="not counted (see the table for why)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("symlog", linthresh=20)  # ±20 % linear, the misses of several times beyond it compressed
    ax.set_xlabel("message size (bytes)")
    ax.set_ylabel("simulated − measured (% of measured; linear within ±20)")
    ax.axhline(0, color="k", linewidth=0.8)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    ax.set_title("commsim's NCCL mode, configured from presets, against nccl-tests all-reduce times")
    figure.tight_layout()
    return figure
