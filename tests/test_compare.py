"""`commsim compare`: the table's numbers against the closed forms, the best marks, the chart's labels."""

import pytest

from commsim import cli, scenario
from commsim.report import compare
from commsim.runner import sweep as runner

ALPHA, B, N, P = 1e-6, 1e9, 4, 250_000  # 1 MB of fp32
SCENARIO = f"""name: cmp
workers: {N}
params: {P}
algorithms: [ring_allreduce, all_to_all, parameter_server]
topologies: [{{kind: star, bandwidth: 8 Gbit/s, latency: 1 us}}, {{kind: ring, bandwidth: 8 Gbit/s, latency: 1 us}}]
payload: size-only
"""


@pytest.fixture
def result(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(SCENARIO)
    with runner.executor_for("local", 1) as executor:
        records = runner.sweep(scenario.load(path), tmp_path / "o", executor)
    return compare.comparison(records)


def test_cells_are_the_closed_forms_and_the_best_is_marked(result):
    """Ring all-reduce: star 2(n−1)(2α + P/n/B), ring 2(n−1)(α + P/n/B) — the ring is best; all-to-all: the star's
    uplink carries 3P (2α + (n−1)P/B), and the ring's 8 links, sharing 16P·hop, take exactly as long — a tie, both
    marked; the parameter server cannot sit on a ring, so the star is its best."""
    size = P * 4
    assert result.rows == ["ring_allreduce", "all_to_all", "parameter_server"] and result.columns == ["star", "ring"]
    cell = result.cells
    assert cell["ring_allreduce", "star"]["makespan_s"] == pytest.approx(6 * (2 * ALPHA + size / N / B), rel=1e-12)
    assert cell["ring_allreduce", "ring"]["makespan_s"] == pytest.approx(6 * (ALPHA + size / N / B), rel=1e-12)
    assert cell["all_to_all", "star"]["makespan_s"] == pytest.approx(2 * ALPHA + 3 * size / B, rel=1e-12)
    assert cell["parameter_server", "star"]["makespan_s"] == pytest.approx(2 * (2 * ALPHA + N * size / B), rel=1e-12)
    assert "unavailable" in cell["parameter_server", "ring"]
    assert cell["all_to_all", "ring"]["makespan_s"] == pytest.approx(2 * ALPHA + 3 * size / B, rel=1e-12)
    assert [result.best(row) for row in result.rows] == [["ring"], ["star", "ring"], ["star"]]
    text = compare.table_text(result).splitlines()
    assert text[0].startswith("simulated time (ms) per cell")  # one unit for every cell: the median's
    assert text[2].split() == ["ring_allreduce", "1.51", "1.51", compare.BEST]  # 1.512 vs 1.506 ms
    # busbw = S/t · 2(n−1)/n in GB/s; the busiest link is busy 2(n−1)·(P/n)/B of t
    star_t, ring_t = 6 * (2 * ALPHA + size / N / B), 6 * (ALPHA + size / N / B)
    busy = 6 * size / N / B
    assert text[3].split() == [f"{size / star_t * 1.5 / 1e9:.3f}", "GB/s", "link", f"{busy / star_t:.0%}",
                               f"{size / ring_t * 1.5 / 1e9:.3f}", "GB/s", "link", f"{busy / ring_t:.0%}"]
    assert text[4].split() == ["all_to_all", "3.00", compare.BEST, "3.00", compare.BEST]
    assert text[6].split() == ["parameter_server", "8.00", compare.BEST, "n/a"]


def test_the_chart_draws_one_dot_per_cell_says_na_and_names_the_setting(result, tmp_path):
    """Dots on a log axis (a bar there would start at an arbitrary floor): one per cell at its time in ms, a
    column per topology; the parameter server on the ring says "n/a" where its dot would be; the title names
    the workers, the buffer and the network."""
    loaded = tmp_path / "c.yaml"
    fig = compare.figure(result, scenario.load(loaded).networks)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "simulated time (ms)" and ax.get_xlabel() == "algorithm" and ax.get_yscale() == "log"
    assert len(ax.patches) == 0  # no bars
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["star", "ring"]
    star, ring = ax.get_lines()
    size = P * 4
    assert list(star.get_ydata()) == pytest.approx(
        [1e3 * 6 * (2 * ALPHA + size / N / B), 1e3 * (2 * ALPHA + 3 * size / B), 1e3 * 2 * (2 * ALPHA + N * size / B)],
        rel=1e-12)
    assert list(ring.get_ydata()) == pytest.approx([1e3 * 6 * (ALPHA + size / N / B), 1e3 * (2 * ALPHA + 3 * size / B)],
                                                   rel=1e-12)
    assert list(star.get_xdata()) == [-0.2, 0.8, 1.8] and list(ring.get_xdata()) == [0.2, 1.2]
    (na,) = ax.texts
    assert na.get_text() == "n/a" and na.get_position()[0] == pytest.approx(2.2)  # parameter_server, ring
    assert ax.get_title() == ("simulated time per algorithm and topology\n"
                              "4 workers, 1 MB buffer (250,000 float32), every link 8 Gbit/s, 1 us")


def test_compare_command_writes_the_chart_and_refuses_unknown_by(tmp_path, capsys):
    """PNG and SVG are written and non-empty; --by must be a swept key."""
    path = tmp_path / "c.yaml"
    path.write_text(SCENARIO)
    assert cli.main(["compare", str(path), "--out", str(tmp_path / "o"), "--jobs", "1"]) == 0
    for suffix in ("png", "svg"):
        assert (tmp_path / "o" / f"compare_by_topology.{suffix}").stat().st_size > 1000
    capsys.readouterr()
    assert cli.main(["compare", str(path), "--by", "colour"]) == 2
    assert "--by: 'colour' is not a swept key" in capsys.readouterr().err
