"""Norms that carry their duality map (Modula style).

For a norm ‖·‖ the dual norm is ‖g‖_* = max_{‖v‖≤1} gᵀv and ``sharp(g)`` is a maximiser v, so
‖sharp(g)‖ = 1 and ⟨g, sharp(g)⟩ = ‖g‖_* for g ≠ 0. Deterministic rules where the maximiser is
not unique: g = 0 gives sharp(g) = 0; sign(0) = 0; L1 picks the lowest (row-major) index.
Vector norms act on all entries of an array of any shape; ``Spectral`` needs a 2-D matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike


@runtime_checkable
class Norm(Protocol):
    """A norm ``norm(x)`` with its dual norm ``dual(g)`` and duality map ``sharp(g)``."""

    def __call__(self, x: ArrayLike) -> float: ...

    def dual(self, g: ArrayLike) -> float: ...

    def sharp(self, g: ArrayLike) -> np.ndarray: ...


def _max_abs(x: np.ndarray) -> float:
    return float(np.max(np.abs(x))) if x.size else 0.0


def _scaled(x: ArrayLike) -> tuple[float, np.ndarray]:
    """(m, x/m) with m = max|xᵢ|, so powers of x/m neither overflow nor underflow (m = 0: x)."""
    array = np.asarray(x, dtype=float)
    m = _max_abs(array)
    return (m, array / m) if m > 0 else (0.0, array)


def _lp_norm(x: ArrayLike, p: float) -> float:
    """(Σ|xᵢ|^p)^(1/p), computed as m·‖x/m‖_p."""
    m, y = _scaled(x)
    return m * float(np.sum(np.abs(y) ** p) ** (1.0 / p)) if m > 0 else 0.0


@dataclass(frozen=True)
class L2:
    """‖x‖₂ = √(Σxᵢ²); self-dual; sharp(g) = g/‖g‖₂."""

    def __call__(self, x: ArrayLike) -> float:
        return _lp_norm(x, 2.0)

    def dual(self, g: ArrayLike) -> float:
        return _lp_norm(g, 2.0)

    def sharp(self, g: ArrayLike) -> np.ndarray:
        m, y = _scaled(g)
        return y / _lp_norm(y, 2.0) if m > 0 else np.zeros_like(y)


@dataclass(frozen=True)
class LInf:
    """‖x‖_∞ = max|xᵢ|; dual ‖g‖₁ = Σ|gᵢ|; sharp(g) = sign(g), sign(0) = 0."""

    def __call__(self, x: ArrayLike) -> float:
        return _max_abs(np.asarray(x, dtype=float))

    def dual(self, g: ArrayLike) -> float:
        return float(np.sum(np.abs(np.asarray(g, dtype=float))))

    def sharp(self, g: ArrayLike) -> np.ndarray:
        return np.sign(np.asarray(g, dtype=float))


@dataclass(frozen=True)
class L1:
    """‖x‖₁ = Σ|xᵢ|; dual ‖g‖_∞; sharp(g) = sign(gᵢ)·eᵢ, i the lowest index with |gᵢ| = ‖g‖_∞."""

    def __call__(self, x: ArrayLike) -> float:
        return float(np.sum(np.abs(np.asarray(x, dtype=float))))

    def dual(self, g: ArrayLike) -> float:
        return _max_abs(np.asarray(g, dtype=float))

    def sharp(self, g: ArrayLike) -> np.ndarray:
        array = np.asarray(g, dtype=float)
        out = np.zeros_like(array)
        if array.any():
            i = int(np.argmax(np.abs(array)))  # first occurrence in row-major order
            out.flat[i] = np.sign(array.flat[i])
        return out


@dataclass(frozen=True)
class Lp:
    """‖x‖_p = (Σ|xᵢ|^p)^(1/p), 1 < p < ∞; dual ‖g‖_q with 1/p + 1/q = 1;
    sharp(g) = sign(g)·(|g|/‖g‖_q)^(q−1)."""

    p: float

    def __post_init__(self) -> None:
        if not 1.0 < self.p < np.inf:
            raise ValueError(f"Lp needs 1 < p < inf, got p={self.p!r}")

    @property
    def q(self) -> float:
        """The dual exponent p/(p − 1)."""
        return self.p / (self.p - 1.0)

    def __call__(self, x: ArrayLike) -> float:
        return _lp_norm(x, self.p)

    def dual(self, g: ArrayLike) -> float:
        return _lp_norm(g, self.q)

    def sharp(self, g: ArrayLike) -> np.ndarray:
        m, y = _scaled(g)
        if m == 0:
            return np.zeros_like(y)
        return np.sign(y) * (np.abs(y) / _lp_norm(y, self.q)) ** (self.q - 1.0)


def _matrix(x: ArrayLike) -> np.ndarray:
    array = np.asarray(x, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"Spectral needs a 2-D matrix, got shape {array.shape}")
    return array


def _singular_values(x: ArrayLike) -> np.ndarray:
    return np.linalg.svd(_matrix(x), compute_uv=False)


@dataclass(frozen=True)
class Spectral:
    """‖X‖ = σ_max(X) for a 2-D matrix; dual = nuclear norm Σσᵢ; sharp(G) = U·Vᵀ where
    G = UΣVᵀ (numpy SVD) keeps only the σᵢ > σ_max·max(m, n)·eps (numpy's matrix_rank tolerance)."""

    def __call__(self, x: ArrayLike) -> float:
        sigma = _singular_values(x)
        return float(sigma.max()) if sigma.size else 0.0

    def dual(self, g: ArrayLike) -> float:
        return float(np.sum(_singular_values(g)))

    def sharp(self, g: ArrayLike) -> np.ndarray:
        matrix = _matrix(g)
        u, sigma, vt = np.linalg.svd(matrix, full_matrices=False)
        # Round-off leaves σᵢ ≈ σ_max·eps where the exact matrix has none: dropping them keeps a rank-r
        # gradient's update rank r. G = 0 keeps nothing, so its sharp is the zero matrix.
        keep = sigma > sigma[0] * max(matrix.shape) * np.finfo(float).eps
        return u[:, keep] @ vt[keep]


@dataclass(frozen=True, eq=False)
class Diagonal:
    """‖u‖_D = √(Σ dᵢuᵢ²) with d > 0 shaped like u; dual √(Σ gᵢ²/dᵢ); sharp(g) = (g/d)/‖g‖_{D,*}."""

    d: np.ndarray

    def __post_init__(self) -> None:
        d = np.asarray(self.d, dtype=float)
        if not (np.all(np.isfinite(d)) and np.all(d > 0)):
            raise ValueError(f"Diagonal needs finite d > 0, got {d!r}")
        object.__setattr__(self, "d", d)

    def _check(self, x: ArrayLike) -> np.ndarray:
        array = np.asarray(x, dtype=float)
        if array.shape != self.d.shape:
            raise ValueError(f"Diagonal has d of shape {self.d.shape}, got shape {array.shape}")
        return array

    def __call__(self, x: ArrayLike) -> float:
        m, y = _scaled(self._check(x))
        return m * float(np.sqrt(np.sum(self.d * y**2)))

    def dual(self, g: ArrayLike) -> float:
        m, y = _scaled(self._check(g))
        return m * float(np.sqrt(np.sum(y**2 / self.d)))

    def sharp(self, g: ArrayLike) -> np.ndarray:
        m, y = _scaled(self._check(g))
        if m == 0:
            return np.zeros_like(y)
        return (y / self.d) / float(np.sqrt(np.sum(y**2 / self.d)))
