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
    """Ring all-reduce: star 2(n−1)(2α + P/n/B), ring 2(n−1)(α + P/n/B): 1.512 and 1.506 ms, 0.4 % apart — a
    tie, both marked; all-to-all: the star's uplink carries 3P (2α + (n−1)P/B), and the ring's 8 links,
    sharing 16P·hop, take exactly as long — a tie; the parameter server cannot sit on a ring, so it has no
    choice of topology and no row mark. In each column ring all-reduce is the fastest algorithm (+)."""
    size = P * 4
    assert result.rows == ["ring_allreduce", "all_to_all", "parameter_server"] and result.columns == ["star", "ring"]
    cell = result.cells
    assert cell["ring_allreduce", "star"]["makespan_s"] == pytest.approx(6 * (2 * ALPHA + size / N / B), rel=1e-12)
    assert cell["ring_allreduce", "ring"]["makespan_s"] == pytest.approx(6 * (ALPHA + size / N / B), rel=1e-12)
    assert cell["all_to_all", "star"]["makespan_s"] == pytest.approx(2 * ALPHA + 3 * size / B, rel=1e-12)
    assert cell["parameter_server", "star"]["makespan_s"] == pytest.approx(2 * (2 * ALPHA + N * size / B), rel=1e-12)
    assert "unavailable" in cell["parameter_server", "ring"]
    assert cell["all_to_all", "ring"]["makespan_s"] == pytest.approx(2 * ALPHA + 3 * size / B, rel=1e-12)
    assert [result.best(row) for row in result.rows] == [["star", "ring"], ["star", "ring"], ["star"]]
    assert [result.best_algorithms(column) for column in result.columns] == [["ring_allreduce"], ["ring_allreduce"]]
    text = compare.table_text(result).splitlines()
    assert text[0] == "simulated time (ms) per cell; under it busbw (MB/s) and the busiest link's utilisation"
    table = text[text.index(next(line for line in text if line.startswith("algorithm \\ topology"))):]
    assert table[1].split() == ["ring_allreduce", "1.51", "*+", "1.51", "*+"]
    # busbw = S/t · 2(n−1)/n in MB/s (the median cell's scale: 992, 996, 500 and 250 MB/s); the busiest
    # link is busy 2(n−1)·(P/n)/B of t
    star_t, ring_t = 6 * (2 * ALPHA + size / N / B), 6 * (ALPHA + size / N / B)
    busy = 6 * size / N / B
    assert table[2].split() == [f"{size / star_t * 1.5 / 1e6:.0f}", f"{busy / star_t:.0%}",
                                f"{size / ring_t * 1.5 / 1e6:.0f}", f"{busy / ring_t:.0%}"] == ["992", "99%", "996", "100%"]
    assert table[3].split() == ["all_to_all", "3.00", "*", "3.00", "*"]
    assert table[5].split() == ["parameter_server", "8.00", "n/a"]
    assert table[7:] == ["ties (within 0.5%): ring_allreduce on star and ring; all_to_all on star and ring"]


def _records(times: dict[tuple[str, str], float], workers: int = 8) -> list[dict]:
    """Records as a sweep writes them, with only the coordinates and times (no busbw, no links)."""
    return [{"algorithm": a, "topology": t, "workers": workers, "params": 1000, "dtype": "float32", "makespan_s": s}
            for (a, t), s in times.items()]


def test_near_ties_are_marked_and_the_rest_printed_apart():
    """On the torus a (158.3 µs) and b (158.9 µs) are 0.38 % apart — a tie, both marked +; c (159.8 µs) is
    0.95 % slower and prints apart at three digits. On the ring a (100.6) and b (101.4) are 0.8 % apart:
    at three digits both read 101, so every time gets a fourth digit. Row marks: a is fastest on the ring,
    b too (the torus's 158.9 is not within 0.5 % of 101.4), c on the torus."""
    us = 1e-6
    result = compare.comparison(_records({("a", "torus"): 158.3 * us, ("b", "torus"): 158.9 * us, ("c", "torus"): 159.8 * us,
                                          ("a", "ring"): 100.6 * us, ("b", "ring"): 101.4 * us, ("c", "ring"): 170.0 * us}))
    assert compare.digits_needed(result, 1e-6) == 4
    lines = compare.table_text(result).splitlines()
    rows = {line.split()[0]: line.split() for line in lines if line.split() and line.split()[0] in "abc"}
    assert rows["a"] == ["a", "158.3", "+", "100.6", "*+"]
    assert rows["b"] == ["b", "158.9", "+", "101.4", "*"]
    assert rows["c"] == ["c", "159.8", "*", "170.0"]
    assert lines[-1] == "ties (within 0.5%): a and b on torus"
    assert "the fastest algorithm in its column" in lines[1]


def test_wide_comparisons_are_printed_in_blocks_of_100_columns():
    """Twelve topologies of ring all-reduce do not fit 100 columns: the table is cut into blocks of columns,
    each with the row labels, every line at most 100 columns, every column once, in order."""
    names = [f"topology-number-{k:02d}" for k in range(12)]
    result = compare.comparison(_records({("ring_allreduce", name): (1 + k / 10) * 1e-3 for k, name in enumerate(names)}))
    lines = compare.table_text(result).splitlines()
    assert max(map(len, lines)) <= 100
    headers = [line for line in lines if line.startswith("algorithm \\ topology")]
    assert len(headers) > 1
    shown = [name for header in headers for name in names if name in header]
    assert shown == names
    row = [line for line in lines if line.startswith("ring_allreduce")]
    assert len(row) == len(headers) and row[0].split()[1:3] == ["1.00", "*"]


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


def test_the_fastest_algorithm_is_marked_among_rows_alike_but_for_it():
    """Two algorithms at 8 and 16 workers on a torus and a ring: rows "a workers=8" … The + compares a with
    b at the same worker count only: on the torus a wins at 8 (100 against 120 µs), b at 16 (300 against
    250); on the ring b at both. The * compares a row's topologies. Without a choice (one cell), no mark."""
    us = 1e-6
    times = {("a", "torus", 8): 100, ("b", "torus", 8): 120, ("a", "torus", 16): 300, ("b", "torus", 16): 250,
             ("a", "ring", 8): 140, ("b", "ring", 8): 110, ("a", "ring", 16): 400, ("b", "ring", 16): 200}
    records = [{"algorithm": a, "topology": t, "workers": n, "params": 1000, "dtype": "float32", "makespan_s": s * us}
               for (a, t, n), s in times.items()]
    result = compare.comparison(records)
    assert result.rows == ["a workers=8", "b workers=8", "a workers=16", "b workers=16"]
    assert result.best_algorithms("torus") == ["a workers=8", "b workers=16"]
    assert result.best_algorithms("ring") == ["b workers=8", "b workers=16"]
    lines = compare.table_text(result).splitlines()
    rows = {" ".join(line.split()[:2]): line.split()[2:] for line in lines if line.startswith(("a ", "b "))}
    assert rows == {"a workers=8": ["100", "*+", "140"], "b workers=8": ["120", "110", "*+"],
                    "a workers=16": ["300", "*", "400"], "b workers=16": ["250", "+", "200", "*+"]}
    assert "among rows alike but for it" in " ".join(" ".join(lines[:3]).split()) and not any(line.startswith("ties") for line in lines)
    single = compare.table_text(compare.comparison(records[:1])).splitlines()
    assert len(single) == 3 and single[-1].split() == ["a", "100"]  # no marks, no legend for them: no choice
