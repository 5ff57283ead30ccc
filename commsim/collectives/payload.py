"""Buffers the collectives move: real numpy arrays, or size-only stand-ins for scale studies.

Algorithms are written once for both: a ``SizeOnly`` buffer answers ``len``, ``nbytes``,
slicing and the in-place arithmetic the algorithms use, without holding any data.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Union

import numpy as np


class SizeOnly:
    """A buffer of ``size`` elements of ``itemsize`` bytes that holds no values."""

    __slots__ = ("itemsize", "size")

    def __init__(self, size: int, itemsize: int) -> None:
        self.size = size
        self.itemsize = itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: slice) -> SizeOnly:
        return size_only(len(range(*index.indices(self.size))), self.itemsize)

    def __setitem__(self, index: Any, value: Any) -> None:
        """Writing values into a size-only buffer changes nothing."""

    def _same(self, other: Any) -> SizeOnly:
        return self

    __add__ = __radd__ = __iadd__ = __truediv__ = __itruediv__ = _same

    def copy(self) -> SizeOnly:
        return self

    def __repr__(self) -> str:
        return f"SizeOnly({self.size}, itemsize={self.itemsize})"


@lru_cache(maxsize=4096)
def size_only(size: int, itemsize: int) -> SizeOnly:
    """A shared ``SizeOnly`` (they are immutable, so equal ones can be one object)."""
    return SizeOnly(size, itemsize)


Buffer = Union[np.ndarray, SizeOnly]


@lru_cache(maxsize=64)
def chunk_bounds(p: int, n: int) -> tuple[int, ...]:
    """Boundaries of n contiguous chunks of p elements: chunk i is [⌊i·p/n⌋, ⌊(i+1)·p/n⌋), each
    ⌊p/n⌋ or ⌈p/n⌉ long, the longer ones spread out (MPICH's block distribution)."""
    return tuple((i * p) // n for i in range(n + 1))


def split(buffer: Buffer, n: int) -> list[Buffer]:
    """n contiguous chunks (views) of ``buffer``, each ⌊p/n⌋ or ⌈p/n⌉ long."""
    if isinstance(buffer, SizeOnly):
        return _size_only_chunks(buffer.size, buffer.itemsize, n)
    bounds = chunk_bounds(len(buffer), n)
    return [buffer[lo:hi] for lo, hi in zip(bounds, bounds[1:])]


@lru_cache(maxsize=64)
def _size_only_chunks(size: int, itemsize: int, n: int) -> list[SizeOnly]:
    """Shared by every rank: size-only chunks hold nothing, so one list serves them all."""
    bounds = chunk_bounds(size, n)
    return [size_only(hi - lo, itemsize) for lo, hi in zip(bounds, bounds[1:])]


def mean_in_rank_order(parts: list[Buffer]) -> Buffer:
    """(parts[0] + parts[1] + ... ) / n, summed in rank order so every worker gets the same bits."""
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    total /= len(parts)
    return total
