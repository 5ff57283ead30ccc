"""Tree all-reduces: binomial tree (reduce to rank 0, then broadcast) and NCCL's double binary tree.

n ranks, p elements of w bytes (P = p·w), lg = log₂; ⌊lg n⌋ and ⌈lg n⌉ for any n ≥ 1.

Binomial tree. Reduce: for k = 0, 1, ...: a rank with bit k set sends its partial sum to
rank − 2^k and stops; otherwise it adds in rank + 2^k's partial sum (if that rank exists), in
that order. Rank 0 divides by n. Broadcast (as MPICH, one send at a time): rank q > 0 receives in
round ⌊lg q⌋ from q − 2^⌊lg q⌋; in each later round k < ⌈lg n⌉ every holder q sends to q + 2^k.

Double binary tree (NCCL, ``ncclGetBtree``/``ncclGetDtree`` in src/graph/trees.cc). Tree 1 is an
in-order binary tree over the ranks: rank x > 0 whose lowest set bit is 2^j has the children
x − 2^(j−1) and x + 2^i for the largest i < j with x + 2^i < n (none if j = 0: the odd ranks are
the leaves); rank 0 is the root, with the single child 2^(⌈lg n⌉−1). Tree 2 is tree 1 mirrored
(rank x ↦ n−1−x) when n is even and shifted (x ↦ x+1 mod n) when n is odd; either way its leaves
are the even ranks, tree 1's interior nodes (its root 1 or n−1, its interior nodes tree 1's
leaves, plus rank 0 when n is odd). The buffer's first half (⌊p/2⌋ elements) is all-reduced on
tree 1, the second (⌈p/2⌉) on tree 2, both at once: each rank runs one process per tree, with its
own tag, combining on its own (as NCCL runs each tree on its own channels). On a tree, a node adds
in its children's partial sums in order (first x − 2^(j−1), then the other, and their images in
tree 2), sends the sum to its parent, waits for the result and forwards it to both children at
once; the root divides by n. No pipelining.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..base import register
from ..cost import Cost, LinkCost
from ..follow import scheduled
from ..schedule import Round, Schedule, empty, ints, listed, pieces


def _floor_lg(n: int) -> int:
    return n.bit_length() - 1


def _ceil_lg(n: int) -> int:
    return (n - 1).bit_length()


# -- binomial tree ---------------------------------------------------------------------------
def binomial_reduce_rounds(n: int, p: int, w: int) -> list[Round]:
    """Round k: every rank whose lowest set bit is 2^k sends its partial sum to rank − 2^k, which adds
    it in; after the last, rank 0 holds the sum and divides it by n."""
    rounds = []
    for k in range(_ceil_lg(n)):
        bit = 1 << k
        src = ints(range(bit, n, 2 * bit))
        combine = np.zeros(n, dtype=np.int64)
        combine[src - bit] = p * w
        last = k == _ceil_lg(n) - 1
        rounds.append(pieces(src, src - bit, np.zeros(len(src)), np.full(len(src), p), w, "reduce", True, combine,
                             (ints([0]), ints([0]), ints([p])) if last else None))
    return rounds


def binomial_broadcast_rounds(n: int, p: int, w: int) -> list[Round]:
    """Round k: every holder q < 2^k sends the buffer to q + 2^k (if it exists), which copies it (as
    MPICH, one send at a time: rank q > 0 receives in round ⌊lg q⌋ and sends in the later ones)."""
    rounds = []
    for k in range(_ceil_lg(n)):
        src = ints(range(min(1 << k, n - (1 << k))))
        rounds.append(pieces(src, src + (1 << k), np.zeros(len(src)), np.full(len(src), p), w, "broadcast"))
    return rounds


def binomial_tree_schedule(n: int, p: int, w: int, **_: object) -> Schedule:
    """Binomial reduce to rank 0 (which divides by n), then binomial broadcast from it."""
    return empty(1, p) if n == 1 else listed(n, binomial_reduce_rounds(n, p, w) + binomial_broadcast_rounds(n, p, w), p)


def binomial_tree_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """2(n−1) messages of P = p·w bytes (n−1 up, n−1 down).

    Reduce; a = α + Pβ, g = Pγ. A subtree of 2^j ranks is summed at its root by j(a + g): its
    children head subtrees of 2^0, ..., 2^(j−1) ranks, the one of 2^i summed at i(a + g), so its sum
    arrives just as the root has added in the previous ones. Rank 0's children head the full
    subtrees of 2^0, ..., 2^(K−1) ranks, K = ⌈lg n⌉ − 1, and a last one of n − 2^K ranks:

        R(n) = max(K(a + g), R(n − 2^K) + a) + g,   R(1) = 0.

    Each unrolling strips the top bit of n − 1, so R(n) = max(K(a + g) + g, b·(a + g)) with b the
    number of set bits of n − 1 (the other terms, (i + ⌈lg n_i⌉ − 1)(a + g) + g, are no larger).
    If n = 2^k then b = k = K + 1, else b ≤ K:

        R(n) = ⌊lg n⌋(α + Pβ) + ⌈lg n⌉·Pγ

    (a chain of ⌊lg n⌋ hops, and rank 0 adds in its ⌈lg n⌉ children).
    Broadcast: ⌈lg n⌉ rounds of one α + Pβ message each. Together

        T = (⌊lg n⌋ + ⌈lg n⌉)(α + Pβ) + ⌈lg n⌉·Pγ

    which for n = 2^k is Thakur et al.'s 2 lg n(α + Pβ) + lg n·Pγ.
    """
    if n == 1:
        return Cost({}, 0.0, "0")
    size = p * w
    time = (_floor_lg(n) + _ceil_lg(n)) * link.message(size) + _ceil_lg(n) * size * link.gamma
    return Cost({size: 2 * (n - 1)}, time, "(⌊lg n⌋ + ⌈lg n⌉)(α + Pβ) + ⌈lg n⌉Pγ")


# -- double binary tree ----------------------------------------------------------------------
@lru_cache(maxsize=256)
def binary_tree(n: int) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """NCCL's tree 1 over n ranks: (parent of each rank, −1 for the root 0; children of each rank,
    first child first)."""
    parent = [-1] * n
    children: list[tuple[int, ...]] = [()] * n
    for rank in range(n):
        bit = 1
        while bit < n and not bit & rank:
            bit <<= 1
        if rank == 0:
            children[0] = (bit >> 1,) if n > 1 else ()
            continue
        up = (rank ^ bit) | (bit << 1)
        parent[rank] = up if up < n else rank ^ bit
        low = bit >> 1
        if low:
            second = low
            while second and rank + second >= n:
                second >>= 1
            children[rank] = (rank - low, rank + second) if second else (rank - low,)
    return tuple(parent), tuple(children)


@lru_cache(maxsize=256)
def double_binary_tree_shape(n: int) -> tuple[tuple[tuple[int, ...], tuple[tuple[int, ...], ...]], ...]:
    """Both of NCCL's trees over n ranks, each as (parents, children): tree 1, and tree 1 mirrored
    (n even) or shifted by one rank (n odd)."""
    parent, children = binary_tree(n)
    image = (lambda x: n - 1 - x) if n % 2 == 0 else (lambda x: (x + 1) % n)
    parent2 = [-1] * n
    children2: list[tuple[int, ...]] = [()] * n
    for x in range(n):
        parent2[image(x)] = image(parent[x]) if parent[x] >= 0 else -1
        children2[image(x)] = tuple(image(c) for c in children[x])
    return (parent, children), (tuple(parent2), tuple(children2))


def _send_up_rounds(root: int, children: tuple[tuple[int, ...], ...]) -> dict[int, int]:
    """The round each node of a tree sends its sum to its parent in: after all its children's, and a
    node's children one round after another, in their order (each parent adds them in in turn)."""
    rounds: dict[int, int] = {}

    def ready(x: int) -> int:
        last = -1
        for child in children[x]:
            last = rounds[child] = max(ready(child), last + 1)
        return last + 1

    ready(root)
    return rounds


def double_binary_tree_schedule(n: int, p: int, w: int, **_: object) -> Schedule:
    """Two participants per rank, one per tree (as NCCL runs each tree on its own channels): rank x is
    participant x on tree 1 (elements 0:⌊p/2⌋) and n + x on tree 2 (the rest). On a tree a node adds in
    its children's sums in order, sends the sum to its parent, receives the result and sends it to its
    children at once; the root divides by n. Each transfer gets the round after everything it waits
    for: the second child's sum after the first's, all results after all sums."""
    if n == 1:
        return empty(1, p)
    half = p // 2
    up: dict[int, list[tuple[int, int, int, int]]] = {}
    down: dict[int, list[tuple[int, int, int, int]]] = {}
    scale: dict[int, list[tuple[int, int, int]]] = {}  # round → the roots that divide after it
    for tree, ((parents, children), (lo, hi)) in enumerate(zip(double_binary_tree_shape(n), ((0, half), (half, p)))):
        base = tree * n
        root = parents.index(-1)
        sends = _send_up_rounds(root, children)
        for child, k in sends.items():
            up.setdefault(k, []).append((base + child, base + parents[child], lo, hi))
        scale.setdefault(max(sends[child] for child in children[root]), []).append((base + root, lo, hi))
        depth = {root: 0}
        order = [root]
        for x in order:
            for child in children[x]:
                depth[child] = depth[x] + 1
                order.append(child)
                down.setdefault(depth[x], []).append((base + x, base + child, lo, hi))
    rounds = []
    for k in range(max(up) + 1):
        src, dst, lo, hi = (ints(column) for column in zip(*up[k])) if k in up else (ints([]),) * 4
        combine = np.zeros(2 * n, dtype=np.int64)
        combine[dst] = (hi - lo) * w
        scaled = tuple(ints(column) for column in zip(*scale[k])) if k in scale else None
        rounds.append(pieces(src, dst, lo, hi, w, "reduce", True, combine, scaled))
    rounds += [pieces(*(ints(column) for column in zip(*down[k])), w, "broadcast") for k in sorted(down)]
    return listed(2 * n, rounds, p, np.concatenate([np.arange(n), np.arange(n)]))


def _double_tree_histogram(n: int, p: int, w: int) -> dict[int, int]:
    histogram: dict[int, int] = {}
    for elements in (p // 2, p - p // 2):
        histogram[elements * w] = histogram.get(elements * w, 0) + 2 * (n - 1)
    return dict(sorted(histogram.items()))


def double_binary_tree_cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
    """Each tree has n − 1 edges, each crossed once up and once down: 2(n−1) messages of ⌊p/2⌋w
    bytes and 2(n−1) of ⌈p/2⌉w.

    Time on one tree with a half of H bytes; a = α + Hβ, g = Hγ, K = ⌈lg n⌉. A node x whose lowest
    set bit is 2^j (j ≥ 1) has a first child x − 2^(j−1) heading a complete subtree of height j−1,
    and maybe a second heading a truncated subtree of smaller height, done no later. A complete
    subtree of height h is done adding in at C(h) = h(a + 2g) (both children's sums arrive at
    C(h−1) + a, then two combines), so x is done at S(x) = C(j−1) + a + c(x)·g, c(x) ∈ {1, 2} its
    children (the second's sum has arrived by the time the first is added in). The root 0 gets
    the sum of its only child 2^(K−1) and adds it in: R = S(2^(K−1)) + a + g (R = a + g if n = 2).
    The deepest leaf, rank 1, is K hops down, so the broadcast takes K·a more. c(2^(K−1)) = 1
    exactly when n − 1 = 2^(K−1) ≥ 2 (n = 3, 5, 9, 17, ...), else 2:

        T(H) = 2⌈lg n⌉(α + Hβ) + (2⌈lg n⌉ − 1 − [n − 1 = 2^(⌈lg n⌉−1) ≥ 2])·Hγ

    Tree 2 is tree 1 relabelled, so its time has the same form; the halves differ by at most one
    element and the larger, H = ⌈p/2⌉w, sets the makespan.

    Shared links. Many edges belong to both trees with parent and child swapped, so one directed
    link carries tree A's broadcast and, earlier, tree B's reduce; for n = 3 one link carries both
    reduces and one both broadcasts. The reduce message leaves at least α + Hβ + Hγ before tree B's
    root is done, and tree A's broadcast starts no earlier than A's root is done, which is at most
    ⌈lg n⌉w(β + 2γ) before B's (one element more per message on the larger half). So the two never
    share the link, and T is exact, when α ≥ ⌈lg n⌉·w·(β + 2γ) (nanoseconds); with a smaller α the
    formula can be a lower bound.
    """
    if n == 1:
        return Cost({}, 0.0, "0")
    half = -(-p // 2) * w
    k = _ceil_lg(n)
    truncated_top = n >= 3 and (n - 1) & (n - 2) == 0
    time = 2 * k * link.message(half) + (2 * k - 1 - truncated_top) * half * link.gamma
    return Cost(
        _double_tree_histogram(n, p, w),
        time,
        "2⌈lg n⌉(α + ⌈p/2⌉wβ) + (2⌈lg n⌉ − 1 − [n−1 = 2^(⌈lg n⌉−1) ≥ 2])⌈p/2⌉wγ",
    )


register(scheduled("binomial_tree", binomial_tree_schedule, binomial_tree_cost,
                   "binomial-tree reduce to rank 0, then binomial-tree broadcast"))
register(scheduled("double_binary_tree", double_binary_tree_schedule, double_binary_tree_cost,
                   "NCCL double binary tree: each half reduced and broadcast on one of two complementary trees"))
