"""README's examples are real: every ``$ commsim …`` block's lines appear in that command's output, and
every picture it shows is in the repository."""

import re
from pathlib import Path

import pytest

from commsim import cli

README = Path(__file__).parent.parent / "README.md"


def _blocks() -> list[tuple[str, list[str]]]:
    """(command, the lines shown after it) of each fenced block whose first line is ``$ commsim …``."""
    blocks, current = [], None
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("```"):
            if current is not None and current and current[0].startswith("$ commsim"):
                blocks.append((current[0][2:], current[1:]))
            current = [] if current is None else None
        elif current is not None:
            current.append(line)
    return blocks


BLOCKS = _blocks()


def test_the_readme_shows_commands_with_their_output():
    """The quick start and the three everyday uses each show their command's output."""
    assert [command for command, _ in BLOCKS][:4] == [
        "commsim run", "commsim run stragglers", "commsim compare topologies_64",
        "commsim run parameter_server_wall --plot"]


def _args(command: str, tmp_path: Path) -> list[str]:
    """The command's arguments, its outputs in the scratch folder: ``--out`` added, except for ``calibrate``,
    whose ``-o`` file goes there; a ``--calibration`` file is read from there."""
    args = command.split()[1:]
    for flag in ("-o", "--calibration"):
        if flag in args:
            args[args.index(flag) + 1] = str(tmp_path / args[args.index(flag) + 1])
    return args if args[0] == "calibrate" else args + ["--out", str(tmp_path / "out")]


@pytest.mark.parametrize(("command", "shown"), BLOCKS, ids=[command for command, _ in BLOCKS])
def test_each_shown_line_is_what_the_command_prints(command, shown, tmp_path, capsys, monkeypatch):
    """Run the command (into a scratch folder, from the repository's root, where the README's paths
    start): each line the README shows is a line it printed. A ``validate --calibration FILE`` first runs
    the README's ``calibrate … -o FILE``; validate may exit 1 (a measured point misses: its output is
    whole all the same)."""
    monkeypatch.chdir(README.parent)
    if "--calibration" in command:
        name = command.split()[command.split().index("--calibration") + 1]
        (maker,) = [c for c, _ in BLOCKS if c.startswith("commsim calibrate") and c.split()[-1] == name]
        assert cli.main(_args(maker, tmp_path)) == 0
        capsys.readouterr()
    args = _args(command, tmp_path)
    assert cli.main(args) in ((0, 1, 3) if args[0] == "validate" else (0, 3))
    printed = capsys.readouterr().out.splitlines()
    missing = [line for line in shown if line not in printed]
    assert missing == []


def test_every_picture_the_readme_shows_exists():
    """Each ``![…](path)`` names a file in the repository."""
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README.read_text(encoding="utf-8"))
    assert pictures and [path for path in pictures if not (README.parent / path).is_file()] == []
