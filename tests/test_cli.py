"""End-to-end tests of the ``commsim`` command line: table, results files, exit statuses."""

import contextlib
import csv
import dataclasses
import io
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from commsim import cli
from commsim.collectives import REGISTRY
from commsim.engines import analytic

# Textbook closed forms for the bundled default: star, 100 Gbit/s, 5 us, p = 1e6 float32.
ALPHA, BANDWIDTH, P_ELEMS, WIDTH = 5e-6, 12.5e9, 1_000_000, 4
SIZE = P_ELEMS * WIDTH  # 4,000,000 bytes per full buffer
DEFAULT_RUNS = [(a, n) for a in ("all_to_all", "parameter_server", "ring_allreduce") for n in (2, 4, 8, 16)]
RUN_KEYS = {"algorithm", "topology", "workers", "params", "bytes_per_param", "messages", "bytes",
            "message_bytes", "makespan_s", "expected", "bytes_per_link"}

SMALL = """\
name: small
seed: 7
workers: [1, 3, 4]
params: 10
dtype: float64
topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}
algorithms: [all_to_all, parameter_server, ring_allreduce]
payload: data
"""


def textbook(algorithm: str, n: int) -> tuple[int, int, float]:
    """(messages, bytes of each message, makespan) from the textbook formulas on a star."""
    if algorithm == "all_to_all":
        return n * (n - 1), SIZE, 2 * ALPHA + (n - 1) * SIZE / BANDWIDTH
    if algorithm == "parameter_server":
        return 2 * n, SIZE, 2 * (2 * ALPHA + n * SIZE / BANDWIDTH)
    return 2 * n * (n - 1), SIZE // n, 2 * (n - 1) * (2 * ALPHA + SIZE / n / BANDWIDTH)


def textbook_links(algorithm: str, n: int) -> dict[str, int]:
    """Bytes per directed star link from the textbook traffic pattern."""
    if algorithm == "all_to_all":
        per_worker, server = (n - 1) * SIZE, None
    elif algorithm == "parameter_server":
        per_worker, server = SIZE, n * SIZE
    else:
        per_worker, server = 2 * (n - 1) * SIZE // n, None
    links = {}
    for worker in range(n):
        links[f"{worker}->switch"] = links[f"switch->{worker}"] = per_worker
    if server is not None:
        links["server->switch"] = links["switch->server"] = server
    return links


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    """Write a scenario file into ``tmp_path``."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def table_rows(stdout: str) -> list[str]:
    """The data rows of the printed table (lines starting with an algorithm name)."""
    return [line for line in stdout.splitlines() if line.split(" ", 1)[0] in REGISTRY]


def read_json(directory: Path) -> dict:
    """results.json of an output directory."""
    return json.loads((directory / "results.json").read_text(encoding="utf-8"))


def read_csv(directory: Path) -> list[dict[str, str]]:
    """results.csv of an output directory, as dicts."""
    with (directory / "results.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """`commsim run --out DIR` on the bundled default, once: (exit status, stdout, stderr, DIR)."""
    out = tmp_path_factory.mktemp("default") / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(["run", "--out", str(out)])
    return code, stdout.getvalue(), stderr.getvalue(), out


# --------------------------------------------------------------------------- the bundled default


def test_default_run_exits_zero_with_twelve_checked_rows(default_run):
    """`commsim run` runs the textbook table: 12 rows, every check ✓, exit 0, nothing on stderr."""
    code, stdout, stderr, out = default_run
    assert code == 0
    assert stderr == ""
    rows = table_rows(stdout)
    assert [tuple(row.split()[:2]) for row in rows] == [(a, str(n)) for a, n in DEFAULT_RUNS]
    for row in rows:
        assert row.count("✓") == 4, row  # messages, bytes, time, mean
        assert "✗" not in row
    assert "12 of 12 runs match their closed forms" in stdout.splitlines()
    assert stdout.splitlines()[0] == "textbook-table: star, 100 Gbit/s and 5.00 us per link, float32, payload data"
    assert stdout.splitlines()[-2:] == [f"wrote {out / 'results.json'}", f"wrote {out / 'results.csv'}"]


def test_default_results_json_has_every_field_for_every_run(default_run):
    """results.json lists the 12 runs in order, each with the required fields."""
    doc = read_json(default_run[3])
    assert doc["ok"] is True
    assert doc["scenario"]["name"] == "textbook-table"
    assert doc["scenario"]["topology"] == {"kind": "star", "label": None, "bandwidth": 12.5e9, "latency": 5e-6, "servers": None, "links": []}
    assert [(run["algorithm"], run["workers"]) for run in doc["runs"]] == DEFAULT_RUNS
    for run in doc["runs"]:
        assert RUN_KEYS <= set(run), RUN_KEYS - set(run)
        assert {"messages", "bytes", "makespan_s"} <= set(run["expected"])
        assert (run["topology"], run["params"], run["bytes_per_param"], run["dtype"]) == ("star", P_ELEMS, 4, "float32")
        assert run["ok"] is True


@pytest.mark.parametrize(("algorithm", "n"), DEFAULT_RUNS)
def test_default_results_match_textbook_closed_forms(default_run, algorithm, n):
    """Each run's messages, sizes, bytes and makespan are the textbook values (time to rel 1e-9)."""
    run = read_json(default_run[3])["runs"][DEFAULT_RUNS.index((algorithm, n))]
    messages, size, makespan = textbook(algorithm, n)
    assert run["messages"] == run["expected"]["messages"] == messages
    assert run["message_bytes"] == {str(size): messages}
    assert run["bytes"] == run["expected"]["bytes"] == messages * size
    assert math.isclose(run["makespan_s"], makespan, rel_tol=1e-9, abs_tol=0)
    assert math.isclose(run["expected"]["makespan_s"], makespan, rel_tol=1e-9, abs_tol=0)
    assert run["expected"]["time_relation"] == "="
    assert run["bytes_per_link"] == textbook_links(algorithm, n)
    assert run["mean"]["identical"] is True
    assert run["mean"]["max_error"] <= run["mean"]["tolerance"]


def test_default_results_spot_values_from_the_issue(default_run):
    """all-to-all n=4: 12×4 MB; ring n=16: 480×250 kB; parameter server n=8: 2·(2α + 8·4 MB/B)."""
    runs = {(run["algorithm"], run["workers"]): run for run in read_json(default_run[3])["runs"]}
    assert runs["all_to_all", 4]["message_bytes"] == {"4000000": 12}
    assert runs["ring_allreduce", 16]["message_bytes"] == {"250000": 480}
    assert math.isclose(runs["parameter_server", 8]["makespan_s"], 2 * (2 * 5e-6 + 8 * 4e6 / 12.5e9), rel_tol=1e-9)


def test_default_results_csv_has_one_row_per_run_with_the_json_numbers(default_run):
    """results.csv has one row per run carrying exactly the numbers in results.json."""
    out = default_run[3]
    rows, runs = read_csv(out), read_json(out)["runs"]
    assert len(rows) == len(runs) == 12
    for row, run in zip(rows, runs):
        assert (row["algorithm"], row["topology"], row["dtype"], row["payload"]) == (
            run["algorithm"], run["topology"], run["dtype"], run["payload"])
        for key in ("workers", "params", "bytes_per_param", "messages", "bytes"):
            assert int(row[key]) == run[key], key
        assert int(row["expected_messages"]) == run["expected"]["messages"]
        assert int(row["expected_bytes"]) == run["expected"]["bytes"]
        assert float(row["makespan_s"]) == run["makespan_s"]
        assert float(row["expected_makespan_s"]) == run["expected"]["makespan_s"]
        assert (row["time_relation"], row["ok"]) == ("=", "True")


# --------------------------------------------------------------------------- small scenarios


def test_small_scenario_runs_and_writes_both_files(tmp_path, capsys):
    """A 9-run float64 scenario exits 0, prints 9 checked rows and writes JSON and CSV."""
    out = tmp_path / "out"
    assert cli.main(["run", str(write(tmp_path, SMALL)), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert len(table_rows(captured.out)) == 9
    assert "✗" not in captured.out
    assert sorted(p.name for p in out.iterdir()) == [".commsim-outputs", "results.csv", "results.json"]  # no .partial
    runs = read_json(out)["runs"]
    assert [run["workers"] for run in runs] == [1, 3, 4] * 3
    single = runs[0]
    assert (single["messages"], single["bytes"], single["message_bytes"], single["makespan_s"]) == (0, 0, {}, 0.0)
    ring4 = runs[8]
    # 10 float64 elements in 4 chunks of 3,3,2,2 elements: 12 messages of 24 B and 12 of 16 B.
    assert ring4["message_bytes"] == {"16": 12, "24": 12}
    assert math.isclose(ring4["makespan_s"], 2 * 3 * (2 * 1e-6 + 24 / 1e9), rel_tol=1e-9)


def test_size_only_payload_has_no_mean_check(tmp_path, capsys):
    """With payload size-only the counts and times are checked but the mean is not (shown '-')."""
    out = tmp_path / "out"
    text = SMALL.replace("payload: data", "payload: size-only").replace("params: 10", "params: 1e9")
    assert cli.main(["run", str(write(tmp_path, text)), "--out", str(out)]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert all(row.endswith(" -") and row.count("✓") == 3 for row in rows), rows
    runs = read_json(out)["runs"]
    assert all(run["mean"] is None and set(run["checks"]) == {"messages", "bytes", "time"} for run in runs)
    assert runs[4]["message_bytes"] == {str(8 * 10**9): 6}  # parameter_server n=3: 6 messages of 8 GB


def test_link_override_makes_the_time_a_lower_bound(tmp_path, capsys):
    """A slower link makes the links non-uniform: counts are still exact, time is checked against a bound."""
    out = tmp_path / "out"
    text = SMALL.replace("latency: 1 us}", "latency: 1 us, links: [{between: [0, switch], bandwidth: 1 Gbit/s}]}") \
        .replace("workers: [1, 3, 4]", "workers: 3").replace("[all_to_all, parameter_server, ring_allreduce]", "[all_to_all]")
    assert cli.main(["run", str(write(tmp_path, text)), "--out", str(out)]) == 0
    assert "(≥" in capsys.readouterr().out
    (run,) = read_json(out)["runs"]
    assert run["expected"]["time_relation"] == "≥"
    assert run["checks"]["time"] is True
    assert (run["messages"], run["bytes"]) == (6, 6 * 80)
    # Worker 0's 1 Gbit/s link carries its two 80-byte sends (and receives): 2α + 160 B / 125 MB/s.
    assert math.isclose(run["makespan_s"], 2 * 1e-6 + 160 / 1.25e8, rel_tol=1e-9)
    bandwidth = read_json(out)["scenario"]["topology"]["bandwidth"]
    assert 2 * 1e-6 + 80 / bandwidth < 2 * 1e-6 + 160 / 1.25e8  # the twin from the fastest link says less than
    # the busiest link: worker 0's uplink carries 160 B at 125 MB/s, then a route's 2α; here that is the time
    assert math.isclose(run["expected"]["makespan_s"], 2 * 1e-6 + 160 / 1.25e8, rel_tol=1e-12)


def test_default_output_directory_is_results_slash_name(tmp_path, capsys, monkeypatch):
    """Without --out the files go to ./results/<scenario name>/."""
    path = write(tmp_path, SMALL.replace("workers: [1, 3, 4]", "workers: 2"))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", str(path)]) == 0
    out = Path("results") / "small"
    assert capsys.readouterr().out.splitlines()[-2:] == [f"wrote {out / 'results.json'}", f"wrote {out / 'results.csv'}"]
    assert len(read_json(tmp_path / out)["runs"]) == 3


def test_same_scenario_twice_gives_byte_identical_results(tmp_path, capsys):
    """Two runs of one scenario write byte-identical results.json and results.csv."""
    path = write(tmp_path, SMALL)
    first, second = tmp_path / "a", tmp_path / "b"
    assert cli.main(["run", str(path), "--out", str(first)]) == 0
    assert cli.main(["run", str(path), "--out", str(second)]) == 0
    for name in ("results.json", "results.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    tables = [part.split("wrote ")[0] for part in capsys.readouterr().out.split("small: star")[1:]]
    assert len(tables) == 2 and tables[0] == tables[1]


def test_different_seed_changes_only_the_mean_error(tmp_path, capsys):
    """The seed feeds the data: another seed changes the mean error but not counts or times."""
    a = read_after_run(tmp_path, SMALL, "a")
    b = read_after_run(tmp_path, SMALL.replace("seed: 7", "seed: 8"), "b")
    strip = ("mean",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in a["runs"]] == \
           [{k: v for k, v in r.items() if k not in strip} for r in b["runs"]]
    assert [r["mean"] for r in a["runs"]] != [r["mean"] for r in b["runs"]]


def read_after_run(tmp_path: Path, text: str, label: str) -> dict:
    """Run ``text`` as a scenario into tmp_path/label and return results.json."""
    path = write(tmp_path, text, f"{label}.yaml")
    assert cli.main(["run", str(path), "--out", str(tmp_path / label)]) == 0
    return read_json(tmp_path / label)


# --------------------------------------------------------------------------- failing checks


def test_wrong_closed_form_time_fails_the_check_with_exit_one(tmp_path, capsys, monkeypatch):
    """If the closed-form time is wrong the time check shows ✗, results say ok=false, exit 1."""
    real = analytic.expected

    def doubled(*args, **kwargs):
        twin = real(*args, **kwargs)
        return dataclasses.replace(twin, makespan_s=2 * twin.makespan_s)

    monkeypatch.setattr(analytic, "expected", doubled)
    out = tmp_path / "out"
    text = SMALL.replace("workers: [1, 3, 4]", "workers: [1, 3]")
    assert cli.main(["run", str(write(tmp_path, text)), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.err == ""
    rows = table_rows(captured.out)
    failing = [row for row in rows if "✗" in row]
    assert [row.split()[:2] for row in failing] == [[a, "3"] for a in ("all_to_all", "parameter_server", "ring_allreduce")]
    assert all(row.count("✗") == 1 for row in failing)  # only the time column
    assert "3 of 6 runs match their closed forms; 3 do not" in captured.out
    doc = read_json(out)
    assert doc["ok"] is False
    assert [run["checks"]["time"] for run in doc["runs"]] == [True, False] * 3  # n=1: 2·0 is still 0
    assert [row["ok"] for row in read_csv(out)] == ["True", "False"] * 3


def test_wrong_message_count_fails_the_check_with_exit_one(tmp_path, capsys, monkeypatch):
    """If the closed-form message count is off by one the messages check shows ✗ and exit is 1."""
    real = analytic.expected

    def one_more(*args, **kwargs):
        exp = real(*args, **kwargs)
        return analytic.Expected(exp.messages + 1, exp.bytes, exp.message_bytes, exp.makespan_s,
                                 exp.time_relation, exp.time_formula)

    monkeypatch.setattr(analytic, "expected", one_more)
    text = SMALL.replace("workers: [1, 3, 4]", "workers: 2").replace(
        "[all_to_all, parameter_server, ring_allreduce]", "[ring_allreduce]")
    assert cli.main(["run", str(write(tmp_path, text)), "--out", str(tmp_path / "out")]) == 1
    (row,) = table_rows(capsys.readouterr().out)
    assert "4 (5) ✗" in row


# --------------------------------------------------------------------------- bad input

BAD_INPUT = [
    ("unknown key", SMALL + "colour: red\n", ["colour", "unknown key", "'red'"]),
    ("negative workers", SMALL.replace("workers: [1, 3, 4]", "workers: [1, -3]"), ["workers.1", "-3"]),
    ("zero bandwidth", SMALL.replace("8 Gbit/s", "0 Gbit/s"), ["topology.bandwidth", "'0 Gbit/s'"]),
    ("unknown algorithm", SMALL.replace("all_to_all,", "butterfly,"), ["algorithms", "'butterfly'"]),
    ("only parameter_server, on a ring", SMALL.replace("kind: star", "kind: ring")
     .replace("[all_to_all, parameter_server, ring_allreduce]", "[parameter_server]"),
     ["algorithms (parameter_server)", "'ring'"]),
    ("missing link edge", SMALL.replace("latency: 1 us}", "latency: 1 us, links: [{between: [0, 1]}]}")
     .replace("workers: [1, 3, 4]", "workers: [3, 4]"), ["topology.links", "with workers=3", "edge 0-1"]),
    ("missing link node", SMALL.replace("latency: 1 us}", "latency: 1 us, links: [{between: [3, switch]}]}")
     .replace("workers: [1, 3, 4]", "workers: [1, 3]"),
     ["topology.links", "with workers=1", "node 3"]),
    ("invalid YAML", "name: [x\n", ["invalid YAML at line 2"]),
    ("not a mapping", "[1, 2]\n", ["must be a mapping", "got list"]),
]


@pytest.mark.parametrize(("text", "fragments"), [row[1:] for row in BAD_INPUT], ids=[row[0] for row in BAD_INPUT])
def test_bad_scenario_exits_two_with_one_line_and_writes_nothing(tmp_path, capsys, text, fragments):
    """Bad input: exit 2, one stderr line naming file, key and value, empty stdout, no output directory."""
    path, out = write(tmp_path, text), tmp_path / "out"
    assert cli.main(["run", str(path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.endswith("\n") and captured.err.count("\n") == 1
    assert captured.err.startswith(f"commsim: error: {path}: ")
    for fragment in fragments:
        assert fragment in captured.err
    assert not out.exists()


def test_missing_scenario_file_exits_two_with_one_line(tmp_path, capsys):
    """A scenario path that does not exist: exit 2, one line naming it, nothing written."""
    missing, out = tmp_path / "missing.yaml", tmp_path / "out"
    assert cli.main(["run", str(missing), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"commsim: error: {missing}: cannot read scenario: No such file or directory\n")
    assert not out.exists()


def test_output_path_that_is_a_file_exits_two_with_one_line(tmp_path, capsys):
    """--out naming an existing file cannot be created: exit 2 with one line, the file untouched."""
    blocker = tmp_path / "taken"
    blocker.write_text("keep\n")
    path = write(tmp_path, SMALL.replace("workers: [1, 3, 4]", "workers: 2"))
    assert cli.main(["run", str(path), "--out", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("commsim: error: ") and str(blocker) in err
    assert blocker.read_text() == "keep\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--bogus"], "commsim: error: unrecognized arguments: --bogus (see 'commsim --help')\n"),
        (["run", "a.yaml", "b.yaml"], "commsim: error: unrecognized arguments: b.yaml (see 'commsim --help')\n"),
        (["run", "--out"], "commsim run: error: argument --out: expected one argument (see 'commsim run --help')\n"),
        (["fly"], None),
    ],
)
def test_usage_error_exits_two_with_one_line(tmp_path, capsys, monkeypatch, argv, message):
    """A usage error (unknown flag, extra argument, unknown command) is exit 2 and one stderr line."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("commsim")
    if message is not None:
        assert captured.err == message
    else:
        assert "invalid choice: 'fly'" in captured.err
    assert list(tmp_path.iterdir()) == []


def test_negative_seed_is_bad_input_not_a_crash(tmp_path, capsys):
    """seed: -1 should be exit 2 with one line naming seed, not an uncaught ValueError."""
    path = write(tmp_path, SMALL.replace("seed: 7", "seed: -1"))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.startswith(f"commsim: error: {path}: seed")


def test_console_script_bad_input_exits_two_with_one_stderr_line(tmp_path):
    """The installed `commsim` script: exit 2, exactly one stderr line, no Traceback, nothing written."""
    script = shutil.which("commsim") or str(Path(sys.executable).with_name("commsim"))
    path, out = write(tmp_path, SMALL.replace("dtype: float64", "dtype: int8")), tmp_path / "out"
    result = subprocess.run([script, "run", str(path), "--out", str(out)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")
    assert "Traceback" not in result.stderr
    assert result.stderr == (
        f"commsim: error: {path}: dtype: Input should be 'float16', 'float32' or 'float64' (got 'int8')\n"
    )
    assert not out.exists()


# --------------------------------------------------------------------------- finding your way


def test_bare_commsim_prints_help_and_version_is_known(capsys):
    """`commsim` alone prints the commands; `--version` prints the installed version."""
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: commsim") and all(verb in out for verb in ("run", "verify", "list", "bias"))
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    from importlib.metadata import version

    assert capsys.readouterr().out == f"commsim {version('commsim')}\n"


def test_list_names_every_bundled_scenario_and_run_takes_a_name(tmp_path, capsys):
    """`commsim list` shows each bundled YAML by name with the first sentence of its opening comment, whole
    and wrapped beside the names; `commsim run NAME` runs it."""
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    bundled = sorted(p.stem for p in (Path(__file__).parent.parent / "scenarios").glob("*.yaml"))
    assert [line.split()[0] for line in lines[:-1] if not line.startswith(" ")] == bundled
    assert any(line.startswith("textbook") and "textbook table" in line for line in lines)
    text = " ".join(" ".join(lines).split())
    assert ("stragglers Stragglers: one worker computes 4x longer; the ring waits at every step, the parameter "
            "server once. textbook") in text  # the sentence ends, the next scenario starts
    assert max(map(len, lines)) <= 100
    assert cli.main(["run", "textbook", "--out", str(tmp_path / "a")]) == 0
    assert cli.main(["run", "textbook.yaml", "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "results.csv").read_bytes() == (tmp_path / "b" / "results.csv").read_bytes()


def test_an_unknown_name_is_one_line_that_points_to_list(tmp_path, capsys, monkeypatch):
    """A name that is neither a file nor a bundled scenario: exit 2, one line mentioning `commsim list`."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "gossip"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gossip: no such file" in err and "commsim list" in err


def test_tables_fit_100_columns_unless_wide(tmp_path, capsys):
    """The textbook table drops algbw and the message size (never a checked column) to fit 100 columns,
    says so, and --wide shows every column."""
    assert cli.main(["run", "textbook", "--out", str(tmp_path / "a")]) == 0
    narrow = capsys.readouterr().out.splitlines()
    table = [line for line in narrow if not line.startswith("wrote")]
    assert max(map(len, table)) <= 100 and "(2 more columns with --wide)" in narrow
    assert narrow[1] == "engine message (auto: real buffers, their mean checked, per rank)"
    assert "algbw (GB/s)" not in narrow[3] and "message size" not in narrow[3] and "busbw (GB/s)" in narrow[3]
    assert all(row.count("✓") == 4 for row in table_rows("\n".join(table)))
    assert cli.main(["run", "textbook", "--out", str(tmp_path / "b"), "--wide"]) == 0
    wide = capsys.readouterr().out
    assert "algbw (GB/s)" in wide and "message size" in wide and "busbw (GB/s)" in wide


def test_header_states_the_real_link_speeds(tmp_path, capsys):
    """Links that differ are shown as ranges: NVLink 2400 Gbit/s at 1 us beside 200 Gbit/s NICs at 2 us; a
    file topology shows the file's speeds, not the defaults."""
    assert cli.main(["run", "allreduce_algorithms", "--out", str(tmp_path / "a")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "  2 nodes x 4 GPUs: hierarchical, 200 Gbit/s–2.40 Tbit/s and 1.00 us–2.00 us per link"
    assert lines[2] == "  fat tree k=4: fat_tree, 100 Gbit/s and 1.00 us per link"
    (tmp_path / "net.edges").write_text("0 hub 8 Gbit/s 3us\n1 hub 16 Gbit/s 3us\n2 hub 8 Gbit/s 3us\n")
    (tmp_path / "f.yaml").write_text("name: f\nworkers: 3\nparams: 100\nalgorithms: [ring_allreduce]\n"
                                     "topology: {kind: from_file, path: net.edges}\n")
    assert cli.main(["run", str(tmp_path / "f.yaml"), "--out", str(tmp_path / "f")]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("f: from_file, 8.00 Gbit/s–16.0 Gbit/s and 3.00 us per link")


def test_each_column_has_one_unit_and_shows_the_closed_form_where_it_differs(tmp_path, capsys):
    """Times in one unit (µs here: the median run), bytes in one (MB), counts bare with ✓ where they equal
    their closed form. Ring all-reduce, n = 8, P = 4 MB on a star at 100 Gbit/s, 5 us per link:
    2(n−1) = 14 steps of 2α + (P/n)/B = 10 us + 500 kB / 12.5 GB/s = 50 us → 700 us; 2n(n−1) = 112
    messages; 2(n−1)·P = 56.0 MB. The parameter server at n = 16: 2n·P = 128 MB in 2(2α + n·P/B)
    = 2(10 us + 5.12 ms) = 10260 us."""
    assert cli.main(["run", "textbook", "--out", str(tmp_path / "a"), "--wide"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[3].split("  ")
    assert "bytes (MB)" in lines[3] and "time (us)" in lines[3]
    rows = {tuple(line.split()[:2]): line.split() for line in lines[4:16]}
    assert rows["ring_allreduce", "8"][3:6] == ["112", "✓", "500000"]  # 2n(n−1) messages of P/n bytes
    assert rows["ring_allreduce", "8"][6:10] == ["56.0", "✓", "700", "✓"]
    assert rows["parameter_server", "16"][5:10] == ["4000000", "128", "✓", "10260", "✓"]
    assert header[0] == "algorithm"


def test_several_topologies_are_headed_sections_and_bounds_are_shown(tmp_path, capsys):
    """With several topologies each gets a heading line instead of a column; a simulated time against a
    lower bound shows the bound: all-to-all on a 4-ring (P = 4 kB, 8 Gbit/s, 1 us): every link carries
    2 messages of P per direction, so ≥ 2·4 kB / 1 GB/s + 1 us = 9 us... the table shows "(≥...)"."""
    (tmp_path / "s.yaml").write_text(
        "name: s\nworkers: 4\nparams: 1000\nalgorithms: [all_to_all, ring_allreduce]\n"
        "topologies: [{kind: star, bandwidth: 8 Gbit/s, latency: 1 us}, {kind: ring, bandwidth: 8 Gbit/s, latency: 1 us}]\n")
    assert cli.main(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o")]) == 0
    lines = capsys.readouterr().out.splitlines()
    table = lines[lines.index("star:") - 1:]
    assert table[0].split()[:2] == ["algorithm", "workers"] and "topology" not in table[0]
    assert table[1] == "star:" and table[4] == "ring:"
    ring_a2a = table[5].split()
    assert ring_a2a[0] == "all_to_all" and ring_a2a[-4].startswith("(≥") and ring_a2a[-3] == "✓"
    assert [line.split()[0] for line in table[2:4] + table[5:7]] == ["all_to_all", "ring_allreduce"] * 2


def test_unlabelled_topologies_are_described_by_their_options(tmp_path, capsys):
    """A topology titled by its kind is not named twice: its options, then its real link speeds."""
    (tmp_path / "s.yaml").write_text(
        "name: s\nworkers: 8\nparams: 10\npayload: size-only\nalgorithms: [ring_allreduce]\n"
        "topologies: [{kind: fat_tree, k: 4, bandwidth: 10 Gbit/s, latency: 2 us}, {kind: torus, dims: [2, 4]},\n"
        "             {kind: star, label: my star}]\n")
    assert cli.main(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:4] == ["  fat_tree: k=4; 10.0 Gbit/s and 2.00 us per link",
                          "  torus: dims=[2, 4]; 100 Gbit/s and 0 s per link",
                          "  my star: star, 100 Gbit/s and 0 s per link"]
