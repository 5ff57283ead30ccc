"""What goes wrong on a network during a run: jittered message starts and links that fail.

* **Jitter**: each send starts after a seeded delay drawn uniformly from [0, J) (a NIC's queueing, an
  OS's scheduling). The message is matched to its receive when it is sent, so a channel keeps its order.
* **A link fails** at a simulated time: the edge leaves the graph, routes that crossed it are found anew
  (the topology's router where its path survives, else a hop-shortest path), and the bytes still to send
  of every message crossing it continue on the new route (those already sent are delivered). Bytes that
  take a new route because of the failure are counted (``rerouted_bytes``). If the failure splits the
  participants, the run stops: :class:`Partitioned`.
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
from .fluid import _ALONE, _PROPAGATING, _SHARED, Network, Route, shortest_path


class Partitioned(Exception):
    """A failure split the network: some participants cannot reach the others."""


def _names(nodes: list[Hashable]) -> str:
    return ", ".join(map(str, nodes[:8])) + (f" and {len(nodes) - 8} more" if len(nodes) > 8 else "")


class DisturbedNetwork(Network):
    """A :class:`Network` whose sends may start late (``jitter_s``: the largest delay, seeded by ``seed``)
    and whose links may fail (:meth:`fail_link`). ``participants``: the nodes that must stay connected."""

    def __init__(self, env: simpy.Environment, graph: nx.Graph, keep_log: bool = True, jitter_s: float = 0.0,
                 seed: int = 0, participants: list[Hashable] | None = None) -> None:
        super().__init__(env, graph, keep_log)
        self.jitter_s = jitter_s
        self._draw = np.random.default_rng([seed, 7]).random
        self.participants = list(participants if participants is not None else graph.nodes)
        self.rerouted_bytes = 0.0
        self.failed: list[tuple[float, Hashable, Hashable]] = []  # (time, u, v) of each failure
        self._rerouted: set[tuple[Hashable, Hashable]] = set()  # (src, dst) whose route a failure changed
        self._intact = graph  # the graph before the first failure (copied then)

    def send(self, src: Hashable, dst: Hashable, nbytes: int, payload: Any = None, tag: Any = None, phase: str = "",
             delivery: Event | None = None) -> Event:
        """As :meth:`Network.send`, after a delay drawn from U[0, jitter_s)."""
        if not self.jitter_s or delivery is not None:
            return self._launch(src, dst, nbytes, payload, tag, phase, delivery)
        if src == dst:
            raise ValueError(f"node {src!r} cannot send to itself")
        matched = self._event_for((src, dst, tag), is_send=True)
        timer = self.env.timeout(self.jitter_s * float(self._draw()))
        timer.callbacks.append(lambda _timer: self._launch(src, dst, nbytes, payload, tag, phase, matched))
        return matched

    def _launch(self, src: Hashable, dst: Hashable, nbytes: int, payload: Any, tag: Any, phase: str,
                delivery: Event | None) -> Event:
        """The message starts now; its bytes count as rerouted if a failure changed its route."""
        if self.failed and src != dst:
            self.route(src, dst)  # found anew if a failure dropped it, and then marked rerouted if it changed
            if (src, dst) in self._rerouted:
                self.rerouted_bytes += nbytes
        return Network.send(self, src, dst, nbytes, payload, tag, phase, delivery)

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
        known = (src, dst) in self._routes
        route = super().route(src, dst)
        if self.failed and not known:
            graph, self.graph = self.graph, self._intact
            try:
                intact = Network._path(self, src, dst)
            finally:
                self.graph = graph
            if any(not graph.has_edge(a, b) for a, b in zip(intact, intact[1:])):
                self._rerouted.add((src, dst))
        return route

    def fail_link(self, u: Hashable, v: Hashable) -> None:
        """Take the edge u–v out now: reroute what crossed it; :class:`Partitioned` if the participants split."""
        now = self.env.now
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
                              f"workers {_names(first)} cannot reach {_names(rest)}")
        for key, route in list(self._routes.items()):
            if dead & set(route.links):
                del self._routes[key]
                self._rerouted.add(key)
        moving = {flow: None for link in dead for flow in link.flows}
        for flow in moving:
            if flow.stage == _PROPAGATING or (flow.stage == _ALONE and flow.tx_end <= now):
                continue  # every byte has left: it is delivered
            if flow.stage == _ALONE:
                remaining = flow.nbytes - flow.rate * (now - flow.start)
            else:
                remaining = flow.remaining - flow.rate * (now - flow.since)
            old = flow.route
            for link in old.links:
                link.flows.pop(flow, None)
            new = self.route(old.src, old.dst)
            for link in new.links:
                link.flows[flow] = None
            self.rerouted_bytes += remaining
            flow.route, flow.remaining, flow.since, flow.rate = new, max(remaining, 0.0), now, 0.0
            flow.stage = _SHARED
            flow.gen += 1
            self._mark_dirty(old.links + new.links)


def schedule_failures(net: DisturbedNetwork, failures: list[tuple[Hashable, Hashable, float]]) -> None:
    """At each failure's time, fail its link (a partition raises :class:`Partitioned` out of ``env.run``)."""
    for u, v, at in failures:
        net.env.timeout(at).callbacks.append(lambda _event, u=u, v=v: net.fail_link(u, v))
