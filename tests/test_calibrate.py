"""`commsim calibrate`: known overrides recovered from tables commsim itself made with them, written as a
topology a scenario takes, labelled calibrated wherever used; tables of another machine, or not limited
by what is calibrated, refused in one line."""

from pathlib import Path

import pytest

from commsim import cli, units
from commsim.network import cluster, topology
from commsim.runner import calibrate, validate

DATA = Path(__file__).parent / "data" / "nccltests"
SMALL = {"gpus_per_node": 2, "nics_per_node": 2}  # 2 GPUs a node: fast to simulate, the same code paths
H100 = cluster.preset("hgx-h100")


def _json_run(path: Path, rows: list[tuple[int, float]], ranks: int, per_process: int = 1,
              binary: str = "all_reduce_perf") -> Path:
    """A run as nccl-tests' JSON writer writes it (times in µs as "%lf": six decimals)."""
    results = ",".join(f'{{"size":{size},"count":{size // 4},"type":"float","redop":"sum","root":"    -1",'
                       f'"out_of_place":{{"time":{time_s * 1e6:f},"alg_bw":0.000000,"bus_bw":0.000000,"nwrong":0}}}}'
                       for size, time_s in rows)
    devices = ",".join(f'{{"rank":{r},"group":0,"pid":{100 + r},"hostname":"h{r // 2}","device":{r % 2},'
                       f'"device_hex":"0x00","device_info":"NVIDIA H100 80GB HBM3"}}'
                       for r in range(ranks // per_process))
    path.write_text(f'{{"version":3,"args":["./build/{binary}"],"config":{{"nthreads":1,"ngpus":{per_process},'
                    f'"devices":[{devices}]}},"results":[{results}]}}')
    return path


def _made_by_commsim(path: Path, nodes: int, overrides: dict, overhead_s: float, sizes: list[int],
                     per_process: int = 1) -> Path:
    """A table of ring all-reduce times simulated by commsim on ``nodes`` small H100 nodes with
    ``overrides``, plus a launch overhead, written as nccl-tests JSON."""
    graph = validate.machine_graph("hgx-h100", nodes, {**SMALL, **overrides}, "ring", "all_reduce", "test")
    rows = [(size, validate.simulate(graph, size, ("ring",)) + overhead_s) for size in sizes]
    return _json_run(path, rows, 2 * nodes, per_process)


def test_the_network_path_and_the_launch_overhead_come_back(tmp_path):
    """Made with the NIC and its PCIe link at 0.731 × the preset's and 12 us of launch overhead on 2 × 2
    H100: calibrate recovers 0.731 × 50 GB/s, 0.731 × 63 GB/s and 12 us, each to 1e-6."""
    factor = 0.731
    made = {"nic_bandwidth": factor * H100.nic_bandwidth, "pcie_bandwidth": factor * H100.pcie_bandwidth}
    run = _made_by_commsim(tmp_path / "run.json", 2, made, 12e-6, [1024, 1 << 20, 256 << 20])
    (entry,) = validate.user_entries([run], "hgx-h100", 2, "ring", None, SMALL)
    result = calibrate.calibrate([entry])
    assert result.nic_bandwidth == pytest.approx(made["nic_bandwidth"], rel=1e-6)
    assert result.pcie_bandwidth == pytest.approx(made["pcie_bandwidth"], rel=1e-6)
    assert result.launch_overhead_s == pytest.approx(12e-6, rel=1e-6)
    assert result.nvlink_bandwidth is None and result.launch_gpus_per_process == 1


def test_nvlink_comes_back_as_whole_links(tmp_path):
    """Made on one node with 14 NVLink links (14 × 25 GB/s; NCCL counts whole links) and 8 us of launch
    overhead: calibrate finds 14 links exactly and the overhead to 1e-6."""
    run = _made_by_commsim(tmp_path / "one.json", 1, {"nvlink_bandwidth": 14 * 25e9}, 8e-6, [1024, 256 << 20])
    (entry,) = validate.user_entries([run], "hgx-h100", 1, "ring", None, SMALL)
    result = calibrate.calibrate([entry])
    assert result.nvlink_bandwidth == 14 * 25e9 and result.nic_bandwidth is None
    assert result.launch_overhead_s == pytest.approx(8e-6, rel=1e-6)


def test_the_file_is_a_topology_and_reads_back(tmp_path):
    """The YAML holds a cluster topology (built as written) and the launch overhead; read back, every
    number equals the calibration's to the 12 digits written."""
    result = calibrate.Calibration("hgx-h100", 4, None, 41.234567891234e9, 51.9876543219e9, 23.4567e-6, 8, ("a.out",))
    path = tmp_path / "c.yaml"
    path.write_text(calibrate.text(result))
    back = calibrate.load(path)
    assert back.nic_bandwidth == pytest.approx(result.nic_bandwidth, rel=1e-11)
    assert back.pcie_bandwidth == pytest.approx(result.pcie_bandwidth, rel=1e-11)
    assert back.launch_overhead_s == pytest.approx(23.4567e-6, rel=1e-12) and back.launch_gpus_per_process == 8
    topo = __import__("yaml").safe_load(path.read_text())["topology"]
    graph = topology.build(**{"kind": topo.pop("kind"), "n": 32, "bandwidth": 1.0, "latency": 0.0}, **topo)
    assert graph.graph["nic_bandwidth"] == back.nic_bandwidth == units.parse_bandwidth("41.2345678912 GB/s")
    assert back.overhead_for(8) == back.launch_overhead_s and back.overhead_for(1) == 0.0


def test_calibrate_then_validate_says_calibrated(tmp_path, capsys):
    """The CLI: calibrate a made -g 8 table of one H100 node (16 NVLink links, 10 us overhead), then
    validate it with the calibration: labelled CALIBRATED in the output and the CSV, errors 0.0 %."""
    graph = validate.machine_graph("hgx-h100", 1, {"nvlink_bandwidth": 16 * 25e9}, "ring", "all_reduce", "test")
    rows = [(size, validate.simulate(graph, size, ("ring",)) + 10e-6) for size in (1024, 256 << 20)]
    run = _json_run(tmp_path / "run.json", rows, 8, per_process=8)
    out = tmp_path / "cal.yaml"
    assert cli.main(["calibrate", str(run), "--preset", "hgx-h100", "--nodes", "1", "--algorithm", "ring",
                     "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(CALIBRATED, not spec)" in printed and "NVLink 400 GB/s per direction (preset: 450)" in printed
    assert "NIC    the preset's (no run on several nodes)" in printed
    assert "launch overhead 10 us (added to runs of -g 8)" in printed
    assert "nvlink_bandwidth: 400 GB/s" in out.read_text()
    assert cli.main(["validate", str(run), "--preset", "hgx-h100", "--nodes", "1", "--algorithm", "ring",
                     "--calibration", str(out), "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "CALIBRATED (not spec-only)" in " ".join(text.split()) and "calibrated (us)" in text
    assert text.count("+0.0% ✓") + text.count("-0.0% ✓") == 1  # 256 MiB, the one held (1 KiB: the -g 8 floor)
    assert "+0.0%" in text.split("1 KiB")[1].split("\n")[0] or "-0.0%" in text.split("1 KiB")[1].split("\n")[0]
    assert "calibrated, 1 of 1 held points within target" in " ".join(text.split())
    assert all(row.endswith(",True") for row in (tmp_path / "o" / "validation.csv").read_text().splitlines()[1:])


@pytest.mark.parametrize(("run", "args", "message"), [
    ("h100_2x8_all_reduce_309.out", ["--preset", "dgx-a100", "--nodes", "2"], "not an A100"),
    ("h100_2x8_all_reduce_309.out", ["--preset", "hgx-h100", "--nodes", "1"], "16 ranks in its Rank lines"),
    # the real 2-node run: NCCL's NVLS tree beats the network rate, which no NIC rate explains
    ("h100_2x8_all_reduce_309.out", ["--preset", "hgx-h100", "--nodes", "2"],
     "faster than the simulation with the network path at 4 × the preset's rates"),
])
def test_refused_in_one_line(tmp_path, capsys, run, args, message):
    out = tmp_path / "c.yaml"
    status = cli.main(["calibrate", str(DATA / run), "--collective", "all_reduce", *args, "-o", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and message in err and err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize(("text", "message"), [
    ("topology: {kind: cluster, preset: hgx-h100}\n", "not a calibration file"),
    ("calibrated: true\ntopology: {kind: cluster, preset: hgx-h100, nic_bandwidth: fast}\n", "nic_bandwidth"),
    ("calibrated: true\ntopology: {kind: cluster, preset: hgx-h100, gpus_per_node: 4}\n", "not a calibrated key"),
    ("calibrated: true\nlaunch_overhead: -1 us\ntopology: {kind: cluster, preset: hgx-h100}\n", "launch_overhead >= 0"),
])
def test_a_bad_calibration_file(tmp_path, capsys, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    status = cli.main(["validate", str(DATA / "h100_2x8_all_reduce_309.json"), "--preset", "hgx-h100", "--nodes", "2",
                       "--calibration", str(path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2 and message in err and err.count("\n") == 1



def test_no_launch_overhead_from_runs_that_start_at_64_kib(tmp_path):
    """A run whose smallest size is 64 KiB or more says nothing of the launch: its overhead is 0, even made
    with 12 us of it (the network path then absorbs it, as the rate of a run measured without small sizes
    would)."""
    made = {"nic_bandwidth": 0.8 * H100.nic_bandwidth, "pcie_bandwidth": 0.8 * H100.pcie_bandwidth}
    run = _made_by_commsim(tmp_path / "run.json", 2, made, 12e-6, [64 << 10, 256 << 20])
    (entry,) = validate.user_entries([run], "hgx-h100", 2, "ring", None, SMALL)
    result = calibrate.calibrate([entry])
    assert result.launch_overhead_s == 0.0
    assert result.nic_bandwidth < made["nic_bandwidth"]  # slower, to take the 12 us at 256 MiB


@pytest.mark.parametrize(("args", "message"), [
    (["--cases", "validation/cases.yaml"], "give your runs or --cases/--only, not both"),
    (["--calibration", "c.yaml"], None),
])
def test_validate_flags_that_do_not_go_together(tmp_path, capsys, args, message):
    """Runs with --cases, or --calibration/--preset/--nodes without runs: one line, exit 2."""
    if message is None:  # no runs: the machine flags describe nothing
        command = ["validate", "--preset", "hgx-h100", "--nodes", "2", *args]
        message = "--preset, --nodes and --calibration describe your runs; give the runs too"
    else:
        command = ["validate", str(DATA / "h100_2x8_all_reduce_309.json"), "--preset", "hgx-h100", "--nodes", "2", *args]
    assert cli.main([*command, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_an_all_to_all_table_calibrates_nvlink_too(tmp_path):
    """All-to-all made on one node of 2 H100 GPUs with 14 NVLink links and 8 us of launch overhead
    (it once ended in a KeyError: calibrate chose algorithms its own way, not validate's): 14 links and
    the overhead come back."""
    graph = validate.machine_graph("hgx-h100", 1, {**SMALL, "nvlink_bandwidth": 14 * 25e9}, "auto", "alltoall",
                                   "test")
    collective = validate.COLLECTIVES["alltoall"]
    rows = [(size, validate.simulate(graph, size, None, collective) + 8e-6) for size in (1024, 256 << 20)]
    run = _json_run(tmp_path / "a2a.json", rows, 2, binary="alltoall_perf")
    (entry,) = validate.user_entries([run], "hgx-h100", 1, "auto", "alltoall", SMALL)
    result = calibrate.calibrate([entry])
    assert result.nvlink_bandwidth == 14 * 25e9
    assert result.launch_overhead_s == pytest.approx(8e-6, rel=1e-6)
