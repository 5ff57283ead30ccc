"""The schedule engine: a collective's schedule (rounds of transfers) simulated a whole round at a time.

Same network model as the message engine (``commsim.network.fluid``): a transfer alone on its route
takes Σ latency + bytes / min bandwidth; transfers crossing a directed link at the same time share
it max-min fairly; a transfer's bytes flow first, then it propagates for its route's latency. Two
ways through a schedule, both exact:

* **Round at a time** (no shared link): each transfer of round k starts when its sender finished
  round k−1, and is delivered Σα + bytes/B later; a participant finishes round k at its last
  delivery plus γ·combined bytes. All of it is numpy over the round's arrays. It is valid while no
  link carries two transfers at once, which is checked for every round (each link at most once in
  a round, and never before the previous transfer on it has left); the first overlap switches to:
* **Fluid events**: one instant at a time, every transfer active at that instant in arrays; at each
  instant the max-min rates (progressive filling over the link–transfer incidence, vectorised),
  then the next instant is the earliest end of transmission, delivery or combine.

Counts, message sizes and bytes per route are accumulated, never logged per message, so memory does
not grow with the number of messages.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from ..collectives.schedule import Round, Schedule
from ..network.fluid import shortest_paths

_SATURATED = 1e-9  # as the fluid network: spare capacity below this fraction of bandwidth is none
_OVERLAP = 1e-12  # a transfer starting this little (relative) before the last one on its link left does not share


class _Routes:
    """Routes between participants, each found once: its directed links, latency and bottleneck."""

    def __init__(self, graph: nx.Graph, nodes: list[Any]) -> None:
        self.graph, self.nodes, self.count = graph, nodes, len(nodes)
        self.link_index: dict[tuple[Any, Any], int] = {}
        bandwidth: list[float] = []
        for u, v, data in graph.edges(data=True):
            for a, b in ((u, v), (v, u)):
                self.link_index[a, b] = len(bandwidth)
                bandwidth.append(float(data["bandwidth"]))
        self.link_names = [f"{a}->{b}" for a, b in self.link_index]
        self.bandwidth = np.array(bandwidth)
        latency = {key: float(graph.edges[key]["latency"]) for key in self.link_index}
        self._link_latency = np.array([latency[key] for key in self.link_index])
        self.keys = np.zeros(0, dtype=np.int64)  # sorted pair keys src·P + dst
        # equivalent: (a first id) the first lookup keeps as many ids as keys, numbered as the routes are stored
        self.ids = np.zeros(0, dtype=np.int64)  # their route ids
        self.latency = np.zeros(0)
        self.bottleneck = np.zeros(0)
        # equivalent: (its length) every lookup rebuilds it, and without one only start[0] = 0 is read
        self.start = np.zeros(1, dtype=np.int64)  # CSR: route r's links are flat[start[r]:start[r] + length[r]]
        self.length = np.zeros(0, dtype=np.int64)
        self.flat = np.zeros(0, dtype=np.int64)

    def _paths(self, src: int, dsts: list[int]) -> list[list[Any]]:
        """Paths from participant ``src`` to each of ``dsts``: the topology's router, or the hop-shortest
        paths the message engine takes (one breadth-first search per source)."""
        nodes, router = self.nodes, self.graph.graph.get("router")
        if router is not None:
            return [router(self.graph, nodes[src], nodes[dst]) for dst in dsts]
        found = shortest_paths(self.graph, nodes[src], [nodes[dst] for dst in dsts])
        return [found[nodes[dst]] for dst in dsts]

    def lookup(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Route ids of the pairs (src[i], dst[i]), finding the routes not seen before."""
        keys = src * self.count + dst
        position = np.searchsorted(self.keys, keys)
        found = position < len(self.keys)
        found[found] = self.keys[position[found]] == keys[found]
        if not found.all():
            new = np.unique(keys[~found])  # sorted: grouped by source, and numbered in this order
            sources = new // self.count
            cuts = np.flatnonzero(np.diff(sources)) + 1
            index = self.link_index
            flat: list[int] = []
            lengths: list[int] = []
            for source, targets in zip(sources[np.concatenate([[0], cuts])].tolist(), np.split(new % self.count, cuts)):
                for path in self._paths(source, targets.tolist()):
                    flat.extend(index[a, b] for a, b in itertools.pairwise(path))
                    lengths.append(len(path) - 1)
            first = len(self.ids)
            added, length = np.array(flat, dtype=np.int64), np.array(lengths, dtype=np.int64)
            heads = np.concatenate([[0], np.cumsum(length)[:-1]])
            self.latency = np.concatenate([self.latency, np.add.reduceat(self._link_latency[added], heads)])
            self.bottleneck = np.concatenate([self.bottleneck, np.minimum.reduceat(self.bandwidth[added], heads)])
            self.length = np.concatenate([self.length, length])
            self.start = np.concatenate([[0], np.cumsum(self.length)])
            self.flat = np.concatenate([self.flat, added])
            keys_all = np.concatenate([self.keys, new])
            ids_all = np.concatenate([self.ids, np.arange(first, first + len(new), dtype=np.int64)])
            order = np.argsort(keys_all, kind="stable")
            self.keys, self.ids = keys_all[order], ids_all[order]
            position = np.searchsorted(self.keys, keys)
        return self.ids[position]

    def incidence(self, routes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(link ids, owner) of every link of every route in ``routes``: owner[j] is the position in
        ``routes`` whose route crosses link ids[j]."""
        lengths = self.length[routes]
        owner = np.repeat(np.arange(len(routes)), lengths)
        first = np.repeat(self.start[routes] - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return self.flat[first + np.arange(len(owner))], owner


@dataclass
class ScheduleRun:
    """What a schedule did on a network: finish time per participant, counts and bytes per link."""

    finish_s: np.ndarray  # per participant (workers first)
    messages: int
    sizes: dict[int, int]
    bytes_per_link: dict[str, int]
    link_bandwidth: dict[str, float]
    fluid: bool = False  # the fluid way was needed (links were shared)
    busiest_link_bound: float = 0.0  # max over links of bytes/bandwidth + the shortest route latency through it

    def makespan(self, workers: int) -> float:
        return float(self.finish_s[:workers].max(initial=0.0))


class _Tally:
    """Messages, sizes and bytes per route, accumulated round by round."""

    def __init__(self) -> None:
        self.messages = 0
        self.sizes: dict[int, int] = {}
        self.route_bytes = np.zeros(0)
        self.route_messages = np.zeros(0, dtype=np.int64)

    def add(self, routes: np.ndarray, nbytes: np.ndarray) -> None:
        self.messages += len(nbytes)
        values, counts = np.unique(nbytes, return_counts=True)
        for value, count in zip(values.tolist(), counts.tolist()):
            self.sizes[value] = self.sizes.get(value, 0) + count
        weights = np.bincount(routes, weights=nbytes.astype(np.float64))
        counts = np.bincount(routes)
        if len(weights) > len(self.route_bytes):  # equivalent: (>=) growing by nothing
            grow = len(weights) - len(self.route_bytes)
            self.route_bytes = np.concatenate([self.route_bytes, np.zeros(grow)])
            self.route_messages = np.concatenate([self.route_messages, np.zeros(grow, dtype=np.int64)])
        self.route_bytes[: len(weights)] += weights
        self.route_messages[: len(counts)] += counts


def _combine_after(round_: Round, gamma: float) -> np.ndarray | float:
    if round_.combine is None or not gamma:
        return 0.0
    return gamma * round_.combine.astype(np.float64)


def _round_at_a_time(schedule: Schedule, routes: _Routes, gamma: float) -> tuple[np.ndarray, _Tally] | None:
    """Every round in one numpy pass, or None at the first round where two transfers would share a link."""
    participants = schedule.participants
    ready = np.zeros(participants)
    sent = np.zeros(participants)  # eager: the last delivery of each participant's own sends
    last_end = np.full(len(routes.bandwidth), -np.inf)
    tally = _Tally()
    for k in range(schedule.rounds):
        round_ = schedule.round(k)
        src, dst, nbytes = round_.src, round_.dst, round_.nbytes
        if len(src):
            ids = routes.lookup(src, dst)
            start = ready[src]
            # equivalent: (>= 0) a zero-byte transfer holds its links for no time; counted, it can only send the
            # schedule the fluid way (a start before a link's last end), which gives the same times; (> 1) no
            # message is 1 byte (elements are 2 bytes or more)
            moving = nbytes > 0
            transmit = np.where(moving, nbytes / routes.bottleneck[ids], 0.0)
            delivery = start + (transmit + routes.latency[ids])
            links, owner = routes.incidence(ids[moving])
            if len(links):
                if np.bincount(links).max() > 1:
                    return None  # two transfers of this round on one link
                first = start[moving][owner]
                # equivalent: (<=, or + the margin) a start within round-off of the last end only sends the
                # schedule the fluid way, which gives the same times
                if np.any(first < last_end[links] - _OVERLAP * np.abs(first)):
                    return None  # starts before the link's previous transfer has left
                last_end[links] = (start + transmit)[moving][owner]
            done = ready.copy()
            np.maximum.at(sent if schedule.eager else done, src, delivery)
            np.maximum.at(done, dst, delivery)
            tally.add(ids, nbytes)
        else:
            done = ready
        ready = done + _combine_after(round_, gamma)
    return np.maximum(ready, sent), tally


class _Rounds:
    """The rounds the fluid way is in the middle of, each with its routes and delivered flags."""

    def __init__(self, schedule: Schedule, routes: _Routes, tally: _Tally) -> None:
        self.schedule, self.routes, self.tally = schedule, routes, tally
        self.cache: dict[int, tuple[Round, np.ndarray, np.ndarray]] = {}

    def get(self, k: int) -> tuple[Round, np.ndarray, np.ndarray]:
        """(round, route ids, delivered flags) of round k."""
        entry = self.cache.get(k)
        if entry is None:
            round_ = self.schedule.round(k)
            ids = self.routes.lookup(round_.src, round_.dst) if len(round_.src) else np.zeros(0, dtype=np.int64)
            self.tally.add(ids, round_.nbytes)
            entry = self.cache[k] = (round_, ids, np.zeros(len(round_.src), dtype=bool))
        return entry

    def forget_before(self, k: int) -> None:
        for old in [key for key in self.cache if key < k]:
            del self.cache[old]


def _max_min_rates(routes: _Routes, ids: np.ndarray) -> np.ndarray:
    """Max-min fair rates of transfers on routes ``ids`` (progressive filling)."""
    links, owner = routes.incidence(ids)
    count = np.bincount(links, minlength=len(routes.bandwidth)).astype(np.float64)
    # equivalent: (initial 1, or < 1) filling transfers that share nothing gives each its bottleneck too
    if count.max(initial=0) <= 1:
        return routes.bottleneck[ids].copy()
    spare = routes.bandwidth.copy()
    rate = np.zeros(len(ids))
    frozen = np.zeros(len(ids), dtype=bool)
    level = 0.0
    while not frozen.all():
        used = count > 0
        increment = float(np.min(spare[used] / count[used]))
        level += increment
        spare[used] -= increment * count[used]
        # equivalent: (<, or a tighter threshold) it only absorbs round-off: rates move by ~1e-15 relative
        saturated = used & (spare <= _SATURATED * routes.bandwidth)
        hit = np.zeros(len(ids), dtype=bool)
        hit[owner[saturated[links]]] = True
        newly = hit & ~frozen
        rate[newly] = level
        frozen |= newly
        count -= np.bincount(links[newly[owner]], minlength=len(count))
    return rate


def _fluid(schedule: Schedule, routes: _Routes, gamma: float) -> tuple[np.ndarray, _Tally]:
    """The schedule one instant at a time, with max-min fair sharing of every link."""
    participants, total = schedule.participants, schedule.rounds
    tally = _Tally()
    rounds = _Rounds(schedule, routes, tally)
    current = np.zeros(participants, dtype=np.int64)  # the round each participant is in
    ready = np.zeros(participants)  # when it may start that round's sends
    entered = np.zeros(participants, dtype=bool)
    outstanding = np.zeros(participants, dtype=np.int64)
    eager = schedule.eager
    sent_last = np.zeros(participants)  # eager: when each participant's latest send was delivered
    # transmitting: round, index in round, route, bytes left, rate; propagating: round, index, delivery time
    tx_round, tx_index, tx_route = (np.zeros(0, dtype=np.int64) for _ in range(3))
    tx_left, tx_rate = np.zeros(0), np.zeros(0)  # equivalent: (rates' length) recomputed before first use
    pr_round, pr_index, pr_time = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    now = 0.0
    if total == 0:
        return ready, tally

    def finish(members: np.ndarray) -> None:
        """Participants ``members`` (entered, nothing outstanding) leave their round at ``now``."""
        for k in np.unique(current[members]).tolist():
            group = members[current[members] == k]
            round_ = rounds.get(k)[0]
            pause = _combine_after(round_, gamma)
            ready[group] = now + (pause[group] if isinstance(pause, np.ndarray) else pause)
        current[members] += 1
        entered[members] = False

    changed = False  # the transmitting transfers changed since their rates were computed
    while True:
        while True:  # everyone ready now enters its round; those with nothing to wait for leave it
            entering = np.flatnonzero(~entered & (current < total) & (ready <= now))
            if not len(entering):
                break
            for k in np.unique(current[entering]).tolist():
                group = entering[current[entering] == k]
                round_, ids, delivered = rounds.get(k)
                member = np.zeros(participants, dtype=bool)
                member[group] = True
                sends = np.flatnonzero(member[round_.src])
                waiting = np.zeros(participants, dtype=np.int64) if eager else np.bincount(round_.src[sends], minlength=participants)
                receives = member[round_.dst] & ~delivered
                waiting += np.bincount(round_.dst[receives], minlength=participants)
                outstanding[group] = waiting[group]
                entered[group] = True
                nbytes = round_.nbytes[sends]
                # equivalent: (>= 0) a zero-byte transfer ends at once whatever its rate; (> 1) no 1-byte message
                moving = nbytes > 0
                tx_round = np.concatenate([tx_round, np.full(moving.sum(), k)])
                tx_index = np.concatenate([tx_index, sends[moving]])
                tx_route = np.concatenate([tx_route, ids[sends[moving]]])
                tx_left = np.concatenate([tx_left, nbytes[moving].astype(np.float64)])
                tx_rate = np.concatenate([tx_rate, np.zeros(moving.sum())])
                changed |= bool(moving.any())
                still = sends[~moving]
                pr_round = np.concatenate([pr_round, np.full(len(still), k)])
                pr_index = np.concatenate([pr_index, still])
                pr_time = np.concatenate([pr_time, now + routes.latency[ids[still]]])
            idle = entering[entered[entering] & (outstanding[entering] == 0)]
            if len(idle):
                finish(idle)
        if changed:  # max-min rates depend only on which transfers share which links
            tx_rate = _max_min_rates(routes, tx_route) if len(tx_route) else tx_rate
            changed = False
        candidates = []
        if len(tx_left):
            tx_end = now + tx_left / tx_rate
            candidates.append(tx_end.min())
        if len(pr_time):
            candidates.append(pr_time.min())
        waiting_to_enter = ~entered & (current < total)
        if waiting_to_enter.any():
            candidates.append(ready[waiting_to_enter].min())
        if not candidates:
            break
        later = max(min(candidates), now)
        if len(tx_left):
            done = tx_end <= later
            tx_left = tx_left - tx_rate * (later - now)
            if done.any():
                pr_round = np.concatenate([pr_round, tx_round[done]])
                pr_index = np.concatenate([pr_index, tx_index[done]])
                pr_time = np.concatenate([pr_time, tx_end[done] + routes.latency[tx_route[done]]])
                keep = ~done
                tx_round, tx_index, tx_route = tx_round[keep], tx_index[keep], tx_route[keep]
                tx_left, tx_rate = tx_left[keep], tx_rate[keep]
                changed = True
        now = later
        arrived = pr_time <= now
        if arrived.any():
            for k in np.unique(pr_round[arrived]).tolist():
                round_, _, delivered = rounds.get(k)
                index = pr_index[arrived & (pr_round == k)]
                delivered[index] = True
                if eager:
                    np.maximum.at(sent_last, round_.src[index], now)
                for ends in (round_.dst[index],) if eager else (round_.src[index], round_.dst[index]):
                    counted = ends[entered[ends] & (current[ends] == k)]
                    np.subtract.at(outstanding, counted, 1)
            keep = ~arrived
            pr_round, pr_index, pr_time = pr_round[keep], pr_index[keep], pr_time[keep]
            leaving = np.flatnonzero(entered & (outstanding == 0))
            if len(leaving):
                finish(leaving)
            oldest = int(current.min())
            if eager:  # an eager round's transfers may outlive its participants' stay in it
                # equivalent: a transfer under way is awaited by its receiver, whose round is never past it
                oldest = min([oldest, *(int(r.min()) for r in (pr_round, tx_round) if len(r))])
            rounds.forget_before(oldest)
    return np.maximum(ready, sent_last), tally


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


def run_schedule(schedule: Schedule, graph: nx.Graph, nodes: list[Any], gamma: float = 0.0) -> ScheduleRun:
    """Simulate ``schedule`` on ``graph``; participant i is ``nodes[i]`` (the workers, then the servers)."""
    routes = _Routes(graph, nodes)
    fast = _round_at_a_time(schedule, routes, gamma)
    finish, tally = fast if fast is not None else _fluid(schedule, routes, gamma)
    return _result(finish, tally, routes, fluid=fast is None)


def _result(finish: np.ndarray, tally: _Tally, routes: _Routes, fluid: bool) -> ScheduleRun:
    """Bytes per link from bytes per route (each route's bytes on each of its links)."""
    count = len(tally.route_bytes)
    flat = routes.flat[: routes.start[count]] if count else np.zeros(0, dtype=np.int64)
    per_link = np.bincount(flat, weights=np.repeat(tally.route_bytes, routes.length[:count]),
                           minlength=len(routes.bandwidth))
    used = np.zeros(len(routes.bandwidth), dtype=bool)
    # equivalent: (>= 0) every route found carried a message
    used[flat[np.repeat(tally.route_messages > 0, routes.length[:count])]] = True
    names = routes.link_names
    bytes_per_link = {names[i]: int(per_link[i]) for i in np.flatnonzero(used).tolist()}
    bandwidth = {names[i]: float(routes.bandwidth[i]) for i in np.flatnonzero(used).tolist()}
    shortest = np.full(len(routes.bandwidth), np.inf)
    travelled = np.repeat(tally.route_messages > 0, routes.length[:count])  # equivalent: as above
    np.minimum.at(shortest, flat[travelled], np.repeat(routes.latency[:count], routes.length[:count])[travelled])
    bound = float(np.max(per_link[used] / routes.bandwidth[used] + shortest[used], initial=0.0))
    return ScheduleRun(finish, tally.messages, dict(sorted(tally.sizes.items())), dict(sorted(bytes_per_link.items())),
                       bandwidth, fluid, bound)
