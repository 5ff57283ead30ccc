"""What an algorithm sees: its rank's view of the network, and the registry of algorithms.

An algorithm never computes a time: it only sends and receives (as in ASTRA-sim). Each is a
per-rank SimPy generator ``worker(comm, buffer)`` returning the rank's result buffer, plus, for
algorithms with a server, a generator ``server(comm)``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable
from dataclasses import dataclass, field
from typing import Any

from simpy.events import Event

from ..network import Network
from ..payload import Buffer

Process = Generator[Event, Any, Any]


def nbytes_of(buffer: Buffer) -> int:
    """Bytes a buffer takes on the wire in its own dtype."""
    return buffer.nbytes


@dataclass
class Comm:
    """One rank's handle on the network: ``send``/``recv`` tagged with the current phase."""

    net: Network
    rank: Hashable
    size: int
    server: Hashable | None = None
    phase: str = ""
    wire_bytes: Callable[[Buffer], int] = field(default=nbytes_of)

    def send(self, dst: Hashable, buffer: Buffer, tag: Any = None) -> Event:
        """Send ``buffer`` to ``dst``; the event fires when it is delivered."""
        return self.net.send(self.rank, dst, self.wire_bytes(buffer), buffer, tag, self.phase)

    def recv(self, src: Hashable, tag: Any = None) -> Event:
        """The next message from ``src``; the event's value is its payload."""
        return self.net.recv(self.rank, src, tag)


@dataclass(frozen=True)
class Algorithm:
    """A registered collective: per-rank worker generator, optional server generator."""

    name: str
    worker: Callable[[Comm, Buffer], Process]
    server: Callable[..., Process] | None = None
    summary: str = ""


REGISTRY: dict[str, Algorithm] = {}


def register(algorithm: Algorithm) -> Algorithm:
    """Add an algorithm to the registry under its name."""
    REGISTRY[algorithm.name] = algorithm
    return algorithm


def get(name: str) -> Algorithm:
    """Look an algorithm up by name, with a helpful error."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(REGISTRY)}") from None
