"""NCCL's ring all-reduce as NCCL runs it: the buffer split over C channels, each its own ring, each
ring entering every node at another GPU so that its inter-node hops use another NIC; messages carry
the protocol's wire bytes.

Channel c (of C) all-reduces elements ``chunk_bounds(p, C)[c]`` on a ring that visits the nodes in
order and, inside node x, its GPUs from local index c mod g on (x·g + (c + k) mod g, k = 0..g−1); the
hop from node x to node x+1 lands on local index c mod g, whose NIC (``cluster_route``: the rail of
the destination's NIC) carries it, so C channels spread the inter-node bytes over every NIC when C is
a multiple of their count. Each ring is the library's ring all-reduce over its positions (n − 1
reduce-scatter and n − 1 all-gather steps of one of n chunks of the channel's range), one participant
per (channel, rank), all channels at once, sharing links max-min fairly. Sends are eager, as NCCL's
go into FIFO slots: a rank moves to its next step once its receive is in, so latency adds up only
along the chain of hops a chunk takes (2(N−1) of them between the N nodes), as in NCCL's model.

Wire bytes per message (NCCL's line formats, src/include/device.h:75-111): Simple the data; LL 8 bytes
per 4 data bytes (a flag with each); LL128 128 bytes per 120 (one flag word per line).
"""

from __future__ import annotations

import numpy as np

from ..schedule import Round, Schedule, bounds_of, empty, ints
from .table import PROTOCOLS


def wire_bytes(data: np.ndarray, protocol: str) -> np.ndarray:
    """Bytes on the wire for ``data`` bytes of payload in ``protocol``."""
    if protocol == "ll":
        return -(-data // 4) * 8
    if protocol == "ll128":
        return -(-data // 120) * 128
    return data


def channel_orders(n: int, gpus_per_node: int, channels: int) -> np.ndarray:
    """[c, i]: the rank at position i of channel c's ring."""
    g = gpus_per_node
    nodes = n // g
    c = np.arange(channels)[:, None, None]
    node = np.arange(nodes)[None, :, None]
    k = np.arange(g)[None, None, :]
    return (node * g + (c + k) % g).reshape(channels, n)


def node_size(n: int, protocol: str, gpus_per_node: int | None) -> int:
    """GPUs per node (1 without nodes), once ``protocol`` is known and n fills whole nodes."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    g = gpus_per_node or 1
    if n % g:
        raise ValueError(f"nccl: {n} ranks do not fill nodes of {g} GPUs")
    return g


def nccl_ring_schedule(n: int, p: int, w: int, channels: int = 1, protocol: str = "simple",
                       gpus_per_node: int | None = None, **_: object) -> Schedule:
    """C = ``channels`` rings (participant c·n + r is rank r on channel c); see the module docstring."""
    g = node_size(n, protocol, gpus_per_node)
    if n == 1:
        return empty(1, p)
    rank_at = channel_orders(n, g, channels)  # [c, i]
    base = (np.arange(channels) * n)[:, None]
    src = (base + rank_at).ravel()
    dst = (base + np.roll(rank_at, -1, axis=1)).ravel()
    position = np.tile(np.arange(n), channels)
    ch_bounds = bounds_of(p, channels)
    first = np.repeat(ch_bounds[:-1], n)
    length = np.repeat(ch_bounds[1:] - ch_bounds[:-1], n)
    everyone = channels * n

    def piece(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return first + (chunk * length) // n, first + ((chunk + 1) * length) // n

    def round_(k: int) -> Round:
        if k < n - 1:
            lo, hi = piece((position - k) % n)
            data = (hi - lo) * w
            combine = np.zeros(everyone, dtype=np.int64)
            combine[dst] = data
            scale = (dst, lo, hi) if k == n - 2 else None  # the receiver now holds that chunk summed
            return Round(src, dst, wire_bytes(data, protocol), "reduce_scatter", combine, lo, hi, True, scale)
        lo, hi = piece((position + 1 - (k - n + 1)) % n)
        return Round(src, dst, wire_bytes((hi - lo) * w, protocol), "all_gather", None, lo, hi, False)

    return Schedule(everyone, 2 * (n - 1), round_, np.tile(ints(range(n)), channels), p, eager=True)


def message_sizes(n: int, p: int, w: int, channels: int, protocol: str) -> dict[int, int]:
    """Wire size → count: chunk j of channel c (``chunk_bounds`` of its range into n) crosses 2(n−1) hops."""
    if n == 1:
        return {}
    histogram: dict[int, int] = {}
    for c in range(channels):
        length = (c + 1) * p // channels - c * p // channels
        for j in range(n):
            data = ((j + 1) * length // n - j * length // n) * w
            size = int(wire_bytes(np.int64(data), protocol))
            histogram[size] = histogram.get(size, 0) + 2 * (n - 1)
    return dict(sorted(histogram.items()))
