"""`commsim plot`: every figure is written, non-empty, with its axes labelled (read back from the figure)."""

import json

import pytest

from commsim import cli, scenario
from commsim.report import plots
from commsim.runner import sweep as runner

SWEEP = """name: p
workers: [2, 4, 8]
size: {from: 1 KiB, to: 1 MiB, factor: 32}
algorithms: [ring_allreduce, parameter_server]
topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}
payload: size-only
"""


@pytest.fixture(autouse=True)
def _close_figures():
    """Each test's figures closed after it (matplotlib warns past 20 open, and warnings are errors here)."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plots")
    (folder / "p.yaml").write_text(SWEEP)
    with runner.executor_for("local", 1) as executor:
        records = runner.sweep(scenario.load(folder / "p.yaml"), folder / "out", executor)
    return folder / "out", records


def _labels(figure):
    return [(ax.get_xlabel(), ax.get_ylabel(), ax.get_xscale(), ax.get_yscale()) for ax in figure.axes]


def test_each_figure_labels_its_axes_with_units(swept):
    """Time vs workers (log-log), messages and bytes vs workers, time and busbw vs size."""
    _, records = swept
    big = [r for r in records if r["params"] * 4 == 2**20]
    assert _labels(plots.time_vs_workers(big)) == [("workers", "time (s)", "log", "log")]
    assert _labels(plots.traffic_vs_workers(big)) == [("workers", "messages", "log", "log"),
                                                     ("workers", "bytes sent (B)", "log", "log")]
    assert _labels(plots.time_and_busbw_vs_size([r for r in records if r["workers"] == 8])) == [
        ("buffer size per worker (B)", "time (s)", "log", "log"),
        ("buffer size per worker (B)", "busbw (GB/s)", "log", "linear")]


def test_the_traffic_figure_draws_the_textbook_table(swept):
    """The plotted messages are 2n(n−1) for the ring and 2n for the parameter server, at n = 2, 4, 8."""
    _, records = swept
    figure = plots.traffic_vs_workers([r for r in records if r["params"] * 4 == 2**20])
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    assert list(lines["ring_allreduce"].get_ydata()) == [2 * n * (n - 1) for n in (2, 4, 8)]
    assert list(lines["parameter_server"].get_ydata()) == [2 * n for n in (2, 4, 8)]


def test_plot_command_writes_every_figure_once_and_the_same_bytes_again(swept, capsys):
    """PNG and SVG of each figure, non-empty; plotting again gives byte-identical SVG files."""
    out, _ = swept
    assert cli.main(["plot", str(out)]) == 0
    names = sorted(line.split("/")[-1] for line in capsys.readouterr().out.splitlines())
    stems = ["messages_and_bytes_vs_workers_1048576B", "time_and_busbw_vs_size_n8",
             "time_vs_workers_1048576B", "topology_star_ring_allreduce_n8"]
    assert names == sorted(f"{stem}.{suffix}" for stem in stems for suffix in ("png", "svg"))
    first = {name: (out / name).read_bytes() for name in names}
    assert all(len(data) > 2000 for data in first.values())
    assert cli.main(["plot", str(out)]) == 0
    assert all((out / name).read_bytes() == first[name] for name in names if name.endswith(".svg"))


def test_the_topology_figure_colours_links_by_utilisation(swept):
    """Ring all-reduce on a star of 8: every link is busy (P/8·14 B at 1 GB/s) most of the run; the colour
    scale is labelled."""
    out, records = swept
    record = next(r for r in records if r["workers"] == 8 and r["algorithm"] == "ring_allreduce" and r["params"] * 4 == 2**20)
    graph = scenario.load(out.parent / "p.yaml").networks[0].build(8, ["ring_allreduce"])
    figure = plots.topology_usage(graph, record)
    assert figure.axes[1].get_ylabel() == "link utilisation (busy time / makespan)"
    from matplotlib.collections import LineCollection

    (edges,) = [c for c in figure.axes[0].collections if isinstance(c, LineCollection)]
    expected = 14 * (2**20 // 8) / 1e9 / (14 * (2e-6 + 2**20 / 8 / 1e9))  # busy / makespan, by hand
    assert list(edges.get_linewidths()) == pytest.approx([0.5 + 4 * expected] * 8, rel=1e-9)  # width = 0.5 + 4·util
    import matplotlib.pyplot as plt
    import numpy as np

    np.testing.assert_allclose(edges.get_colors(), [plt.get_cmap("viridis")(expected)] * 8, atol=1e-2)


def test_plot_refuses_a_folder_without_results(tmp_path, capsys):
    """No results.json: exit 2 and one line."""
    assert cli.main(["plot", str(tmp_path)]) == 2
    assert "no results.json here" in capsys.readouterr().err
    (tmp_path / "results.json").write_text(json.dumps({"runs": [{"x": 1}]}))
    assert cli.main(["plot", str(tmp_path)]) == 2
    assert "not a results file commsim wrote" in capsys.readouterr().err


def test_run_and_sweep_draw_with_plot(tmp_path, capsys):
    """`--plot` on run and on sweep writes the figures of `commsim plot`; run, which keeps the message log,
    adds a worker timeline per (topology, algorithm) at the most workers up to 16 (n = 8 here, not 2)."""
    (tmp_path / "p.yaml").write_text(SWEEP)
    assert cli.main(["run", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "r"), "--plot"]) == 0
    assert cli.main(["sweep", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "s"), "--plot", "--jobs", "1"]) == 0
    capsys.readouterr()
    figures = sorted(p.name for p in (tmp_path / "r").glob("*.svg") if not p.name.startswith("timeline_"))
    assert len(figures) == 4 and figures == sorted(p.name for p in (tmp_path / "s").glob("*.svg"))
    assert sorted(p.name for p in (tmp_path / "r").glob("timeline_*.svg")) == [
        "timeline_star_parameter_server_n8.svg", "timeline_star_ring_allreduce_n8.svg"]


def test_worker_timeline_draws_each_message_where_the_log_says():
    """Ring all-reduce on a star of 3: each worker sends 4 chunks back to back, each 2α + (P/3)/B long, and
    receives 4; no idle time; time in µs."""
    from commsim.engines.message import make_buffers, run_collective
    from commsim.network import topology

    graph = topology.build("star", 3, 1e9, 1e-6)
    collective = run_collective("ring_allreduce", graph, make_buffers(3, 3000, "float32", "size-only", 0))

    class Run:  # what the timeline reads of a run
        algorithm, topology, workers = "ring_allreduce", "star", 3
        log, finish_s = collective.network.log, collective.finish_s

    figure = plots.worker_timeline(Run)
    ax = figure.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("simulated time (µs)", "worker")
    step = (2e-6 + 1000 * 4 / 1e9) * 1e6
    bars = [collection.get_paths() for collection in ax.collections]
    sends, receives, idle = bars[0], bars[1], bars[2]  # worker 0: sends, receives, idle
    assert len(sends) == len(receives) == 4 and len(idle) == 0
    lefts = sorted(path.vertices[:, 0].min() for path in sends)
    assert lefts == pytest.approx([k * step for k in range(4)], rel=1e-9, abs=1e-9)


def _trained(tmp_path, head: str, steps: str, optimizers: str) -> list[dict]:
    """``commsim run`` of a small linear-regression training scenario on a star; its results.json records."""
    (tmp_path / "t.yaml").write_text(
        f"name: t\n{head}topology: {{kind: star}}\n"
        f"training: {{model: linear_regression, samples: 64, features: 4, {steps}, batch_per_worker: 8,\n"
        f"           optimizer: {optimizers}}}\n")
    assert cli.main(["run", str(tmp_path / "t.yaml"), "--out", str(tmp_path / "o")]) == 0
    return json.loads((tmp_path / "o" / "results.json").read_text())["runs"]


def test_training_loss_is_drawn_on_a_log_time_axis(tmp_path, capsys):
    """`commsim plot` on a training run's results: loss against simulated time, both axes log, one line per
    (algorithm, optimizer), the curve's last point at the run's makespan."""
    records = _trained(tmp_path, "workers: 2\nalgorithms: [ring_allreduce, parameter_server]\n", "steps: 5",
                       "[{name: gradient_descent, alpha: 0.1}]")
    figure = plots.training_loss(records)
    ax = figure.axes[0]
    assert (ax.get_xlabel(), ax.get_xscale(), ax.get_yscale()) == ("simulated time (s), compute included", "log", "log")
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == [f"ring_allreduce × gradient_descent, {records[0]['bytes']} B sent",
                                                    f"parameter_server × gradient_descent, {records[1]['bytes']} B sent"]
    assert [line.get_xdata()[-1] for line in lines] == [record["makespan_s"] for record in records]
    capsys.readouterr()
    assert cli.main(["plot", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "loss_vs_time.svg").stat().st_size > 2000


def test_training_loss_has_one_panel_per_wire_format(tmp_path):
    """Runs on different wire formats go to their own panels (a fast 1-bit run is not squeezed against a
    slow fp32 one), each panel holding exactly its wire's curves, with both axes labelled and log."""
    records = _trained(tmp_path, "workers: 4\nalgorithms: [parameter_server]\n", "steps: 3",
                       "[{name: sign_sgd, learning_rate: 0.01}, {name: sign_sgd, learning_rate: 0.01, wire: sign},"
                       " {name: signum, learning_rate: 0.01, wire: sign}]")
    figure = plots.training_loss(records)
    assert [ax.get_title() for ax in figure.axes] == ["wire fp32", "wire sign"]
    for ax, wire in zip(figure.axes, ["fp32", "sign"]):
        assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
        assert ax.get_ylabel() == "training loss (mean of worker batches)"
        mine = [r for r in records if r["wire"] == wire]
        assert [line.get_xdata()[-1] for line in ax.get_lines()] == [r["makespan_s"] for r in mine]
    fp32, sign = ([r["makespan_s"] for r in records if r["wire"] == w] for w in ("fp32", "sign"))
    assert max(sign) < min(fp32)  # the reason for separate panels: 1 bit per element is faster


def test_training_panels_share_their_time_axis_and_say_the_bytes(tmp_path):
    """The wire formats' panels have one x range (the 1-bit runs sit left of the fp32 ones, not stretched to
    the same width), and each legend entry gives the run's bytes: the sign wire's ⌈p/8⌉ + 4 per message."""
    records = _trained(tmp_path, "workers: 4\nalgorithms: [parameter_server]\n", "steps: 3",
                       "[{name: sign_sgd, learning_rate: 0.01}, {name: sign_sgd, learning_rate: 0.01, wire: sign}]")
    figure = plots.training_loss(records)
    fp32, sign = figure.axes
    assert fp32.get_xlim() == sign.get_xlim()
    params = records[0]["params"]  # 4 features → 1 output: 5 parameters; 8 messages a step, 3 steps
    assert [r["bytes"] for r in records] == [24 * 4 * params, 24 * (-(-params // 8) + 4)]
    assert [t.get_text() for t in fp32.get_legend().get_texts()] == [f"parameter_server × sign_sgd, {96 * params} B sent"]
    assert [t.get_text() for t in sign.get_legend().get_texts()] == [
        f"parameter_server × sign_sgd/sign, {24 * (-(-params // 8) + 4)} B sent"]


def test_time_against_workers_shows_the_closed_form_above_the_line_with_a_legend_entry(swept):
    """The closed form is drawn over the simulated line (higher zorder, black bars at each point, not a dash
    of the same colour hidden under it) at the expected times, and the legend names it."""
    _, records = swept
    big = [r for r in records if r["params"] * 4 == 2**20]
    ax = plots.time_vs_workers(big).axes[0]
    simulated = [line for line in ax.get_lines() if line.get_gid() == "simulated"]
    closed = [line for line in ax.get_lines() if line.get_gid() == "closed form"]
    assert len(simulated) == len(closed) == 2
    for sim, form in zip(simulated, closed):
        mine = sorted((r for r in big if r["algorithm"] == sim.get_label()), key=lambda r: r["workers"])
        assert list(form.get_ydata()) == [r["expected"]["makespan_s"] for r in mine]
        assert list(sim.get_ydata()) == [r["makespan_s"] for r in mine]
        assert form.get_zorder() > sim.get_zorder() and form.get_color() == "k" and form.get_marker() == "_"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "ring_allreduce", "parameter_server", "closed form (black bar; a lower bound where the run says ≥)"]


TWO_NETWORKS = """name: two
workers: 4
size: {from: 1 KiB, to: 32 KiB, factor: 32}
algorithms: [ring_allreduce, recursive_doubling]
topologies: [{kind: star, bandwidth: 8 Gbit/s, latency: 1 us}, {kind: ring, bandwidth: 16 Gbit/s, latency: 2 us}]
payload: size-only
"""


def test_size_figure_names_the_setting_and_pairs_colours_by_network(tmp_path):
    """Against the buffer size: the title says the workers, each network with its links and the model; the
    lines of one network share a colour, an algorithm keeps its dash on every network."""
    (tmp_path / "two.yaml").write_text(TWO_NETWORKS)
    loaded = scenario.load(tmp_path / "two.yaml")
    with runner.executor_for("local", 1) as executor:
        records = runner.sweep(loaded, tmp_path / "out", executor)
    figure = plots.time_and_busbw_vs_size(records, plots.setting(loaded, records))
    assert figure.get_suptitle() == ("4 workers, model alpha-beta\n"
                                     "star: every link 8 Gbit/s, 1 us\nring: every link 16 Gbit/s, 2 us")
    lines = {line.get_label(): line for line in figure.axes[1].get_lines()}
    assert list(lines) == ["ring_allreduce on star", "recursive_doubling on star", "ring_allreduce on ring",
                           "recursive_doubling on ring"]
    colour = {label: line.get_color() for label, line in lines.items()}
    dash = {label: line.get_linestyle() for label, line in lines.items()}
    assert colour["ring_allreduce on star"] == colour["recursive_doubling on star"] != colour["ring_allreduce on ring"]
    assert colour["ring_allreduce on ring"] == colour["recursive_doubling on ring"]
    assert dash["ring_allreduce on star"] == dash["ring_allreduce on ring"] != dash["recursive_doubling on star"]
    assert dash["recursive_doubling on star"] == dash["recursive_doubling on ring"]


def _texts(ax) -> dict[str, tuple[float, float]]:
    """Each node label drawn in ``ax`` and where it is."""
    return {text.get_text(): tuple(text.get_position()) for text in ax.texts}


def _edges(ax):
    from matplotlib.collections import LineCollection

    (edges,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    return edges


def test_a_thousand_workers_are_drawn_as_one_group_beside_the_server(tmp_path):
    """A parameter server on a star of 1,024: the workers are one labelled box (their busiest link drawn), so
    two links are drawn — the group's and the server's, each at the utilisation results.json gives it — and
    the title says which run is drawn, and how."""
    (tmp_path / "big.yaml").write_text("name: big\nworkers: 1024\nparams: 1000\npayload: size-only\n"
                                       "algorithms: [parameter_server]\ntopology: {kind: star, bandwidth: 8 Gbit/s}\n")
    loaded = scenario.load(tmp_path / "big.yaml")
    with runner.executor_for("local", 1) as executor:
        (record,) = runner.sweep(loaded, tmp_path / "out", executor)
    figure = plots.topology_usage(loaded.networks[0].build(1024, ["parameter_server"]), record)
    ax = figure.axes[0]
    assert set(_texts(ax)) == {"0–1023", "switch", "server"}
    # server link: 1024 pushes of 4 kB in, 1024 pulls out, over 2(α + 1024·4 kB / 1 GB/s) = 8.19 ms: 50 % busy
    server = 1024 * 4000 / 1e9 / record["makespan_s"]
    assert server == pytest.approx(0.5, rel=1e-12) and record["hottest_links"][0]["utilisation"] == server
    one_worker = 4000 / 1e9 / record["makespan_s"]
    assert sorted(_edges(ax).get_linewidths()) == pytest.approx([0.5 + 4 * one_worker, 0.5 + 4 * server], rel=1e-12)
    assert ax.get_title() == ("parameter_server on star, 1024 workers, 4 kB buffer\nbusiest link server–switch: 50% busy\n"
                              "workers that share a switch drawn as one box, with their busiest link")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["workers sharing a switch (ranks below)", "switch",
                                                                   "parameter server"]


def test_a_fat_tree_is_drawn_in_layers_with_its_cores_apart(tmp_path):
    """k = 4 fat tree, 8 workers: workers at the bottom, then edge, aggregation and core switches, each layer
    higher; the four cores stand side by side, not on one spot."""
    graph = scenario.TopologySpec(kind="fat_tree", k=4).build(8, ["ring_allreduce"])
    record = {"algorithm": "ring_allreduce", "topology": "fat_tree", "workers": 8, "params": 1, "bytes_per_param": 4,
              "makespan_s": 1.0, "bytes_per_link": {}, "hottest_links": []}
    at = _texts(plots.topology_usage(graph, record).axes[0])
    height = {layer: {at[str(node)][1] for node, role in graph.nodes(data="layer") if role == layer}
              for layer in ("edge", "aggregation", "core")}
    workers = {at[str(w)][1] for w in range(8)}
    assert all(len(levels) == 1 for levels in [*height.values(), workers])
    assert workers.pop() < height["edge"].pop() < height["aggregation"].pop() < height["core"].pop()
    assert len({at[f"core{i}"][0] for i in range(4)}) == 4


def test_a_torus_is_drawn_as_its_grid(tmp_path):
    """4 × 4 torus: worker (i, j) = 4i + j drawn at column j, row i; every link is drawn no longer than one
    grid step (the wraparound links as stubs off the edge, not lines across the grid)."""
    graph = scenario.TopologySpec(kind="torus", dims=[4, 4]).build(16, ["ring_allreduce"])
    record = {"algorithm": "ring_allreduce", "topology": "torus", "workers": 16, "params": 1, "bytes_per_param": 4,
              "makespan_s": 1.0, "bytes_per_link": {}, "hottest_links": []}
    ax = plots.topology_usage(graph, record).axes[0]
    at = _texts(ax)
    assert {w: at[str(w)] for w in range(16)} == {w: (w % 4, -(w // 4)) for w in range(16)}
    import numpy as np

    segments = _edges(ax).get_segments()
    assert len(segments) == 24 + 2 * 8  # 24 inner links, 8 wraparound links as two stubs each
    assert max(np.hypot(*(s[1] - s[0])) for s in segments) == pytest.approx(1.0)


def test_a_3d_torus_is_drawn_as_planes_with_stubs_between_them():
    """2 × 2 × 3 torus: worker (i, j, k) = (2i + j)·3 + k; plane k in a block of ⌈√3⌉ = 2 across, at column
    j + 3·(k mod 2), row −i − 3·(k // 2). Each of the 12 links along k (size 3: every worker to k + 1) is two
    diagonal stubs, ↗ (+0.3, +0.3) from the worker whose next plane it reaches, ↙ from the other end; the 12
    links within planes (size 2: one per pair) are single steps. Nothing drawn is longer than one step."""
    import numpy as np

    graph = scenario.TopologySpec(kind="torus", dims=[2, 2, 3]).build(12, ["ring_allreduce"])
    record = {"algorithm": "ring_allreduce", "topology": "torus", "workers": 12, "params": 1, "bytes_per_param": 4,
              "makespan_s": 1.0, "bytes_per_link": {}, "hottest_links": []}
    ax = plots.topology_usage(graph, record).axes[0]
    expected = {}
    for i in range(2):
        for j in range(2):
            for k in range(3):
                expected[(2 * i + j) * 3 + k] = (j + 3 * (k % 2), -i - 3 * (k // 2))
    at = _texts(ax)
    assert {w: at[str(w)] for w in range(12)} == expected
    segments = [np.asarray(s) for s in _edges(ax).get_segments()]
    assert len(segments) == 12 + 2 * 12
    stubs = [s for s in segments if np.allclose(np.abs(s[1] - s[0]), 0.3)]
    assert len(stubs) == 24
    plane = {tuple(map(float, xy)): w % 3 for w, xy in expected.items()}
    for first, second in zip(stubs[::2], stubs[1::2]):  # a link's two stubs are drawn one after the other
        up, down = (first, second) if first[1][0] > first[0][0] else (second, first)
        assert down[1][0] < down[0][0]  # one ↗, one ↙
        assert (plane[tuple(down[0])] - plane[tuple(up[0])]) % 3 == 1  # ↗ from the end whose next plane is k + 1
    assert max(np.hypot(*(s[1] - s[0])) for s in segments) == pytest.approx(1.0)
    assert "planes k = 0…2 left to right, then down" in ax.get_title()


def test_a_hypercube_is_drawn_as_a_grid_of_its_bits_with_arcs():
    """Hypercube of 8: low two bits the column, the high bit the row (1.6 apart): worker w at (w mod 4,
    −1.6·(w >> 2)). The 12 links: bit 0 and bit 2 flips are single steps; the 4 bit-1 flips (0–2, 1–3, 4–6, 5–7)
    reach 2 columns and are arcs bowed up by 0.22·log₂ 2 halfway."""
    import numpy as np

    graph = scenario.TopologySpec(kind="hypercube").build(8, ["ring_allreduce"])
    record = {"algorithm": "ring_allreduce", "topology": "hypercube", "workers": 8, "params": 1,
              "bytes_per_param": 4, "makespan_s": 1.0, "bytes_per_link": {}, "hottest_links": []}
    ax = plots.topology_usage(graph, record).axes[0]
    at = _texts(ax)
    assert {w: at[str(w)] for w in range(8)} == {w: (w % 4, -1.6 * (w >> 2)) for w in range(8)}
    lines = [np.asarray(s) for s in _edges(ax).get_segments()]
    assert len(lines) == 12
    arcs = sorted(lines, key=len)[-4:]
    assert all(len(arc) == plots.ARC_POINTS for arc in arcs) and all(len(line) == 2 for line in sorted(lines, key=len)[:8])
    ends = sorted(tuple(sorted((tuple(arc[0]), tuple(arc[-1])))) for arc in arcs)
    assert ends == sorted(tuple(sorted(((a % 4, -1.6 * (a >> 2)), (b % 4, -1.6 * (b >> 2)))))
                          for a, b in ((0, 2), (1, 3), (4, 6), (5, 7)))
    for arc in arcs:
        assert arc[plots.ARC_POINTS // 2][1] - arc[0][1] == pytest.approx(0.22)


NCCL_PAIR = """name: h100
workers: 16
size: {from: 1 MiB, to: 32 MiB, factor: 32}
payload: size-only
algorithms: [ring_allreduce]
model: nccl
topology: {kind: cluster, preset: hgx-h100, nodes: 2}
"""


def test_the_topology_figure_draws_the_bandwidth_bound_run_at_the_table_s_utilisation(tmp_path):
    """Of a 1 MiB and a 32 MiB run (NCCL mode), `commsim plot` draws the 32 MiB one, says so, and colours its
    links at the utilisation the table gives (busy at NCCL's link rate, not the graph's bandwidth); the idle
    spine (each rail joins its NICs) is left out, and the title says so."""
    (tmp_path / "h.yaml").write_text(NCCL_PAIR)
    loaded = scenario.load(tmp_path / "h.yaml")
    with runner.executor_for("local", 1) as executor:
        records = runner.sweep(loaded, tmp_path / "out", executor)
    drawn = plots.drawn_run(records)
    assert drawn is records[1] and drawn["params"] * 4 == 32 * 2**20
    ax = plots.topology_usage(loaded.networks[0].build(16, ["ring_allreduce"]), drawn).axes[0]
    hottest = drawn["hottest_links"][0]
    u, v = hottest["link"].split("->")
    assert ax.get_title() == (f"ring_allreduce on cluster hgx-h100 x2, 16 workers, 32 MiB buffer\n"
                              f"busiest link {u}–{v}: {hottest['utilisation']:.0%} busy\n"
                              "1 switch without workers that no byte crossed not drawn")  # the spine: rails suffice
    assert "spine0" not in _texts(ax) and "rail0" in _texts(ax)
    assert max(_edges(ax).get_linewidths()) == pytest.approx(0.5 + 4 * hottest["utilisation"], rel=1e-12)


def _bundled_records(name: str) -> list[dict]:
    from commsim.report.records import run_record
    from commsim.runner.points import simulate_run

    loaded = scenario.load(name)
    return [run_record(simulate_run(loaded, point)) for point in loaded.runs()]


def _markers(ax, gid: str) -> list[tuple[float, float]]:
    return [(x, y) for line in ax.get_lines() if line.get_gid() == gid for x, y in zip(line.get_xdata(), line.get_ydata())]


def test_the_faults_figure_marks_the_crash_and_draws_no_empty_idle_panel():
    """worker_crash: no worker idles (the ring stopped, the server's workers wait 0), so there is no idle
    panel, and a note says why; a cross marks worker 5's crash at 0.5 ms on each run's row, named in the
    legend; the stopped run says why it stopped."""
    figure = plots.disturbance_figure(_bundled_records("worker_crash"))
    (times,) = figure.axes
    assert _markers(times, "crash") == [(0.5, 0.8), (0.5, -0.2)]  # ring (upper row), then the server
    assert [t.get_text() for t in times.get_legend().get_texts()] == [
        "uniform twin", "with stragglers and faults", "worker 5 crashes (500 us)"]
    assert [t.get_text() for t in times.texts] == ["stopped"]
    assert [t.get_text() for t in figure.texts] == [
        "ring_allreduce, 8 workers stopped: ring_allreduce cannot finish (worker 5 crashed at t = 500 us)\n"
        "idle per worker not drawn: ring_allreduce, 8 workers (stopped); parameter_server, 8 workers (no worker idle)"]


def test_the_faults_figure_marks_each_link_failure():
    """partition: link 0–1 fails at 10 us and link 4–5 at 20 us; a bar marks each on the run's row (in us,
    the run's unit), each named in the legend; the run stopped, so no idle panel."""
    figure = plots.disturbance_figure(_bundled_records("partition"))
    (times,) = figure.axes
    assert times.get_xlabel() == "time (us)"
    assert _markers(times, "link down") == [(pytest.approx(10.0), -0.2), (pytest.approx(20.0), -0.2)]
    assert [t.get_text() for t in times.get_legend().get_texts()][2:] == ["link 0–1 fails (10 us)",
                                                                          "link 4–5 fails (20 us)"]


def test_the_faults_figure_keeps_the_idle_panel_for_runs_that_idle():
    """link_failure: the ring's workers 2–7 idle while 0→1 takes the long way; all-to-all's none: the idle
    panel holds the ring's bars only (at results.json's values), and the note names the run left out."""
    records = _bundled_records("link_failure")
    figure = plots.disturbance_figure(records)
    times, idle = figure.axes
    assert idle.get_ylabel() == "idle (us)"
    assert [p.get_height() for p in idle.patches] == pytest.approx([v * 1e6 for v in records[0]["disturbance"]["idle_s"]])
    assert [t.get_text() for t in figure.texts] == ["idle per worker not drawn: all_to_all, 8 workers (no worker idle)"]
    assert _markers(times, "link down") == [(0.0, 0.8), (0.0, -0.2)]


def test_validation_axis_labels_the_large_misses():
    """The symlog error axis has a labelled tick at −50 % and +50 % (linear only within ±20), so a miss of
    half the measured time can be read."""
    from types import SimpleNamespace

    point = SimpleNamespace
    case = SimpleNamespace(counts=True, title="t", collective="all_reduce", calibrated=False, nodes=1,
                           points=[point(size=2**k, error=e, held=k != 10) for k, e in
                                   ((10, -0.55), (20, 0.01), (30, 0.6))])
    figure = plots.validation_errors([case])
    figure.canvas.draw()
    ax = figure.axes[0]
    assert ax.get_xlabel() == "buffer size per GPU (B; nccl-tests' size)"
    shown = {tick: label.get_text() for tick, label in zip(ax.get_yticks(), ax.get_yticklabels())
             if ax.get_ylim()[0] <= tick <= ax.get_ylim()[1]}
    assert shown == {-50: "−50 %", -20: "−20 %", -10: "−10 %", -5: "−5 %", 0: "0", 5: "+5 %", 10: "+10 %",
                     20: "+20 %", 50: "+50 %"}
    filled = [line for line in ax.lines if line.get_marker() == "o" and line.get_markerfacecolor() != "none"
              and len(line.get_xdata())]
    assert [list(line.get_xdata()) for line in filled] == [[2**20, 2**30]]  # held points filled; 1 KiB hollow
    assert ax.get_title() == "one node: 1 table counted"
    assert figure._suptitle.get_text().endswith("against measured nccl-tests times\n(all-reduce)")


def test_a_ring_is_drawn_as_a_circle():
    """Ring of 8: worker w at angle 2πw/8 clockwise from the top, on the unit circle."""
    import math

    graph = scenario.TopologySpec(kind="ring").build(8, ["ring_allreduce"])
    record = {"algorithm": "ring_allreduce", "topology": "ring", "workers": 8, "params": 1, "bytes_per_param": 4,
              "makespan_s": 1.0, "bytes_per_link": {}, "hottest_links": []}
    at = _texts(plots.topology_usage(graph, record).axes[0])
    for w in range(8):
        assert at[str(w)] == pytest.approx((math.sin(math.pi * w / 4), math.cos(math.pi * w / 4)), abs=1e-12)


def test_only_the_busiest_links_of_a_dense_graph_are_drawn():
    """Fully connected, 30 workers: 435 links; the 300 drawn are the busiest (the 5 loaded ones among them,
    at their utilisation), and the title says how many of how many."""
    graph = scenario.TopologySpec(kind="fully_connected", bandwidth=1e9).build(30, ["ring_allreduce"])
    loaded = {f"{w}->{w + 1}": 1e8 * (w + 1) for w in range(5)}  # 0.1 … 0.5 s busy of a 1 s run
    record = {"algorithm": "ring_allreduce", "topology": "fully_connected", "workers": 30, "params": 1,
              "bytes_per_param": 4, "makespan_s": 1.0, "bytes_per_link": loaded, "hottest_links": []}
    ax = plots.topology_usage(graph, record).axes[0]
    edges = _edges(ax)
    assert len(edges.get_segments()) == 300 and ax.get_title().endswith("only the 300 busiest of 435 links drawn")
    assert sorted(edges.get_linewidths())[-5:] == pytest.approx([0.5 + 4 * u for u in (0.1, 0.2, 0.3, 0.4, 0.5)])


def test_networks_are_described_by_their_links():
    """A title's network: every link's rate and latency; a generator's own rates after (the 2-node cluster of
    allreduce_algorithms); a GPU cluster by its NICs and NVLink (nccl_clusters' presets, from their sheets)."""
    mesh, fat_tree = scenario.load("allreduce_algorithms").networks
    assert plots.network_text(mesh) == "links 200 Gbit/s, 2 us; intra 2.4 Tbit/s, 1 us; nic 200 Gbit/s, 2 us"
    assert plots.network_text(fat_tree) == "every link 100 Gbit/s, 1 us"
    h100, a100 = scenario.load("nccl_clusters").networks
    assert plots.network_text(h100) == "8 × 400 Gbit/s NICs per 8-GPU node, NVLink 450 GB/s per GPU"
    assert plots.network_text(a100) == "8 × 200 Gbit/s NICs per 8-GPU node, NVLink 300 GB/s per GPU"
    slow = scenario.TopologySpec(kind="star", links=[{"between": [0, "switch"], "bandwidth": "1 Gbit/s"}])
    assert plots.network_text(slow) == "links 100 Gbit/s, 0 s; 1 link with its own speed"


def test_compare_title_says_the_workers_where_they_vary(tmp_path):
    """Workers 2 and 4 on one star: by topology the title says "2 or 4 workers (per row)"; by workers they are
    the columns, and the title names the one network."""
    from commsim.report import compare

    (tmp_path / "w.yaml").write_text("name: w\nworkers: [2, 4]\nparams: 1000\npayload: size-only\n"
                                     "algorithms: [ring_allreduce]\ntopology: {kind: star, latency: 1 us}\n")
    loaded = scenario.load(tmp_path / "w.yaml")
    with runner.executor_for("local", 1) as executor:
        records = runner.sweep(loaded, tmp_path / "out", executor)
    by_topology = compare.figure(compare.comparison(records), loaded.networks).axes[0].get_title()
    by_workers = compare.figure(compare.comparison(records, "workers"), loaded.networks).axes[0].get_title()
    assert by_topology == ("simulated time per algorithm and topology\n"
                           "2 or 4 workers (per row), 4 kB buffer (1,000 float32), every link 100 Gbit/s, 1 us")
    assert by_workers == ("simulated time per algorithm and workers\n"
                          "2 or 4 workers (per column), 4 kB buffer (1,000 float32), on star: every link 100 Gbit/s, 1 us")


def test_training_loss_with_many_runs_keeps_its_legend_inside_and_draws_without_a_layout_warning(tmp_path):
    """48 curves (e.g. 4 worker counts × 3 algorithms × 4 optimizers): the figure grows with its legend, so
    drawing it twice (PNG, then SVG) does not collapse the constrained layout (a UserWarning, an error under
    the suite's filterwarnings = error; the fuzz test met it) and the legend, under its panel, stays inside the
    figure."""
    records = [{"wire": "fp32", "optimizer": f"optimizer{o}", "workers": n, "algorithm": f"algorithm{a}",
                "model": "mlp", "dataset": "synthetic", "bytes": 1000,
                "curves": {"time_s": [1e-4, 1e-3], "loss": [1.0, 0.5]}}
               for o in range(4) for a in range(3) for n in (2, 4, 8, 16)]
    figure = plots.training_loss(records)
    assert len(figure.axes[0].get_lines()) == 48
    legend = figure.axes[0].get_legend()
    assert plots.save(figure, tmp_path, "loss") == [tmp_path / "loss.png", tmp_path / "loss.svg"]
    box, inside = legend.get_window_extent(), figure.get_window_extent()  # under its panel, inside the figure
    assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1


def test_a_scenario_with_workers_named_by_key_draws_from_its_results(tmp_path, capsys):
    """Slowdown and link overrides keyed by worker come back from results.json with text keys (JSON's);
    `--plot` read them back as the same workers (it once stopped with "a worker is a whole number, got '1'"
    after writing the results): worker 1's factor 3 and its 2 Gbit/s links, as in the YAML."""
    from commsim import scenario

    text = ("name: keyed\nworkers: 4\nparams: 1000\ntopology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\n"
            "algorithms: [ring_allreduce]\nstragglers: {compute: 2 us, slowdown: {1: 3}, links: {1: {bandwidth: 2 Gbit/s}}}\n")
    (tmp_path / "k.yaml").write_text(text)
    assert cli.main(["run", str(tmp_path / "k.yaml"), "--out", str(tmp_path / "r"), "--plot"]) == 0
    capsys.readouterr()
    stored = json.loads((tmp_path / "r" / "results.json").read_text())["scenario"]["stragglers"]
    assert stored["slowdown"] == {"1": 3} and "1" in stored["links"]  # JSON's text keys
    read_back = scenario.parse(json.loads((tmp_path / "r" / "results.json").read_text())["scenario"], "r", budget=False)
    assert read_back.stragglers.factors(4, 0) == [1.0, 3.0, 1.0, 1.0]
    assert read_back.stragglers.links[1].bandwidth == 2e9 / 8
