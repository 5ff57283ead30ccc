"""NCCL's broadcast and reduce as NCCL runs them: a chain along each channel's ring from the root
(``ncclPatternPipelineFrom``) or to it (``ncclPatternPipelineTo``), the channel's range pipelined in
NCCL's chunks. NCCL has no tree for either (tuning.cc:294 rates them on the ring only).

Channel c (of C) works on elements ``chunk_bounds(p, C)[c]``, on the ring of ``channel_orders`` (the
all-reduce's). Broadcast (src/device/broadcast.h:40-54) starts at the root (rank 0) and follows the
ring to the rank before it: position d = 0..n−1 along that chain, the root at 0; reduce
(src/device/reduce.h:34-51) starts at the rank after the root and ends at the root, d = n−1. The range
is cut into K chunks of NCCL's chunk, one step of the protocol's buffer (BROADCAST_CHUNKSTEPS =
REDUCE_CHUNKSTEPS = 1: 512 KiB Simple, 32 KiB LL, 576,000 B LL128; the last chunk shorter, as NCCL's
``min(chunkCount, channelCount − elemOffset)``). Position d sends chunk j to d + 1 in round d + j:
broadcast copies it on; reduce adds it to the receiver's own and the root divides it by n (the mean),
so the chunks pipeline: K + n − 2 rounds of a chunk each, not (n − 1)·K.

Sends are buffered (``Schedule(buffered=True)``): a rank goes on once its chunk's last byte has left, not
once it has arrived, as NCCL's sender into the receiver's FIFO of NCCL_STEPS = 8 slots
(src/include/device.h:26) waits only for a free slot (src/device/prims_simple.h:101-115, ``waitPeer``: the
sender spins while ``connStepCache + NCCL_STEPS < step + StepPerSlice``) and posts its step once its data is
stored (prims_simple.h:165-173, ``postPeer``), never for the receiver to have consumed it. (Eager sends would
let the first rank of the chain, which receives nothing, post all its chunks at once, side by side on its
link, and undo the pipeline.) On a contention-free chain, with s a chunk's transmission and a a hop's
latency, position d sends chunk j at (d + j)·s + d·a, so the last rank has everything at
T = (K + n − 2)·s + (n − 1)·a: the n − 1 hop latencies once (a sender waiting for its delivery would pay
(K + n − 2)·(s + a); on 2 × 8 H100 at 256 MiB 1.51 ms against NCCL's model's 0.93 ms). A rank's call ends
once its last chunk has been delivered.
"""

from __future__ import annotations

import numpy as np

from ..schedule import Round, Schedule, bounds_of, empty, ints
from .ring import channel_orders, histogram, node_size, wire_bytes
from .table import PIPELINE_CHUNKSTEPS, STEP_DATA_BYTES

ROOT = 0


def chunk_elements(w: int, protocol: str) -> int:
    """Elements per chunk of the broadcast and reduce pipelines (enqueue.cc:2222-2227, chunkSteps 1)."""
    steps = PIPELINE_CHUNKSTEPS if protocol == "simple" else 1  # chunkSteps counts on ring Simple only
    return max(STEP_DATA_BYTES[protocol] * steps // w, 1)


def chains(n: int, g: int, channels: int, to_root: bool) -> np.ndarray:
    """[c, d]: the rank at position d of channel c's chain: from the root on along its ring (broadcast), or
    from the rank after the root on, ending at the root (reduce)."""
    rank_at = channel_orders(n, g, channels)
    start = np.argmax(rank_at == ROOT, axis=1) + (1 if to_root else 0)
    return rank_at[np.arange(channels)[:, None], (start[:, None] + np.arange(n)[None, :]) % n]


def _chunks(p: int, w: int, channels: int, protocol: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(first element of each channel, chunks per channel, elements per chunk)."""
    bounds = bounds_of(p, channels)
    size = chunk_elements(w, protocol)
    return bounds[:-1], np.maximum(-(-(bounds[1:] - bounds[:-1]) // size), 1), size


def _pipeline(n: int, p: int, w: int, channels: int, protocol: str, gpus_per_node: int | None,
              reduce: bool) -> Schedule:
    g = node_size(n, protocol, gpus_per_node)
    if n == 1:
        return empty(1, p)  # equivalent: (2) a second participant of no schedule does nothing
    chain = chains(n, g, channels, reduce) + (np.arange(channels) * n)[:, None]  # participants
    first, count, size = _chunks(p, w, channels, protocol)
    last = bounds_of(p, channels)[1:]
    hop = np.arange(n - 1)[None, :]
    everyone = channels * n

    def round_(k: int) -> Round:
        chunk = k - hop  # [0, d]: the chunk position d passes on in round k (on every channel that has it)
        c, d = np.nonzero((chunk >= 0) & (chunk < count[:, None]))
        j = k - d
        lo = first[c] + j * size
        hi = np.minimum(lo + size, last[c])
        src, dst = chain[c, d], chain[c, d + 1]
        data = (hi - lo) * w
        if not reduce:
            return Round(src, dst, wire_bytes(data, protocol), "broadcast", None, lo, hi, False)
        combine = np.zeros(everyone, dtype=np.int64)
        combine[dst] = data
        at_root = d == n - 2  # the root has it summed over all n: the mean
        scale = (dst[at_root], lo[at_root], hi[at_root]) if at_root.any() else None
        return Round(src, dst, wire_bytes(data, protocol), "reduce", combine, lo, hi, True, scale)

    # equivalent: (`+ 2`) rounds past the last chunk's last hop are empty: no transfer, no time
    return Schedule(everyone, int(count.max()) + n - 2, round_, np.tile(ints(range(n)), channels), p, buffered=True)


def nccl_broadcast_schedule(n: int, p: int, w: int, channels: int = 1, protocol: str = "simple",
                            gpus_per_node: int | None = None, **_: object) -> Schedule:
    """Broadcast from rank 0 on C = ``channels`` chains (participant c·n + r is rank r on channel c); see the
    module docstring."""
    return _pipeline(n, p, w, channels, protocol, gpus_per_node, reduce=False)


def nccl_reduce_schedule(n: int, p: int, w: int, channels: int = 1, protocol: str = "simple",
                         gpus_per_node: int | None = None, **_: object) -> Schedule:
    """Reduce (the mean) to rank 0 on C = ``channels`` chains; see the module docstring."""
    return _pipeline(n, p, w, channels, protocol, gpus_per_node, reduce=True)


def message_sizes(n: int, p: int, w: int, channels: int, protocol: str) -> dict[int, int]:
    """Wire size → count: each chunk of each channel crosses the chain's n − 1 hops."""
    if n == 1:
        return {}
    first, count, size = _chunks(p, w, channels, protocol)
    last = bounds_of(p, channels)[1:]
    full = np.repeat(size * w, int(np.sum(count - 1)))
    tails = (last - (first + (count - 1) * size)) * w
    return histogram(np.concatenate([full, tails]), n - 1, protocol)
