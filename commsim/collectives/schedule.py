"""Collectives as data: a schedule is a sequence of rounds of transfers (src, dst, bytes).

The round semantics are the library's send-receive steps. Participants are numbered 0..n−1 for the
workers and n, n+1, … for the servers. A participant starts its sends of round k when it has
finished round k−1: every transfer of round k−1 it sends or receives has been delivered, and it
has then combined ``combine[k−1][r]`` bytes (γ seconds per byte). A participant with no transfer
in a round passes through it. Its finish time is the end of its last round.

Rounds are produced on demand (``round(k)``), so a schedule of 134 M transfers never exists whole,
and each is a few numpy arrays, so an engine can take a whole round at a time. The message engine
runs the generator algorithms; ``tests/test_schedule_engine.py`` checks, over the registry, that
each schedule reproduces them: the same messages, bytes per link and times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .payload import chunk_bounds


@dataclass(frozen=True)
class Round:
    """One round: transfer i goes from ``src[i]`` to ``dst[i]`` with ``nbytes[i]`` bytes; afterwards
    participant r combines ``combine[r]`` bytes (None: nobody combines)."""

    src: np.ndarray
    dst: np.ndarray
    nbytes: np.ndarray
    phase: str = ""
    combine: np.ndarray | None = None


@dataclass(frozen=True)
class Schedule:
    """``rounds`` rounds among ``participants`` (n workers, then the servers), made by ``round(k)``."""

    participants: int
    rounds: int
    round: Callable[[int], Round]
    workers: np.ndarray | None = None  # participant → the worker rank it runs for (None: 0..n−1 are the workers)


def _int(values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def chunk_sizes(p: int, n: int, w: int) -> np.ndarray:
    """Bytes of chunk i of ``chunk_bounds(p, n)``, i = 0..n−1."""
    return np.diff(_int(chunk_bounds(p, n))) * w


def empty(participants: int) -> Schedule:
    """Nothing to send (one participant, or nothing to do)."""
    return Schedule(participants, 0, lambda k: Round(_int([]), _int([]), _int([])))


def ring_rounds(n: int, p: int, w: int, reduce_steps: int, gather_steps: int, reduce_offset: int,
                gather_offset: int) -> Schedule:
    """``reduce_steps`` reduce-scatter steps, then ``gather_steps`` all-gather steps, around the ring
    0 → 1 → … → n−1 → 0. At reduce-scatter step s rank r sends chunk r + ``reduce_offset`` − s and
    combines the chunk it receives; at all-gather step s it sends chunk r + ``gather_offset`` − s
    (indices mod n)."""
    if n == 1:
        return empty(1)
    sizes = chunk_sizes(p, n, w)
    ranks = np.arange(n, dtype=np.int64)
    right = (ranks + 1) % n

    def round_(k: int) -> Round:
        if k < reduce_steps:
            sent = sizes[(ranks + reduce_offset - k) % n]
            return Round(ranks, right, sent, "reduce_scatter", combine=np.roll(sent, 1))
        step = k - reduce_steps
        return Round(ranks, right, sizes[(ranks + gather_offset - step) % n], "all_gather")

    return Schedule(n, reduce_steps + gather_steps, round_)


def ring_allreduce_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    """Ring all-reduce: n−1 reduce-scatter steps (rank r sends chunk r−s at step s, as
    ``ring_allreduce`` numbers them), then n−1 all-gather steps (chunk r+1−s)."""
    return ring_rounds(n, p, w, n - 1, n - 1, 0, 1)


def reduce_scatter_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    """The ring reduce-scatter primitive: n−1 steps, rank r sends chunk r−s−1 at step s."""
    return ring_rounds(n, p, w, n - 1, 0, -1, 0)


def all_gather_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    """The ring all-gather primitive: n−1 steps, rank r sends chunk r−s at step s."""
    return ring_rounds(n, p, w, 0, n - 1, 0, 0)


def all_to_all_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    """One round: every worker sends its P bytes to every other, then combines the n−1 it received."""
    if n == 1:
        return empty(1)
    src, dst = (grid.ravel() for grid in np.meshgrid(np.arange(n), np.arange(n), indexing="ij"))
    keep = src != dst
    size = p * w
    combine = np.full(n, (n - 1) * size, dtype=np.int64)
    only = Round(src[keep].astype(np.int64), dst[keep].astype(np.int64), np.full(n * (n - 1), size, dtype=np.int64),
                 "exchange", combine)
    return Schedule(n, 1, lambda k: only)


def sharded_server_schedule(n: int, p: int, w: int, servers: int = 1) -> Schedule:
    """k = ``servers`` servers (participants n..n+k−1): every worker pushes chunk s of
    ``chunk_bounds(p, k)`` to server s; each server combines n−1 of its chunks and sends the mean
    chunk back to every worker. With k = 1 this is the parameter server."""
    k = max(servers, 1)
    if n == 1:
        return empty(1 + k)
    sizes = chunk_sizes(p, k, w)
    workers = np.repeat(np.arange(n, dtype=np.int64), k)
    shard = np.tile(np.arange(k, dtype=np.int64), n)
    combine = np.zeros(n + k, dtype=np.int64)
    combine[n:] = (n - 1) * sizes
    push = Round(workers, n + shard, sizes[shard], "push", combine)
    pull = Round(n + shard, workers, sizes[shard], "pull")
    return Schedule(n + k, 2, lambda r: push if r == 0 else pull)


def parameter_server_schedule(n: int, p: int, w: int, servers: int = 1) -> Schedule:
    """Every worker pushes P to the (first) server, which combines n−1 buffers and sends the mean back."""
    return sharded_server_schedule(n, p, w, 1)



def _rounds(participants: int, rounds: list[Round], workers: np.ndarray | None = None) -> Schedule:
    return Schedule(participants, len(rounds), rounds.__getitem__, workers)


def _round(pairs: list[tuple[int, int, int]], phase: str, combine: dict[int, int] | None = None,
           participants: int = 0) -> Round:
    """A round from (src, dst, bytes) triples; ``combine``: participant → bytes it combines after."""
    src, dst, nbytes = (_int([pair[i] for pair in pairs]) for i in range(3))
    merged = None
    if combine:
        merged = np.zeros(participants, dtype=np.int64)
        for member, count in combine.items():
            merged[member] += count
    return Round(src, dst, nbytes, phase, merged)


def _fold_rounds(n: int, size: int) -> tuple[int, int, Round | None, Round | None]:
    """MPICH's fold for n not a power of two (``doubling.fold_shape``): m participants, r folded
    pairs, the fold round (even rank 2i sends P to 2i+1, which combines it) and the unfold round."""
    m = 1 << (n.bit_length() - 1)
    r = n - m
    if not r:
        return m, r, None, None
    fold = _round([(2 * i, 2 * i + 1, size) for i in range(r)], "fold", {2 * i + 1: size for i in range(r)}, n)
    unfold = _round([(2 * i + 1, 2 * i, size) for i in range(r)], "unfold")
    return m, r, fold, unfold


def _old_rank(new: int, r: int) -> int:
    return 2 * new + 1 if new < r else new + r


def recursive_doubling_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    """Fold, then lg m rounds of whole-buffer exchanges with participant new ⊕ 2^k (each combining
    what it receives), then unfold (``doubling.recursive_doubling``)."""
    if n == 1:
        return empty(1)
    size = p * w
    m, r, fold, unfold = _fold_rounds(n, size)
    rounds = [fold] if fold else []
    bit = 1
    while bit < m:
        pairs = [(_old_rank(new, r), _old_rank(new ^ bit, r), size) for new in range(m)]
        rounds.append(_round(pairs, "exchange", {src: size for src, _, _ in pairs}, n))
        bit <<= 1
    return _rounds(n, rounds + ([unfold] if unfold else []))


def rabenseifner_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    """Fold, recursive-halving reduce-scatter over ``chunk_bounds(p, m)`` (distance m/2 … 1: the
    participant with bit d set keeps the upper half of its range and sends the lower), then
    recursive-doubling all-gather (each sends its range), then unfold (``doubling.rabenseifner``)."""
    if n == 1:
        return empty(1)
    m, r, fold, unfold = _fold_rounds(n, p * w)
    bounds = _int(chunk_bounds(p, m)) * w
    lo, hi = np.zeros(m, dtype=np.int64), np.full(m, m, dtype=np.int64)
    new = np.arange(m)
    old = np.array([_old_rank(i, r) for i in range(m)], dtype=np.int64)
    rounds = [fold] if fold else []
    distance = m >> 1
    while distance:
        middle = lo + distance
        upper = (new & distance) > 0
        give_lo, give_hi = np.where(upper, lo, middle), np.where(upper, middle, hi)
        sent = bounds[give_hi] - bounds[give_lo]
        partner = new ^ distance
        combine = np.zeros(n, dtype=np.int64)
        combine[old[partner]] = sent
        rounds.append(Round(old, old[partner], sent, "reduce_scatter", combine))
        lo, hi = np.where(upper, middle, lo), np.where(upper, hi, middle)
        distance >>= 1
    distance = 1
    while distance < m:
        rounds.append(Round(old, old[new ^ distance], bounds[hi] - bounds[lo], "all_gather"))
        lo = np.minimum(lo, lo ^ distance)
        hi = lo + 2 * distance
        distance <<= 1
    return _rounds(n, rounds + ([unfold] if unfold else []))


def _ceil_lg(n: int) -> int:
    return (n - 1).bit_length()


def _binomial_reduce(n: int, size: int) -> list[Round]:
    """Round k: every rank whose lowest set bit is 2^k sends its partial sum to rank − 2^k, which adds
    it in (``primitives.reduce``)."""
    rounds = []
    for k in range(_ceil_lg(n)):
        bit = 1 << k
        pairs = [(rank, rank - bit, size) for rank in range(bit, n, 2 * bit)]
        rounds.append(_round(pairs, "reduce", {dst: size for _, dst, _ in pairs}, n))
    return rounds


def _binomial_broadcast(n: int, size: int) -> list[Round]:
    """Round k: every holder q < 2^k sends the buffer to q + 2^k (``primitives.broadcast``)."""
    return [_round([(q, q + (1 << k), size) for q in range(min(1 << k, n)) if q + (1 << k) < n], "broadcast")
            for k in range(_ceil_lg(n))]


def binomial_tree_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    """Binomial reduce to rank 0, then binomial broadcast from it (``trees.binomial_tree``)."""
    return empty(1) if n == 1 else _rounds(n, _binomial_reduce(n, p * w) + _binomial_broadcast(n, p * w))


def reduce_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    return empty(1) if n == 1 else _rounds(n, _binomial_reduce(n, p * w))


def broadcast_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    return empty(1) if n == 1 else _rounds(n, _binomial_broadcast(n, p * w))


def _send_up_rounds(root: int, children: tuple[tuple[int, ...], ...]) -> dict[int, int]:
    """The round each node of a tree sends its sum to its parent in: after all its children's, and a
    node's children one round after another, in their order (each parent combines them in turn)."""
    rounds: dict[int, int] = {}

    def ready(x: int) -> int:
        last = -1
        for child in children[x]:
            last = rounds[child] = max(ready(child), last + 1)
        return last + 1

    ready(root)
    return rounds


def double_binary_tree_schedule(n: int, p: int, w: int, servers: int = 0) -> Schedule:
    """Two participants per rank, one per tree (``trees.double_binary_tree`` runs a process per tree):
    rank x is participant x on tree 1 (the first ⌊p/2⌋ elements) and n + x on tree 2 (the rest). On a
    tree a node receives its children's sums in order, combining each, sends the sum to its parent,
    receives the result and sends it to its children at once. Each transfer gets the round after
    everything it waits for, the second child's sum after the first's, all results after all sums."""
    from .trees import double_binary_tree_shape

    if n == 1:
        return empty(1)
    shapes = double_binary_tree_shape(n)
    halves = (p // 2 * w, (p - p // 2) * w)
    up: dict[int, list[tuple[int, int, int]]] = {}
    down: dict[int, list[tuple[int, int, int]]] = {}
    combine_at: dict[int, dict[int, int]] = {}
    for tree, ((parents, children), size) in enumerate(zip(shapes, halves)):
        base = tree * n
        root = parents.index(-1)
        for child, k in _send_up_rounds(root, children).items():
            up.setdefault(k, []).append((base + child, base + parents[child], size))
            combine_at.setdefault(k, {})[base + parents[child]] = size
        depth = {root: 0}
        order = [root]
        for x in order:
            for child in children[x]:
                depth[child] = depth[x] + 1
                order.append(child)
                down.setdefault(depth[x], []).append((base + x, base + child, size))
    reduce_rounds = max(up, default=-1) + 1
    rounds = [_round(up.get(k, []), "reduce", combine_at.get(k), 2 * n) for k in range(reduce_rounds)]
    rounds += [_round(down[k], "broadcast") for k in sorted(down)]
    return _rounds(2 * n, rounds, np.concatenate([np.arange(n), np.arange(n)]))


def hierarchical_ring_schedule(n: int, p: int, w: int, servers: int = 0, gpus_per_node: int | None = None) -> Schedule:
    """Intra-node ring reduce-scatter of the g chunks, inter-node ring reduce-scatter and all-gather of
    each chunk's N sub-chunks (one ring per local index), intra-node all-gather
    (``hierarchical.hierarchical_ring``)."""
    from .hierarchical import gpus_per_node as local_size

    if n == 1:
        return empty(1)
    g = local_size(n, gpus_per_node)
    nodes = n // g
    ranks = np.arange(n, dtype=np.int64)
    node, local = ranks // g, ranks % g
    chunk = chunk_sizes(p, g, 1)
    sub = np.array([np.diff(_int(chunk_bounds(int(c), nodes))) for c in chunk]) * w  # [local][node]
    chunk = chunk * w
    intra_right = node * g + (local + 1) % g
    inter_right = ((node + 1) % nodes) * g + local
    rounds = []
    for step in range(g - 1):
        sent = chunk[(local - step - 1) % g]
        rounds.append(Round(ranks, intra_right, sent, "intra_reduce_scatter", sent[node * g + (local - 1) % g]))
    for step in range(nodes - 1):
        sent = sub[local, (node - step - 1) % nodes]
        rounds.append(Round(ranks, inter_right, sent, "inter_reduce_scatter", sent[((node - 1) % nodes) * g + local]))
    for step in range(nodes - 1):
        rounds.append(Round(ranks, inter_right, sub[local, (node - step) % nodes], "inter_all_gather"))
    for step in range(g - 1):
        rounds.append(Round(ranks, intra_right, chunk[(local - step) % g], "intra_all_gather"))
    return _rounds(n, rounds)

SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "ring_allreduce": ring_allreduce_schedule,
    "reduce_scatter": reduce_scatter_schedule,
    "all_gather": all_gather_schedule,
    "all_to_all": all_to_all_schedule,
    "parameter_server": parameter_server_schedule,
    "sharded_parameter_server": sharded_server_schedule,
    "recursive_doubling": recursive_doubling_schedule,
    "rabenseifner": rabenseifner_schedule,
    "binomial_tree": binomial_tree_schedule,
    "double_binary_tree": double_binary_tree_schedule,
    "broadcast": broadcast_schedule,
    "reduce": reduce_schedule,
    "hierarchical_ring": hierarchical_ring_schedule,
}
"""The algorithms written as schedules, by registry name (the others run on the message engine only)."""


def schedule_for(algorithm: str, n: int, p: int, w: int, servers: int = 0, gpus_per_node: int | None = None) -> Schedule:
    """``algorithm``'s schedule for n workers, p elements of w bytes and ``servers`` servers."""
    try:
        make = SCHEDULES[algorithm]
    except KeyError:
        raise ValueError(f"algorithm {algorithm!r} has no schedule yet; with schedules: {', '.join(SCHEDULES)}") from None
    if algorithm == "hierarchical_ring":
        return make(n, p, w, servers, gpus_per_node)
    return make(n, p, w, servers)
