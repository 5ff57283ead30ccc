"""NCCL's ring collectives as NCCL runs them — all-reduce, reduce-scatter, all-gather: the buffer split
over C channels, each its own ring, each ring entering every node at another GPU so that its
inter-node hops use another NIC; messages carry the protocol's wire bytes.

Channel c (of C) runs on a ring that visits the nodes in order and, inside node x, its GPUs from local
index c mod g on (x·g + (c + k) mod g, k = 0..g−1); the hop from node x to node x+1 lands on local
index c mod g, whose NIC (``cluster_route``: the rail of the destination's NIC) carries it, so C
channels spread the inter-node bytes over every NIC when C is a multiple of their count. One
participant per (channel, rank), all channels at once, sharing links max-min fairly. Sends are eager,
as NCCL's go into FIFO slots: a rank moves to its next step once its receive is in, so latency adds up
only along the chain of hops a piece takes, as in NCCL's model.

* **all-reduce** (``ncclPatternRingTwice``): channel c all-reduces elements ``chunk_bounds(p, C)[c]``,
  the library's ring over its positions: n − 1 reduce-scatter and n − 1 all-gather steps of one of n
  chunks of the channel's range (2(N−1) inter-node hops between N nodes).
* **reduce-scatter** and **all-gather** (``ncclPatternRing``, src/device/reduce_scatter.h:25-47 and
  all_gather.h:38-72): block b = ``chunk_bounds(p, n)[b]`` is rank b's (its share of the result, or
  its contribution); as NCCL splits each rank's count over the channels, channel c carries part c
  (``chunk_bounds`` of the block into C) of every block. n − 1 steps: at step k the rank at position
  i of the channel's ring sends to position i + 1 part c of the block of the rank at position
  i − 1 − k (reduce-scatter: the partial sum so far, which the receiver adds to its own; the last step
  delivers each rank its own block, summed over all n, which it divides by n) or i − k (all-gather: its
  own block first, then what it received).

As for all-reduce, a step carries the channel's whole piece: NCCL's loops of chunks within a step (2 MiB
Simple chunks in 1 MiB slices, enqueue.cc:2222-2227) are not split out.

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


def _rings(n: int, g: int, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rank_at [c, i], src, dst): participant c·n + rank_at[c, i] sends to the next one on its ring, flat
    over (channel, position)."""
    rank_at = channel_orders(n, g, channels)
    base = (np.arange(channels) * n)[:, None]
    return rank_at, (base + rank_at).ravel(), (base + np.roll(rank_at, -1, axis=1)).ravel()


# equivalent: (the default channels) every caller passes them
def nccl_ring_schedule(n: int, p: int, w: int, channels: int = 1, protocol: str = "simple",
                       gpus_per_node: int | None = None, **_: object) -> Schedule:
    """All-reduce on C = ``channels`` rings (participant c·n + r is rank r on channel c); see the module docstring."""
    g = node_size(n, protocol, gpus_per_node)
    if n == 1:
        return empty(1, p)  # equivalent: (2) a second participant of no schedule does nothing
    _, src, dst = _rings(n, g, channels)
    ch_bounds = bounds_of(p, channels)
    start, length = ch_bounds[:-1, None], (ch_bounds[1:] - ch_bounds[:-1])[:, None]
    chunk = np.arange(n)[None, :]
    # [c, j]: chunk j of channel c's range; the rank at position i sends chunk (i − k) mod n at step k, so a
    # step's columns are these tables rolled by k (one gather each, not a dozen passes of arithmetic a step)
    lo_of, hi_of = start + (chunk * length) // n, start + ((chunk + 1) * length) // n
    data_of = (hi_of - lo_of) * w
    wire_of = wire_bytes(data_of, protocol)
    everyone = channels * n
    sender_to = np.empty(everyone, dtype=np.int64)
    sender_to[dst] = np.arange(everyone)  # the transfer each participant receives (every one receives one)

    def rolled(table: np.ndarray, shift: int) -> np.ndarray:
        return np.roll(table, shift, axis=1).ravel()

    def round_(k: int) -> Round:
        if k < n - 1:
            lo, hi = rolled(lo_of, k), rolled(hi_of, k)
            combine = rolled(data_of, k)[sender_to]
            scale = (dst, lo, hi) if k == n - 2 else None  # the receiver now holds that chunk summed
            return Round(src, dst, rolled(wire_of, k), "reduce_scatter", combine, lo, hi, True, scale)
        shift = k - n  # all-gather step k − n + 1 sends chunk (i + 1 − (k − n + 1)) mod n
        return Round(src, dst, rolled(wire_of, shift), "all_gather", None, rolled(lo_of, shift), rolled(hi_of, shift),
                     False)

    sizes = np.unique(wire_of, return_counts=True)  # every step sends every chunk of every channel once

    def sized(k: int) -> Round:
        """Round k without its element ranges (sizes only)."""
        if k < n - 1:
            return Round(src, dst, rolled(wire_of, k), "reduce_scatter", rolled(data_of, k)[sender_to], reduce=True,
                         sizes=sizes)
        return Round(src, dst, rolled(wire_of, k - n), "all_gather", None, sizes=sizes)

    return Schedule(everyone, 2 * (n - 1), round_, np.tile(ints(range(n)), channels), p, eager=True, sized=sized)


def block_parts(p: int, n: int, channels: int, block: np.ndarray, channel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elements (lo, hi) of part ``channel`` of ``block`` (arrays): block b is ``chunk_bounds(p, n)[b]``, cut
    into ``channels`` parts by ``chunk_bounds`` of its length."""
    bounds = bounds_of(p, n)
    start, length = bounds[block], bounds[block + 1] - bounds[block]
    return start + (channel * length) // channels, start + ((channel + 1) * length) // channels


def _block_ring(n: int, p: int, w: int, channels: int, protocol: str, gpus_per_node: int | None,
                reduce: bool) -> Schedule:
    """Reduce-scatter (``reduce``) or all-gather on C rings: n − 1 steps of one block's part each."""
    g = node_size(n, protocol, gpus_per_node)
    if n == 1:
        return empty(1, p)  # equivalent: (2) a second participant of no schedule does nothing
    rank_at, src, dst = _rings(n, g, channels)
    position = np.tile(np.arange(n), channels)
    channel = np.repeat(np.arange(channels), n)
    everyone = channels * n
    lag = 1 if reduce else 0  # reduce-scatter passes on the block of the rank behind it, all-gather its own first

    def round_(k: int) -> Round:
        block = rank_at[channel, (position - lag - k) % n]
        lo, hi = block_parts(p, n, channels, block, channel)
        data = (hi - lo) * w
        if not reduce:
            return Round(src, dst, wire_bytes(data, protocol), "all_gather", None, lo, hi, False)
        combine = np.zeros(everyone, dtype=np.int64)
        combine[dst] = data
        scale = (dst, lo, hi) if k == n - 2 else None  # the receiver's own block, now summed over all n
        return Round(src, dst, wire_bytes(data, protocol), "reduce_scatter", combine, lo, hi, True, scale)

    return Schedule(everyone, n - 1, round_, np.tile(ints(range(n)), channels), p, eager=True)


# equivalent: (the default channels) every caller passes them
def nccl_reduce_scatter_schedule(n: int, p: int, w: int, channels: int = 1, protocol: str = "simple",
                                 gpus_per_node: int | None = None, **_: object) -> Schedule:
    """Reduce-scatter on C = ``channels`` rings: rank r ends with block r of the mean; see the module docstring."""
    return _block_ring(n, p, w, channels, protocol, gpus_per_node, reduce=True)


# equivalent: (the default channels) every caller passes them
def nccl_all_gather_schedule(n: int, p: int, w: int, channels: int = 1, protocol: str = "simple",
                             gpus_per_node: int | None = None, **_: object) -> Schedule:
    """All-gather on C = ``channels`` rings: every rank ends with block b of rank b; see the module docstring."""
    return _block_ring(n, p, w, channels, protocol, gpus_per_node, reduce=False)


def histogram(data: np.ndarray, hops: int, protocol: str) -> dict[int, int]:
    """Wire size → count of pieces of ``data`` bytes each crossing ``hops`` hops."""
    sizes, counts = np.unique(wire_bytes(data, protocol), return_counts=True)
    return {int(size): int(count) * hops for size, count in zip(sizes.tolist(), counts.tolist())}


def message_sizes(n: int, p: int, w: int, channels: int, protocol: str) -> dict[int, int]:
    """All-reduce, wire size → count: chunk j of channel c (``chunk_bounds`` of its range into n) crosses 2(n−1) hops."""
    if n == 1:
        return {}
    length = bounds_of(p, channels)[1:, None] - bounds_of(p, channels)[:-1, None]
    j = np.arange(n)[None, :]
    return histogram(((j + 1) * length // n - j * length // n).ravel() * w, 2 * (n - 1), protocol)


def block_message_sizes(n: int, p: int, w: int, channels: int, protocol: str) -> dict[int, int]:
    """Reduce-scatter and all-gather, wire size → count: part c of block b crosses n − 1 hops."""
    if n == 1:
        return {}
    block = np.repeat(np.arange(n), channels)
    lo, hi = block_parts(p, n, channels, block, np.tile(np.arange(channels), n))
    return histogram((hi - lo) * w, n - 1, protocol)
