"""Closed forms: the messages, bytes and time each algorithm should take.

n workers, p elements of w bytes (P = p·w), per-link latency α and bandwidth B, every link alike.
Counts (background.md §3): all-to-all n(n−1)·P; parameter server 2n·P; ring 2n(n−1) chunks of
⌊p/n⌋ or ⌈p/n⌉ elements. Times are those of the first issue's topology-aware forms; where links
are shared in ways no simple form captures, the time is a lower bound (``time_relation`` "≥":
the measured time is at least the formula's).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ..payload import chunk_bounds

# Hops of a worker-to-worker route, and of a worker-to-server route, per topology.
_WORKER_HOPS = {"star": 2, "ring": 1, "fully_connected": 1}
_SERVER_HOPS = {"star": 2, "fully_connected": 1}


@dataclass(frozen=True)
class LinkCost:
    """A contention-free network: one m-byte message costs alpha + m·beta; combining m bytes m·gamma.

    ``servers`` and ``gpus_per_node`` describe the network's shape for the algorithms that use it
    (sharded parameter server, hierarchical ring); None means the algorithm's own default.
    """

    alpha: float
    beta: float
    gamma: float = 0.0
    servers: int = 1
    gpus_per_node: int | None = None

    def message(self, nbytes: int) -> float:
        return self.alpha + nbytes * self.beta


@dataclass(frozen=True)
class Cost:
    """An algorithm's closed form: message sizes (bytes -> count) and time."""

    message_bytes: dict[int, int]
    time: float
    formula: str


@dataclass(frozen=True)
class Expected:
    """What the closed forms predict for one run."""

    messages: int
    bytes: int
    message_bytes: dict[int, int]
    makespan_s: float | None  # None: no closed form (e.g. links of different speeds)
    time_relation: str = "="  # measured time "=", "≥" (lower bound) or "≤" (upper bound) the formula
    time_formula: str = ""


def _counts(algorithm: str, n: int, p: int, w: int) -> dict[int, int]:
    """Histogram message size (bytes) -> count of the three textbook patterns."""
    if n == 1:
        return {}
    if algorithm == "all_to_all":
        return {p * w: n * (n - 1)}
    if algorithm == "parameter_server":
        return {p * w: 2 * n}
    if algorithm == "ring_allreduce":
        bounds = chunk_bounds(p, n)
        sizes = Counter((hi - lo) * w for lo, hi in zip(bounds, bounds[1:]))
        return {size: count * 2 * (n - 1) for size, count in sorted(sizes.items())}
    raise ValueError(f"no closed form for algorithm {algorithm!r}")


def _ring_topology_all_to_all_bound(n: int, size: int, alpha: float, bandwidth: float) -> float:
    """All-to-all on a ring: all bytes·hops spread over every directed link, plus one latency."""
    byte_hops = n * size * sum(min(d, n - d) for d in range(1, n))
    directed_links = 2 * n if n > 2 else 2
    return alpha + byte_hops / (directed_links * bandwidth)


def makespan(
    algorithm: str, topology: str, n: int, p: int, w: int, alpha: float, bandwidth: float, gamma: float = 0.0
) -> tuple[float, str, str] | None:
    """(time, relation of the measured time to it, formula) of a textbook pattern on its topologies,
    including how it shares links there; None where no topology-aware form is known."""
    if algorithm not in _TEXTBOOK or topology not in _WORKER_HOPS:
        return None
    if n == 1:
        return 0.0, "=", "0 (nothing is sent)"
    size = p * w
    hops = _WORKER_HOPS[topology]
    if algorithm == "ring_allreduce":
        largest_chunk = -(-p // n) * w
        return (
            2 * (n - 1) * (hops * alpha + largest_chunk / bandwidth) + (n - 1) * largest_chunk * gamma,
            "=",
            f"2(n-1)·({hops}α + ⌈p/n⌉w/B) + (n-1)⌈p/n⌉wγ",
        )
    combine = (n - 1) * size * gamma  # the server, or every worker, adds n−1 buffers
    if algorithm == "parameter_server":
        if topology == "star":
            return 2 * (2 * alpha + n * size / bandwidth) + combine, "=", "2·(2α + nP/B) + (n-1)Pγ"
        return 2 * (_SERVER_HOPS[topology] * alpha + size / bandwidth) + combine, "=", "2·(α + P/B) + (n-1)Pγ"
    if topology == "star":
        return 2 * alpha + (n - 1) * size / bandwidth + combine, "=", "2α + (n-1)P/B + (n-1)Pγ"
    if topology == "fully_connected":
        return alpha + size / bandwidth + combine, "=", "α + P/B + (n-1)Pγ"
    bound = _ring_topology_all_to_all_bound(n, size, alpha, bandwidth) + combine
    return bound, "≥", "α + Σ bytes·hops / (links·B) + (n-1)Pγ"


_TEXTBOOK = frozenset({"all_to_all", "parameter_server", "ring_allreduce"})
# Topologies on which every registered algorithm runs without two messages sharing a link.
CONTENTION_FREE = frozenset({"fully_connected"})


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
) -> Expected:
    """The closed-form messages, bytes and time of one collective.

    ``alpha`` and ``bandwidth`` are the per-link latency and bandwidth (with links that differ:
    the smallest latency and the largest bandwidth, which make the time a lower bound). Textbook
    patterns use their topology-aware forms; other algorithms their contention-free form with
    ``min_hops`` links per message, exact on contention-free topologies and a lower bound elsewhere.
    """
    from .base import get

    spec = get(algorithm)
    textbook = makespan(algorithm, topology, n, p, w, alpha, bandwidth, gamma) if uniform_links else None
    hops = _WORKER_HOPS.get(topology, min_hops)
    cost = None
    if spec.cost is not None:
        link = LinkCost(hops * alpha, 1.0 / bandwidth, gamma, max(servers, 1), gpus_per_node)
        cost = spec.cost(n, p, w, link) if n > 1 else Cost({}, 0.0, "0")
    histogram = _counts(algorithm, n, p, w) if algorithm in _TEXTBOOK else cost.message_bytes
    messages = sum(histogram.values())
    total = sum(size * count for size, count in histogram.items())
    if textbook is not None:
        time, relation, formula = textbook
    elif cost is not None:
        exact = uniform_links and topology in CONTENTION_FREE
        time, relation, formula = cost.time, "=" if exact else "≥", cost.formula
    else:
        return Expected(messages, total, histogram, None, "=", "no closed form: links differ")
    return Expected(messages, total, histogram, time, relation, formula)
