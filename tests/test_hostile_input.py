"""Hostile input through the real entry point: each failure mode of issue 11 is one stderr line naming the
file and the key, exit status 2, and no output files."""

from pathlib import Path

import pytest

from commsim import cli, scenario_file
from commsim.errors import ScenarioError

OK = """\
name: small
seed: 7
workers: [2, 4]
params: 10
topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}
algorithms: [ring_allreduce]
"""


def refused(tmp_path: Path, capsys, content: str | bytes, *extra: str) -> str:
    """Run ``commsim run`` on ``content`` (written to scenario.yaml): assert exit 2, one short stderr line,
    nothing on stdout and no output directory; return the line after ``commsim: error: <file>: ``."""
    path = tmp_path / "scenario.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    code = cli.main(["run", str(path), "--out", str(out), *extra])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.endswith("\n")
    assert len(captured.err) < 300
    assert not out.exists()
    assert not list(tmp_path.rglob("*.partial"))
    prefix = f"commsim: error: {path}: "
    assert captured.err.startswith(prefix), captured.err
    return captured.err[len(prefix):].rstrip("\n")


# -- the file itself ------------------------------------------------------------------------------


def test_binary_file_is_refused_as_binary(tmp_path, capsys):
    """Random bytes with NUL in them: not YAML text."""
    assert refused(tmp_path, capsys, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe") == \
        "is a binary file (it holds NUL bytes), not YAML text"


def test_non_utf8_file_names_the_byte_and_offset(tmp_path, capsys):
    """Latin-1 text: the first byte that is not UTF-8, and where."""
    assert refused(tmp_path, capsys, OK.replace("small", "caf\xe9").encode("latin-1")) == \
        "is not UTF-8 text (byte 0xe9 at offset 9)"


def test_empty_file_is_refused_as_empty(tmp_path, capsys):
    """An empty file is not a scenario."""
    assert refused(tmp_path, capsys, "").startswith("is empty; a scenario is a mapping of keys")


def test_oversized_file_is_refused_before_parsing(tmp_path, capsys):
    """A 2 MiB file is refused by its size alone."""
    assert refused(tmp_path, capsys, OK + "#" * (2 << 20) + "\n").endswith("a scenario file is at most 1,048,576")


def test_a_directory_or_a_missing_file_is_one_line(tmp_path, capsys):
    """A directory, a missing file and a path through a file each say why the scenario cannot be read."""
    (tmp_path / "dir.yaml").mkdir()
    (tmp_path / "plain").write_text("x")
    for path, why in ((tmp_path / "dir.yaml", "it is a directory"), (tmp_path / "gone.yaml", "No such file or directory"),
                      (tmp_path / "plain" / "s.yaml", "Not a directory")):
        assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2
        assert capsys.readouterr().err == f"commsim: error: {path}: cannot read scenario: {why}\n"
    assert not (tmp_path / "out").exists()


# -- the YAML document ----------------------------------------------------------------------------


def test_deep_nesting_is_refused_without_recursion_error(tmp_path, capsys):
    """5,000 nested lists: refused at 64 levels, naming the key, not a RecursionError."""
    line = refused(tmp_path, capsys, OK + "extra: " + "[" * 5000 + "]" * 5000 + "\n")
    assert line == "extra.0.0.….0.0: nested deeper than 64 levels"


def test_alias_bomb_is_refused_by_its_expanded_size(tmp_path, capsys):
    """Nine levels of ten aliases each (10⁹ values once expanded) is refused while reading."""
    levels = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    line = refused(tmp_path, capsys, OK + "\n".join(levels) + "\nworkers_too: *l8\n")
    assert line.startswith("l5.")
    assert line.endswith("the document expands to more than 1,000,000 values (aliases repeating aliases?)")


def test_alias_bomb_of_long_strings_is_refused_by_its_expanded_characters(tmp_path, capsys):
    """A 1.5 kB file of 711,111 copies of one 1000-character string (711 M characters once expanded, under the
    value limit) used to be echoed whole in an error (seconds, GBs); now refused while reading."""
    levels = [f"l0: &l0 {'x' * 1000}"]
    levels += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 6)]
    text = OK.replace("params: 10", "\n".join(levels) + f"\nparams: {{from: [{', '.join(['*l5'] * 6)}], to: 10, step: 1}}")
    assert len(text) < 1500
    assert refused(tmp_path, capsys, text) == \
        "l4.2: the document expands to more than 4,000,000 characters (aliases repeating long strings?)"


def test_expanded_characters_are_bounded_exactly():
    """Characters of every scalar once aliases are expanded, keys included: 4,000,000 read, one more refused."""
    def document(key: str) -> str:  # 'a' + 1000 + 'b' + 3998 × 1000 + key + 'y' characters
        return f"a: &s {'x' * 1000}\nb: [{', '.join(['*s'] * 3998)}]\n{key}: y\n"

    assert scenario_file.parse_yaml(document("c" * 997), "f.yaml")["c" * 997] == "y"  # 4,000,000
    with pytest.raises(ScenarioError, match=r"^f\.yaml: c+…: the document expands to more than 4,000,000 characters"):
        scenario_file.parse_yaml(document("c" * 998), "f.yaml")  # 4,000,001


def test_recursive_alias_is_refused(tmp_path, capsys):
    """A list that contains itself."""
    assert refused(tmp_path, capsys, OK + "loop: &a [1, *a]\n") == \
        "loop.1: alias *'a' refers to a collection that contains it"


def test_duplicate_keys_are_refused_with_both_lines(tmp_path, capsys):
    """workers: -1 then workers: 4 used to run with 4; now both lines are named."""
    text = OK.replace("workers: [2, 4]", "workers: -1") + "workers: 4\n"
    assert refused(tmp_path, capsys, text) == "workers: duplicate key (line 7; first at line 3)"


def test_duplicate_keys_inside_a_topology_are_named_by_path(tmp_path, capsys):
    """A key repeated in a nested mapping is named by its dotted path."""
    text = OK.replace("{kind: star, bandwidth: 8 Gbit/s, latency: 1 us}", "{kind: star, latency: 1 us, latency: 2 us}")
    assert refused(tmp_path, capsys, text) == "topology.latency: duplicate key (line 5; first at line 5)"


def test_merge_keys_may_be_overridden(tmp_path, capsys):
    """YAML merge keys (<<) are not duplicates: a key given beside a merge overrides it."""
    path = tmp_path / "merge.yaml"
    path.write_text(OK.replace("topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}",
                               "base: &base {kind: star, latency: 1 us}\ntopology: {<<: *base, latency: 2 us}"))
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) == 2  # 'base' is an unknown key ...
    assert capsys.readouterr().err == f"commsim: error: {path}: base: unknown key\n"  # ... and only that


def test_huge_integer_is_refused_before_conversion(tmp_path, capsys):
    """A 5,000-digit integer used to raise Python's 4300-digit ValueError."""
    assert refused(tmp_path, capsys, OK.replace("workers: [2, 4]", "workers: " + "9" * 5000)) == \
        "workers: an integer of 5000 characters is too large"


def test_lone_surrogate_is_refused_naming_the_key(tmp_path, capsys):
    """"\\ud800" in a label cannot be written to results.json as UTF-8: refused at load, not after the run."""
    text = OK.replace("latency: 1 us}", 'latency: 1 us, label: "net \\ud800"}')
    assert refused(tmp_path, capsys, text) == "topology.label: contains a lone surrogate \\ud800 (not Unicode text)"


def test_object_constructing_tags_stay_refused(tmp_path, capsys):
    """safe_load semantics: a python/object tag constructs nothing."""
    line = refused(tmp_path, capsys, OK.replace("name: small", "name: !!python/object/apply:os.system ['touch pwned']"))
    assert line.startswith("invalid YAML at line 1, column 7: could not determine a constructor for the tag")
    assert not Path("pwned").exists()


@pytest.mark.parametrize(("tagged", "why"), [
    ("!!int x", "workers: 'x' is not an integer"),
    ("!!int ''", "workers: '' is not an integer"),
    ("!!float abc", "workers: 'abc' is not a number"),
    ("!!bool maybe", "workers: 'maybe' is not true or false"),
    ("!!timestamp 2001-02-30", "workers: '2001-02-30' is not a date"),
])
def test_malformed_explicit_scalars_name_the_key(tmp_path, capsys, tagged, why):
    """An explicit tag on text it cannot read used to escape as ValueError/IndexError/KeyError."""
    assert refused(tmp_path, capsys, OK.replace("workers: [2, 4]", f"workers: {tagged}")) == why


def test_a_100_kb_value_is_cut_in_the_error_line(tmp_path, capsys):
    """A huge bad value is echoed as its first characters and "…", not whole."""
    line = refused(tmp_path, capsys, OK.replace("8 Gbit/s", "'" + "x" * 100_000 + "'"))
    assert line.startswith("topology.bandwidth: cannot parse 'xxxx")
    assert "…" in line


# -- numbers and types ----------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "key", "why"), [
    ("workers: 1e400", "workers.0", "Input should be less than or equal to 4194304 (got '1e400')"),
    ("workers: -1", "workers.0", "cannot parse -1 as a count: must not be negative"),
    ("workers: true", "workers.0", "cannot parse True as a count: expected a number or a string, got bool"),
    ("workers: .nan", "workers.0", "cannot parse nan as a count: not a finite number"),
    ("params: 1e18", "params.0", "Input should be less than or equal to 9007199254740992 (got '1e18')"),
    ("seed: 1e30", "seed", "Input should be a valid integer"),
    ("workers: {from: 2, to: 1e400, factor: 2}", "workers", "range ends must be below 2^63"),
    ("workers: {from: 2, to: 1e400, step: 1}", "workers", "range ends must be below 2^63"),
])
def test_huge_negative_and_non_finite_numbers_name_the_key(tmp_path, capsys, line, key, why):
    """Numbers out of any sane range are refused by key, with no OverflowError or 4300-digit error."""
    changed = "\n".join(line if row.split(":")[0] == line.split(":")[0] else row for row in OK.splitlines()) + "\n"
    changed = changed if line.split(":")[0] in OK else OK + line + "\n"
    message = refused(tmp_path, capsys, changed)
    assert message.startswith(f"{key}: ")
    assert why in message


@pytest.mark.parametrize(("topology", "key", "why"), [
    ("{kind: from_file, path: 3}", "topology.path", "must be the name of a .graphml, .edges, .txt file, got 3"),
    ("{kind: from_file, path: [[a]]}", "topology.path", "must be the name of a .graphml, .edges, .txt file, got [['a']]"),
    ("{kind: from_file, path: nowhere.edges}", "topology.path", "/nowhere.edges': No such file or directory"),
    ("{kind: from_file}", "topology.path", "from_file needs a .graphml, .edges, .txt file"),
    ("{kind: torus, dims: x}", "topology.dims", "must be 2 or 3 sizes like [4, 4] or '2x2x2', got 'x'"),
    ("{kind: torus, dims: [1e300, 1]}", "topology.dims", "each size must be from 1 to 4,194,304"),
    ("{kind: fat_tree, k: [1]}", "topology.k", "cannot parse [1] as a count: expected a number or a string, got list"),
    ("{kind: fat_tree, k: [1, 2]}", "topologies.0.k", "must be a whole number from 2 to 1,024, got 1"),
    ("{kind: fat_tree, k: 2000}", "topology.k", "must be a whole number from 2 to 1,024, got 2000"),
    ("{kind: fat_tree, k: 5}", "topology.k", "a fat tree's k must be even, got 5"),
    ("{kind: tree, arity: {a: 1}}", "topology.arity", "a range takes from, to and factor or step"),
    ("{kind: hierarchical, intra: 7, gpus_per_node: 2}", "topology.intra", "must be one of mesh, switch, got 7"),
    ("{kind: hierarchical}", "topology.gpus_per_node", "a hierarchical topology needs gpus_per_node (or nodes)"),
    ("{kind: cluster, preset: [dgx-a100, x]}", "topologies.1.preset", "must be one of dgx-a100, hgx-h100"),
])
def test_wrong_types_in_topology_options_name_the_option(tmp_path, capsys, topology, key, why):
    """A topology option of the wrong type or range is refused before building, by its dotted key."""
    message = refused(tmp_path, capsys, OK.replace("{kind: star, bandwidth: 8 Gbit/s, latency: 1 us}", topology))
    assert message.startswith(f"{key}: ") or message.startswith(f"{key}.")
    assert why in message


# -- outputs --------------------------------------------------------------------------------------


def _no_simulation(monkeypatch):
    """Make any simulation fail the test: output paths must be judged before one starts."""
    from commsim.runner import points

    def forbidden(*args, **kwargs):
        raise AssertionError("simulated before the output path was checked")

    monkeypatch.setattr(points, "simulate_run", forbidden)


def test_out_that_is_a_file_is_refused_before_simulating(tmp_path, capsys, monkeypatch):
    """--out naming a file: one line naming --out, the file untouched, nothing simulated."""
    _no_simulation(monkeypatch)
    (tmp_path / "taken").write_text("keep\n")
    assert refused_out(tmp_path, capsys, str(tmp_path / "taken")) == f"--out: {tmp_path / 'taken'} exists and is not a directory"
    assert (tmp_path / "taken").read_text() == "keep\n"


def test_out_under_a_file_is_refused_before_simulating(tmp_path, capsys, monkeypatch):
    """--out whose parent is a file."""
    _no_simulation(monkeypatch)
    (tmp_path / "plain").write_text("x")
    assert refused_out(tmp_path, capsys, str(tmp_path / "plain" / "out")) == \
        f"--out: {tmp_path / 'plain'} is not a directory, so {tmp_path / 'plain' / 'out'} cannot be one"


def test_unwritable_out_is_refused_before_simulating(tmp_path, capsys, monkeypatch):
    """--out where no directory can be made (/proc, even for root; else a read-only directory)."""
    import os

    _no_simulation(monkeypatch)
    if os.geteuid() == 0:
        target, parent = Path("/proc/commsim-never/out"), Path("/proc")
    else:
        parent = tmp_path / "locked"
        parent.mkdir(mode=0o500)
        target = parent / "out"
    message = refused_out(tmp_path, capsys, str(target))
    assert message.startswith(f"--out: cannot write in {parent} (")
    assert message.endswith(f"), so not {target}")
    assert not target.exists()


def test_empty_out_is_refused_not_the_current_directory(tmp_path, capsys, monkeypatch):
    """--out "" used to write into the current directory; now it is a usage error (exit 2, one line)."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "scenario.yaml"
    path.write_text(OK)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", str(path), "--out", ""])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == \
        "commsim run: error: argument --out: an empty path; give a directory or file name (see 'commsim run --help')\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.yaml"]


@pytest.mark.parametrize("flag", ["--trace", "--messages"])
def test_export_paths_are_checked_before_simulating(tmp_path, capsys, monkeypatch, flag):
    """--trace/--messages naming a directory, or a file in a missing directory."""
    _no_simulation(monkeypatch)
    (tmp_path / "dir").mkdir()
    assert refused_out(tmp_path, capsys, str(tmp_path / "out"), flag, str(tmp_path / "dir")) == \
        f"{flag}: {tmp_path / 'dir'} is a directory, not a file"
    assert refused_out(tmp_path, capsys, str(tmp_path / "out"), flag, str(tmp_path / "gone" / "t.x")) == \
        f"{flag}: {tmp_path / 'gone'} is not a directory"


def refused_out(tmp_path: Path, capsys, out: str, *extra: str) -> str:
    """``commsim run`` of the OK scenario into ``out``: exit 2 and one line; the line after "commsim: error: "."""
    path = tmp_path / "scenario.yaml"
    path.write_text(OK)
    assert cli.main(["run", str(path), "--out", out, *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    return captured.err.removeprefix("commsim: error: ").rstrip("\n")


SWEEP = OK.replace("workers: [2, 4]", "workers: [2, 4, 8]")


def test_a_second_run_removes_the_first_runs_plots_and_only_those(tmp_path, capsys):
    """A run with --plot writes figures; a run of another scenario into the same directory removes them
    (they describe the first run) but keeps the user's own files."""
    path, out = tmp_path / "sweep.yaml", tmp_path / "out"
    path.write_text(SWEEP)
    assert cli.main(["run", str(path), "--out", str(out), "--plot"]) == 0
    first = {p.name for p in out.iterdir()}
    assert {"time_vs_workers.png", "time_vs_workers.svg", "timeline_star_ring_allreduce_n8.png"} <= first
    (out / "notes.txt").write_text("mine\n")
    (out / "time_vs_workers_mine.png").write_bytes(b"not commsim's")
    path.write_text(OK.replace("workers: [2, 4]", "workers: 4"))
    assert cli.main(["run", str(path), "--out", str(out)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == [".commsim-outputs", "notes.txt", "results.csv", "results.json",
                                                     "time_vs_workers_mine.png"]


def test_ctrl_c_while_writing_leaves_no_half_written_results(tmp_path, capsys, monkeypatch):
    """A KeyboardInterrupt while the results are renamed into place: exit 130, no temporary left, and the
    earlier results.json and results.csv still whole and matching."""
    import os

    from commsim.report import outputs

    path, out = tmp_path / "s.yaml", tmp_path / "out"
    path.write_text(OK)
    assert cli.main(["run", str(path), "--out", str(out)]) == 0
    before = {name: (out / name).read_bytes() for name in ("results.json", "results.csv")}
    path.write_text(OK.replace("seed: 7", "seed: 8"))
    real_replace, calls = os.replace, []

    def interrupted(src, dst):
        calls.append(dst)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(outputs.os, "replace", interrupted)
    assert cli.main(["run", str(path), "--out", str(out)]) == 130
    assert capsys.readouterr().err.endswith("commsim: interrupted\n")
    assert not list(out.glob("*.partial")) and not list(out.glob(".*.partial"))
    assert {name: (out / name).read_bytes() for name in before} == before


def test_ctrl_c_while_drawing_leaves_no_partial_figure(tmp_path, capsys, monkeypatch):
    """A KeyboardInterrupt inside savefig (half a PNG on disk): the temporary is removed."""
    from matplotlib.figure import Figure

    path, out = tmp_path / "sweep.yaml", tmp_path / "out"
    path.write_text(SWEEP)
    real_savefig = Figure.savefig

    def cut(self, fname, **kwargs):
        real_savefig(self, fname, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", cut)
    assert cli.main(["run", str(path), "--out", str(out), "--plot"]) == 130
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir() if "partial" in p.name or p.suffix in (".png", ".svg")) == []


def test_ctrl_c_during_a_sweep_leaves_whole_lines_and_resume_finishes(tmp_path, capsys, monkeypatch):
    """Interrupted at the third point: results.csv and results.jsonl hold the first two points whole, and
    --resume runs only the rest."""
    from commsim.runner import sweep

    path, out = tmp_path / "sweep.yaml", tmp_path / "out"
    path.write_text(SWEEP.replace("[ring_allreduce]", "[ring_allreduce, all_to_all]"))
    real_point, ran = sweep.run_point, []

    def stop_at_third(scenario, run):
        ran.append(run)
        if len(ran) == 3:
            raise KeyboardInterrupt
        return real_point(scenario, run)

    monkeypatch.setattr(sweep, "run_point", stop_at_third)
    assert cli.main(["sweep", str(path), "--out", str(out), "--jobs", "1"]) == 130
    lines = (out / "results.csv").read_text().splitlines()
    assert len(lines) == 3 and all(line.count(",") == lines[0].count(",") for line in lines)
    assert len((out / sweep.RECORDS).read_text().splitlines()) == 2
    ran.clear()
    monkeypatch.setattr(sweep, "run_point", lambda scenario, run: ran.append(run) or real_point(scenario, run))
    assert cli.main(["sweep", str(path), "--out", str(out), "--jobs", "1", "--resume"]) == 0
    assert len(ran) == 4 and len((out / "results.csv").read_text().splitlines()) == 7
    capsys.readouterr()


def test_non_finite_numbers_become_null_in_results_json(tmp_path, capsys, recwarn):
    """Training that diverges (step size 1e300) used to write NaN and Infinity into results.json; now
    the file is strict JSON with null where the loss is not a number."""
    import json

    path, out = tmp_path / "diverge.yaml", tmp_path / "out"
    path.write_text("name: diverge\nworkers: 2\ntopology: {kind: star}\nalgorithms: [ring_allreduce]\n"
                    "training: {model: linear_regression, steps: 30, samples: 64, features: 4,\n"
                    "           optimizer: {name: gradient_descent, alpha: 1.0e+300}}\n")
    assert cli.main(["run", str(path), "--out", str(out)]) == 0
    assert "nan" in capsys.readouterr().out
    assert not recwarn.list  # divergence shows in the loss, not as numpy overflow warnings

    def refuse(constant):
        raise AssertionError(f"{constant} in results.json")

    document = json.loads((out / "results.json").read_text(), parse_constant=refuse)
    losses = document["runs"][0]["curves"]["loss"]
    assert losses[0] is not None and None in losses
    assert document["runs"][0]["final_loss"] is None


def test_plotting_results_is_not_held_to_todays_budget(tmp_path, capsys, monkeypatch):
    """commsim plot re-reads the scenario from results.json: a run that was within budget when it ran is
    drawn even under a budget it would not pass now."""
    path, out = tmp_path / "sweep.yaml", tmp_path / "out"
    path.write_text(SWEEP)
    assert cli.main(["run", str(path), "--out", str(out)]) == 0
    monkeypatch.setenv("COMMSIM_BUDGET", "events=1")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "refused")]) == 2
    assert cli.main(["plot", str(out)]) == 0
    assert (out / "time_vs_workers.png").exists()
    capsys.readouterr()


def test_a_foreign_results_json_is_one_line_for_plot(tmp_path, capsys):
    """commsim plot on a results.json commsim did not write (deeply nested, wrong shapes)."""
    for text in ('{"runs": [1, 2]}', "[" * 100_000 + "]" * 100_000, '{"runs": [{"workers": "x"}], "scenario": 3}'):
        (tmp_path / "results.json").write_text(text)
        assert cli.main(["plot", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"commsim: error: {tmp_path / 'results.json'}: ")
        assert "not a results file commsim wrote (" in err or "a scenario must be a mapping of keys, got int" in err
        assert err.count("\n") == 1


def test_validation_cases_are_read_as_safely_as_scenarios(tmp_path, capsys):
    """commsim validate --cases reads YAML through the same reader: a duplicate key is one line."""
    cases = tmp_path / "cases.yaml"
    cases.write_text("- file: a.csv\n  preset: hgx-h100\n  nodes: 2\n  nodes: 4\n  algorithm: ring\n")
    assert cli.main(["validate", "--cases", str(cases), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"commsim: error: {cases}: 0.nodes: duplicate key (line 4; first at line 3)\n"
    assert not (tmp_path / "out").exists()


def test_an_out_name_too_long_is_one_line_naming_out(tmp_path, capsys):
    """A 300-character directory name: the OS refuses it, and the line says --out, cut to its end."""
    message = refused_out(tmp_path, capsys, str(tmp_path / ("d" * 300) / "out"))
    assert message.startswith("--out: …") and message.endswith("d/out: File name too long")


@pytest.mark.parametrize(("topology", "algorithms", "message"), [
    ("{kind: star, links: [{between: [6000, switch], bandwidth: 1e9}]}", "[parameter_server]",
     "topology.links: with workers=5000: link override names node 6000, which is not in the topology"),
    ("{kind: ring, links: [{between: [0, server], latency: 0}]}", "[all_to_all, parameter_server]",
     "topology.links: with workers=5000: link override names node 'server', which is not in the topology"),
])
def test_checks_of_more_than_4096_workers_happen_at_load(tmp_path, capsys, topology, algorithms, message):
    """Topologies of 5,000 workers used to be checked only when built for the run; now every topology of
    up to 250,000 nodes and links is built at load, so a bad link override or a server on a ring is one
    line before anything runs."""
    text = OK.replace("workers: [2, 4]", "workers: 5000").replace("[ring_allreduce]", algorithms)
    text = text.replace("{kind: star, bandwidth: 8 Gbit/s, latency: 1 us}", topology) + "payload: size-only\n"
    assert refused(tmp_path, capsys, text).startswith(message)
