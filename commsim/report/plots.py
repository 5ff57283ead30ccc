"""Figures (matplotlib is imported here, lazily, and only the Agg backend is used)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engines.results import TrainingResult
from ..units import format_bandwidth, format_bytes, format_time
from .outputs import write_atomically

if TYPE_CHECKING:
    from ..scenario import Scenario, TopologySpec

DASHES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D")


def loss_vs_time(runs: list[TrainingResult], directory: Path) -> list[Path]:
    """``loss_vs_time.png``/``.svg`` of the training runs just simulated that trained a model (see
    :func:`training_loss`); none for sizes alone, which have no loss."""
    from .records import training_record

    trained = [training_record(run) for run in runs if run.loss]
    return save(training_loss(trained), directory, "loss_vs_time") if trained else []


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


def _trim(text: str) -> str:
    """A formatted quantity without trailing zeros: "4.00 MB" → "4 MB", "2.40 Tbit/s" → "2.4 Tbit/s"."""
    number, _, unit = text.partition(" ")
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    return f"{number} {unit}".rstrip()


def buffer_text(size: float) -> str:
    """A buffer's size for a title: binary prefixes for whole KiB ("32 MiB"), SI otherwise ("4 MB")."""
    return _trim(format_bytes(size, binary=size >= 1024 and size % 1024 == 0))


def _event_time(seconds: float) -> str:
    return _trim(format_time(seconds))


def network_text(spec: TopologySpec) -> str:
    """What a network's links are, for a title: "every link 100 Gbit/s, 1 us"; with a generator's own rates
    after (``nic_bandwidth`` → "nic 200 Gbit/s, 2 us"); a cluster by its NICs and NVLink."""
    options = spec.options
    if spec.kind == "cluster":
        from dataclasses import fields

        from ..network.cluster import Preset, preset

        machine = preset(options["preset"], **{f.name: options[f.name] for f in fields(Preset) if f.name in options})
        text = (f"{machine.nics_per_node} × {_trim(format_bandwidth(machine.nic_bandwidth, bits=True))} NICs per "
                f"{machine.gpus_per_node}-GPU node")
        nvlink = machine.nvlink_bandwidth
        return text + (f", NVLink {_trim(format_bandwidth(nvlink))} per GPU" if nvlink else "")
    rates = [key.removesuffix("bandwidth").rstrip("_") for key in options if key.endswith("bandwidth")]
    own = [f"{name.replace('_', ' ')} {_trim(format_bandwidth(options[f'{name}_bandwidth'], bits=True))}"
           + (f", {_event_time(options[f'{name}_latency'])}" if f"{name}_latency" in options else "") for name in rates]
    links = f"{_trim(format_bandwidth(spec.bandwidth, bits=True))}, {_event_time(spec.latency)}"
    overridden = [f"{len(spec.links)} link{'s' * (len(spec.links) > 1)} with its own speed"] if spec.links else []
    return "; ".join([f"{'links' if own or overridden else 'every link'} {links}", *own, *overridden])


def setting(scenario: Scenario, records: list[dict]) -> str:
    """What a figure's runs share, for its title: the workers and the buffer where each is one value, the
    network model; then a line per network drawn, with its links."""
    workers = sorted({r["workers"] for r in records})
    sizes = sorted({_size(r) for r in records})
    head = [f"{workers[0]} workers"] * (len(workers) == 1) + [f"{buffer_text(sizes[0])} buffer"] * (len(sizes) == 1)
    specs = {spec.title: spec for spec in scenario.networks}
    drawn = [specs[title] for title in dict.fromkeys(r["topology"] for r in records) if title in specs]
    return "\n".join([", ".join([*head, f"model {scenario.model}"]),
                      *(f"{spec.title}: {network_text(spec)}" for spec in drawn)])


def _coordinate(key: str, record: dict) -> str:
    return {"topology": f"on {record['topology']}", "workers": f"n={record['workers']}"}.get(key, f"{key}={record[key]}")


def _series(records: list[dict], x: Any, fixed: tuple[str, ...]) -> dict[str, list[dict]]:
    """Records grouped into lines: one per algorithm and every other coordinate that varies, sorted by
    ``x`` (a record's key, or a function of the record)."""
    order = x if callable(x) else (lambda record: record[x])
    varying = [key for key in fixed if len({str(r[key]) for r in records}) > 1]
    lines: dict[str, list[dict]] = {}
    for record in records:
        label = " ".join([record["algorithm"], *(_coordinate(key, record) for key in varying)])
        lines.setdefault(label, []).append(record)
    return {label: sorted(points, key=order) for label, points in lines.items()}


def _styles(lines: dict[str, list[dict]]) -> dict[str, dict[str, str]]:
    """Colour, dash and marker of each line. When the lines are exactly algorithms × networks, a network's
    lines share a colour and an algorithm keeps its dash and marker (a cluster's ring and tree pair up);
    otherwise a colour per line."""
    first = {label: points[0] for label, points in lines.items()}
    networks = list(dict.fromkeys(r["topology"] for r in first.values()))
    algorithms = list(dict.fromkeys(r["algorithm"] for r in first.values()))
    if len(networks) > 1 and len(algorithms) > 1 and len(lines) == len(networks) * len(algorithms):
        return {label: {"color": f"C{networks.index(r['topology']) % 10}",
                        "linestyle": DASHES[algorithms.index(r["algorithm"]) % len(DASHES)],
                        "marker": MARKERS[algorithms.index(r["algorithm"]) % len(MARKERS)]} for label, r in first.items()}
    return {label: {"color": f"C{k % 10}", "linestyle": "-", "marker": "o"} for k, label in enumerate(lines)}


def _size(record: dict) -> int:
    return record["params"] * record["bytes_per_param"]


def _log_axes(ax: Any, xlabel: str, ylabel: str, y_log: bool = True) -> None:
    """Log₂ x axis (workers, sizes), log y unless told otherwise, both labelled with their units."""
    ax.set_xscale("log", base=2)
    if y_log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


CLOSED_FORM = "closed form (black bar; a lower bound where the run says ≥)"


def time_vs_workers(records: list[dict], setting: str = "") -> object:
    """Simulated time against workers, log-log, a line per algorithm (and topology, size, ...); the closed
    form (a bound where the run says "≥") as black bars drawn over each line's points, named in the legend."""
    from matplotlib.lines import Line2D

    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    lines = _series(records, "workers", ("topology", "params", "dtype"))
    styles = _styles(lines)
    handles = []
    for label, points in lines.items():
        (line,) = ax.plot([r["workers"] for r in points], [r["makespan_s"] for r in points], label=label,
                          gid="simulated", zorder=2, **styles[label])
        handles.append(line)
        expected = [(r["workers"], r["expected"]["makespan_s"]) for r in points if r["expected"]["makespan_s"]]
        if expected:
            ax.plot(*zip(*expected), color="k", linestyle=":", linewidth=0.8, marker="_", markersize=13,
                    markeredgewidth=1.6, zorder=3, gid="closed form", label="_closed form")
    handles.append(Line2D([], [], color="k", linestyle=":", linewidth=0.8, marker="_", markersize=13,
                          markeredgewidth=1.6, label=CLOSED_FORM))
    _log_axes(ax, "workers", "time (s)")
    ax.set_title("time against workers" + (f"\n{setting}" if setting else ""), fontsize=10)
    ax.legend(handles=handles, fontsize=7)
    return figure


def _two_panels(records: list[dict], x: Any, fixed: tuple[str, ...], left_y: Any, right_y: Any,
                markersize: float = 6, setting: str = "") -> tuple[object, Any, Any]:
    """A figure of two panels side by side, one line per series in each: ``left_y`` and ``right_y`` of a
    record against ``x`` (a key or a function of the record); ``setting`` as the figure's title."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
    at = x if callable(x) else (lambda record: record[x])
    lines = _series(records, x, fixed)
    styles = _styles(lines)
    for label, points in lines.items():
        xs = [at(r) for r in points]
        style = styles[label]
        left.plot(xs, [left_y(r) for r in points], label=label, markersize=markersize, **style)
        right.plot(xs, [right_y(r) for r in points], label=label, markersize=markersize, **style)
    if setting:
        figure.suptitle(setting, fontsize=10)
    return figure, left, right


def traffic_vs_workers(records: list[dict], setting: str = "") -> object:
    """Messages and bytes against workers, log-log: the textbook table n(n−1), 2n, 2n(n−1) as a picture."""
    figure, left, right = _two_panels(records, "workers", ("topology", "params", "dtype"),
                                      lambda r: r["messages"], lambda r: r["bytes"], setting=setting)
    _log_axes(left, "workers", "messages")
    _log_axes(right, "workers", "bytes sent (B)")
    left.set_title("messages: all-to-all n(n−1), parameter server 2n, ring 2n(n−1)", fontsize=10)
    right.set_title("bytes: n(n−1)P, 2nP, 2(n−1)P", fontsize=10)
    left.legend(fontsize=7)
    return figure


def time_and_busbw_vs_size(records: list[dict], setting: str = "") -> object:
    """Time and nccl-tests' busbw against the buffer size (each worker's, as nccl-tests' "size"), log-log:
    latency-bound to bandwidth-bound."""
    figure, left, right = _two_panels(records, _size, ("topology", "workers", "dtype"), lambda r: r["makespan_s"],
                                      lambda r: (r["busbw_Bps"] or 0) / 1e9, markersize=3, setting=setting)
    _log_axes(left, "buffer size per worker (B)", "time (s)")
    _log_axes(right, "buffer size per worker (B)", "busbw (GB/s)", y_log=False)
    left.set_title("time against buffer size", fontsize=10)
    right.set_title("bus bandwidth against buffer size (nccl-tests' busbw)", fontsize=10)
    right.legend(fontsize=7)
    return figure


AGGREGATE_ABOVE = 32  # workers: more, and the workers that share a switch are drawn as one box
HOT_LINKS = 300  # links: more, and only the busiest this many are drawn
NODE_STYLE = {"worker": ("C1", "o", "worker"), "group": ("C1", "s", "workers sharing a switch (ranks below)"),
              "nic": ("C2", "o", "NIC"), "switch": ("0.55", "s", "switch"), "server": ("C3", "D", "parameter server")}


def drawn_run(records: list[dict]) -> dict:
    """The run a topology figure draws: the most workers, then the largest buffer (bandwidth-bound, so the
    bottleneck shows), then the busiest busiest link; the first of equals."""
    def busiest(record: dict) -> float:
        links = record.get("hottest_links") or []
        return links[0]["utilisation"] if links else 0.0

    return max(enumerate(records), key=lambda item: (item[1]["workers"], _size(item[1]), busiest(item[1]), -item[0]))[1]


def link_utilisation(graph, record: dict) -> dict[tuple[Hashable, Hashable], float]:
    """Each edge's utilisation in ``record``, its busier direction's (busy = bytes / the rate they moved at,
    as ``hottest_links`` computes it; the graph's bandwidth for a record without rates)."""
    from ..engines.results import link_usage

    load, rates = record.get("bytes_per_link", {}), record.get("link_bandwidth", {})
    usage = {}
    for u, v, data in graph.edges(data=True):
        usage[u, v] = max((link_usage(name, load[name], rates.get(name, data["bandwidth"]), record["makespan_s"] or 0.0)
                           ["utilisation"] for name in (f"{u}->{v}", f"{v}->{u}") if name in load), default=0.0)
    return usage


def _grouped(graph, usage: dict) -> tuple[Any, dict]:
    """The graph with the workers that have the same neighbours (a star's, an edge switch's) merged into one
    ``group`` node per set, linked to those neighbours at the busiest member's utilisation."""
    import networkx as nx

    groups: dict[frozenset, list[int]] = {}
    for worker, role in graph.nodes(data="role"):
        if role == "worker":
            groups.setdefault(frozenset(graph[worker]), []).append(worker)
    merged = nx.Graph(**graph.graph)
    merged.add_nodes_from((node, data) for node, data in graph.nodes(data=True) if data.get("role") != "worker")
    merged_usage = {}
    for u, v in graph.edges:
        if u in merged and v in merged:
            merged.add_edge(u, v)
            merged_usage[u, v] = usage[u, v]
    for members in groups.values():
        first, last = members[0], members[-1]
        name = f"{first}–{last}" if last - first == len(members) - 1 else f"{len(members)} workers"
        merged.add_node(name, role="group")
        for worker in members:
            for neighbour in graph[worker]:
                merged.add_edge(name, neighbour)
                key = (name, neighbour)
                mine = usage.get((worker, neighbour), usage.get((neighbour, worker)))
                merged_usage[key] = max(merged_usage.get(key, 0.0), mine)
    return merged, {(u, v): merged_usage.get((u, v), merged_usage.get((v, u))) for u, v in merged.edges}


LAYER_HEIGHT = {"edge": 1, "aggregation": 2, "core": 3}  # a fat tree's switches (those without hosts too)


def _layers(graph, bottom: list) -> dict:
    """A layered drawing: ``bottom`` in a row, every other node in the row of its hop distance from it
    (NICs, rails, spines; a fat tree's edge, aggregation and core switches by their layer); in a row, nodes
    in the order of their neighbours below (those with none at the end), spread evenly. Hosts (bottom nodes
    with one link) then sit under their own switch."""
    depth = dict.fromkeys(bottom, 0)
    frontier = list(bottom)
    while frontier:
        reached = []
        for node in frontier:
            for neighbour in graph[node]:
                if neighbour not in depth:
                    depth[neighbour] = depth[node] + 1
                    reached.append(neighbour)
        frontier = reached
    top = max(depth.values(), default=0) + 1  # nodes the bottom row does not reach
    height = {node: LAYER_HEIGHT.get(graph.nodes[node].get("layer"), depth.get(node, top)) for node in graph}
    position: dict = {}
    for level in sorted(set(height.values())):
        row = [node for node in (bottom if level == 0 else graph) if height[node] == level]

        def centre(node: Hashable) -> tuple[bool, float]:  # nodes with nothing drawn below them last
            xs = [position[n][0] for n in graph[node] if n in position]
            return (not xs, sum(xs) / len(xs) if xs else 0.0)

        row = sorted(row, key=centre) if level else row
        position.update((node, ((i + 0.5) / len(row), float(level))) for i, node in enumerate(row))
    if bottom and all(len(graph[node]) == 1 for node in bottom):  # hosts: each under its own switch
        parent = {node: next(iter(graph[node])) for node in bottom}
        under: dict = {}
        for node in bottom:
            under.setdefault(parent[node], []).append(node)
        xs = sorted({position[switch][0] for switch in under})
        step = 0.8 * min((b - a for a, b in zip(xs, xs[1:])), default=1.0) / max(map(len, under.values()))
        for switch, nodes in under.items():
            position.update((node, (position[switch][0] + (j - (len(nodes) - 1) / 2) * step, 0.0))
                            for j, node in enumerate(nodes))
    return position


def _grid(graph) -> tuple[dict, list, list[str]]:
    """A torus as its grid: worker (i, j) at column j, row i (downwards); each link a segment of one step, a
    wraparound link two stubs off the grid's edges. A 3-D torus's planes (i, j, k) for each k in a square
    block (k left to right, then down), a column and a row apart; a link along k two diagonal stubs, up-right towards the next plane (k + 1 mod c),
    down-left towards the previous: a line between planes would cross the rows between them."""
    rows, columns, *rest = graph.graph["dims"]
    planes = rest[0] if rest else 1
    where = {w: ((w // planes) // columns, (w // planes) % columns, w % planes) for w in range(rows * columns * planes)}
    across = math.ceil(math.sqrt(planes))  # planes in a square block: k left to right, then down
    position = {w: (j + (k % across) * (columns + 1), -i - (k // across) * (rows + 1)) for w, (i, j, k) in where.items()}
    segments, notes = [], []
    for u, v in graph.edges:
        (iu, ju, ku), (iv, jv, kv) = where[u], where[v]
        if ku != kv:
            for a, ka, kb in ((u, ku, kv), (v, kv, ku)):
                ahead = kb > ka if planes == 2 else (kb - ka) % planes == 1
                x, y = position[a]
                step = 0.3 if ahead else -0.3
                segments.append(((u, v), [(x, y), (x + step, y + step)]))
        elif abs(iu - iv) + abs(ju - jv) == 1:
            segments.append(((u, v), [position[u], position[v]]))
        else:
            for a, b in ((u, v), (v, u)):  # a stub from a towards the side b wraps in from
                (ax_, ay), (bx, by) = position[a], position[b]
                step = (0.4 * ((ax_ > bx) - (ax_ < bx)), 0.4 * ((ay > by) - (ay < by)))
                segments.append(((u, v), [(ax_, ay), (ax_ + step[0], ay + step[1])]))
    if planes > 1:
        notes.append(f"planes k = 0…{planes - 1} left to right, then down; links along k as stubs ↗ to k + 1, "
                     "↙ to k − 1")
    return position, segments, notes


ARC_POINTS = 13
"""Points of a drawn arc."""


def _hypercube(graph) -> tuple[dict, list, list[str]]:
    """A hypercube of dimension d as a grid: the low ⌈d/2⌉ bits of a worker are its column, the others its row.
    A link flips one bit b: within a row (b a column bit) columns 2^b apart, within a column rows 2^(b − ⌈d/2⌉)
    apart; a step of one is a segment, a longer one an arc bowed up (rows) or right (columns), higher the
    farther it reaches, over the workers between."""
    import numpy as np

    d = graph.graph["dimension"]
    low = (d + 1) // 2
    spacing = 1.6  # rows farther apart than columns: room for the arcs above each row
    position = {w: (float(w % (1 << low)), -spacing * (w >> low)) for w in graph if graph.nodes[w].get("role") == "worker"}
    t = np.linspace(0.0, 1.0, ARC_POINTS)
    segments = []
    for u, v in graph.edges:
        (ux, uy), (vx, vy) = position[u], position[v]
        reach = abs(ux - vx) + abs(uy - vy) / spacing
        if reach == 1:
            segments.append(((u, v), [(ux, uy), (vx, vy)]))
            continue
        bow = 0.22 * np.log2(reach)  # 2 apart: 0.22, 4: 0.44, ...
        lift = 4 * bow * t * (1 - t)  # a parabola: 0 at both ends, ``bow`` halfway
        xs, ys = ux + (vx - ux) * t, uy + (vy - uy) * t
        points = np.column_stack([xs, ys + lift]) if uy == vy else np.column_stack([xs + lift * spacing / 2, ys])
        segments.append(((u, v), [tuple(point) for point in points]))
    return position, segments, ["a worker's low bits are its column, its high bits its row; links over several "
                                "workers drawn as arcs"]


def _without_idle_switches(graph, usage: dict, notes: list[str]) -> tuple[Any, dict, list[str]]:
    """The graph without the switches no byte crossed that no worker hangs from (a fat tree's empty pods),
    and a note saying how many, when the run moved any bytes at all."""
    hosts = {"worker", "group"}
    idle = [node for node, role in graph.nodes(data="role") if role == "switch"
            and not any(graph.nodes[m].get("role") in hosts for m in graph[node])
            and not any(usage.get((node, m), usage.get((m, node))) for m in graph[node])]
    if not idle or not any(usage.values()):
        return graph, usage, notes
    kept = graph.subgraph([node for node in graph if node not in set(idle)])
    return kept, {(u, v): usage.get((u, v), usage.get((v, u))) for u, v in kept.edges}, [
        *notes, f"{len(idle)} switch{'es' * (len(idle) > 1)} without workers that no byte crossed not drawn"]


def _drawing(graph, usage: dict) -> tuple[Any, dict, list, dict, list[str]]:
    """What to draw: (graph, node positions, edge segments [(edge, [p, q])], utilisation per edge, notes)."""

    import networkx as nx

    kind = graph.graph.get("kind")
    workers = [node for node, role in graph.nodes(data="role") if role == "worker"]
    notes = []
    if kind in ("torus", "hypercube"):
        position, segments, notes = (_grid if kind == "torus" else _hypercube)(graph)
        return graph, position, segments, usage, notes
    if kind == "ring":
        position = {w: (math.sin(2 * math.pi * w / len(workers)), math.cos(2 * math.pi * w / len(workers))) for w in workers}
    elif not any(graph.nodes[v].get("role") == "worker" for w in workers for v in graph[w]):  # a switched network
        if len(workers) > AGGREGATE_ABOVE:
            graph, usage = _grouped(graph, usage)
            notes.append("workers that share a switch drawn as one box, with their busiest link")
        graph, usage, notes = _without_idle_switches(graph, usage, notes)
        below = [node for node, role in graph.nodes(data="role") if role in ("worker", "group")]
        hosts = {neighbour for node in below for neighbour in graph[node]}  # the servers beside them: hosts too
        below += [node for node, role in graph.nodes(data="role") if role == "server" and set(graph[node]) <= hosts]
        position = _layers(graph, below)
    elif graph.number_of_nodes() <= 200:
        position = nx.kamada_kawai_layout(graph)
    else:
        position = nx.circular_layout(graph)
    segments = [((u, v), [position[u], position[v]]) for u, v in graph.edges]
    if len(segments) > HOT_LINKS:
        busiest = sorted(range(len(segments)), key=lambda i: -usage[segments[i][0]])[:HOT_LINKS]
        notes.append(f"only the {HOT_LINKS} busiest of {len(segments):,} links drawn")
        segments = [segments[i] for i in sorted(busiest)]
    return graph, position, segments, usage, notes


def topology_usage(graph, record: dict) -> object:
    """The topology, each link coloured and widened by its utilisation in ``record`` (busier direction: busy
    time / makespan, as the table's busiest links). Switched networks in layers (workers at the bottom, the
    core on top; beyond 32 workers those that share a switch are one box), a torus as its grid (:func:`_grid`),
    a hypercube as a grid of its bits (:func:`_hypercube`), a ring as a circle; beyond 300 links only the
    busiest. Every node is named up to 40 (else the switches and servers, up to 16; a torus's or hypercube's
    workers up to 64). The title names the run drawn and its busiest link."""
    from matplotlib.collections import LineCollection
    from matplotlib.transforms import offset_copy

    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(7, 6), layout="constrained")
    kind = graph.graph.get("kind")
    graph, position, segments, usage, notes = _drawing(graph, link_utilisation(graph, record))
    cmap = plt.get_cmap("viridis")
    segments = sorted(segments, key=lambda segment: usage[segment[0]])  # the busiest on top
    values = [usage[edge] for edge, _ in segments]
    ax.add_collection(LineCollection([points for _, points in segments], colors=cmap(values),
                                     linewidths=[0.5 + 4 * u for u in values], zorder=1))
    small = graph.number_of_nodes() <= 64
    groups = sum(role == "group" for _, role in graph.nodes(data="role"))
    for role, (color, marker, name) in NODE_STYLE.items():
        nodes = [node for node, r in graph.nodes(data="role") if r == role]
        if nodes:
            size = (320 if groups <= 8 else 120) if role == "group" else 120 if small else 25
            ax.scatter([position[n][0] for n in nodes], [position[n][1] for n in nodes], s=size, c=color,
                       marker=marker, zorder=2, edgecolors="white", linewidths=0.5, label=name)
    named = sum(role in ("switch", "server") for _, role in graph.nodes(data="role")) <= 16  # a few: name them all
    for node, role in graph.nodes(data="role"):
        if role == "group":  # under its box
            ax.annotate(str(node), position[node], xytext=(0, -11 if groups <= 8 else -7), textcoords="offset points",
                        fontsize=7, ha="center", va="top", rotation=0 if groups <= 8 else 90, zorder=3)
        elif graph.number_of_nodes() <= (64 if kind in ("torus", "hypercube") else 40) or (named and role in ("switch", "server")):
            ax.text(*position[node], str(node), fontsize=6, ha="center", va="center", zorder=3)
    ax.autoscale_view()
    ax.margins(0.06)
    bar = figure.colorbar(plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1)), ax=ax)
    bar.set_label("link utilisation (busy time / makespan)")
    title = [f"{record['algorithm']} on {record['topology']}, {record['workers']} workers, "
             f"{buffer_text(_size(record))} buffer"]
    if record.get("hottest_links"):
        hottest = record["hottest_links"][0]
        title.append(f"busiest link {hottest['link'].replace('->', '–')}: {hottest['utilisation']:.0%} busy")
    ax.set_title("\n".join([*title, *notes]), fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=5, fontsize=7, frameon=False, markerscale=0.7,
              bbox_transform=offset_copy(ax.transAxes, figure, y=-26 if groups > 8 else -4, units="points"))
    ax.set_axis_off()
    return figure


def training_loss(records: list[dict]) -> object:
    """Loss against simulated time on a log time axis, one panel per wire format, all on one time range (a
    1-bit run sits left of its fp32 twin); colour = optimizer (and workers), dash = algorithm, ● = the end;
    each legend entry gives the bytes the run sent."""
    from matplotlib.transforms import offset_copy

    plt = _pyplot()
    wires = list(dict.fromkeys(record["wire"] for record in records))
    entries = max(sum(r["wire"] == wire for r in records) for wire in wires)  # legend lines under a panel
    height = 4.2 + 0.16 * entries  # the panel, then its legend under it (0.15 in a row): never cut, never collapsed
    figure, axes = plt.subplots(1, len(wires), figsize=(3.2 + 4.3 * len(wires), height), layout="constrained",
                                sharex=True, sharey=True, squeeze=False)
    colors = {key: f"C{i % 10}" for i, key in enumerate(dict.fromkeys((r["optimizer"], r["workers"]) for r in records))}
    dashes = dict(zip(dict.fromkeys(r["algorithm"] for r in records), ["-", "--", ":", "-."] * 8))
    several_n = len({r["workers"] for r in records}) > 1
    for ax, wire in zip(axes[0], wires):
        for record in (r for r in records if r["wire"] == wire):
            curves = record["curves"]
            label = (f"{record['algorithm']} × {record['optimizer']}" + (f" (n={record['workers']})" if several_n else "")
                     + f", {_trim(format_bytes(record['bytes']))} sent")
            ax.plot(curves["time_s"], curves["loss"], label=label, linewidth=1.2, marker="o", markevery=[-1],
                    markersize=4, color=colors[record["optimizer"], record["workers"]],
                    linestyle=dashes[record["algorithm"]])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("simulated time (s), compute included")
        ax.set_ylabel("training loss (mean of worker batches)")
        ax.set_title(f"wire {wire}" if len(wires) > 1 else f"{records[0]['model']} on {records[0]['dataset']}")
        under = offset_copy(ax.transAxes, figure, y=-34, units="points")  # under the axis label: no curve hidden
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=under)
    figure.suptitle("training loss against simulated time")
    if entries > 16:  # the layout places a long shifted legend ~0.25 in too low: room under it
        figure.get_layout_engine().set(h_pad=0.35)
    return figure


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


EVENT_COLOURS = ("k", "C0", "C2", "C4", "C6", "C8")


def _events(record: dict) -> list[tuple[str, str, float]]:
    """A run's faults as (kind, what, time): each link failure and each crash."""
    info = record["disturbance"]
    return ([("link down", f"link {u}–{v} fails", t) for u, v, t in info["failed_links"]]
            + [("crash", f"worker {w} crashes", t) for w, t in info["crashed"]])


def disturbance_figure(records: list[dict[str, Any]]) -> object:
    """Stragglers and faults: each run's time beside its uniform twin's, a marker on the run's row at each
    link failure (|) and crash (✕), each named in the legend; a stopped run marked and its reason noted
    under the figure. Beside it each worker's idle time, for the runs where some worker idles (a note names
    the others: stopped, or no worker idle; without any, no idle panel)."""
    from matplotlib.lines import Line2D
    from matplotlib.transforms import offset_copy

    plt = _pyplot()
    shown = [record for record in records if "disturbance" in record]
    labels = [f"{r['algorithm']}, {r['workers']} workers" + (f", {r['optimizer']}" if "optimizer" in r else "")
              for r in shown]
    idling = [i for i, r in enumerate(shown) if any((value or 0) > 0 for value in r["disturbance"]["idle_s"])]
    height = max(3.2, 0.45 * len(shown) + 1.6)
    if idling:
        figure, (times, idle) = plt.subplots(1, 2, figsize=(12, height), layout="constrained",
                                             gridspec_kw={"width_ratios": [1, 1.3]})
    else:
        figure, times = plt.subplots(figsize=(7, height), layout="constrained")
    scale = 1e3 if max((r["disturbance"]["uniform_makespan_s"] for r in shown), default=0) >= 1e-3 else 1e6
    unit = "ms" if scale == 1e3 else "us"
    y = list(range(len(shown)))[::-1]
    uniform = [r["disturbance"]["uniform_makespan_s"] * scale for r in shown]
    actual = [0.0 if r["disturbance"]["stopped"] else r["makespan_s"] * scale for r in shown]
    handles = [times.barh([i + 0.2 for i in y], uniform, height=0.4, color="0.7", label="uniform twin"),
               times.barh([i - 0.2 for i in y], actual, height=0.4, color="C3", label="with stragglers and faults")]
    named: dict[str, str] = {}  # each event's legend text → its colour
    for i, record in zip(y, shown):
        for gid, what, t in _events(record):
            text = f"{what} ({_event_time(t)})"
            if text not in named:
                named[text] = EVENT_COLOURS[len(named) % len(EVENT_COLOURS)]
                handles.append(Line2D([], [], color=named[text], linestyle="none", marker="|" if gid == "link down" else "X",
                                      markersize=11, markeredgewidth=2, label=text))
            times.plot([t * scale], [i - 0.2], linestyle="none", marker="|" if gid == "link down" else "X", markersize=11,
                       markeredgewidth=2, color=named[text], gid=gid, zorder=3, clip_on=False)
        if record["disturbance"]["stopped"]:
            last = max((t for _, _, t in _events(record)), default=0.0)
            times.annotate("stopped", (last * scale, i - 0.2), xytext=(9, 0), textcoords="offset points", va="center",
                           ha="left", fontsize=8, color="C3")
    times.set_yticks(y, labels, fontsize=8)
    times.set_xlabel(f"time ({unit})")
    times.set_title("time against the uniform twin", fontsize=10)
    under = offset_copy(times.transAxes, figure, y=-34, units="points")  # below the axis label, whatever the height
    times.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=under, ncols=2)
    notes = [f"{label} stopped: {r['disturbance']['stopped'].split(': ')[0]}"
             for label, r in zip(labels, shown) if r["disturbance"]["stopped"]]
    left_out = [f"{labels[i]} ({'stopped' if r['disturbance']['stopped'] else 'no worker idle'})"
                for i, r in enumerate(shown) if i not in idling]
    if left_out:
        notes.append("idle per worker not drawn: " + "; ".join(left_out))
    if notes:
        figure.supxlabel("\n".join(notes), x=0.01, ha="left", fontsize=8)
    if not idling:
        return figure
    width = 0.8 / len(idling)
    for k, i in enumerate(idling):
        values = shown[i]["disturbance"]["idle_s"]
        ranks = [rank for rank, value in enumerate(values) if value is not None]
        idle.bar([rank - 0.4 + (k + 0.5) * width for rank in ranks], [values[rank] * scale for rank in ranks],
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
        trained = [record for record in records if record["curves"]["loss"]]
        return written + (save(training_loss(trained), directory, "loss_vs_time") if trained else [])
    ran = [r for r in records if "unavailable" not in r and r.get("makespan_s")]
    scenario = parse(document["scenario"], str(directory / "results.json"), budget=False)  # it ran already
    if len({r["workers"] for r in ran}) > 1:
        by_size = {_size(r) for r in ran}
        for size in sorted(by_size, reverse=True):  # the largest: bandwidth-bound
            subset = [r for r in ran if _size(r) == size]
            if len({r["workers"] for r in subset}) > 1:
                suffix = "" if len(by_size) == 1 else f"_{size}B"
                written += save(time_vs_workers(subset, setting(scenario, subset)), directory, f"time_vs_workers{suffix}")
                written += save(traffic_vs_workers(subset, setting(scenario, subset)), directory,
                                f"messages_and_bytes_vs_workers{suffix}")
                break  # one size is enough for these two pictures
    if len({_size(r) for r in ran}) > 1:  # at the largest worker count: a line per algorithm (and topology)
        most = max(r["workers"] for r in ran)
        subset = [r for r in ran if r["workers"] == most]
        written += save(time_and_busbw_vs_size(subset, setting(scenario, subset)), directory,
                        f"time_and_busbw_vs_size_n{most}")
    for topo in scenario.networks:
        mine = [r for r in ran if r["topology"] == topo.title and r.get("bytes_per_link")]
        if mine:
            record = drawn_run(mine)
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


def timelines(runs: list, directory: Path, limit: int = 5000, rows: int = 16) -> list[Path]:
    """A timeline of each algorithm's run on each topology with the most workers up to ``rows`` (a row per
    worker stays legible; the fewest above one if none fits), of at most ``limit`` messages."""
    chosen: dict[tuple[str, str], object] = {}

    def preference(run: Any) -> tuple[bool, int]:
        return (run.workers <= rows, run.workers if run.workers <= rows else -run.workers)

    for run in runs:
        log = getattr(run, "log", None)
        if log is None or run.workers < 2 or len(log) > limit:
            continue
        key = (run.topology, run.algorithm)
        if key not in chosen or preference(run) > preference(chosen[key]):
            chosen[key] = run
    written = []
    for (topology, algorithm), run in chosen.items():
        written += save(worker_timeline(run), directory, f"timeline_{_slug(topology)}_{algorithm}_n{run.workers}")
    return written


ERROR_TICKS = (-100, -50, -20, -10, -5, 0, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


def validation_errors(cases: list[Any]) -> object:
    """Relative error of the simulated NCCL mode against each measured table, by message size (log x), with the
    ±15 % and ±5 % bands, in two panels: tables of one node, tables of several; the tables that count in colour
    (filled markers: the points held to a target, hollow: not held), the others thin and grey; "calibrated" in
    the title when a calibration was used."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    plt = _pyplot()
    groups = [("one node", [case for case in cases if case.nodes == 1]),
              ("several nodes", [case for case in cases if case.nodes > 1])]
    groups = [(name, members) for name, members in groups if members] or [("", list(cases))]
    counted = sum(case.counts for case in cases)
    figure, axes = plt.subplots(1, len(groups), figsize=(6.2 * len(groups), 4.6 + 0.16 * (counted + 5) / 2),
                                sharey=True, squeeze=False, layout="constrained")
    colours = [c for i, c in enumerate(plt.get_cmap("tab20").colors) if i not in (14, 15)]  # greys: not counted
    handles: dict[str, Any] = {}
    drawn = 0
    for ax, (name, members) in zip(axes[0], groups):
        handles["±15 %"] = ax.axhspan(-15, 15, color="0.93", zorder=0, label="±15 % (target below 1 MiB)")
        handles["±5 %"] = ax.axhspan(-5, 5, color="0.82", zorder=0, label="±5 % (target from 1 MiB to 8 GiB)")
        for case in sorted(members, key=lambda case: case.counts):
            sizes = [p.size for p in case.points]
            errors = [100 * p.error for p in case.points]
            if case.counts:
                colour = colours[drawn % len(colours)]
                dashes = "-" if drawn < len(colours) else "--"  # past 18 tables the colours come again, dashed
                drawn += 1
                (line,) = ax.plot(sizes, errors, linewidth=1.2, color=colour, linestyle=dashes, label=case.title)
                handles[case.title] = line
                ax.plot(sizes, errors, linestyle="none", marker="o", markersize=4, color=colour, markerfacecolor="none")
                held = [(p.size, 100 * p.error) for p in case.points if p.held]
                if held:
                    ax.plot(*zip(*held), linestyle="none", marker="o", markersize=4, color=colour)
            else:
                ax.plot(sizes, errors, color="0.6", linewidth=0.7, linestyle=":", zorder=1)
        ax.set_xscale("log", base=2)
        ax.set_yscale("symlog", linthresh=20)  # ±20 % linear, the misses of several times beyond it compressed
        ax.yaxis.set_major_locator(FixedLocator(ERROR_TICKS))  # labelled beyond ±20 too: a −50 % miss reads as one
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:+g} %".replace("-", "−") if value else "0"))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("buffer size per GPU (B; nccl-tests' size)")
        ax.axhline(0, color="k", linewidth=0.8)
        count = sum(case.counts for case in members)
        ax.set_title(f"{name}: {count} table{'s' if count != 1 else ''} counted" if name else "")
    axes[0][0].set_ylabel(("calibrated" if any(case.calibrated for case in cases) else "simulated")
                          + " − measured (% of measured; linear within ±20)")
    (held,) = axes[0][0].plot([], [], color="0.3", linestyle="none", marker="o", markersize=4)
    (hollow,) = axes[0][0].plot([], [], color="0.3", linestyle="none", marker="o", markersize=4, markerfacecolor="none")
    (grey,) = axes[0][0].plot([], [], color="0.6", linewidth=0.7, linestyle=":")
    handles["held to its target"] = held
    handles["not held (no target, or a -g N table's launch floor ≥ 5 % of the time)"] = hollow
    handles["not counted (see the table for why)"] = grey
    labels = [getattr(handle, "get_label", lambda: key)() if key.startswith("±") else key for key, handle in handles.items()]
    figure.legend(list(handles.values()), labels, fontsize=7, loc="outside lower center", ncol=2)
    kinds = sorted({"all-to-all" if case.collective == "alltoall" else case.collective.replace("_", "-")
                    for case in cases})
    how = "CALIBRATED from the runs" if any(case.calibrated for case in cases) else "configured from presets"
    figure.suptitle(f"commsim's NCCL mode, {how}, against measured nccl-tests times\n({', '.join(kinds)})")
    return figure


def step_breakdown(runs: list[Any], directory: Path) -> list[Path]:
    """``step_breakdown.png``/``.svg`` (see :func:`breakdown_figure`) of a workload's steps just simulated, and
    ``step_scaling.png``/``.svg`` (:func:`scaling_figure`) when they span several worker counts."""
    from .records import step_record

    records = [step_record(run) for run in runs if hasattr(run, "strategy")]
    if not records:
        return []
    written = save(breakdown_figure(records), directory, "step_breakdown")
    if len({record["workers"] for record in records}) > 1:
        written += save(scaling_figure(records), directory, "step_scaling")
    return written


def _configuration(record: dict, several: dict[str, bool]) -> str:
    parts = [record["strategy"], f"{record['workers']} GPUs"]
    if several["topology"]:
        parts.insert(0, record["topology"])
    if several["algorithm"]:
        parts.append(record["algorithm"])
    if several["bucket_cap"]:
        parts.append(f"bucket {format_bytes(record['bucket_cap'])}")
    return ", ".join(parts)


def breakdown_figure(records: list[dict]) -> object:
    """One horizontal bar per configuration, stacked: compute, exposed communication, optimizer step (they add
    up to the step time, written at the bar's end), in one time unit."""
    from ..units import column_unit, format_in

    plt = _pyplot()
    several = {key: len({record[key] for record in records}) > 1 for key in ("topology", "algorithm", "bucket_cap")}
    unit, factor = column_unit([record["step_s"] for record in records], "time")
    labels = [_configuration(record, several) for record in records]
    figure, ax = plt.subplots(figsize=(8.0, 1.2 + 0.42 * len(records)), layout="constrained")
    y = list(range(len(records)))[::-1]
    left = [0.0] * len(records)
    for key, name, color in (("compute_s", "compute", "#4C72B0"), ("exposed_s", "exposed communication", "#DD8452"),
                             ("optimizer_s", "optimizer step", "#55A868")):
        widths = [max(record[key], 0.0) / factor for record in records]
        ax.barh(y, widths, left=left, color=color, label=name, height=0.7)
        left = [a + b for a, b in zip(left, widths)]
    for row, record in zip(y, records):
        ax.text(record["step_s"] / factor, row, f"  {format_in(record['step_s'], factor)} {unit}, "
                f"{record['efficiency']:.0%} eff.", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlim(0, max(left) * 1.3)
    ax.set_xlabel(f"time per step ({unit})")
    model = records[0]["model"]
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    ax.set_title(f"{model}: where a step's time goes (exposed = step − compute − optimizer)", fontsize=10, pad=22)
    return figure


def scaling_figure(records: list[dict]) -> object:
    """Step time (left) and scaling efficiency against one GPU (right) against the number of GPUs, a line per
    strategy (and topology, algorithm, bucket cap where several)."""
    plt = _pyplot()
    several = {key: len({record[key] for record in records}) > 1 for key in ("topology", "algorithm", "bucket_cap")}
    lines: dict[str, list[dict]] = {}
    for record in records:
        key = ", ".join([record["strategy"], *(str(record[k]) if k != "bucket_cap" else f"bucket {format_bytes(record[k])}"
                                               for k in ("topology", "algorithm", "bucket_cap") if several[k])])
        lines.setdefault(key, []).append(record)
    figure, (left, right) = plt.subplots(1, 2, figsize=(9.0, 3.6), layout="constrained")
    for i, (name, line) in enumerate(lines.items()):
        line = sorted(line, key=lambda record: record["workers"])
        gpus = [record["workers"] for record in line]
        style = dict(marker=MARKERS[i % len(MARKERS)], linestyle=DASHES[i % len(DASHES)], color=f"C{i}", label=name)
        left.plot(gpus, [record["step_s"] * 1e3 for record in line], **style)
        right.plot(gpus, [record["efficiency"] * 100 for record in line], **style)
    every = sorted({record["workers"] for record in records})
    for ax, ylabel in ((left, "step time (ms)"), (right, "scaling efficiency vs 1 GPU (%)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(every, [str(n) for n in every])
        ax.minorticks_off()
        ax.set_xlabel("GPUs")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="major", alpha=0.3)
    left.set_ylim(bottom=0)
    right.set_ylim(0, max(105, 5 + max(record["efficiency"] * 100 for record in records)))
    right.legend(fontsize=8, loc="lower left")
    figure.suptitle(f"{records[0]['model']}: one step against the number of GPUs", fontsize=10)
    return figure
