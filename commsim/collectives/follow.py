"""The message engine's side of a schedule: one SimPy process per participant follows its rounds.

``scheduled(name, make, ...)`` makes a registered algorithm of a schedule maker: its worker generator
runs the participants of its rank (one, or one per tree for the double binary tree) over the rank's
buffer, its server generator the server's. Both send and receive real messages through the fluid
network, so sharing, slow links, training and the data check are the message engine's; the schedule
engine reads the same schedule. The semantics are those of ``commsim.collectives.schedule``.

The participants of one call share it through the network (``Network.shared``): the first worker to
start makes the schedule (a server, which has no buffer to learn p from, waits for it), and each round
is turned into per-participant lists once and dropped when every participant has passed it.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Hashable
from itertools import repeat
from dataclasses import replace
from typing import Any

import numpy as np
from simpy.events import Event

from ..network.fluid import after_instant, waitable
from .base import Algorithm, Comm, Process, nbytes_of
from .cost import Cost, LinkCost
from .payload import Buffer, SizeOnly, size_only
from .schedule import Round, Schedule, ScheduleMaker


def _column(values: np.ndarray) -> Any:
    """A round's column for indexing one item at a time: integers as an ``array("i")`` where they fit in 32 bits,
    else an ``array("q")`` (4 or 8 B an item, against 36 B for a list of ints: an all-to-all's round has
    n(n−1)), anything else as a list."""
    if values.dtype.kind not in "iu":
        return values.tolist()
    narrow = not len(values) or (_INT32.min <= int(values.min()) and int(values.max()) <= _INT32.max)
    column = array("i" if narrow else "q")
    column.frombytes(values.astype(np.int32 if narrow else np.int64, copy=False).tobytes())
    return column


_INT32 = np.iinfo(np.int32)


def _shared_ints(values: np.ndarray) -> list[int]:
    """Integers as a list holding one object per distinct value: 8 B an item, as an ``array("q")``, and what
    is read is that object, not a new int (a message keeps its size for its whole flight: 32 B each)."""
    distinct, which = np.unique(values, return_inverse=True)
    objects = distinct.tolist()
    return [objects[i] for i in which.tolist()]


class _Plan:
    """One round as per-participant columns: participant q sends transfers ``send_at[q]:send_at[q+1]`` and
    receives ``recv_at[q]:recv_at[q+1]`` (indices into the lists below, in the round's order). When
    nobody sends or receives more than one transfer (every ring step), ``step[q]`` also has q's whole
    part at hand: (destination node, bytes, tag, source node, tag, the send's index in the round), None where
    it has none. ``send_index[j]``: send j's index in the round (what its jitter is drawn for). A call moving
    sizes only has no element ranges (``send_lo`` … ``recv_reduce`` None)."""

    __slots__ = (
        "combine",
        "divisor",
        "left",
        "phase",
        "quorum",
        "recv_at",
        "recv_from",
        "recv_hi",
        "recv_lo",
        "recv_reduce",
        "scale",
        "send_at",
        "send_bytes",
        "send_hi",
        "send_index",
        "send_lo",
        "send_to",
        "step",
    )

    def __init__(self, round_: Round, call: _Call) -> None:
        participants = call.schedule.participants
        everyone = np.arange(participants + 1)  # equivalent: bounds past participants' are never read
        by_src = np.argsort(round_.src, kind="stable")
        by_dst = np.argsort(round_.dst, kind="stable")
        lo, hi = round_.lo, round_.hi
        self.phase = round_.phase
        self.send_at = _column(np.searchsorted(round_.src[by_src], everyone))
        self.send_to = _column(round_.dst[by_src])
        self.send_index = _column(by_src)
        self.recv_at = _column(np.searchsorted(round_.dst[by_dst], everyone))
        self.recv_from = _column(round_.src[by_dst])
        self.send_lo = self.send_hi = self.recv_lo = self.recv_hi = self.recv_reduce = None
        if not call.sizes_only:  # where values go (a call moving sizes only never reads them: 40 B a message)
            self.send_lo, self.send_hi = _column(lo[by_src]), _column(hi[by_src])
            at = lo if round_.at is None else round_.at  # where the receiver writes
            self.recv_lo, self.recv_hi = _column(at[by_dst]), _column((at + (hi - lo))[by_dst])
            reduce = round_.reduce
            self.recv_reduce = ([reduce] * len(by_dst)) if isinstance(reduce, bool) else reduce[by_dst].tolist()
        self.combine = None if round_.combine is None else round_.combine.tolist()
        self.scale: dict[int, list[tuple[int, int]]] = {}
        if round_.scale is not None:
            for who, a, b in zip(*(part.tolist() for part in round_.scale)):
                self.scale.setdefault(who, []).append((a, b))
        self.quorum = None if round_.quorum is None else round_.quorum.tolist()
        self.divisor = round_.divisor
        self.left = participants
        self.step = None
        src, dst = round_.src, round_.dst
        if len(src) and np.bincount(src).max() == 1 and np.bincount(dst).max() == 1 and self.quorum is None:
            nowhere = np.full(participants, participants)  # index of the None after the nodes
            to, sizes, come = nowhere.copy(), np.zeros(participants, dtype=np.int64), nowhere.copy()
            index = np.zeros(participants, dtype=np.int64)
            to[src], sizes[src], come[dst], index[src] = dst, round_.nbytes, src, np.arange(len(src))
            nodes = call.node_array
            tags = ([call.tag(q) for q in to.tolist()], [call.tag(q) for q in range(participants)])
            self.step = list(zip(nodes[to].tolist(), sizes.tolist(), tags[0], nodes[come].tolist(), tags[1],
                                 index.tolist()))
        # equivalent: the same sizes either way; the shared objects only save memory where sends are many (the
        # step has its own)
        self.send_bytes = (_column if self.step is not None else _shared_ints)(round_.nbytes[by_src])


class _Call:
    """One call of a scheduled collective, shared by its participants."""

    __slots__ = ("index", "itemsize", "node_array", "nodes", "plans", "ready", "schedule", "sizes_only", "tagged")

    def __init__(self, ready: Event, index: int) -> None:
        self.schedule: Schedule | None = None
        self.ready = ready  # fires when the schedule is known (servers wait for it)
        self.plans: dict[int, _Plan] = {}
        self.index = index  # which call of the run: its messages are tagged with it, its jitter drawn for it

    def tag(self, receiver: int) -> Any:
        """The tag of a message to participant ``receiver``: the call, and the receiver where a rank runs
        several participants."""
        return (self.index, receiver) if self.tagged else self.index

    def start(self, schedule: Schedule, nodes: list[Hashable], itemsize: int, sizes_only: bool) -> None:
        """The schedule is known; ``sizes_only``: messages carry no values, only their own size."""
        self.schedule, self.nodes, self.itemsize, self.sizes_only = schedule, nodes, itemsize, sizes_only
        self.node_array = np.empty(len(nodes) + 1, dtype=object)  # the nodes, then None
        self.node_array[:-1] = nodes
        self.tagged = schedule.workers is not None  # several participants per rank: tag by receiver
        self.ready.succeed(schedule)

    def plan(self, k: int) -> _Plan:
        """Round k's lists for one participant passing it (the last one to pass drops them)."""
        plan = self.plans.get(k)
        if plan is None:
            round_ = self.schedule.sized_round(k) if self.sizes_only else self.schedule.round(k)
            plan = self.plans[k] = _Plan(round_, self)
        plan.left -= 1
        if not plan.left:
            del self.plans[k]
        return plan


class _Calls:
    """The calls of one algorithm on one network, in order: how far each rank or server has got, and the
    calls some participant has yet to join (a call is dropped once all have joined; they hold it)."""

    def __init__(self) -> None:
        self.calls: dict[int, _Call] = {}
        self.next: dict[Hashable, int] = {}
        self.joined: dict[int, int] = {}

    def join(self, comm: Comm, joiners: int) -> _Call:
        """The call ``comm``'s rank (or server) makes next; ``joiners``: how many processes join each call."""
        index = self.next.get(comm.rank, 0)
        self.next[comm.rank] = index + 1
        call = self.calls.get(index)
        if call is None:
            call = self.calls[index] = _Call(comm.net.env.event(), index)
        self.joined[index] = self.joined.get(index, 0) + 1
        if self.joined[index] == joiners:
            del self.calls[index], self.joined[index]
        return call


def _nodes(schedule: Schedule, comm: Comm) -> list[Hashable]:
    """Each participant's graph node: its worker's rank, then the servers."""
    workers = list(range(comm.size)) if schedule.workers is None else schedule.workers.tolist()
    return workers + list(comm.servers[: schedule.participants - len(workers)])


class _Values:
    """A participant's buffer, copied on its first write in place, so that the caller's input and the
    views already sent stay as they were; a write of a whole buffer replaces it instead. A server's
    holds nothing (``array`` None) until its first additions."""

    __slots__ = ("array", "holds", "mine", "p", "shared")

    def __init__(self, array: np.ndarray | None, p: int, shared: bool = False) -> None:
        """``shared``: ``array`` is the rank's own copy, which several participants write in place."""
        self.array, self.mine, self.holds, self.p, self.shared = array, shared, array is not None, p, shared

    def region(self, lo: int, hi: int, dtype: Any) -> np.ndarray:
        """Elements lo:hi, ready to be written in place."""
        if self.array is None:
            self.array = np.empty(self.p, dtype=dtype)
        elif not self.mine:
            self.array = self.array.copy()
        self.mine = True
        return self.array[lo:hi]

    def put(self, lo: int, hi: int, value: np.ndarray, fresh: bool = False) -> None:
        """Write ``value`` (a new array if ``fresh``) at lo:hi."""
        if lo == 0 and hi == self.p and not self.shared:
            self.array, self.mine = value if fresh else value.copy(), True
        else:
            self.region(lo, hi, value.dtype)[...] = value

    def result(self) -> np.ndarray | None:
        """The final buffer, never the caller's own array (None: a server that never held anything)."""
        return self.array if self.mine or self.array is None else self.array.copy()


def _write(values: _Values, me: int, writes: list[tuple[int, int, int, bool, Any]]) -> None:
    """Write a round's arrivals (sender, lo, hi, add?, value): copies as they come; the additions into
    a range summed in participant order, this participant's own value (if it holds one) at its place,
    so that every participant forming the same sum gets the same bits. A copy into the very range of
    additions in the same round is their first term, at its sender's place (NVLS's switch starts its sum
    from one GPU's piece, holding nothing before)."""
    added: dict[tuple[int, int], list[tuple[int, Any]]] = {}
    copied: dict[tuple[int, int], int] = {}
    for src, lo, hi, add, value in writes:
        if add:
            added.setdefault((lo, hi), []).append((src, value))
        else:
            values.put(lo, hi, value)
            copied[lo, hi] = src
    for (lo, hi), parts in added.items():
        base = copied.get((lo, hi), me if values.holds else None)
        if base is not None and len(parts) == 1:  # two terms: IEEE addition commutes
            if lo == 0 and hi == values.p and not values.shared:
                values.put(lo, hi, values.array + parts[0][1], fresh=True)
            else:
                target = values.region(lo, hi, None)
                target += parts[0][1]
            continue
        if base is not None:
            parts.append((base, values.array[lo:hi]))
        parts.sort(key=lambda part: part[0])
        total = parts[0][1].copy()
        for _, value in parts[1:]:
            total += value
        values.put(lo, hi, total, fresh=True)


def _writes_in_place_under(plan: _Plan, r0: int, r1: int, s0: int, s1: int, p: int, shared: bool) -> bool:
    """Whether a participant writes in place, this round, part of a range it sends (it must then send
    copies): whole-buffer writes replace the buffer instead, unless several participants share it."""
    sent = list(zip(plan.send_lo[s0:s1], plan.send_hi[s0:s1]))
    for j in range(r0, r1):
        lo, hi = plan.recv_lo[j], plan.recv_hi[j]
        # equivalent: a looser test (ranges that only touch, or any range) copies more, which changes no value
        if (shared or not (lo == 0 and hi == p)) and any(a < hi and lo < b for a, b in sent):
            return True
    return False


def _first(comm: Comm, call: _Call, me: int, events: list[Event], senders: list[int], count: int) -> Process:
    """Wait for the first ``count`` of ``events`` to arrive (ties at one instant go to the lower sender
    participant; the choice is made once every arrival of that instant is in); their positions, in
    sender order. The senders left out are noted as dropped for this call."""
    env = comm.net.env
    arrived: list[tuple[float, int, int]] = []
    enough = env.event()  # never fires if fewer than ``count`` can come (a crash): it waits, as the round would

    def arrive(event: Event, position: int) -> None:
        arrived.append((getattr(event, "at", env.now), senders[position], position))
        if len(arrived) == count:
            after_instant(enough)

    for position, event in enumerate(events):
        if event.callbacks is None:  # arrived before it was asked for
            arrive(event, position)
        else:
            waitable(event).callbacks.append(lambda event, position=position: arrive(event, position))
    yield enough
    kept = sorted(arrived)[:count]
    chosen = {position for _, _, position in kept}
    nodes = call.nodes
    dropped = comm.net.shared.setdefault(DROPPED, {}).setdefault(call.index, set())
    dropped.update(nodes[senders[position]] for position in range(len(events)) if position not in chosen)
    return sorted(chosen, key=lambda position: senders[position])


def _receive(comm: Comm, call: _Call, plan: _Plan, me: int, r0: int, r1: int, values: bool = True) -> Process:
    """Every receive of the round posted at once (with no callback list until awaited: an all-to-all posts
    n − 1 a rank), then awaited (all, or the first ``quorum``): the (index into the round's receive lists,
    payload) of those that count; without ``values``, nothing (each event let go of once arrived)."""
    match, node, tag = comm.net._event_for, comm.rank, call.tag(me)
    events = [match((call.nodes[plan.recv_from[j]], node, tag), False, False) for j in range(r0, r1)]
    quorum = plan.quorum[me] if plan.quorum is not None else 0
    senders = plan.recv_from[r0:r1] if quorum else None
    del plan  # not held while waiting (its columns are the round's: an all-to-all's, 4-8 B a message each)
    if quorum:
        kept = yield from _first(comm, call, me, events, senders, quorum)
        return [(r0 + position, events[position].value) for position in kept]
    if not values:  # sizes only: no list of what arrived (a tuple a message), no event held once in
        for i in range(len(events)):
            yield waitable(events[i])
            events[i] = None
        return None
    arrived = []
    for j, event in zip(range(r0, r1), events):
        arrived.append((j, (yield waitable(event))))
    return arrived


_NO_LEFTS = repeat(None)  # the ``left`` of each send of a schedule that is not buffered: none


def _follow(comm: Comm, call: _Call, me: int, buffer: Buffer | None,
            respond: Callable[[Buffer], Buffer] | None = None, shared: bool = False) -> Process:
    """Participant ``me`` through every round, with values; returns its buffer (a server, ``buffer``
    None, starts holding nothing). ``shared``: write ``buffer`` in place (the rank's participants share it)."""
    schedule, nodes = call.schedule, call.nodes
    p = schedule.p
    values = _Values(buffer, p, shared) if isinstance(buffer, np.ndarray) or buffer is None else None
    n, gamma = comm.size, comm.gamma
    pending: list[Event] = []  # an eager or buffered schedule's sends still under way
    env, buffered = comm.net.env, schedule.buffered
    for k in range(schedule.rounds):
        plan = call.plan(k)
        s0, s1 = plan.send_at[me], plan.send_at[me + 1]
        r0, r1 = plan.recv_at[me], plan.recv_at[me + 1]
        scale = plan.scale.get(me)
        if s0 == s1 and r0 == r1 and scale is None:
            continue
        comm.phase = plan.phase
        array = buffer if values is None else values.array
        # equivalent: copying more (with no sends, or a size-only stand-in, whose copy is itself) changes no value
        copy = values is not None and s0 < s1 and (schedule.snapshot or schedule.detached
                                                   or _writes_in_place_under(plan, r0, r1, s0, s1, p, shared))
        sends, snapshots, lefts = [], {}, []
        for j in range(s0, s1):
            lo, hi, dst = plan.send_lo[j], plan.send_hi[j], plan.send_to[j]
            piece = array[lo:hi]
            if copy:  # one copy per range, however many receive it
                piece = snapshots.get((lo, hi))
                if piece is None:
                    piece = snapshots[lo, hi] = array[lo:hi].copy()
            nbytes = plan.send_bytes[j] if comm.wire_bytes is nbytes_of else comm.wire_bytes(piece)  # wire bytes
            left = env.event() if buffered else None
            sends.append(comm.net.send(comm.rank, nodes[dst], nbytes, piece, call.tag(dst), comm.phase,
                                       key=(call.index, k, plan.send_index[j]), left=left))
            lefts.append(left)
        # equivalent: with no receive (r0 = r1) _receive posts none and returns [] at once (a quorum is only where
        # receives are)
        arrived = (yield from _receive(comm, call, plan, me, r0, r1)) if r0 < r1 else []
        if schedule.detached:  # an eager sender goes on, a buffered one once its sends have left: they are copies
            pending.extend(sends)
            for left in lefts if buffered else ():
                yield left
        else:
            for sent in sends:
                yield sent
        if arrived and values is not None:
            if isinstance(arrived[0][1], SizeOnly):  # a server among size-only workers: nothing to hold
                # equivalent: a server hears from every worker (n ≥ 2 of them), all of one itemsize
                values, buffer = None, size_only(p, arrived[0][1].itemsize)
            else:
                _write(values, me, [(plan.recv_from[j], plan.recv_lo[j], plan.recv_hi[j], plan.recv_reduce[j], value)
                                    for j, value in arrived])
                values.holds = True
        # equivalent: γ or ... with γ = 0 only adds a wait of 0 s
        if gamma and plan.combine is not None and plan.combine[me]:
            yield comm.net.env.timeout(gamma * plan.combine[me])
        if scale is not None and values is not None:
            for lo, hi in scale:
                part = values.region(lo, hi, None)
                part /= plan.divisor or n
            if respond is not None:
                values.put(0, p, respond(values.array), fresh=True)
    for sent in pending:
        yield sent
    return buffer if values is None else values.result()


def _follow_sizes(comm: Comm, call: _Call, me: int, out: SizeOnly) -> Process:
    """Participant ``me`` through every round when buffers hold no values and messages carry their own
    size: ``_follow`` without the data, straight onto the network (the hot loop of a scale study)."""
    schedule, nodes = call.schedule, call.nodes
    net, node, gamma, index = comm.net, comm.rank, comm.gamma, call.index
    send, match, timeout = net.send, net._event_for, net.env.timeout
    plans, make_plan = call.plans, call.plan
    detached, buffered, pending = schedule.detached, schedule.buffered, []
    for k in range(schedule.rounds):
        plan = plans.get(k)
        if plan is None or plan.left == 1:
            plan = make_plan(k)
        else:
            plan.left -= 1
        step, combine = plan.step, plan.combine
        if step is not None:  # at most one send and one receive each, as in every ring step
            to, nbytes, tag_out, come, tag_in, i = step[me]
            if to is not None:
                left = net.env.event() if buffered else None
                sent = send(node, to, nbytes, None, tag_out, plan.phase, key=(index, k, i), left=left)
                if come is not None:
                    yield match((come, node, tag_in), False)
                if detached:
                    pending.append(sent)
                    if buffered:
                        yield left
                else:
                    yield sent
            elif come is not None:
                yield match((come, node, tag_in), False)
            else:
                continue
        else:
            s0, s1 = plan.send_at[me], plan.send_at[me + 1]
            r0, r1 = plan.recv_at[me], plan.recv_at[me + 1]
            if s0 == s1 and r0 == r1:
                continue
            phase = plan.phase
            lefts = [net.env.event() for _ in range(s0, s1)] if buffered else _NO_LEFTS  # nothing made where none is asked
            sends = [send(node, nodes[plan.send_to[j]], plan.send_bytes[j], None, call.tag(plan.send_to[j]), phase,
                          key=(index, k, plan.send_index[j]), waited=False, left=left)
                     for j, left in zip(range(s0, s1), lefts)]
            # equivalent: with no receive _receive posts none and returns at once
            receiving = _receive(comm, call, plan, me, r0, r1, values=False) if r0 < r1 else None
            plan = None  # not held while waiting (its columns are the round's, 4-8 B a message each)
            if receiving is not None:
                yield from receiving
            if detached:
                pending.extend(sends)
                for left in lefts if buffered else ():
                    yield left
            else:
                for i in range(len(sends)):  # each let go of once delivered
                    yield waitable(sends[i])
                    sends[i] = None
        # equivalent: γ or ... with γ = 0 only adds a wait of 0 s
        if gamma and combine is not None and combine[me]:
            yield timeout(gamma * combine[me])
        if len(pending) > 64:  # keep only the sends still under way (equivalent: when, changes memory only)
            pending = [sent for sent in pending if not sent.processed]
    for sent in pending:
        yield waitable(sent)
    return out


def _calls(comm: Comm, make: ScheduleMaker) -> _Calls:
    calls = comm.net.shared.get(make)
    if calls is None:
        calls = comm.net.shared[make] = _Calls()
    return calls


def _make(make: ScheduleMaker, comm: Comm, buffer: Buffer) -> Schedule:
    return make(comm.size, len(buffer), buffer.itemsize, servers=len(comm.servers),
                gpus_per_node=comm.net.graph.graph.get("gpus_per_node"))


def _joiners(comm: Comm, with_servers: bool) -> int:
    """The processes that join each call: every worker, and every server when the algorithm has one."""
    return comm.size + (len(comm.servers) if with_servers else 0)


def schedule_worker(make: ScheduleMaker, with_servers: bool = False) -> Callable[[Comm, Buffer], Process]:
    """A worker generator following ``make``'s schedule: the rank's participants on a copy of its buffer."""

    def worker(comm: Comm, buffer: Buffer) -> Process:
        call = _calls(comm, make).join(comm, _joiners(comm, with_servers))
        if call.schedule is None:
            schedule = _make(make, comm, buffer)
            call.start(schedule, _nodes(schedule, comm), buffer.itemsize,
                       isinstance(buffer, SizeOnly) and comm.wire_bytes is nbytes_of)
        return follow_call(comm, call, buffer)

    return worker


def _follow_several(comm: Comm, call: _Call, buffer: Buffer) -> Process:
    """A rank with several participants (one per tree): one process each, on a copy of the rank's buffer."""
    env = comm.net.env
    out = buffer.copy()
    mine = np.flatnonzero(call.schedule.workers == comm.rank).tolist()
    quiet = getattr(comm.net, "crashed", None) is not None  # a disturbed network: a crash interrupts them
    yield env.all_of([comm.net.spawn(comm.rank, _follow_sizes(replace(comm), call, me, out) if call.sizes_only
                                     else _follow(replace(comm), call, me, out, shared=True), quiet) for me in mine])
    return out


def schedule_server(make: ScheduleMaker, responds: bool = True) -> Callable[..., Process]:
    """A server generator following ``make``'s schedule; ``respond(mean)``, if given and ``responds``,
    replaces the server's buffer once it has formed the mean (e.g. the optimizer step's parameters)."""

    def server(comm: Comm, respond: Callable[[Buffer], Buffer] | None = None) -> Process:
        call = _calls(comm, make).join(comm, _joiners(comm, True))
        if call.schedule is None:
            yield call.ready
        yield from follow_server(comm, call, respond if responds else None)

    return server


def scheduled(name: str, make: ScheduleMaker, cost: Callable[[int, int, int, LinkCost], Cost] | None, summary: str,
              kind: str = "allreduce", server: bool = False, responds: bool = True) -> Algorithm:
    """An algorithm written once, as its schedule: the message engine follows it, the schedule engine
    runs it vectorised."""
    return Algorithm(name, schedule_worker(make, server), schedule_server(make, responds) if server else None, summary,
                     kind, cost, schedule=make)


DROPPED = "dropped"
"""``net.shared[DROPPED][call]``: the nodes whose transfers a participant waiting for the first few of its
receives (a server dropping stragglers) left out, per call."""


def new_call(env: Any, schedule: Schedule, nodes: list[Hashable], itemsize: int, sizes_only: bool, index: int) -> _Call:
    """A call of ``schedule`` whose participants run on ``nodes`` (the message engine's executor makes one per
    collective of a program; ``index`` names it)."""
    call = _Call(env.event(), index)
    call.start(schedule, nodes, itemsize, sizes_only)
    return call


def follow_call(comm: Comm, call: _Call, buffer: Buffer) -> Process:
    """``comm``'s rank through ``call``: its participant(s) on its buffer; the process returns the rank's
    result (the follower itself, not a generator around it: one delegation less a message)."""
    if call.schedule.workers is not None:
        return _follow_several(comm, call, buffer)
    if call.sizes_only:
        return _follow_sizes(comm, call, comm.rank, buffer)
    return _follow(comm, call, comm.rank, buffer)


def follow_server(comm: Comm, call: _Call, respond: Callable[[Buffer], Buffer] | None = None) -> Process:
    """Server ``comm.rank`` through ``call`` (nothing if the schedule gives it no participant)."""
    schedule = call.schedule
    me = schedule.worker_participants(comm.size) + comm.servers.index(comm.rank)
    if me >= schedule.participants:
        return
    if call.sizes_only:
        yield from _follow_sizes(comm, call, me, size_only(schedule.p, call.itemsize))
    else:
        yield from _follow(comm, call, me, None, respond)
