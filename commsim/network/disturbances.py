"""What goes wrong on a network during a run: jittered message starts, links that fail, nodes that crash.

* **Jitter**: each send starts after a seeded delay drawn uniformly from [0, J) (a NIC's queueing, an
  OS's scheduling), keyed by the transfer it delays (:func:`commsim.network.jitter.jitter_fraction`): both
  engines draw the same delay for the same transfer. The message is matched to its receive when it is sent, so a channel keeps its order;
  when it was sent is kept (``posted``), so that what released it is told apart from what arrived while
  it waited.
* **A link fails** at a simulated time: the edge leaves the graph, every route is found anew on what is
  left (the topology's router where its path survives, else a hop-shortest path), and the bytes still to send
  of every message crossing it continue on the new route (those already sent are delivered). Bytes that
  take a new route because of the failure are counted (``rerouted_bytes``); each link's byte count
  follows them (the bytes sent before the failure on the old route, the rest on the new one). If the
  failure splits the participants (crashed workers included: messages to them still need a way), the
  run stops: :class:`Partitioned`. A part with no participant (a switch cut off) is no partition.
* **A node crashes** at a simulated time (:meth:`DisturbedNetwork.crash`): it sends nothing more and
  receives nothing more. Of its messages under way, one whose last byte has left is delivered; one with
  bytes not yet sent never arrives: those bytes never leave (``lost``), the link capacity it held goes
  to the others, and the receive it was matched to waits on, for the channel's next message. Messages
  sent to the crashed node still cross the network and are delivered (their senders do not know), and
  traffic of others through it (a worker that forwards, on a ring or a torus) goes on: a crash stops a
  rank, not the links through it.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable
from typing import Any

import networkx as nx
import numpy as np
import simpy
from simpy.events import Event

from ..units import format_time
from .jitter import jitter_fraction
from .fluid import _ALONE, _PROPAGATING, _SHARED, Network, Route, _TracedFlow, event_of, shortest_path, waitable

# the stage of a flow cut off by its sender's crash: no timer acts on it any more
_LOST = 3  # equivalent: only compared with fluid's stages (0, 1, 2 and _UNSENT, −1): any other number does as well


class Partitioned(Exception):
    """A failure split the network: some participants cannot reach the others (``at``: when it failed)."""

    def __init__(self, message: str, at: float) -> None:
        super().__init__(message)
        self.at = at


def _names(nodes: list[Hashable]) -> str:
    return ", ".join(map(str, nodes[:8])) + (f" and {len(nodes) - 8} more" if len(nodes) > 8 else "")


class DisturbedNetwork(Network):
    """A :class:`Network` whose sends may start late (``jitter_s``: the largest delay, seeded by ``seed``),
    whose links may fail (:meth:`fail_link`) and whose nodes may crash (:meth:`crash`). ``participants``:
    the nodes that must stay connected (crashed ones too)."""

    def __init__(self, env: simpy.Environment, graph: nx.Graph, keep_log: bool = True, jitter_s: float = 0.0,
                 seed: int = 0, participants: list[Hashable] | None = None) -> None:
        super().__init__(env, graph, keep_log)
        self._flow = _TracedFlow  # a crash reads a message's tag, size and start
        self.jitter_s = jitter_s
        self._draw = np.random.default_rng([seed, 7]).random  # for sends that name no transfer
        self.seed = seed
        self.participants = list(participants if participants is not None else graph.nodes)
        self.rerouted_bytes = 0.0
        self.failed: list[tuple[float, Hashable, Hashable]] = []  # (time, u, v) of each failure
        self._rerouted: set[tuple[Hashable, Hashable]] = set()  # (src, dst) whose route a failure changed
        self._intact = graph  # the graph before the first failure (copied then)
        self._retired: list[Route] = []  # routes a failure replaced: what crossed them still counts
        self.crashed: set[Hashable] = set()
        self.lost: list[tuple[Hashable, Hashable, float]] = []  # (src, dst, bytes never sent) per message a crash cut
        self.posted: dict[tuple[Hashable, Hashable, float], float] = {}  # (src, dst, start) → sent, if it started late

    @property
    def routes(self) -> list[Route]:
        """Every route used so far, those a failure replaced first."""
        return [*self._retired, *super().routes]

    def send(self, src: Hashable, dst: Hashable, nbytes: int, payload: Any = None, tag: Any = None, phase: str = "",
             delivery: Event | None = None, key: tuple[int, int, int] | None = None, waited: bool = True,
             left: Event | None = None) -> Event:
        """As :meth:`Network.send`, after a delay drawn from U[0, jitter_s); from a crashed node, nothing
        (neither event fires). ``delivery`` is for the delayed start (:meth:`_launch`), never given here."""
        if src in self.crashed:
            return Event(self.env)
        if not self.jitter_s:
            return self._launch(src, dst, nbytes, payload, tag, phase, delivery, waited=waited, left=left)
        if src == dst:
            raise ValueError(f"node {src!r} cannot send to itself")
        matched = self._event_for((src, dst, tag), True, waited)
        u = float(self._draw()) if key is None else float(jitter_fraction(self.seed, *key)[0])
        timer = self.env.timeout(self.jitter_s * u)
        sent = self.env.now
        timer.callbacks.append(
            lambda _timer: self._launch(src, dst, nbytes, payload, tag, phase, matched, sent, left=left))
        return matched

    def _launch(self, src: Hashable, dst: Hashable, nbytes: int, payload: Any, tag: Any, phase: str,
                delivery: Event | None, sent: float | None = None, waited: bool = True,
                left: Event | None = None) -> Event:
        """The message starts now (``sent``: when it was sent, if that was earlier); its bytes count as
        rerouted if a failure changed its route. Its sender crashed while it waited: it never starts."""
        if src in self.crashed:
            self.lost.append((src, dst, float(nbytes)))
            self._withdraw((src, dst, tag), delivery)
            return delivery
        if sent is not None and sent != self.env.now:
            self.posted[src, dst, self.env.now] = sent
        # equivalent: with no failure route() finds (and caches) the route Network.send finds next; a send to
        # itself is refused by Network.send either way
        if self.failed and src != dst:
            self.route(src, dst)  # found anew if a failure dropped it, and then marked rerouted if it changed
            if (src, dst) in self._rerouted:
                self.rerouted_bytes += nbytes
        return Network.send(self, src, dst, nbytes, payload, tag, phase, delivery, waited=waited, left=left)

    def _path(self, src: Hashable, dst: Hashable) -> list[Hashable]:
        """The topology's route if it survives the failures, else a hop-shortest path."""
        router = self.graph.graph.get("router")
        if not self.failed:
            return super()._path(src, dst)
        if router is not None:
            try:
                path = router(self.graph, src, dst)
            except (nx.NetworkXException, KeyError, ValueError):
                path = None
            if path is not None and all(self.graph.has_edge(a, b) for a, b in zip(path, path[1:])):
                return path
        return shortest_path(self.graph, src, dst)

    def route(self, src: Hashable, dst: Hashable) -> Route:
        """As :meth:`Network.route`; after a failure, a route found anew is marked rerouted if the intact
        network's route crossed a failed link."""
        known = self._known(src, dst)
        route = super().route(src, dst)
        # equivalent: before a failure the intact graph is the graph; a known route was checked when found
        # (a failure forgets every route)
        if self.failed and not known:
            graph, self.graph = self.graph, self._intact
            try:
                intact = Network._path(self, src, dst)
            finally:
                self.graph = graph
            if any(not graph.has_edge(a, b) for a, b in zip(intact, intact[1:])):
                self._rerouted.add((src, dst))
        return route

    def _event_for(self, key: tuple[Hashable, Hashable, Any], is_send: bool, waited: bool = True) -> Event:
        """As :meth:`Network._event_for`; a receive of a crashed node never fires."""
        if not is_send and key[1] in self.crashed:
            return Event(self.env)
        return Network._event_for(self, key, is_send, waited)

    def _withdraw(self, key: tuple[Hashable, Hashable, Any], delivery: Event) -> None:
        """A message of channel ``key`` (its event ``delivery``) will never arrive: still unmatched, it leaves
        the channel; matched to a receive, that receive waits on for the channel's next message."""
        entry = self._channels.get(key)
        # equivalent: searching entry[2:] misses delivery only when it is the first send, and the last branch
        # then pops it the same way (its callback never fires)
        if entry is not None and entry[0] is True and any(event is delivery for event in entry[1:]):
            entry.remove(delivery)
            if len(entry) == 1:
                del self._channels[key]
        elif entry is None:
            self._channels[key] = [False, delivery]
        elif entry[0] is False:
            entry.insert(1, delivery)  # equivalent: its sender has crashed: no later message shows the order
        else:  # the channel's next message is already sent: it is the one the receive gets
            following = entry.pop(1)
            if len(entry) == 1:
                del self._channels[key]
            if following.callbacks is None:
                delivery.succeed(following.value)
            else:
                waitable(following).callbacks.append(lambda event: delivery.succeed(event.value))

    def _unsent(self, flow: _TracedFlow) -> float | None:
        """The bytes ``flow`` has still to send now; None once every byte has left."""
        now = self.env.now
        if flow.stage == _PROPAGATING or (flow.stage == _ALONE and flow.tx_end <= now):
            return None
        if flow.stage == _ALONE:
            return flow.nbytes - flow.rate * (now - flow.start)
        return max(flow.remaining - flow.rate * (now - flow.since), 0.0)

    def crash(self, node: Hashable) -> None:
        """Node ``node`` stops now: it sends and receives nothing more; of its messages under way, those with
        bytes not yet sent are lost (their links' capacity goes to the others)."""
        self.crashed.add(node)
        for key in [key for key, entry in self._channels.items() if key[1] == node and entry[0] is False]:
            del self._channels[key]  # its own receives: nothing will come for them
        under_way = {flow: None for neighbour in self.graph.adj[node] for flow in self.links[node, neighbour].flows
                     if flow.route.src == node}
        for flow in under_way:
            unsent = self._unsent(flow)
            if not unsent:
                continue  # every byte has left: it is delivered
            route = flow.route
            for link in route.links:
                link.flows.pop(flow, None)
            self._mark_dirty(route.links)
            flow.stage, flow.gen = _LOST, flow.gen + 1  # equivalent: any larger stamp outdates its timers
            self._leaving.pop(flow, None)  # its last byte never leaves
            route.bytes -= round(unsent)
            self.lost.append((route.src, route.dst, unsent))
            self._withdraw((route.src, route.dst, flow.tag), event_of(flow))

    def fail_link(self, u: Hashable, v: Hashable) -> None:
        """Take the edge u–v out now: reroute what crossed it; :class:`Partitioned` if the participants split
        (a crashed worker too: messages to it still need a way)."""
        now = self.env.now
        if not self.graph.has_edge(u, v):
            raise ValueError(f"no link {u}–{v} to fail (it failed already, or never was)")
        if not self.failed:  # a deep copy keeps each node's neighbour order, so its paths are the same
            self._intact = copy.deepcopy(self.graph)
        self.graph.remove_edge(u, v)
        self.failed.append((now, u, v))
        dead = {self.links[u, v], self.links[v, u]}
        parts = [part for part in nx.connected_components(self.graph) if part & set(self.participants)]
        if len(parts) > 1:
            first = [node for node in self.participants if node in parts[0]]
            rest = [node for node in self.participants if node not in parts[0]]
            raise Partitioned(f"network partitioned at t = {format_time(now)} (link {u}–{v} failed): "
                              f"workers {_names(first)} cannot reach {_names(rest)}", now)
        # every route is found anew on what is left (and marked rerouted there if the intact network's crossed a
        # failed link)
        self._retired.extend(self._forget_routes())
        moving = {flow: None for link in dead for flow in link.flows}
        for flow in moving:
            remaining = self._unsent(flow)
            if remaining is None:
                continue  # every byte has left: it is delivered
            old = flow.route
            for link in old.links:
                link.flows.pop(flow, None)
            new = self.route(old.src, old.dst)
            for link in new.links:
                self._idle(link)  # a lone flow that has left it is dropped, as a send does: it must not share
                link.flows[flow] = None
            self.rerouted_bytes += remaining
            old.bytes -= round(remaining)
            new.bytes += round(remaining)
            flow.route, flow.remaining, flow.since, flow.rate = new, remaining, now, 0.0
            flow.stage = _SHARED
            flow.gen += 1  # equivalent: any larger stamp outdates its timers
            self._mark_dirty(old.links + new.links)


def schedule_failures(net: DisturbedNetwork, failures: list[tuple[Hashable, Hashable, float]]) -> None:
    """At each failure's time, fail its link (a partition raises :class:`Partitioned` out of ``env.run``)."""
    for u, v, at in failures:
        net.env.timeout(at).callbacks.append(lambda _event, u=u, v=v: net.fail_link(u, v))
