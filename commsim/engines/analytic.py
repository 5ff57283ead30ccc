"""Closed forms: the messages, bytes and time each algorithm should take.

n workers, p elements of w bytes (P = p·w), per-link latency α and bandwidth B, every link alike.
Each algorithm's ``cost`` (beside its schedule) is the one source of its counts — background.md
§3: all-to-all n(n−1)·P; parameter server 2n·P; ring 2n(n−1) chunks of ⌊p/n⌋ or ⌈p/n⌉ elements —
and of its contention-free time. Here: where that time is exact, the textbook patterns' forms on
links they share, and the dispatch. Where links are shared in ways no simple form captures, the
time is a lower bound (``time_relation`` "≥": the measured time is at least the formula's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from ..collectives.base import get
from ..collectives.cost import Cost, LinkCost
from ..network import topology as topologies

__all__ = ["Cost", "Expected", "LinkCost", "closed_form", "expected", "is_exact", "server_link_form", "shared_link_form"]


@dataclass(frozen=True)
class Expected:
    """What the closed forms predict for one run."""

    messages: int
    bytes: int
    message_bytes: dict[int, int]
    makespan_s: float | None  # None: no closed form (e.g. links of different speeds)
    time_relation: str = "="  # measured time "=", "≥" (lower bound) or "≤" (upper bound) the formula
    time_formula: str = ""


def _ring_topology_all_to_all_bound(n: int, size: int, alpha: float, bandwidth: float) -> float:
    """All-to-all on a ring: all bytes·hops spread over every directed link, plus one latency.

    A ring of n > 2 workers has 2n directed links; two workers share one edge, so 2."""
    byte_hops = n * size * sum(min(d, n - d) for d in range(1, n))
    directed_links = 2 * n if n > 2 else 2
    return alpha + byte_hops / (directed_links * bandwidth)


def server_link_form(
    algorithm: str, topology: str, n: int, p: int, w: int, route_alpha: float, bandwidth: float,
    gamma: float, servers: int, uniform_links: bool,
) -> tuple[float, str, str] | None:
    """(time, relation, formula) of a parameter server wherever a server hangs off one link (every
    generated topology but ``fully_connected``); else None.

    That link carries the n pushes of the server's shard C = ⌈p/k⌉w, and only then the n pulls, so
    T ≥ 2(route α + nC/B) + (n−1)Cγ — exact on a star of uniform links when n ≥ k (with n < k the
    workers' own links are the bottleneck). ``bandwidth`` is the fastest server link's.
    """
    if algorithm not in ("parameter_server", "sharded_parameter_server") or topology in (*CONTENTION_FREE, "from_file"):
        return None
    k = max(servers, 1) if algorithm == "sharded_parameter_server" else 1
    shard = -(-p // k) * w
    time = 2 * (route_alpha + n * shard / bandwidth) + (n - 1) * shard * gamma
    exact = uniform_links and topology == "star" and n >= k
    return time, "=" if exact else "≥", f"2·(hα + n⌈p/k⌉w/B) + (n-1)⌈p/k⌉wγ, k={k}: pushes, then pulls, on a server's link"


def shared_link_form(
    algorithm: str, topology: str, n: int, size: int, alpha: float, bandwidth: float, gamma: float = 0.0
) -> tuple[float, str, str] | None:
    """(time, relation, formula) of all-to-all where its messages share links of a uniform topology;
    else None. On a star each worker's uplink carries its n−1 sends at once; on a ring a bound from
    the byte·hops spread over every link."""
    combine = (n - 1) * size * gamma  # every worker adds n−1 buffers
    if (algorithm, topology) == ("all_to_all", "star"):
        return 2 * alpha + (n - 1) * size / bandwidth + combine, "=", "2α + (n-1)P/B + (n-1)Pγ"
    if (algorithm, topology) == ("all_to_all", "ring"):
        bound = _ring_topology_all_to_all_bound(n, size, alpha, bandwidth) + combine
        return bound, "≥", "α + Σ bytes·hops / (links·B) + (n-1)Pγ"
    return None


# Hops of a worker-to-worker (and worker-to-server) route on the simple topologies.
_WORKER_HOPS = {"star": 2, "ring": 1, "fully_connected": 1}

# Where an algorithm's contention-free form is exact on uniform links: no two of its messages ever
# cross the same directed link at once. Everything on ``fully_connected`` (a link per pair). On a
# star a message crosses its sender's uplink and its receiver's downlink, so algorithms in which no
# worker has two sends or two receives in flight are exact; on a ring, algorithms that only talk to
# their ring neighbours; on a hypercube, those whose partners differ in one bit (a direct link) with
# one exchange per step. The tree and doubling algorithms pair workers up contention-free on a star
# only when n is a power of two (otherwise the extra ranks fold onto busy partners). Everywhere else
# the form is a lower bound ("≥"). ``tests/test_analytic.py`` checks every pair here against the
# simulation, and pairs outside it for being strictly slower.
CONTENTION_FREE = frozenset({"fully_connected"})
EXACT_ON: dict[str, frozenset[str]] = {
    "star": frozenset({"ring_allreduce", "reduce_scatter", "all_gather", "broadcast", "hierarchical_ring"}),
    "ring": frozenset({"ring_allreduce", "reduce_scatter", "all_gather"}),
    "hypercube": frozenset({"recursive_doubling", "rabenseifner", "binomial_tree", "broadcast", "reduce"}),
}
EXACT_ON_POWERS_OF_TWO: dict[str, frozenset[str]] = {
    "star": frozenset({"recursive_doubling", "rabenseifner", "binomial_tree", "reduce"}),
}


# Rabenseifner's and the hierarchical ring's forms take every step at its largest block. That is the
# critical path only while a route's latency outweighs a few elements' time: with hα < n·w·(β + 2γ)
# (α = 0, say) ranks holding smaller blocks drift ahead by whole elements, and the run takes up to
# 5 % longer (n = 16, p = 7). There the form is a lower bound. Found by the schedule engine's
# cross-check; the threshold holds on every n, p and γ of tests/test_analytic.py.
NEED_LATENCY = frozenset({"rabenseifner", "hierarchical_ring"})


def is_exact(algorithm: str, topology: str, n: int) -> bool:
    """Whether ``algorithm``'s contention-free form is exact for n workers on ``topology`` with uniform links."""
    if topology in CONTENTION_FREE or algorithm in EXACT_ON.get(topology, ()):
        return True
    return n & (n - 1) == 0 and algorithm in EXACT_ON_POWERS_OF_TWO.get(topology, ())


def expected(
    algorithm: str,
    topology: str,
    n: int,
    p: int,
    w: int,
    alpha: float,
    bandwidth: float,
    uniform_links: bool = True,
    gamma: float = 0.0,
    servers: int = 1,
    gpus_per_node: int | None = None,
    min_hops: int = 1,
    server_bandwidth: float | None = None,
) -> Expected:
    """The closed-form messages, bytes and time of one collective.

    ``alpha`` and ``bandwidth`` are the per-link latency and bandwidth (with links that differ:
    the smallest latency and the largest bandwidth, which make the time a lower bound). The counts
    are the algorithm's ``cost`` histogram; the time its contention-free form with ``min_hops``
    links per message (the simple topologies' own hop counts), exact where :func:`is_exact` says so,
    else a lower bound — unless its servers' links (:func:`server_link_form`) or links all-to-all
    shares (:func:`shared_link_form`) give a tighter form.
    """
    spec = get(algorithm)
    if spec.cost is None:
        raise ValueError(f"algorithm {algorithm!r} has no closed form")
    if n == 1:
        return Expected(0, 0, {}, 0.0, "=", "0 (nothing is sent)")
    hops = _WORKER_HOPS.get(topology, min_hops)
    cost = spec.cost(n, p, w, LinkCost(hops * alpha, 1.0 / bandwidth, gamma, max(servers, 1), gpus_per_node))
    histogram = cost.message_bytes
    messages = sum(histogram.values())
    total = sum(size * count for size, count in histogram.items())
    shared = server_link_form(
        algorithm, topology, n, p, w, hops * alpha, server_bandwidth or bandwidth, gamma, servers, uniform_links
    ) or (shared_link_form(algorithm, topology, n, p * w, alpha, bandwidth, gamma) if uniform_links else None)
    if shared is not None:
        time, relation, formula = shared
    else:
        exact = uniform_links and is_exact(algorithm, topology, n) and not (
            algorithm in NEED_LATENCY and hops * alpha < n * w * (1.0 / bandwidth + 2 * gamma))
        time, relation, formula = cost.time, "=" if exact else "≥", cost.formula
    return Expected(messages, total, histogram, time, relation, formula)


def closed_form(algorithm: str, graph: nx.Graph, n: int, p: int, w: int, gamma: float = 0.0) -> Expected:
    """The analytic twin of one run on ``graph`` (a lower bound from its fastest link if links differ)."""
    latency, bandwidth = topologies.link_extremes(graph)
    servers = topologies.servers(graph)
    server_bandwidth = max((b for s in servers for _, _, b in graph.edges(s, data="bandwidth")), default=None)
    return expected(
        algorithm, graph.graph["kind"], n, p, w, latency, bandwidth, uniform_links=topologies.is_uniform(graph),
        gamma=gamma, servers=len(servers), gpus_per_node=graph.graph.get("gpus_per_node"),
        min_hops=topologies.min_worker_hops(graph), server_bandwidth=server_bandwidth,
    )


def execute(plan: Any, progress: Any = None) -> Any:
    """Answer a :class:`~commsim.engines.plan.Plan` from its closed form (NCCL's own model for model nccl):
    counts and bytes from the formulas, the time of the closed form; nothing simulated."""
    import numpy as np

    from .record import Record

    expected = plan.expected
    time = expected.makespan_s if expected.makespan_s is not None else float("nan")
    if progress is not None:
        progress(1.0)
    return Record(np.full(1, time), expected.messages, dict(expected.message_bytes), {}, {})
