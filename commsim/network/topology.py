"""Topologies as networkx generators.

Workers are the integers ``0..n-1``; every other node (``"switch"``, ``"server"``) carries a
``role``. Every edge carries ``bandwidth`` (bytes/s, each direction: links are full duplex) and
``latency`` (s). Routes are deterministic: the graph's ``graph["router"]`` if it has one (fat
tree ECMP, multi-GPU nodes), else a hop-shortest path.

This module keeps the registry, validation and the simple generators (star, ring, fully
connected); :mod:`commsim.network.fabrics` adds torus, hypercube, fat_tree, tree, hierarchical and
from_file to :data:`TOPOLOGIES`, :mod:`commsim.network.cluster` GPU clusters from presets; all build
with :mod:`commsim.network.graphs`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

import networkx as nx

from ..errors import TopologyError
from ..units import MAX_SECONDS, MIN_BANDWIDTH
from .cluster import cluster
from .fabrics import GENERATORS as _FABRICS
from .graphs import SERVER, SWITCH, _add_workers, _link, add_servers, server_names  # noqa: F401  (re-exported)


def servers(graph: nx.Graph) -> tuple[Hashable, ...]:
    """The graph's parameter servers, in the order they were added."""
    return tuple(node for node, role in graph.nodes(data="role") if role == "server")


def star_route(graph: nx.Graph, src: Hashable, dst: Hashable) -> list[Hashable]:
    """On a star every route between two hosts is host → switch → host (the only shortest path)."""
    return [src, dst] if SWITCH in (src, dst) else [src, SWITCH, dst]


star_route.hub = SWITCH  # type: ignore[attr-defined]  # every route between two hosts goes through it: routes for
# many pairs at once are one array operation (``commsim.engines.routes``)


def direct_route(graph: nx.Graph, src: Hashable, dst: Hashable) -> list[Hashable]:
    """Fully connected: the direct link (a server is linked to every worker, so also directly)."""
    return [src, dst] if graph.has_edge(src, dst) else nx.shortest_path(graph, src, dst)


def star(n: int, bandwidth: float, latency: float, servers: int = 0) -> nx.Graph:
    """Every worker (and each parameter server, if any) hangs off one switch by its own link; routes
    go through it (``star_route``, found without a search)."""
    graph = nx.Graph(kind="star", router=star_route)
    _add_workers(graph, n)
    graph.add_node(SWITCH, role="switch")
    for worker in range(n):
        _link(graph, worker, SWITCH, bandwidth, latency)
    add_servers(graph, servers, [SWITCH], bandwidth, latency)
    return graph


def ring(n: int, bandwidth: float, latency: float, servers: int = 0) -> nx.Graph:
    """Worker i is linked to worker i+1 mod n; there is no place for a parameter server."""
    if servers:
        raise TopologyError("topology 'ring' has no place for a parameter server; use 'star' or 'fully_connected'")
    graph = nx.Graph(kind="ring")
    _add_workers(graph, n)
    if n > 1:
        for worker in range(n):
            _link(graph, worker, (worker + 1) % n, bandwidth, latency)
    return graph


def fully_connected(n: int, bandwidth: float, latency: float, servers: int = 0) -> nx.Graph:
    """A direct link between every pair of workers; each server, if any, is linked to every worker."""
    graph = nx.Graph(kind="fully_connected", router=direct_route)
    _add_workers(graph, n)
    for u in range(n):
        for v in range(u + 1, n):
            _link(graph, u, v, bandwidth, latency)
    add_servers(graph, servers, range(n), bandwidth, latency)
    return graph


TOPOLOGIES: dict[str, Callable[..., nx.Graph]] = {
    "star": star,
    "ring": ring,
    "fully_connected": fully_connected,
    **_FABRICS,  # torus, hypercube, fat_tree, tree, hierarchical, from_file
    "cluster": cluster,
}

# Fewest links between two distinct workers, per kind: exact for the usual options and a lower
# bound for all. Where options change it (hierarchical: 1 with intra="mesh", 2 with "switch", 4 with
# one GPU per node; fat_tree: 6 when k=2; from_file: whatever the file holds), the graph carries the
# exact value in graph.graph["min_hops"]; min_worker_hops(graph) prefers it.
MIN_WORKER_HOPS: dict[str, int] = {
    "star": 2,
    "ring": 1,
    "fully_connected": 1,
    "torus": 1,
    "hypercube": 1,
    "fat_tree": 2,
    "tree": 2,
    "hierarchical": 1,
    "from_file": 1,
    "cluster": 2,
}


def min_worker_hops(graph: nx.Graph) -> int:
    """Fewest links between two distinct workers of ``graph``: its ``min_hops``, else its kind's value."""
    hops = graph.graph.get("min_hops")
    return hops if hops is not None else MIN_WORKER_HOPS[graph.graph["kind"]]


def _node(name: Any, graph: nx.Graph) -> Hashable:
    """Resolve a node named in a scenario (``3``, ``"3"``, ``"switch"``) to the graph's node."""
    if isinstance(name, str) and name.strip().lstrip("-").isdigit():
        name = int(name)
    if name not in graph:
        raise TopologyError(f"link override names node {name!r}, which is not in the topology")
    return name


def apply_overrides(graph: nx.Graph, overrides: Iterable[Mapping[str, Any]]) -> None:
    """Set ``bandwidth``/``latency`` on named edges: ``{"between": [u, v], "bandwidth": B, ...}``."""
    for override in overrides:
        u, v = (_node(name, graph) for name in override["between"])
        if not graph.has_edge(u, v):
            raise TopologyError(f"link override names edge {u!r}-{v!r}, which is not in the topology")
        for key in ("bandwidth", "latency"):
            if override.get(key) is not None:
                graph.edges[u, v][key] = float(override[key])


def validate(graph: nx.Graph, n: int | None = None) -> None:
    """Refuse graphs the network model cannot run: disconnected, links without capacity (under 1 bit/s) or
    with a latency over ``MAX_SECONDS`` (times would not stay finite), workers that are not the ints
    0..m-1 (m = ``n`` when given)."""
    if graph.number_of_nodes() > 1 and not nx.is_connected(graph):
        pieces = nx.number_connected_components(graph)
        apart = min(nx.connected_components(graph), key=len)
        shown = ", ".join(map(repr, sorted(apart, key=repr)[:4])) + (", ..." if len(apart) > 4 else "")
        raise TopologyError(f"topology is disconnected: {pieces} pieces (one holds only {shown})")
    workers = [node for node, role in graph.nodes(data="role") if role == "worker"]
    expected = len(workers) if n is None else n
    if len(workers) != expected or any(type(w) is not int for w in workers) or set(workers) != set(range(expected)):
        raise TopologyError(f"topology has {len(workers)} worker nodes, not the ints 0..{expected - 1}")
    for u, v, data in graph.edges(data=True):
        if not data.get("bandwidth", 0) > 0:
            raise TopologyError(f"link {u!r}-{v!r} has bandwidth {data.get('bandwidth')!r}; it must be > 0")
        if data["bandwidth"] < MIN_BANDWIDTH:
            raise TopologyError(f"link {u!r}-{v!r} has bandwidth {data['bandwidth']!r} B/s; it must be at least 1 bit/s")
        if not data.get("latency", -1) >= 0:
            raise TopologyError(f"link {u!r}-{v!r} has latency {data.get('latency')!r}; it must be >= 0")
        if data["latency"] > MAX_SECONDS:
            raise TopologyError(f"link {u!r}-{v!r} has latency {data['latency']!r} s; it must be at most {MAX_SECONDS:g} s")


def build(
    kind: str,
    n: int,
    bandwidth: float,
    latency: float,
    servers: int = 0,
    overrides: Iterable[Mapping[str, Any]] = (),
    **options: Any,
) -> nx.Graph:
    """Build, override and validate a topology by name (``options`` go to its generator)."""
    try:
        generator = TOPOLOGIES[kind]
    except KeyError:
        raise TopologyError(f"unknown topology {kind!r}; known: {', '.join(TOPOLOGIES)}") from None
    try:
        graph = generator(n, bandwidth, latency, servers=int(servers), **options)
    except TypeError as error:
        raise TopologyError(f"topology {kind!r}: {error}") from None
    apply_overrides(graph, overrides)
    validate(graph, n)
    return graph


def generator_options(generator: Callable[..., nx.Graph]) -> list[str]:
    """The keyword options a topology generator takes beyond (n, bandwidth, latency, servers)."""
    import inspect

    fixed = {"n", "bandwidth", "latency", "servers"}
    return [name for name in inspect.signature(generator).parameters if name not in fixed]


def is_uniform(graph: nx.Graph) -> bool:
    """True when every link has the same bandwidth and latency (closed forms then apply)."""
    values = {(data["bandwidth"], data["latency"]) for _, _, data in graph.edges(data=True)}
    return len(values) <= 1


def link_extremes(graph: nx.Graph) -> tuple[float, float]:
    """(smallest latency, largest bandwidth) of any link: the parameters of a lower bound."""
    if graph.number_of_edges() == 0:
        return 0.0, 1.0
    latencies, bandwidths = zip(*((d["latency"], d["bandwidth"]) for _, _, d in graph.edges(data=True)))
    return min(latencies), max(bandwidths)

