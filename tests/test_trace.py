"""Exports: the Chrome/Perfetto trace and the per-message CSV, checked against the ring's closed form."""

import csv
import json
import re

import pytest
import yaml

from commsim import cli, scenario

ALPHA, B, P, N = 1e-6, 1e9, 3000, 3  # ring on a star: every step lasts 2α + (P/N)·4/B
STEP = 2 * ALPHA + P // N * 4 / B
SCENARIO = (f"name: t\nworkers: {N}\nparams: {P}\nalgorithms: [ring_allreduce]\npayload: size-only\n"
            f"topology: {{kind: star, bandwidth: {B * 8}, latency: {ALPHA}}}\n")


@pytest.fixture
def exported(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace(f"bandwidth: {B * 8}", "bandwidth: 8 Gbit/s").replace(f"latency: {ALPHA}", "latency: 1 us"))
    argv = ["run", str(path), "--out", str(tmp_path / "o"), "--trace", str(tmp_path / "t.json"),
            "--messages", str(tmp_path / "m.csv")]
    assert cli.main(argv) == 0
    capsys.readouterr()
    return json.loads((tmp_path / "t.json").read_text()), list(csv.DictReader((tmp_path / "m.csv").read_text().splitlines()))


def test_message_csv_lists_every_message_with_route_and_times(exported):
    """2n(n−1) = 12 messages of P/n·4 B, routes worker>switch>worker, step k of a rank from k·T to (k+1)·T."""
    _, rows = exported
    assert len(rows) == 2 * N * (N - 1) and {int(r["bytes"]) for r in rows} == {P // N * 4}
    assert all(r["route"] == f"{r['src']}>switch>{r['dst']}" and int(r["dst"]) == (int(r["src"]) + 1) % N for r in rows)
    starts = sorted({float(r["start_s"]) for r in rows})
    assert starts == pytest.approx([k * STEP for k in range(2 * (N - 1))], rel=1e-12, abs=1e-18)
    assert all(float(r["end_s"]) == pytest.approx(float(r["start_s"]) + STEP, rel=1e-12) for r in rows)
    assert {r["phase"] for r in rows} == {"reduce_scatter", "all_gather"}


def test_trace_covers_every_message_in_microseconds(exported):
    """Each message is one send slice on its sender's track and one receive slice on its receiver's, at
    start·1e6 µs for (end − start)·1e6 µs; slices on a track never overlap; idle fills the rest."""
    trace, rows = exported
    events = trace["traceEvents"]
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    slices = [e for e in events if e["ph"] == "X"]
    sends = sorted((names[e["pid"], e["tid"]], e["ts"], e["dur"]) for e in slices if e["name"].startswith("send"))
    expected = sorted((f"worker {r['src']} send", float(r["start_s"]) * 1e6, STEP * 1e6) for r in rows)
    assert [s[0] for s in sends] == [e[0] for e in expected]
    assert [s[1] for s in sends] == pytest.approx([e[1] for e in expected], rel=1e-12, abs=1e-9)
    assert [s[2] for s in sends] == pytest.approx([e[2] for e in expected], rel=1e-9)
    assert sum(e["name"].startswith("receive") for e in slices) == len(rows)
    by_track = {}
    for e in slices:
        by_track.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
    for intervals in by_track.values():
        intervals.sort()
        assert all(a[1] <= b[0] + 1e-9 for a, b in zip(intervals, intervals[1:]))
    idle = [e for e in slices if e["name"] == "idle"]
    assert idle == []  # a ring on a star keeps every worker busy from the first step to the last
    counters = {e["name"] for e in events if e["ph"] == "C"}
    assert counters == {f"link {w}->switch" for w in range(N)} | {f"link switch->{w}" for w in range(N)}


def test_exports_refuse_what_they_cannot_write(tmp_path, capsys):
    """A trace into a missing folder, or of an analytic run: exit 2, one line naming the flag."""
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace(f"bandwidth: {B * 8}", "bandwidth: 8 Gbit/s").replace(f"latency: {ALPHA}", "latency: 1 us"))
    assert cli.main(["run", str(path), "--trace", str(tmp_path / "no" / "t.json"), "--out", str(tmp_path / "o")]) == 2
    assert "--trace: " in capsys.readouterr().err
    path.write_text(path.read_text() + "engine: analytic\n")
    assert cli.main(["run", str(path), "--messages", str(tmp_path / "m.csv"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--messages: engine 'analytic' sends no messages" in err


def test_idle_gaps_and_lanes_by_hand():
    """Idle is what no busy interval covers in [0, finish]; overlapping slices get separate lanes."""
    from commsim.engines.results import idle_gaps
    from commsim.report.trace import _lanes

    assert idle_gaps([(1, 2), (1.5, 3), (5, 6)], 7) == [(0.0, 1), (3, 5), (6, 7)]
    placed = _lanes([(0, 2, "a"), (1, 3, "b"), (2, 4, "c"), (2.5, 3, "d")])
    assert [(lane, args) for lane, _, _, args in placed] == [(0, "a"), (1, "b"), (0, "c"), (2, "d")]


def test_training_trace_has_compute_tracks_by_hand(tmp_path, capsys):
    """A training run's trace: per worker a compute track with one slice per step. Linear regression on 3
    features has 4 parameters; compute = 6·4 params·8 examples / 1.92e8 FLOP/s = 1 µs. Ring all-reduce of
    4 fp32 over 2 workers on a star (8 Gbit/s, 1 µs): 2 steps of 2α + 8 B/1 GB/s = 2.008 µs. So worker
    w computes step k from k·(1 + 4.016) µs for 1 µs, and the message CSV holds 2n(n−1)·steps = 16 rows."""
    (tmp_path / "t.yaml").write_text(
        "name: t\nworkers: 2\nalgorithms: [ring_allreduce]\ntopology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\n"
        "training: {model: linear_regression, samples: 64, features: 3, steps: 4, batch_per_worker: 8,\n"
        "           compute: {flops_per_second: 1.92e8}, optimizer: [{name: gradient_descent, alpha: 0.1}]}\n")
    argv = ["run", str(tmp_path / "t.yaml"), "--out", str(tmp_path / "o"), "--trace", str(tmp_path / "t.json"),
            "--messages", str(tmp_path / "m.csv")]
    assert cli.main(argv) == 0
    capsys.readouterr()
    events = json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    compute = [e for e in events if e.get("cat") == "compute"]
    period = 1.0 + 2 * (2 * 1.0 + 8 / 1e9 * 1e6)
    for worker in (0, 1):
        mine = sorted((e["ts"], e["dur"]) for e in compute if names[e["pid"], e["tid"]] == f"worker {worker} compute")
        assert [ts for ts, _ in mine] == pytest.approx([k * period for k in range(4)], rel=1e-9, abs=1e-9)
        assert [dur for _, dur in mine] == pytest.approx([1.0] * 4, rel=1e-9)
    assert [e for e in events if e.get("name") == "idle"] == []  # compute, then the ring: never idle
    rows = list(csv.DictReader((tmp_path / "m.csv").read_text().splitlines()))
    assert len(rows) == 16 and {r["dtype"] for r in rows} == {"fp32"} and {r["bytes"] for r in rows} == {"8"}
    first = sorted(float(r["start_s"]) for r in rows)[:2]
    assert first == pytest.approx([1e-6, 1e-6], rel=1e-9)  # the first sends leave when compute ends


# --------------------------------------------------------------------------- trace, table and results.json agree

RING_STRAGGLER = ("name: ring-straggler\nworkers: 16\nparams: 16000\nalgorithms: [ring_allreduce]\npayload: size-only\n"
                  "topology: {kind: ring, bandwidth: 100 Gbit/s, latency: 5 us}\n"
                  "stragglers: {compute: 1 ms, slowdown: {7: 3}}\n")
UNITS = {"ps": 1e-12, "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def _trace_per_worker(trace: dict, pid: int, n: int) -> tuple[list[float], list[float | None]]:
    """From the trace alone: each worker's compute (the sum of its compute slices) and idle (the sum of its
    idle slices; None where the worker has no idle track: it never finished)."""
    events = [e for e in trace["traceEvents"] if e["pid"] == pid]
    tracks = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    compute, idle = [0.0] * n, [None] * n
    for rank in range(n):
        if f"worker {rank} idle" in tracks.values():
            idle[rank] = 0.0
    for e in events:
        if e["ph"] != "X":
            continue
        name = tracks[e["tid"]]
        rank = int(name.split()[1]) if name.startswith("worker ") else None
        if name.endswith(" compute"):
            compute[rank] += e["dur"] * 1e-6
        elif name.endswith(" idle") and rank is not None:
            idle[rank] += e["dur"] * 1e-6
    return compute, idle


def _text_per_worker(text: str, algorithm: str, n: int) -> dict[str, list[str]]:
    """From the printed notes: the shown value of each worker on the run's "compute per worker" and "idle
    per worker" lines ("1.98 on 0–6, 0 on 7, ..."; continued on deeper-indented lines), and the block's unit."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {algorithm}, {n} workers"))
    shown: dict[str, list[str]] = {}
    i = start + 1
    while i < len(lines) and lines[i].startswith("    "):
        line = lines[i]
        for key in ("compute", "idle"):
            if line.startswith(f"    {key} per worker: "):
                body = line.split(": ", 1)[1]
                while i + 1 < len(lines) and lines[i + 1].startswith("      "):
                    i += 1
                    body += " " + lines[i].strip()
                values = [None] * n
                for value, first, last in re.findall(r"(\S+) on (\d+)(?:–(\d+))?", body):
                    for rank in range(int(first), int(last or first) + 1):
                        values[rank] = value
                shown[key] = values
        i += 1
    return shown


@pytest.mark.parametrize("name", ["stragglers", "link_failure", "partition", "worker_crash", "ring_straggler"])
def test_trace_table_and_results_agree_on_compute_and_idle(name, tmp_path):
    """Per worker, the trace's compute and idle slices sum to the compute and idle of results.json (to
    1e-12), the table shows those numbers in its block's unit, and a worker that never finished has no
    idle track, "-" in the table and None in results.json; only a worker that computes has a compute track. Ring of 16, worker 7 three times slower: it
    computes 3 ms and is never idle; every other worker computes 1 ms, then waits for the chain from 7."""
    from commsim.report.records import run_record
    from commsim.report.tables import table
    from commsim.report.trace import chrome_trace
    from commsim.runner.points import simulate_run
    from commsim.units import format_in

    source = name
    if name == "ring_straggler":
        source = tmp_path / "ring.yaml"
        source.write_text(RING_STRAGGLER)
    loaded = scenario.load(source)
    runs = [simulate_run(loaded, point, keep_log=True) for point in loaded.runs()]
    trace = chrome_trace(runs)
    text = table(loaded, runs, wide=True)
    unit = re.search(r"^Stragglers and faults.*\((\w+)\):$", text, re.M)[1]
    for pid, run in enumerate(runs, start=1):
        record = json.loads(json.dumps(run_record(run)))  # as results.json holds it
        n = run.workers
        compute, idle = record["disturbance"]["compute_s"], record["disturbance"]["idle_s"]
        traced_compute, traced_idle = _trace_per_worker(trace, pid, n)
        assert traced_compute == pytest.approx(compute, rel=1e-12, abs=1e-15)
        computing = {e["args"]["name"] for e in trace["traceEvents"]
                     if e["pid"] == pid and e["ph"] == "M" and e["args"]["name"].endswith(" compute")}
        assert computing == {f"worker {rank} compute" for rank, t in enumerate(compute) if t > 0}  # none of 0 s
        assert [t is None for t in traced_idle] == [t is None for t in idle]
        assert [t for t in traced_idle if t is not None] == pytest.approx([t for t in idle if t is not None],
                                                                          rel=1e-12, abs=1e-15)
        shown = _text_per_worker(text, run.algorithm, n)
        assert shown["compute"] == [format_in(t, UNITS[unit]) for t in compute]
        if any(t is not None for t in idle):
            assert shown["idle"] == ["-" if t is None else format_in(t, UNITS[unit]) for t in idle]
        if name == "ring_straggler":
            assert compute == [3e-3 if rank == 7 else 1e-3 for rank in range(16)]
            assert idle[7] == 0 and min(idle[:7] + idle[8:]) > 1.9e-3


# --------------------------------------------------------------------------- the trace's parts, by hand


def _tracks(events: list[dict]) -> dict[tuple[int, int], str]:
    return {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}


def _trace_of(tmp_path, text: str) -> list[dict]:
    from commsim.report.trace import chrome_trace
    from commsim.runner.points import simulate_run

    (tmp_path / "s.yaml").write_text(text)
    loaded = scenario.load(tmp_path / "s.yaml")
    return chrome_trace([simulate_run(loaded, point, keep_log=True) for point in loaded.runs()])["traceEvents"]


def test_link_counters_fall_before_they_rise_at_a_tie(exported):
    """Ring on a star: link 0→switch carries one message per step of T = 6 µs, each starting when the last
    ends. At each tie the count falls to 0 before it rises to 1, so it reads 1, 0, 1, 0, ... and never 2."""
    trace, _ = exported
    counters = [e for e in trace["traceEvents"] if e["ph"] == "C"]
    mine = [(e["ts"], e["args"]["messages in flight"]) for e in counters if e["name"] == "link 0->switch"]
    step = STEP * 1e6
    assert [count for _, count in mine] == [1, 0] * 4
    assert [ts for ts, _ in mine] == pytest.approx([0, step, step, 2 * step, 2 * step, 3 * step, 3 * step, 4 * step],
                                                   rel=1e-12, abs=1e-12)
    assert max(e["args"]["messages in flight"] for e in counters) == 1


def test_receives_are_filed_under_the_receiver(exported):
    """Every message of the CSV is a slice "receive from <src>" on the track "worker <dst> receive", from its
    start for its duration (ring on a star: one receive at a time, so one lane per worker), in the category
    of its phase (reduce_scatter, all_gather)."""
    trace, rows = exported
    events = trace["traceEvents"]
    tracks = _tracks(events)
    got = sorted((tracks[e["pid"], e["tid"]], e["name"], e["cat"], e["ts"]) for e in events
                 if e["ph"] == "X" and e["name"].startswith("receive"))
    want = sorted((f"worker {r['dst']} receive", f"receive from {r['src']}", r["phase"], float(r["start_s"]) * 1e6)
                  for r in rows)
    assert [g[:3] for g in got] == [w[:3] for w in want]
    assert [g[3] for g in got] == pytest.approx([w[3] for w in want], rel=1e-12, abs=1e-12)


def test_concurrent_receives_get_numbered_lanes(tmp_path):
    """reduce on 3 workers of a star (8 Gbit/s, 1 µs, 1000 fp32): workers 1 and 2 both send 4 kB to 0 from
    t = 0, sharing switch→0: 2α + 2·4 kB / 1 GB/s = 10 µs each. Worker 0's receives overlap, so they sit on
    "worker 0 receive" and "worker 0 receive 2"; each sender has one send track and an empty idle track."""
    events = _trace_of(tmp_path, "name: s\nworkers: 3\nparams: 1000\nalgorithms: [reduce]\npayload: size-only\n"
                                 "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\n")
    tracks = _tracks(events)
    assert sorted(tracks.values()) == ["worker 0 idle", "worker 0 receive", "worker 0 receive 2",
                                       "worker 1 idle", "worker 1 send", "worker 2 idle", "worker 2 send"]
    slices = [e for e in events if e["ph"] == "X"]
    receives = sorted((tracks[e["pid"], e["tid"]], e["name"]) for e in slices if e["name"].startswith("receive"))
    assert [track for track, _ in receives] == ["worker 0 receive", "worker 0 receive 2"]
    assert sorted(name for _, name in receives) == ["receive from 1", "receive from 2"]
    assert all(e["ts"] == 0 and e["dur"] == pytest.approx(10.0, rel=1e-12) for e in slices)
    assert not [e for e in slices if e["name"] == "idle"]


def test_each_workers_idle_and_compute_slices_by_hand(tmp_path):
    """Ring all-reduce of 3 workers on a star, 4 kB chunks: T = 2α + 4 kB / 1 GB/s = 6 µs per step.
    Workers 0 and 1 compute c = 1000 µs, worker 2 three times that. Worker 0 sends its first chunk
    (1000–1006), then waits for 2's, which starts at 3000: idle 1006–3000. Worker 1 also forwards 0's
    chunk (1006–1012), then waits for 0's next, sent at 3006: idle 1012–3006. Worker 2 receives 1's
    chunks while it computes and is never idle. Each has one compute slice from 0."""
    events = _trace_of(tmp_path, "name: s\nworkers: 3\nparams: 3000\nalgorithms: [ring_allreduce]\npayload: size-only\n"
                                 "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\n"
                                 "stragglers: {compute: 1 ms, slowdown: {2: 3}}\n")
    tracks = _tracks(events)
    slices: dict[str, list[tuple[float, float]]] = {}
    for e in events:
        if e["ph"] == "X" and e["cat"] in ("idle", "compute"):
            slices.setdefault(tracks[e["pid"], e["tid"]], []).append((e["ts"], e["ts"] + e["dur"]))
    assert {"worker 0 idle", "worker 1 idle", "worker 2 idle"} <= set(tracks.values())
    assert set(slices) == {"worker 0 idle", "worker 1 idle", "worker 0 compute", "worker 1 compute", "worker 2 compute"}
    for name, spans in {"worker 0 idle": [(1006, 3000)], "worker 1 idle": [(1012, 3006)],
                        "worker 0 compute": [(0, 1000)], "worker 1 compute": [(0, 1000)],
                        "worker 2 compute": [(0, 3000)]}.items():
        assert len(slices[name]) == len(spans) and slices[name] == [pytest.approx(s, rel=1e-12, abs=1e-9) for s in spans], name


def test_a_servers_idle_is_the_gaps_between_its_messages(tmp_path):
    """Parameter server on a star, 2 workers of 4 kB (8 Gbit/s, 1 µs): worker 0 computes 1000 µs, worker 1
    3000 µs. Each push is alone (2α + 4 kB / 1 GB/s = 6 µs); the two pulls share server→switch from 3006 µs
    (2α + 8 kB / 1 GB/s = 10 µs, on two send lanes). The server idles until the first push (0–1000), then
    between the pushes (1006–3000), and never after its last message; worker 0 idles 1006–3006."""
    events = _trace_of(tmp_path, "name: s\nworkers: 2\nparams: 1000\nalgorithms: [parameter_server]\npayload: size-only\n"
                                 "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\n"
                                 "stragglers: {compute: 1 ms, slowdown: {1: 3}}\n")
    tracks = _tracks(events)
    slices: dict[str, list[tuple[float, float]]] = {}
    for e in events:
        if e["ph"] == "X":
            slices.setdefault(tracks[e["pid"], e["tid"]], []).append((e["ts"], e["ts"] + e["dur"]))
    for name, spans in {"server idle": [(0, 1000), (1006, 3000)], "worker 0 idle": [(1006, 3006)],
                        "server receive": [(1000, 1006), (3000, 3006)], "server send": [(3006, 3016)],
                        "server send 2": [(3006, 3016)], "worker 1 compute": [(0, 3000)]}.items():
        assert sorted(slices[name]) == [pytest.approx(s, rel=1e-12, abs=1e-9) for s in spans], name
    assert "worker 1 idle" in tracks.values() and "worker 1 idle" not in slices


def test_a_worker_computing_no_time_has_no_compute_track(tmp_path):
    """Ring of 2 on a star with ``compute: 0 s``: each worker's compute is the empty span (0, 0), which draws
    nothing, so no worker has a compute track; each has its idle, send and receive tracks only."""
    events = _trace_of(tmp_path, "name: s\nworkers: 2\nparams: 1000\nalgorithms: [ring_allreduce]\npayload: size-only\n"
                                 "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\nstragglers: {compute: 0 s}\n")
    assert sorted(_tracks(events).values()) == [f"worker {w} {kind}" for w in (0, 1) for kind in ("idle", "receive", "send")]
    assert not [e for e in events if e["ph"] == "X" and e["cat"] == "compute"]


def test_the_files_are_written_an_event_and_a_row_at_a_time_with_the_documents_text(tmp_path, monkeypatch):
    """The trace file is the text of json.dumps(chrome_trace(runs), separators=(",", ":")) and the message CSV
    that of messages_csv_text(runs), over two runs (a ring with a straggler, a reduce with concurrent
    receives), written without building either whole: the writers never call the whole-document functions."""
    from commsim.report import records, trace
    from commsim.runner.points import simulate_point

    runs = []
    for text in ("name: s\nworkers: 3\nparams: 3000\nalgorithms: [ring_allreduce]\npayload: size-only\n"
                 "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\nstragglers: {compute: 1 ms, slowdown: {2: 3}}\n",
                 "name: r\nworkers: 3\nparams: 1000\nalgorithms: [reduce]\npayload: size-only\n"
                 "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\n"):
        loaded = scenario.parse(yaml.safe_load(text))
        runs += [simulate_point(loaded)(loaded, point, keep_log=True) for point in loaded.runs()]
    whole_trace = json.dumps(records.finite(trace.chrome_trace(runs)), separators=(",", ":"), allow_nan=False) + "\n"
    whole_csv = trace.messages_csv_text(runs)
    assert whole_csv.count("\n") == 1 + 2 * 3 * 2 + 2  # the header, the ring's 2n(n−1) messages, the reduce's 2
    monkeypatch.setattr(trace, "chrome_trace", None)
    monkeypatch.setattr(trace, "messages_csv_text", None)
    assert trace.write_trace(runs, tmp_path / "t.json").read_text() == whole_trace
    assert (tmp_path / "m.csv").exists() is False
    assert trace.write_messages(runs, tmp_path / "m.csv").read_bytes().decode() == whole_csv
