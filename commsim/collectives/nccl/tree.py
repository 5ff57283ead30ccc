"""NCCL's tree all-reduce as NCCL runs it: per channel, a chain through each node's GPUs into the node's
head GPU, the heads joined by one of NCCL's two binary trees over the nodes (channels alternate trees),
the channel's range cut into pipeline chunks that follow each other up and down the tree.

Channel c (of C) works on elements ``chunk_bounds(p, C)[c]``, cut into K chunks of at most NCCL's tree
chunk (``chunk_bytes``: a step of the protocol's buffer, 512 KiB Simple, 32 KiB LL; LL128 576,000 B halved
for small channels by NCCL's rule, see ``chunk_bytes``; src/enqueue.cc calcCollChunking, src/init.cc buffer
sizes). In node x the GPUs from local c + 1 on form a chain ending
at the head, local c mod g, whose NIC carries the channel between nodes (as the ring's channels); the
heads hang on tree (c mod 2) of ``double_binary_tree_shape(N)`` over the N nodes. A rank of height h
(the longest path up to it from a leaf) sends chunk j, summed with its children's, to its parent in
round h + j; the root divides it by n and sends it down in round H + j (H the root's height), and a
rank at depth d forwards it in round H + j + d. Each rank is two participants, as NCCL's runTreeSplit
(src/device/all_reduce.h:146-224; every protocol on CUDA ≥ 11.4: all_reduce.h:236-243, 772, 786) gives a
rank's reduce up and its broadcast down threads of their own: participant c·n + r sends chunks up,
(C + c)·n + r passes the results down; the root, whose one loop receives, reduces and sends each chunk down
(all_reduce.h:166-175, ``directRecvReduceCopyDirectSend``), sends down from its up participant. Sends are
buffered, as the pipelines' (``pipeline.py``: NCCL's sender waits for a free FIFO slot, not for its chunk's
arrival, src/device/prims_simple.h:101-115): a participant goes on once its chunk has left (eager sends would
let a leaf push all its chunks at once, side by side, and undo the pipeline), so chunks pipeline: about
H + D + K rounds of a chunk each, not (H + D)·K, and on a contention-free path each hop's latency is paid
once, not once a round. Messages carry the protocol's wire bytes.
"""

from __future__ import annotations

import numpy as np

from ..schedule import Round, Schedule, empty, ints
from ..textbook.trees import double_binary_tree_shape
from .ring import node_size, wire_bytes
from .table import LL128_GRAIN, STEP_DATA_BYTES, TREE_LL128_CHUNK_RULES, TREE_LL128_STEPS_BASE, TREE_LL128_STEPS_PER_PPN


def chunk_bytes(protocol: str, channel_bytes: int, nodes: int, ppn: int) -> int:
    """NCCL's tree chunk for a channel of ``channel_bytes`` (enqueue.cc:2286-2294, 2321): one step's data (512
    KiB Simple, 32 KiB LL, 576,000 B LL128); for LL128, with s = 1 + ⌊lg nodes⌋ + 0.1·ppn, halved while
    ⌊bytes/chunk⌋ < 64·s/ppn and chunk > 128 KiB, then while ⌊bytes/chunk⌋ < 16·s/ppn and chunk > 32 KiB, then
    aligned down to the 1920-byte LL128 grain."""
    chunk = STEP_DATA_BYTES[protocol]
    if protocol != "ll128":
        return chunk
    steps = TREE_LL128_STEPS_BASE + (nodes.bit_length() - 1) + TREE_LL128_STEPS_PER_PPN * ppn
    for factor, floor in TREE_LL128_CHUNK_RULES:
        # equivalent: (>= for >) no halving of 576,000 is 128 KiB or 32 KiB
        while channel_bytes // chunk < steps * factor / ppn and chunk > floor:
            chunk //= 2
    return chunk // LL128_GRAIN * LL128_GRAIN


# equivalent: (0, 1, 1 as 1 or 2) a channel of under one chunk halves to the floors whatever its nodes and ppn
MIN_CHUNK_BYTES = min(chunk_bytes(protocol, 0, 1, 1) for protocol in STEP_DATA_BYTES)
"""The smallest tree chunk of any protocol (a bound on the chunks of a call)."""


def channel_parents(n: int, g: int, c: int) -> list[int]:
    """Each rank's parent in channel c's tree (−1 for the root)."""
    nodes = n // g
    head = c % g
    parents = [-1] * n  # equivalent: (any value) every entry is written below
    # equivalent: (≥ 1) the shape over one node is this one; a root's mark need only be negative
    tree_parents, _ = double_binary_tree_shape(nodes)[c % 2] if nodes > 1 else ((-1,), ())
    for x in range(nodes):
        chain = [x * g + (head + k) % g for k in range(g)]  # head first
        for k in range(1, g):  # local head+k sends to head+k−1 ... down to the head
            parents[chain[k]] = chain[k - 1]
        up = tree_parents[x]
        parents[chain[0]] = -1 if up < 0 else up * g + head
    return parents


def _heights_depths(parents: list[int]) -> tuple[list[int], list[int]]:
    n = len(parents)
    children: list[list[int]] = [[] for _ in range(n)]
    for r, up in enumerate(parents):
        if up >= 0:
            children[up].append(r)
    # equivalent: (heights) every one is computed below; (depths from 1) the results come down one empty round
    # later, and a round with nothing to do takes no time
    height, depth = [0] * n, [0] * n
    root = parents.index(-1)
    order = [root]
    for r in order:
        for child in children[r]:
            depth[child] = depth[r] + 1
            order.append(child)
    for r in reversed(order):
        height[r] = max((height[child] + 1 for child in children[r]), default=0)
    return height, depth


# equivalent: (the default channels) every caller passes them
def nccl_tree_schedule(n: int, p: int, w: int, channels: int = 1, protocol: str = "simple",
                       gpus_per_node: int | None = None, **_: object) -> Schedule:
    """C = ``channels`` pipelined trees (participant c·n + r is rank r on channel c); see the module docstring."""
    g = node_size(n, protocol, gpus_per_node)
    if n == 1:
        return empty(1, p)  # equivalent: (2) a second participant of no schedule does nothing
    ch_bounds = [(c * p) // channels for c in range(channels + 1)]  # equivalent: (+ 2) unread bound
    nodes = n // g
    up: dict[int, list[tuple[int, int, int, int]]] = {}
    down: dict[int, list[tuple[int, int, int, int]]] = {}
    scale: dict[int, list[tuple[int, int, int]]] = {}
    for c in range(channels):
        lo_c, hi_c = ch_bounds[c], ch_bounds[c + 1]
        chunk_elements = chunk_bytes(protocol, (hi_c - lo_c) * w, nodes, g) // w  # a chunk ≥ 17,280 B, an element ≤ 8 B
        k_chunks = max(-(-(hi_c - lo_c) // chunk_elements), 1)
        # equivalent: (/) float cuts floor to the same below 2^53 elements; (+ 2) an unread cut
        cuts = [lo_c + (j * (hi_c - lo_c)) // k_chunks for j in range(k_chunks + 1)]
        parents = channel_parents(n, g, c)
        height, depth = _heights_depths(parents)
        top = max(height)
        base, below = c * n, (channels + c) * n  # the channel's up participants, its down participants
        for j in range(k_chunks):
            lo, hi = cuts[j], cuts[j + 1]
            for r, parent in enumerate(parents):
                if parent < 0:
                    scale.setdefault(top - 1 + j, []).append((base + r, lo, hi))
                else:
                    up.setdefault(height[r] + j, []).append((base + r, base + parent, lo, hi))
                    sender = (base if parents[parent] < 0 else below) + parent  # the root sends down what it summed
                    down.setdefault(top + depth[parent] + j, []).append((sender, below + r, lo, hi))
    last = max([*up, *down]) + 1
    rounds = []
    for k in range(last):
        transfers = [(*t, True) for t in up.get(k, [])] + [(*t, False) for t in down.get(k, [])]
        if transfers:
            src, dst, lo, hi, add = (np.asarray(column) for column in zip(*transfers))
        else:
            src = dst = lo = hi = ints([])
            add = np.zeros(0, dtype=bool)  # equivalent: rounds 0..last − 1 all have transfers (up, then down)
        src, dst, lo, hi = ints(src), ints(dst), ints(lo), ints(hi)
        data = (hi - lo) * w
        combine = np.zeros(2 * channels * n, dtype=np.int64)
        np.add.at(combine, dst[add], data[add])
        scaled = tuple(ints(column) for column in zip(*scale[k])) if k in scale else None
        rounds.append(Round(src, dst, wire_bytes(data, protocol), "reduce" if add.all() and len(add) else "tree",
                            combine, lo, hi, add.astype(bool), scaled))
    return Schedule(2 * channels * n, len(rounds), rounds.__getitem__, np.tile(ints(range(n)), 2 * channels), p,
                    buffered=True)


def message_sizes(n: int, p: int, w: int, channels: int, protocol: str, gpus_per_node: int = 1) -> dict[int, int]:
    """Wire size → count: each chunk of each channel crosses each of the n − 1 tree edges up and down."""
    if n == 1:
        return {}
    histogram: dict[int, int] = {}
    for c in range(channels):
        length = (c + 1) * p // channels - c * p // channels
        chunk_elements = chunk_bytes(protocol, length * w, n // gpus_per_node, gpus_per_node) // w
        k_chunks = max(-(-length // chunk_elements), 1)
        for j in range(k_chunks):
            data = ((j + 1) * length // k_chunks - j * length // k_chunks) * w
            size = int(wire_bytes(np.int64(data), protocol))
            histogram[size] = histogram.get(size, 0) + 2 * (n - 1)
    return dict(sorted(histogram.items()))
