"""Hostile input through the real entry point: each failure mode of issue 11 is one stderr line naming the
file and the key, exit status 2, and no output files."""

from pathlib import Path

import pytest

from commsim import cli

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
