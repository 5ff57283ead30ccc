"""Collectives as data: a schedule is a sequence of rounds of transfers, each a piece of a buffer.

Participants are numbered 0..n−1 for the workers (or, with ``workers``, any number of participants
each running for a worker) and then the servers. Transfer i of a round sends elements
``lo[i]:hi[i]`` of its sender's buffer to the same place in its receiver's (or, where the round has
``at``, to elements ``at[i]:at[i] + hi[i] − lo[i]``, as a personalized exchange needs), ``nbytes[i]``
bytes on the wire; the receiver adds it in (``reduce[i]``) or overwrites its own.

Round semantics (the library's send-receive steps): a participant starts its sends of round k when
it has finished round k−1. It finishes round k when every transfer of round k it sends has been
delivered and every one it receives has arrived (an ``eager`` schedule, as NCCL's ring, does not wait for
its own sends: it finishes once its receives are in; a ``buffered`` one, as a sender into a FIFO, waits
for its sends until their last byte has left, not until they arrive; either ends a call only when all its
sends have been delivered too); it then writes what it received (the additions
into one range summed in participant order, its own value at its own place, so every replica gets
the same bits), spends γ seconds per byte of ``combine`` on them, and divides the ranges of
``scale`` by n (the mean). A participant with no part in a round passes through it. A server's
buffer holds nothing until its first additions.

Rounds are produced on demand (``round(k)``) as numpy arrays, so a schedule of 134 M transfers
never exists whole and an engine can take a whole round at a time: the message engine follows a
schedule with one process per participant (``commsim.collectives.follow``), the schedule engine
(``commsim.engines.schedule``) vectorised. Each algorithm module writes its schedule once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .payload import chunk_bounds


@dataclass(frozen=True)
class Round:
    """One round: transfer i carries elements ``lo[i]:hi[i]`` (``nbytes[i]`` bytes) from ``src[i]`` to
    ``dst[i]``, which writes them at ``at[i]`` (None: at ``lo[i]``), added in where ``reduce`` is true;
    afterwards participant r combines ``combine[r]`` bytes (None: nobody) and participant ``scale[0][j]``
    divides ``scale[1][j]:scale[2][j]`` by n."""

    src: np.ndarray
    dst: np.ndarray
    nbytes: np.ndarray
    phase: str = ""
    combine: np.ndarray | None = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    reduce: np.ndarray | bool = False
    scale: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    at: np.ndarray | None = None
    # per participant: how many of its receives it waits for (0: all of them); the first to arrive count,
    # ties going to the lower sender, the rest are delivered but dropped (a server taking the first k)
    quorum: np.ndarray | None = None
    divisor: int | None = None  # what ``scale`` divides by (None: n, the workers)
    # the histogram of ``nbytes`` (sizes ascending, how many of each), where the schedule states it: an engine
    # tallying sizes then needs no sort
    sizes: tuple[np.ndarray, np.ndarray] | None = None
    # (array, offset) where ``nbytes`` is ``array[offset: offset + len(src)]``, an array the schedule keeps: an
    # engine computes what depends on the sizes alone (transmission times) once per array
    sliced: tuple[np.ndarray, int] | None = None


@dataclass(frozen=True)
class Run:
    """Rounds ``first`` … ``first + len(offsets) − 1`` of a schedule, alike: round ``first + j`` is ``like`` (sized
    round ``first``) but for its sizes, ``sizes[offsets[j]: offsets[j] + len(like.src)]``, and, where ``like``
    combines, what its participants combine, ``sizes[combined[j]: combined[j] + participants]``; ``like.sizes`` is
    every one's histogram. An engine takes them without making each round."""

    first: int
    like: Round
    sizes: np.ndarray
    offsets: list[int]
    combined: list[int] | None = None


@dataclass(frozen=True)
class Schedule:
    """``rounds`` rounds among ``participants`` (the workers' participants, then the servers), made by
    ``round(k)`` for buffers of ``p`` elements."""

    participants: int
    rounds: int
    round: Callable[[int], Round]
    workers: np.ndarray | None = None  # participant → the worker it runs for (None: 0..n−1 are the workers)
    p: int = 0
    # senders copy what they send (True), or send views where the round leaves them be: then a participant
    # must not write a range it sent before its receiver has received it (true of every built-in schedule,
    # where the receiver's next message to the sender depends on it)
    snapshot: bool = False
    eager: bool = False  # a participant leaves a round once its receives are in, its sends still under way (NCCL's FIFOs)
    # a participant leaves a round once its receives are in and its sends have left (their last byte on the wire),
    # not arrived: a sender into a FIFO (the next chunk leaves once the last one has left)
    buffered: bool = False
    # round k without element ranges (``lo``, ``hi``, ``scale`` None), all an engine moving sizes only reads;
    # None: ``round`` (see :meth:`sized_round`)
    sized: Callable[[int], Round] | None = None
    runs: Callable[[int], Run] | None = None  # the run of alike rounds round k begins (None: no runs stated)

    def sized_round(self, k: int) -> Round:
        """Round k as an engine moving sizes only needs it: ``sized(k)`` where the schedule has it."""
        return self.sized(k) if self.sized is not None else self.round(k)

    @property
    def detached(self) -> bool:
        """Whether a participant may leave a round with its own sends still under way (eager or buffered): its
        call ends only once they are delivered."""
        return self.eager or self.buffered

    def worker_participants(self, n: int) -> int:
        """How many participants run for workers (the rest are servers)."""
        return n if self.workers is None else len(self.workers)


def ints(values: object) -> np.ndarray:
    """``values`` as an int64 array."""
    return np.asarray(values, dtype=np.int64)


def bounds_of(p: int, n: int) -> np.ndarray:
    """``chunk_bounds(p, n)`` as an array: chunk i is elements bounds[i]:bounds[i+1]."""
    return ints(chunk_bounds(p, n))


def pieces(src: object, dst: object, lo: object, hi: object, w: int, phase: str, reduce: object = False,
           combine: np.ndarray | None = None, scale: tuple[object, object, object] | None = None) -> Round:
    """A round from element ranges: transfer i carries elements lo[i]:hi[i], (hi − lo)·w bytes."""
    lo, hi = ints(lo), ints(hi)
    reduce = reduce if isinstance(reduce, bool) else np.asarray(reduce, dtype=bool)
    scaled = None if scale is None else tuple(ints(part) for part in scale)
    return Round(ints(src), ints(dst), (hi - lo) * w, phase, combine, lo, hi, reduce, scaled)


def received(dst: np.ndarray, nbytes: np.ndarray, participants: int) -> np.ndarray:
    """Bytes each participant receives in a round (what it combines when it adds everything in)."""
    return np.bincount(dst, weights=nbytes, minlength=participants).astype(np.int64)


def empty(participants: int, p: int = 0) -> Schedule:
    """Nothing to send (one participant, or nothing to do)."""
    return Schedule(participants, 0, lambda k: Round(ints([]), ints([]), ints([])), p=p)


def listed(participants: int, rounds: Sequence[Round], p: int, workers: np.ndarray | None = None) -> Schedule:
    """A schedule of rounds made in advance."""
    return Schedule(participants, len(rounds), rounds.__getitem__, workers, p)


def ring_rounds(n: int, p: int, w: int, reduce_steps: int, gather_steps: int, reduce_offset: int,
                gather_offset: int) -> Schedule:
    """``reduce_steps`` reduce-scatter steps, then ``gather_steps`` all-gather steps, around the ring
    0 → 1 → … → n−1 → 0 over the chunks of ``chunk_bounds(p, n)``. At reduce-scatter step s rank r
    sends chunk r + ``reduce_offset`` − s, which its right neighbour adds in; after the last one each
    rank divides the chunk it received then (now summed over all n) by n. At all-gather step s it sends
    chunk r + ``gather_offset`` − s, which its neighbour copies (indices mod n).

    Sized rounds: every round sends each chunk once, so its sizes are the chunks' (one histogram for all);
    rank r's size at a step with chunk offset c is ``sizes[(r + c) mod n]``, a slice of the sizes twice over."""
    if n == 1:
        return empty(1, p)
    bounds = bounds_of(p, n)
    ranks = ints(range(n))
    right = (ranks + 1) % n
    twice = np.tile(np.diff(bounds) * w, 2)  # chunk sizes in bytes, twice over: any rotation is a slice
    twice.flags.writeable = False
    histogram = np.unique(twice[:n], return_counts=True)

    def offset(k: int) -> int:
        """Rank 0's chunk at round k (rank r's is this + r, mod n)."""
        return (reduce_offset - k) % n if k < reduce_steps else (gather_offset - (k - reduce_steps)) % n

    def round_(k: int) -> Round:
        if k < reduce_steps:
            chunk = (ranks + reduce_offset - k) % n
            lo, hi = bounds[chunk], bounds[chunk + 1]
            nbytes = (hi - lo) * w
            owned = (np.roll(lo, 1), np.roll(hi, 1))  # what rank r receives from r − 1
            scale = (ranks, *owned) if k == reduce_steps - 1 else None
            return Round(ranks, right, nbytes, "reduce_scatter", np.roll(nbytes, 1), lo, hi, True, scale,
                         sizes=histogram)
        chunk = (ranks + gather_offset - (k - reduce_steps)) % n
        lo, hi = bounds[chunk], bounds[chunk + 1]
        return Round(ranks, right, (hi - lo) * w, "all_gather", None, lo, hi, False, sizes=histogram)

    def sized(k: int) -> Round:
        first = offset(k)
        if k < reduce_steps:  # what rank r combines is what r − 1 sent: the slice one to the left
            left = (first - 1) % n
            return Round(ranks, right, twice[first: first + n], "reduce_scatter", twice[left: left + n], reduce=True,
                         sizes=histogram, sliced=(twice, first))
        return Round(ranks, right, twice[first: first + n], "all_gather", None, sizes=histogram, sliced=(twice, first))

    def run(k: int) -> Run:
        """The rest of round k's phase: every reduce-scatter round, every all-gather round is alike."""
        offsets = [offset(j) for j in range(k, reduce_steps if k < reduce_steps else reduce_steps + gather_steps)]
        return Run(k, sized(k), twice, offsets, [(first - 1) % n for first in offsets] if k < reduce_steps else None)

    return Schedule(n, reduce_steps + gather_steps, round_, p=p, sized=sized, runs=run)


ScheduleMaker = Callable[..., Schedule]
"""``make(n, p, w, servers=0, gpus_per_node=None)``: an algorithm's schedule for n workers, p elements
of w bytes, ``servers`` servers and nodes of ``gpus_per_node`` workers."""

SCHEDULES: dict[str, ScheduleMaker] = {}
"""Every registered algorithm's schedule, by registry name (filled in by ``base.register``)."""


def schedule_for(algorithm: str, n: int, p: int, w: int, servers: int = 0, gpus_per_node: int | None = None) -> Schedule:
    """``algorithm``'s schedule for n workers, p elements of w bytes and ``servers`` servers."""
    try:
        make = SCHEDULES[algorithm]
    except KeyError:
        raise ValueError(f"algorithm {algorithm!r} has no schedule; with schedules: {', '.join(SCHEDULES)}") from None
    return make(n, p, w, servers=servers, gpus_per_node=gpus_per_node)
