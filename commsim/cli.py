"""``commsim`` command line: argument parsing and printing only.

Exit status: 0 every run finished and every check holds, 1 a check does not hold, 2 bad input (one line
on stderr), 3 every check holds but some run stopped (its faults left it unable to finish).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from .errors import CommsimError, shown

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 0, 1, 2, 3


def _status(failed: bool, stopped: bool) -> int:
    """A failed check outranks a stopped run (a wrong number, against a fault doing what it was told)."""
    return EXIT_CHECK_FAILED if failed else EXIT_STOPPED if stopped else EXIT_OK


def _stopped(record: dict) -> bool:
    return bool((record.get("disturbance") or {}).get("stopped"))


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _output(text: str) -> Path:
    """An output path as typed: refused when empty (``--out ""`` is not the current directory) or not
    text a file name can hold."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a directory or file name")
    if "\0" in text:
        raise argparse.ArgumentTypeError("a path cannot hold a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("the path is not UTF-8 text") from None
    return Path(text)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="commsim", description="Simulate the communication of data-parallel training.")
    parser.add_argument("--version", action="version", version=f"commsim {_version()}")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    run = commands.add_parser("run", help="run a scenario and check every number against its closed form")
    run.add_argument("scenario", nargs="?",
                     help="scenario YAML file, or a bundled scenario's name (see 'commsim list'; default: textbook)")
    run.add_argument("--out", type=_output, help="output directory (default: results/<scenario name>/)")
    run.add_argument("--links", action="store_true", help="also print each run's five busiest links")
    run.add_argument("--plot", action="store_true", help="also draw every figure the results have data for")
    run.add_argument("--wide", action="store_true", help="every column, however wide (default: fit 100 columns)")
    run.add_argument("--trace", type=_output, metavar="FILE.json",
                     help="write a Chrome trace (Perfetto, chrome://tracing): per-worker sends, receives, idle, compute; links")
    run.add_argument("--messages", type=_output, metavar="FILE.csv", help="write every message: src, dst, bytes, times, route")
    verify = commands.add_parser("verify", help="every algorithm simulated on a contention-free network vs its closed form")
    verify.add_argument("--algorithms", nargs="+", metavar="NAME", help="only these algorithms (default: all)")
    verify.add_argument("--gamma", type=float, default=0.0, help="reduction cost in seconds per byte (default 0)")
    verify.add_argument("--all", action="store_true", help="print every point, not one line per algorithm")
    sweep = commands.add_parser("sweep", help="run every point of a scenario in parallel; results appear as points finish")
    sweep.add_argument("scenario", help="scenario YAML file, or a bundled scenario's name")
    sweep.add_argument("--out", type=_output, help="output directory (default: results/<scenario name>/)")
    sweep.add_argument("--jobs", type=int, help="points at a time (default: every core)")
    sweep.add_argument("--executor", choices=("local", "dask"), default="local",
                       help="local processes (default) or a Dask cluster")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="a Dask scheduler (default: a LocalCluster of --jobs workers)")
    sweep.add_argument("--resume", action="store_true", help="skip the points already in the output directory")
    sweep.add_argument("--plot", action="store_true", help="also draw every figure the results have data for")
    compare = commands.add_parser("compare", help="simulated time per algorithm and topology (or --by), best marked, bar chart")
    compare.add_argument("scenario", help="scenario YAML file, or a bundled scenario's name")
    compare.add_argument("--by", default="topology", help="the columns: topology (default), workers, params or dtype")
    compare.add_argument("--out", type=_output, help="output directory (default: results/<scenario name>/)")
    compare.add_argument("--jobs", type=int, help="points at a time (default: every core)")
    plot = commands.add_parser("plot", help="every figure a results directory has data for (PNG and SVG)")
    plot.add_argument("results", type=Path, help="a directory written by run, sweep or compare")
    validate = commands.add_parser("validate", help="NCCL's cost model, configured from presets, against measured nccl-tests tables")
    validate.add_argument("runs", nargs="*", type=Path, metavar="RUN",
                          help="your nccl-tests outputs (text or -J JSON; default: the bundled tables)")
    validate.add_argument("--training", action="store_true",
                          help="training steps instead: published step times vs the step predicted from the 1-GPU one")
    validate.add_argument("--cases", type=Path, help="the cases file (default: validation/cases.yaml of this checkout, "
                                                     "validation/training/cases.yaml with --training)")
    validate.add_argument("--out", type=_output, help="output directory (default: results/validation/)")
    validate.add_argument("--only", metavar="FILE", help="only the case of this measured table (a file name in the cases)")
    validate.add_argument("--misses", action="store_true",
                          help="then list every held point outside its target with its cause (cases.yaml 'causes')")
    _machine_arguments(validate)
    validate.add_argument("--calibration", type=Path, metavar="FILE.yaml",
                          help="predict with what 'commsim calibrate' wrote (labelled calibrated; default: spec only)")
    calibrate = commands.add_parser("calibrate", help="effective NVLink and network rates and launch floor from your nccl-tests runs")
    calibrate.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="nccl-tests outputs (text or -J JSON)")
    _machine_arguments(calibrate)
    calibrate.add_argument("-o", "--output", type=_output, required=True, metavar="FILE.yaml",
                           help="the calibration to write (a topology a scenario takes, and the launch floor)")
    commands.add_parser("list", help="the bundled scenarios, by name")
    bias = commands.add_parser("bias", help="the implicit-bias experiments: where each optimizer converges")
    bias.add_argument("--out", type=_output, help="output directory (default: results/implicit-bias/)")
    return parser


def _machine_arguments(parser: argparse.ArgumentParser) -> None:
    """The machine the user's runs were taken on."""
    parser.add_argument("--preset", help="the runs' machine, a cluster preset (e.g. hgx-h100)")
    parser.add_argument("--nodes", type=int, help="how many nodes the runs used")
    parser.add_argument("--algorithm", choices=("auto", "ring"), default="auto",
                        help="what NCCL could pick: auto (default) or ring (the runs had NCCL_ALGO=Ring)")
    parser.add_argument("--collective", help="the collective, where a file does not name it (all_reduce, all_gather, "
                                             "reduce_scatter, broadcast, reduce)")


def _user_entries(args: argparse.Namespace) -> list:
    """The user's runs as validation entries, after the machine flags are checked."""
    from .runner import validate

    if args.preset is None or args.nodes is None:
        raise CommsimError(f"{args.command}: give --preset and --nodes: the machine your runs were taken on")
    return validate.user_entries(list(args.runs), args.preset, args.nodes, args.algorithm, args.collective)


def _calibrate(args: argparse.Namespace) -> int:
    from .network import cluster
    from .report import outputs
    from .runner import calibrate

    entries = _user_entries(args)
    outputs.check_file(args.output, "--output")
    result = calibrate.calibrate(entries)
    spec = cluster.preset(args.preset)
    lines = [f"calibrated from {len(entries)} run(s) on {args.preset} × {args.nodes} (CALIBRATED, not spec):"]
    for name, value, link, rate, why in (
            ("NVLink", result.nvlink_efficiency, "NVLink", spec.nvlink_bandwidth, "no run on one node"),
            ("network", result.network_efficiency, "NIC", spec.nic_bandwidth, "no run on several nodes")):
        lines.append(f"  {name:<7} " + (f"× {value:.4g} of its links' rate ({link} {value * rate / 1e9:.4g} GB/s "
                                        f"per direction, preset {rate / 1e9:.4g})" if value is not None
                                        else f"the preset's ({why})"))
    mode = {None: "runs whose launch mode is not stated", 1: "runs of one process per GPU"}.get(
        result.launch_gpus_per_process, f"-g {result.launch_gpus_per_process} runs")
    lines.append(f"  launch floor {result.launch_floor_s * 1e6:.4g} us (the least a call takes in {mode})")
    print("\n".join(lines))
    written = outputs.write_text_atomically(args.output, calibrate.text(result))
    print(f"wrote {written}")
    return EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    from . import scenario
    from .report import compare, outputs
    from .report.progress import progress_bar
    from .runner import sweep as runner

    if args.by not in compare.BY:
        raise CommsimError(f"--by: {args.by!r} is not a swept key; choose one of {', '.join(compare.BY)}")
    if args.jobs is not None and args.jobs < 1:
        raise CommsimError(f"--jobs: must be at least 1, got {args.jobs}")
    loaded = scenario.load(args.scenario)
    if isinstance(loaded, scenario.ExperimentScenario) or loaded.training is not None or loaded.workload is not None:
        raise CommsimError(f"{args.scenario}: compare takes a collectives scenario (no training, workload or experiment)")
    out = args.out if args.out is not None else Path("results") / loaded.name
    outputs.check_directory(out)
    outputs.clear_stale(out)
    with runner.executor_for("local", args.jobs or runner.default_jobs()) as executor, progress_bar(loaded.name) as update:
        records = runner.sweep(loaded, out, executor, progress=update, work=_work(loaded, update))
    result = compare.comparison(records, args.by)
    print(compare.table_text(result))
    written = [out / "results.csv", out / "results.json", out / runner.RECORDS, *compare.save_figure(result, out, loaded.networks)]
    outputs.remember(out, written)
    for path in written[:2] + written[3:]:
        print(f"wrote {path}")
    return _status(any(record.get("ok") is False for record in records), any(map(_stopped, records)))


def _plot(args: argparse.Namespace) -> int:
    from .report import outputs
    from .report.plots import plot_results

    if not (args.results / "results.json").is_file():
        raise CommsimError(f"{args.results}: no results.json here (run, sweep or compare write one)")
    outputs.check_directory(args.results, "RESULTS_DIR")
    try:
        written = plot_results(args.results)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as error:  # a document not ours
        raise CommsimError(f"{args.results / 'results.json'}: not a results file commsim wrote ({shown(error, 100)})") from None
    outputs.remember(args.results, written)
    for path in written:
        print(f"wrote {path}")
    if not written:
        print("nothing to plot: the results vary neither workers nor size, and hold no link usage")
    return EXIT_OK


def _sweep(args: argparse.Namespace) -> int:
    import time

    from . import scenario
    from .report import outputs, tables
    from .report import records as records_module
    from .report.progress import progress_bar
    from .runner import sweep as runner

    if args.jobs is not None and args.jobs < 1:
        raise CommsimError(f"--jobs: must be at least 1, got {args.jobs}")
    if args.scheduler and args.executor != "dask":
        raise CommsimError("--scheduler: only with --executor dask")
    loaded = scenario.load(args.scenario)
    if isinstance(loaded, scenario.ExperimentScenario):
        raise CommsimError(f"{args.scenario}: an experiment has no points to sweep; use 'commsim run'")
    out = args.out if args.out is not None else Path("results") / loaded.name
    outputs.check_directory(out)
    outputs.clear_stale(out, keep=[runner.RECORDS])  # rewritten from the start (or resumed) in place
    jobs = args.jobs or runner.default_jobs()
    start = time.perf_counter()
    with runner.executor_for(args.executor, jobs, args.scheduler) as executor, progress_bar(loaded.name) as update:
        records = runner.sweep(loaded, out, executor, resume=args.resume, progress=update, work=_work(loaded, update))
    seconds = time.perf_counter() - start
    print(tables.table(loaded, [records_module.result_of(record) for record in records], summary=False))
    unavailable = sum("unavailable" in record for record in records)
    stopped = sum(map(_stopped, records))
    failed = sum(record.get("ok") is False for record in records)
    ran = len(records) - unavailable - stopped
    print(f"{len(records)} points: {ran - failed} of {ran} match their closed forms"
          + (f", {failed} do not" if failed else "") + (f"; {stopped} stopped by their faults" if stopped else "")
          + (f"; {unavailable} n/a" if unavailable else "")
          + f" ({jobs} {args.executor} job{'s' * (jobs > 1)}, {seconds:.1f} s)")
    written = [out / name for name in ("results.csv", "results.json", runner.RECORDS)]
    if args.plot:
        from .report.plots import plot_results

        written += plot_results(out)
    outputs.remember(out, written)
    for path in written:
        print(f"wrote {path}")
    return _status(bool(failed), bool(stopped))


def _work(loaded: Any, update: Any) -> Callable[[Any], float] | None:
    """Each point's estimated work (the budget's events), so that a progress bar counts work, not points;
    None when no bar is drawn (nothing to estimate for)."""
    if not getattr(update, "active", False):
        return None
    from .budget import estimate

    return lambda point: 1.0 if point.unavailable is not None else float(estimate(loaded, point).events)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("commsim")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def _list(args: argparse.Namespace) -> int:
    from .scenario import bundled

    from .report.tables import wrapped

    found = bundled()
    width = max(map(len, found))
    for name, description in found.items():  # the description beside the names, wrapped within 100 columns
        print("\n".join(wrapped(f"{name:<{width}}  {description}", hang=width + 2)))
    print("run one with: commsim run NAME")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from . import scenario
    from .report import outputs, records, tables
    from .runner.points import simulate_point

    loaded = scenario.load(args.scenario)
    out = args.out if args.out is not None else Path("results") / loaded.name
    outputs.check_directory(out)
    if isinstance(loaded, scenario.ExperimentScenario):
        return _bias(out)
    from .report.progress import progress_bar

    exports = [(flag, path) for flag, path in (("--trace", args.trace), ("--messages", args.messages)) if path]
    for flag, path in exports:
        if loaded.engine_picked[0] == "analytic":
            raise CommsimError(f"{flag}: engine 'analytic' sends no messages; use engine 'schedule' or 'message'")
        outputs.check_file(path, flag)
    points = list(loaded.runs())
    keep_log = bool(exports) or (args.plot and loaded.training is None and loaded.workload is None)  # timelines
    if keep_log:  # every run's message log is kept until the outputs are written: it counts in the budget
        from .budget import check

        try:
            check(loaded, keep_log=True)
        except CommsimError as error:
            raise CommsimError(f"{args.scenario or scenario.DEFAULT_SCENARIO}: {error}") from None
    one = simulate_point(loaded)
    runs = []
    with progress_bar(loaded.name, unit="runs") as update:
        work = _work(loaded, update)
        weights = [max(work(point), 1.0) if work is not None else 1.0 for point in points]
        total, finished = sum(weights), 0.0
        update(0, len(points), 0.0)
        for done, point in enumerate(points):
            within = {"progress": lambda fraction: update(done + fraction, len(points),
                                                          (finished + fraction * weights[done]) / total)} if work else {}
            runs.append(one(loaded, point, keep_log=keep_log, **within))
            finished += weights[done]
            update(len(runs), len(points), finished / total)
    outputs.clear_stale(out)
    written = records.write_results(out, loaded, runs)
    if args.trace:
        from .report.trace import write_trace

        written.append(write_trace(runs, args.trace))
    if args.messages:
        from .report.trace import write_messages

        written.append(write_messages(runs, args.messages))
    if loaded.workload is not None:
        from .report.plots import step_breakdown

        written += step_breakdown(runs, out)
    elif args.plot and loaded.training is None:
        from .report.plots import plot_results, timelines

        written += plot_results(out) + timelines(runs, out)
    if loaded.training is not None:
        from .report.plots import loss_vs_time

        written += loss_vs_time(runs, out)
    disturbed = any(getattr(run, "disturbance", None) is not None for run in runs)  # simulated beside a twin
    if disturbed and not (args.plot and loaded.training is None):  # drawn every time (--plot draws it too)
        from .report.plots import stragglers_and_faults

        written += stragglers_and_faults(runs, out)
    outputs.remember(out, written)
    print(tables.table(loaded, runs, wide=args.wide))
    if args.links and loaded.training is None and loaded.workload is None:
        print(tables.links_table(runs))
    for path in written:
        print(f"wrote {path}")
    return _status(records.all_ok(runs) is False, any(getattr(run, "stopped", None) is not None for run in runs))


def _bias(out: Path) -> int:
    from .report import outputs, records, tables
    from .report.plots import bias_trajectories
    from .training import bias

    outputs.check_directory(out)
    runs = bias.run_all()
    rows = bias.bias_table(runs)
    outputs.clear_stale(out)
    written = [*records.write_bias_results(out, rows), bias_trajectories(runs, out / "trajectories.png")]
    outputs.remember(out, written)
    print(tables.bias_table(rows))
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK if all(row.max_abs_error <= records.BIAS_TOLERANCE for row in rows) else EXIT_CHECK_FAILED


def _validate(args: argparse.Namespace) -> int:
    from .report import outputs, records, tables
    from .report.plots import save, validation_errors
    from .runner import validate, validate_training

    if args.training:
        return _validate_training(args)
    if args.runs:
        if args.cases is not None or args.only is not None:
            raise CommsimError("validate: give your runs or --cases/--only, not both")
        entries = _user_entries(args)
        if args.calibration is not None:
            from .runner import calibrate

            calibration = calibrate.load(args.calibration)
            if calibration.preset != args.preset:
                raise CommsimError(f"--calibration: {args.calibration} calibrates {calibration.preset}, not {args.preset}")
            cases = calibrate.calibrated_cases(entries, calibration)
        else:
            cases = [validate.predict(entry) for entry in entries]
    else:
        if args.calibration is not None or args.preset is not None or args.nodes is not None:
            raise CommsimError("validate: --preset, --nodes and --calibration describe your runs; give the runs too")
        path = args.cases if args.cases is not None else validate.CASES
        if not path.is_file():
            raise CommsimError(f"{path}: no validation cases here (the measured tables live in validation/ of a source checkout)")
        cases = validate.load_cases(path, only=args.only)
        if not cases:
            raise CommsimError(f"--only: no case of {path} measures {args.only!r}")
    out = args.out if args.out is not None else Path("results") / "validation"
    outputs.check_directory(out)
    print(tables.validation_table(cases))
    if args.misses:
        print("\n" + tables.validation_misses(cases))
    outputs.clear_stale(out, keep=validate_training.FILES)
    written = [records.write_validation(out, cases), records.write_validation_json(out, cases),
               *save(validation_errors(cases), out, "validation")]
    outputs.remember(out, written)
    for path in written:
        print(f"wrote {path}")
    return EXIT_CHECK_FAILED if any(case.misses for case in cases if case.counts) else EXIT_OK


def _validate_training(args: argparse.Namespace) -> int:
    """``validate --training``: the published step-time tables against the steps predicted from their 1-GPU
    steps; exit 1 while a counted row misses ±5 %."""
    from .report import outputs, records, tables
    from .runner import validate_training
    from .runner.points import simulate_step

    if args.runs or args.calibration is not None or args.preset is not None or args.nodes is not None or args.misses:
        raise CommsimError("validate --training: takes --cases, --only and --out (its machines are in the cases)")
    path = args.cases if args.cases is not None else validate_training.CASES
    if not path.is_file():
        raise CommsimError(f"{path}: no training validation cases here (they live in validation/training/ of a "
                           "source checkout)")
    out = args.out if args.out is not None else Path("results") / "validation"
    outputs.check_directory(out)
    entries = validate_training.read_cases(path, only=args.only)
    if not entries:
        raise CommsimError(f"--only: no case of {path} measures {args.only!r}")
    cases = [validate_training.predict(entry, simulate_step) for entry in entries]
    print(tables.training_validation_table(cases))
    written = records.write_training_validation(out, cases)
    outputs.remember(out, written)
    for path in written:
        print(f"wrote {path}")
    return EXIT_CHECK_FAILED if any(case.misses for case in cases) else EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from .collectives import get
    from .engines.verify import verify
    from .report.tables import verify_table

    for name in args.algorithms or ():
        try:
            get(name)
        except ValueError as error:
            raise CommsimError(f"--algorithms: {error}") from None
    if args.gamma < 0:
        raise CommsimError(f"--gamma: must be >= 0, got {args.gamma}")
    checks = verify(args.algorithms, gamma=args.gamma)
    print(verify_table(checks, every_point=args.all))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_CHECK_FAILED


def _bias_command(args: argparse.Namespace) -> int:
    from . import scenario

    loaded = scenario.load_bundled(scenario.BIAS_SCENARIO)
    return _bias(args.out if args.out is not None else Path("results") / loaded.name)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``commsim`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `commsim`: say what it can do
        parser.print_help()
        return EXIT_OK
    try:
        return {"run": _run, "sweep": _sweep, "compare": _compare, "plot": _plot, "verify": _verify, "bias": _bias_command,
                "list": _list, "validate": _validate, "calibrate": _calibrate}[args.command](args)
    except BrokenPipeError:  # e.g. `commsim run | head`: the results are already written
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (CommsimError, OSError) as error:
        print(f"commsim: error: {' '.join(str(error).split())}", file=sys.stderr)  # one line, always
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("commsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
