"""The terminal tables: what the NCCL notes say was checked, units, and every line within 100 columns."""

from __future__ import annotations

import pytest
import yaml
from bundled import SCENARIO_DIR, SCENARIOS, simulated

from commsim import scenario
from commsim.collectives.nccl import model as nccl_model
from commsim.network import topology
from commsim.report import tables
from commsim.runner import points

NCCL = ("name: s\nworkers: 16\nsize: 1 MiB\npayload: size-only\nalgorithms: [ring_allreduce, double_binary_tree]\n"
        "model: nccl\ntopology: {kind: cluster, preset: hgx-h100, nodes: 2}\n")


def test_nccl_table_says_the_times_are_compared_with_nccls_model_not_checked():
    """model nccl on 2 × 8 H100 at 1 MiB: the time cells carry no "(no closed form)" and no mark; the notes
    are a table of NCCL's pick, its channels, its own model's time (tests/test_nccl_model.py: 81.9 µs for the
    ring, 60.4 µs for the tree at 1 MiB), the simulated time and their difference; one line says the two
    times are not checked, and the summary counts the runs whose messages and bytes match."""
    loaded = scenario.parse(yaml.safe_load(NCCL), "s.yaml")
    runs = points.simulate(loaded)
    text = tables.table(loaded, runs, wide=True).splitlines()
    assert "no closed form)" not in "\n".join(text)
    machine = nccl_model.machine(topology.build("cluster", 16, 1.0, 0.0, preset="hgx-h100", nodes=2))
    header = text.index(next(line for line in text if line.startswith("NCCL (model nccl), times in us: ")))
    assert "(compared, not checked: neither is a closed form):" in " ".join(text[header:header + 2])
    table_at = next(i for i in range(header, len(text)) if text[i].split()[:2] == ["algorithm", "workers"])
    assert text[table_at].split() == ["algorithm", "workers", "size", "(B)", "picks", "channels", "NCCL", "model",
                                      "simulated", "difference"]
    for run, row in zip(runs, text[table_at + 1:table_at + 3]):
        family = {"ring_allreduce": "ring", "double_binary_tree": "tree"}[run.algorithm]
        predicted = nccl_model.time_s(machine, family, run.nccl["protocol"], 1 << 20)
        assert predicted == pytest.approx({"ring": 81.9e-6, "tree": 60.4e-6}[family], rel=2e-3)
        difference = (run.makespan_s - predicted) / predicted
        assert row.split() == [run.algorithm, "16", "1048576", f"{family}/{run.nccl['protocol']}",
                               str(run.nccl["channels"]), f"{predicted * 1e6:.1f}", f"{run.makespan_s * 1e6:.1f}",
                               f"{difference:+.1%}"]
        table_row = next(line for line in text if line.startswith(run.algorithm))
        cells = table_row.split()  # algorithm, workers, size, messages ✓, message size, bytes ✓, time, algbw, ...
        assert cells[3:5] == [str(run.messages), "✓"] and cells[7] == "✓"
        assert cells[8] == f"{run.makespan_s * 1e6:.1f}" and cells[9] not in "✓✗"  # the time alone, unchecked
    assert text[-2:] == ["the times of 2 runs have no closed form and are not checked (no ✓ or ✗ beside them)",
                         "2 of 2 runs match their closed forms"]
    header, row = text[table_at], text[table_at + 1]
    for cell, value in (("workers", "16"), ("size (B)", "1048576"), ("channels", str(runs[0].nccl["channels"])),
                        ("NCCL model", "81.9"), ("simulated", row.split()[-2]),
                        ("difference", row.split()[-1])):  # numbers right-aligned
        end = header.index(cell) + len(cell)
        assert row[end - len(value) - 1:end] == f" {value}", cell


def test_nccl_notes_head_each_clusters_rows_and_a_lone_unchecked_time_is_counted(tmp_path):
    """The bundled two clusters: the NCCL table heads each cluster's six runs with its name. A dropping
    parameter server on a star beside an n/a ring: one time without a closed form, said once."""
    runs = list(simulated(SCENARIO_DIR / "nccl_clusters.yaml"))
    text = tables.table(scenario.load(SCENARIO_DIR / "nccl_clusters.yaml"), runs).splitlines()
    block = text[text.index(next(line for line in text if line.startswith("NCCL (model nccl)"))):]
    headings = [i for i, line in enumerate(block) if line.startswith("cluster ")]
    assert [block[i] for i in headings] == ["cluster hgx-h100 x2:", "cluster dgx-a100 x2:"]
    assert headings[1] - headings[0] == 7 and block[headings[0] + 1].split()[:3] == ["ring_allreduce", "16", "1048576"]
    header, row = block[headings[0] - 1], block[headings[0] + 1]
    for k, cell in enumerate(("workers", "size (B)", "channels", "NCCL model", "simulated", "difference")):
        value = row.split()[[1, 2, 4, 5, 6, 7][k]]
        end = header.index(cell) + len(cell)
        assert row[end - len(value) - 1:end] == f" {value}", cell  # numbers right-aligned under their header
    (tmp_path / "d.yaml").write_text(
        "name: d\nworkers: 4\nparams: 100\nalgorithms: [parameter_server]\npayload: size-only\n"
        "topologies: [{kind: star, bandwidth: 8 Gbit/s, latency: 1 us}, {kind: ring, bandwidth: 8 Gbit/s, latency: 1 us}]\n"
        "stragglers: {compute: 1 ms}\nfaults: {drop_stragglers: 1}\n")
    loaded = scenario.load(tmp_path / "d.yaml")
    lines = tables.table(loaded, points.simulate(loaded)).splitlines()
    assert lines[-2:] == ["the time of 1 run has no closed form and is not checked (no ✓ or ✗ beside it)",
                          "1 of 1 runs match their closed forms; 1 n/a (their topology or algorithm cannot take them)"]


def test_busbw_keeps_three_significant_digits_in_the_analytic_wall():
    """The parameter-server wall, analytic, to 65,536 workers: the server's time is 2(2α + nP/B) (α = 2 µs,
    P = 4 MB, B = 12.5 GB/s), so busbw = P/t · 2(n−1)/n falls to 0.19 MB/s at n = 65,536. Every busbw cell
    reads that value to three significant digits in its column's unit — never 0.00."""
    from pathlib import Path

    text = (Path(__file__).parent.parent / "scenarios" / "parameter_server_wall.yaml").read_text()
    text = text.replace("workers: {from: 2, to: 1024, factor: 2}", "workers: [2, 1024, 4096, 65536]") + "engine: analytic\n"
    loaded = scenario.parse(yaml.safe_load(text), "wall.yaml")
    lines = tables.table(loaded, points.simulate(loaded), wide=True).splitlines()
    header = next(line for line in lines if line.startswith("algorithm ")).split("  ")
    unit = next(cell for cell in header if cell.startswith("busbw")).strip()
    assert unit == "busbw (MB/s)"  # the median run's scale
    rows = [line.split() for line in lines if line.startswith("parameter_server ")]
    alpha, size, bandwidth = 2e-6, 4e6, 12.5e9
    assert [int(row[1]) for row in rows] == [2, 1024, 4096, 65536]
    for row in rows:
        n = int(row[1])
        busbw = size / (2 * (2 * alpha + n * size / bandwidth)) * 2 * (n - 1) / n / 1e6
        shown = row[8]  # algorithm, workers, params, messages, message size, bytes, time, algbw, busbw
        assert float(shown) == pytest.approx(busbw, rel=5e-3) and len(shown.replace(".", "").lstrip("0")) >= 3


# --------------------------------------------------------------------------- every line within 100 columns

WIDTH = 100


def _too_wide(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > WIDTH]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_bundled_scenarios_tables_fit_100_columns(path):
    """What `commsim run` prints for each bundled scenario (its table and notes — the fault notes among them —
    and `--links`), and `commsim compare` by every key the scenario sweeps: no line over 100 columns."""
    from commsim.report import compare
    from commsim.report.records import run_record
    from commsim.training import bias

    loaded = scenario.load(path)
    if isinstance(loaded, scenario.ExperimentScenario):
        texts = [tables.bias_table(bias.bias_table())]
    else:
        runs = list(simulated(path))
        texts = [tables.table(loaded, runs)]
        if loaded.training is None and loaded.workload is None:  # a workload's run has neither --links nor compare
            texts.append(tables.links_table(runs))
            records = [run_record(run) for run in runs]
            texts += [compare.table_text(compare.comparison(records, by)) for by in compare.BY
                      if by == "topology" or len({str(record[by]) for record in records}) > 1]
    for text in texts:
        assert _too_wide(text) == []


def test_list_verify_validate_analytic_and_training_notes_fit_100_columns(tmp_path, capsys, monkeypatch):
    """`commsim list` (whole first sentences, wrapped), `commsim verify`, `commsim validate` (every case; NCCL's
    model's time stands in for the simulation, which only changes digits), the analytic table of the
    bundled comparisons, and a training run's fault notes: no line over 100 columns."""
    from commsim import cli
    from commsim.engines.verify import verify
    from commsim.runner import validate

    assert cli.main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "while every worker computes its 1 ms." in " ".join(listed.split())  # a whole sentence, not a cut line
    texts = [listed, tables.verify_table(verify())]
    monkeypatch.setattr(validate, "simulate", lambda graph, nbytes, algorithms, collective="allreduce": 1e-3
                        if collective == nccl_model.ALLTOALL else  # no tuner time: any time fills the columns
                        nccl_model.choose(nccl_model.machine(graph), nbytes, algorithms, collective=collective).time_s)
    texts.append(tables.validation_table(validate.load_cases()))
    for name in ("textbook", "topologies_64", "allreduce_algorithms", "nccl_clusters"):
        loaded = scenario.parse(yaml.safe_load((SCENARIO_DIR / f"{name}.yaml").read_text()) | {"engine": "analytic"},
                                f"{name}.yaml")
        texts.append(tables.table(loaded, points.simulate(loaded)))
    (tmp_path / "t.yaml").write_text(
        "name: t\nworkers: 4\nalgorithms: [ring_allreduce, parameter_server]\n"
        "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\n"
        "training: {model: linear_regression, features: 3, samples: 64, batch_per_worker: 8, steps: 3,\n"
        "  optimizer: {name: gradient_descent, alpha: 0.1}, compute: {flops_per_second: 1.92e5}}\n"
        "stragglers: {slowdown: {3: 4}}\nfaults: {crash: [{worker: 1, at: 2.5 ms}], drop_stragglers: 1}\n")
    loaded = scenario.load(tmp_path / "t.yaml")
    text = tables.table(loaded, points.simulate(loaded))
    assert "Stragglers and faults" in text and "stopped after 0 of 3 steps" in " ".join(text.split())
    texts.append(text)
    for text in texts:
        assert _too_wide(text) == []


@pytest.mark.parametrize("name", ["stragglers", "worker_crash", "topologies_64", "training", "nccl"])
def test_a_run_read_back_from_its_record_prints_the_same_table(name, tmp_path):
    """A sweep prints its table from the records it wrote: each run read back from its JSON record (through
    JSON, as results.json holds it) gives the same record again and the same table, to the last character —
    disturbed, stopped, n/a, training and NCCL runs alike."""
    import json

    from commsim.report.records import json_text, result_of, run_record, training_record

    if name == "nccl":
        loaded = scenario.parse(yaml.safe_load(NCCL), "s.yaml")
        runs = points.simulate(loaded)
    else:
        loaded = scenario.load(SCENARIO_DIR / f"{name}.yaml")
        runs = list(simulated(SCENARIO_DIR / f"{name}.yaml"))
    record = training_record if loaded.training is not None else run_record
    stored = [json.loads(json_text(record(run))) for run in runs]
    back = [result_of(item) for item in stored]
    assert [json.loads(json_text(record(run))) for run in back] == stored
    assert tables.table(loaded, back, wide=True) == tables.table(loaded, runs, wide=True)
    assert tables.table(loaded, back) == tables.table(loaded, runs)


def test_the_fault_notes_write_every_time_in_their_blocks_unit():
    """The stragglers' notes are in ms (their title says so): the critical path's compute (4 ms) and messages
    (6 of 2α + P/(nB) = 30 µs at n = 4: 0.180 ms) bare in ms, never "us" beside "ms"; a link failure's time
    likewise."""
    import re

    for name, unit in (("stragglers", "ms"), ("link_failure", "us")):
        loaded = scenario.load(SCENARIO_DIR / f"{name}.yaml")
        text = tables.table(loaded, list(simulated(SCENARIO_DIR / f"{name}.yaml")))
        notes = text.split("Stragglers and faults", 1)[1].splitlines()
        assert notes[0].endswith(f"({unit}):")
        assert [line for line in notes[1:] if re.search(r"\d ?(ps|ns|us|ms|s)\b", line)] == []
    stragglers = tables.table(scenario.load(SCENARIO_DIR / "stragglers.yaml"),
                              list(simulated(SCENARIO_DIR / "stragglers.yaml")))
    assert "critical path: compute of worker 3 (4.00), then 6 messages (0.180) along 3→0→1→2→3" in stragglers


def test_per_worker_values_merge_equal_neighbours_and_stop_at_32_groups():
    """In ms: 1 ms on workers 0–6 and 8–15, 0 on 7, a worker that never finished "-"; 33 alternating values
    show their first 32 groups and say where the rest are, 32 show whole."""
    from commsim.report.tables import _per_worker

    assert _per_worker([1e-3] * 7 + [0.0] + [1e-3] * 8, 1e-3) == "1.00 on 0–6, 0 on 7, 1.00 on 8–15"
    assert _per_worker([2e-3, None, 2.5e-3, 2.5e-3], 1e-3) == "2.00 on 0, - on 1, 2.50 on 2–3"
    alternating = [1e-3 * (k % 2) for k in range(33)]
    shown = _per_worker(alternating, 1e-3)
    assert shown.count(" on ") == 32 and shown.endswith("1.00 on 31, … (every worker's in results.json)")
    assert _per_worker(alternating[:32], 1e-3).endswith("0 on 30, 1.00 on 31")


def test_compare_packs_as_many_columns_as_fit_and_ties_at_exactly_half_a_percent():
    """Twelve columns 18 characters wide beside a 20-character corner: 20 + 4·(2 + 18) = 100, so blocks of
    four, the header exactly 100 columns. A time exactly 0.5 % above the fastest ties with it."""
    from commsim.report import compare

    names = [f"topology-number-{k:02d}" for k in range(12)]
    records = [{"algorithm": "ring_allreduce", "topology": name, "workers": 8, "params": 1000, "dtype": "float32",
                "makespan_s": (1 + k / 10) * 1e-3} for k, name in enumerate(names)]
    lines = compare.table_text(compare.comparison(records)).splitlines()
    headers = [line for line in lines if line.startswith("algorithm \\ topology")]
    assert [len(line) for line in headers] == [100, 100, 100]
    assert [line.split()[3:] for line in headers] == [names[0:4], names[4:8], names[8:12]]
    # seven columns of 8 beside the corner take 20 + 7·10 = 90; a column of 10 more would make 102
    narrow = [f"net-{k:04d}" for k in range(7)] + ["network-07"]
    lines = compare.table_text(compare.comparison([{**records[0], "topology": name} for name in narrow])).splitlines()
    headers = [line for line in lines if line.startswith("algorithm \\ topology")]
    assert [len(line) for line in headers] == [90, 32] and headers[1].split()[3:] == ["network-07"]
    fastest = 2e-4
    tie = compare.comparison([{"algorithm": a, "topology": "t", "workers": 8, "params": 1000, "dtype": "float32",
                               "makespan_s": s} for a, s in (("a", fastest), ("b", fastest * (1 + compare.TIE)))])
    assert tie.best_algorithms("t") == ["a", "b"] and compare.tied(fastest, fastest * (1 + compare.TIE))


def test_an_error_that_rounds_to_zero_is_printed_without_a_minus():
    """−0.004 % prints +0.0% (never −0.0%); −0.06 % is −0.1%, +0.04 % +0.0%."""
    from commsim.report.tables import _percent

    assert [_percent(e) for e in (-0.00004, -0.0006, 0.0004, 0.0)] == ["+0.0%", "-0.1%", "+0.0%", "+0.0%"]
