"""Figures (matplotlib is imported here, lazily, and only the Agg backend is used)."""

from __future__ import annotations

from pathlib import Path

from .simulate import TrainingResult


def loss_vs_time(runs: list[TrainingResult], path: Path) -> Path:
    """Training loss against simulated time, one line per collective × optimizer (× workers)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = figure.subplots()
    several_n = len({run.workers for run in runs}) > 1
    styles = dict(zip(dict.fromkeys(run.algorithm for run in runs), ["-", "--", ":", "-."] * 8))
    colors = {name: f"C{i % 10}" for i, name in enumerate(dict.fromkeys((run.optimizer, run.workers) for run in runs))}
    for run in runs:
        label = f"{run.algorithm} × {run.optimizer}" + (f" (n={run.workers})" if several_n else "")
        ax.plot([t * 1e3 for t in run.step_end_s], run.loss, linestyle=styles[run.algorithm],
                color=colors[run.optimizer, run.workers], label=label, linewidth=1.1)
    ax.set_xlabel("simulated time (ms)")
    ax.set_ylabel("training loss (mean of worker batches)")
    ax.set_yscale("log")
    ax.set_title(f"{runs[0].model} on {runs[0].dataset}: loss against simulated time")
    ax.legend(fontsize=7, ncol=2)
    figure.savefig(path, format="png", dpi=110)
    return path
