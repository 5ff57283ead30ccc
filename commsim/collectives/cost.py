"""What a closed form is made of: the contention-free price of one message, and an algorithm's cost.

Each algorithm module declares its ``cost(n, p, w, link) -> Cost`` from these; :mod:`.analytic` turns
them into the expected counts and time of a run on a topology.
"""

from __future__ import annotations

from dataclasses import dataclass


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
