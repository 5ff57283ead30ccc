"""Implicit bias on aᵀθ = 1, a = [1, 0.1, 0.01]: each optimizer's limit is a minimum-norm solution."""

import numpy as np
import pytest

import optim
from commsim.report import plots
from commsim.training import bias

GD_LIMIT = [0.990001, 0.0990001, 0.00990001]
SIGN_LIMIT = [100 / 111] * 3
RESCALED_LIMIT = [1 / 3, 10 / 3, 100 / 3]


def test_gradient_descent_converges_to_min_l2_norm_solution():
    """GD from 0 converges to a/‖a‖² = [0.990001, 0.0990001, 0.00990001]."""
    np.testing.assert_allclose(bias.run_gradient_descent().limit, GD_LIMIT, rtol=0, atol=1e-6)


def test_gradient_descent_stays_in_span_of_a():
    """Every GD iterate is a multiple of a."""
    trajectory = bias.run_gradient_descent().trajectory
    np.testing.assert_allclose(np.cross(trajectory, bias.A), 0.0, atol=1e-15)


def test_adam_without_moments_converges_to_min_linf_norm_solution():
    """Adam (β₁ = β₂ = 0, ε = 0, decaying step) converges to (100/111)·[1, 1, 1]."""
    np.testing.assert_allclose(bias.run_adam().limit, SIGN_LIMIT, rtol=0, atol=1e-6)


def test_adam_with_fixed_step_misses_the_limit():
    """A fixed step never shrinks: Adam keeps oscillating about 1e-3 away from the limit."""
    trajectory = bias.train(optim.adam(0.01, b1=0.0, b2=0.0, eps=0.0), 200)
    assert np.max(np.abs(trajectory[-1] - SIGN_LIMIT)) > 1e-4


def test_sign_descent_converges_to_min_linf_norm_solution():
    """‖g‖₁-scaled sign descent (constant α) converges to (100/111)·[1, 1, 1]."""
    np.testing.assert_allclose(bias.run_sign_descent().limit, SIGN_LIMIT, rtol=0, atol=1e-6)


def test_rescaled_gradient_descent_converges_to_one_over_3a():
    """Unit-second-moment features, GD, mapped back: [1/3, 10/3, 100/3]."""
    np.testing.assert_allclose(bias.run_rescaled_gradient_descent().limit, RESCALED_LIMIT, rtol=0, atol=1e-6)


def test_rescaling_equals_diagonal_steepest_descent():
    """GD on rescaled features is steepest descent under ‖θ‖_D, D = diag(a²), on the original ones."""
    direct = bias.train(optim.steepest_descent(optim.Diagonal(bias.A**2), 0.25), 30)
    rescaled = bias.run_rescaled_gradient_descent().trajectory
    np.testing.assert_allclose(rescaled, direct, rtol=1e-12, atol=1e-12)


def test_min_norm_solutions_match_background_numbers():
    """sharp(a)/‖a‖_* gives the reference solutions for L2, L∞ and ‖·‖_D."""
    np.testing.assert_allclose(bias.min_norm_solution(optim.L2()), GD_LIMIT, atol=1e-8)
    np.testing.assert_allclose(bias.min_norm_solution(optim.LInf()), SIGN_LIMIT, atol=1e-15)
    np.testing.assert_allclose(bias.min_norm_solution(optim.Diagonal(bias.A**2)), RESCALED_LIMIT, atol=1e-13)


def test_bias_table_rows():
    """The table has one row per run, its norm, and every error below 1e-6."""
    rows = bias.bias_table()
    assert [(row.name, row.norm) for row in rows] == [
        ("gradient_descent", "L2"),
        ("adam", "LInf"),
        ("sign_descent", "LInf"),
        ("rescaled_gradient_descent", "D = diag(a²)"),
    ]
    for row in rows:
        assert row.max_abs_error == pytest.approx(np.max(np.abs(row.limit - row.reference)))
        assert row.max_abs_error < 1e-6


def test_trajectory_starts_at_zero_with_one_row_per_step():
    """A trajectory has steps + 1 rows of 3 coordinates, the first one θ₀ = 0."""
    trajectory = bias.run_sign_descent(steps=7).trajectory
    assert trajectory.shape == (8, 3)
    assert not trajectory[0].any()


def test_plot_trajectories_writes_png(tmp_path):
    """bias_trajectories saves a nonempty PNG file."""
    path = plots.bias_trajectories(bias.run_all(), tmp_path / "bias.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 1000


def test_bias_panels_have_y_labels_and_lines_told_apart():
    """Each panel labels its y axis; its three coordinates differ in dash and marker (sign descent's
    coincide, so colour alone would hide two of them), and each limit's reference is a dotted line at
    the minimum-norm value."""
    runs = bias.run_all()
    figure = plots.bias_figure(runs)
    axes = figure.axes
    assert len(axes) == len(runs)
    for ax, run in zip(axes, runs):
        assert ax.get_ylabel() == "parameter value θᵢ"
        assert ax.get_xlabel() == "step"
        curves = [line for line in ax.get_lines() if len(line.get_xdata()) == len(run.trajectory)]
        assert len(curves) == 3
        assert len({(line.get_linestyle(), line.get_marker()) for line in curves}) == 3
        references = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
        assert sorted(line.get_ydata()[0] for line in references) == pytest.approx(sorted(run.reference))
