"""NCCL's all-to-all as NCCL runs it: point-to-point sends, one to every peer, each split over NCCL's
p2p channels — what nccl-tests' alltoall_perf does with grouped ncclSend/ncclRecv and what
``ncclAlltoAll`` turns into (src/enqueue.cc:3070-3078).

The collective is the personalized all-to-all (``KINDS``): rank r's buffer is n blocks of b = ⌊p/n⌋
elements and its block j goes to rank j, which keeps it as its block r. NCCL splits each send of
B = b·w bytes into ``parts`` pieces of ⌈B/parts⌉ rounded up to 4 KiB (``ncclP2pPartBounds``,
src/include/device.h:260-270; the last shorter, empty ones not sent), each on its own p2p channel;
the number of parts and the protocol (LL up to parts × 16 KiB, else Simple) come from NCCL's p2p
setup (``model.p2p_channels``). Participant c·n + r is rank r on part c. Every send of the group is
posted at once and all of them share the links max-min fairly, in one round; a rank's block for itself
stays where it is (NCCL's self-send is a local copy). Messages carry the protocol's wire bytes (LL:
8 bytes per 4 of data). NCCL's proxy moves a part in chunks of its p2p chunk size (enqueue.cc:1087);
like the rings here, a part is one message.
"""

from __future__ import annotations

import numpy as np

from ..base import block_length
from ..schedule import Round, Schedule, empty, ints
from .ring import histogram, wire_bytes
from .table import P2P_PART_ALIGN


def part_bounds(nbytes: int, parts: int) -> list[tuple[int, int]]:
    """Byte ranges of the parts of one send that carry data (``ncclP2pPartBounds``); a send of nothing is
    one empty part, as NCCL still posts it."""
    if nbytes == 0:
        return [(0, 0)]
    share = -(-nbytes // parts)
    size = -(-share // P2P_PART_ALIGN) * P2P_PART_ALIGN
    return [(c * size, min((c + 1) * size, nbytes)) for c in range(parts) if c * size < nbytes]


def nccl_all_to_all_schedule(n: int, p: int, w: int, channels: int = 1, protocol: str = "simple",
                             **_: object) -> Schedule:
    """Personalized all-to-all: every rank sends block j to rank j in ``channels`` parts, in one round (see the
    module docstring)."""
    if protocol not in ("ll", "simple"):
        raise ValueError(f"NCCL's point-to-point sends run LL or Simple, got {protocol!r}")
    if n == 1:
        return empty(1, p)
    b = block_length(p, n)
    bounds = part_bounds(b * w, channels)
    begin = ints([lo // w for lo, _ in bounds])[:, None, None]  # [part, sender, receiver]
    end = ints([hi // w for _, hi in bounds])[:, None, None]
    part = np.arange(len(bounds))[:, None, None]
    r = np.arange(n)[None, :, None]
    j = np.arange(n)[None, None, :]
    keep = np.broadcast_to(r != j, (len(bounds), n, n))
    src, dst = (np.broadcast_to(part * n + r, keep.shape)[keep], np.broadcast_to(part * n + j, keep.shape)[keep])
    lo, hi = np.broadcast_to(j * b + begin, keep.shape)[keep], np.broadcast_to(j * b + end, keep.shape)[keep]
    at = np.broadcast_to(r * b + begin, keep.shape)[keep]  # rank j keeps rank r's block as its block r
    only = Round(src, dst, wire_bytes((hi - lo) * w, protocol), "all_to_all", None, lo, hi, False, None, at)
    return Schedule(len(bounds) * n, 1, lambda k: only, np.tile(ints(range(n)), len(bounds)), p, snapshot=True)


def message_sizes(n: int, p: int, w: int, channels: int, protocol: str) -> dict[int, int]:
    """Wire size → count: each part of each of the n(n − 1) sends is one message."""
    if n == 1:
        return {}
    data = ints([hi - lo for lo, hi in part_bounds(block_length(p, n) * w, channels)])
    return histogram(data, n * (n - 1), protocol)
