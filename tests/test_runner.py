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


def test_a_sweep_ends_with_the_table_run_prints(tmp_path, capsys):
    """The sweep's table, printed from its records (two local processes), is the one `commsim run` prints
    for the same scenario, n/a rows and notes included; then the sweep's own summary line."""
    path = _write(tmp_path)
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "s"), "--jobs", "2"]) == 0
    swept = capsys.readouterr().out.splitlines()
    assert cli.main(["run", str(path), "--out", str(tmp_path / "r")]) == 0
    ran = capsys.readouterr().out.splitlines()
    table = [line for line in ran if not line.startswith("wrote ")]
    assert table[-1] == "27 of 27 runs match their closed forms; 9 n/a (their topology or algorithm cannot take them)"
    assert swept[:len(table) - 1] == table[:-1] and len(table) > 36
    assert swept[len(table) - 1].startswith("36 points: 27 of 27 match their closed forms; 9 n/a (2 local jobs, ")


def test_points_are_appended_in_order_as_they_finish(tmp_path):
    """After each finished point results.csv already holds every point up to it (in-process: in order); with
    no work estimate every point weighs the same."""
    loaded = scenario.load(_write(tmp_path))
    seen = []

    def progress(done, total, share):
        seen.append((done, total, share, len((tmp_path / "o" / "results.csv").read_text().splitlines()) - 1))

    with runner.executor_for("local", 1) as executor:
        runner.sweep(loaded, tmp_path / "o", executor, progress=progress)
    assert [(done, total, lines) for done, total, _, lines in seen] == [(done, 36, done) for done in range(37)]
    assert [share for *_, share, _ in seen] == pytest.approx([done / 36 for done in range(37)], rel=1e-12)


def test_progress_counts_work_not_points(tmp_path):
    """Each point weighs its work: with work = the point's worker count (2, 3, 4 in each group of three), the
    share after each point is the workers done over the 36 points' 108 workers; resumed points count as done."""
    loaded = scenario.load(_write(tmp_path))
    seen = []
    with runner.executor_for("local", 1) as executor:
        runner.sweep(loaded, tmp_path / "o", executor, progress=lambda *args: seen.append(args),
                     work=lambda run: run.workers)
    workers = [run.workers for run in loaded.runs()]
    assert sum(workers) == 108
    assert [share for _, _, share in seen] == pytest.approx([sum(workers[:k]) / 108 for k in range(37)], rel=1e-12)
    seen.clear()
    small = scenario.load(_write(tmp_path, SWEEP.replace("[2, 3, 4]", "[2, 3]")))
    with runner.executor_for("local", 1) as executor:
        runner.sweep(small, tmp_path / "r", executor)
        runner.sweep(loaded, tmp_path / "r", executor, resume=True, progress=lambda *args: seen.append(args),
                     work=lambda run: run.workers)
    assert seen[0] == (24, 36, pytest.approx(60 / 108, rel=1e-12))  # 12 points of 2 and 12 of 3 workers done


def test_time_left_is_the_whole_projected_at_the_rate_so_far():
    """Half the work in 19 s: 19 s left, 13 s once 6 more have gone by; nothing done: unknown; all done: 0."""
    from commsim.report.progress import time_left

    assert time_left(19.0, 0.5) == 19.0 and time_left(19.0, 0.5, now=25.0) == 13.0
    assert time_left(10.0, 0.25) == 30.0 and time_left(0.0, 0.0) is None and time_left(5.0, 1.0, now=7.0) == 0.0


def test_run_weighs_each_run_by_its_estimated_events(tmp_path, monkeypatch, capsys):
    """`commsim run` of ring all-reduce on 2 and 64 workers: after the first run the bar stands at the small
    run's share of the budget's event estimates (well under the half a count of runs would show), within a
    run it moves by the run's simulated-time fraction of its own weight, and it ends at 1."""
    import contextlib

    from commsim import budget
    from commsim.report import progress as progress_module

    heard = []

    @contextlib.contextmanager
    def recording(description, unit="points", enabled=None):
        def update(done, total, share):
            heard.append((done, total, share))

        update.active = True
        yield update

    monkeypatch.setattr(progress_module, "progress_bar", recording)
    path = _write(tmp_path, "name: two\nworkers: [2, 64]\nparams: 64000\nalgorithms: [ring_allreduce]\n"
                            "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\npayload: size-only\n"
                            "engine: message\n")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "o")]) == 0
    capsys.readouterr()
    small, large = (budget.estimate(scenario.load(path), run).events for run in scenario.load(path).runs())
    assert heard[0] == (0, 2, 0.0) and heard[-1] == (2, 2, pytest.approx(1.0, rel=1e-12))
    after_first = next(share for done, _, share in heard if done == 1)
    assert after_first == pytest.approx(small / (small + large), rel=1e-12) and after_first < 0.05
    within = [(done, share) for done, _, share in heard if 1 < done < 2]
    assert within and all(share == pytest.approx(after_first + (done - 1) * (1 - after_first), rel=1e-9)
                          for done, share in within)


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
    assert any(line.startswith("36 points:") for line in piped.stdout.splitlines()) and "36/36" not in piped.stdout


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
    """A training run tells its progress callback the share of its expected simulated time done (rising,
    below 1 until it ends, then 1), and trains exactly as it does without one."""
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
    assert heard[-1] == 1.0 and all(0 < a <= b < 1 for a, b in zip(heard[:-2], heard[1:-1])) and len(heard) > 5
    assert watched.loss == plain.loss and watched.step_end_s == plain.step_end_s