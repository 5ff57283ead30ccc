"""NCCL's NVLS all-reduce on one node as NCCL runs it: every GPU's data reduced inside the NVSwitch
(``multimem.ld_reduce``) and the result multicast back by it (``multimem.st``), in NCCL's NVLS chunks.

What NCCL does (src/device/all_reduce.h:390-457, ``oneNode``): channel c (of C, NCCL's NVLS CTAs, 16 on
Hopper) works on its share of the buffer in loops of n chunks, chunk h of a loop belonging to head GPU h.
Scatter and gather warps only copy between a GPU's buffer and its own NVLS buffer (no NVLink traffic); the
head's reduce warps load chunk h from the multicast address — the switch reads it from all n GPUs, adds, and
returns the sum to the head — and store the sum to the multicast address — the head sends it once, the
switch writes it to all n GPUs. Per loop each GPU's link to the switch carries, each way, n chunks (its
share of every head's load, every head's store) and one (its own load's answer, its own store): (n + 1)·c,
so (n + 1)/n of the buffer in all — NCCL's NVLS search books exactly that, 2 of each channel's speed on its
head's link and 1 on the others (search.cc:410-443).

The schedule: participants 0..n−1 the GPUs, n the NVSwitch (``node0.nvswitch``, a "server" of the
schedule, holding nothing until it adds). Loop j of channel c (pieces lo:hi of head h) runs as four rounds,
pipelined so that round k carries loop k's (A), k−1's (B), k−2's (C) and k−3's (D):

* A, load: every GPU sends the piece to the switch, which adds the n of them (GPU 0's a copy, the first
  term: the switch holds nothing before);
* B, load's answer: the switch sends the sum to head h, which divides it by n (the mean);
* C, store: head h sends the mean to the switch;
* D, store's multicast: the switch sends it to all n GPUs (the head too).

With one channel, L loops (L ≥ 3) of pieces of c bytes each and no contention but the GPU's own link of
rate R, rounds 0, 1 and the last two move n·c over the busiest link and the L − 1 others (n + 1)·c:

    T = lat + (4n + (L − 1)(n + 1))·c / R

In steady state (n + 1)·c per loop of n·c bytes: the buffer's S bytes take S(n + 1)/(nR). The link rate R is
what NCCL's model gives NVLS traffic, R = algBw·(n + 1)/n (``model.nvls_link_gbps``), so that a long
call takes NCCL's S/algBw; the fixed latency ``lat`` is NCCL's NVLS latency, 25 µs (tuning.cc:424-426),
charged once before the call, and the GPU–switch links take no latency of their own. What the schedule adds
to NCCL's formula is the pipeline's fill and drain, 3 rounds of NCCL's chunks: a chunk of 128 KiB, or 64,
32, 16 KiB where the channel has under 64, 8, 2 × n chunks of data (enqueue.cc:2262-2274), and a last, short
loop of ⌈rest/n⌉ rounded up to 16 KiB per head (all_reduce.h:416).

The switch reduces in its own hardware: no GPU spends γ on the additions.
"""

from __future__ import annotations

import numpy as np

from ..schedule import Round, Schedule, bounds_of, empty, ints
from .ring import node_size
from .table import BUFFER_BYTES, NCCL_STEPS, NVLS_CHUNK_BYTES, NVLS_CHUNK_STEPS, NVLS_LAST_CHUNK_ALIGN, SIMPLE_GRAIN


def chunk_bytes(channel_bytes: int, heads: int) -> int:
    """NCCL's NVLS chunk for a channel of ``channel_bytes`` and ``heads`` heads (enqueue.cc:2262-2274, 2321):
    min(Simple step, 128 KiB), then 64 KiB if bytes < 64·heads·chunk, 32 KiB if < 8·heads·chunk, 16 KiB if
    < 2·heads·chunk (each test on the chunk so far), aligned down to 512 B."""
    chunk = min(BUFFER_BYTES["simple"] // NCCL_STEPS, NVLS_CHUNK_BYTES)  # equivalent: (/) the min is 128 KiB
    for times, smaller in NVLS_CHUNK_STEPS:
        if channel_bytes < times * heads * chunk and chunk > smaller:  # equivalent: (>=) sets what it is
            chunk = smaller
    return chunk // SIMPLE_GRAIN * SIMPLE_GRAIN


def pieces(count: int, w: int, heads: int) -> list[list[tuple[int, int, int]]]:
    """A channel of ``count`` elements as loops of (head, lo, hi) offsets within it (all_reduce.h:413-455)."""
    chunk = max(chunk_bytes(count * w, heads) // w, 1)  # equivalent: (2) a chunk is ≥ 16 KiB of ≤ 8-byte items
    per_loop = heads * chunk
    # equivalent: (/ for //) ⌈⌈x⌉/a⌉ = ⌈x/a⌉ for a whole a, and 16 KiB is whole items
    last = -(-(-(-(count % per_loop) // heads)) // (NVLS_LAST_CHUNK_ALIGN // w)) * (NVLS_LAST_CHUNK_ALIGN // w)
    loops = []
    for start in range(0, count, per_loop):
        size = chunk if count - start >= per_loop else last
        loop = [(h, start + h * size, min(start + (h + 1) * size, count)) for h in range(heads)]
        loops.append([(h, lo, hi) for h, lo, hi in loop if hi > lo])
    return loops


# equivalent: (the default channels) every caller passes them
def nccl_nvls_schedule(n: int, p: int, w: int, channels: int = 1, protocol: str = "simple",
                       gpus_per_node: int | None = None, **_: object) -> Schedule:
    """All-reduce (the mean) through one node's NVSwitch, participant n: see the module docstring."""
    if protocol != "simple":
        raise ValueError(f"NCCL runs NVLS in Simple only (tuning.cc:301), not {protocol!r}")
    g = node_size(n, protocol, gpus_per_node)
    if n // g != 1:  # equivalent: (/) n fills whole nodes (node_size)
        raise ValueError(f"nvls: one node only ({n} ranks in nodes of {g}); across nodes NCCL runs NVLS-tree")
    if n == 1:
        return empty(1, p)
    switch = n
    bounds = bounds_of(p, channels)
    loops = [[[(h, int(bounds[c]) + lo, int(bounds[c]) + hi) for h, lo, hi in loop]
              for loop in pieces(int(bounds[c + 1] - bounds[c]), w, n)] for c in range(channels)]
    depth = max(len(channel) for channel in loops)
    ranks = np.arange(n)

    def round_(k: int) -> Round:
        src, dst, lo, hi, add = [], [], [], [], []
        scale: list[tuple[int, int, int]] = []
        for channel in loops:
            for stage in range(4):
                j = k - stage
                if not 0 <= j < len(channel):
                    continue
                for h, a, b in channel[j]:
                    if stage == 0:  # A: every GPU's piece into the switch's sum, which starts from GPU 0's
                        src += ranks.tolist()
                        dst += [switch] * n
                        lo += [a] * n
                        hi += [b] * n
                        add += [False] + [True] * (n - 1)
                    elif stage == 3:  # D: the switch multicasts the mean to every GPU
                        src += [switch] * n
                        dst += ranks.tolist()
                        lo += [a] * n
                        hi += [b] * n
                        add += [False] * n
                    else:  # B: the sum to head h, which takes the mean; C: head h's mean to the switch
                        src.append(switch if stage == 1 else h)
                        dst.append(h if stage == 1 else switch)
                        lo.append(a)
                        hi.append(b)
                        add.append(False)
                        if stage == 1:
                            scale.append((h, a, b))
        lo_, hi_ = ints(lo), ints(hi)
        scaled = tuple(ints(column) for column in zip(*scale)) if scale else None
        return Round(ints(src), ints(dst), (hi_ - lo_) * w, "nvls", None, lo_, hi_, np.asarray(add, dtype=bool), scaled)

    return Schedule(n + 1, depth + 3, round_, None, p)


def message_sizes(n: int, p: int, w: int, channels: int, protocol: str, gpus_per_node: int | None = None
                  ) -> dict[int, int]:
    """Wire size → count: each piece crosses 2n + 2 links (n up, 1 down; 1 up, n down)."""
    if n == 1:
        return {}
    bounds = bounds_of(p, channels)
    histogram: dict[int, int] = {}
    for c in range(channels):
        for loop in pieces(int(bounds[c + 1] - bounds[c]), w, n):
            for _, lo, hi in loop:
                histogram[(hi - lo) * w] = histogram.get((hi - lo) * w, 0) + 2 * n + 2
    return dict(sorted(histogram.items()))
