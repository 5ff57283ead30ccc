"""``commsim`` command line: argument parsing and printing only.

Exit status: 0 every check holds, 1 a check does not, 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from .errors import CommsimError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="commsim", description="Simulate the communication of data-parallel training.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="run a scenario and check every number against its closed form")
    run.add_argument("scenario", nargs="?", help="scenario YAML file (default: the bundled textbook table)")
    run.add_argument("--out", type=Path, help="output directory (default: results/<scenario name>/)")
    return parser


def _run(args: argparse.Namespace) -> int:
    from . import report, scenario, simulate

    loaded = scenario.load(args.scenario)
    runs = simulate.simulate(loaded)
    out = args.out if args.out is not None else Path("results") / loaded.name
    print(report.table(loaded, runs))
    written = report.write_results(out, loaded, runs)
    if loaded.training is not None:
        from .plots import loss_vs_time

        written.append(loss_vs_time(runs, out / "loss_vs_time.png"))
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK if all(run.ok for run in runs) else EXIT_CHECK_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``commsim`` console script."""
    args = _parser().parse_args(argv)
    try:
        return {"run": _run}[args.command](args)
    except CommsimError as error:
        print(f"commsim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:
        print(f"commsim: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("commsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
