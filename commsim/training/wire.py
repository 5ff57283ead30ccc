"""Wire formats: how a gradient travels, and so how many bytes each message takes.

- ``fp32`` / ``fp16`` / ``fp64``: the values themselves in that precision (4, 2, 8 bytes each).
- ``sign``: 1 bit per element plus one fp32 scale (signSGD with majority vote). A worker sends
  sign(g) and s = mean|g|; whoever aggregates returns the vote sign(Σ_w sign(g_w)) and the mean
  scale, again 1 bit per element. The aggregated gradient is ĝ = mean(s)·vote. Tie rule: with an
  even number of workers a coordinate whose signs cancel gets vote 0 (sign(0) = 0): sign_sgd does
  not move it; signum moves it by its momentum alone.

Inside the simulation a sign buffer is a float32 array [sign(g)…, s] so that the collectives can
average it like any other buffer; only its byte count on the wire differs: ⌈p/8⌉ + 4.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..collectives.payload import Buffer


@dataclass(frozen=True)
class WireFormat:
    """Encoding of a flat float64 gradient for the wire, and the bytes a message takes."""

    name: str
    dtype: str
    is_sign: bool = False

    def encode(self, gradient: np.ndarray) -> np.ndarray:
        """The buffer a worker hands to the collective."""
        if not self.is_sign:
            return gradient.astype(self.dtype)
        scale = np.mean(np.abs(gradient)) if gradient.size else 0.0
        return np.append(np.sign(gradient), scale).astype(self.dtype)

    def vote(self, mean: np.ndarray) -> np.ndarray:
        """What an aggregator sends back: the majority vote and the mean scale (sign format only)."""
        return np.append(np.sign(mean[:-1]), mean[-1]).astype(self.dtype)

    def decode(self, aggregated: np.ndarray) -> np.ndarray:
        """The aggregated gradient as float64 (for sign: mean scale × majority vote)."""
        if not self.is_sign:
            return aggregated.astype(np.float64)
        return float(aggregated[-1]) * np.sign(aggregated[:-1]).astype(np.float64)

    def nbytes(self, buffer: Buffer) -> int:
        """Bytes of one message carrying ``buffer``."""
        if not self.is_sign:
            return buffer.nbytes
        return -(-(len(buffer) - 1) // 8) + 4

    def message_bytes(self, p: int) -> int:
        """Bytes of one message carrying a whole p-element gradient."""
        return -(-p // 8) + 4 if self.is_sign else p * np.dtype(self.dtype).itemsize


WIRE_FORMATS = {
    "fp64": WireFormat("fp64", "float64"),
    "fp32": WireFormat("fp32", "float32"),
    "fp16": WireFormat("fp16", "float16"),
    "sign": WireFormat("sign", "float32", is_sign=True),
}

VOTING_ALGORITHMS = frozenset({"parameter_server", "all_to_all"})
"""Algorithms that see every worker's whole buffer, so they can take a majority vote of signs."""
