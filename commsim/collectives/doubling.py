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

from .base import Algorithm, Comm, Process, register
from .cost import Cost, LinkCost
from .payload import Buffer, chunk_bounds


def fold_shape(n: int) -> tuple[int, int]:
    """(m, r): the m = 2^⌊lg n⌋ participants of the power-of-two part and the r = n − m folded pairs."""
    m = 1 << (n.bit_length() - 1)
    return m, n - m


def new_rank(rank: int, r: int) -> int:
    """A rank's number among the m participants (−1 for the even ranks below 2r, which sit out)."""
    if rank < 2 * r:
        return rank // 2 if rank % 2 else -1
    return rank - r


def old_rank(new: int, r: int) -> int:
    """The rank of participant ``new``."""
    return 2 * new + 1 if new < r else new + r


def _fold_in(comm: Comm, out: Buffer, r: int) -> Process:
    """First step for the ranks below 2r. Returns True if this rank sits out (and then already holds
    the result, sent back by its partner), False if it goes on as a participant."""
    me = comm.rank
    comm.phase = "fold"
    if me % 2 == 0:
        yield comm.send(me + 1, out)
        comm.phase = "unfold"
        incoming = yield comm.recv(me + 1)
        out[...] = incoming  # our fold send was delivered long ago: out is ours to overwrite
        return True
    incoming = yield comm.recv(me - 1)
    out += incoming
    if busy := comm.combine(incoming):
        yield busy
    return False


def _fold(comm: Comm, out: Buffer) -> Process:
    """MPICH's fold for any n: returns (m, r, this rank's participant number, −1 if it sat out)."""
    m, r = fold_shape(comm.size)
    if comm.rank < 2 * r and (yield from _fold_in(comm, out, r)):
        return m, r, -1
    return m, r, new_rank(comm.rank, r)


def _fold_out(comm: Comm, out: Buffer, r: int) -> Process:
    """Last step: an odd rank below 2r hands the result to the even rank it absorbed."""
    if comm.rank < 2 * r:
        comm.phase = "unfold"
        yield comm.send(comm.rank - 1, out)


# -- recursive doubling ----------------------------------------------------------------------
def recursive_doubling(comm: Comm, buffer: Buffer) -> Process:
    """Return the mean of every rank's ``buffer``: lg m rounds of whole-buffer exchanges with
    participant new ⊕ 2^k (k = 0, 1, ...), after MPICH's fold when n is not a power of two."""
    out = buffer.copy()
    m, r, new = yield from _fold(comm, out)
    if new < 0:  # sat out: the partner has sent the result back
        return out
    comm.phase = "exchange"
    bit = 1
    while bit < m:
        partner = old_rank(new ^ bit, r)
        sent = comm.send(partner, out)
        incoming = yield comm.recv(partner)
        yield sent
        out = out + incoming  # a new buffer: the one we sent stays intact for the partner to read
        if busy := comm.combine(incoming):
            yield busy
        bit <<= 1
    out /= comm.size
    yield from _fold_out(comm, out, r)
    return out


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
def rabenseifner(comm: Comm, buffer: Buffer) -> Process:
    """Return the mean of every rank's ``buffer``: recursive-halving reduce-scatter, then
    recursive-doubling all-gather among the m participants (after MPICH's fold).

    The buffer is cut into m chunks by ``chunk_bounds(p, m)``. A participant works on a range of
    chunks, initially all m. Reduce-scatter, distance d = m/2, m/4, ..., 1: the participant and
    new ⊕ d share the range; the one with bit d clear keeps its lower half, the other the upper
    half; each sends the half the other keeps and adds in the half it receives. Participant i ends
    owning chunk i, summed over everyone, and divides it by n. All-gather, d = 1, 2, ..., m/2: each
    sends its range to new ⊕ d and writes the partner's range (the neighbouring block) beside it.
    """
    out = buffer.copy()
    m, r, new = yield from _fold(comm, out)
    if new < 0:  # sat out: the partner has sent the result back
        return out
    bounds = chunk_bounds(len(out), m)
    lo, hi = 0, m  # the range of chunks this participant works on
    comm.phase = "reduce_scatter"
    distance = m >> 1
    while distance:
        partner = old_rank(new ^ distance, r)
        middle = lo + distance
        (keep_lo, keep_hi), (give_lo, give_hi) = (
            ((middle, hi), (lo, middle)) if new & distance else ((lo, middle), (middle, hi))
        )
        sent = comm.send(partner, out[bounds[give_lo]:bounds[give_hi]])
        incoming = yield comm.recv(partner)
        kept = out[bounds[keep_lo]:bounds[keep_hi]]
        kept += incoming  # disjoint from the half in flight
        yield sent
        if busy := comm.combine(incoming):
            yield busy
        lo, hi = keep_lo, keep_hi
        distance >>= 1
    owned = out[bounds[lo]:bounds[hi]]  # lo == new: chunk new, never sent, fully summed
    owned /= comm.size
    comm.phase = "all_gather"
    distance = 1
    while distance < m:
        partner = old_rank(new ^ distance, r)
        other = lo ^ distance  # the partner's range: the aligned block of `distance` chunks beside ours
        sent = comm.send(partner, out[bounds[lo]:bounds[hi]])
        incoming = yield comm.recv(partner)
        out[bounds[other]:bounds[other + distance]] = incoming
        yield sent
        lo = min(lo, other)
        hi = lo + 2 * distance
        distance <<= 1
    yield from _fold_out(comm, out, r)
    return out


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


register(
    Algorithm(
        "recursive_doubling",
        recursive_doubling,
        summary="whole-buffer exchanges with rank ⊕ 2^k, lg n rounds (MPICH fold for other n)",
        cost=recursive_doubling_cost,
    )
)
register(
    Algorithm(
        "rabenseifner",
        rabenseifner,
        summary="recursive-halving reduce-scatter then recursive-doubling all-gather (MPICH fold for other n)",
        cost=rabenseifner_cost,
    )
)
