"""`commsim calibrate`: known overrides recovered from tables commsim itself made with them, written as a
topology a scenario takes, labelled calibrated wherever used; tables of another machine, or not limited
by what is calibrated, refused in one line."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim import cli, scenario, units
from commsim.network import cluster, topology
from commsim.runner import calibrate, points, validate

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


def _made_by_commsim(path: Path, nodes: int, overrides: dict, floor_s: float, sizes: list[int],
                     per_process: int = 1) -> Path:
    """A table of ring all-reduce times simulated by commsim on ``nodes`` small H100 nodes with
    ``overrides``, each at least a launch floor, written as nccl-tests JSON."""
    graph = validate.machine_graph("hgx-h100", nodes, {**SMALL, **overrides}, "ring", "all_reduce", "test")
    rows = [(size, max(floor_s, validate.simulate(graph, size, ("ring",)))) for size in sizes]
    return _json_run(path, rows, 2 * nodes, per_process)


def test_the_network_path_and_the_launch_floor_come_back(tmp_path):
    """Made with the network path at 0.731 of its rate and a launch floor of 42 us on 2 × 2 H100: calibrate
    recovers 0.731 and 42 us, each to 1e-6, and no NVLink factor (no run on one node)."""
    run = _made_by_commsim(tmp_path / "run.json", 2, {"network_efficiency": 0.731}, 42e-6,
                           [1024, 4096, 16384, 1 << 20, 256 << 20])
    (entry,) = validate.user_entries([run], "hgx-h100", 2, "ring", None, SMALL)
    result = calibrate.calibrate([entry])
    assert result.network_efficiency == pytest.approx(0.731, rel=1e-6)
    assert result.launch_floor_s == pytest.approx(42e-6, rel=1e-6)
    assert result.nvlink_efficiency is None and result.launch_gpus_per_process == 1


def test_nvlink_efficiency_comes_back(tmp_path):
    """Made on one node with the NVLink at 0.937 of NCCL's count and a launch floor of 30 us: calibrate finds
    0.937 and the floor, each to 1e-6 (a rate between two whole link counts, which NCCL's tuner cannot
    tell apart: the factor moves the data's rate, not the tuner's channels)."""
    run = _made_by_commsim(tmp_path / "one.json", 1, {"nvlink_efficiency": 0.937}, 30e-6, [1024, 256 << 20])
    (entry,) = validate.user_entries([run], "hgx-h100", 1, "ring", None, SMALL)
    result = calibrate.calibrate([entry])
    assert result.nvlink_efficiency == pytest.approx(0.937, rel=1e-6) and result.network_efficiency is None
    assert result.launch_floor_s == pytest.approx(30e-6, rel=1e-6)


def test_nvlink_efficiency_from_a_run_on_several_nodes_the_network_does_not_limit(tmp_path):
    """Made on 2 × 2 H100 of one NVLink link each (20.6 GB/s as NCCL counts it, under the NIC's 50) at 1.5 × that
    rate, and no run on one node: no network factor up to 4 reaches the time (the ring's NVLink share and the PXN
    hop limit it), so the NVLink's comes back, 1.5 to 1e-6, and the network stays the preset's."""
    one_link = {**SMALL, "nvlink_bandwidth": 25e9}
    graph = validate.machine_graph("hgx-h100", 2, {**one_link, "nvlink_efficiency": 1.5}, "ring", "all_reduce", "t")
    run = _json_run(tmp_path / "run.json", [(256 << 20, validate.simulate(graph, 256 << 20, ("ring",)))], 4)
    (entry,) = validate.user_entries([run], "hgx-h100", 2, "ring", None, one_link)
    result = calibrate.calibrate([entry])
    assert result.nvlink_efficiency == pytest.approx(1.5, rel=1e-6) and result.network_efficiency is None


def test_the_factors_by_hand():
    """A ring all-reduce of 1 GiB on one node of 2 H100 (Simple, 2 steps of S/2 each way, each GPU sends S in
    all): the NVLink at 0.8 of NCCL's 18 × 20.6 GB/s takes S / (0.8 · 370.8 GB/s) longer than at 1, less the
    latency both share; the NIC factor changes nothing on one node, and NCCL's tuner picks the same either way."""
    size = 1 << 30
    ones = validate.machine_graph("hgx-h100", 1, SMALL, "ring", "all_reduce", "test")
    slower = validate.machine_graph("hgx-h100", 1, {**SMALL, "nvlink_efficiency": 0.8, "network_efficiency": 0.5},
                                    "ring", "all_reduce", "test")
    base, calibrated = validate.simulate(ones, size, ("ring",)), validate.simulate(slower, size, ("ring",))
    link = 18 * 20.6e9
    assert calibrated - base == pytest.approx(size / (0.8 * link) - size / link, rel=1e-6)
    model = validate.nccl_model
    assert model.choose(model.machine(ones), size, ("ring",)) == model.choose(model.machine(slower), size, ("ring",))


def test_the_file_is_a_topology_and_reads_back(tmp_path):
    """The YAML holds a cluster topology (built as written: its links carry the factors) and the launch
    floor; read back, every number equals the calibration's to the 12 digits written."""
    result = calibrate.Calibration("hgx-h100", 4, 0.97123456789012, 0.812345678901234, 23.4567e-6, 8, ("a.out",))
    path = tmp_path / "c.yaml"
    path.write_text(calibrate.text(result))
    back = calibrate.load(path)
    assert back.nvlink_efficiency == pytest.approx(result.nvlink_efficiency, rel=1e-11)
    assert back.network_efficiency == pytest.approx(result.network_efficiency, rel=1e-11)
    assert back.launch_floor_s == pytest.approx(23.4567e-6, rel=1e-12) and back.launch_gpus_per_process == 8
    topo = __import__("yaml").safe_load(path.read_text())["topology"]
    graph = topology.build(**{"kind": topo.pop("kind"), "n": 32, "bandwidth": 1.0, "latency": 0.0}, **topo)
    assert graph.graph["network_efficiency"] == back.network_efficiency == 0.812345678901
    links = {(0, "node0.nvswitch"): 0.971234567890 * H100.nvlink_bandwidth,
             ("node0.nic0", "rail0"): 0.812345678901 * H100.nic_bandwidth,
             (0, "node0.nic0"): 0.812345678901 * H100.pcie_bandwidth}
    assert all(graph.edges[link]["bandwidth"] == pytest.approx(rate, rel=1e-15) for link, rate in links.items())
    assert graph.graph["nic_bandwidth"] == H100.nic_bandwidth  # what NCCL's tuner sees: the port's speed
    assert back.floor_for(8) == back.launch_floor_s and back.floor_for(1) == 0.0


def test_calibrate_then_validate_says_calibrated(tmp_path, capsys):
    """The CLI: calibrate a made -g 8 table of one H100 node (NVLink at 0.9 of its links' rate, a launch floor
    of 35 us), then validate it with the calibration: labelled CALIBRATED in the output and the CSV, errors
    0.0 %."""
    graph = validate.machine_graph("hgx-h100", 1, {"nvlink_efficiency": 0.9}, "ring", "all_reduce", "test")
    rows = [(size, max(35e-6, validate.simulate(graph, size, ("ring",)))) for size in (1024, 256 << 20)]
    run = _json_run(tmp_path / "run.json", rows, 8, per_process=8)
    out = tmp_path / "cal.yaml"
    assert cli.main(["calibrate", str(run), "--preset", "hgx-h100", "--nodes", "1", "--algorithm", "ring",
                     "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(CALIBRATED, not spec)" in printed
    assert "NVLink  × 0.9 of its links' rate (NVLink 405 GB/s per direction, preset 450)" in printed
    assert "network the preset's (no run on several nodes)" in printed
    assert "launch floor 35 us (the least a call takes in -g 8 runs)" in printed
    written = __import__("yaml").safe_load(out.read_text())
    assert written["topology"]["nvlink_efficiency"] == pytest.approx(0.9, rel=1e-9)
    assert cli.main(["validate", str(run), "--preset", "hgx-h100", "--nodes", "1", "--algorithm", "ring",
                     "--calibration", str(out), "--out", str(tmp_path / "o")]) == 0
    text = capsys.readouterr().out
    assert "CALIBRATED (not spec-only)" in " ".join(text.split()) and "calibrated (us)" in text
    assert text.count("+0.0% ✓") + text.count("-0.0% ✓") == 1  # 256 MiB, the one held (1 KiB: the -g 8 floor)
    assert "+0.0%" in text.split("1 KiB")[1].split("\n")[0] or "-0.0%" in text.split("1 KiB")[1].split("\n")[0]
    assert "calibrated, 1 of 1 held points within target" in " ".join(text.split())
    header, *rows = (tmp_path / "o" / "validation.csv").read_text().splitlines()
    column = header.split(",").index("calibrated")
    assert rows and all(row.split(",")[column] == "True" for row in rows)


@pytest.mark.parametrize(("run", "args", "message"), [
    ("h100_2x8_all_reduce_309.out", ["--preset", "dgx-a100", "--nodes", "2"], "not an A100"),
    ("h100_2x8_all_reduce_309.out", ["--preset", "hgx-h100", "--nodes", "1"], "16 ranks in its Rank lines"),
    # the real 2-node run: NCCL's NVLS tree beats the network rate, which no network or NVLink factor explains
    ("h100_2x8_all_reduce_309.out", ["--preset", "hgx-h100", "--nodes", "2"],
     "faster than the simulation with the network path or the NVLink at 4 × its rate: not what limits this run"),
])
def test_refused_in_one_line(tmp_path, capsys, run, args, message):
    out = tmp_path / "c.yaml"
    status = cli.main(["calibrate", str(DATA / run), "--collective", "all_reduce", *args, "-o", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and message in err and err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize(("text", "message"), [
    ("topology: {kind: cluster, preset: hgx-h100}\n", "not a calibration file"),
    ("calibrated: true\ntopology: {kind: cluster, preset: hgx-h100, nvlink_efficiency: fast}\n",
     "topology: topology 'cluster': nvlink_efficiency: could not convert string to float: 'fast'"),
    ("calibrated: true\ntopology: {kind: cluster, preset: hgx-h100, network_efficiency: 0}\n",
     "network_efficiency must be > 0, got 0"),
    ("calibrated: true\ntopology: {kind: cluster, preset: hgx-h100, nvlink_efficiency: true}\n",
     "nvlink_efficiency: must be a number, got True"),
    ("calibrated: true\ntopology: {kind: cluster, preset: hgx-h100, nic_bandwidth: 40 GB/s}\n",
     "topology.nic_bandwidth: not a calibrated key (nvlink_efficiency, network_efficiency)"),
    ("calibrated: true\nlaunch_floor: -1 us\ntopology: {kind: cluster, preset: hgx-h100}\n",
     "launch_floor must be >= 0, got '-1 us'"),
    ("calibrated: true\nlaunch_overhead: 1 us\ntopology: {kind: cluster, preset: hgx-h100}\n",
     "launch_overhead: unknown key (known: calibrated, launch_floor, launch_gpus_per_process, topology)"),
])
def test_a_bad_calibration_file(tmp_path, capsys, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    status = cli.main(["validate", str(DATA / "h100_2x8_all_reduce_309.json"), "--preset", "hgx-h100", "--nodes", "2",
                       "--calibration", str(path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert status == 2 and message in err and err.count("\n") == 1



def test_no_launch_floor_from_runs_that_start_at_64_kib(tmp_path):
    """A run whose smallest size is 64 KiB or more says nothing of the launch: its floor is 0, even made with a
    floor of 300 us (above the 64 KiB call's time), and the network factor comes back as made, 0.8 to 1e-6 (the
    floor does not reach 256 MiB)."""
    run = _made_by_commsim(tmp_path / "run.json", 2, {"network_efficiency": 0.8}, 300e-6, [64 << 10, 256 << 20])
    (entry,) = validate.user_entries([run], "hgx-h100", 2, "ring", None, SMALL)
    result = calibrate.calibrate([entry])
    assert result.launch_floor_s == 0.0
    assert result.network_efficiency == pytest.approx(0.8, rel=1e-6)


def test_the_launch_floor_by_hand(tmp_path):
    """A -g 2 run of one node of 2 H100 timed 30, 50 and 31 us at 1, 2 and 4 KiB (and 9 us at 64 KiB, above the
    plateau's sizes): its floor is their median, 31 us; validate --calibration then predicts 31 us wherever the
    simulation is faster (1 KiB: about 10 us) and the simulation where it is slower (1 GiB)."""
    rows = [(1024, 30e-6), (2048, 50e-6), (4096, 31e-6), (64 << 10, 9e-6), (1 << 30, 3e-3)]
    run = _json_run(tmp_path / "run.json", rows, 2, per_process=2)
    (entry,) = validate.user_entries([run], "hgx-h100", 1, "ring", None, SMALL)
    assert calibrate.floor([entry]) == pytest.approx(31e-6, rel=1e-12)
    case = validate.predict(entry, 31e-6, calibrated=True)
    by_size = {point.size: point.simulated_s for point in case.points}
    assert by_size[1024] == pytest.approx(31e-6, rel=1e-12)
    assert by_size[1 << 30] == validate.simulate(entry.graph, 1 << 30, ("ring",)) > 31e-6


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
    """All-to-all made on one node of 2 H100 GPUs with the NVLink at 0.83 of its links' rate and a launch floor
    of 20 us (it once ended in a KeyError: calibrate chose algorithms its own way, not validate's): 0.83 and the
    floor come back."""
    graph = validate.machine_graph("hgx-h100", 1, {**SMALL, "nvlink_efficiency": 0.83}, "auto", "alltoall", "test")
    collective = validate.COLLECTIVES["alltoall"]
    rows = [(size, max(20e-6, validate.simulate(graph, size, None, collective))) for size in (1024, 256 << 20)]
    run = _json_run(tmp_path / "a2a.json", rows, 2, binary="alltoall_perf")
    (entry,) = validate.user_entries([run], "hgx-h100", 1, "auto", "alltoall", SMALL)
    result = calibrate.calibrate([entry])
    assert result.nvlink_efficiency == pytest.approx(0.83, rel=1e-6)
    assert result.launch_floor_s == pytest.approx(20e-6, rel=1e-6)


def test_an_all_to_all_table_is_simulated_as_validate_does():
    """The bundled all-to-all table (xxrjun, 1 × 8 H100): calibration's simulated time at 32 MiB is validate's
    (NCCL's p2p sends; there is no tuner pick), not a KeyError."""
    (entry,) = validate.read_cases(only="h100_1x8_alltoall_xxrjun-srun.txt")
    assert calibrate._simulated(entry, {}, 32 << 20) == validate.simulate(entry.graph, 32 << 20, None,
                                                                         validate.nccl_model.ALLTOALL)


def test_nvlink_efficiency_on_nvls_by_hand_and_back(tmp_path):
    """NVLS on one node of 8 H100 (NCCL's pick for an all-reduce of 256 MiB): every transfer crosses a GPU's
    link to the NVSwitch, which the factor scales, and nothing else (no link latency; NCCL's 25 us before the
    call), so with the NVLink at 0.8 the time less 25 us is that at 1 divided by 0.8 (nvls.py's closed form);
    and a table made at 0.8 calibrates back to 0.8 to 1e-6."""
    size = 256 << 20
    at_one = validate.machine_graph("hgx-h100", 1, {}, "auto", "all_reduce", "test")
    slower = validate.machine_graph("hgx-h100", 1, {"nvlink_efficiency": 0.8}, "auto", "all_reduce", "test")
    assert validate.nccl_model.plan(slower, size).algorithm == "nvls"
    base, made = validate.simulate(at_one, size, None), validate.simulate(slower, size, None)
    assert made - 25e-6 == pytest.approx((base - 25e-6) / 0.8, rel=1e-9)
    run = _json_run(tmp_path / "nvls.json", [(size, made)], 8)
    (entry,) = validate.user_entries([run], "hgx-h100", 1, "auto", None)
    assert calibrate.calibrate([entry]).nvlink_efficiency == pytest.approx(0.8, rel=1e-6)


def test_a_scenario_takes_the_calibrated_topology(tmp_path):
    """A scenario whose topology is the one a calibration wrote (NVLink at 0.8, here on a node of 2 H100): its
    ring all-reduce of 64 MiB (model nccl) takes S / (0.8 · 370.8 GB/s) − S / 370.8 GB/s longer than the same
    scenario on the preset, each GPU sending S over its NVLink."""
    path = tmp_path / "c.yaml"
    path.write_text(calibrate.text(calibrate.Calibration("hgx-h100", 1, 0.8, None, 0.0, 1, ("a.out",))))
    topo = __import__("yaml").safe_load(path.read_text())["topology"]

    def makespan(topology_mapping: dict) -> float:
        loaded = scenario.parse({"name": "cal", "workers": 2, "params": 1 << 24, "model": "nccl",
                                 "algorithms": ["ring_allreduce"], "engine": "schedule", "payload": "size-only",
                                 "topology": {**topology_mapping, "gpus_per_node": 2}}, "cal.yaml")
        (point,) = loaded.runs()
        return points.simulate_run(loaded, point).makespan_s

    size, link = 4 << 24, 18 * 20.6e9
    assert makespan(topo) - makespan({"kind": "cluster", "preset": "hgx-h100", "nodes": 1}) == pytest.approx(
        size / (0.8 * link) - size / link, rel=1e-6)


@settings(max_examples=6, deadline=None)
@given(factor=st.floats(0.3, 2.5), floor_us=st.floats(15.0, 80.0))
def test_any_nvlink_factor_and_floor_come_back(tmp_path_factory, factor, floor_us):
    """Any NVLink factor from 0.3 to 2.5 and launch floor from 15 to 80 us (above the simulated 1–16 KiB, about
    8 us, so that the plateau is the floor's), made on one node of 2 H100 (a plateau at 1, 4 and 16 KiB, 64 MiB
    bandwidth-bound): both come back to 1e-6."""
    path = tmp_path_factory.mktemp("any") / "run.json"
    run = _made_by_commsim(path, 1, {"nvlink_efficiency": factor}, floor_us * 1e-6, [1024, 4096, 16384, 64 << 20])
    (entry,) = validate.user_entries([run], "hgx-h100", 1, "ring", None, SMALL)
    result = calibrate.calibrate([entry])
    assert result.nvlink_efficiency == pytest.approx(factor, rel=1e-6)
    assert result.launch_floor_s == pytest.approx(floor_us * 1e-6, rel=1e-6)
