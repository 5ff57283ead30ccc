"""Tests for data-parallel training inside the simulation: replicas, equivalence, loss, time, refusals, outputs."""

import contextlib
import copy
import csv
import dataclasses
import functools
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import optim
from commsim import cli, scenario
from commsim.collectives import get
from commsim.errors import ScenarioError
from commsim.network import topology as topologies
from commsim.runner import points
from commsim.training.datasets import Batches, load_dataset, shard
from commsim.training.loop import TrainingSetup, replicas_identical, train
from commsim.training.models import build_model
from commsim.training.wire import WIRE_FORMATS

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
ALGORITHMS = ("all_to_all", "parameter_server", "ring_allreduce")
VOTING = ("all_to_all", "parameter_server")
LOG2 = math.log(2.0)

# Optimizer factories small enough for 20-step runs on a 5-feature binary problem.
OPTIMIZERS = {
    "gradient_descent": functools.partial(optim.get, "gradient_descent", alpha=1.0),
    "adam": functools.partial(optim.get, "adam", learning_rate=0.1),
    "sign_sgd": functools.partial(optim.get, "sign_sgd", learning_rate=0.05),
    "signum": functools.partial(optim.get, "signum", learning_rate=0.05),
}


def make_setup(optimizer: str, wire: str = "fp32", steps: int = 20, features: int = 5, classes: int = 2,
               batch: int = 16, flops_per_second: float = 1e12, seed: int = 0) -> TrainingSetup:
    """A logistic-regression TrainingSetup on a small seeded synthetic dataset."""
    dataset = load_dataset("synthetic", task="classification", seed=seed,
                           n_samples=256, n_features=features, n_classes=classes)
    return TrainingSetup(
        model=build_model("logistic_regression", features, classes),
        dataset=dataset,
        optimizer=OPTIMIZERS[optimizer],
        wire=WIRE_FORMATS[wire],
        steps=steps,
        batch_per_worker=batch,
        flops_per_second=flops_per_second,
        seed=seed,
    )


def run_on_star(setup: TrainingSetup, algorithm: str, n: int, bandwidth: float = 1.25e9, latency: float = 2e-6):
    """Train ``setup`` with ``algorithm`` over n workers on a uniform star (server attached if needed)."""
    graph = topologies.build("star", n, bandwidth, latency, servers=get(algorithm).server is not None)
    return train(setup, algorithm, graph, n)


def plain_training(setup: TrainingSetup) -> tuple[dict[str, np.ndarray], list[float]]:
    """Single-process training on the same batches, with the model and optim only (no simulation)."""
    batches = Batches(shard(setup.dataset, 1, setup.seed)[0], setup.batch_per_worker, setup.seed, 0)
    params = setup.model.init(np.random.default_rng(setup.seed))
    optimizer = setup.optimizer()
    state = optimizer.init(params)
    losses = []
    for step in range(setup.steps):
        X, y = batches.batch(step)
        loss, gradient = setup.model.loss_and_grad(params, X, y)
        losses.append(loss)
        updates, state = optimizer.update(gradient, state, params)
        params = optim.apply_updates(params, updates)
    return params, losses


def assert_identical(replicas: list[dict[str, np.ndarray]]) -> None:
    """Every replica has the same keys and bit-identical arrays as replica 0."""
    first = replicas[0]
    assert first, "replica 0 is empty"
    for other in replicas[1:]:
        assert list(other) == list(first)
        for key in first:
            assert np.array_equal(other[key], first[key]), key


def scenario_data(**overrides) -> dict:
    """A small training scenario as a mapping; ``training`` overrides are merged into its section."""
    data = {
        "name": "small-train",
        "seed": 3,
        "workers": [2],
        "topology": {"kind": "star", "bandwidth": "10 Gbit/s", "latency": "5 us"},
        "algorithms": ["all_to_all"],
        "training": {
            "model": "logistic_regression", "features": 4, "classes": 2, "samples": 256,
            "steps": 12, "batch_per_worker": 16,
            "optimizer": [{"name": "gradient_descent", "alpha": 2.0}],
        },
    }
    training = overrides.pop("training", {})
    data.update(overrides)
    data["training"].update(training)
    return data


# --------------------------------------------------------------------------- replicas


@pytest.mark.parametrize("optimizer", ["gradient_descent", "adam"])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_replicas_identical_after_training(algorithm, n, optimizer):
    """Every worker ends with bit-identical parameters, which moved away from the (zero) initial ones."""
    trace = run_on_star(make_setup(optimizer), algorithm, n)
    assert len(trace.replicas) == n
    assert_identical(trace.replicas)
    assert any(np.any(value != 0) for value in trace.replicas[0].values())


@pytest.mark.parametrize("optimizer", ["sign_sgd", "signum"])
@pytest.mark.parametrize("n", [1, 2, 3, 4])
@pytest.mark.parametrize("algorithm", VOTING)
def test_replicas_identical_with_sign_wire(algorithm, n, optimizer):
    """With the majority-vote sign wire every worker still ends with bit-identical parameters."""
    trace = run_on_star(make_setup(optimizer, wire="sign"), algorithm, n)
    assert_identical(trace.replicas)
    assert any(np.any(value != 0) for value in trace.replicas[0].values())


def test_training_result_reports_identical_replicas_for_every_run():
    """simulate() marks replicas identical (and every check passing) across collectives and optimizers."""
    data = scenario_data(workers=[1, 3], algorithms=list(ALGORITHMS), training={"optimizer": [
        {"name": "gradient_descent", "alpha": 2.0}, {"name": "adam", "learning_rate": 0.1}]})
    runs = points.simulate(scenario.parse(data))
    assert len(runs) == 3 * 2 * 2
    for run in runs:
        assert run.replicas_identical and run.checks["replicas"], (run.algorithm, run.workers, run.optimizer)
        assert run.ok, (run.algorithm, run.workers, run.optimizer, run.checks)


# --------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize("optimizer", ["gradient_descent", "adam"])
@pytest.mark.parametrize("n", [2, 3, 4])
def test_fp64_collectives_give_the_same_parameters_and_loss_curve(n, optimizer):
    """With the fp64 wire, all-to-all, ring all-reduce and the parameter server train the same model."""
    traces = {algorithm: run_on_star(make_setup(optimizer, wire="fp64", features=5, classes=3), algorithm, n)
              for algorithm in ALGORITHMS}
    reference = traces["all_to_all"]
    for algorithm in ("parameter_server", "ring_allreduce"):
        trace = traces[algorithm]
        for key, value in reference.replicas[0].items():
            np.testing.assert_allclose(trace.replicas[0][key], value, rtol=0, atol=1e-12, err_msg=f"{algorithm} {key}")
        np.testing.assert_allclose(trace.loss, reference.loss, rtol=0, atol=1e-12, err_msg=algorithm)


@pytest.mark.parametrize("optimizer", ["gradient_descent", "adam", "signum"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_single_worker_equals_plain_training(algorithm, optimizer):
    """With n=1 and the fp64 wire, simulated training is plain single-process training on the same batches."""
    setup = make_setup(optimizer, wire="fp64", steps=25)
    trace = run_on_star(setup, algorithm, 1)
    params, losses = plain_training(setup)
    for key, value in params.items():
        np.testing.assert_allclose(trace.replicas[0][key], value, rtol=0, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(trace.loss, losses, rtol=0, atol=1e-12)
    assert trace.loss[0] == pytest.approx(LOG2, abs=1e-15)  # zero init: every class equally likely


def test_sign_wire_parameter_server_and_all_to_all_agree_bitwise():
    """The server's vote and all-to-all's local vote are the same majority vote: identical training."""
    for optimizer in ("sign_sgd", "signum"):
        for n in (2, 3, 4):
            setup = make_setup(optimizer, wire="sign")
            ps, a2a = run_on_star(setup, "parameter_server", n), run_on_star(setup, "all_to_all", n)
            assert a2a.loss == ps.loss
            for key, value in a2a.replicas[0].items():
                assert np.array_equal(ps.replicas[0][key], value), (optimizer, n, key)


# --------------------------------------------------------------------------- loss falls

TARGET_LOSS = 0.3  # from log 2 ≈ 0.693 at the zero initialisation; every optimizer below ends under 0.2
LOSS_OPTIMIZERS = [
    {"name": "gradient_descent", "alpha": 2.0},
    {"name": "sign_descent", "alpha": 0.2},
    {"name": "adam", "learning_rate": 0.1},
    {"name": "momentum", "learning_rate": 0.2},
    {"name": "sign_sgd", "learning_rate": 0.05},
    {"name": "signum", "learning_rate": 0.05},
    {"name": "sign_descent", "alpha": 0.2, "wire": "sign"},
    {"name": "sign_sgd", "learning_rate": 0.05, "wire": "sign"},
    {"name": "signum", "learning_rate": 0.05, "wire": "sign"},
]


@pytest.fixture(scope="module")
def loss_runs():
    """Every optimizer of LOSS_OPTIMIZERS trained 30 steps over 2 workers on all-to-all (by title)."""
    data = scenario_data(seed=0, training={"samples": 512, "steps": 30, "batch_per_worker": 32,
                                           "optimizer": LOSS_OPTIMIZERS})
    return {run.optimizer: run for run in points.simulate(scenario.parse(data))}


@pytest.mark.parametrize("title", [o["name"] + (f"/{o['wire']}" if "wire" in o else "") for o in LOSS_OPTIMIZERS])
def test_loss_falls_below_target(loss_runs, title):
    """Each optimizer starts at log 2 and its final full-data loss ends below TARGET_LOSS."""
    run = loss_runs[title]
    assert run.loss[0] == pytest.approx(LOG2, abs=1e-15)
    assert run.final_loss < TARGET_LOSS, (title, run.final_loss)
    assert run.loss[-1] < TARGET_LOSS, (title, run.loss[-1])
    assert run.final_accuracy > 0.85


# --------------------------------------------------------------------------- time


@settings(max_examples=25, deadline=None)
@given(
    features=st.integers(1, 12),
    classes=st.integers(2, 4),
    batch=st.integers(1, 64),
    steps=st.integers(1, 6),
    flops_per_second=st.floats(1e3, 1e14),
    algorithm=st.sampled_from(ALGORITHMS),
)
def test_single_worker_makespan_is_steps_times_compute(features, classes, batch, steps, flops_per_second, algorithm):
    """Per-step compute is flops_per_example·batch/flops_per_second exactly; with n=1 nothing else takes time."""
    data = scenario_data(workers=[1], algorithms=[algorithm], training={
        "features": features, "classes": classes, "batch_per_worker": batch, "steps": steps,
        "compute": {"flops_per_second": flops_per_second}})
    sc = scenario.parse(data)
    run = points.simulate_training(sc, next(sc.runs()))
    p = classes * (features + 1)
    compute = 6 * p * batch / flops_per_second
    assert run.n_params == p
    assert run.compute_s == [compute] * steps
    assert run.comm_s == [0.0] * steps
    assert run.messages == 0 and run.bytes == 0
    assert run.makespan_s == pytest.approx(steps * compute, rel=1e-12)
    np.testing.assert_allclose(run.step_end_s, compute * np.arange(1, steps + 1), rtol=1e-12)


def closed_form(algorithm: str, n: int, p: int, wire: str, alpha: float, bandwidth: float) -> float:
    """One collective's time on a uniform star (p divisible by n), written out independently."""
    if wire == "sign":
        size, w = -(-p // 8) + 4, None
    else:
        w = {"fp16": 2, "fp32": 4, "fp64": 8}[wire]
        size = p * w
    if algorithm == "ring_allreduce":
        return 2 * (n - 1) * (2 * alpha + (p // n) * w / bandwidth)
    if algorithm == "parameter_server":
        return 2 * (2 * alpha + n * size / bandwidth)
    return 2 * alpha + (n - 1) * size / bandwidth


@settings(max_examples=40, deadline=None)
@given(
    algorithm=st.sampled_from(ALGORITHMS),
    n=st.sampled_from([2, 3, 4]),
    shape=st.sampled_from([(11, 2), (7, 3), (5, 4)]),  # (features, classes): p = classes·(features+1) = 24
    wire=st.sampled_from(["fp16", "fp32", "fp64", "sign"]),
    bandwidth=st.floats(1e6, 1e11),
    latency=st.floats(0.0, 1e-4),
    flops_per_second=st.floats(1e6, 1e13),
    steps=st.integers(1, 6),
)
def test_makespan_is_steps_times_compute_plus_collective(algorithm, n, shape, wire, bandwidth, latency,
                                                         flops_per_second, steps):
    """On a uniform star with n | p: makespan = steps·(compute + closed-form collective time) to rel 1e-9."""
    if wire == "sign" and algorithm == "ring_allreduce":
        wire = "fp32"
    features, classes = shape
    optimizer = {"name": "sign_sgd", "learning_rate": 0.01, "wire": wire}
    data = scenario_data(workers=[n], algorithms=[algorithm],
                         topology={"kind": "star", "bandwidth": bandwidth, "latency": latency},
                         training={"features": features, "classes": classes, "steps": steps, "batch_per_worker": 8,
                                   "optimizer": [optimizer], "compute": {"flops_per_second": flops_per_second}})
    sc = scenario.parse(data)
    run = points.simulate_training(sc, next(sc.runs()))
    p = 24
    assert run.n_params == p and p % n == 0
    compute = 6 * p * 8 / flops_per_second
    collective = closed_form(algorithm, n, p, wire, latency, bandwidth)
    assert run.compute_s == [compute] * steps
    assert run.makespan_s == pytest.approx(steps * (compute + collective), rel=1e-9)
    # comm_s is a difference of absolute clock readings: allow a few ulps of the clock besides rel 1e-9
    np.testing.assert_allclose(run.comm_s, collective, rtol=1e-9, atol=1e-13 * run.makespan_s)
    per_step = {"all_to_all": n * (n - 1), "parameter_server": 2 * n, "ring_allreduce": 2 * n * (n - 1)}[algorithm]
    assert run.messages == steps * per_step
    assert run.ok, run.checks


# --------------------------------------------------------------------------- refusals


def _set_optimizer(spec):
    return lambda data: data["training"].__setitem__("optimizer", [spec])


REFUSALS = [
    ("sign wire with adam", _set_optimizer({"name": "adam", "learning_rate": 0.1, "wire": "sign"}),
     ["training.optimizer.0", "adam", "sign"]),
    ("sign wire with ring", lambda data: (
        _set_optimizer({"name": "sign_sgd", "learning_rate": 0.1, "wire": "sign"})(data),
        data.__setitem__("algorithms", ["parameter_server", "ring_allreduce"])),
     ["training.optimizer", "ring_allreduce"]),
    ("unknown optimizer", _set_optimizer({"name": "lion", "learning_rate": 0.1}),
     ["training.optimizer.0", "lion"]),
    ("bad optimizer argument", _set_optimizer({"name": "adam", "alpha": 1}),
     ["training.optimizer.0", "adam", "alpha"]),
    ("params and training", lambda data: data.__setitem__("params", 1000), ["params", "training"]),
    ("neither params nor training", lambda data: data.pop("training"), ["params", "training"]),
    ("unknown dataset", lambda data: data["training"].__setitem__("dataset", "mnist"),
     ["training.dataset", "mnist"]),
]


@pytest.mark.parametrize("mutate, fragments", [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_bad_training_scenario_is_refused_with_one_line_naming_the_key(mutate, fragments):
    """Each bad combination raises a one-line ScenarioError that names the file and the key."""
    data = scenario_data()
    mutate(data)
    with pytest.raises(ScenarioError) as caught:
        scenario.parse(data, "bad.yaml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("bad.yaml: ")
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_linear_regression_on_digits_is_refused():
    """linear_regression needs a regression dataset: on digits loading refuses with one line naming the key."""
    data = scenario_data(training={"model": "linear_regression", "dataset": "digits"})
    with pytest.raises(ScenarioError) as caught:
        scenario.parse(data, "bad.yaml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("bad.yaml: training: model: linear_regression")
    assert "digits" in message and "regression" in message


@pytest.mark.parametrize("value", [float("nan"), -1.0, 0, True, "fast"])
def test_bad_step_sizes_are_refused_at_load(value):
    """A step size that is not a finite positive number is refused when the scenario loads."""
    data = scenario_data()
    _set_optimizer({"name": "gradient_descent", "alpha": value})(data)
    with pytest.raises(ScenarioError, match="alpha must be a finite number > 0"):
        scenario.parse(data, "bad.yaml")


def test_more_workers_than_samples_is_refused_at_load():
    """Sharding 64 samples over 65 workers is refused when the scenario loads, naming workers."""
    data = scenario_data(workers=65, training={"samples": 64})
    with pytest.raises(ScenarioError, match="bad.yaml: workers: 65 workers but only 64 samples"):
        scenario.parse(data, "bad.yaml")


def test_cli_exits_two_on_a_refused_training_scenario(tmp_path, capsys):
    """`commsim run` on a scenario with a bad optimizer argument: exit 2, one stderr line, nothing written."""
    data = scenario_data()
    _set_optimizer({"name": "adam", "alpha": 1})(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "out"
    status = cli.main(["run", str(path), "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert "training.optimizer.0" in lines[0] and "alpha" in lines[0]
    assert not out.exists()


# --------------------------------------------------------------------------- outputs

OUTPUT_SCENARIO = scenario_data(
    workers=[2, 3],
    algorithms=list(ALGORITHMS),
    training={"optimizer": [{"name": "gradient_descent", "alpha": 2.0}, {"name": "adam", "learning_rate": 0.1},
                            {"name": "sign_sgd", "learning_rate": 0.05, "wire": "fp16"}]},
)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """`commsim run` on a small training scenario, twice into two directories: (status, stdout, dir1, dir2)."""
    root = tmp_path_factory.mktemp("training-cli")
    path = root / "small.yaml"
    path.write_text(yaml.safe_dump(OUTPUT_SCENARIO), encoding="utf-8")
    results = []
    for name in ("first", "second"):
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            status = cli.main(["run", str(path), "--out", str(root / name)])
        results.append((status, stdout.getvalue(), root / name))
    return results


def test_cli_run_exits_zero_and_prints_final_loss_per_row(cli_run):
    """Exit 0 and one table row per (algorithm, workers, optimizer) showing that run's final loss: a heading
    "algorithm, n workers:", then a row per optimizer."""
    status, stdout, out = cli_run[0]
    assert status == 0
    runs = json.loads((out / "results.json").read_text(encoding="utf-8"))["runs"]
    assert len(runs) == 3 * 2 * 3
    rows, heading = [], None
    for line in stdout.splitlines():
        if line.endswith(" workers:"):
            algorithm, workers = line.removesuffix(" workers:").split(", ")
            heading = [algorithm, workers]
        elif heading is not None and line.split():
            rows.append(heading + line.split())
    for run in runs:
        matching = [row for row in rows if row[:3] == [run["algorithm"], str(run["workers"]), run["optimizer"]]]
        assert len(matching) == 1, (run["algorithm"], run["workers"], run["optimizer"])
        assert matching[0][3] == f"{run['final_loss']:.4g}"
        assert run["ok"]
    assert "18 of 18 runs match their closed forms" in stdout


def test_cli_results_json_has_curves_of_length_steps(cli_run):
    """results.json: curves loss, time_s, compute_s, comm_s of length steps; time strictly increasing."""
    _, _, out = cli_run[0]
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert document["ok"] is True
    steps = OUTPUT_SCENARIO["training"]["steps"]
    for run in document["runs"]:
        curves = run["curves"]
        assert set(curves) == {"loss", "time_s", "compute_s", "comm_s"}
        assert all(len(curve) == steps for curve in curves.values())
        assert all(b > a for a, b in zip(curves["time_s"], curves["time_s"][1:]))
        assert curves["time_s"][-1] == run["makespan_s"]
        assert len(set(curves["compute_s"])) == 1 and curves["compute_s"][0] > 0
        assert all(comm > 0 for comm in curves["comm_s"])
        assert run["steps"] == steps and run["replicas_identical"] is True


def test_cli_results_csv_has_one_row_per_run_and_step(cli_run):
    """results.csv: a header, then one row per (run, step) carrying the JSON curve values."""
    _, _, out = cli_run[0]
    runs = json.loads((out / "results.json").read_text(encoding="utf-8"))["runs"]
    with (out / "results.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    steps = OUTPUT_SCENARIO["training"]["steps"]
    assert len(rows) == len(runs) * steps
    for index, row in enumerate(rows):
        run, step = runs[index // steps], index % steps
        assert (row["algorithm"], int(row["workers"]), row["optimizer"], int(row["step"])) == (
            run["algorithm"], run["workers"], run["optimizer"], step)
        assert float(row["loss"]) == run["curves"]["loss"][step]
        assert float(row["time_s"]) == run["curves"]["time_s"][step]


def test_cli_writes_a_nonempty_loss_vs_time_png(cli_run):
    """loss_vs_time.png is written and is a PNG file."""
    _, _, out = cli_run[0]
    png = (out / "loss_vs_time.png").read_bytes()
    assert len(png) > 1000
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_cli_training_results_are_deterministic(cli_run):
    """The same scenario twice gives byte-identical results.json and results.csv."""
    (_, first_out, first), (status, second_out, second) = cli_run
    assert status == 0
    for name in ("results.json", "results.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert first_out.replace(str(first), "") == second_out.replace(str(second), "")


# --------------------------------------------------------------------------- bundled scenarios


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda path: path.name)
def test_bundled_scenario_loads(path):
    """Every bundled scenario file loads, from its path and as package data, to the same scenario."""
    loaded = scenario.load(path)
    assert loaded == scenario.load_bundled(path.name)
    if isinstance(loaded, scenario.ExperimentScenario):
        assert loaded.experiment == "implicit_bias"
    elif loaded.training is not None:
        assert loaded.params is None
        assert len(list(loaded.runs())) == len(loaded.algorithms) * len(loaded.workers) * len(loaded.training.optimizer)
    elif loaded.workload is not None:
        assert loaded.params is None and loaded.size is None
        spec = loaded.workload
        assert len(list(loaded.runs())) == (len(loaded.algorithms) * len(loaded.workers) * len(spec.strategy)
                                            * len(spec.bucket_cap))
    else:
        assert (loaded.params is None) != (loaded.size is None)  # exactly one of params or size


@pytest.mark.parametrize("name", ["training.yaml", "sign_vote.yaml", "digits.yaml"])
def test_bundled_training_scenario_runs_when_trimmed(name):
    """Each bundled training scenario, cut to 2 steps and 8 hidden units, passes every check."""
    if name == "digits.yaml":
        pytest.importorskip("sklearn")
    data = yaml.safe_load((SCENARIOS / name).read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    data["training"].update(steps=2, hidden=8)
    runs = points.simulate(scenario.parse(data, name))
    assert runs
    for run in runs:
        assert run.ok, (name, run.algorithm, run.workers, run.optimizer, run.checks)
        assert len(run.loss) == 2


def test_bit_identical_nan_replicas_count_as_identical():
    """A run that diverges to NaN on every worker alike still has bit-identical replicas."""
    setup = dataclasses.replace(make_setup("gradient_descent", steps=3),
                                optimizer=functools.partial(optim.gradient_descent, float("nan")))
    trace = run_on_star(setup, "all_to_all", 2)
    assert np.isnan(trace.replicas[0]["W"]).all()
    for replica in trace.replicas[1:]:
        assert all(replica[key].tobytes() == trace.replicas[0][key].tobytes() for key in replica)
    assert replicas_identical(trace.replicas)
