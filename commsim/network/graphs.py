"""The pieces every topology generator builds with: node names, worker and server nodes, links.

Workers are the integers ``0..n-1`` with ``role="worker"``; every edge carries ``bandwidth`` (bytes/s,
each direction) and ``latency`` (s). :mod:`commsim.network.topology` and :mod:`commsim.network.fabrics` both build on
this module, so neither needs the other's.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import networkx as nx

SWITCH = "switch"
SERVER = "server"


def _add_workers(graph: nx.Graph, n: int) -> None:
    graph.add_nodes_from(range(n), role="worker")


def _link(graph: nx.Graph, u: Hashable, v: Hashable, bandwidth: float, latency: float) -> None:
    graph.add_edge(u, v, bandwidth=bandwidth, latency=latency)


def server_names(count: int) -> list[str]:
    """Parameter-server node names: ``"server"`` alone, else ``"server0"``, ``"server1"``, ..."""
    return [SERVER] if count == 1 else [f"{SERVER}{i}" for i in range(count)]


def add_servers(graph: nx.Graph, count: int, attach_to: Iterable[Hashable], bandwidth: float, latency: float) -> None:
    """Add ``count`` servers, each linked to every node of ``attach_to``."""
    targets = list(attach_to)
    for name in server_names(int(count)):
        graph.add_node(name, role="server")
        for node in targets:
            _link(graph, name, node, bandwidth, latency)
