"""Sweeps in a scenario: lists and ranges for workers, params, size, dtype and topology options; points a
topology or algorithm cannot take are kept as n/a rows with their reason."""

import csv
import json

import pytest

from commsim import cli, scenario
from commsim.errors import ScenarioError
from commsim.runner import points

BASE = {"name": "s", "workers": 4, "params": 1000, "algorithms": ["ring_allreduce"], "payload": "size-only",
        "topology": {"kind": "star", "bandwidth": "8 Gbit/s", "latency": "1 us"}}


def parse(**changes):
    return scenario.parse(BASE | changes, "s.yaml")


@pytest.mark.parametrize(("value", "expected"), [
    ({"from": 2, "to": 16, "factor": 2}, [2, 4, 8, 16]),
    ({"from": 2, "to": 20, "factor": 2}, [2, 4, 8, 16]),  # the end need not be reached exactly
    ({"from": 3, "to": 9, "step": 2}, [3, 5, 7, 9]),
    ({"from": "2^10", "to": "2^12", "factor": 2}, [1024, 2048, 4096]),
    ({"from": 4, "to": 4, "factor": 2}, [4]),
    ([8, 2], [8, 2]),
    (5, [5]),
])
def test_worker_counts_take_lists_and_ranges(value, expected):
    """workers: a count, a list, {from, to, factor} (geometric) or {from, to, step} (arithmetic), inclusive."""
    assert parse(workers=value).workers == expected


def test_sizes_are_bytes_converted_to_elements_of_each_dtype():
    """size: {from: 8 B, to: 1 KiB, factor: 4} as nccl-tests gives 8, 32, 128, 512 B: 4, 16, 64, 256 fp16
    elements and 2, 8, 32, 128 fp32 ones, dtype by dtype."""
    s = parse(params=None, size={"from": "8 B", "to": "1 KiB", "factor": 4}, dtype=["float16", "float32"])
    assert [(run.params, run.dtype) for run in s.runs()] == [
        (4, "float16"), (16, "float16"), (64, "float16"), (256, "float16"),
        (2, "float32"), (8, "float32"), (32, "float32"), (128, "float32")]


@pytest.mark.parametrize(("changes", "message"), [
    ({"workers": {"from": 8, "to": 2, "factor": 2}}, "workers: range from 8 is above to 2"),
    ({"workers": {"from": 2, "to": 8, "factor": 1}}, "workers: range factor must be a number > 1, got 1"),
    ({"workers": {"from": 2, "to": 8}}, "workers: a range needs 'from', 'to' and exactly one of 'factor' or 'step'"),
    ({"workers": {"from": 2, "to": 8, "by": 2}}, "workers: a range takes from, to and factor or step; unknown key 'by'"),
    ({"workers": {"from": 1, "to": 10**9, "step": 1}}, "at most 100000 are allowed"),
    ({"params": None, "size": "6 B"}, "size: 6 B is not a whole number of float32 elements"),
    ({"size": "8 B"}, "give exactly one of 'params' or 'size'"),
    ({"dtype": ["float32", "int8"]}, "dtype: Input should be 'float16', 'float32' or 'float64' (got 'int8' in the list)"),
    ({"topology": {"kind": "fat_tree", "k": {"from": 4, "to": 8}}}, "topology.k: a range needs"),
])
def test_bad_sweeps_are_one_line_naming_the_key(changes, message):
    """A range that is empty, unbounded, too long or malformed is refused, naming the key."""
    with pytest.raises(ScenarioError) as error:
        parse(**changes)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_topology_options_sweep_into_labelled_topologies():
    """k: [4, 6] and bandwidth: [...] make one topology per combination, labelled with what differs."""
    s = parse(topology={"kind": "fat_tree", "k": [4, 6], "bandwidth": ["10 Gbit/s", "100 Gbit/s"]})
    assert [(t.title, t.options["k"], t.bandwidth) for t in s.networks] == [
        ("fat_tree k=4 bandwidth=10 Gbit/s", 4, 1.25e9), ("fat_tree k=4 bandwidth=100 Gbit/s", 4, 12.5e9),
        ("fat_tree k=6 bandwidth=10 Gbit/s", 6, 1.25e9), ("fat_tree k=6 bandwidth=100 Gbit/s", 6, 12.5e9)]
    dims = parse(workers=8, topology={"kind": "torus", "dims": [[2, 4], [1, 8]]})
    assert [t.title for t in dims.networks] == ["torus dims=2x4", "torus dims=1x8"]
    assert parse(topology={"kind": "torus", "dims": [2, 2]}).networks[0].title == "torus"  # one value


def test_a_torus_without_dims_sweeps_over_worker_counts():
    """No dims: each n gets its squarest grid, so the torus runs for 4, 6, 9 and 12 workers."""
    s = parse(workers=[4, 6, 9, 12], topology={"kind": "torus", "bandwidth": "8 Gbit/s", "latency": 0})
    assert all(run.unavailable is None for run in s.runs())
    runs = points.simulate(s)
    assert all(run.ok for run in runs)


def test_every_swept_point_is_timed_by_its_formula():
    """Ring all-reduce on a star swept over n and p: each point is 2(n−1)(2α + ⌈p/n⌉·4/B)."""
    s = parse(workers={"from": 2, "to": 16, "factor": 2}, params=[1000, 1001])
    runs = points.simulate(s)
    assert [(r.workers, r.params) for r in runs] == [(n, p) for n in (2, 4, 8, 16) for p in (1000, 1001)]
    for run in runs:
        n, p = run.workers, run.params
        assert run.makespan_s == pytest.approx(2 * (n - 1) * (2e-6 + -(-p // n) * 4 / 1e9), rel=1e-12)


def test_points_that_cannot_run_are_n_a_rows_with_their_reason(tmp_path, capsys):
    """A server on a ring and a hypercube of 6 are kept as n/a rows naming the reason; the rest run; exit 0."""
    path = tmp_path / "grid.yaml"
    path.write_text(json.dumps(BASE | {"workers": [4, 6], "algorithms": ["ring_allreduce", "parameter_server"],
                                       "topologies": [{"kind": "hypercube"}, {"kind": "ring"}],
                                       "topology": None}).replace('"topology": null, ', ""))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").read_text().splitlines()))
    marks = [(r["topology"], r["algorithm"], r["workers"], r["engine"], r["note"]) for r in rows]
    assert marks == [
        ("hypercube", "ring_allreduce", "4", "schedule", ""),
        ("hypercube", "ring_allreduce", "6", "n/a",
         "n/a: topology 'hypercube' needs a power-of-two worker count; n=6 (try 4 or 8)"),
        ("hypercube", "parameter_server", "4", "n/a", rows[2]["note"]),
        ("hypercube", "parameter_server", "6", "n/a", rows[3]["note"]),
        ("ring", "ring_allreduce", "4", "schedule", ""),
        ("ring", "ring_allreduce", "6", "schedule", ""),
        ("ring", "parameter_server", "4", "n/a", rows[6]["note"]),
        ("ring", "parameter_server", "6", "n/a", rows[7]["note"]),
    ]
    assert "no place for a parameter server" in rows[6]["note"] and rows[6]["ok"] == ""
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["ok"] is True and doc["runs"][1]["unavailable"].startswith("topology 'hypercube' needs")
    assert "3 of 3 runs match their closed forms; 5 n/a" in out
    assert "n/a (2 runs): topology 'ring' has no place for a parameter server" in out  # each reason once
