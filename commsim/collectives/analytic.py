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
class Expected:
    """What the closed forms predict for one run."""

    messages: int
    bytes: int
    message_bytes: dict[int, int]
    makespan_s: float | None  # None: no closed form (e.g. links of different speeds)
    time_relation: str = "="  # measured time "=", "≥" (lower bound) or "≤" (upper bound) the formula
    time_formula: str = ""


def _counts(algorithm: str, n: int, p: int, w: int) -> dict[int, int]:
    """Histogram message size (bytes) -> count."""
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


def makespan(algorithm: str, topology: str, n: int, p: int, w: int, alpha: float, bandwidth: float) -> tuple[float, str, str]:
    """(time, relation of the measured time to it, formula) of one collective on a uniform topology."""
    if n == 1:
        return 0.0, "=", "0 (nothing is sent)"
    size = p * w
    hops = _WORKER_HOPS[topology]
    if algorithm == "ring_allreduce":
        largest_chunk = -(-p // n) * w
        return (
            2 * (n - 1) * (hops * alpha + largest_chunk / bandwidth),
            "=",
            f"2(n-1)·({hops}α + ⌈p/n⌉w/B)",
        )
    if algorithm == "parameter_server":
        if topology == "star":
            return 2 * (2 * alpha + n * size / bandwidth), "=", "2·(2α + nP/B)"
        return 2 * (_SERVER_HOPS[topology] * alpha + size / bandwidth), "=", "2·(α + P/B)"
    if algorithm == "all_to_all":
        if topology == "star":
            return 2 * alpha + (n - 1) * size / bandwidth, "=", "2α + (n-1)P/B"
        if topology == "fully_connected":
            return alpha + size / bandwidth, "=", "α + P/B"
        return _ring_topology_all_to_all_bound(n, size, alpha, bandwidth), "≥", "α + Σ bytes·hops / (links·B)"
    raise ValueError(f"no closed form for algorithm {algorithm!r}")


def expected(
    algorithm: str,
    topology: str,
    n: int,
    p: int,
    w: int,
    alpha: float,
    bandwidth: float,
    uniform_links: bool = True,
) -> Expected:
    """The closed-form messages, bytes and time; time is None when the links differ."""
    histogram = _counts(algorithm, n, p, w)
    messages = sum(histogram.values())
    total = sum(size * count for size, count in histogram.items())
    if not uniform_links:
        return Expected(messages, total, histogram, None, "=", "no closed form: links differ")
    time, relation, formula = makespan(algorithm, topology, n, p, w, alpha, bandwidth)
    return Expected(messages, total, histogram, time, relation, formula)
