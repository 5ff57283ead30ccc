"""`engine: analytic` answers from the closed forms; nccl-style bandwidths and link usage."""

from pathlib import Path

import pytest

from commsim import scenario
from commsim.runner import points

B, ALPHA = 12.5e9, 5e-6


def _scenario(**changes):
    data = {"name": "a", "workers": [4], "params": 1_000_000, "algorithms": ["ring_allreduce"],
            "topology": {"kind": "star", "bandwidth": B, "latency": ALPHA}, "payload": "size-only"}
    data.update(changes)
    return scenario.parse(data, "a.yaml")


def test_analytic_engine_equals_the_simulation_where_the_twin_is_exact():
    """On a star the analytic answer for ring all-reduce is the simulated one."""
    simulated = points.simulate(_scenario())[0]
    answered = points.simulate(_scenario(engine="analytic"))[0]
    assert answered.engine == "analytic" and answered.checks == {}
    assert (answered.messages, answered.bytes) == (simulated.messages, simulated.bytes)
    assert answered.makespan_s == pytest.approx(simulated.makespan_s, rel=1e-9)


def test_analytic_engine_handles_a_hundred_thousand_workers():
    """10⁵ workers: the textbook ring numbers, without building the topology."""
    n = 100_000
    (run,) = points.simulate(_scenario(engine="analytic", workers=n))
    assert run.messages == 2 * n * (n - 1)
    assert run.bytes == 2 * (n - 1) * 4_000_000
    assert run.makespan_s == pytest.approx(2 * (n - 1) * (2 * ALPHA + 10 * 4 / B), rel=1e-12)


def test_algbw_and_busbw_follow_nccl_tests():
    """algbw = S/t and busbw = algbw·2(n−1)/n for an all-reduce, with S the buffer's bytes."""
    (run,) = points.simulate(_scenario())
    assert run.algbw == pytest.approx(4e6 / run.makespan_s, rel=1e-12)
    assert run.busbw == pytest.approx(run.algbw * 2 * 3 / 4, rel=1e-12)


def test_hottest_links_report_bytes_busy_time_and_utilisation():
    """Each worker's uplink and downlink carry 2(n−1) chunks; busy = bytes/B; utilisation = busy/makespan."""
    (run,) = points.simulate(_scenario())
    hottest = run.hottest_links()
    assert len(hottest) == 5
    chunk_bytes = 2 * 3 * 1_000_000  # 6 chunks of 250,000 fp32 = 6,000,000 bytes
    assert all(link["bytes"] == chunk_bytes for link in hottest)
    assert hottest[0]["busy_s"] == pytest.approx(chunk_bytes / B, rel=1e-12)
    assert hottest[0]["utilisation"] == pytest.approx(chunk_bytes / B / run.makespan_s, rel=1e-12)
    assert [link["link"] for link in hottest] == sorted(link["link"] for link in hottest)


def test_links_flag_prints_five_hottest_links_per_run(tmp_path, capsys):
    """`commsim run --links` lists each run's hottest links with their bytes and utilisation."""
    from commsim import cli

    path = tmp_path / "s.yaml"
    path.write_text("name: s\nworkers: 4\nparams: 1000\nalgorithms: [ring_allreduce]\n"
                    "topology: {kind: star, bandwidth: 1e9, latency: 0}\npayload: size-only\n")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "o"), "--links"]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("busiest links (busy = bytes / bandwidth; utilisation = busy / makespan), under each run:")
    assert lines[start + 2] == "ring_allreduce on star, 4 workers, 1000 params:"
    rows = lines[start + 3:start + 8]
    assert [row.split()[0] for row in rows] == ["0->switch", "1->switch", "2->switch", "3->switch", "switch->0"]
    assert "bytes (kB)" in lines[start + 1] and "busy (us)" in lines[start + 1]
    # 6 chunks of 1 kB at 1 GB/s: 6 us busy, links never idle
    assert all(row.split()[1:4] == ["6.00", "6.00", "100.0%"] for row in rows)


def test_analytic_results_say_what_engine_answered_and_check_nothing(tmp_path):
    """results.csv has an engine column; an analytic row has no ok (nothing was checked), results.json
    says ok null, and a simulated row says message and True."""
    import csv
    import json

    from commsim.report import records as report

    for engine, ok_cell, ok_json in (("analytic", "", None), ("message", "True", True)):
        sc = _scenario(engine=engine)
        runs = points.simulate(sc)
        report.write_results(tmp_path / engine, sc, runs)
        (row,) = csv.DictReader((tmp_path / engine / "results.csv").read_text().splitlines())
        assert (row["engine"], row["ok"]) == (engine, ok_cell)
        doc = json.loads((tmp_path / engine / "results.json").read_text())
        assert doc["ok"] is ok_json and doc["runs"][0]["ok"] is ok_json


def test_busiest_links_put_the_bottleneck_first():
    """Ring all-reduce on the bundled 2 × 4 cluster: the NIC uplink carries the same 14 chunks (7 MB) as every
    NVLink hop of the ring, but at 25 GB/s it is busy 280 µs of the 364 µs run — ranked first."""
    sc = scenario.load(Path(__file__).parent.parent / "scenarios" / "allreduce_algorithms.yaml")
    ring = next(run for run in sc.runs() if run.algorithm == "ring_allreduce")
    result = points.simulate_run(sc, ring)
    first = result.hottest_links()[0]
    assert first["link"] in ("node0.nic0->switch", "node1.nic0->switch", "switch->node0.nic0", "switch->node1.nic0")
    assert first["bytes"] == 14 * 500_000 and first["busy_s"] == pytest.approx(7e6 / 25e9, rel=1e-12)
    assert first["utilisation"] == pytest.approx(280e-6 / 364e-6, rel=1e-9)
