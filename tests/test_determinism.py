"""Determinism: the same scenario and seed give byte-identical results, traces and figures whatever the
executor, job count or PYTHONHASHSEED; different seeds give different numbers; BLAS runs on one thread
inside a simulation."""

import os
import subprocess
import sys
from pathlib import Path

from commsim import scenario
from commsim.runner import points

COLLECTIVES = """\
name: determinism
seed: 3
workers: [2, 4, 8]
params: 1000
payload: data
algorithms: [ring_allreduce, all_to_all, parameter_server]
topologies:
  - {kind: fat_tree, k: 4, servers: 1}
  - {kind: hierarchical, gpus_per_node: 2, intra: switch, nics_per_node: 2, nic_bandwidth: 50 Gbit/s}
"""

TRAINING = """\
name: determinism-training
seed: 5
workers: 3
topology: {kind: star}
algorithms: [ring_allreduce]
training:
  model: mlp
  hidden: 16
  features: 8
  classes: 3
  samples: 300
  steps: 20
  optimizer: [{name: adam, learning_rate: 0.01}]
"""


def commsim(tmp_path: Path, hash_seed: str, *argv: str) -> None:
    """``python -m commsim.cli`` in a subprocess with PYTHONHASHSEED=``hash_seed``; it must exit 0."""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run([sys.executable, "-m", "commsim.cli", *argv], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


def files(directory: Path) -> dict[str, bytes]:
    """Every file in ``directory`` (and below), by relative name."""
    return {str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}


def test_run_outputs_are_byte_identical_whatever_the_hash_seed(tmp_path):
    """results.json/.csv, every figure (PNG and SVG), the Chrome trace and the message CSV of a run, and a
    training run's files, are the same bytes under PYTHONHASHSEED 0 and 4242 (node names are strings: sets
    and dicts of them must never decide an order)."""
    (tmp_path / "c.yaml").write_text(COLLECTIVES)
    (tmp_path / "t.yaml").write_text(TRAINING)
    for hash_seed in ("0", "4242"):
        out = tmp_path / hash_seed
        out.mkdir()
        commsim(tmp_path, hash_seed, "run", "c.yaml", "--out", f"{hash_seed}/c", "--plot", "--trace", f"{hash_seed}/trace.json",
                "--messages", f"{hash_seed}/messages.csv")
        commsim(tmp_path, hash_seed, "run", "t.yaml", "--out", f"{hash_seed}/t")
    first, second = files(tmp_path / "0"), files(tmp_path / "4242")
    assert {"c/results.json", "c/results.csv", "c/time_vs_workers.png", "c/time_vs_workers.svg", "trace.json",
            "messages.csv", "t/results.json", "t/loss_vs_time.png", "t/loss_vs_time.svg"} <= set(first)
    assert any(name.startswith("c/timeline_") for name in first) and any(name.startswith("c/topology_") for name in first)
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_sweep_files_are_byte_identical_for_one_or_two_jobs_and_any_hash_seed(tmp_path):
    """commsim sweep --plot with --jobs 1 under one hash seed and --jobs 2 (worker processes) under another:
    the same results.csv, results.jsonl, results.json and figures."""
    (tmp_path / "c.yaml").write_text(COLLECTIVES)
    commsim(tmp_path, "1", "sweep", "c.yaml", "--out", "one", "--jobs", "1", "--plot")
    commsim(tmp_path, "2", "sweep", "c.yaml", "--out", "two", "--jobs", "2", "--plot")
    one, two = files(tmp_path / "one"), files(tmp_path / "two")
    assert {"results.csv", "results.jsonl", "results.json", "time_vs_workers.png"} <= set(one)
    assert one == two


def test_different_seeds_give_different_numbers(tmp_path):
    """Seeds 5 and 6 of the training scenario: other data, another loss curve; the traffic is the same."""
    (tmp_path / "a.yaml").write_text(TRAINING)
    (tmp_path / "b.yaml").write_text(TRAINING.replace("seed: 5", "seed: 6"))
    a, b = (points.simulate(scenario.load(tmp_path / name))[0] for name in ("a.yaml", "b.yaml"))
    assert a.loss != b.loss
    assert (a.messages, a.bytes) == (b.messages, b.bytes)


def test_blas_runs_on_one_thread_inside_a_simulation(tmp_path, monkeypatch):
    """While a training run computes its gradients, every BLAS library threadpoolctl sees is held to one
    thread; outside, the limit is lifted again."""
    from threadpoolctl import threadpool_info

    from commsim.training.loop import TrainingHooks

    seen = []
    real_compute = TrainingHooks.compute

    def recording(*args, **kwargs):  # a worker computes its gradient
        seen.extend(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")
        return real_compute(*args, **kwargs)

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    monkeypatch.setattr(TrainingHooks, "compute", recording)
    (tmp_path / "t.yaml").write_text(TRAINING.replace("steps: 20", "steps: 2"))
    before = blas_threads()
    points.simulate(scenario.load(tmp_path / "t.yaml"))
    assert seen and set(seen) == {1}
    assert blas_threads() == before
