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
        ("message size (B)", "time (s)", "log", "log"), ("message size (B)", "busbw (GB/s)", "log", "linear")]


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
    adds a worker timeline per (topology, algorithm) at the fewest workers."""
    (tmp_path / "p.yaml").write_text(SWEEP)
    assert cli.main(["run", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "r"), "--plot"]) == 0
    assert cli.main(["sweep", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "s"), "--plot", "--jobs", "1"]) == 0
    capsys.readouterr()
    figures = sorted(p.name for p in (tmp_path / "r").glob("*.svg") if not p.name.startswith("timeline_"))
    assert len(figures) == 4 and figures == sorted(p.name for p in (tmp_path / "s").glob("*.svg"))
    assert sorted(p.name for p in (tmp_path / "r").glob("timeline_*.svg")) == [
        "timeline_star_parameter_server_n2.svg", "timeline_star_ring_allreduce_n2.svg"]


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
    assert [line.get_label() for line in lines] == ["ring_allreduce × gradient_descent", "parameter_server × gradient_descent"]
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


def test_training_loss_with_many_runs_keeps_its_legend_inside_and_draws_without_a_layout_warning(tmp_path):
    """48 curves (e.g. 4 worker counts × 3 algorithms × 4 optimizers): the figure grows with its legend, so
    drawing it twice (PNG, then SVG) does not collapse the constrained layout (a UserWarning, an error under
    the suite's filterwarnings = error; the fuzz test met it) and the legend stays inside its panel."""
    records = [{"wire": "fp32", "optimizer": f"optimizer{o}", "workers": n, "algorithm": f"algorithm{a}",
                "model": "mlp", "dataset": "synthetic", "curves": {"time_s": [1e-4, 1e-3], "loss": [1.0, 0.5]}}
               for o in range(4) for a in range(3) for n in (2, 4, 8, 16)]
    figure = plots.training_loss(records)
    assert len(figure.axes[0].get_lines()) == 48
    legend = figure.axes[0].get_legend()
    assert plots.save(figure, tmp_path, "loss") == [tmp_path / "loss.png", tmp_path / "loss.svg"]
    box, inside = legend.get_window_extent(), figure.axes[0].get_window_extent()
    assert inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1
