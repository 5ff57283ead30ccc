"""`commsim sweep`: points on any executor, results appended in point order, resume, byte-identical files."""

import json

import pytest

from commsim import cli, scenario
from commsim.runner import sweep as runner

SWEEP = """name: grid
workers: [2, 3, 4]
size: {from: 8 B, to: 8 KiB, factor: 32}
algorithms: [ring_allreduce, parameter_server]
topologies: [{kind: star, bandwidth: 8 Gbit/s, latency: 1 us}, {kind: ring, bandwidth: 8 Gbit/s, latency: 1 us}]
payload: size-only
"""


def _write(tmp_path, text=SWEEP):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


def _files(directory):
    return {name: (directory / name).read_bytes() for name in ("results.csv", "results.json", "results.jsonl")}


def test_jobs_1_jobs_2_and_dask_write_byte_identical_files(tmp_path, capsys):
    """The same scenario swept in this process, on 2 local processes and on a Dask LocalCluster of 2."""
    path = _write(tmp_path)
    for name, extra in (("one", ["--jobs", "1"]), ("two", ["--jobs", "2"]), ("dask", ["--jobs", "2", "--executor", "dask"])):
        assert cli.main(["sweep", str(path), "--out", str(tmp_path / name), *extra]) == 0
    out = capsys.readouterr().out
    assert "36 points: 27 of 27 match their closed forms; 9 n/a" in out
    assert _files(tmp_path / "one") == _files(tmp_path / "two") == _files(tmp_path / "dask")
    rows = (tmp_path / "one" / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 36 and rows[0].startswith("engine,algorithm,topology,workers,params,dtype")


def test_sweep_records_equal_a_plain_run(tmp_path, capsys):
    """A sweep's results.csv is the one `commsim run` writes for the same scenario."""
    path = _write(tmp_path)
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "s"), "--jobs", "1"]) == 0
    assert cli.main(["run", str(path), "--out", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    assert (tmp_path / "s" / "results.csv").read_bytes() == (tmp_path / "r" / "results.csv").read_bytes()


def test_points_are_appended_in_order_as_they_finish(tmp_path):
    """After each finished point results.csv already holds every point up to it (in-process: in order)."""
    loaded = scenario.load(_write(tmp_path))
    seen = []

    def progress(done, total):
        seen.append((done, total, len((tmp_path / "o" / "results.csv").read_text().splitlines()) - 1))

    with runner.executor_for("local", 1) as executor:
        runner.sweep(loaded, tmp_path / "o", executor, progress=progress)
    assert seen == [(done, 36, done) for done in range(37)]


def test_resume_skips_finished_points(tmp_path, monkeypatch):
    """Sweep 2 and 3 workers, then resume with 2, 3 and 4: only the 4-worker points run again, and the files
    equal a fresh sweep of all three."""
    small = scenario.load(_write(tmp_path, SWEEP.replace("[2, 3, 4]", "[2, 3]")))
    whole = scenario.load(_write(tmp_path))
    with runner.executor_for("local", 1) as executor:
        runner.sweep(small, tmp_path / "o", executor)
        runner.sweep(whole, tmp_path / "fresh", executor)
        ran = []
        real = runner.run_point
        monkeypatch.setattr(runner, "run_point", lambda sc, run: ran.append(run.workers) or real(sc, run))
        runner.sweep(whole, tmp_path / "o", executor, resume=True)
    assert ran == [4] * 12
    assert _files(tmp_path / "o") == _files(tmp_path / "fresh")


@pytest.mark.parametrize(("argv", "message"), [
    (["--jobs", "0"], "--jobs: must be at least 1, got 0"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler: only with --executor dask"),
])
def test_bad_sweep_options_are_one_line(tmp_path, capsys, argv, message):
    """Bad options: exit 2, one line on stderr, nothing written."""
    assert cli.main(["sweep", str(_write(tmp_path)), "--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not (tmp_path / "o").exists()


def test_resume_refuses_a_file_that_is_not_a_sweep_log(tmp_path, capsys):
    """--resume over a damaged results.jsonl says which line, exit 2."""
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "results.jsonl").write_text(json.dumps({"key": "x", "record": {}}) + "\nnot json\n")
    assert cli.main(["sweep", str(_write(tmp_path)), "--out", str(tmp_path / "o"), "--resume", "--jobs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "results.jsonl: line 2 is not a sweep record" in err


def test_a_terminal_sees_a_progress_bar_and_a_pipe_does_not(tmp_path):
    """On a pseudo-terminal the sweep draws done/total points; through a pipe stdout is just the summary."""
    import os
    import pty
    import subprocess
    import sys

    path = _write(tmp_path)
    command = [sys.executable, "-m", "commsim.cli", "sweep", str(path), "--jobs", "1"]
    leader, follower = pty.openpty()
    done = subprocess.run([*command, "--out", str(tmp_path / "tty")], stdout=follower, stderr=follower, timeout=120)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    screen = b"".join(chunks).decode(errors="replace")
    assert done.returncode == 0 and "36/36" in screen and "points" in screen
    piped = subprocess.run([*command, "--out", str(tmp_path / "pipe")], capture_output=True, text=True, timeout=120)
    assert piped.stdout.splitlines()[0].startswith("36 points:") and "36/36" not in piped.stdout


def test_a_long_run_reports_its_simulated_time_fraction():
    """With a progress callback a simulation reports rising fractions of its expected end and 1.0 when done,
    and times exactly what it times without one."""
    from commsim.engines.message import make_buffers, run_collective
    from commsim.network import topology

    graph = topology.build("star", 16, 1e9, 1e-6)
    plain = run_collective("ring_allreduce", graph, make_buffers(16, 10_000, "float32", "size-only", 0))
    heard = []
    watched = run_collective("ring_allreduce", graph, make_buffers(16, 10_000, "float32", "size-only", 0),
                             progress=heard.append, horizon=plain.makespan_s)
    assert watched.finish_s == plain.finish_s
    assert heard[-1] == 1.0 and heard == sorted(heard) and 20 <= len(heard) <= 101
    assert all(0 < fraction <= 0.99 for fraction in heard[:-1])


def test_training_reports_the_fraction_of_steps_done(tmp_path):
    """A training run tells its progress callback k/steps after each of worker 0's steps, and trains
    exactly as it does without one."""
    from commsim.runner import points

    (tmp_path / "t.yaml").write_text(
        "name: t\nworkers: 3\nalgorithms: [parameter_server]\ntopology: {kind: star}\n"
        "training: {model: linear_regression, samples: 60, features: 3, steps: 5, batch_per_worker: 4,\n"
        "           optimizer: [{name: gradient_descent, alpha: 0.1}]}\n")
    loaded = scenario.load(str(tmp_path / "t.yaml"))
    point = next(iter(loaded.runs()))
    heard = []
    watched = points.simulate_training(loaded, point, progress=heard.append)
    plain = points.simulate_training(loaded, point)
    assert heard == [k / 5 for k in range(1, 6)]
    assert watched.loss == plain.loss and watched.step_end_s == plain.step_end_s
