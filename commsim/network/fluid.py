"""The SimPy network: point-to-point messages over a topology, with a fluid link-sharing model.

A message alone on its route takes ``sum(latency) + bytes / min(bandwidth)`` along the route.
Its bytes flow first (sharing bandwidth), then it propagates for the route's latency and is
delivered. Transfers that cross the same directed link at the same time share its bandwidth
max-min fairly (progressive filling, as flow-level simulators such as SimGrid do); rates are
recomputed once per simulated instant, for the flows whose links changed. Links are full duplex.

Workers only say ``send`` and ``recv``; the network owns every delay (like SimPy's Cable).
"""

from __future__ import annotations

from array import array
from collections.abc import Hashable
from heapq import heappush
from itertools import islice
from operator import attrgetter
from typing import Any

import networkx as nx
import simpy
from simpy.events import NORMAL, PENDING, Event

# Rate reallocation runs after every ordinary event of the same instant.
_AFTER_NORMAL = NORMAL + 1
# A link whose spare capacity is below this fraction of its bandwidth is saturated. It only has to
# absorb round-off in the progressive filling: a tighter one (even 1e-18) gives the same times to
# 1e-12, so ``<=`` against ``<`` here is no difference; a looser one freezes flows early
# (tests/test_network.py: a link with a little spare capacity is not saturated).
_SATURATED = 1e-9


class Link:
    """One direction of an edge: its capacity and the transfers now crossing it."""

    __slots__ = ("bandwidth", "flows", "latency", "u", "v")

    def __init__(self, u: Hashable, v: Hashable, bandwidth: float, latency: float) -> None:
        self.u, self.v, self.bandwidth, self.latency = u, v, bandwidth, latency
        self.flows: dict[_Flow, None] = {}  # insertion-ordered for determinism


class Route:
    """The directed links from ``src`` to ``dst`` and what has crossed them."""

    __slots__ = ("bandwidth", "bytes", "dst", "index", "latency", "links", "messages", "src")

    def __init__(self, index: int | None, src: Hashable, dst: Hashable, links: tuple[Link, ...]) -> None:
        self.index, self.src, self.dst, self.links = index, src, dst, links
        self.latency = sum(link.latency for link in links)
        self.bandwidth = min(link.bandwidth for link in links)
        self.messages = 0
        self.bytes = 0


# The size of the channel table from which it is copied into a smaller one as it empties (a copy of 2¹⁶ entries
# takes ~2 ms; a ring's table never holds that many).
_SHRINK_FROM = 1 << 16

# Stages of a flow: which moment its pending timer stands for (_UNSENT: a channel's event no message has used yet).
_SHARED, _ALONE, _PROPAGATING, _UNSENT = 0, 1, 2, -1


class _Flow:
    """A message in transit and the event of its delivery, one object (an all-to-all has n(n−1) at once): a
    channel's events are made as flows, the send that takes one fills it in (a message of no bytes only waits
    out its route's latency, on a timer of its own). ``delivery``: None, or the event to fire instead, where
    the send was given one that carried a message before (a receive a crash handed back) or is no flow.

    A flow that finds its whole route idle is ``_ALONE``: delivered by the timer of its delivery
    instant (shared with every lone flow due then), and it leaves its links lazily (anyone who finds it there after ``tx_end`` removes it). As soon as it
    has to share, it becomes ``_SHARED``: a timer at the end of its transmission, recomputed when
    its rate changes, then ``_PROPAGATING``: a timer at delivery, one route latency later (those
    timers due at one instant and set together share one :class:`_Instant`).
    """

    # with the event's own attributes, so that none goes into a dict (a dict made at delivery: 136 B a message).
    # No subclass of Event: an instance of one (a class without slots) gets its dict's values made with it
    # (≈ 48 B a message); SimPy reads events by their attributes only, and these are SimPy's own functions.
    __slots__ = (
        "_ok",
        "_value",
        "at",
        "callbacks",
        "env",
        "gen",
        "order",
        "payload",
        "rate",
        "remaining",
        "route",
        "since",
        "stage",
        "tx_end",
    )

    delivery: Event | None = None  # its own event (no reference to itself: it is freed without the collector)

    def __init__(self, env: simpy.Environment, waited: bool = True) -> None:
        # as Event.__init__; ``waited`` False: no callback list until :func:`waitable` makes one (an all-to-all
        # posts n(n−1) messages before waiting on any: 56 B each)
        self.env, self.callbacks, self._value = env, [] if waited else _UNWAITED, PENDING

    # Event's interface, less failing (a message never fails: a crash withdraws it instead)
    __repr__, _desc, succeed, __and__, __or__ = Event.__repr__, Event._desc, Event.succeed, Event.__and__, Event.__or__
    triggered, processed, ok, value = Event.triggered, Event.processed, Event.ok, Event.value


class _TracedFlow(_Flow):
    """A flow of a network that logs its messages or may be disturbed: also its size, start, phase and tag (what
    a log records, what a crash or a failure reads); 32 B a message that other networks do without."""

    __slots__ = ("nbytes", "phase", "start", "tag")


class _Relay(_TracedFlow):
    """A flow that fires another event on delivery (``delivery``): a send given one that carried a message
    before (a receive a crash handed back) or is no flow. Rare: a flow of its own holds no such slot."""

    __slots__ = ("delivery",)


# The callbacks of a message's event no one may wait on yet: SimPy refuses to wait on it (it appends to
# ``callbacks``), a delivery runs none. The empty tuple: no object of its own.
_UNWAITED: tuple[()] = ()


def waitable(event: Any) -> Any:
    """``event``, with a callback list to wait on (a message's event posted with ``waited`` False has none)."""
    if event.callbacks is _UNWAITED:
        event.callbacks = []
    return event


def event_of(flow: _Flow) -> Event:
    """The event ``flow``'s delivery fires: the flow itself, unless it was given another."""
    return flow if flow.delivery is None else flow.delivery


def _fire(instant: _Instant) -> None:
    """Act on each flow of ``instant`` whose timer is still its newest, in the order they were set: the end of
    its transmission (a shared flow) or its delivery. Should something urgent come up meanwhile (a process
    started, an interrupt: SimPy runs those before ordinary events of the same instant), the rest of the
    flows go back on the heap under the same id, behind it and before anything scheduled since."""
    net, now = instant.net, instant.when
    queue = net.env._queue
    flows, gens = instant.flows, instant.gens
    due: dict[float, _Instant] = {}  # the delivery timers this pass sets (nothing else is set for them between)
    last = len(flows) - 1
    for i, flow in enumerate(flows):
        if gens[i] == flow.gen:
            if flow.stage == _SHARED:
                net._transmitted(flow, due)
            else:
                net._deliver(flow)
        if i < last and queue and queue[0][0] == now and queue[0][1] < NORMAL:
            instant.flows, instant.gens, instant.callbacks = flows[i + 1:], gens[i + 1:], _FIRE
            heappush(queue, (now, NORMAL, instant.eid, instant))
            return


_FIRE = (_fire,)


class _Instant:
    """The timers of flows due at one instant, set one after another with nothing else set for that instant in
    between: one SimPy heap entry for them all (≈ 16 B a flow against ≈ 300 B for a Timeout and its heap
    entry: an all-to-all holds n(n−1) at once). SimPy would take such timers in the order they were set, their
    ids consecutive: one id in their place changes no order. ``flows[i]`` acts if its ``gen`` is still
    ``gens[i]`` (see :class:`_Flow`)."""

    __slots__ = ("callbacks", "eid", "flows", "gens", "net", "when")
    _ok = True  # what Environment.step reads of a processed event

    def __init__(self, net: Network, when: float) -> None:
        env = net.env
        self.net, self.when, self.callbacks = net, when, _FIRE
        self.flows: list[_Flow] = []
        self.gens = array("q")
        self.eid = next(env._eid)  # as Environment.schedule, keeping the id for a return to the heap
        heappush(env._queue, (when, NORMAL, self.eid, self))

    def add(self, flow: _Flow) -> None:
        self.flows.append(flow)
        self.gens.append(flow.gen)


_ORDER = attrgetter("order")  # a flow's place in the component a reallocation reached, complemented once rated


class MessageLog:
    """Every delivered message, column by column (compact enough for millions of messages).

    Message i went along ``routes[route[i]]`` (so from its ``src`` to its ``dst``), carried
    ``nbytes[i]`` bytes, was sent at ``start[i]``, delivered at ``end[i]``, in ``phases[phase[i]]``.
    """

    def __init__(self) -> None:
        self.route = array("q")
        self.nbytes = array("q")
        self.start = array("d")
        self.end = array("d")
        self.phase = array("h")
        self.phases: list[str] = []
        self.routes: list[Route] = []

    def __len__(self) -> int:
        return len(self.nbytes)

    def endpoints(self, i: int) -> tuple[Hashable, Hashable]:
        """(source, destination) of message i."""
        route = self.routes[self.route[i]]
        return route.src, route.dst


def shortest_paths(graph: nx.Graph, src: Hashable, targets: list[Hashable]) -> dict[Hashable, list[Hashable]]:
    """The hop-shortest paths ``nx.single_source_shortest_path(graph, src)`` would give to ``targets``
    (breadth first from ``src``, each node reached from the first node that reaches it), found without
    building the paths to every other node: the search stops once every target is reached."""
    adjacency = graph._adj
    parent: dict[Hashable, Hashable] = {src: src}
    wanted = set(targets) - {src}
    level = [src]
    while level and wanted:
        following = []
        for node in level:
            for neighbour in adjacency[node]:
                if neighbour not in parent:
                    parent[neighbour] = node
                    wanted.discard(neighbour)
                    following.append(neighbour)
            if not wanted:
                break
        level = following
    if wanted:
        raise nx.NetworkXNoPath(f"no path from {src!r} to {next(iter(wanted))!r}")
    paths = {}
    for dst in targets:
        path = [dst]
        while path[-1] != src:
            path.append(parent[path[-1]])
        paths[dst] = path[::-1]
    return paths


def shortest_path(graph: nx.Graph, src: Hashable, dst: Hashable) -> list[Hashable]:
    """The hop-shortest path from ``src`` to ``dst`` that ``nx.single_source_shortest_path`` gives."""
    return shortest_paths(graph, src, [dst])[dst]


class Network:
    """Point-to-point messaging between the nodes of ``graph`` inside the SimPy ``env``.

    Every message is counted (``sizes``: bytes → messages; per route, messages and bytes); with
    ``keep_log`` each one is also recorded in ``log`` (endpoints, bytes, start, end, phase), which a
    trace or a message export needs and which otherwise only costs memory (≈ 34 B per message).
    """

    def __init__(self, env: simpy.Environment, graph: nx.Graph, keep_log: bool = True) -> None:
        self.env = env
        self.graph = graph
        self.links: dict[tuple[Hashable, Hashable], Link] = {}
        for u, v, data in graph.edges(data=True):
            self.links[u, v] = Link(u, v, float(data["bandwidth"]), float(data["latency"]))
            self.links[v, u] = Link(v, u, float(data["bandwidth"]), float(data["latency"]))
        self.log: MessageLog | None = MessageLog() if keep_log else None
        self._flow: type[_Flow] = _TracedFlow if keep_log else _Flow  # the class of its messages
        self.sizes: dict[int, int] = {}
        self._phase_index: dict[str, int] = {}
        self._last_phase: str | None = None  # the phase of the last send and its index (most sends repeat it)
        self._last_phase_id = 0
        # source → destination → route (no (src, dst) tuple a route: an all-to-all makes n(n−1) of them)
        self._routes: dict[Hashable, dict[Hashable, Route]] = {}
        self._found: list[Route] = []  # the cached routes in the order found
        self._latencies: dict[float, float] = {}  # each distinct route latency once (one float, not one a route)
        # per channel: [whether the events wait for receives (True) or sends (False), events...]
        self._channels: dict[tuple[Hashable, Hashable, Any], list[Any]] = {}
        self._shrink_at = _SHRINK_FROM  # the channel table's size at which it is copied next (see _event_for)
        self._dirty: dict[Link, None] = {}
        self._due: dict[float, list[_Flow]] = {}  # lone flows by delivery time, one timer per time
        self._leaving: dict[_Flow, Event] = {}  # flows sent with ``left``: the event their last byte's leaving fires
        self._reallocation_pending = False
        self.shared: dict[Any, Any] = {}  # what the processes of one run share (e.g. a schedule they follow)
        self.processes: dict[Hashable, list[Any]] = {}  # each node's processes (all stop when it crashes)

    def spawn(self, node: Hashable, process: Any, quiet: bool = True) -> Any:
        """Start generator ``process`` as one of ``node``'s processes; ``quiet``: it ends (returning None) if
        interrupted, as a crash does (unwrapped, a run that cannot crash saves a delegation a message)."""
        proc = self.env.process(_quietly(process) if quiet else process)
        self.processes.setdefault(node, []).append(proc)
        return proc

    # -- routes ---------------------------------------------------------------------------
    def route(self, src: Hashable, dst: Hashable) -> Route:
        """The deterministic route from ``src`` to ``dst`` (cached): the graph's ``router(graph, src, dst)``
        if it has one, else a hop-shortest path."""
        row = self._routes.get(src)
        if row is None:
            row = self._routes[src] = {}
        route = row.get(dst)
        if route is None:
            path = self._path(src, dst)
            # its index is its place in the log's routes (none without a log: an all-to-all makes n(n−1) routes)
            index = len(self.log.routes) if self.log is not None else None
            route = Route(index, src, dst, tuple(self.links[a, b] for a, b in zip(path, path[1:])))
            route.latency = self._latencies.setdefault(route.latency, route.latency)
            row[dst] = route
            self._found.append(route)
            if self.log is not None:
                self.log.routes.append(route)
        return route

    def _known(self, src: Hashable, dst: Hashable) -> bool:
        """Whether the route from ``src`` to ``dst`` has been found (and is cached)."""
        return dst in self._routes.get(src, ())

    def _forget_routes(self) -> list[Route]:
        """Drop every cached route (each is found anew when next used); the routes dropped, in the order found."""
        dropped = self._found
        self._routes, self._found = {}, []
        return dropped

    def _path(self, src: Hashable, dst: Hashable) -> list[Hashable]:
        """The graph's ``router(graph, src, dst)`` if it has one (ECMP on a fat tree, NICs on a node), else
        a hop-shortest path."""
        router = self.graph.graph.get("router")
        return router(self.graph, src, dst) if router is not None else shortest_path(self.graph, src, dst)

    @property
    def routes(self) -> list[Route]:
        """Every route used so far."""
        return list(self._found)

    @property
    def messages(self) -> int:
        """Messages sent so far."""
        return sum(self.sizes.values())

    def message_sizes(self) -> dict[int, int]:
        """Message size (bytes) → count, smallest first."""
        return dict(sorted(self.sizes.items()))

    # -- messaging ------------------------------------------------------------------------
    def _event_for(self, key: tuple[Hashable, Hashable, Any], is_send: bool, waited: bool = True) -> Event:
        """Match sends to receives in order on the channel ``key`` = (src, dst, tag); ``waited`` False: the
        event may have no callback list yet (see :func:`waitable`)."""
        channels = self._channels
        entry = channels.get(key)
        if entry is not None and entry[0] != is_send:  # the other side is already waiting
            event = entry.pop(1)
            if waited and event.callbacks is _UNWAITED:
                event.callbacks = []
            if len(entry) == 1:
                del channels[key]
                # a dict never shrinks: a fresh one once empty, a copy as it falls to each power of two from 2¹⁶
                # down (an all-to-all holds n²/2 channels at once halfway through its sends, few at their end)
                if not channels:
                    self._channels, self._shrink_at = {}, _SHRINK_FROM
                elif len(channels) == self._shrink_at:
                    self._channels, self._shrink_at = dict(channels), self._shrink_at // 2
            return event
        event = self._flow(self.env, waited)
        event.stage = _UNSENT
        if entry is None:
            channels[key] = [is_send, event]
        else:
            entry.append(event)
        return event

    def recv(self, dst: Hashable, src: Hashable, tag: Any = None) -> Event:
        """An event that fires with the payload of the next message from ``src`` to ``dst``."""
        return self._event_for((src, dst, tag), is_send=False)

    def send(
        self, src: Hashable, dst: Hashable, nbytes: int, payload: Any = None, tag: Any = None, phase: str = "",
        delivery: Event | None = None, key: tuple[int, int, int] | None = None, waited: bool = True,
        left: Event | None = None,
    ) -> Event:
        """Start sending ``nbytes`` from ``src`` to ``dst``; the event fires on delivery (``delivery``, if
        the message was matched to its receive earlier, as a delayed start does). ``key`` names the transfer
        (call, round, index) where a disturbed network draws its jitter from; ``waited`` False: the event may
        have no callback list until :func:`waitable` makes one (for a sender waiting on it later); ``left``, if
        given, is fired when the message's last byte has left (its end of transmission: a buffered sender goes
        on then).

        The payload is not copied: the sender must not change it before the event fires.
        """
        if src == dst:
            raise ValueError(f"node {src!r} cannot send to itself")
        row = self._routes.get(src)
        route = row.get(dst) if row is not None else None
        if route is None:
            route = self.route(src, dst)
        env = self.env
        now = env._now
        flow = self._event_for((src, dst, tag), True, waited) if delivery is None else delivery
        if type(flow) is not self._flow or flow.stage != _UNSENT:
            delivery, flow = flow, _Relay(env)
            flow.delivery = delivery
        flow.route, flow.payload = route, payload
        flow.since = now
        flow.remaining = nbytes
        flow.gen = 0
        flow.order = None
        if self._flow is _TracedFlow:
            flow.tag, flow.start, flow.nbytes = tag, now, nbytes
            if phase is not self._last_phase:
                phase_id = self._phase_index.get(phase)
                if phase_id is None:
                    phase_id = self._phase_index[phase] = len(self._phase_index)
                    if self.log is not None:
                        self.log.phases.append(phase)
                self._last_phase, self._last_phase_id = phase, phase_id
            flow.phase = self._last_phase_id
        route.messages += 1
        route.bytes = route.bytes + nbytes if route.bytes else nbytes  # a first message's size: that int, no copy
        sizes = self.sizes
        sizes[nbytes] = sizes.get(nbytes, 0) + 1
        if nbytes <= 0:
            flow.rate = 0.0
            flow.stage = _PROPAGATING
            env.timeout(route.latency).callbacks.append(lambda _timer: self._deliver(flow))  # never withdrawn
            if left is not None:
                left.succeed()
            return event_of(flow)
        links = route.links
        alone = True
        for link in links:
            if link.flows and not self._idle(link):
                alone = False
            link.flows[flow] = None
        if alone:  # fast path: the whole route is idle, so the flow runs at the bottleneck rate
            flow.rate = route.bandwidth
            flow.stage = _ALONE
            transmit = nbytes / flow.rate
            flow.tx_end = now + transmit
            self._deliver_at(now + (transmit + route.latency), transmit + route.latency, flow)
            if left is not None:  # at tx_end, unless it has to share first (then at its end of transmission)
                env.timeout(transmit).callbacks.append(lambda _timer: self._left_alone(flow))
        else:
            flow.rate = 0.0
            flow.stage = _SHARED
            self._mark_dirty(links)
        if left is not None:
            self._leaving[flow] = left
        return event_of(flow)

    def _left_alone(self, flow: _Flow) -> None:
        """A flow sent with ``left`` that ran alone reached its ``tx_end``: fire ``left``, if it still ran alone
        (made to share, it fires at the end of its shared transmission, in :meth:`_transmitted`)."""
        if flow.stage == _ALONE:
            self._leaving.pop(flow).succeed()

    def _deliver_at(self, when: float, delay: float, flow: _Flow) -> None:
        """Deliver a lone flow at ``when``: flows due at the same instant share one timer (a ring's n
        messages of a step are one heap entry, not n), delivered in the order they were sent."""
        due = self._due.get(when)
        if due is None:
            due = self._due[when] = []
            timer = self.env.timeout(delay, when)
            timer.callbacks.append(self._deliver_due)
        due.append(flow)

    def _deliver_due(self, timer: Event) -> None:
        for flow in self._due.pop(timer._value):
            if flow.stage == _ALONE:  # not made to share since (that gave it a timer of its own)
                self._deliver(flow)

    def _idle(self, link: Link) -> bool:
        """Drop a flow that ran alone and has finished transmitting; True if the link is now idle.

        Such a flow can only be the link's sole flow: any flow joining it earlier made it shared.
        """
        flows = link.flows
        if len(flows) != 1:
            return not flows
        (flow,) = flows
        if flow.stage != _ALONE or flow.tx_end > self.env.now:
            return False
        for other in flow.route.links:
            other.flows.pop(flow, None)
        return True

    def _transmitted(self, flow: _Flow, due: dict[float, _Instant]) -> None:
        """A shared flow's last byte left: free its links, deliver after the route latency (on the timer of
        that instant in ``due``, the timers set in this pass)."""
        for link in flow.route.links:
            del link.flows[flow]
        self._mark_dirty(flow.route.links)
        if self._leaving:
            left = self._leaving.pop(flow, None)
            if left is not None:
                left.succeed()
        flow.stage = _PROPAGATING
        when = self.env._now + flow.route.latency  # as Environment.schedule computes it
        instant = due.get(when)
        if instant is None:
            instant = due[when] = _Instant(self, when)
        instant.add(flow)

    def _deliver(self, flow: _Flow) -> None:
        """Record the message and hand its payload to the receiver (processing the event inline)."""
        route = flow.route
        if flow.stage == _ALONE:
            for link in route.links:
                link.flows.pop(flow, None)
        log = self.log
        if log is not None:
            log.route.append(route.index)
            log.nbytes.append(flow.nbytes)
            log.start.append(flow.start)
            log.end.append(self.env.now)
            log.phase.append(flow.phase)
        # Process the delivery event now, as Environment.step would, without a second heap trip.
        event = event_of(flow)
        event.at = self.env.now  # when it arrived, for a receiver that asks later
        event._ok = True
        event._value = flow.payload
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)

    # -- max-min fair sharing -------------------------------------------------------------
    def _mark_dirty(self, links: tuple[Link, ...]) -> None:
        dirty = self._dirty
        for link in links:
            if link.flows:
                dirty[link] = None
        if dirty and not self._reallocation_pending:
            self._reallocation_pending = True
            event = Event(self.env)
            event._ok = True
            event._value = None
            event.callbacks.append(self._reallocate)
            self.env.schedule(event, _AFTER_NORMAL)

    def _reallocate(self, _event: Event) -> None:
        """Give the flows touching changed links their max-min fair rates (progressive filling). The flows
        are marked, not gathered in dicts or lists (an all-to-all reaches n(n−1) of them at once): ``order``,
        a flow's place in the component, complemented (negative) once it has its rate, None outside a pass."""
        self._reallocation_pending = False
        dirty, self._dirty = self._dirty, {}
        found = 0  # flows in the component so far
        links: dict[Link, None] = {}
        # No finished lone flow is on these links: a lone flow never shares a link (a flow that
        # joins it either finds it finished and drops it in ``send``, or makes it shared here).
        stack = [link for link in dirty if link.flows]
        links.update(dict.fromkeys(stack))
        while stack:  # the connected component of flows sharing links with the changed ones
            for flow in stack.pop().flows:
                if flow.order is None:
                    flow.order = found
                    found += 1
                    for link in flow.route.links:
                        if link not in links:
                            links[link] = None
                            stack.append(link)
        spare = {link: link.bandwidth for link in links}
        unfrozen_on = {link: len(link.flows) for link in links}
        unfrozen = found
        level = 0.0
        rated: list[_Flow] = []  # the flows in the order they got their rates
        levels: list[tuple[int, float]] = []  # (how many, rate): the next ``how many`` of ``rated`` got ``rate``
        while unfrozen:
            increment = min(spare[link] / count for link, count in unfrozen_on.items() if count)
            level += increment
            saturated = []
            for link, count in unfrozen_on.items():
                if count:
                    spare[link] -= increment * count
                    if spare[link] <= _SATURATED * link.bandwidth:
                        saturated.append(link)
            # Freeze the flows crossing a saturated link, in component order (so timers are scheduled in
            # the same order whatever the links' order): only those flows are visited, not every unfrozen one.
            frozen = []
            for link in saturated:
                for flow in link.flows:
                    if flow.order >= 0:
                        flow.order = ~flow.order
                        frozen.append(flow)
            frozen.sort(key=_ORDER, reverse=True)  # by place: ``order`` is its complement now
            for flow in frozen:
                for link in flow.route.links:
                    unfrozen_on[link] -= 1
            if rated:
                rated += frozen
            else:  # the first level (the only one where every flow has the same bottleneck): no copy
                rated = frozen
            levels.append((len(frozen), level))
            unfrozen -= len(frozen)
        now = self.env.now
        due: dict[float, _Instant] = {}  # the timers set here, one per instant (nothing else is set between)
        in_order = iter(rated)
        for count, rate in levels:
            for flow in islice(in_order, count):
                flow.order = None  # out of the pass
                if rate != flow.rate or flow.stage == _ALONE:  # an alone flow's timer is at delivery: redo it
                    # equivalent: a flow started this instant has sent nothing: its bytes stay the size's int (no
                    # float a flow; an int divides as the float of its value)
                    if flow.since != now:
                        flow.remaining = max(flow.remaining - flow.rate * (now - flow.since), 0.0)
                        flow.since = now
                    flow.rate = rate
                    flow.stage = _SHARED
                    flow.gen += 1  # a version stamp: only the newest timer acts (any increasing value would do)
                    when = now + flow.remaining / rate  # as Environment.schedule computes a timeout's time
                    instant = due.get(when)
                    if instant is None:
                        instant = due[when] = _Instant(self, when)
                    instant.add(flow)


def after_instant(event: Event) -> Event:
    """Fire ``event`` at the current instant, after every ordinary event of it and the network's new rates
    (so that what waits on it sees every arrival of the instant)."""
    event._ok, event._value = True, None
    event.env.schedule(event, _AFTER_NORMAL + 1)
    return event


def _quietly(process: Any) -> Any:
    """A process that ends (returning None) when interrupted: a crash stops it, nothing else notices."""
    try:
        return (yield from process)
    except simpy.Interrupt:
        return None
