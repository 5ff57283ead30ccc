"""Norms, dual norms, sharp maps and the steepest-descent update they define."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from optim import L1, L2, Diagonal, LInf, Lp, Spectral, steepest_update

ELEMENTS = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, allow_subnormal=False)
MODERATE = st.one_of(st.just(0.0), st.floats(1e-3, 1e3), st.floats(-1e3, -1e-3))
ALPHAS = st.floats(0.01, 10.0)
VECTOR_SHAPES = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=6)
MATRIX_SHAPES = hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=5)
NORM_KINDS = ["L2", "LInf", "L1", "Lp", "Spectral", "Diagonal"]


@st.composite
def norm_and_grad(draw, kind=None):
    """A norm of any kind and a gradient of a shape it accepts."""
    kind = kind or draw(st.sampled_from(NORM_KINDS))
    shape = draw(MATRIX_SHAPES if kind == "Spectral" else VECTOR_SHAPES)
    g = draw(hnp.arrays(np.float64, shape, elements=ELEMENTS))
    if kind == "Lp":
        return Lp(draw(st.floats(1.1, 8.0))), g
    if kind == "Diagonal":
        return Diagonal(draw(hnp.arrays(np.float64, shape, elements=st.floats(0.1, 10.0)))), g
    return {"L2": L2(), "LInf": LInf(), "L1": L1(), "Spectral": Spectral()}[kind], g


def objective(g, u, norm, alpha):
    """gᵀu + (1/α)‖u‖²."""
    return float(np.sum(g * u)) + norm(u) ** 2 / alpha


@settings(max_examples=200, deadline=None)
@given(norm_and_grad(), ALPHAS)
def test_update_reaches_optimal_value(case, alpha):
    """The steepest-descent update attains −(α/4)·‖g‖_*²."""
    norm, g = case
    u = steepest_update(norm, g, alpha)
    optimum = -(alpha / 4.0) * norm.dual(g) ** 2
    assert objective(g, u, norm, alpha) == pytest.approx(optimum, rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(st.data(), norm_and_grad(), ALPHAS, st.sampled_from([1e-4, 1e-2, 1.0]))
def test_no_perturbation_beats_update(data, case, alpha, scale):
    """No random perturbation of the update gives a lower objective."""
    norm, g = case
    u = steepest_update(norm, g, alpha)
    noise = data.draw(hnp.arrays(np.float64, g.shape, elements=st.floats(-1.0, 1.0)))
    v = u + scale * (np.max(np.abs(u)) + 1e-3) * noise
    tolerance = 1e-9 * (1.0 + abs(float(np.sum(g * v))) + norm(v) ** 2 / alpha)
    assert objective(g, v, norm, alpha) >= objective(g, u, norm, alpha) - tolerance


@settings(max_examples=200, deadline=None)
@given(norm_and_grad())
def test_sharp_is_unit_and_attains_dual(case):
    """For g ≠ 0: ‖sharp(g)‖ = 1 and ⟨g, sharp(g)⟩ = ‖g‖_*."""
    norm, g = case
    if not g.any():
        return
    v = norm.sharp(g)
    assert norm(v) == pytest.approx(1.0, rel=1e-9)
    assert float(np.sum(g * v)) == pytest.approx(norm.dual(g), rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.data(), norm_and_grad())
def test_dual_bounds_every_unit_vector(data, case):
    """gᵀv ≤ ‖g‖_* for every v on the unit sphere (the dual is the maximum)."""
    norm, g = case
    v = data.draw(hnp.arrays(np.float64, g.shape, elements=st.floats(-1.0, 1.0)))
    if not v.any():
        return
    assert float(np.sum(g * v / norm(v))) <= norm.dual(g) * (1 + 1e-9) + 1e-12


@pytest.mark.parametrize("norm", [L2(), LInf(), L1(), Lp(3.0), Spectral(), Diagonal(np.full((2, 3), 0.5))])
def test_zero_gradient_gives_zero(norm):
    """g = 0 gives dual 0, sharp 0 and update 0, with no NaN and no warning."""
    g = np.zeros((2, 3))
    assert norm.dual(g) == 0.0
    assert np.array_equal(norm.sharp(g), g)
    assert np.array_equal(steepest_update(norm, g, 1.0), g)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, VECTOR_SHAPES, elements=MODERATE), st.floats(1.1, 8.0))
def test_dual_norms_match_closed_forms(g, p):
    """L1 ↔ L∞, L2 ↔ L2, Lp ↔ Lq (1/p + 1/q = 1) and the diagonal dual √(Σgᵢ²/dᵢ)."""
    q = p / (p - 1.0)
    d = np.linspace(0.5, 2.0, g.size).reshape(g.shape)
    assert L1().dual(g) == np.max(np.abs(g))
    assert LInf().dual(g) == pytest.approx(np.sum(np.abs(g)), rel=1e-12)
    assert L2().dual(g) == pytest.approx(np.sqrt(np.sum(g**2)), rel=1e-12, abs=1e-300)
    assert Lp(p).dual(g) == pytest.approx(np.sum(np.abs(g) ** q) ** (1 / q), rel=1e-9, abs=1e-300)
    assert Lp(p)(g) == pytest.approx(np.sum(np.abs(g) ** p) ** (1 / p), rel=1e-9, abs=1e-300)
    assert Diagonal(d).dual(g) == pytest.approx(np.sqrt(np.sum(g**2 / d)), rel=1e-12, abs=1e-300)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, VECTOR_SHAPES, elements=ELEMENTS))
def test_lp_with_p_two_is_l2(g):
    """Lp(2) has the same norm, dual and sharp as L2."""
    assert Lp(2.0)(g) == pytest.approx(L2()(g), rel=1e-12, abs=1e-300)
    assert Lp(2.0).dual(g) == pytest.approx(L2().dual(g), rel=1e-12, abs=1e-300)
    np.testing.assert_allclose(Lp(2.0).sharp(g), L2().sharp(g), rtol=1e-12, atol=1e-15)


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float64, MATRIX_SHAPES, elements=ELEMENTS))
def test_spectral_matches_numpy_svd(g):
    """σ_max, nuclear norm Σσᵢ, and sharp = U·Vᵀ (polar factor: QQᵀG = G, QᵀG symmetric PSD)."""
    sigma = np.linalg.svd(g, compute_uv=False)
    assert Spectral()(g) == pytest.approx(sigma.max(), rel=1e-12, abs=1e-300)
    assert Spectral().dual(g) == pytest.approx(sigma.sum(), rel=1e-12, abs=1e-300)
    assert Spectral().dual(g) == pytest.approx(np.linalg.norm(g, "nuc"), rel=1e-12, abs=1e-300)
    q = Spectral().sharp(g)
    scale = sigma.sum() + 1e-300
    np.testing.assert_allclose(q @ q.T @ g, g, atol=1e-9 * scale)
    np.testing.assert_allclose(q.T @ g, g.T @ q, atol=1e-9 * scale)
    assert np.all(np.linalg.eigvalsh((q.T @ g + g.T @ q) / 2) >= -1e-9 * scale)


def test_spectral_sharp_of_rank_one_matrix():
    """A rank-one G = σ·u·vᵀ has sharp(G) = u·vᵀ: only the nonzero singular direction is kept."""
    u, v = np.array([0.6, 0.8]), np.array([1.0, 0.0, 0.0])
    g = 5.0 * np.outer(u, v)
    np.testing.assert_allclose(Spectral().sharp(g), np.outer(u, v), atol=1e-15)
    assert Spectral().dual(g) == pytest.approx(5.0)
    assert np.linalg.matrix_rank(Spectral().sharp(g)) == 1


@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(2, 9), cols=st.integers(2, 9), rank=st.integers(1, 2))
@settings(max_examples=60)
def test_spectral_sharp_keeps_the_rank_of_a_low_rank_gradient(seed, rows, cols, rank):
    """G = A·Bᵀ of rank r computed in floating point has round-off singular values (~1e-16·σ_max);
    sharp(G) drops them: it has rank r and equals the exact U_r·V_rᵀ of the r nonzero directions."""
    rng = np.random.default_rng(seed)
    rank = min(rank, rows - 1, cols - 1)
    g = rng.standard_normal((rows, rank)) @ rng.standard_normal((rank, cols))
    u, sigma, vt = np.linalg.svd(g)
    q = Spectral().sharp(g)
    assert np.linalg.matrix_rank(q) == rank
    np.testing.assert_allclose(q, u[:, :rank] @ vt[:rank], atol=1e-9)


def test_l1_sharp_ties_pick_lowest_index():
    """L1's sharp picks the lowest (row-major) index among ties of max|gᵢ|."""
    assert np.array_equal(L1().sharp([3.0, -3.0, 1.0]), [1.0, 0.0, 0.0])
    assert np.array_equal(L1().sharp([1.0, -3.0, 3.0]), [0.0, -1.0, 0.0])
    assert np.array_equal(L1().sharp([[0.0, 2.0], [-2.0, 1.0]]), [[0.0, 1.0], [0.0, 0.0]])


def test_linf_sharp_is_sign_with_sign_zero_zero():
    """L∞'s sharp is sign(g) with sign(0) = 0."""
    assert np.array_equal(LInf().sharp([2.0, 0.0, -0.5]), [1.0, 0.0, -1.0])


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(NORM_KINDS), ELEMENTS, ALPHAS, st.floats(1.1, 8.0))
def test_every_norm_gives_gradient_descent_in_one_dimension(kind, g, alpha, p):
    """In 1-D (1×1 for Spectral, d = 1 for Diagonal) every norm's update is −(α/2)·g."""
    shape = (1, 1) if kind == "Spectral" else (1,)
    norms = {"L2": L2(), "LInf": LInf(), "L1": L1(), "Lp": Lp(p), "Spectral": Spectral()}
    norm = norms[kind] if kind in norms else Diagonal(np.ones(shape))
    u = steepest_update(norm, np.full(shape, g), alpha)
    np.testing.assert_allclose(u, np.full(shape, -(alpha / 2.0) * g), rtol=1e-12, atol=1e-300)


def test_norms_reject_bad_arguments():
    """Lp outside 1 < p < ∞, Spectral on a vector and Diagonal with d ≤ 0 or a wrong shape raise."""
    for p in (1.0, 0.5, np.inf, np.nan):
        with pytest.raises(ValueError, match="1 < p < inf"):
            Lp(p)
    with pytest.raises(ValueError, match="2-D matrix"):
        Spectral().dual(np.ones(3))
    with pytest.raises(ValueError, match="d > 0"):
        Diagonal(np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        Diagonal(np.ones(2)).sharp(np.ones(3))


def test_huge_and_tiny_gradients_stay_finite():
    """Scaling by max|gᵢ| keeps sharp exact for gradients near overflow or underflow."""
    for g in (np.array([3e200, 4e200]), np.array([3e-200, 4e-200])):
        np.testing.assert_allclose(L2().sharp(g), [0.6, 0.8], rtol=1e-15)
        np.testing.assert_allclose(Lp(3.0)(Lp(3.0).sharp(g)), 1.0, rtol=1e-12)
