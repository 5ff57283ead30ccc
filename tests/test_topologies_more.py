"""Torus, hypercube, fat tree, switch tree, multi-GPU nodes and file topologies: shape, routes, errors."""

import itertools
from collections import Counter

import networkx as nx
import numpy as np
import pytest
import simpy

from commsim.engines.message import make_buffers, mean_error, run_collective
from commsim.errors import ScenarioError, TopologyError
from commsim.network import fabrics, topology
from commsim.network.fluid import Network
from commsim.runner import points
from commsim.scenario import parse

B, ALPHA = 12.5e9, 5e-6


def path_of(graph, src, dst):
    """The node sequence Network.route chooses from src to dst."""
    route = Network(simpy.Environment(), graph).route(src, dst)
    return [src, *(link.v for link in route.links)]


def roles(graph):
    """How many nodes have each role."""
    return Counter(role for _, role in graph.nodes(data="role"))


def uniform(graph, bandwidth=B, latency=ALPHA):
    """Every link carries exactly the given bandwidth and latency."""
    return all(d["bandwidth"] == bandwidth and d["latency"] == latency for _, _, d in graph.edges(data=True))


# -- torus ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dims", "edges", "degree"),
    [((3, 4), 24, 4), ((2, 3), 9, 3), ((2, 2, 2), 12, 3), ((3, 3, 3), 81, 6), ((1, 5), 5, 2), ((4, 1, 1), 4, 2)],
)
def test_torus_counts_links_per_dimension(dims, edges, degree):
    """A size-s dimension adds n links (s>2), n/2 (s=2) or none (s=1); every worker has the same degree."""
    n = int(np.prod(dims))
    graph = topology.build("torus", n, B, ALPHA, dims=list(dims))
    assert set(graph) == set(range(n)) and roles(graph) == {"worker": n}
    assert graph.number_of_edges() == edges
    assert {d for _, d in graph.degree} == {degree}
    assert graph.graph["kind"] == "torus" and graph.graph["dims"] == dims and uniform(graph)


def test_torus_is_row_major_with_wraparound():
    """On 3×4, worker 0 links to 1 and 3 along its row and to 4 and 8 along its column."""
    graph = fabrics.torus(12, B, ALPHA, dims=[3, 4])
    assert sorted(graph.adj[0]) == [1, 3, 4, 8]
    assert sorted(graph.adj[11]) == [3, 7, 8, 10]


def test_torus_dims_default_to_the_squarest_grid_and_accept_strings():
    """Without dims, 12 workers form 3×4 (a prime count a 1×n ring); '2x2x2' is three dims."""
    assert fabrics.torus(12, B, ALPHA).graph["dims"] == (3, 4)
    assert fabrics.torus(7, B, ALPHA).graph["dims"] == (1, 7)
    assert fabrics.torus(8, B, ALPHA, dims="2x2x2").graph["dims"] == (2, 2, 2)


# -- hypercube -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "edges"), [(1, 0), (2, 1), (4, 4), (8, 12), (16, 32)])
def test_hypercube_links_indices_one_bit_apart(n, edges):
    """n·log2(n)/2 links, each between indices differing in exactly one bit; degree log2 n."""
    graph = topology.build("hypercube", n, B, ALPHA)
    assert graph.number_of_edges() == edges and roles(graph) == {"worker": n}
    assert all(bin(u ^ v).count("1") == 1 for u, v in graph.edges)
    assert {d for _, d in graph.degree} == {n.bit_length() - 1}
    assert graph.graph["kind"] == "hypercube" and uniform(graph)


# -- fat tree ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("k", "hosts", "switches", "links"), [(2, 2, 5, 6), (4, 16, 20, 48), (6, 54, 45, 162)])
def test_full_fat_tree_has_the_textbook_counts(k, hosts, switches, links):
    """k³/4 hosts, 5k²/4 switches and 3k³/4 links; every switch has k ports, every host one."""
    graph = topology.build("fat_tree", hosts, B, ALPHA, k=k)
    assert roles(graph) == {"worker": hosts, "switch": switches}
    assert graph.number_of_edges() == links
    assert all(graph.degree(node) == (1 if role == "worker" else k) for node, role in graph.nodes(data="role"))
    layers = Counter(layer for _, layer in graph.nodes(data="layer") if layer)
    assert layers == {"core": k * k // 4, "aggregation": k * k // 2, "edge": k * k // 2}
    assert graph.graph["kind"] == "fat_tree" and graph.graph["k"] == k and uniform(graph)


def test_fat_tree_fills_host_slots_in_order_and_servers_take_the_next():
    """Worker w sits under edge (w//2) mod 2 of pod w//4 (k=4); servers fill the slots after the workers."""
    graph = fabrics.fat_tree(5, B, ALPHA, servers=2, k=4)
    assert roles(graph) == {"worker": 5, "switch": 20, "server": 2}
    assert graph.number_of_edges() == 32 + 5 + 2
    where = {host: next(iter(graph.adj[host])) for host in [*range(5), "server0", "server1"]}
    assert where == {0: "pod0.edge0", 1: "pod0.edge0", 2: "pod0.edge1", 3: "pod0.edge1", 4: "pod1.edge0",
                     "server0": "pod1.edge0", "server1": "pod1.edge1"}


def test_fat_tree_ecmp_picks_shortest_stable_paths_spread_over_the_cores():
    """Every route is hop-shortest and identical across builds; cross-pod flows use all (k/2)² cores."""
    first, second = topology.build("fat_tree", 16, B, ALPHA, k=4), topology.build("fat_tree", 16, B, ALPHA, k=4)
    lengths = dict(nx.all_pairs_shortest_path_length(first))
    cores, aggs = set(), set()
    for src, dst in itertools.permutations(range(16), 2):
        path = path_of(first, src, dst)
        assert path == path_of(second, src, dst)
        assert len(path) - 1 == lengths[src][dst] and path[0] == src and path[-1] == dst
        if src // 4 != dst // 4:
            cores.add(path[3])
        elif src // 2 != dst // 2:
            aggs.add(path[2])
    assert cores == {"core0", "core1", "core2", "core3"}
    assert len({path_of(first, s, d)[3] for s in range(4) for d in range(4, 8)}) > 1  # one pod pair
    assert aggs == {f"pod{p}.agg{a}" for p in range(4) for a in range(2)}


def test_fat_tree_route_lengths_by_placement():
    """Same edge switch: 2 hops; same pod: 4; different pods: 6; worker to server likewise."""
    graph = fabrics.fat_tree(16, B, ALPHA, k=4)
    assert path_of(graph, 0, 1) == [0, "pod0.edge0", 1]
    assert len(path_of(graph, 0, 2)) - 1 == 4 and len(path_of(graph, 0, 15)) - 1 == 6
    with_server = fabrics.fat_tree(4, B, ALPHA, servers=1, k=4)
    assert len(path_of(with_server, 0, "server")) - 1 == 6


# -- tree ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "arity", "switches", "depth"), [(1, 4, 1, 1), (3, 4, 1, 1), (16, 4, 5, 2), (17, 4, 8, 3), (10, 2, 11, 4)]
)
def test_tree_hangs_workers_off_leaf_switches(n, arity, switches, depth):
    """Only the switches n leaves need; each has at most arity children; links = nodes − 1."""
    graph = topology.build("tree", n, B, ALPHA, arity=arity)
    assert roles(graph) == {"worker": n, "switch": switches}
    assert nx.is_tree(graph) and graph.graph["root"] == "switch0.0"
    assert max(graph.nodes[s]["level"] for s, r in graph.nodes(data="role") if r == "switch") == depth - 1
    assert all(graph.degree(w) == 1 and next(iter(graph.adj[w])) == f"switch{depth - 1}.{w // arity}" for w in range(n))
    for node, role in graph.nodes(data="role"):
        if role == "switch":
            children = graph.degree(node) - (node != "switch0.0")
            assert children <= arity
    assert graph.graph["kind"] == "tree" and uniform(graph)


def test_tree_servers_attach_to_the_root():
    """Two servers each link to the root switch only."""
    graph = fabrics.tree(16, B, ALPHA, servers=2, arity=4)
    assert [list(graph.adj[s]) for s in ("server0", "server1")] == [["switch0.0"], ["switch0.0"]]
    assert len(path_of(graph, 0, "server0")) - 1 == 3


# -- hierarchical --------------------------------------------------------------------------------


def test_hierarchical_mesh_counts_and_link_speeds():
    """2 nodes × 4 GPUs, mesh, 1 NIC: 6+6 GPU links, 4+4 NIC-GPU links, 2 NIC-switch links."""
    graph = topology.build("hierarchical", 8, B, ALPHA, gpus_per_node=4, intra_bandwidth=300e9,
                           intra_latency=1e-6, nic_bandwidth=25e9, nic_latency=2e-6)
    assert roles(graph) == {"worker": 8, "nic": 2, "switch": 1}
    assert graph.number_of_edges() == 22
    assert graph.graph["gpus_per_node"] == 4 and graph.graph["nodes"] == 2
    assert graph.edges[0, 3] == {"bandwidth": 300e9, "latency": 1e-6}
    assert graph.edges["node1.nic0", 5] == {"bandwidth": 300e9, "latency": 1e-6}
    assert graph.edges["node1.nic0", "switch"] == {"bandwidth": 25e9, "latency": 2e-6}
    assert not graph.has_edge(0, 4)
    assert [graph.nodes[g]["node"] for g in range(8)] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_hierarchical_switch_counts_and_defaults():
    """intra='switch': GPUs hang off node{m}.switch; unset speeds default to the topology's."""
    graph = fabrics.hierarchical(8, B, ALPHA, servers=1, gpus_per_node=4, intra="switch", nics_per_node=2)
    assert roles(graph) == {"worker": 8, "nic": 4, "switch": 3, "server": 1}
    assert graph.number_of_edges() == 8 + 16 + 4 + 1
    assert sorted(graph.adj["node0.switch"]) == [0, 1, 2, 3]
    assert list(graph.adj["server"]) == ["switch"] and uniform(graph)


@pytest.mark.parametrize(("nodes", "gpus"), [(None, 4), (2, None), (2, 4)])
def test_hierarchical_derives_the_missing_count(nodes, gpus):
    """nodes or gpus_per_node alone is enough: the other is n divided by it."""
    graph = fabrics.hierarchical(8, B, ALPHA, nodes=nodes, gpus_per_node=gpus)
    assert (graph.graph["nodes"], graph.graph["gpus_per_node"]) == (2, 4)


@pytest.mark.parametrize("intra", ["mesh", "switch"])
def test_hierarchical_routes_use_the_intra_path_or_the_gpus_nics(intra):
    """Same node: direct (mesh) or via the node switch; else GPU → NIC(local mod nics) → switch → NIC → GPU."""
    graph = fabrics.hierarchical(12, B, ALPHA, servers=1, gpus_per_node=6, intra=intra, nics_per_node=4)
    assert path_of(graph, 0, 5) == ([0, 5] if intra == "mesh" else [0, "node0.switch", 5])
    assert path_of(graph, 5, 7) == [5, "node0.nic1", "switch", "node1.nic1", 7]
    assert path_of(graph, 2, "server") == [2, "node0.nic2", "switch", "server"]
    assert path_of(graph, "server", 9) == ["server", "switch", "node1.nic3", 9]
    lengths = dict(nx.all_pairs_shortest_path_length(graph))
    for src, dst in itertools.permutations(range(12), 2):
        assert len(path_of(graph, src, dst)) - 1 == lengths[src][dst]
    nic_load = Counter(path_of(graph, g, (g + 6) % 12)[1] for g in range(12))
    assert sorted(nic_load.values()) == [1, 1, 1, 1, 2, 2, 2, 2]  # 6 GPUs over 4 NICs: 2, 2, 1, 1 per node


def test_hierarchical_gpus_spread_evenly_over_nics():
    """With 8 GPUs and 2 NICs per node, each NIC carries the inter-node traffic of exactly 4 GPUs."""
    graph = fabrics.hierarchical(16, B, ALPHA, gpus_per_node=8, nics_per_node=2)
    used = Counter(fabrics.gpu_nic(graph, g) for g in range(16))
    assert used == {"node0.nic0": 4, "node0.nic1": 4, "node1.nic0": 4, "node1.nic1": 4}
    assert [path_of(graph, g, 8)[1] for g in range(8)] == ["node0.nic0", "node0.nic1"] * 4


# -- hops ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "n", "options", "hops"),
    [
        ("star", 4, {}, 2), ("ring", 5, {}, 1), ("fully_connected", 4, {}, 1),
        ("torus", 12, {"dims": [3, 4]}, 1), ("hypercube", 8, {}, 1),
        ("fat_tree", 16, {"k": 4}, 2), ("fat_tree", 2, {"k": 2}, 6), ("tree", 9, {"arity": 3}, 2),
        ("hierarchical", 8, {"gpus_per_node": 4}, 1), ("hierarchical", 8, {"gpus_per_node": 4, "intra": "switch"}, 2),
        ("hierarchical", 4, {"gpus_per_node": 1}, 4),
    ],
)
def test_min_worker_hops_matches_the_graph(kind, n, options, hops):
    """min_worker_hops equals the BFS distance between the closest workers, and MIN_WORKER_HOPS bounds it."""
    graph = topology.build(kind, n, B, ALPHA, **options)
    assert fabrics.fewest_worker_hops(graph) == hops == topology.min_worker_hops(graph)
    assert topology.MIN_WORKER_HOPS[kind] <= hops


def test_min_worker_hops_covers_every_kind():
    """Every registered topology has an entry."""
    assert set(topology.MIN_WORKER_HOPS) == set(topology.TOPOLOGIES)


# -- from_file -----------------------------------------------------------------------------------


def test_graphml_round_trip_keeps_nodes_roles_and_links(tmp_path):
    """A fat tree written by networkx reads back with int workers, roles and every link's values."""
    original = fabrics.fat_tree(6, B, ALPHA, servers=1, k=4)
    original.edges[0, "pod0.edge0"]["bandwidth"] = 1e9
    writable = original.copy()
    writable.graph.clear()  # the router is a function, which GraphML cannot hold
    nx.write_graphml(writable, tmp_path / "fabric.graphml")
    graph = topology.build("from_file", 6, 1.0, 0.0, servers=1, path=str(tmp_path / "fabric.graphml"))
    assert graph.graph["kind"] == "from_file" and graph.graph["min_hops"] == 2
    assert set(graph) == set(original) and roles(graph) == roles(original)
    assert dict(graph.nodes(data=True)) == dict(original.nodes(data=True))
    assert {frozenset(e) for e in graph.edges} == {frozenset(e) for e in original.edges}
    assert all(graph.edges[u, v] == original.edges[u, v] for u, v in original.edges)
    assert topology.servers(graph) == ("server",)


def test_graphml_with_units_missing_values_and_no_roles(tmp_path):
    """String values with units are parsed, missing ones defaulted; unlabelled ints are workers, others switches."""
    graph = nx.Graph()
    graph.add_edge(0, "sw", bandwidth="100Gbit/s", latency="2 us")
    graph.add_edge(1, "sw")
    graph.add_edge(2, "sw", latency=1e-6)
    nx.write_graphml(graph, tmp_path / "g.graphml")
    read = fabrics.from_file(3, B, ALPHA, path=tmp_path / "g.graphml")
    assert read.edges[0, "sw"] == {"bandwidth": 12.5e9, "latency": 2e-6}
    assert read.edges[1, "sw"] == {"bandwidth": B, "latency": ALPHA}
    assert read.edges[2, "sw"] == {"bandwidth": B, "latency": 1e-6}
    assert roles(read) == {"worker": 3, "switch": 1}


EDGES = """\
# two racks and a spine
0 rack0 100Gbit/s 1us
1 rack0 100 Gbit/s 1 us   # a number and its unit may be apart
2 rack1 12.5e9 1e-6
3 rack1
rack0 spine 400Gbit/s - # '-' keeps the default latency
rack1 spine - 3us
server spine
"""


def test_edge_list_parses_units_defaults_comments_and_servers(tmp_path):
    """Each line is 'u v [bandwidth [latency]]'; 'server' is a server, other names switches."""
    (tmp_path / "racks.edges").write_text(EDGES)
    graph = topology.build("from_file", 4, B, ALPHA, servers=1, path=str(tmp_path / "racks.edges"))
    assert roles(graph) == {"worker": 4, "switch": 3, "server": 1}
    assert graph.edges[0, "rack0"] == graph.edges[1, "rack0"] == graph.edges[2, "rack1"] == {"bandwidth": 12.5e9, "latency": 1e-6}
    assert graph.edges[3, "rack1"] == {"bandwidth": B, "latency": ALPHA}
    assert graph.edges["rack0", "spine"] == {"bandwidth": 50e9, "latency": ALPHA}
    assert graph.edges["rack1", "spine"] == {"bandwidth": B, "latency": 3e-6}
    assert graph.graph["min_hops"] == 2 and path_of(graph, 0, 3) == [0, "rack0", "spine", "rack1", 3]


@pytest.mark.parametrize(
    ("name", "text", "n", "servers", "message"),
    [
        ("a.edges", "0 1\n1\n", 2, 0, r"'.*a\.edges', line 2: expected 'u v \[bandwidth \[latency\]\]', got '1'"),
        ("a.edges", "# c\n0 1 fast\n", 2, 0, r"line 2: cannot parse 'fast' as a bandwidth"),
        ("a.edges", "0 1 1e9 1us extra\n", 2, 0, r"line 1: unexpected 'extra'"),
        ("a.edges", "0 0\n", 1, 0, r"line 1: a link from 0 to itself"),
        ("a.txt", "0 s\n1 s\n2 s\n", 4, 0, r"has 3 workers \(0\.\.2\), but the run has n=4"),
        ("a.txt", "0 s\n1 s\n3 s\n", 3, 0, r"has 3 workers \(0, 1, 3\), but the run has n=3"),
        ("a.txt", "0 s\n1 s\n", 2, 1, r"has 0 server node\(s\), but the run needs 1"),
        ("a.graphml", "<graphml><oops", 2, 0, r"not valid GraphML"),
        ("a.csv", "0,1\n", 2, 0, r"unknown format; use one of \.graphml, \.edges, \.txt"),
    ],
)
def test_bad_topology_files_are_one_line_errors(tmp_path, name, text, n, servers, message):
    """Malformed lines name their line number; wrong worker or server counts say what the file has."""
    (tmp_path / name).write_text(text)
    with pytest.raises(TopologyError, match=message) as error:
        topology.build("from_file", n, B, ALPHA, servers=servers, path=str(tmp_path / name))
    assert "\n" not in str(error.value)


def test_graphml_worker_role_needs_an_integer_name(tmp_path):
    """A node labelled worker but named 'gpu0' is refused by name."""
    graph = nx.Graph()
    graph.add_node("gpu0", role="worker")
    graph.add_edge("gpu0", 0)
    nx.write_graphml(graph, tmp_path / "w.graphml")
    with pytest.raises(TopologyError, match="worker 'gpu0' must be named by an integer"):
        fabrics.from_file(1, B, ALPHA, path=tmp_path / "w.graphml")


def test_missing_topology_file_and_missing_path():
    """A file that does not exist, or no path at all, is a one-line error."""
    with pytest.raises(TopologyError, match="cannot be read: No such file or directory"):
        topology.build("from_file", 2, B, ALPHA, path="/no/such/net.edges")
    with pytest.raises(TopologyError, match="needs path"):
        topology.build("from_file", 2, B, ALPHA)


def test_file_topologies_are_validated_when_built(tmp_path):
    """A file in two pieces, or with a zero-bandwidth link, is refused by build."""
    (tmp_path / "split.edges").write_text("0 a\n1 b\n")
    with pytest.raises(TopologyError, match="disconnected: 2 pieces"):
        topology.build("from_file", 2, B, ALPHA, path=str(tmp_path / "split.edges"))
    (tmp_path / "zero.edges").write_text("0 1 0\n")
    with pytest.raises(TopologyError, match="link 0-1 has bandwidth 0.0; it must be > 0"):
        topology.build("from_file", 2, B, ALPHA, path=str(tmp_path / "zero.edges"))


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "n", "options", "message"),
    [
        ("torus", 10, {"dims": [3, 4]}, "dims 3x4 hold 12 workers, but n=10"),
        ("torus", 4, {"dims": [4]}, "dims must be 2 or 3 sizes"),
        ("torus", 4, {"dims": [2, 0]}, "dims must be >= 1"),
        ("torus", 4, {"servers": 1}, "'torus' has no place for a parameter server"),
        ("torus", 4, {"k": 4}, "unexpected keyword argument 'k'"),
        ("hypercube", 6, {}, "power-of-two worker count; n=6 \\(try 4 or 8\\)"),
        ("hypercube", 4, {"servers": 1}, "'hypercube' has no place for a parameter server"),
        ("fat_tree", 17, {}, "k=4 has 16 host slots; 17 workers do not fit"),
        ("fat_tree", 16, {"servers": 1}, "16 host slots; 16 workers \\+ 1 server do not fit"),
        ("fat_tree", 4, {"k": 3}, "k must be even, got 3"),
        ("fat_tree", 4, {"k": "four"}, "k: cannot parse 'four' as a count"),
        ("tree", 4, {"arity": 1}, "arity must be >= 2, got 1"),
        ("hierarchical", 8, {}, "needs gpus_per_node \\(or nodes\\)"),
        ("hierarchical", 10, {"gpus_per_node": 4}, "n=10 workers do not divide into gpus_per_node=4"),
        ("hierarchical", 8, {"nodes": 3, "gpus_per_node": 4}, "nodes=3 × gpus_per_node=4 = 12, but n=8"),
        ("hierarchical", 8, {"gpus_per_node": 4, "intra": "ring"}, "intra must be 'mesh' or 'switch', got 'ring'"),
        ("hierarchical", 8, {"gpus_per_node": 4, "nic_bandwidth": 0}, "nic_bandwidth must be > 0, got 0"),
        ("hierarchical", 8, {"gpus_per_node": 4, "intra_latency": -1e-6}, "intra_latency must be >= 0"),
        ("hierarchical", 8, {"gpus_per_node": 4, "nics_per_node": 0}, "nics_per_node must be >= 1"),
        ("tree", 4, {"bandwidth": 0.0}, "link 0-'switch0.0' has bandwidth 0.0; it must be > 0"),
        ("fat_tree", 4, {"bandwidth": -1.0}, "has bandwidth -1.0; it must be > 0"),
        ("tree", 0, {}, "workers must be >= 1"),
    ],
)
def test_impossible_topologies_are_one_line_errors(kind, n, options, message):
    """Counts that do not fit, bad options and links without capacity raise one TopologyError line."""
    options = dict(options)
    bandwidth = options.pop("bandwidth", B)
    with pytest.raises(TopologyError, match=message) as error:
        topology.build(kind, n, bandwidth, ALPHA, **options)
    assert "\n" not in str(error.value)


def test_validate_checks_the_worker_count():
    """validate(graph, n) refuses a graph whose workers are not exactly 0..n-1."""
    graph = fabrics.tree(4, B, ALPHA)
    topology.validate(graph, 4)
    with pytest.raises(TopologyError, match="has 4 worker nodes, not the ints 0..4"):
        topology.validate(graph, 5)


# -- scenarios and collectives -------------------------------------------------------------------


def scenario_topologies(tmp_path):
    """One YAML-style topology section per new kind, with options in human units."""
    (tmp_path / "ring.edges").write_text("".join(f"{i} {(i + 1) % 8} 100Gbit/s 2us\n" for i in range(8)))
    return [
        {"kind": "torus", "dims": [2, 4]},
        {"kind": "hypercube", "latency": "1 us"},
        {"kind": "fat_tree", "k": 4, "bandwidth": "100 Gbit/s"},
        {"kind": "tree", "arity": 3, "latency": "500 ns"},
        {"kind": "hierarchical", "gpus_per_node": 4, "intra": "switch", "intra_bandwidth": "300 GB/s",
         "intra_latency": "1 us", "nics_per_node": 2, "nic_bandwidth": "200 Gbit/s", "nic_latency": "5 us"},
        {"kind": "from_file", "path": str(tmp_path / "ring.edges")},
    ]


def test_scenarios_load_every_new_kind_with_units(tmp_path):
    """Each kind loads from a scenario mapping; unit-bearing options reach the generator as SI floats."""
    for spec in scenario_topologies(tmp_path):
        loaded = parse({"name": "t", "workers": 8, "params": 64, "algorithms": ["ring_allreduce"],
                        "payload": "size-only", "topology": spec}, "t.yaml")
        graph = loaded.topology.build(8, loaded.algorithms)
        assert graph.graph["kind"] == spec["kind"] and roles(graph)["worker"] == 8
    hier = parse({"name": "t", "workers": 8, "params": 64, "algorithms": ["ring_allreduce"],
                  "topology": scenario_topologies(tmp_path)[4]}, "t.yaml").topology.build(8, ["ring_allreduce"])
    assert hier.edges[0, "node0.switch"] == {"bandwidth": 300e9, "latency": 1e-6}
    assert hier.edges["node1.nic1", "switch"] == {"bandwidth": 25e9, "latency": 5e-6}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "torus", "k": 4}, "topology.k: unknown key \\(got 4\\) for topology 'torus'; its options: dims"),
        ({"kind": "hypercube"}, "t.yaml: topology: with workers=6: topology 'hypercube' needs a power-of-two"),
        ({"kind": "hierarchical", "gpus_per_node": 4, "nic_bandwidth": "fast"}, "t.yaml: topology.*cannot parse 'fast' as a bandwidth"),
    ],
)
def test_scenarios_name_the_bad_topology_key(spec, message):
    """Unknown options, counts that do not fit and bad units are one ScenarioError line naming the key."""
    with pytest.raises(ScenarioError, match=message):
        parse({"name": "t", "workers": 6, "params": 64, "algorithms": ["ring_allreduce"], "topology": spec}, "t.yaml")


NEW_TOPOLOGIES = [
    ("torus", 12, {"dims": [3, 4]}),
    ("torus", 8, {"dims": [2, 2, 2]}),
    ("hypercube", 8, {}),
    ("fat_tree", 16, {"k": 4}),
    ("fat_tree", 7, {"k": 4}),
    ("tree", 10, {"arity": 3}),
    ("hierarchical", 8, {"gpus_per_node": 4, "nics_per_node": 2}),
    ("hierarchical", 6, {"nodes": 3, "intra": "switch", "nic_bandwidth": 1e9}),
]


@pytest.mark.parametrize(("kind", "n", "options"), NEW_TOPOLOGIES)
def test_ring_allreduce_reaches_the_mean_on_every_new_topology(kind, n, options):
    """Ring all-reduce leaves every rank with the mean: within rounding on normal data, bit for bit on integers."""
    graph = topology.build(kind, n, B, ALPHA, **options)
    buffers = make_buffers(n, 1000, "float32", "data", 0)
    run = run_collective("ring_allreduce", graph, buffers)
    error, tolerance, identical = mean_error(buffers, run.results)
    assert error <= tolerance and identical and run.makespan_s > 0
    integers = [np.round(buffer * 64) for buffer in buffers]
    run = run_collective("ring_allreduce", graph, integers)
    mean = np.mean(np.stack(integers), axis=0)
    for result in run.results:
        np.testing.assert_array_equal(result, mean)


def test_ring_allreduce_reaches_the_mean_on_a_file_topology(tmp_path):
    """The same holds on a topology read from an edge list."""
    (tmp_path / "star.edges").write_text("".join(f"{i} hub 100Gbit/s 1us\n" for i in range(5)))
    graph = topology.build("from_file", 5, B, ALPHA, path=str(tmp_path / "star.edges"))
    buffers = [np.round(b * 64) for b in make_buffers(5, 1000, "float32", "data", 0)]
    run = run_collective("ring_allreduce", graph, buffers)
    for result in run.results:
        np.testing.assert_array_equal(result, np.mean(np.stack(buffers), axis=0))


# -- times by hand on each topology ------------------------------------------------------------

P_ELEMS, W = 1_000_000, 4


def _time(kind, n, algorithm="ring_allreduce", **options):
    graph = topology.build(kind, n, B, ALPHA, **options)
    return run_collective(algorithm, graph, make_buffers(n, P_ELEMS, "float32", "size-only", 0)).makespan_s


def test_ring_allreduce_on_a_one_row_torus_is_the_ring():
    """A 1×8 torus is a ring of 8: 2(n−1) neighbour steps of one hop, α + (P/n)/B each."""
    assert _time("torus", 8, dims=[1, 8]) == pytest.approx(14 * (ALPHA + P_ELEMS / 8 * W / B), rel=1e-12)


@pytest.mark.parametrize(("kind", "options"), [("torus", {"dims": [2, 2, 2]}), ("hypercube", {})])
def test_recursive_doubling_on_a_cube_uses_one_link_per_exchange(kind, options):
    """On a 2×2×2 torus (a 3-cube) partners r xor 1, 2, 4 are neighbours: lg 8 = 3 exchanges of α + P/B."""
    assert _time(kind, 8, "recursive_doubling", **options) == pytest.approx(3 * (ALPHA + P_ELEMS * W / B), rel=1e-12)


@pytest.mark.parametrize(("kind", "options"), [("fat_tree", {"k": 4}), ("tree", {"arity": 2})])
def test_ring_allreduce_across_two_edge_switches(kind, options):
    """Four workers, two per edge switch: 1→2 and 3→0 climb to the next layer and back (4 links each,
    in opposite directions, so they share none); every step lasts 4α + (P/4)/B, 6 steps."""
    assert _time(kind, 4, **options) == pytest.approx(6 * (4 * ALPHA + P_ELEMS / 4 * W / B), rel=1e-12)


def test_parameter_server_at_the_root_of_a_tree():
    """Arity 2, 4 workers, the server on the root: its one link carries the 4 pushes at B/4 each, then the
    4 pulls; each message crosses worker–leaf–root–server, 3 links: T = 2·(3α + 4P/B)."""
    graph = topology.build("tree", 4, B, ALPHA, servers=1, arity=2)
    run = run_collective("parameter_server", graph, make_buffers(4, P_ELEMS, "float32", "size-only", 0))
    assert run.makespan_s == pytest.approx(2 * (3 * ALPHA + 4 * P_ELEMS * W / B), rel=1e-12)


def test_ring_allreduce_on_two_nodes_of_two_gpus():
    """2 nodes × 2 GPUs, one NIC each, NICs 8× slower than NVLink: 1→2 and 3→0 cross GPU–NIC–switch–NIC–GPU
    (2 intra and 2 NIC latencies, NIC bandwidth), in opposite directions; 6 steps of that."""
    intra_b, intra_l, nic_b, nic_l = 8 * B, 1e-6, B, 3e-6
    t = _time("hierarchical", 4, gpus_per_node=2, intra_bandwidth=intra_b, intra_latency=intra_l,
              nic_bandwidth=nic_b, nic_latency=nic_l)
    assert t == pytest.approx(6 * (2 * intra_l + 2 * nic_l + P_ELEMS / 4 * W / nic_b), rel=1e-12)


def test_a_scenarios_from_file_path_is_relative_to_the_scenario(tmp_path, monkeypatch):
    """`path: net.edges` in a scenario means the file beside the scenario, wherever commsim runs from."""
    from commsim import scenario

    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "net.edges").write_text("".join(f"{i} hub 8 Gbit/s 1us\n" for i in range(3)))
    (folder / "s.yaml").write_text("name: s\nworkers: 3\nparams: 1000\nalgorithms: [ring_allreduce]\n"
                                   "topology: {kind: from_file, path: net.edges}\npayload: size-only\n")
    monkeypatch.chdir(tmp_path)
    loaded = scenario.load("study/s.yaml")
    (run,) = points.simulate(loaded)
    assert run.makespan_s == pytest.approx(4 * (2e-6 + 334 * 4 / 1e9), rel=1e-12)  # 2(n−1) steps of 2 hops
