"""The schedule engine: a program of collectives and compute (:mod:`commsim.engines.program`), each
collective a schedule simulated a whole round at a time.

Same network model as the message engine (``commsim.network.fluid``): a transfer alone on its route
takes Σ latency + bytes / min bandwidth; transfers crossing a directed link at the same time share it
max-min fairly; a transfer's bytes flow first, then it propagates for its route's latency. Same faults
(crashes, jitter, link failures; the program module says what each does). Two ways through a program,
both exact:

* **Round at a time** (no shared link): each transfer of round k starts when its sender finished round
  k−1 (plus its jitter), and is delivered Σα + bytes/B later; a participant finishes round k at its last
  delivery (its first ``quorum`` receives, if it waits for no more; of its own sends, none if eager, their
  ends of transmission if buffered) plus γ·combined bytes. Tasks are
  taken in program order, each collective's rounds in numpy. It is valid while no link carries two
  transfers at once (checked for every round: each link at most once in a round, and never before the
  previous transfer on it has left) and no link fails under a transfer; the first breach switches to:
* **Fluid events**: one instant at a time, every transfer active at that instant in arrays; at each
  instant the max-min rates (progressive filling over the link–transfer incidence, vectorised), then
  the next instant is the earliest end of transmission, delivery, combine, compute, crash or failure.
  What an instant costs is kept to what changes in it: transfers in chunks as a group of them entered
  (:class:`_Rows`), each chunk's rates kept per multiset of routes, a group of participants found by its
  members (:class:`_ByEnd`), who waits to enter a round kept in a list, counts tallied in blocks.

Counts, message sizes and bytes per route are accumulated; with ``keep_log`` every delivered transfer is
recorded too (what idle time, the critical path and a trace read).
"""

from __future__ import annotations

import functools
import heapq
from array import array
from collections.abc import Hashable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from ..collectives.schedule import Round, Run, Schedule
from ..network.fluid import Link, MessageLog, Route
from ..network.jitter import jitter_fraction
from .program import Collective, Compute, Faults, Program, one_call
from .record import Record
from .routes import Routes, _distinct

_OVERLAP = 1e-12  # a transfer starting this little (relative) before the last one on its link left does not share
_BLOCK = 1 << 19  # transfers advanced in one vectorised step (a block of rounds alike: 16 MB per array of them)
_INF = float("inf")
_FILLED_BYTES = 1 << 27  # the chunks' rates kept per multiset of routes, at most (then forgotten all at once)
_NAMES_KEPT = 256  # chunks' routes kept as bytes, at most (then forgotten all at once)
_ROUNDS_KEPT = 8  # rounds of a call the fluid way keeps before it looks for those it may forget


ScheduleRun = Record  # what run_schedule returned before programs


class _Tally:
    """Messages, sizes and bytes per route, accumulated round by round."""

    def __init__(self) -> None:
        self.messages = 0
        self.sizes: dict[int, int] = {}
        self.route_bytes = np.zeros(0)
        self.touched = np.zeros(0, dtype=bool)  # routes some bytes took

    def move(self, old: int, new: int, nbytes: float) -> None:
        """A failure sends ``nbytes`` of a message on route ``old`` on along route ``new``."""
        self._grow(new + 1)
        self.route_bytes[old] -= round(nbytes)
        self.route_bytes[new] += round(nbytes)
        self.touched[new] = True

    def _grow(self, size: int) -> None:
        if size > len(self.route_bytes):  # equivalent: (`>=`) growing by nothing
            grow = size - len(self.route_bytes)
            self.route_bytes = np.concatenate([self.route_bytes, np.zeros(grow)])
            self.touched = np.concatenate([self.touched, np.zeros(grow, dtype=bool)])

    def add(self, routes: np.ndarray, nbytes: np.ndarray, sizes: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Messages of ``nbytes`` bytes on ``routes`` (``sizes``: the histogram of ``nbytes``, where known)."""
        if not len(nbytes):
            return
        self.count(nbytes, sizes)
        self.carry(routes, nbytes)

    def count(self, nbytes: np.ndarray, sizes: tuple[np.ndarray, np.ndarray] | None = None, rounds: int = 1) -> None:
        """Messages of ``nbytes`` bytes, ``rounds`` times over, counted by size (``sizes``: their histogram,
        saving a sort)."""
        self.messages += len(nbytes) * rounds
        values, counts = sizes if sizes is not None else _histogram(nbytes)
        for value, count in zip(values.tolist(), counts.tolist()):
            self.sizes[value] = self.sizes.get(value, 0) + count * rounds

    def carry(self, routes: np.ndarray, nbytes: np.ndarray) -> None:
        """Messages on ``routes`` that carried ``nbytes`` bytes (over one round or several: sums of whole bytes
        below 2⁵³ are exact in any order)."""
        weights = np.bincount(routes, weights=nbytes.astype(np.float64))
        self._grow(len(weights))
        self.route_bytes[: len(weights)] += weights
        self.touched[: len(weights)] |= np.bincount(routes) > 0


def _values(column: np.ndarray) -> list[int]:
    """``np.unique(column).tolist()``, without the sort where the column holds one value (a round at once)."""
    if len(column) and column.min() == column.max():
        return [column[0].item()]
    return _distinct(column).tolist()


def _rows(mask: np.ndarray) -> np.ndarray | slice:
    """Rows where ``mask`` holds: every row (a view, no copy) where it holds everywhere."""
    return slice(None) if mask.all() else mask


def _everything(index: np.ndarray, size: int) -> bool:
    """Whether ``index`` is 0, 1, …, size − 1."""
    return len(index) == size and (not size or (index[0] == 0 and index[-1] == size - 1 and _in_order(index)))


def _in_order(*columns: np.ndarray) -> bool:
    """Whether the rows (``columns[0]`` first, then the next on ties, …) are in strictly increasing order."""
    later = np.zeros(len(columns[0]) - 1 if len(columns[0]) else 0, dtype=bool)  # decided: row j+1 comes after j
    tied = ~later
    for column in columns:
        step = column[1:] - column[:-1]
        later |= tied & (step > 0)
        tied &= step == 0
    return bool(later.all())


def _histogram(nbytes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(nbytes, return_counts=True)`` for sizes in whole bytes, without a sort where they span a range
    no longer than themselves (a count per byte value)."""
    low, high = int(nbytes.min()), int(nbytes.max())  # equivalent: `high` only picks the way (below)
    # equivalent: which way is a speed choice; both give np.unique's answer for whole bytes (tested on both)
    if nbytes.dtype.kind not in "iu" or high - low > len(nbytes):
        return np.unique(nbytes, return_counts=True)
    counts = np.bincount(nbytes - low)
    values = np.flatnonzero(counts)
    return values + low, counts[values]


class _Log:
    """Delivered transfers, in chunks of arrays (owner slots, bytes, start, end, phase, route id)."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.phases: dict[str, int] = {}

    def add(self, src: np.ndarray, dst: np.ndarray, nbytes: np.ndarray, start: np.ndarray, end: np.ndarray,
            phase: str, route: np.ndarray, issued: np.ndarray) -> None:
        """Delivered transfers: owner slots, bytes, when they left and arrived, the round's phase, the route
        and when their sender was ready to send them (before a jitter)."""
        if len(src):
            phase_id = self.phases.setdefault(phase, len(self.phases))
            self.parts.append((src, dst, nbytes.astype(np.int64), start, end, np.full(len(src), phase_id), route,
                               issued))

    def posted(self, nodes: list[Hashable]) -> dict[tuple[Hashable, Hashable, float], float]:
        """(src, dst, start) → when it was sent, for the transfers that left late (jitter)."""
        late: dict[tuple[Hashable, Hashable, float], float] = {}
        for src, dst, _, start, _, _, _, issued in self.parts:
            for i in np.flatnonzero(issued != start).tolist():
                late[nodes[src[i]], nodes[dst[i]], float(start[i])] = float(issued[i])
        return late

    def message_log(self, routes: Routes) -> MessageLog:
        """As the message engine's :class:`MessageLog`, in delivery order (ties: by start, sender, receiver)."""
        log = MessageLog()
        log.phases = list(self.phases)
        if not self.parts:
            return log
        src, dst, nbytes, start, end, phase, route, _ = (np.concatenate(column) for column in zip(*self.parts))
        order = np.lexsort((dst, src, start, end))
        used = np.unique(route)
        links: dict[int, Link] = {}
        names = list(routes.link_index)
        for rid in used.tolist():
            ids = routes.flat[routes.start[rid]: routes.start[rid] + routes.length[rid]].tolist()
            for lid in ids:
                if lid not in links:
                    u, v = names[lid]
                    links[lid] = Link(u, v, float(routes.bandwidth[lid]), float(routes._link_latency[lid]))
        position = {}
        for (rid, s, d) in sorted(set(zip(route.tolist(), src.tolist(), dst.tolist()))):
            ids = routes.flat[routes.start[rid]: routes.start[rid] + routes.length[rid]].tolist()
            position[rid, s, d] = len(log.routes)
            log.routes.append(Route(len(log.routes), routes.nodes[s], routes.nodes[d], tuple(links[i] for i in ids)))
        log.route = array("q", [position[r, s, d] for r, s, d in zip(route[order].tolist(), src[order].tolist(),
                                                                      dst[order].tolist())])
        log.nbytes = array("q", nbytes[order].tolist())
        log.start = array("d", start[order].tolist())
        log.end = array("d", end[order].tolist())
        log.phase = array("h", phase[order].tolist())
        return log


class _Spread:
    """How values per transfer of a round reach the participants at one end of them (``ends``: each transfer's
    sender, or receiver): where every participant is the end of exactly one transfer, by a gather (none at all
    where transfer p is participant p's, a rotation where they are shifted alike); else ``np.maximum.at``."""

    def __init__(self, ends: np.ndarray, participants: int) -> None:
        self.ends, self.inverse, self.shift = ends, None, None
        everyone = np.arange(participants)
        if len(ends) == participants and np.array_equal(np.sort(ends), everyone):
            self.inverse = np.empty(participants, dtype=np.int64)
            self.inverse[ends] = everyone  # participant p's transfer
            # equivalent: (`else 1`) with no participant there is no one to reach
            shift = int(-self.inverse[0]) % participants if participants else 0
            if np.array_equal(self.inverse, (everyone - shift) % participants):
                self.shift = shift

    @property
    def identity(self) -> bool:
        """Whether transfer p is participant p's."""
        return self.shift == 0

    def gather(self, values: np.ndarray) -> np.ndarray:
        """Per transfer, the value of its end participant."""
        return values if self.identity else values[self.ends]

    def maximum(self, into: np.ndarray, values: np.ndarray) -> None:
        """``into[p] = max(into[p], values[i])`` for every transfer i ending at p, in place."""
        shift = self.shift
        if shift is not None:  # values rotated by ``shift``: np.roll without the copy
            size = len(into)
            np.maximum(into[shift:], values[: size - shift], out=into[shift:])
            np.maximum(into[:shift], values[size - shift:], out=into[:shift])
        elif self.inverse is not None:
            np.maximum(into, values[self.inverse], out=into)
        else:
            np.maximum.at(into, self.ends, values)


class _Pairs:
    """What every round between the same (sender, receiver) pairs shares — a ring's rounds all do: their
    route ids, the links they cross and whether two cross one; where none do, their bottlenecks and latencies
    and how the transfers reach their senders and receivers."""

    def __init__(self, routes: Routes, owner: np.ndarray, src: np.ndarray, dst: np.ndarray) -> None:
        self.routes, self.participants = routes, len(owner)
        self.src, self.dst = src, dst
        self.ids = routes.lookup(owner[src], owner[dst])
        self.links, self.own = routes.incidence(self.ids)
        self.shared = bool(len(self.links)) and int(np.bincount(self.links).max()) > 1  # when every transfer moves

    @functools.cached_property
    def bottleneck(self) -> np.ndarray:
        return self.routes.bottleneck[self.ids]

    @functools.cached_property
    def latency(self) -> np.ndarray:
        return self.routes.latency[self.ids]

    @functools.cached_property
    def linked(self) -> bool:
        """Whether every route crosses a link."""
        # equivalent: (`>=`, `> 1`) a route of no link kept per route too (its transfer ends as it starts), or one
        # of one link checked round by round: the same numbers
        return bool((self.routes.length[self.ids] > 0).all())

    @functools.cached_property
    def uniform(self) -> float | None:
        """Every route's bottleneck, where all are one."""
        # equivalent: (`[1]`) all are one (read only for rounds of several transfers: a ring's, sliced)
        return float(self.bottleneck[0]) if self.bottleneck.min() == self.bottleneck.max() else None

    @functools.cached_property
    def hop(self) -> float | np.ndarray:
        """The routes' latencies: one number where all are one."""
        return float(self.latency[0]) if self.latency.min() == self.latency.max() else self.latency

    @functools.cached_property
    def sends(self) -> _Spread:
        return _Spread(self.src, self.participants)

    @functools.cached_property
    def receives(self) -> _Spread:
        return _Spread(self.dst, self.participants)


class _Work:
    """Arrays a block of rounds of ``pairs`` works in (``rows`` rounds at most), and their rows as views made once
    (making a view costs as much as adding a few thousand numbers): ready times before each round and after the
    last, starts, ends of transmission (eager: kept for the check after the block; else two rows of ready times
    in turn, the ends in the deliveries' place, so that a round's arrays stay in the cache); one round's
    deliveries, placed after their last ``shift`` (the receives' rotation) so that the rotated deliveries are a
    view too."""

    def __init__(self, pairs: _Pairs, rows: int, participants: int, eager: bool) -> None:
        size, shift = len(pairs.src), pairs.receives.shift
        self.pairs, self.eager = pairs, eager
        spread = np.empty(size + (shift or 0))
        self.delivery = spread[shift or 0:]
        self.rotated = spread[:size] if shift else None  # rotated[p] = delivery[(p − shift) mod size]
        self.head, self.tail = spread[:shift or 0], spread[size:]  # equivalent: (`or 1`) head is read only if shift
        if eager:
            self.times = np.empty((rows + 1, participants))  # equivalent: (`+ 2`) a row more, never read
            self.starts, self.tx_end = np.empty((rows, size)), np.empty((rows, size))
            self.time_rows, self.start_rows, self.end_rows = list(self.times), list(self.starts), list(self.tx_end)
        else:
            turns = np.empty((2, participants))  # equivalent: (3) a row more, never read
            self.time_rows = [turns[j % 2] for j in range(rows + 1)]  # equivalent: (`+ 2`) a row more, never read
            self.end_rows = [self.delivery] * rows


class _Stream:
    """Rounds of one call with nothing that can go wrong (no crash, failure, jitter or log): what a round shares
    with the one before is kept (:class:`_Pairs`); while rounds repeat the same link-disjoint pairs, every
    transfer moving, the one-transfer-per-link check is per route (a route's links were last used by the same
    route a round earlier), the links' last ends and the bytes per route are written only when the pairs
    change or the call ends."""

    def __init__(self, execution: _Execution, owner: np.ndarray, last_end: np.ndarray) -> None:
        self.execution, self.owner, self.last_end = execution, owner, last_end
        self.pairs: _Pairs | None = None
        self.busy: np.ndarray | None = None  # per route of ``pairs``: when its last transfer left (links unwritten)
        self.carried: np.ndarray | None = None  # bytes per transfer of ``pairs`` since they were written (None: none)
        self.times: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id → (sizes a round slices, / uniform bottleneck)
        self.work: _Work | None = None  # arrays a block of rounds works in
        self.buffered = False  # the call's schedule is buffered (set by :meth:`run`)

    def _pairs_of(self, src: np.ndarray, dst: np.ndarray) -> _Pairs:
        if self._same(src, dst):
            return self.pairs
        self.flush()
        self.pairs = _Pairs(self.execution.routes, self.owner, src, dst)
        self.times = {}
        return self.pairs

    def _transmit(self, round_: Round) -> np.ndarray:
        """Transmission times of ``round_``'s transfers (all moving), bytes / bottleneck: where the round slices
        its sizes from an array and every route has one bottleneck, a slice of that array's times."""
        pairs, sliced = self.pairs, round_.sliced
        if sliced is None or pairs.uniform is None:
            return round_.nbytes / pairs.bottleneck
        array, offset = sliced
        return self._times_of(array)[offset: offset + len(round_.nbytes)]

    def _times_of(self, array: np.ndarray) -> np.ndarray:
        """``array`` of sizes / the one bottleneck of the current pairs, once per array."""
        known = self.times.get(id(array))
        # equivalent: a cache check (a miss computes the same times again)
        if known is None or known[0] is not array:
            known = self.times[id(array)] = (array, array / self.pairs.uniform)
        return known[1]

    def _carry(self, nbytes: np.ndarray) -> None:
        """Bytes per transfer of the current pairs, added up until they are written."""
        if self.carried is not None:
            self.carried += nbytes
        else:
            self.carried = nbytes.astype(np.result_type(nbytes.dtype, np.int64))

    def flush(self) -> None:
        """Write what is pending: the links' last ends, the bytes per route."""
        pairs = self.pairs
        if pairs is None:
            return
        if self.busy is not None:
            self.last_end[pairs.links] = self.busy[pairs.own]
            self.busy = None
        if self.carried is not None:
            self.execution.tally.carry(pairs.ids, self.carried)
            self.carried = None

    def run(self, index: int, schedule: Schedule, ready: np.ndarray, sent: np.ndarray) -> np.ndarray | None:
        """Every round of call ``index``, joined at ``ready`` per participant: when each is ready after the last
        (eager: its own sends' last deliveries in ``sent``), or None where two transfers would share a link.
        Rounds that repeat the pairs of the round before with every transfer moving go in blocks
        (:meth:`_block`)."""
        gamma, k = self.execution.gamma, 0
        self.buffered = schedule.buffered
        while k < schedule.rounds:
            round_ = schedule.sized_round(k)
            alike = self.busy is not None and self._alike(round_)
            if alike and schedule.runs is not None and round_.sizes is not None:  # (every round's: all move)
                run = schedule.runs(k)
                ready = self._run(run, ready, sent, schedule.eager)
                k += len(run.offsets)
            elif alike:
                block, limit = [round_], _block_length(len(round_.src))
                while len(block) < limit and k + len(block) < schedule.rounds:
                    following = schedule.sized_round(k + len(block))
                    if not self._alike(following):
                        break
                    block.append(following)
                rows = [(round_.nbytes, self._transmit(round_), _pause(round_, gamma)) for round_ in block]
                ready = self._block(rows, ready, sent, schedule.eager)
                if ready is not None:
                    self._count(block)
                k += len(block)
            else:
                done = self.round(index, k, round_, ready, sent, schedule.eager)
                ready = None if done is None else done + _combine_after(round_, gamma)
                k += 1
            if ready is None:
                return None
        self.flush()
        return ready

    def _run(self, run: Run, ready: np.ndarray, sent: np.ndarray, eager: bool) -> np.ndarray | None:
        """The rounds of ``run`` (all alike the one before), a block at a time, made from its sizes alone."""
        like, sizes, width, gamma = run.like, run.sizes, len(run.like.src), self.execution.gamma
        transmit = self._times_of(sizes) if self.pairs.uniform is not None else None
        # equivalent: (`or`) gamma 0 pauses 0.0, which adds nothing; a run's ``combined`` is None where it combines none
        combined = run.combined if like.combine is not None and gamma else None
        pauses = gamma * sizes.astype(np.float64) if combined is not None else None  # as _combine_after, per size
        participants = len(ready)
        limit = _block_length(width)
        for first in range(0, len(run.offsets), limit):
            rows = []
            for j in range(first, min(first + limit, len(run.offsets))):
                at = run.offsets[j]
                nbytes = sizes[at: at + width]
                rows.append((nbytes, transmit[at: at + width] if transmit is not None else nbytes / self.pairs.bottleneck,
                             pauses[combined[j]: combined[j] + participants] if pauses is not None else None))
            ready = self._block(rows, ready, sent, eager)
            if ready is None:
                return None
            # (a run is taken only where its rounds state their histogram: run(), so like.sizes is set)
            # equivalent: (`rows[1]`, `[0][1]`) with the histogram stated, count reads only how many sizes
            self.execution.tally.count(rows[0][0], like.sizes, len(rows))
        return ready

    def _count(self, rounds: list[Round]) -> None:
        """The messages of ``rounds`` by size (once, where they state one histogram)."""
        tally, sizes = self.execution.tally, rounds[0].sizes
        if sizes is not None and all(round_.sizes is sizes for round_ in rounds):
            tally.count(rounds[0].nbytes, sizes, len(rounds))  # equivalent: (`[1]`) only how many sizes is read
        else:
            for round_ in rounds:
                tally.count(round_.nbytes, round_.sizes)

    def _same(self, src: np.ndarray, dst: np.ndarray) -> bool:
        pairs = self.pairs
        if pairs is None:
            return False
        # equivalent: (`is … and array_equal`) equal arrays not the same object taken as new pairs: the round at a
        # time with fresh pairs, which gives the same numbers
        same_src = pairs.src is src or np.array_equal(pairs.src, src)
        return same_src and (pairs.dst is dst or np.array_equal(pairs.dst, dst))  # equivalent: (`is … and`) as above

    def _alike(self, round_: Round) -> bool:
        """Whether ``round_`` repeats the current pairs, every transfer moving, every receive awaited."""
        if round_.quorum is not None or not self._same(round_.src, round_.dst):
            return False
        sizes = round_.sizes
        # equivalent: (`> 1`) rounds of some 1-byte message taken one at a time (round()): the same numbers
        return bool(sizes[0][0] > 0 if sizes is not None else (round_.nbytes > 0).all())

    def _block(self, rows: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]], ready: np.ndarray,
               sent: np.ndarray, eager: bool) -> np.ndarray | None:
        """Rounds alike (:meth:`_alike`) following one that used their link-disjoint routes, in one step, each
        given as (bytes, transmission times, pause after it or None): round after round only the recurrence
        (start = the sender's ready, delivery = start + bytes/B + Σα, ready = the latest of its own sends and
        receives + the pause), then one check over them all that no transfer started before its route's
        previous one had left. The participants' ready times after the last round, or None (a shared link)."""
        pairs, count, previous, buffered = self.pairs, len(rows), self.busy, self.buffered
        work = self._work(count, len(ready), eager)
        work.time_rows[0][:] = ready
        identity, receives, latency = pairs.sends.identity, pairs.receives, pairs.hop
        delivery, rotated, head, tail = work.delivery, work.rotated, work.head, work.tail
        add, maximum = np.add, np.maximum
        self._carry(rows[0][0])
        carried, last = self.carried, count - 1
        for j, (nbytes, transmit, pause) in enumerate(rows):
            before, done, ends = work.time_rows[j], work.time_rows[j + 1], work.end_rows[j]
            start = before if identity else pairs.sends.gather(before)
            if eager and not identity:
                work.start_rows[j][:] = start
            add(start, transmit, out=ends)
            if j == last:
                self.busy = ends.copy()
            if buffered:  # its own sends count as they leave (before ``ends`` turns into the deliveries)
                done[:] = before
                pairs.sends.maximum(done, ends)
            add(ends, latency, out=delivery)
            if identity and not eager and not buffered:
                maximum(before, delivery, out=done)
            else:
                if not buffered:
                    done[:] = before
                pairs.sends.maximum(sent if eager or buffered else done, delivery)
            if rotated is not None:  # the receives rotated (as _Spread.maximum): the last deliveries again in front
                head[:] = tail
                maximum(done, rotated, out=done)
            else:
                receives.maximum(done, delivery)
            # equivalent: (`and`) done + 0.0 is done for every done ≥ +0.0 (no time here is −0.0)
            if pause is not None or not identity or eager:
                add(done, 0.0 if pause is None else pause, out=done)  # (none where everyone's own send is in its
                # done: done > 0, and done + 0.0 is done)
            if j:
                carried += nbytes
        # (not eager, a sender's ready includes its own send's delivery or, buffered, its end: never before its route
        # is left)
        if eager:
            starts = work.times if identity else work.starts
            # equivalent: (`starts[:2]`) a sender's starts only grow from round to round
            for start, left in ((starts[:1], previous[None, :]), (starts[1:count], work.tx_end[:count - 1])):
                # equivalent: (`<=`) the first test only spares the second; the second's edge is the tolerance's
                if (start < left).any() and np.any(start < left - _OVERLAP * np.abs(start)):
                    return None
        return work.time_rows[count].copy()

    def _work(self, count: int, participants: int, eager: bool) -> _Work:
        """Arrays for a block of ``count`` rounds of the current pairs, kept from block to block (allocating them
        each time costs page faults)."""
        pairs, work = self.pairs, self.work
        if work is None or work.pairs is not pairs:  # (a stream is one call's: its eager and participants are fixed)
            work = self.work = _Work(pairs, _block_length(len(pairs.src)), participants, eager)
        return work

    def round(self, index: int, k: int, round_: Round, ready: np.ndarray, sent: np.ndarray,
              eager: bool) -> np.ndarray | None:
        """Participants' finish times of round k of call ``index`` (eager: their own sends' deliveries into
        ``sent``), or None where two transfers would share a link."""
        src, dst, nbytes = round_.src, round_.dst, round_.nbytes
        done = ready.copy()
        if not len(src):
            return done
        pairs = self._pairs_of(src, dst)
        sizes = round_.sizes
        # equivalent: (`> 1`) a round of some 1-byte message checked transfer by transfer: the same numbers
        moving = bool(sizes[0][0] > 0) if sizes is not None else bool((nbytes > 0).all())
        if moving and pairs.shared:
            self.execution.known[index, k] = pairs.ids  # the fluid way will route the round again
            return None  # two transfers of this round on one link
        start = pairs.sends.gather(ready)
        if moving:
            tx_end = start + self._transmit(round_)
        else:
            tx_end = start + np.where(nbytes > 0, nbytes / pairs.bottleneck, 0.0)  # equivalent: (`>=`) 0 / B is 0
        if moving and self.busy is not None:  # the same link-disjoint routes as the round before: per route
            # equivalent: (`<=`) the first test only spares the second; the second's edge is the tolerance's
            if (start < self.busy).any() and np.any(start < self.busy - _OVERLAP * np.abs(start)):
                return None
            self.busy = tx_end
        else:
            if self.busy is not None:
                self.last_end[pairs.links] = self.busy[pairs.own]
                self.busy = None
            if moving:
                links, own, shared = pairs.links, pairs.own, pairs.shared
            else:
                links, own = self.execution.routes.incidence(pairs.ids[nbytes > 0])
                shared = bool(len(links)) and int(np.bincount(links).max()) > 1
            if len(links):
                if shared:
                    return None  # two transfers of this round on one link
                first = (start if moving else start[nbytes > 0])[own]
                # equivalent: (`<=`) at exactly the tolerance's edge
                if np.any(first < self.last_end[links] - _OVERLAP * np.abs(first)):
                    return None  # starts before the link's previous transfer has left
                if moving and pairs.linked:
                    self.busy = tx_end
                else:
                    self.last_end[links] = (tx_end if moving else tx_end[nbytes > 0])[own]
        delivery = tx_end + pairs.latency
        self.execution.tally.count(nbytes, sizes)
        self._carry(nbytes)
        if self.buffered:  # a buffered sender's round waits for its sends to have left
            pairs.sends.maximum(done, tx_end)
        pairs.sends.maximum(sent if eager or self.buffered else done, delivery)
        if round_.quorum is None:
            pairs.receives.maximum(done, delivery)
        else:
            self.execution._receive(index, k, round_, src, dst, delivery, done)
        return done


def _block_length(width: int) -> int:
    """Rounds of ``width`` transfers in one block at most (one at least): what a block's arrays hold."""
    return max(1, _BLOCK // width)  # equivalent: (`2`) blocks of any length give the same recurrence


def _pause(round_: Round, gamma: float) -> np.ndarray | None:
    """What :func:`_combine_after` adds, None for nothing."""
    pause = _combine_after(round_, gamma)
    return None if isinstance(pause, float) else pause  # (a float from _combine_after is 0.0)


def _combine_after(round_: Round, gamma: float) -> np.ndarray | float:
    if round_.combine is None or not gamma:
        return 0.0
    return gamma * round_.combine.astype(np.float64)


class _Execution:
    """One program on one network under its faults: the state both ways share."""

    def __init__(self, program: Program, graph: nx.Graph, gamma: float, faults: Faults | None, keep_log: bool) -> None:
        faults = faults or Faults()
        self.program, self.gamma = program, gamma
        self.nodes = [*range(program.workers), *program.servers]  # owner i runs on node nodes[i]
        self.routes = Routes(graph, self.nodes, list(faults.link_failures))
        self.stop_at = self.routes.stop[0] if self.routes.stop is not None else _INF
        owners = program.owners
        crash = np.full(owners, _INF) if faults.crash_s is None else np.asarray(faults.crash_s, dtype=np.float64)
        self.crash = np.concatenate([crash, np.full(owners - len(crash), _INF)])[:owners]  # equivalent: (`+`) cut anyway
        self.limit = np.minimum(self.crash, self.stop_at)  # nothing an owner does starts at or after this
        self.calm = not np.isfinite(self.limit).any() and not faults.link_failures  # nothing can stop anything
        self.jitter_s, self.seed = faults.jitter_s, faults.seed
        self.keep_log = keep_log
        self.owners_of = [program.owner_of(task) if isinstance(task, Collective) else None for task in program.tasks]
        self.known: dict[tuple[int, int], np.ndarray] = {}  # (call, round) → its route ids, where the fast way found them
        self.takes_part = np.zeros((len(program.tasks), owners), dtype=bool)  # [task, owner]
        for index, owner in enumerate(self.owners_of):
            self.takes_part[index, owner if owner is not None else slice(0, program.workers)] = True
        self.reset()

    def reset(self) -> None:
        tasks, owners = len(self.program.tasks), self.program.owners
        self.task_start = np.full((tasks, owners), np.nan)
        self.task_end = np.full((tasks, owners), np.nan)
        self.tally = _Tally()
        self.log = _Log() if self.keep_log else None
        self.rerouted = 0.0
        self.lost: list[tuple[Hashable, Hashable, float]] = []  # (src, dst, bytes never sent) per transfer a crash cut
        self.dropped: dict[int, set[int]] = {}  # quorum call → owners dropped
        self.waits: dict[int, set[int]] = {}  # stuck owner → owners it waits for
        self.last_finish = np.zeros(0)

    # -- what both ways share --------------------------------------------------------------
    def _deps_end(self, index: int, now: float | None = None) -> np.ndarray:
        """Per worker: when the tasks ``index`` waits for have all ended (0 if it waits for none)."""
        n = self.program.workers
        after = self.program.tasks[index].after
        if not after:
            return np.zeros(n)
        ends = self.task_end[list(after), :n]
        return np.where(np.isnan(ends).any(axis=0), np.nan, ends.max(axis=0))

    def _server_free(self, index: int) -> np.ndarray:
        """Per server: the end of the last collective before task ``index`` it took part in (0: none)."""
        n, servers = self.program.workers, len(self.program.servers)
        free = np.zeros(servers)
        if not servers:  # equivalent: a speed-up (no server, nothing to look for)
            return free
        for earlier in range(index):
            owner = self.owners_of[earlier]
            if owner is None:
                continue
            mine = np.unique(owner[owner >= n]) - n
            free[mine] = self.task_end[earlier, n + mine]
        return free

    def _computed(self, deps: np.ndarray, task: Compute) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) of a compute task per worker: it starts when its dependencies end (NaN: they never
        do, or its worker has crashed by then) and ends ``seconds`` later, or never (inf) if its worker
        crashes first."""
        limit = self.limit[:self.program.workers]
        # equivalent: (`<=`) every task's end is before its owner's limit, or inf: deps never equal it
        start = np.where(np.isfinite(deps) & (deps < limit), deps, np.nan)
        end = start + task.seconds
        return start, np.where(end >= limit, _INF, end)

    def _jittered(self, call: int, k: int, start: np.ndarray, index: np.ndarray) -> np.ndarray:
        if not self.jitter_s:
            return start
        return start + self.jitter_s * jitter_fraction(self.seed, call, k, index)

    def result(self, fluid: bool) -> Record:
        """The run's record: times, counts, bytes per link, what went wrong."""
        routes, tally = self.routes, self.tally
        count = len(tally.route_bytes)
        flat = routes.flat[: routes.start[count]] if count else np.zeros(0, dtype=np.int64)
        lengths = routes.length[:count]
        per_link = np.bincount(flat, weights=np.repeat(tally.route_bytes, lengths), minlength=len(routes.bandwidth))
        travelled = np.repeat(tally.touched, lengths)
        used = np.zeros(len(routes.bandwidth), dtype=bool)
        used[flat[travelled]] = True
        names = routes.link_names
        bytes_per_link = {names[i]: int(per_link[i]) for i in np.flatnonzero(used).tolist()}
        bandwidth = {names[i]: float(routes.bandwidth[i]) for i in np.flatnonzero(used).tolist()}
        shortest = np.full(len(routes.bandwidth), np.inf)
        np.minimum.at(shortest, flat[travelled], np.repeat(routes.latency[:count], lengths)[travelled])
        bound = float(np.max(per_link[used] / routes.bandwidth[used] + shortest[used], initial=0.0))
        started = ~np.isnan(self.task_start)
        self.task_end = np.where(started & np.isnan(self.task_end), _INF, self.task_end)
        stopped, crashed, waiting = self._outcome()
        ended = np.nanmax(np.where(np.isfinite(self.task_end), self.task_end, np.nan), initial=0.0) \
            if self.task_end.size else 0.0
        if stopped is not None and stopped.startswith("network partitioned"):
            over = self.routes.stop_stated
        elif stopped == "stuck":  # its workers wait for ever: the run never ends, every failure comes
            over = _INF
        else:  # it ends as its last worker finishes or crashes: a failure due after that never comes
            # equivalent: (`<=`) a server's crash listed here is never after the last worker's (``_outcome``)
            over = max([ended, *(at for owner, at in crashed if owner < self.program.workers)])
        failed = [(at, u, v) for u, v, at in self.routes.failures if at <= over]
        record = Record(self.last_finish, tally.messages, dict(sorted(tally.sizes.items())),
                           dict(sorted(bytes_per_link.items())), bandwidth, fluid, bound,
                           self.task_start, self.task_end, stopped, crashed,
                           [sorted(owners) for _, owners in sorted(self.dropped.items())], self.rerouted, failed,
                           waiting, (lambda log=self.log: log.message_log(routes)) if self.log is not None else None,
                           self.lost,
                           self.log.posted(self.nodes) if self.log is not None else {})
        if stopped is not None and stopped.startswith("network partitioned"):
            record.stopped_at = self.routes.stop_stated
        return record

    def _outcome(self) -> tuple[str | None, list[tuple[int, float]], dict[Hashable, list[Hashable]]]:
        """Why the run stopped (None: every live worker finished), the crashes that hit, who waits on whom."""
        n, end = self.program.workers, self.task_end
        finished = (np.isfinite(end) | ~self.takes_part).all(axis=0)  # (a finite end is before its owner's crash)
        crashes = np.flatnonzero(np.isfinite(self.crash)).tolist()
        # equivalent: (`<=`) a crash at the instant a partition acts, t·(1 − 1e-12), is no crash one can state
        before_stop = [owner for owner in crashes if self.crash[owner] < self.stop_at]
        hit = [(owner, float(self.crash[owner])) for owner in before_stop if not finished[owner]]
        down = {owner for owner, _ in hit}
        live = [owner for owner in range(n) if owner not in down]
        unfinished = [owner for owner in live if not finished[owner]]
        nodes = self.nodes
        waiting = {nodes[owner]: sorted({nodes[src] for src in sources}, key=str)
                   for owner, sources in sorted(self.waits.items()) if owner not in down}
        if self.stop_at < _INF and unfinished:
            return self.routes.stop[1], hit, {}
        if n and not live:  # the run ends at the last worker's crash: a server's due later never comes
            last = max(at for owner, at in hit if owner < n)
            return "every worker crashed", [(owner, at) for owner, at in hit if at <= last], {}
        if unfinished:
            return "stuck", hit, waiting
        return None, hit, {}

    # -- round at a time ------------------------------------------------------------------
    def fast(self) -> bool:
        """The whole program a round at a time; False at the first shared link or failure under a transfer."""
        self.reset()
        last_end = np.full(len(self.routes.bandwidth), -np.inf)
        n = self.program.workers
        for index, task in enumerate(self.program.tasks):
            deps = self._deps_end(index)
            if isinstance(task, Compute):
                self.task_start[index, :n], self.task_end[index, :n] = self._computed(deps, task)
                continue
            entry = np.concatenate([deps, self._server_free(index)])
            if not self._call_fast(index, task, entry, last_end):
                return False
        return True

    def _call_fast(self, index: int, call: Collective, entry_owner: np.ndarray, last_end: np.ndarray) -> bool:
        schedule, routes = call.schedule, self.routes
        owner = self.owners_of[index]
        entry_owner = np.where(np.isnan(entry_owner), _INF, entry_owner)
        joined = entry_owner[owner]
        limit = self.limit[owner]
        # equivalent: (`<=`) an owner crashing as it joins: its sends never leave (``start < limit``), its rounds
        # end at inf (``ready >= limit``) and its call never began (``_call_ended``)
        ready = np.where(joined < limit, joined + call.delay_s, _INF)
        sent = ready.copy()  # eager: the last delivery of each participant's own sends
        crash_src = self.crash[owner]
        plain = self.calm and not self.jitter_s and self.log is None and not routes.failures
        if plain:  # nothing can go wrong: the rounds as a stream
            ready = _Stream(self, owner, last_end).run(index, schedule, ready, sent)
            if ready is None:
                return False
        for k in range(0 if plain else schedule.rounds):
            if not self.calm and not np.isfinite(ready).any():
                break  # nobody can go on: the rest of the call never happens
            round_ = schedule.sized_round(k)
            src, dst, nbytes = round_.src, round_.dst, round_.nbytes
            done = ready.copy()
            if len(src):
                start = self._jittered(index, k, ready[src], np.arange(len(src)))
                go = slice(None) if self.calm else np.flatnonzero(start < limit[src])
                # equivalent: (`or`) a speed-up: no jitter, a transfer leaves when ready; calm, nobody crashes
                if self.jitter_s and not self.calm:  # ready before its crash, due to leave after it: never leaves
                    # equivalent: (`>`) a jittered start equal to its sender's crash to the last bit: the draw
                    # is U[0, 1) from the seed, not an instant a scenario states
                    never = np.flatnonzero((ready[src] < crash_src[src]) & (start >= crash_src[src]))
                    self.lost += [(self.nodes[owner[src[i]]], self.nodes[owner[dst[i]]], float(nbytes[i]))
                                  for i in never.tolist()]
                delivery = np.full(len(src), _INF)
                left = np.full(len(src), _INF) if schedule.buffered else None  # when each one's last byte left
                if self.calm or len(go):
                    s_go, nb = start[go], nbytes[go]
                    epoch = routes.epoch(s_go) if len(routes.failures) else 0
                    ids = routes.lookup(owner[src[go]], owner[dst[go]], epoch)
                    transmit = np.where(nb > 0, nb / routes.bottleneck[ids], 0.0)  # equivalent: (`>=`) 0 / B is 0
                    tx_end = s_go + transmit
                    if left is not None:
                        left[go] = tx_end
                    for u, v, at in routes.failures:
                        # equivalent: (`<=`, `>=`) a failure as a transfer starts or ends is then handed to the
                        # fluid way, which gives the same times (tests: a link failing at t = 0, as a byte leaves)
                        under = (s_go < at) & (tx_end > at)
                        if under.any() and routes.crosses(ids[under], {routes.link_index[u, v],
                                                                       routes.link_index[v, u]}).any():
                            return False  # a link fails under a transfer: its bytes take a new route
                    arrive = tx_end + routes.latency[ids]
                    if not self.calm:
                        # equivalent: (`>` for `>=`) an arrival at exactly a partition's acting instant,
                        # t·(1 − 1e-12): no scenario states it (README: the hair before a partition)
                        arrive = np.where((tx_end > crash_src[src[go]]) | (arrive >= self.stop_at), _INF, arrive)
                    delivery[go] = arrive
                    moving = nb > 0
                    links, own = routes.incidence(ids[moving])
                    if len(links):
                        if np.bincount(links).max() > 1:
                            return False  # two transfers of this round on one link
                        first = s_go[moving][own]
                        # equivalent: (`<=`) at exactly the tolerance's edge
                        if np.any(first < last_end[links] - _OVERLAP * np.abs(first)):
                            return False  # starts before the link's previous transfer has left
                        busy = tx_end if self.calm else np.minimum(tx_end, crash_src[src[go]])  # a cut one frees it
                        last_end[links] = busy[moving][own]
                    self.tally.add(ids, nb, round_.sizes if self.calm else None)
                    if not self.calm:
                        self._cut(owner[src[go]], owner[dst[go]], ids, nb, s_go, tx_end, crash_src[src[go]])
                    if routes.failures:
                        self.rerouted += float(nb[routes.rerouted[ids]].sum())
                    if self.log is not None:
                        ok = np.isfinite(arrive)
                        self.log.add(owner[src[go]][ok], owner[dst[go]][ok], nb[ok], s_go[ok], delivery[go][ok],
                                     round_.phase, ids[ok], ready[src[go]][ok])
                np.maximum.at(sent if schedule.detached else done, src, delivery)
                if left is not None:  # a buffered sender's round waits for its sends to have left
                    np.maximum.at(done, src, left)
                self._receive(index, k, round_, src, dst, delivery, done)
                if not self.calm:
                    for p in np.flatnonzero(np.isfinite(ready) & ~np.isfinite(done)).tolist():  # stuck: on whom
                        late = src[(dst == p) & ~np.isfinite(delivery)]
                        self.waits.setdefault(int(owner[p]), set()).update(owner[late].tolist())
            ready = done + _combine_after(round_, self.gamma)
            if not self.calm:
                # equivalent: (`>`) ready at exactly its crash: its next sends never leave (``start < limit``)
                # and its finish is cut below (``finish >= limit``)
                ready = np.where(ready >= limit, _INF, ready)  # it stops before it has left the round
        finish = np.maximum(ready, sent) if schedule.detached else ready
        if not self.calm:
            finish = np.where(finish >= limit, _INF, finish)
        self._call_ended(index, owner, joined, finish)
        return True

    def _cut(self, src: np.ndarray, dst: np.ndarray, ids: np.ndarray, nbytes: np.ndarray, start: np.ndarray,
             tx_end: np.ndarray, crash: np.ndarray) -> None:
        """Transfers still transmitting when their sender crashed: the bytes not yet sent never leave (off
        their route's count, noted as lost)."""
        for i in np.flatnonzero(tx_end > crash).tolist():
            unsent = float(nbytes[i] - self.routes.bottleneck[ids[i]] * (crash[i] - start[i]))
            self.tally.route_bytes[ids[i]] -= round(unsent)
            self.lost.append((self.nodes[src[i]], self.nodes[dst[i]], unsent))

    def _receive(self, index: int, k: int, round_: Round, src: np.ndarray, dst: np.ndarray, delivery: np.ndarray,
                 done: np.ndarray) -> None:
        """Round k's deliveries into the receivers' finish times: all of them, or the first ``quorum``."""
        quorum = round_.quorum
        if quorum is None:
            np.maximum.at(done, dst, delivery)
            return
        plain = quorum[dst] == 0
        np.maximum.at(done, dst[plain], delivery[plain])
        owner = self.owners_of[index]
        for p in np.flatnonzero(quorum).tolist():
            mine = np.flatnonzero(dst == p)
            order = mine[np.lexsort((src[mine], delivery[mine]))]
            kept, rest = order[: quorum[p]], order[quorum[p]:]
            last = float(delivery[kept].max(initial=-np.inf)) if len(kept) == quorum[p] else _INF
            done[p] = max(done[p], last)
            if np.isfinite(last):
                self.dropped.setdefault(index, set()).update(owner[src[rest]].tolist())

    def _call_ended(self, index: int, owner: np.ndarray, joined: np.ndarray, finish: np.ndarray) -> None:
        """Each owner of a call started it when it joined (unless it had crashed by then) and ended it when
        its last participant left."""
        owners = self.program.owners
        start = np.full(owners, np.nan)
        start[owner] = np.where(np.isfinite(joined) & (joined < self.limit[owner]), joined, np.nan)
        end = np.full(owners, -np.inf)
        np.maximum.at(end, owner, finish)
        taking = np.zeros(owners, dtype=bool)
        taking[owner] = True
        self.task_start[index] = np.where(taking, start, np.nan)
        self.task_end[index] = np.where(taking & ~np.isnan(start), end, np.nan)
        self.last_finish = np.where(np.isfinite(finish), finish, np.nan)

    # -- fluid events ---------------------------------------------------------------------
    def fluid(self) -> None:
        """The program one instant at a time, with max-min fair sharing of every link."""
        self.reset()
        _Fluid(self).run()


class _ByEnd:
    """A round's transfers by the participant at one end (``ends``: each transfer's sender, or receiver), found for
    a group of participants without a pass over all of them."""

    def __init__(self, ends: np.ndarray, participants: int) -> None:
        self.count = np.bincount(ends, minlength=participants)  # transfers per participant
        self.order = np.argsort(ends, kind="stable")  # the transfers, participant by participant
        self.first = np.cumsum(self.count) - self.count  # where each participant's are in ``order``
        self.single = bool((self.count == 1).all())

    def of(self, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(transfers, member): the transfers whose end is in ``group`` (participants, no repeats) and, for each,
        the position in ``group`` of its end."""
        if self.single:  # (then ``first`` is 0, 1, …)
            return self.order[group], np.arange(len(group))
        counts = self.count[group]
        member = np.repeat(np.arange(len(group)), counts)
        before = np.cumsum(counts) - counts  # where each member's transfers start in the result
        return self.order[np.repeat(self.first[group] - before, counts) + np.arange(len(member))], member


class _Pattern:
    """Rounds between the same (sender, receiver) arrays: their route ids, once all are known, and the bytes each
    of its transfers carried (over every round launched so far) not yet in the tally — whole bytes, added up
    exactly in any order."""

    def __init__(self, src: np.ndarray, dst: np.ndarray) -> None:
        self.src, self.dst = src, dst
        self.ids: np.ndarray | None = None
        self.carried = self.launched = np.zeros(0)  # equivalent: (`1`) ``found`` replaces both before any carry

    def found(self, ids: np.ndarray) -> None:
        self.ids = ids
        self.carried = np.zeros(len(ids), dtype=np.int64)
        self.launched = np.zeros(len(ids), dtype=bool)  # (a launch of 0 bytes still marks its route taken)

    def carry(self, i: np.ndarray | slice, nbytes: np.ndarray) -> None:
        """Transfers ``i`` (no repeats) launched with ``nbytes`` bytes."""
        self.carried[i] += nbytes
        self.launched[i] = True

    def tally(self, tally: _Tally) -> None:
        if self.launched.any():
            tally.carry(self.ids[self.launched], self.carried[self.launched])
            self.carried[:] = 0
            self.launched[:] = False


class _CallState:
    """A collective under way in the fluid way: per participant its round, when it may start it, whether
    it has entered it, what it still waits for; the rounds some participant is in, with their deliveries."""

    def __init__(self, ex: _Execution, index: int, call: Collective) -> None:
        self.index, self.call, self.schedule = index, call, call.schedule
        self.owner = ex.owners_of[index]
        size = len(self.owner)
        self.current = np.zeros(size, dtype=np.int64)
        self.ready = np.full(size, _INF)
        self.entered = np.zeros(size, dtype=bool)
        self.outstanding = np.zeros(size, dtype=np.int64)
        self.sends_left = np.zeros(size, dtype=np.int64)  # eager: own sends not yet delivered
        self.sent = np.zeros(size)  # eager: the latest delivery of its own sends
        self.joined = np.full(size, np.nan)
        self.dead = np.zeros(size, dtype=bool)
        self.finish = np.full(size, np.nan)
        self.cache: dict[int, list[Any]] = {}  # k → [round, delivered flags, arrivals so far per participant, pause]
        # equivalent: (`1`) a participant in ``pending`` that does not wait is dropped by ``waiting``
        self.pending = np.zeros(0, dtype=np.int64)  # in order: all participants waiting to enter a round (and some not)
        self.fresh: np.ndarray | None = None  # those of them waiting, where nobody has moved since they were found
        self.through = False  # some participant has passed the last round
        self.ends: dict[int, tuple[np.ndarray, _ByEnd]] = {}  # id of a round's src or dst → (it, transfers by end)
        self.routed: dict[tuple[int, int], _Pattern] = {}  # (ids of a round's src, dst) → their pattern

    def pattern(self, round_: Round, routes: Routes, tally: _Tally) -> _Pattern | None:
        """The pattern of ``round_``'s pairs (rounds of one share them: a ring's) in epoch 0, where it was met
        before and every route is known already; else None."""
        key = (id(round_.src), id(round_.dst))
        known = self.routed.get(key)
        # equivalent: a cache check (a miss looks the routes up again)
        if known is None or known.src is not round_.src or known.dst is not round_.dst:
            if len(self.routed) >= _ROUNDS_KEPT:  # equivalent: (`>`) forgetting only costs looking up again
                self.tally(tally)
                self.routed.clear()
            self.routed[key] = _Pattern(round_.src, round_.dst)  # met once: a round of its own is looked up alone
            return None
        if known.ids is None:
            ids = routes.found(self.owner[round_.src], self.owner[round_.dst])
            if ids is None:
                return None
            known.found(ids)
        return known

    def tally(self, tally: _Tally) -> None:
        """What the patterns carried into ``tally``."""
        for pattern in self.routed.values():
            pattern.tally(tally)

    def by_end(self, ends: np.ndarray) -> _ByEnd:
        """``ends``' transfers by participant, once per array (rounds of one pattern share theirs: a ring's)."""
        known = self.ends.get(id(ends))
        # equivalent: a cache check (a miss indexes the same array again)
        if known is None or known[0] is not ends:
            if len(self.ends) >= _ROUNDS_KEPT:  # equivalent: forgetting only costs indexing again
                self.ends.clear()
            known = self.ends[id(ends)] = (ends, _ByEnd(ends, len(self.owner)))
        return known[1]

    def get(self, k: int) -> list[Any]:
        entry = self.cache.get(k)
        if entry is None:
            round_ = self.schedule.sized_round(k)
            entry = self.cache[k] = [round_, np.zeros(len(round_.src), dtype=bool),
                                     np.zeros(len(self.owner), dtype=np.int64), None]
        return entry

    def pause(self, k: int, gamma: float) -> np.ndarray | float:
        """What :func:`_combine_after` adds after round k, made once per round."""
        entry = self.get(k)
        if entry[3] is None:
            entry[3] = _combine_after(entry[0], gamma)
        return entry[3]

    def may_wait(self, members: np.ndarray) -> None:
        """Participants ``members`` (in order, no repeats) have been given a time to enter their next round."""
        self.pending = _distinct(np.concatenate([self.pending, members])) if len(self.pending) else members
        self.fresh = None

    def moved(self) -> None:
        """Some participant entered a round or died: who waits is to be found again."""
        self.fresh = None

    def waiting(self) -> np.ndarray:
        """The participants waiting to enter a round — not in one, alive, with rounds left, ready at a finite
        time — in order (the others are dropped from ``pending``): those only (``_start_tasks`` and ``_leave``
        tell :meth:`may_wait` every participant they give a time to), found again only after some participant
        was given a time, entered a round or died (:meth:`moved`)."""
        if self.fresh is not None:
            return self.fresh
        pending = self.pending
        still = ~self.entered[pending] & ~self.dead[pending] & (self.current[pending] < self.schedule.rounds) \
            & np.isfinite(self.ready[pending])
        if not still.all():
            pending = self.pending = pending[still]
        self.fresh = pending
        return pending


class _Rows:
    """A table of transfers (columns: call, round, index, …) kept in chunks as they were added: its rows are the
    chunks' in turn, in order. Each instant moves a few groups of transfers from table to table, so a chunk
    often leaves whole (no copy); for a table with a time ``at`` (fixed when a row is added), each chunk's
    earliest and latest are kept, so that taking the rows due reads only the chunks that hold some."""

    def __init__(self, ints: tuple[str, ...], floats: tuple[str, ...]) -> None:
        self.types = {**{key: np.int64 for key in ints}, **{key: np.float64 for key in floats}}
        self.chunks: list[dict[str, np.ndarray]] = []
        self.bounds: list[tuple[float, float]] = []  # per chunk, its earliest and latest ``at`` (a table with one)
        self.merged = False  # some chunk holds rows added apart
        self.as_added = False  # the rows last due are of one chunk as it was added (or some of them, in order)

    def __len__(self) -> int:
        return sum(len(chunk["call"]) for chunk in self.chunks)

    def add(self, **columns: Any) -> None:
        """Rows after the others (none where the columns are empty)."""
        chunk = {key: np.asarray(columns[key], dtype=kind) for key, kind in self.types.items()}
        if len(chunk["call"]):
            self.chunks.append(chunk)
            self.bounds.append(_bounds(chunk))

    def column(self, key: str) -> np.ndarray:
        """One column over every row."""
        if len(self.chunks) == 1:
            return self.chunks[0][key]
        return np.concatenate([chunk[key] for chunk in self.chunks]) if self.chunks else np.zeros(0, self.types[key])

    def earliest(self) -> float | None:
        """The earliest ``at`` of any row (None: no row)."""
        return min(low for low, _ in self.bounds) if self.bounds else None

    def due(self, now: float) -> dict[str, np.ndarray] | None:
        """The rows whose ``at`` has come (None: none), in order, taken out of the table."""
        taken, chunks, bounds = [], [], []
        for chunk, (low, high) in zip(self.chunks, self.bounds):
            if low > now:
                chunks.append(chunk)
                bounds.append((low, high))
            elif high <= now:
                taken.append(chunk)
            else:
                come = chunk["at"] <= now
                taken.append(_kept(chunk, come))
                chunks.append(_kept(chunk, ~come))
                bounds.append(_bounds(chunks[-1]))
        if not taken:
            return None
        self.chunks, self.bounds, self.as_added = chunks, bounds, len(taken) == 1 and not self.merged
        return taken[0] if len(taken) == 1 else {key: np.concatenate([chunk[key] for chunk in taken])
                                                 for key in self.types}

    def replace(self, chunks: list[dict[str, np.ndarray]]) -> None:
        """These chunks (none empty) instead of the table's, with their bounds."""
        self.chunks, self.bounds = chunks, [_bounds(chunk) for chunk in chunks]

    def taken(self) -> dict[str, np.ndarray] | None:
        """Every row, in order, taken out of the table (None: none)."""
        if not self.chunks:
            return None
        rows = self.whole()
        self.chunks, self.bounds = [], []
        return rows

    def whole(self) -> dict[str, np.ndarray]:
        """Every row in one chunk (the table's only one from now on: changes to it are the table's)."""
        if len(self.chunks) != 1:
            self.keep(None)
        return self.chunks[0]

    def keep(self, rows: np.ndarray | None) -> None:
        """Keep only the ``rows`` (a mask over every row; None: all), in one chunk."""
        every = {key: self.column(key) for key in self.types}
        self.merged |= len(self.chunks) > 1  # equivalent: (`>=`) a table marked merged only costs an order check
        kept = every if rows is None else _kept(every, rows)
        self.chunks = [kept] if len(kept["call"]) else []  # (a table holds no empty chunk)
        self.bounds = [_bounds(kept)] if len(kept["call"]) else []


def _kept(chunk: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {key: value[rows] for key, value in chunk.items()}


def _bounds(chunk: dict[str, np.ndarray]) -> tuple[float, float]:
    """A chunk's earliest and latest ``at`` (where it has one and some rows)."""
    at = chunk.get("at")
    return (float(at.min()), float(at.max())) if at is not None and len(at) else (_INF, -_INF)


def _one_if_all(values: np.ndarray) -> np.ndarray:
    """``values``, as one number seen at every place (a read-only view) where they are all one."""
    if len(values) and values.min() == values.max():
        return np.broadcast_to(values[:1].copy(), values.shape)  # (a copy: the view would keep all of values)
    return values


class _Fluid:
    """The fluid way through a program (see the module docstring)."""

    def __init__(self, ex: _Execution) -> None:
        self.ex = ex
        self.calls: dict[int, _CallState] = {}
        self.now = 0.0
        self.wakeups: list[float] = []  # future instants owners' tasks end at
        # transfers waiting to start (jitter), transmitting, propagating: call, round, index (+ more)
        self.wait = _Rows(("call", "k", "i"), ("at", "issued"))
        self.tx = _Rows(("call", "k", "i", "route"), ("left", "rate", "start", "issued"))
        self.pr = _Rows(("call", "k", "i", "route"), ("at", "start", "issued"))
        self.left = _Rows(("call", "k", "i"), ())  # transfers whose last byte has just left (for :meth:`_left`)
        self.buffered = any(isinstance(task, Collective) and task.schedule.buffered for task in ex.program.tasks)
        self.changed = False
        self.filled: dict[tuple[bytes, ...], list[np.ndarray]] = {}  # chunks' routes → their rates (see _rates)
        self.filled_bytes = 0  # equivalent: (`1`) the rate cache's bound, one byte sooner
        self.carrying: list[tuple[np.ndarray, np.ndarray]] = []  # (routes, bytes) launched, not yet in the tally
        self.carrying_rows = 0  # equivalent: (`1`) a tally block a row sooner: sums of whole bytes
        self.names: dict[int, tuple[np.ndarray, bytes]] = {}  # id of a chunk's routes → (them, as bytes)
        self.interned: dict[bytes, bytes] = {}  # chunks' routes as bytes: one object per content (keys compare fast)
        self.kept: dict[tuple[int, int, int], set[int]] = {}
        self.settled = np.zeros(len(ex.program.tasks), dtype=bool)  # tasks every owner has started
        self.begun = np.zeros((len(ex.program.tasks), ex.program.owners), dtype=bool)  # compute tasks handled  # (call, round, participant) → the senders it took
        self.crashes = sorted((float(at), owner) for owner, at in enumerate(ex.crash) if np.isfinite(at))
        self.failures = list(ex.routes.failures)
        self.epoch = 0

    # -- owners' tasks ------------------------------------------------------------------------
    def _start_tasks(self) -> bool:
        """Start every task whose owners' dependencies have ended by now; whether any started."""
        ex, now, n = self.ex, self.now, self.ex.program.workers
        started = False
        for index, task in enumerate(ex.program.tasks):
            if self.settled[index]:  # equivalent: a speed-up (every owner has started it: nothing new to start)
                continue
            deps = ex._deps_end(index)
            if isinstance(task, Compute):
                new = ~self.begun[index, :n] & np.isfinite(deps) & (deps <= now)
                if new.any():
                    self.begun[index, :n] |= new
                    self.settled[index] = self.begun[index, :n].all()
                    start, end = ex._computed(deps, task)
                    ex.task_start[index, :n][new] = start[new]
                    ex.task_end[index, :n][new] = end[new]
                    for t in end[new & np.isfinite(end)].tolist():
                        heapq.heappush(self.wakeups, t)
                    started = True
                continue
            entry = np.concatenate([deps, ex._server_free(index)])
            state = self.calls.get(index)
            owner = ex.owners_of[index]
            joined_owner = entry[owner]
            pending = np.isnan(state.joined) if state is not None else np.ones(len(owner), dtype=bool)
            new = pending & np.isfinite(joined_owner) & (joined_owner <= now)
            if not new.any():
                continue
            if state is None:
                state = self.calls[index] = _CallState(ex, index, task)
            state.joined[new] = joined_owner[new]
            self.settled[index] = not np.isnan(state.joined).any()
            limit = ex.limit[owner]
            alive = new & (joined_owner < limit)
            state.ready[alive] = joined_owner[alive] + task.delay_s
            state.may_wait(np.flatnonzero(alive))
            state.dead[new & ~alive] = True
            state.moved()
            ex.task_start[index, owner[new]] = np.where(joined_owner[new] < limit[new], joined_owner[new], np.nan)
            self._finish_if_empty(state)
            started = True
        return started

    def _finish_if_empty(self, state: _CallState) -> None:
        """A schedule with no rounds: its participants leave as they arrive."""
        if state.schedule.rounds:
            return
        done = ~np.isnan(state.joined) & np.isnan(state.finish) & ~state.dead
        state.finish[done] = np.maximum(state.ready[done], state.joined[done])
        self._owners_done(state)

    def _owners_done(self, state: _CallState) -> None:
        """Owners all of whose participants left the call (or are dead) have ended it."""
        ex = self.ex
        for o in np.unique(state.owner).tolist():
            mine = state.owner == o
            if not np.isnan(ex.task_end[state.index, o]):
                continue
            if (state.dead[mine]).any():  # it never ends (never began, if it had crashed before it joined)
                if not np.isnan(state.joined[mine]).any() and not np.isnan(ex.task_start[state.index, o]):
                    ex.task_end[state.index, o] = _INF
                continue
            if not np.isnan(state.finish[mine]).any():
                end = float(state.finish[mine].max())
                ex.task_end[state.index, o] = end
                if end > self.now:  # equivalent: (`>=`) a wakeup at now is popped unread at the loop's next turn
                    heapq.heappush(self.wakeups, end)

    # -- rounds ---------------------------------------------------------------------------
    def _enter_rounds(self) -> bool:
        """Participants ready by now enter their round: its transfers leave (or wait out their jitter)."""
        ex, now = self.ex, self.now
        entered_any = False
        for index, state in list(self.calls.items()):
            while True:
                waiting = state.waiting()
                entering = waiting[state.ready[waiting] <= now]
                if not len(entering):
                    break
                entered_any = True
                current = state.current[entering]
                rounds = _values(current)
                for k in rounds:
                    group = entering if len(rounds) == 1 else entering[current == k]
                    round_, delivered, got, _ = state.get(k)
                    by_src = state.by_end(round_.src)
                    sends = np.sort(by_src.of(group)[0])
                    own = np.ones(len(group), dtype=np.int64) if by_src.single else by_src.count[group]  # its sends
                    if state.schedule.detached:  # until they are delivered, for its end of the call
                        state.sends_left[group] += own
                    if state.schedule.eager:  # (its sends are not waited for; buffered: until they have left)
                        own = np.zeros(len(group), dtype=np.int64)
                    by_dst = state.by_end(round_.dst)
                    receives, receiver = by_dst.of(group)
                    if by_dst.single:  # (member j's receive is receives[j])
                        needs = (~delivered[receives]).astype(np.int64)
                    else:
                        needs = np.bincount(receiver[~delivered[receives]], minlength=len(group))
                    quorum = round_.quorum
                    if quorum is not None:
                        q = quorum[group].astype(np.int64)
                        needs = np.where(q > 0, np.maximum(q - got[group], 0), needs)
                    state.outstanding[group] = own + needs
                    state.entered[group] = True
                    if len(sends):
                        issued = state.ready[round_.src[sends]]
                        start = ex._jittered(index, k, issued, sends)
                        self.wait.add(call=np.full(len(sends), index), k=np.full(len(sends), k), i=sends,
                                      at=start, issued=issued)
                state.pending = state.fresh = waiting[state.ready[waiting] > now]  # (the others entered)
                idle = entering[state.outstanding[entering] == 0]  # (all of them entered)
                if len(idle):
                    self._leave(state, idle)
        return entered_any

    def _leave(self, state: _CallState, members: np.ndarray) -> None:
        """Participants ``members`` (entered, nothing outstanding) leave their round now."""
        now, ex = self.now, self.ex
        current = state.current[members]
        rounds = _values(current)
        for k in rounds:
            group = members if len(rounds) == 1 else members[current == k]
            pause = state.pause(k, ex.gamma)
            ready = now + (pause[group] if isinstance(pause, np.ndarray) else pause)
            if ex.calm:  # (no limit: a finite time is before it)
                state.ready[group] = ready
                continue
            limit = ex.limit[state.owner[group]]
            # equivalent: (`>`) ready at exactly its crash: the crash, due at that instant, marks it dead
            # before it can enter a round (``_crash``; the loop acts on faults first)
            state.ready[group] = np.where(ready >= limit, _INF, ready)
            state.dead[group] |= ready >= limit  # equivalent: (`>`) as above
        state.current[members] = current + 1
        state.through |= rounds[-1] + 1 == state.schedule.rounds
        state.entered[members] = False
        state.may_wait(members)
        self._maybe_finish(state, members)
        self._forget(state)

    def _maybe_finish(self, state: _CallState, members: np.ndarray) -> None:
        """Participants past the last round whose eager sends are all delivered have finished the call
        (``members``: repeats allowed)."""
        if not state.through:
            return
        members = members[state.current[members] == state.schedule.rounds]
        if not len(members):
            return
        done = members[(state.sends_left[members] == 0) & np.isnan(state.finish[members]) & ~state.dead[members]]
        if len(done):
            state.finish[done] = np.maximum(state.ready[done], state.sent[done]) if state.schedule.detached \
                else state.ready[done]
            self._owners_done(state)

    def _forget(self, state: _CallState) -> None:
        """Drop the rounds no participant or transfer is in any more (looked for once more than ``_ROUNDS_KEPT``
        are kept: the look costs a pass over every participant and transfer)."""
        if len(state.cache) <= _ROUNDS_KEPT:  # equivalent: (`<`) looking once sooner drops only what may go
            return
        oldest = int(state.current[~state.dead].min(initial=state.schedule.rounds))
        for table in (self.wait, self.tx, self.pr):
            mine = table.column("call") == state.index
            if mine.any():
                oldest = min(oldest, int(table.column("k")[mine].min()))
        for k in [k for k in state.cache if k < oldest]:
            del state.cache[k]

    # -- transfers ------------------------------------------------------------------------
    def _launch(self) -> None:
        """Transfers whose start has come leave now: counted, routed in this epoch, on the wire."""
        launching = self.wait.due(self.now)
        if launching is None:
            return
        ex, routes = self.ex, self.ex.routes
        # (a chunk as added is one group's sends, in order)
        # equivalent: (`or`) a stable sort of rows in order leaves them so
        if not self.wait.as_added and not _in_order(launching["call"], launching["k"], launching["i"]):
            launching = _kept(launching, np.lexsort((launching["i"], launching["k"], launching["call"])))
        for index in _values(launching["call"]):
            state = self.calls[index]
            mine = _rows(launching["call"] == index)
            ks, iis, sent = launching["k"][mine], launching["i"][mine], launching["issued"][mine]
            for k in _values(ks):
                this = _rows(ks == k)
                i, issued = iis[this], sent[this]
                round_ = state.get(k)[0]
                whole = _everything(i, len(round_.src))  # the round's transfers, all of them, in order
                nbytes = round_.nbytes if whole else round_.nbytes[i]
                # equivalent: (`!=`, `1`) only calm runs (no failure) fill ``known``, and their epoch stays 0
                known, pattern = ex.known.get((index, k)) if self.epoch == 0 else None, None
                if known is None and self.epoch == 0 and nbytes.dtype.kind in "iu":
                    pattern = state.pattern(round_, routes, ex.tally)
                    known = pattern.ids if pattern is not None else None
                if known is not None:
                    ids = known if whole else known[i]
                else:
                    src, dst = (round_.src, round_.dst) if whole else (round_.src[i], round_.dst[i])
                    ids = routes.lookup(state.owner[src], state.owner[dst], self.epoch)
                if pattern is not None:
                    ex.tally.count(nbytes)
                    pattern.carry(slice(None) if whole else i, nbytes)
                else:
                    self._carry(ids, nbytes)
                if routes.failures:
                    ex.rerouted += float(nbytes[routes.rerouted[ids]].sum())
                # equivalent: (`>=`) a 0-byte transfer put on the wire ends within the instant, then propagates
                moving = nbytes > 0
                count = int(moving.sum())
                moving = _rows(moving)
                self.tx.add(call=np.full(count, index), k=np.full(count, k), i=i[moving], route=ids[moving].copy(),
                            left=nbytes[moving].astype(np.float64), rate=np.zeros(count), start=np.full(count, self.now),
                            issued=issued[moving])
                still = nbytes <= 0
                if count < len(nbytes):  # equivalent: (`<=`) adding no row
                    self.pr.add(call=np.full(int(still.sum()), index), k=np.full(int(still.sum()), k), i=i[still],
                                route=ids[still], at=self.now + routes.latency[ids[still]],
                                start=np.full(int(still.sum()), self.now), issued=issued[still])
                self.changed |= bool(count)
                if state.schedule.buffered and count < len(nbytes):  # no byte to send: it has left as it starts
                    self.left.add(call=np.full(int(still.sum()), index), k=np.full(int(still.sum()), k), i=i[still])
        self._left()

    def _carry(self, routes: np.ndarray | None = None, nbytes: np.ndarray | None = None) -> None:
        """Messages of ``nbytes`` on ``routes`` into the tally, a few hundred thousand at once (its counts by size
        add up, its bytes per route are sums of whole bytes: exact in any order); with none, all that waits,
        what the patterns carried (:class:`_Pattern`) too."""
        everything = routes is None
        if not everything:
            self.carrying.append((routes, nbytes))
            self.carrying_rows += len(routes)
        # equivalent: (`>`, and `1` below) a tally block a row later or sooner: sums of whole bytes
        if self.carrying and (everything or self.carrying_rows >= _BLOCK):
            self.ex.tally.add(*(np.concatenate(column) for column in zip(*self.carrying)))
            self.carrying, self.carrying_rows = [], 0  # equivalent: (`1`) the next block a row sooner
        if everything:  # and what the rounds' patterns carried
            for state in self.calls.values():
                state.tally(self.ex.tally)

    def _deliver(self) -> None:
        """Transfers whose delivery has come arrive: their receivers (and non-eager senders) count them."""
        landing = self.pr.due(self.now)
        if landing is None:
            return
        ex = self.ex
        for index in _values(landing["call"]):
            state = self.calls[index]
            mine = _rows(landing["call"] == index)
            ks, iis = landing["k"][mine], landing["i"][mine]
            fell: list[np.ndarray] = []  # participants whose outstanding fell: only they may leave now
            for k in _values(ks):
                this = _rows(ks == k)
                i = iis[this]
                i = i if _in_order(i) else np.sort(i)
                round_, delivered, got, _ = state.get(k)
                delivered[i] = True
                src, dst = round_.src[i], round_.dst[i]
                if ex.log is not None:
                    order = np.argsort(iis[this], kind="stable")
                    start, route, issued = (landing[key][mine][this][order] for key in ("start", "route", "issued"))
                    ex.log.add(state.owner[src], state.owner[dst], round_.nbytes[i], start, np.full(len(i), self.now),
                               round_.phase, route, issued)
                if state.schedule.detached:  # (buffered: the sender counted them as they left, :meth:`_left`)
                    np.maximum.at(state.sent, src, self.now)
                    np.subtract.at(state.sends_left, src, 1)
                else:
                    fell.append(src[state.entered[src] & (state.current[src] == k)])
                    np.subtract.at(state.outstanding, fell[-1], 1)
                quorum = round_.quorum
                in_round = state.entered[dst] & (state.current[dst] == k)
                if quorum is None:
                    fell.append(dst[in_round])
                else:
                    plain = quorum[dst] == 0
                    fell.append(dst[in_round & plain])
                np.subtract.at(state.outstanding, fell[-1], 1)
                if quorum is not None:
                    for p in _distinct(dst[~plain]).tolist():
                        arriving = np.sort(src[dst == p])  # the first to arrive count; ties go to the lower sender
                        # equivalent: (`1`) once its quorum is met a receiver has nothing outstanding and its
                        # dropped senders are named: taking one more changes no output
                        take = arriving[: max(int(quorum[p]) - int(got[p]), 0)]
                        if not len(take):
                            continue
                        got[p] += len(take)
                        kept = self.kept.setdefault((index, k, p), set())
                        kept.update(take.tolist())
                        # equivalent: (`or`) a quorum is only in the dropping server's round 0: a receiver not in
                        # it has entered no round, and its outstanding is set as it enters
                        if state.entered[p] and state.current[p] == k:
                            state.outstanding[p] -= len(take)
                            fell.append(np.array([p]))
                        if got[p] == quorum[p]:  # the rest, arrived or not, are dropped
                            senders = set(round_.src[round_.dst == p].tolist()) - kept
                            ex.dropped.setdefault(index, set()).update(state.owner[sorted(senders)].tolist())
                if state.schedule.detached:
                    self._maybe_finish(state, src)
            # (an entered participant with nothing outstanding leaves at once: only those counted can be one now)
            # equivalent: (`>=`) one array concatenated is itself; (`1`) participant 0 entered with nothing outstanding
            # has left already (it leaves as its count falls to 0)
            touched = np.concatenate(fell) if len(fell) > 1 else fell[0] if fell else np.zeros(0, dtype=np.int64)
            touched = _distinct(touched)
            leaving = touched[state.entered[touched] & (state.outstanding[touched] == 0) & ~state.dead[touched]]
            if len(leaving):
                self._leave(state, leaving)

    def _transmit_until(self, later: float, ends: list[np.ndarray], firsts: list[float]) -> None:
        """Advance every transmission to ``later`` (``ends``: when each would end at its rate from now, chunk by
        chunk; ``firsts``: each chunk's earliest); those done by then start propagating."""
        latency, chunks = self.ex.routes.latency, []
        for chunk, end, first in zip(self.tx.chunks, ends, firsts):
            chunk["left"] = chunk["left"] - chunk["rate"] * (later - self.now)
            if first > later:  # none done
                chunks.append(chunk)
                continue
            done = end <= later
            every = done.all()
            gone = chunk if every else _kept(chunk, done)
            self.pr.add(call=gone["call"], k=gone["k"], i=gone["i"], route=gone["route"],
                        at=(end if every else end[done]) + latency[gone["route"]], start=gone["start"],
                        issued=gone["issued"])
            if self.buffered:
                self.left.add(call=gone["call"], k=gone["k"], i=gone["i"])
            if not every:
                chunks.append(_kept(chunk, ~done))
            self.changed = True
        self.tx.replace(chunks)  # (its bounds too: a table's chunks and bounds go together)

    def _left(self) -> None:
        """Transfers whose last byte has left by now (``self.left``): in a buffered call, their senders stop
        waiting for them, and those with nothing else outstanding leave their round."""
        rows = self.left.taken()
        if rows is None:
            return
        for index in _values(rows["call"]):
            state = self.calls[index]
            if not state.schedule.buffered:
                continue
            mine = _rows(rows["call"] == index)
            ks, iis = rows["k"][mine], rows["i"][mine]
            fell: list[np.ndarray] = []  # senders whose outstanding fell: only they may leave now
            for k in _values(ks):
                src = state.get(k)[0].src[iis[_rows(ks == k)]]
                fell.append(src[state.entered[src] & (state.current[src] == k)])
                np.subtract.at(state.outstanding, fell[-1], 1)
            touched = _distinct(np.concatenate(fell))
            leaving = touched[(state.outstanding[touched] == 0) & ~state.dead[touched]]
            if len(leaving):
                self._leave(state, leaving)

    def _crash(self, owner: int) -> None:
        """Owner ``owner`` crashes now: its transfers still waiting or transmitting are cut (the bytes not
        yet sent never leave), its participants stop."""
        ex = self.ex
        for table in ("wait", "tx"):
            if not len(getattr(self, table)):
                continue
            rows = getattr(self, table).whole()
            from_owner = np.zeros(len(rows["call"]), dtype=bool)
            for index in np.unique(rows["call"]).tolist():
                state = self.calls[index]
                mine = rows["call"] == index
                for k in np.unique(rows["k"][mine]).tolist():
                    sel = mine & (rows["k"] == k)
                    round_ = state.get(k)[0]
                    from_owner[sel] = state.owner[round_.src[rows["i"][sel]]] == owner
            if from_owner.any():
                for row in np.flatnonzero(from_owner).tolist():
                    state = self.calls[int(rows["call"][row])]
                    round_ = state.get(int(rows["k"][row]))[0]
                    i = int(rows["i"][row])
                    unsent = float(rows["left"][row]) if table == "tx" else float(round_.nbytes[i])
                    if table == "tx":
                        self._carry()  # (the route may not be in the tally yet)
                        ex.tally.route_bytes[rows["route"][row]] -= round(unsent)
                    ex.lost.append((ex.nodes[state.owner[round_.src[i]]], ex.nodes[state.owner[round_.dst[i]]], unsent))
                getattr(self, table).keep(~from_owner)
                self.changed |= table == "tx"
        for state in self.calls.values():
            mine = (state.owner == owner) & np.isnan(state.finish)
            state.dead[mine] = True
            state.entered[mine] = False
            state.moved()
            self._owners_done(state)

    def _fail(self, u: Hashable, v: Hashable) -> None:
        """Link u–v fails now: transmissions on it carry their remaining bytes on to a new route."""
        routes = self.ex.routes
        self.epoch += 1
        if not len(self.tx):
            return
        tx = self.tx.whole()
        dead = {routes.link_index[u, v], routes.link_index[v, u]}
        on = routes.crosses(tx["route"], dead)
        if not on.any():
            return
        for row in np.flatnonzero(on).tolist():
            state = self.calls[int(tx["call"][row])]
            round_ = state.get(int(tx["k"][row]))[0]
            i = int(tx["i"][row])
            src, dst = state.owner[round_.src[i]], state.owner[round_.dst[i]]
            new = int(routes.lookup(np.array([src]), np.array([dst]), self.epoch)[0])
            self.ex.tally.move(int(tx["route"][row]), new, float(tx["left"][row]))  # (before the launches still to be
            # tallied, or after: sums of whole bytes)
            tx["route"][row] = new
            self.ex.rerouted += float(tx["left"][row])
        self.changed = True

    def _rates(self, chunks: list[dict[str, np.ndarray]]) -> None:
        """Every transmission's max-min rate, chunk by chunk. The rates depend on the multiset of routes alone, so
        they are kept per multiset of chunks' routes (each chunk's as bytes, one object per content, in order:
        equal keys, equal routes), as each chunk's rates (one number, where they are all one): the groups of a
        ring's rounds repeat, and a hit costs a pass over the chunks, not over the transfers."""
        if not chunks:
            return
        if self.epoch:  # a failure may have rerouted a chunk's transfers in place: its bytes are not its routes
            self._fill(chunks)
            return
        names = [self._name(chunk["route"]) for chunk in chunks]
        order = sorted(range(len(chunks)), key=names.__getitem__)
        key = tuple(names[j] for j in order)
        known = self.filled.get(key)
        if known is None:
            self._fill(chunks)
            known = [_one_if_all(chunks[j]["rate"]) for j in order]
            # equivalent: (any flip) the cache's size estimate: what it keeps, never a rate
            size = sum(rate.strides[0] and rate.nbytes for rate in known) + 8 * len(key)  # (one number: none)
            self.filled_bytes += size
            if self.filled_bytes > _FILLED_BYTES:  # equivalent: forgetting only costs filling again
                self.filled.clear()
                self.interned.clear()
                self.filled_bytes = size
            self.filled[key] = known
        for j, rate in zip(order, known):
            chunks[j]["rate"] = rate

    def _fill(self, chunks: list[dict[str, np.ndarray]]) -> np.ndarray:
        """Every transmission's rate from the routes' max-min rates, into its chunk (views of one array)."""
        rates, first = self.ex.routes.max_min_rates(self.tx.column("route")), 0
        for chunk in chunks:
            chunk["rate"] = rates[first: first + len(chunk["route"])]
            first += len(chunk["route"])
        return rates

    def _name(self, routes: np.ndarray) -> bytes:
        """A chunk's routes as bytes, once per array (a chunk's routes change only under a failure)."""
        known = self.names.get(id(routes))
        # equivalent: a cache check (a miss makes the same bytes again)
        if known is None or known[0] is not routes:
            if len(self.names) >= _NAMES_KEPT:  # equivalent: forgetting only costs making them again
                self.names.clear()
            name = routes.tobytes()
            known = self.names[id(routes)] = (routes, self.interned.setdefault(name, name))
        return known[1]

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        ex = self.ex
        split = self._loop()
        self._carry()
        if split:
            return  # (the run stopped where the network split: nothing more to say of who waits)
        for state in self.calls.values():
            stuck = np.flatnonzero(state.entered & ~state.dead)
            for p in stuck.tolist():
                k = int(state.current[p])
                round_, delivered, _, _ = state.get(k)
                late = round_.src[(round_.dst == p) & ~delivered]
                if len(late):
                    ex.waits.setdefault(int(state.owner[p]), set()).update(state.owner[late].tolist())
        last = max(self.calls) if self.calls else None
        if last is not None:
            ex.last_finish = self.calls[last].finish.copy()  # (a task begun and never ended: ``result`` says inf)

    def _loop(self) -> bool:
        """Instant after instant until nothing is left to happen (False) or the network splits (True)."""
        ex = self.ex
        while True:
            while self._start_tasks() | self._enter_rounds():
                pass
            self._launch()
            chunks = self.tx.chunks
            if self.changed:
                self._rates(chunks)
                self.changed = False
            ends = [self.now + chunk["left"] / chunk["rate"] for chunk in chunks]
            firsts = [float(end.min()) for end in ends]
            candidates = list(firsts)
            for table in (self.pr, self.wait):
                earliest = table.earliest()
                if earliest is not None:
                    candidates.append(earliest)
            for state in self.calls.values():
                waiting = state.waiting()
                if len(waiting):
                    candidates.append(float(state.ready[waiting].min()))
            while self.wakeups and self.wakeups[0] <= self.now:
                heapq.heappop(self.wakeups)
            if self.wakeups:
                candidates.append(self.wakeups[0])
            if not candidates:
                return False
            later = max(min(candidates), self.now)
            # equivalent: (`2`) crashes and failures are sorted by time, the first is the earliest; (`<`) a
            # fault at exactly the next instant gives that instant either way
            faults = [at for at, _ in self.crashes[:1]] + [at for _, _, at in self.failures[:1]] + [ex.stop_at]
            if min(faults) <= later:
                later = max(min(faults), self.now)
            self._transmit_until(later, ends, firsts)
            self.now = later
            if self.now >= ex.stop_at:
                return True  # the network is split: the run stops here, before anything else at this instant
            while self.crashes and self.crashes[0][0] <= self.now:
                self._crash(self.crashes.pop(0)[1])
            while self.failures and self.failures[0][2] <= self.now:
                u, v, _ = self.failures.pop(0)
                self._fail(u, v)
            self._left()
            self._launch()
            self._deliver()


def participant_nodes(schedule: Schedule, workers: int, servers: tuple[Any, ...]) -> list[Any]:
    """The graph node of each participant: its worker's rank, or the servers after the n workers."""
    if schedule.workers is not None:
        return schedule.workers.tolist()
    # equivalent: (more servers) nodes past the participants' are never looked up
    return list(range(min(workers, schedule.participants))) + list(servers[: max(schedule.participants - workers, 0)])


def worker_finish(schedule: Schedule, finish: np.ndarray, workers: int) -> np.ndarray:
    """Each worker's finish time: the latest of the participants that run for it."""
    if schedule.workers is None:
        return finish[:workers]
    done = np.zeros(workers)
    np.maximum.at(done, schedule.workers, finish)
    return done


def chained(program: Program) -> bool:
    """Whether the program's collectives form a chain — each waits, through its dependencies, for the one
    before it: then no two calls are ever under way at once (a server — NCCL's NVSwitch — ends its part of a
    call before the workers it sends to, so it too is free when the next call starts)."""
    last_call: list[int] = []  # per task, the latest collective it waits for (itself for a collective), −1: none
    previous = -1
    for index, task in enumerate(program.tasks):
        latest = max((last_call[dep] for dep in task.after), default=-1)
        if isinstance(task, Collective):
            if latest != previous:
                return False
            latest = previous = index
        last_call.append(latest)
    return True


def _run_chain(program: Program, graph: nx.Graph, gamma: float) -> Record | None:
    """A chained program (:func:`chained`) whose every call is joined by all its participants at one instant:
    each distinct call simulated once on the idle network (its schedule and delay), shifted to where it starts.
    Exact: a call starts only when every participant has left the one before, all its receives in, so the
    network is idle; a call on an idle network joined at once takes the same time wherever it starts. None if
    some call's participants join at different instants (then the whole program runs event by event)."""
    n = program.workers
    tasks = len(program.tasks)
    start, end = np.full((tasks, n), np.nan), np.full((tasks, n), np.nan)
    alone: dict[tuple[int, float], Record] = {}
    messages, sizes, per_link, bandwidth = 0, {}, {}, {}
    fluid, bound, finish = False, 0.0, np.zeros(0)  # equivalent: a chain has calls, the last sets finish
    for index, task in enumerate(program.tasks):
        ready = np.max(end[list(task.after)], axis=0) if task.after else np.zeros(n)
        start[index] = ready
        if isinstance(task, Compute):
            end[index] = ready + task.seconds
            continue
        owners = program.owner_of(task)
        joined = ready[owners[owners < n]]  # servers wait for no task: they join when the workers do
        if not np.all(joined == joined[0]):  # equivalent: all equal to any one of them (a call has 2 or more workers)
            return None
        key = (id(task.schedule), task.delay_s)
        if key not in alone:
            alone[key] = run_program(one_call(task.schedule, task.nodes, n, program.servers, None, task.delay_s),
                                     graph, gamma)
        one = alone[key]
        t0 = float(joined[0])  # equivalent: every one is equal here
        end[index] = t0 + one.task_end[0, :n]
        messages += one.messages
        for size, count in one.sizes.items():
            sizes[size] = sizes.get(size, 0) + count
        for link, nbytes in one.bytes_per_link.items():
            per_link[link] = per_link.get(link, 0) + nbytes
        bandwidth.update(one.link_bandwidth)
        fluid |= one.fluid
        bound += one.busiest_link_bound  # calls one after another: their bounds add up
        finish = t0 + one.finish_s
    return Record(finish, messages, dict(sorted(sizes.items())), dict(sorted(per_link.items())), bandwidth, fluid,
                  bound, start, end)


def run_program(program: Program, graph: nx.Graph, gamma: float = 0.0, faults: Faults | None = None,
                keep_log: bool = False, fluid: bool = False) -> Record:
    """Execute ``program`` on ``graph`` (round at a time while that is exact, else fluid events; ``fluid``
    forces the latter). A chain of several calls, with nothing going wrong and no log kept, runs each distinct
    call once (:func:`_run_chain`)."""
    calls = sum(isinstance(task, Collective) for task in program.tasks)
    # equivalent: ``calls > 1`` as ``> 2``: a chain of two then runs event by event, which _run_chain reproduces
    if calls > 1 and not keep_log and (faults is None or faults.none) and chained(program):
        record = _run_chain(program, graph, gamma)
        if record is not None:
            return record
    execution = _Execution(program, graph, gamma, faults, keep_log)
    fast = not fluid and execution.fast()
    if not fast:
        execution.fluid()
    return execution.result(fluid=not fast)


def execute(plan: Any, progress: Any = None) -> Record:
    """Run a :class:`~commsim.engines.plan.Plan` on the schedule engine (sizes only: it carries no values)."""
    if plan.needs_ranks:
        raise ValueError(f"engine 'schedule' moves sizes only; this run needs per-rank processes ({plan.needs_ranks})")
    record = run_program(plan.program, plan.graph, plan.gamma, plan.faults, keep_log=plan.keep_log or plan.disturbed)
    if progress is not None:
        progress(1.0)
    return record


def run_schedule(schedule: Schedule, graph: nx.Graph, nodes: Sequence[Any], gamma: float = 0.0) -> Record:
    """Simulate one ``schedule`` on ``graph``; participant i is ``nodes[i]`` (the workers, then the servers)."""
    servers = [node for node in nodes if not isinstance(node, (int, np.integer))]
    # equivalent: (the default's `-1`) every schedule has a worker among its participants
    workers = int(max((node for node in nodes if isinstance(node, (int, np.integer))), default=-1)) + 1
    program = one_call(schedule, nodes, workers, servers)
    return run_program(program, graph, gamma)
