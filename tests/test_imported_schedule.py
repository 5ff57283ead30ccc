"""Schedules read from files: checked to compute their collective, refused with one line otherwise, and
run by both engines like the built-in algorithms."""

import json
from pathlib import Path

import numpy as np
import pytest

from commsim import cli, scenario
from commsim.collectives.imported import load_schedule, parse_schedule
from commsim.collectives.schedule import schedule_for
from commsim.engines.message import bytes_per_link, make_buffers, run_collective
from commsim.engines.schedule import run_schedule
from commsim.errors import ScenarioError
from commsim.network import topology as topologies
from commsim.runner import points

RING4 = Path(__file__).parent.parent / "scenarios" / "ring4_schedule.json"


def _write(tmp_path, document, name="s.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def _scenario(tmp_path, schedule: str, extra: str = "", workers: int = 4) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nworkers: {workers}\nparams: 1000\nalgorithms: [ring_allreduce, {{schedule: {schedule}}}]\n"
                    f"topology: {{kind: star, bandwidth: 8 Gbit/s, latency: 1 us}}\n{extra}")
    return path


def test_the_bundled_ring_runs_as_the_built_in_ring_by_formula():
    """ring4_schedule.json is ring all-reduce on 4 workers: 2n(n−1) = 24 messages of P/4, in
    2(n−1)(2α + (P/4)/B) = 6(4 µs + 1 MB / 12.5 GB/s) = 504 µs, and the mean is right (data mode)."""
    loaded = scenario.load("imported_schedule")
    built_in, imported = points.simulate(loaded)
    assert imported.algorithm == "schedule:ring4" and imported.ok and imported.mean["max_error"] <= imported.mean["tolerance"]
    assert imported.messages == 24 and imported.message_bytes == {1_000_000: 24}
    assert imported.makespan_s == pytest.approx(6 * (4e-6 + 1e6 / 12.5e9), rel=1e-12)
    assert imported.finish_s == built_in.finish_s and imported.expected.makespan_s is None


@pytest.mark.parametrize("p", [1, 7, 1003])
def test_both_engines_agree_on_an_imported_schedule(p):
    """The message engine (the schedule followed by per-rank processes) and the schedule engine give the
    same per-rank times, counts and bytes per link, on a shared fat tree too."""
    name = f"schedule:{load_schedule(RING4).name}"
    scenario.load("imported_schedule")  # registers it
    for kind in ("star", "fat_tree"):
        graph = topologies.build(kind, 4, 12.5e9, 1e-6)
        message = run_collective(name, graph, make_buffers(4, p, "float32", "size-only", 0), gamma=1e-10, keep_log=False)
        run = run_schedule(schedule_for(name, 4, p, 4), graph, list(range(4)), 1e-10)
        assert run.finish_s == pytest.approx(message.finish_s, rel=1e-9)
        assert (run.messages, run.sizes, run.bytes_per_link) == (
            message.network.messages, message.network.message_sizes(), bytes_per_link(message.network))


def test_other_collectives_are_checked_too(tmp_path):
    """A broadcast (0 → 1, then 0 → 2 and 1 → 3, copies) and an all-gather (ring of 3, chunks copied on)
    compute their collective; the run's data check passes; the broadcast misses worker 3 without its
    second round."""
    broadcast = {"name": "bcast", "collective": "broadcast", "workers": 4, "chunks": 2,
                 "rounds": [[{"src": 0, "dst": 1, "chunk": c, "op": "copy"} for c in (0, 1)],
                            [{"src": s, "dst": d, "chunk": c, "op": "copy"} for s, d in ((0, 2), (1, 3)) for c in (0, 1)]]}
    gather = {"name": "gather3", "collective": "all_gather", "workers": 3, "chunks": 3,
              "rounds": [[{"src": r, "dst": (r + 1) % 3, "chunk": (r - s) % 3, "op": "copy"} for r in range(3)] for s in range(2)]}
    for document in (broadcast, gather):
        parse_schedule(document, "x.json")
        n = document["workers"]
        path = _write(tmp_path, document, f"{document['name']}.json")
        (tmp_path / "t.yaml").write_text(f"name: t\nworkers: {n}\nparams: 11\nalgorithms: [{{schedule: {path}}}]\n"
                                         "topology: {kind: star}\n")
        (run,) = points.simulate(scenario.load(tmp_path / "t.yaml"))
        assert run.ok and run.mean["identical"] and run.mean["max_error"] == 0.0
    broadcast["rounds"] = broadcast["rounds"][:1]
    with pytest.raises(ScenarioError, match="worker 2 ends with chunk 0 holding worker 0's input 0 times"):
        parse_schedule(broadcast, "x.json")


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["rounds"][1][0].update(chunk=2), "rounds: does not compute its collective (allreduce): worker 0 ends with chunk 2"),
    (lambda d: d["rounds"].pop(), "does not compute its collective"),
    (lambda d: d["rounds"][0][0].update(dst=9), "rounds[0][0].dst: must be an integer from 0 to 3, got 9"),
    (lambda d: d["rounds"][0][0].update(dst=0), "rounds[0][0]: worker 0 cannot send to itself"),
    (lambda d: d["rounds"][0][0].update(op="max"), "rounds[0][0].op: must be 'reduce' or 'copy'"),
    (lambda d: d["rounds"][0][0].update(size=3), "rounds[0][0]: must be {"),
    (lambda d: d.update(workers="4"), "workers: must be an integer from 1 to 4096, got '4'"),
    (lambda d: d.update(workers=10**400), "workers: must be an integer from 1 to 4096, got 1000"),
    (lambda d: d.update(collective="gossip"), "collective: must be one of allreduce"),
    (lambda d: d.update(extra=1), "extra: unknown key"),
    (lambda d: d.update(name="a b"), "name: must be a name"),
    (lambda d: d["rounds"][3].append({"src": 2, "dst": 1, "chunk": 1, "op": "copy"}), "chunk 1 is overwritten twice in one round"),
])
def test_a_wrong_schedule_file_is_one_line_naming_the_key(tmp_path, capsys, change, message):
    document = json.loads(RING4.read_text())
    change(document)
    _write(tmp_path, document)
    assert cli.main(["run", str(_scenario(tmp_path, "s.json")), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "s.json" in err and len(err) < 300
    assert not (tmp_path / "o").exists()


def test_unreadable_schedule_files_and_wrong_worker_counts(tmp_path, capsys):
    """Binary, not JSON, missing: one line each; a schedule for 4 workers swept over 4 and 8 is refused."""
    for name, content in (("bin.json", b"\xff\xfe\x00"), ("text.json", b"rounds: []"), ("deep.json", b"[" * 100_000)):
        (tmp_path / name).write_bytes(content)
        assert cli.main(["run", str(_scenario(tmp_path, name)), "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{name}: schedule: not a JSON schedule" in err
    assert cli.main(["run", str(_scenario(tmp_path, "none.json")), "--out", str(tmp_path / "o")]) == 2
    assert "none.json: schedule: no such file" in capsys.readouterr().err
    assert cli.main(["run", str(_scenario(tmp_path, str(tmp_path))), "--out", str(tmp_path / "o")]) == 2
    assert ": schedule: not a file (a directory)" in capsys.readouterr().err
    path = _scenario(tmp_path, str(RING4)).read_text().replace("workers: 4", "workers: [4, 8]")
    (tmp_path / "w.yaml").write_text(path)
    assert cli.main(["run", str(tmp_path / "w.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "workers: the schedule in" in capsys.readouterr().err


def test_a_sweep_in_worker_processes_registers_the_schedule_again(tmp_path):
    """Spawned workers read the file again: --jobs 2 writes the same results.csv as --jobs 1."""
    path = _scenario(tmp_path, str(RING4), "payload: size-only\n").read_text().replace("params: 1000", "params: [1000, 2000]")
    (tmp_path / "w.yaml").write_text(path)
    outputs = []
    for jobs in ("1", "2"):
        assert cli.main(["sweep", str(tmp_path / "w.yaml"), "--jobs", jobs, "--out", str(tmp_path / jobs)]) == 0
        outputs.append((tmp_path / jobs / "results.csv").read_text())
    assert outputs[0] == outputs[1] and outputs[0].count("schedule:ring4") == 2
    rows = [line.split(",") for line in outputs[0].splitlines()[1:]]
    assert np.allclose([float(r[12]) for r in rows if r[1] == "schedule:ring4"],
                       [float(r[12]) for r in rows if r[1] == "ring_allreduce"], rtol=1e-12)


def test_a_chunk_both_overwritten_and_added_to_in_one_round_is_refused():
    """The order of a copy and an addition into one chunk in one round is not defined: refused."""
    document = {"name": "both", "collective": "allreduce", "workers": 3, "chunks": 1,
                "rounds": [[{"src": 0, "dst": 1, "chunk": 0, "op": "reduce"}], [{"src": 2, "dst": 1, "chunk": 0, "op": "reduce"}],
                           [{"src": 2, "dst": 0, "chunk": 0, "op": "reduce"}, {"src": 1, "dst": 0, "chunk": 0, "op": "copy"},
                            {"src": 1, "dst": 2, "chunk": 0, "op": "copy"}]]}
    with pytest.raises(ScenarioError, match=r"rounds\[2\]\[1\]: worker 0's chunk 0 is both overwritten and added to"):
        parse_schedule(document, "x.json")


def test_an_imported_reduce_scatter_ends_with_the_mean_chunk(tmp_path):
    """A ring reduce-scatter of 3 (worker r sends chunk r−s−1 at step s, added in): worker r ends with
    chunk r of the mean, which the run's data check confirms exactly."""
    document = {"name": "rs3", "collective": "reduce_scatter", "workers": 3, "chunks": 3,
                "rounds": [[{"src": r, "dst": (r + 1) % 3, "chunk": (r - s - 1) % 3, "op": "reduce"} for r in range(3)]
                           for s in range(2)]}
    path = _write(tmp_path, document, "rs3.json")
    (tmp_path / "t.yaml").write_text(f"name: t\nworkers: 3\nparams: 12\nalgorithms: [{{schedule: {path}}}]\n"
                                     "topology: {kind: star}\n")
    (run,) = points.simulate(scenario.load(tmp_path / "t.yaml"))
    assert run.ok and run.mean["max_error"] <= run.mean["tolerance"]


def test_one_file_reached_by_two_paths_is_one_schedule(tmp_path, monkeypatch):
    """The same schedule file named relatively and absolutely registers once, under one name."""
    from commsim.collectives.imported import ensure_registered

    document = json.loads(RING4.read_text())
    document["name"] = "ring4_twice"
    path = _write(tmp_path, document, "twice.json")
    monkeypatch.chdir(tmp_path)
    assert ensure_registered(str(path)) == ensure_registered("./twice.json") == "schedule:ring4_twice"


def test_a_copy_of_a_schedule_shares_its_name_and_another_schedule_may_not(tmp_path):
    """A byte copy of a registered file in another folder is the same schedule: one name. A file that
    claims the name with other rounds (the ring turned the other way: rank r → −r mod 4) is refused in one
    line naming both files."""
    from commsim.collectives.imported import ensure_registered

    document = json.loads(RING4.read_text())
    document["name"] = "ring4_copied"
    first = _write(tmp_path, document, "a.json")
    (tmp_path / "copy").mkdir()
    copy = _write(tmp_path / "copy", document, "b.json")
    assert ensure_registered(str(first)) == ensure_registered(str(copy)) == "schedule:ring4_copied"
    for round_ in document["rounds"]:
        for transfer in round_:
            transfer["src"], transfer["dst"] = -transfer["src"] % 4, -transfer["dst"] % 4
    other = _write(tmp_path / "copy", document, "c.json")
    with pytest.raises(ScenarioError) as error:
        ensure_registered(str(other))
    assert "\n" not in str(error.value)
    assert str(error.value) == f"{other}: name: 'ring4_copied' is also the name of the schedule in {first}"
