"""Richer topologies: torus, hypercube, fat tree, switch tree, multi-GPU nodes, and graphs read from files.

Each generator has the signature ``(n, bandwidth, latency, servers=0, **options)`` of
:mod:`commsim.network.topology`, returns an ``nx.Graph`` whose workers are the ints ``0..n-1``
(``role="worker"``) and registers itself in :data:`commsim.topology.TOPOLOGIES` when this module
loads (``commsim.topology`` imports it last, so importing either module is enough).

Besides ``kind``, every graph here records ``graph.graph["min_hops"]``: the fewest links between
two distinct workers in this very graph (it can depend on the options; see
:data:`commsim.topology.MIN_WORKER_HOPS` for the per-kind value). Fat trees and multi-GPU nodes also
set ``graph.graph["router"]``, which :class:`commsim.network.Network` calls for each (src, dst).

Switches, NICs and servers are named by strings (``"core0"``, ``"pod1.edge0"``, ``"node2.nic1"``,
``"switch"``), so scenario link overrides can name them.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import deque
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import networkx as nx

from .. import units
from ..errors import TopologyError, UnitError
from .graphs import SERVER, SWITCH, _add_workers, _link, add_servers, server_names

# -- option parsing ------------------------------------------------------------------------------


def _count(kind: str, key: str, value: Any, minimum: int = 1) -> int:
    """An integer option (``4``, ``"4"``, ``"2^3"``) of at least ``minimum``, or a one-line error."""
    try:
        count = units.parse_count(value)
    except UnitError as error:
        raise TopologyError(f"topology {kind!r}: {key}: {error}") from None
    if count < minimum:
        raise TopologyError(f"topology {kind!r}: {key} must be >= {minimum}, got {value!r}")
    return count


def _speed(kind: str, key: str, value: Any, default: float, parse: Any, positive: bool) -> float:
    """A bandwidth/latency option (number or string with units); ``None`` means ``default``."""
    if value is None:
        return default
    try:
        x = parse(value)
    except UnitError as error:
        raise TopologyError(f"topology {kind!r}: {key}: {error}") from None
    if not (x > 0 if positive else x >= 0):
        raise TopologyError(f"topology {kind!r}: {key} must be {'> 0' if positive else '>= 0'}, got {value!r}")
    return x


def _no_servers(kind: str, servers: int) -> None:
    if servers:
        raise TopologyError(
            f"topology {kind!r} has no place for a parameter server; use 'star', 'fully_connected', "
            "'tree', 'fat_tree' or 'hierarchical'"
        )


def _workers(kind: str, n: Any) -> int:
    return _count(kind, "workers", n)


# -- torus ---------------------------------------------------------------------------------------


def _squarest(n: int) -> tuple[int, int]:
    a = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return a, n // a


def _dims(value: Any, n: int) -> tuple[int, ...]:
    if value is None:
        return _squarest(n)
    if isinstance(value, str):
        value = [part for part in re.split(r"\s*[x×,]\s*", value.strip()) if part]
    if not isinstance(value, (list, tuple)) or len(value) not in (2, 3):
        raise TopologyError(f"topology 'torus': dims must be 2 or 3 sizes like [4, 4] or '2x2x2', got {value!r}")
    return tuple(_count("torus", "dims", size) for size in value)


def torus(n: int, bandwidth: float, latency: float, servers: int = 0, dims: Any = None) -> nx.Graph:
    """A 2-D or 3-D wraparound grid: worker at coordinates (i, j[, l]) is ``(i·b + j)·c + l`` (row-major).

    ``dims`` is ``[a, b]`` or ``[a, b, c]`` (also ``"4x4"``) with a·b·c = n; omitted, the squarest
    a×b. Each worker links to its +1 neighbour (mod size) in every dimension: a dimension of size 2
    gives one link per pair, size 1 none. There is no place for a parameter server.
    """
    n = _workers("torus", n)
    _no_servers("torus", servers)
    shape = _dims(dims, n)
    if math.prod(shape) != n:
        raise TopologyError(
            f"topology 'torus': dims {'x'.join(map(str, shape))} hold {math.prod(shape)} workers, but n={n}"
        )
    graph = nx.Graph(kind="torus", dims=shape, min_hops=1)
    _add_workers(graph, n)
    strides = [math.prod(shape[d + 1 :]) for d in range(len(shape))]
    for worker in range(n):
        for size, stride in zip(shape, strides):
            if size > 1:
                coordinate = (worker // stride) % size
                neighbour = worker + (((coordinate + 1) % size) - coordinate) * stride
                _link(graph, worker, neighbour, bandwidth, latency)
    return graph


# -- hypercube -----------------------------------------------------------------------------------


def hypercube(n: int, bandwidth: float, latency: float, servers: int = 0) -> nx.Graph:
    """Workers i and j are linked when their indices differ in exactly one bit (n a power of two)."""
    n = _workers("hypercube", n)
    _no_servers("hypercube", servers)
    if n & (n - 1):
        low = 1 << (n.bit_length() - 1)
        raise TopologyError(f"topology 'hypercube' needs a power-of-two worker count; n={n} (try {low} or {2 * low})")
    graph = nx.Graph(kind="hypercube", dimension=n.bit_length() - 1, min_hops=1)
    _add_workers(graph, n)
    for worker in range(n):
        for bit in range(n.bit_length() - 1):
            if not worker & (1 << bit):
                _link(graph, worker, worker | (1 << bit), bandwidth, latency)
    return graph


# -- fat tree ------------------------------------------------------------------------------------


def fat_tree(n: int, bandwidth: float, latency: float, servers: int = 0, k: Any = 4) -> nx.Graph:
    """A k-ary fat tree (Al-Fares et al.): k pods of k/2 edge and k/2 aggregation switches, (k/2)² cores.

    Edge switch ``pod{p}.edge{e}`` links to every ``pod{p}.agg{a}`` of its pod; core ``core{i·k/2+j}``
    links to ``pod{p}.agg{i}`` of every pod. There are k³/4 host slots, k/2 per edge switch, filled in
    order: worker w sits in slot w (pod w // (k/2)², edge (w // (k/2)) mod k/2). Parameter servers are
    hosts too: they take the next free slots after the workers, so n + servers <= k³/4.

    Routing is deterministic ECMP: among the hop-shortest paths of a (src, dst) pair (1 under one edge
    switch, k/2 inside a pod, (k/2)² across pods), the one numbered ``crc32(repr((src, dst))) mod count``.
    """
    n = _workers("fat_tree", n)
    k = _count("fat_tree", "k", k, minimum=2)
    if k % 2:
        raise TopologyError(f"topology 'fat_tree': k must be even, got {k}")
    half = k // 2
    capacity = k * half * half
    servers = int(servers)
    if n + servers > capacity:
        extra = f" + {servers} server{'s' * (servers > 1)}" if servers else ""
        raise TopologyError(
            f"topology 'fat_tree' with k={k} has {capacity} host slots; {n} workers{extra} do not fit (raise k)"
        )
    graph = nx.Graph(kind="fat_tree", k=k, min_hops=2 if half > 1 else 6, router=fat_tree_route)
    _add_workers(graph, n)
    for core in range(half * half):
        graph.add_node(f"core{core}", role=SWITCH, layer="core")
    for pod in range(k):
        for a in range(half):
            agg = f"pod{pod}.agg{a}"
            graph.add_node(agg, role=SWITCH, layer="aggregation", pod=pod)
            for j in range(half):
                _link(graph, agg, f"core{a * half + j}", bandwidth, latency)
        for e in range(half):
            edge = f"pod{pod}.edge{e}"
            graph.add_node(edge, role=SWITCH, layer="edge", pod=pod)
            for a in range(half):
                _link(graph, edge, f"pod{pod}.agg{a}", bandwidth, latency)
    for slot, host in enumerate([*range(n), *server_names(servers)]):
        pod, e = slot // (half * half), (slot // half) % half
        if not isinstance(host, int):
            graph.add_node(host, role="server")
        _link(graph, host, f"pod{pod}.edge{e}", bandwidth, latency)
    return graph


def _host_switch(graph: nx.Graph, node: Hashable) -> Hashable | None:
    """The edge switch of a worker or server (its only neighbour), else None."""
    if graph.nodes[node].get("role") not in ("worker", "server") or graph.degree(node) != 1:
        return None
    return next(iter(graph.adj[node]))


def fat_tree_route(graph: nx.Graph, src: Hashable, dst: Hashable) -> list[Hashable]:
    """Deterministic ECMP on a fat tree: one hop-shortest path, picked by a stable hash of (src, dst)."""
    es, ed = _host_switch(graph, src), _host_switch(graph, dst)
    if es is None or ed is None:  # a switch as an endpoint: any shortest path will do
        return nx.shortest_path(graph, src, dst)
    if es == ed:
        return [src, es, dst]
    half = graph.graph["k"] // 2
    choice = zlib.crc32(repr((src, dst)).encode())
    ps, pd = graph.nodes[es]["pod"], graph.nodes[ed]["pod"]
    if ps == pd:
        return [src, es, f"pod{ps}.agg{choice % half}", ed, dst]
    a, j = divmod(choice % (half * half), half)
    return [src, es, f"pod{ps}.agg{a}", f"core{a * half + j}", f"pod{pd}.agg{a}", ed, dst]


# -- tree ----------------------------------------------------------------------------------------


def tree(n: int, bandwidth: float, latency: float, servers: int = 0, arity: Any = 4) -> nx.Graph:
    """Workers are the leaves of a tree of switches, each switch with at most ``arity`` children.

    Worker w hangs off leaf switch w // arity; switch i of a level hangs off switch i // arity of the
    level above, up to the single root. Switches are ``switch{level}.{i}``, level 0 being the root
    (``graph.graph["root"]``); only the switches needed for n workers exist. Servers link to the root.
    """
    n = _workers("tree", n)
    arity = _count("tree", "arity", arity, minimum=2)
    counts = [-(-n // arity)]
    while counts[-1] > 1:
        counts.append(-(-counts[-1] // arity))
    depth = len(counts)  # switch levels; the leaf switches are level depth-1
    graph = nx.Graph(kind="tree", arity=arity, root="switch0.0", min_hops=2)
    _add_workers(graph, n)
    for up, count in enumerate(counts):  # up = 0 for the leaf switches
        level = depth - 1 - up
        for i in range(count):
            graph.add_node(f"switch{level}.{i}", role=SWITCH, level=level)
            if level > 0:
                _link(graph, f"switch{level}.{i}", f"switch{level - 1}.{i // arity}", bandwidth, latency)
    for worker in range(n):
        _link(graph, worker, f"switch{depth - 1}.{worker // arity}", bandwidth, latency)
    add_servers(graph, servers, ["switch0.0"], bandwidth, latency)
    return graph


# -- multi-GPU nodes -----------------------------------------------------------------------------

NETWORK_SWITCH = SWITCH


def hierarchical(
    n: int,
    bandwidth: float,
    latency: float,
    servers: int = 0,
    nodes: Any = None,
    gpus_per_node: Any = None,
    intra: str = "mesh",
    intra_bandwidth: Any = None,
    intra_latency: Any = None,
    nics_per_node: Any = 1,
    nic_bandwidth: Any = None,
    nic_latency: Any = None,
) -> nx.Graph:
    """Machines of ``gpus_per_node`` GPUs joined by one network switch through their NICs.

    GPU i (a worker) is on node i // gpus_per_node; give ``gpus_per_node`` and/or ``nodes`` (the other
    is derived; nodes × gpus_per_node must equal n). Inside a node the GPUs form a full mesh
    (``intra="mesh"``) or hang off ``node{m}.switch`` (``intra="switch"``), over intra_bandwidth /
    intra_latency links (default: the topology's). Each node has ``nics_per_node`` NICs
    ``node{m}.nic{j}`` (role ``"nic"``), each linked to every GPU of its node at the intra speed and to
    the network switch ``"switch"`` at nic_bandwidth / nic_latency (default: the topology's).
    Parameter servers link to the network switch.

    Routing: GPUs of one node use the intra-node path (direct, or via the node switch); otherwise
    ``[gpu, its NIC, switch, destination's NIC, dst]``, where a GPU's NIC is number
    (local index mod nics_per_node), so the GPUs of a node spread evenly over its NICs.
    """
    kind = "hierarchical"
    n = _workers(kind, n)
    if gpus_per_node is None and nodes is None:
        raise TopologyError(f"topology {kind!r} needs gpus_per_node (or nodes)")
    if gpus_per_node is not None:
        gpus_per_node = _count(kind, "gpus_per_node", gpus_per_node)
    if nodes is not None:
        nodes = _count(kind, "nodes", nodes)
    if nodes is None or gpus_per_node is None:
        given, key = (gpus_per_node, "gpus_per_node") if nodes is None else (nodes, "nodes")
        if n % given:
            raise TopologyError(f"topology {kind!r}: n={n} workers do not divide into {key}={given}")
        nodes, gpus_per_node = (n // given, given) if nodes is None else (given, n // given)
    if nodes * gpus_per_node != n:
        raise TopologyError(
            f"topology {kind!r}: nodes={nodes} × gpus_per_node={gpus_per_node} = {nodes * gpus_per_node}, but n={n}"
        )
    if intra not in ("mesh", "switch"):
        raise TopologyError(f"topology {kind!r}: intra must be 'mesh' or 'switch', got {intra!r}")
    nics = _count(kind, "nics_per_node", nics_per_node)
    intra_b = _speed(kind, "intra_bandwidth", intra_bandwidth, bandwidth, units.parse_bandwidth, True)
    intra_l = _speed(kind, "intra_latency", intra_latency, latency, units.parse_time, False)
    nic_b = _speed(kind, "nic_bandwidth", nic_bandwidth, bandwidth, units.parse_bandwidth, True)
    nic_l = _speed(kind, "nic_latency", nic_latency, latency, units.parse_time, False)
    if gpus_per_node > 1:
        min_hops = 1 if intra == "mesh" else 2
    else:
        min_hops = 4  # GPU, NIC, switch, NIC, GPU
    graph = nx.Graph(
        kind=kind, gpus_per_node=gpus_per_node, nodes=nodes, nics_per_node=nics, intra=intra,
        min_hops=min_hops, router=hierarchical_route,
    )
    _add_workers(graph, n)
    for gpu in range(n):
        graph.nodes[gpu]["node"] = gpu // gpus_per_node
    graph.add_node(NETWORK_SWITCH, role=SWITCH)
    for m in range(nodes):
        gpus = range(m * gpus_per_node, (m + 1) * gpus_per_node)
        if intra == "mesh":
            for i in gpus:
                for j in range(i + 1, gpus.stop):
                    _link(graph, i, j, intra_b, intra_l)
        else:
            graph.add_node(f"node{m}.switch", role=SWITCH, node=m)
            for i in gpus:
                _link(graph, i, f"node{m}.switch", intra_b, intra_l)
        for j in range(nics):
            nic = f"node{m}.nic{j}"
            graph.add_node(nic, role="nic", node=m)
            for i in gpus:
                _link(graph, nic, i, intra_b, intra_l)
            _link(graph, nic, NETWORK_SWITCH, nic_b, nic_l)
    add_servers(graph, servers, [NETWORK_SWITCH], nic_b, nic_l)
    return graph


def gpu_nic(graph: nx.Graph, gpu: int) -> str:
    """The NIC a GPU of a ``hierarchical`` graph sends and receives through."""
    g = graph.graph["gpus_per_node"]
    return f"node{gpu // g}.nic{(gpu % g) % graph.graph['nics_per_node']}"


def hierarchical_route(graph: nx.Graph, src: Hashable, dst: Hashable) -> list[Hashable]:
    """Intra-node path inside a node; else GPU → its NIC → network switch → the destination's NIC → GPU."""
    roles = graph.nodes[src].get("role"), graph.nodes[dst].get("role")
    if not all(role in ("worker", "server") for role in roles):
        return nx.shortest_path(graph, src, dst)
    if roles == ("worker", "worker"):
        g = graph.graph["gpus_per_node"]
        if src // g == dst // g:
            return [src, dst] if graph.graph["intra"] == "mesh" else [src, f"node{src // g}.switch", dst]
    up = [src, gpu_nic(graph, src)] if roles[0] == "worker" else [src]
    down = [gpu_nic(graph, dst), dst] if roles[1] == "worker" else [dst]
    return [*up, NETWORK_SWITCH, *down]


# -- from a file ---------------------------------------------------------------------------------

_SERVER_NAME = re.compile(rf"{SERVER}[0-9]*")  # the names add_servers gives


def _node_name(name: Any) -> Hashable:
    """Integer-looking names (``"3"``) become ints; other names stay as they are."""
    if isinstance(name, str) and re.fullmatch(r"-?[0-9]+", name.strip()) and str(int(name)) == name.strip():
        return int(name)
    return name


def _default_role(name: Hashable) -> str:
    if isinstance(name, int):
        return "worker"
    return "server" if isinstance(name, str) and _SERVER_NAME.fullmatch(name) else SWITCH


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _read_edge_list(path: Path, bandwidth: float, latency: float) -> nx.Graph:
    """``u v [bandwidth [latency]]`` per line; ``#`` starts a comment; ``-`` means the default.

    A quantity may be one token (``100Gbit/s``) or a number and its unit (``100 Gbit/s``).
    """
    graph = nx.Graph()
    text = path.read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split("#", 1)[0].split()
        if not tokens:
            continue
        where = f"topology file {str(path)!r}, line {number}"
        if len(tokens) < 2:
            raise TopologyError(f"{where}: expected 'u v [bandwidth [latency]]', got {line.strip()!r}")
        u, v, rest = _node_name(tokens[0]), _node_name(tokens[1]), tokens[2:]
        values = []
        for parse, default in ((units.parse_bandwidth, bandwidth), (units.parse_time, latency)):
            if not rest:
                values.append(default)
                continue
            take = 2 if len(rest) >= 2 and _is_number(rest[0]) and rest[1][:1].isalpha() else 1
            quantity, rest = " ".join(rest[:take]), rest[take:]
            try:
                values.append(default if quantity == "-" else parse(quantity))
            except UnitError as error:
                raise TopologyError(f"{where}: {error}") from None
        if rest:
            raise TopologyError(f"{where}: unexpected {' '.join(rest)!r} after 'u v bandwidth latency'")
        if u == v:
            raise TopologyError(f"{where}: a link from {u!r} to itself")
        graph.add_edge(u, v, bandwidth=values[0], latency=values[1])
    return graph


def _read_graphml(path: Path, bandwidth: float, latency: float) -> nx.Graph:
    """A GraphML graph with string names made ints where they look like ints, units parsed."""
    try:
        raw = nx.read_graphml(path)
    except OSError:
        raise
    except Exception as error:  # ElementTree.ParseError, NetworkXError, KeyError on bad keys, ...
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TopologyError(f"topology file {str(path)!r}: not valid GraphML: {detail}") from None
    graph = nx.Graph()
    for node, data in raw.nodes(data=True):
        graph.add_node(_node_name(node), **data)
    for u, v, data in raw.edges(data=True):
        u, v = _node_name(u), _node_name(v)
        if u == v:
            raise TopologyError(f"topology file {str(path)!r}: a link from {u!r} to itself")
        attrs = dict(data)
        for key, parse, default in (("bandwidth", units.parse_bandwidth, bandwidth), ("latency", units.parse_time, latency)):
            try:
                attrs[key] = default if attrs.get(key) in (None, "") else parse(attrs[key])
            except UnitError as error:
                raise TopologyError(f"topology file {str(path)!r}: link {u!r}-{v!r}: {key}: {error}") from None
        graph.add_edge(u, v, **attrs)
    return graph


_READERS = {".graphml": _read_graphml, ".edges": _read_edge_list, ".txt": _read_edge_list}


def from_file(n: int, bandwidth: float, latency: float, servers: int = 0, path: Any = None) -> nx.Graph:
    """A topology read from GraphML (``.graphml``) or an edge list (``.edges``/``.txt``).

    Edge-list lines are ``u v [bandwidth [latency]]`` (plain SI numbers or units such as
    ``100Gbit/s`` / ``5 us``; ``-`` or a missing value means the topology's default; ``#`` comments).
    GraphML edges may carry ``bandwidth``/``latency`` as numbers or strings with units; missing ones
    get the topology's defaults. Integer-looking names become ints. A node keeps its ``role``
    attribute; without one, an int is a worker, ``server``/``server<i>`` a server, anything else a
    switch. The workers must be exactly the ints 0..n-1. The file's servers are all kept; ``servers``
    only says how many the run needs at least. A relative ``path`` is relative to the current directory.
    """
    n = _workers("from_file", n)
    if path is None:
        raise TopologyError("topology 'from_file' needs path: a .graphml, .edges or .txt file")
    file = Path(path)
    reader = _READERS.get(file.suffix.lower())
    if reader is None:
        raise TopologyError(f"topology file {str(path)!r}: unknown format; use one of {', '.join(_READERS)}")
    try:
        graph = reader(file, bandwidth, latency)
    except OSError as error:
        raise TopologyError(f"topology file {str(path)!r} cannot be read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise TopologyError(f"topology file {str(path)!r} is not UTF-8 text") from None
    for node, data in graph.nodes(data=True):
        data.setdefault("role", _default_role(node))
        if data["role"] == "worker" and (not isinstance(node, int) or node < 0):
            raise TopologyError(f"topology file {str(path)!r}: worker {node!r} must be named by an integer 0..n-1")
    workers = sorted(node for node, role in graph.nodes(data="role") if role == "worker")
    if workers != list(range(n)):
        found = f"{len(workers)} workers ({_span(workers)})" if workers else "no workers"
        raise TopologyError(f"topology file {str(path)!r} has {found}, but the run has n={n} (workers 0..{n - 1})")
    found_servers = sum(role == "server" for _, role in graph.nodes(data="role"))
    if found_servers < int(servers):
        raise TopologyError(
            f"topology file {str(path)!r} has {found_servers} server node(s), but the run needs {int(servers)}"
        )
    graph.graph.update(kind="from_file", path=str(path), min_hops=fewest_worker_hops(graph))
    return graph


def _span(workers: list[int]) -> str:
    """``0..7`` for a contiguous run, else the first few names."""
    if workers == list(range(workers[0], workers[0] + len(workers))):
        return f"{workers[0]}..{workers[-1]}"
    return ", ".join(map(str, workers[:6])) + (", ..." if len(workers) > 6 else "")


def fewest_worker_hops(graph: nx.Graph) -> int | None:
    """The fewest links between two distinct workers (None with fewer than two connected workers).

    One multi-source BFS labels every node with its nearest worker; the closest pair of workers is
    joined through an edge whose ends have different labels.
    """
    dist: dict[Hashable, int] = {}
    label: dict[Hashable, Hashable] = {}
    queue: deque[Hashable] = deque()
    for node, role in graph.nodes(data="role"):
        if role == "worker":
            dist[node], label[node] = 0, node
            queue.append(node)
    while queue:
        node = queue.popleft()
        for other in graph.adj[node]:
            if other not in dist:
                dist[other], label[other] = dist[node] + 1, label[node]
                queue.append(other)
    best = min(
        (dist[u] + 1 + dist[v] for u, v in graph.edges if u in dist and v in dist and label[u] != label[v]),
        default=None,
    )
    return best


GENERATORS = {generator.__name__: generator for generator in (torus, hypercube, fat_tree, tree, hierarchical, from_file)}
"""The generators this module adds to :data:`commsim.topology.TOPOLOGIES`."""
