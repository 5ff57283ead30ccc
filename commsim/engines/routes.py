"""Routes between the nodes a program uses, found once each, and the links' max-min fair rates.

Nodes are numbered by slot (``nodes[slot]``). A route is a run of directed links with its latency (the
sum) and bottleneck (the smallest bandwidth), the path the message engine takes: the topology's router
(``graph.graph["router"]``), else a hop-shortest path (``commsim.network.fluid.shortest_paths``).

Links may fail at times. The failures cut time into epochs (epoch e: after the e-th failure); the route of
a pair in epoch e is found on the network without the failed links: the router's path where it survives,
else a hop-shortest path on what is left. Route ids are global over the epochs, so counts per route add
up into bytes per link. A pair's route in a later epoch is *rerouted* when its first route crossed a
link that has failed since.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from ..network.fluid import shortest_paths
from ..units import format_time
from .program import partition_acts

_SATURATED = 1e-9  # as the fluid network: spare capacity below this fraction of bandwidth is none
_FILLED_BYTES = 1 << 27  # the rates kept per multiset of routes, at most (then forgotten all at once): 128 MiB


def _names(nodes: list[Hashable]) -> str:
    return ", ".join(map(str, nodes[:8])) + (f" and {len(nodes) - 8} more" if len(nodes) > 8 else "")


def _joined(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``old`` then ``new`` (``new`` itself where there is no ``old``: no copy)."""
    return np.concatenate([old, new]) if len(old) else new


def _distinct(keys: np.ndarray) -> np.ndarray:
    """``np.unique(keys)``, without the sort where they are in increasing order already (all pairs of a round,
    sender by sender, are); else by a sort (numpy 2's unique of integers hashes: some 20 times slower at a few
    thousand)."""
    if len(keys) > 1 and not (keys[1:] > keys[:-1]).all():
        ordered = np.sort(keys)
        return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]
    return keys


def first_partition(nodes: Sequence[Hashable], failures: Sequence[tuple[Hashable, Hashable, float]],
                    graph_of: Callable[[int], nx.Graph]) -> tuple[int, str] | None:
    """The first of ``failures`` (sorted by time) that splits ``nodes``: (its index, what to say), or None.
    ``graph_of(e)``: the network without the first e failed links."""
    slots = set(nodes)
    for epoch in range(1, len(failures) + 1):
        parts = [part for part in nx.connected_components(graph_of(epoch)) if part & slots]
        if len(parts) > 1:
            u, v, at = failures[epoch - 1]
            first = [node for node in nodes if node in parts[0]]
            rest = [node for node in nodes if node not in parts[0]]
            return epoch - 1, (f"network partitioned at t = {format_time(at)} (link {u}–{v} failed): "
                        f"workers {_names(first)} cannot reach {_names(rest)}")
    return None


def without_failed(graph: nx.Graph, failures: Sequence[tuple[Hashable, Hashable, float]]) -> Callable[[int], nx.Graph]:
    """``graph_of`` for :func:`first_partition`: epoch e's network, made once per epoch on demand (a deep
    copy keeps every node's neighbour order, so its hop-shortest paths are those of the intact network)."""
    graphs = [graph]

    def graph_of(epoch: int) -> nx.Graph:
        while len(graphs) <= epoch:
            u, v, _ = failures[len(graphs) - 1]
            cut = copy.deepcopy(graphs[-1])
            cut.remove_edge(u, v)
            graphs.append(cut)
        return graphs[epoch]
    return graph_of


class Routes:
    """Routes between slots, per epoch of link failures (``failures``: (u, v, time), sorted by time)."""

    def __init__(self, graph: nx.Graph, nodes: Sequence[Hashable],
                 failures: Sequence[tuple[Hashable, Hashable, float]] = ()) -> None:
        self.graph, self.nodes, self.count = graph, list(nodes), len(nodes)
        self.link_index: dict[tuple[Any, Any], int] = {}
        bandwidth: list[float] = []
        latency: list[float] = []
        for u, v, data in graph.edges(data=True):
            for a, b in ((u, v), (v, u)):
                self.link_index[a, b] = len(bandwidth)
                bandwidth.append(float(data["bandwidth"]))
                latency.append(float(data["latency"]))
        self.link_names = [f"{a}->{b}" for a, b in self.link_index]
        self.bandwidth = np.array(bandwidth)
        self._link_latency = np.array(latency)
        self.failures = sorted(failures, key=lambda failure: failure[2])
        self.failure_times = np.array([at for _, _, at in self.failures], dtype=np.float64)
        self._graph = without_failed(graph, self.failures)  # epoch → the network without its failed links
        self.keys = np.zeros(0, dtype=np.int64)  # sorted keys (epoch·S + src)·S + dst
        self.ids = np.zeros(0, dtype=np.int64)  # their route ids
        self.latency = np.zeros(0)
        self.bottleneck = np.zeros(0)
        self.start = np.zeros(1, dtype=np.int64)  # CSR: route r's links are flat[start[r]:start[r] + length[r]]
        self.length = np.zeros(0, dtype=np.int64)
        self.flat = np.zeros(0, dtype=np.int64)
        self.rerouted = np.zeros(0, dtype=bool)  # the route replaces one that crossed a failed link
        # the first failure that splits the slots: (when it stops the run, program.partition_acts; why)
        self.stop: tuple[float, str] | None = None
        self.stop_stated = float("inf")  # its time as stated
        self._filled: dict[bytes, np.ndarray] = {}  # max-min rates of each multiset of routes met (see max_min_rates)
        self._filled_bytes = 0
        self._partition()

    # -- epochs ---------------------------------------------------------------------------
    def epoch(self, start: np.ndarray | float) -> np.ndarray | int:
        """The epoch of a transfer starting at ``start``: how many failures happened at or before it."""
        return np.searchsorted(self.failure_times, start, side="right")

    def _partition(self) -> None:
        """The first failure that leaves the slots in several pieces: the run stops there if it is not over."""
        found = first_partition(self.nodes, self.failures, self._graph)
        if found is not None:
            index, why = found
            self.stop_stated = self.failures[index][2]
            self.stop = (partition_acts(self.stop_stated), why)

    def failed_links(self, epoch: int) -> set[int]:
        """Ids of the directed links failed by ``epoch``."""
        ids = set()
        for u, v, _ in self.failures[:epoch]:
            ids |= {self.link_index[u, v], self.link_index[v, u]}
        return ids

    def _paths(self, epoch: int, src: int, dsts: list[int]) -> list[list[Any]]:
        """Paths in ``epoch`` from slot ``src`` to each of ``dsts``."""
        graph, nodes = self._graph(epoch), self.nodes
        router = graph.graph.get("router")
        found: list[list[Any] | None] = [None] * len(dsts)
        if router is not None:
            for i, dst in enumerate(dsts):
                try:
                    path = router(graph, nodes[src], nodes[dst])
                except (nx.NetworkXException, KeyError, ValueError):
                    continue
                if epoch == 0 or all(graph.has_edge(a, b) for a, b in itertools.pairwise(path)):
                    found[i] = path
        missing = [dst for dst, path in zip(dsts, found) if path is None]
        if missing:
            shortest = shortest_paths(graph, nodes[src], [nodes[dst] for dst in missing])
            found = [path if path is not None else shortest[nodes[dst]] for dst, path in zip(dsts, found)]
        return found  # type: ignore[return-value]

    # -- lookup ---------------------------------------------------------------------------
    def lookup(self, src: np.ndarray, dst: np.ndarray, epoch: np.ndarray | int = 0) -> np.ndarray:
        """Route ids of the pairs (src[i], dst[i]) in ``epoch`` (one, or one per pair), finding new ones."""
        count = self.count
        keys = (np.asarray(epoch, dtype=np.int64) * count + src) * count + dst
        position = np.searchsorted(self.keys, keys)
        found = position < len(self.keys)
        found[found] = self.keys[position[found]] == keys[found]
        if not found.all():
            missing = keys[~found]
            new = _distinct(missing)
            self._add(new)
            if new is missing and len(new) == len(self.keys):  # all new, in order, and nothing before them
                return self.ids.copy()
            position = np.searchsorted(self.keys, keys)
        return self.ids[position]

    def found(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
        """Route ids of the pairs (src[i], dst[i]) in epoch 0 where all are known already, else None (finding none:
        route ids are numbered in the order pairs are first looked up)."""
        keys = src * self.count + dst
        position = np.searchsorted(self.keys, keys)
        if not len(keys):
            return np.zeros(0, dtype=np.int64)
        if position.max() >= len(self.keys) or not np.array_equal(self.keys[position], keys):
            return None
        return self.ids[position]

    def _add(self, new: np.ndarray) -> None:
        """Find the routes of ``new`` keys (sorted: grouped by epoch and source, numbered in this order)."""
        found = self._through_hub(new)
        if found is not None:
            added, length, rerouted, latency, bottleneck = found
        else:
            added, length, rerouted = self._search(new)
            heads = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
            nonempty = length > 0
            latency = np.zeros(len(length))
            bottleneck = np.full(len(length), np.inf)
            if nonempty.any():
                latency[nonempty] = np.add.reduceat(self._link_latency[added], heads[nonempty])
                bottleneck[nonempty] = np.minimum.reduceat(self.bandwidth[added], heads[nonempty])
        first = len(self.ids)
        self.latency = _joined(self.latency, latency)
        self.bottleneck = _joined(self.bottleneck, bottleneck)
        self.length = _joined(self.length, length)
        self.start = np.concatenate([[0], np.cumsum(self.length)])
        self.flat = _joined(self.flat, added)
        self.rerouted = _joined(self.rerouted, rerouted)
        keys_all = _joined(self.keys, new)
        ids_all = _joined(self.ids, np.arange(first, first + len(new), dtype=np.int64))
        if len(self.keys) and self.keys[-1] > new[0]:  # else already in order (a first lookup: always)
            order = np.argsort(keys_all, kind="stable")
            keys_all, ids_all = keys_all[order], ids_all[order]
        self.keys, self.ids = keys_all, ids_all

    def _through_hub(self, new: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """(links, lengths, rerouted, latency, bottleneck) of ``new`` keys, all of epoch 0, where the router sends
        every route through one hub (its ``hub``: host → hub → host), for all pairs at once; None otherwise."""
        hub = getattr(self.graph.graph.get("router"), "hub", None)
        count = self.count
        if hub is None or hub in self.nodes or new[-1] >= count * count \
                or not all((node, hub) in self.link_index for node in self.nodes):
            return None
        up = np.array([self.link_index[node, hub] for node in self.nodes], dtype=np.int64)
        down = np.array([self.link_index[hub, node] for node in self.nodes], dtype=np.int64)
        links = np.empty(2 * len(new), dtype=np.int64)
        src = new // count
        first, second = up[src], down[new - src * count]
        links[0::2], links[1::2] = first, second
        latency = self._link_latency[first] + self._link_latency[second]  # as the sum over the route's links
        bottleneck = np.minimum(self.bandwidth[first], self.bandwidth[second])
        return links, np.full(len(new), 2, dtype=np.int64), np.zeros(len(new), dtype=bool), latency, bottleneck

    def _search(self, new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(links, lengths, rerouted) of ``new`` keys, path by path: the router's, or a search."""
        count = self.count
        groups = new // count  # epoch·S + src
        cuts = np.flatnonzero(np.diff(groups)) + 1
        index = self.link_index
        flat: list[int] = []
        lengths: list[int] = []
        rerouted: list[bool] = []
        for group, targets in zip(groups[np.concatenate([[0], cuts])].tolist(), np.split(new % count, cuts)):
            epoch, source = divmod(group, count)
            targets = targets.tolist()
            paths = self._paths(epoch, source, targets)
            if epoch:
                dead = self.failed_links(epoch)
                intact = self._paths(0, source, targets)
                rerouted.extend(any(index[a, b] in dead for a, b in itertools.pairwise(path)) for path in intact)
            else:
                rerouted.extend([False] * len(targets))
            for path in paths:
                flat.extend(index[a, b] for a, b in itertools.pairwise(path))
                lengths.append(len(path) - 1)
        return np.array(flat, dtype=np.int64), np.array(lengths, dtype=np.int64), np.array(rerouted, dtype=bool)

    def incidence(self, routes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(link ids, owner) of every link of every route in ``routes``: owner[j] is the position in
        ``routes`` whose route crosses link ids[j]."""
        lengths = self.length[routes]
        if len(routes) and lengths.min() == lengths.max():  # every route as long: one 2-D gather
            width = int(lengths[0])
            owner = np.repeat(np.arange(len(routes)), width)
            low = int(routes[0])
            if routes[-1] - low == len(routes) - 1 and (np.diff(routes) == 1).all():  # consecutive: a slice
                return self.flat[self.start[low]: self.start[low] + width * len(routes)].copy(), owner
            at = self.start[routes][:, None] + np.arange(width)
            return self.flat[at.ravel()], owner
        owner = np.repeat(np.arange(len(routes)), lengths)
        first = np.repeat(self.start[routes] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return self.flat[first + np.arange(len(owner))], owner

    def crosses(self, routes: np.ndarray, links: set[int]) -> np.ndarray:
        """Whether each route in ``routes`` crosses any of ``links``."""
        ids, owner = self.incidence(routes)
        hit = np.zeros(len(routes), dtype=bool)
        hit[owner[np.isin(ids, list(links))]] = True
        return hit

    def max_min_rates(self, ids: np.ndarray) -> np.ndarray:
        """Max-min fair rates of transfers on routes ``ids`` (progressive filling). Transfers on one route get
        one rate, so the distinct routes are filled, each weighing on its links as often as it is used (NCCL's
        channels c and c + g ride the same routes: half the incidence to walk); the rates depend on nothing
        else (bandwidths are fixed, route ids never reused), so each multiset of routes is filled once (a
        ring's rounds repeat the same pairs: at 64 × 8 H100, 44 multisets for 16,223 calls)."""
        uses = np.bincount(ids)
        distinct = np.flatnonzero(uses)
        times = uses[distinct]
        key = distinct.tobytes() + times.tobytes()  # equal lengths: the ids, then how often each is used
        rate = self._filled.get(key)
        if rate is None:
            rate = self._fill(distinct, times.astype(np.float64))
            self._filled_bytes += len(key) + rate.nbytes
            if self._filled_bytes > _FILLED_BYTES:
                self._filled.clear()
                self._filled_bytes = len(key) + rate.nbytes
            self._filled[key] = rate
        position = np.zeros(len(uses), dtype=np.int64)
        position[distinct] = np.arange(len(distinct))
        return rate[position[ids]]

    def _fill(self, distinct: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """Progressive filling of routes ``distinct``, route i counted ``weight[i]`` times on each of its links."""
        links, owner = self.incidence(distinct)
        count = np.bincount(links, weights=weight[owner], minlength=len(self.bandwidth))
        if count.max(initial=0) <= 1:
            return self.bottleneck[distinct].copy()
        spare = self.bandwidth.copy()
        rate = np.zeros(len(distinct))
        frozen = np.zeros(len(distinct), dtype=bool)
        level = 0.0
        while not frozen.all():
            used = count > 0
            increment = float(np.min(spare[used] / count[used]))
            level += increment
            spare[used] -= increment * count[used]
            saturated = used & (spare <= _SATURATED * self.bandwidth)
            hit = np.zeros(len(distinct), dtype=bool)
            hit[owner[saturated[links]]] = True
            newly = hit & ~frozen
            rate[newly] = level
            frozen |= newly
            leaving = newly[owner]
            count -= np.bincount(links[leaving], weights=weight[owner[leaving]], minlength=len(count))
        return rate
