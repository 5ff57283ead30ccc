"""Topology generators: nodes, roles, links and their attributes, overrides and validation."""

import networkx as nx
import pytest

from commsim.errors import TopologyError
from commsim.network import topology

B, ALPHA = 1e9, 1e-6


@pytest.mark.parametrize("n", [1, 2, 5])
def test_star_hangs_every_worker_and_the_server_off_one_switch(n):
    """Star: n worker links (plus one for the server) to a single switch."""
    graph = topology.star(n, B, ALPHA, servers=True)
    assert set(graph) == set(range(n)) | {"switch", "server"}
    assert sorted(graph.neighbors("switch"), key=str) == sorted([*range(n), "server"], key=str)
    assert graph.nodes["switch"]["role"] == "switch" and graph.nodes["server"]["role"] == "server"
    assert all(graph.nodes[w]["role"] == "worker" for w in range(n))
    assert all(d == {"bandwidth": B, "latency": ALPHA} for _, _, d in graph.edges(data=True))


@pytest.mark.parametrize(("n", "edges"), [(1, 0), (2, 1), (3, 3), (8, 8)])
def test_ring_links_each_worker_to_the_next(n, edges):
    """Ring: worker i linked to i+1 mod n (n=2 has a single link)."""
    graph = topology.ring(n, B, ALPHA)
    assert graph.number_of_edges() == edges
    assert all(graph.has_edge(i, (i + 1) % n) for i in range(n) if n > 1)


def test_fully_connected_links_every_pair_and_the_server_to_all():
    """Fully connected: n(n−1)/2 worker links plus n server links."""
    graph = topology.fully_connected(6, B, ALPHA, servers=True)
    assert graph.number_of_edges() == 15 + 6
    assert set(graph.neighbors("server")) == set(range(6))


def test_ring_refuses_a_parameter_server():
    """A ring has no place for a server; the error says so and suggests alternatives."""
    with pytest.raises(TopologyError, match="no place for a parameter server"):
        topology.build("ring", 4, B, ALPHA, servers=True)


def test_overrides_change_named_links_only():
    """Per-edge overrides set bandwidth/latency on the named edge; names may be strings."""
    graph = topology.build("star", 3, B, ALPHA, overrides=[{"between": ["1", "switch"], "bandwidth": 5.0}])
    assert graph.edges[1, "switch"] == {"bandwidth": 5.0, "latency": ALPHA}
    assert graph.edges[0, "switch"] == {"bandwidth": B, "latency": ALPHA}
    assert not topology.is_uniform(graph)
    assert topology.is_uniform(topology.build("star", 3, B, ALPHA))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"between": [0, 7]}, "node 7"),
        ({"between": [0, 1]}, "edge 0-1"),
        ({"between": [0, "switch"], "bandwidth": 0.0}, "bandwidth 0.0"),
        ({"between": [0, "switch"], "latency": -1.0}, "latency -1.0"),
    ],
)
def test_bad_overrides_are_refused(override, message):
    """Overrides naming missing nodes/edges, or giving impossible values, raise TopologyError."""
    with pytest.raises(TopologyError, match=message):
        topology.build("star", 3, B, ALPHA, overrides=[override])


def test_disconnected_graph_is_refused():
    """A graph in two pieces cannot carry a collective."""
    graph = nx.Graph()
    graph.add_edge(0, 1, bandwidth=B, latency=0.0)
    graph.add_edge(2, 3, bandwidth=B, latency=0.0)
    with pytest.raises(TopologyError, match="disconnected"):
        topology.validate(graph)


def test_unknown_kind_names_the_known_ones():
    """An unknown topology name lists the known ones."""
    with pytest.raises(TopologyError, match="unknown topology 'mesh'; known: star, ring, fully_connected"):
        topology.build("mesh", 4, B, ALPHA)
