"""Recursive doubling and Rabenseifner all-reduce (Thakur, Rabenseifner & Gropp 2005, as in MPICH).

n ranks, p elements of w bytes (P = p·w); m = 2^⌊lg n⌋ and r = n − m.

Folding (MPICH's handling of n that is not a power of two). When r > 0, a first step pairs up the
ranks below 2r: each even rank sends its whole buffer to rank + 1, which adds it in; the even
ranks then sit out. That leaves m participants, renumbered ``new = rank // 2`` for the odd ranks
below 2r and ``new = rank − r`` for the ranks from 2r on. The power-of-two algorithm runs among
them, and at the end every odd rank below 2r sends the result back to its even partner. The fold
costs (α + Pβ) + Pγ before and α + Pβ after the power-of-two part, on the critical path: the fold
holds back new rank 0, every result depends on it, and new rank 0 is itself a folded rank that
has to pass the result back.

Each exchange is a send-receive: a rank moves on when its send is delivered and its receive has
arrived, then charges γ for the data it added in. Every rank adds x + y (own + received, the same
bits on both sides since IEEE addition commutes) and divides by n once, so all ranks end with the
same bits.
"""

from __future__ import annotations

import numpy as np

from ..base import register
from ..cost import Cost, LinkCost
from ..follow import scheduled
from ..schedule import Round, Schedule, bounds_of, empty, ints, listed, pieces


def fold_shape(n: int) -> tuple[int, int]:
    """(m, r): the m = 2^⌊lg n⌋ participants of the power-of-two part and the r = n − m folded pairs."""
    m = 1 << (n.bit_length() - 1)
    return m, n - m


def old_ranks(m: int, r: int) -> np.ndarray:
    """The rank of each participant new = 0..m−1: 2·new + 1 below r (the odd rank of a folded pair),
    new + r from r on."""
    new = ints(range(m))
    return np.where(new < r, 2 * new + 1, new + r)


def _fold_rounds(n: int, p: int, w: int) -> tuple[int, int, list[Round], list[Round]]:
    """(m, r, the fold round, the unfold round; none if r = 0): even rank 2i < 2r sends its buffer to
    2i + 1, which adds it in; at the end 2i + 1 sends the result back."""
    m, r = fold_shape(n)
    if not r:
        return m, r, [], []
    even = ints(range(0, 2 * r, 2))
    zeros, whole = np.zeros(r), np.full(r, p)
    fold = pieces(even, even + 1, zeros, whole, w, "fold", True, _at(n, even + 1, p * w))
    return m, r, [fold], [pieces(even + 1, even, zeros, whole, w, "unfold")]


def _at(participants: int, who: np.ndarray, values: object) -> np.ndarray:
    """A per-participant array: ``values`` at ``who``, 0 elsewhere."""
    out = np.zeros(participants, dtype=np.int64)
    out[who] = values
    return out


# -- recursive doubling ----------------------------------------------------------------------
def recursive_doubling_schedule(n: int, p: int, w: int, **_: object) -> Schedule:
    """Fold, then lg m rounds of whole-buffer exchanges with participant new ⊕ 2^k, each adding in
    what it receives (and dividing by n after the last), then unfold."""
    if n == 1:
        return empty(1, p)
    m, r, fold, unfold = _fold_rounds(n, p, w)
    new = ints(range(m))
    old = old_ranks(m, r)
    zeros, whole = np.zeros(m), np.full(m, p)
    rounds = list(fold)
    bit = 1
    while bit < m:
        last = bit << 1 >= m
        rounds.append(pieces(old, old[new ^ bit], zeros, whole, w, "exchange", True, _at(n, old, p * w),
                             (old, zeros, whole) if last else None))
        bit <<= 1
    return listed(n, rounds + unfold, p)


def recursive_doubling_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """Every message carries the whole buffer, P = p·w bytes: m·lg m in the exchange rounds, plus
    r to fold and r to unfold.

    All messages are alike, so after round k a participant is ready when the slowest of its 2^(k+1)
    group was ready, plus k+1 rounds; after lg m rounds the group is everyone, including the folded
    participants that start late by the fold step:

        T = lg m·(α + Pβ + Pγ) + [r > 0]·((α + Pβ + Pγ) + (α + Pβ))

    For n = 2^k (r = 0) this is Thakur et al.'s lg n·(α + Pβ + Pγ).
    """
    if n == 1:
        return Cost({}, 0.0, "0")
    m, r = fold_shape(n)
    rounds = m.bit_length() - 1
    size = p * w
    step = link.message(size) + size * link.gamma
    time = rounds * step + (step + link.message(size) if r else 0.0)
    return Cost({size: m * rounds + 2 * r}, time, "lg m(α + Pβ + Pγ) + [r>0](2α + 2Pβ + Pγ), m = 2^⌊lg n⌋, r = n − m")


# -- Rabenseifner ----------------------------------------------------------------------------
def rabenseifner_schedule(n: int, p: int, w: int, **_: object) -> Schedule:
    """Fold; recursive-halving reduce-scatter over the chunks of ``chunk_bounds(p, m)`` (distance
    d = m/2, …, 1: participant new and new ⊕ d share a range of chunks, the one with bit d set keeps
    the upper half and sends the lower, each adds in the half it receives); participant i then owns
    chunk i, summed, and divides it by n; recursive-doubling all-gather (d = 1, …, m/2: each sends its
    range to new ⊕ d, which copies it beside its own); unfold."""
    if n == 1:
        return empty(1, p)
    m, r, fold, unfold = _fold_rounds(n, p, w)
    bounds = bounds_of(p, m)
    first, last = np.zeros(m, dtype=np.int64), np.full(m, m, dtype=np.int64)  # each participant's chunks
    new = ints(range(m))
    old = old_ranks(m, r)
    rounds = list(fold)
    distance = m >> 1
    while distance:
        middle = first + distance
        upper = (new & distance) > 0
        give_lo, give_hi = np.where(upper, first, middle), np.where(upper, middle, last)
        first, last = np.where(upper, middle, first), np.where(upper, last, middle)
        lo, hi = bounds[give_lo], bounds[give_hi]
        combine = _at(n, old[new ^ distance], (hi - lo) * w)
        scale = (old, bounds[first], bounds[last]) if distance == 1 else None
        rounds.append(pieces(old, old[new ^ distance], lo, hi, w, "reduce_scatter", True, combine, scale))
        distance >>= 1
    distance = 1
    while distance < m:
        rounds.append(pieces(old, old[new ^ distance], bounds[first], bounds[last], w, "all_gather"))
        first = np.minimum(first, first ^ distance)
        last = first + 2 * distance
        distance <<= 1
    return listed(n, rounds + unfold, p)


def _block_sizes(p: int, level: int) -> list[int]:
    """Elements in each of the 2^level aligned blocks of chunks at that depth of the halving:
    block j is elements ⌊jp/2^level⌋ .. ⌊(j+1)p/2^level⌋ (each ⌊p/2^level⌋ or ⌈p/2^level⌉ long)."""
    parts = 1 << level
    return [((j + 1) * p) // parts - (j * p) // parts for j in range(parts)]


def rabenseifner_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """Messages: at depth k = 1..lg m of the halving there are 2^k blocks of chunks (block j is
    ⌊(j+1)p/2^k⌋ − ⌊jp/2^k⌋ elements); each is sent m/2^k times in the reduce-scatter and m/2^k
    times in the all-gather. Plus r fold and r unfold messages of P = p·w bytes.

    Time. The blocks of depth k hold ⌊p/2^k⌋ or ⌈p/2^k⌉ elements; write c_k = ⌈p/2^k⌉·w. A step
    at depth k costs a participant at most α + c_k·β (+ c_k·γ in the reduce-scatter), so
    T ≤ fold + Σ_k (2α + 2c_kβ + c_kγ) + unfold. The bound is reached: the last chunk, and every
    block that contains it, is a largest block (p − ⌊p(2^k − 1)/2^k⌋ = ⌈p/2^k⌉), and the chain
    new rank 0 → m/2 → m/2 + m/4 → ... → m − 1 (each step's message to the participant that keeps
    the upper half) and back m − 1 → m − 2 → m − 4 → ... → 0 in the all-gather carries exactly
    these blocks. It starts at participant 0, the last to be ready after a fold, and ends there,
    at a rank that passes the result back:

        T = Σ_{k=1}^{lg m} (2α + 2⌈p/2^k⌉wβ + ⌈p/2^k⌉wγ) + [r > 0]·(2α + 2Pβ + Pγ)

    For n = 2^k and p a multiple of n: 2 lg n·α + 2((n−1)/n)Pβ + ((n−1)/n)Pγ (Thakur et al.).
    """
    if n == 1:
        return Cost({}, 0.0, "0")
    m, r = fold_shape(n)
    depth = m.bit_length() - 1
    histogram: dict[int, int] = {}
    time = 0.0
    for level in range(1, depth + 1):
        for elements in _block_sizes(p, level):
            histogram[elements * w] = histogram.get(elements * w, 0) + 2 * (m >> level)
        largest = -(-p // (1 << level)) * w
        time += 2 * link.message(largest) + largest * link.gamma
    if r:
        size = p * w
        histogram[size] = histogram.get(size, 0) + 2 * r
        time += 2 * link.message(size) + size * link.gamma
    return Cost(
        dict(sorted(histogram.items())),
        time,
        "Σ_{k=1..lg m}(2α + 2⌈p/2^k⌉wβ + ⌈p/2^k⌉wγ) + [r>0](2α + 2Pβ + Pγ), m = 2^⌊lg n⌋, r = n − m",
    )


register(scheduled("recursive_doubling", recursive_doubling_schedule, recursive_doubling_cost,
                   "whole-buffer exchanges with rank ⊕ 2^k, lg n rounds (MPICH fold for other n)"))
register(scheduled("rabenseifner", rabenseifner_schedule, rabenseifner_cost,
                   "recursive-halving reduce-scatter then recursive-doubling all-gather (MPICH fold for other n)"))
