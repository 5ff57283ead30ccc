"""What a run's ranks did with their time, read off its message log: each worker's idle time (the gaps in
[0, its finish] when it neither computes nor sends nor receives) and the critical path (walking back from
the last finisher through the message or compute that released each step). The same for a log from
either engine."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from ..network.fluid import MessageLog
from ..units import format_time
from .results import idle_gaps


def _messages_of(log: MessageLog) -> list[tuple[Hashable, Hashable, float, float]]:
    return [(*log.endpoints(i), log.start[i], log.end[i]) for i in range(len(log))]


def _end_of(entry: tuple) -> float:
    return entry[0]


def _index_of(entry: tuple) -> int:
    return entry[1]


def idle_spans(log: MessageLog, compute: list[list[tuple[float, float]]],
               finish: list[float]) -> list[list[tuple[float, float]] | None]:
    """Per worker: the (start, end) gaps in [0, its finish] when it neither computes (``compute[rank]``: its
    (start, end) spans; none for a rank past the list's end) nor sends nor receives; None for a worker
    that never finished. What the report sums into idle time and the trace draws as idle slices."""
    busy: dict[Hashable, list[tuple[float, float]]] = {
        rank: list(compute[rank]) if rank < len(compute) else [] for rank in range(len(finish))}
    for src, dst, start, end in _messages_of(log):
        for node in (src, dst):
            if node in busy:
                busy[node].append((start, end))
    return [idle_gaps(busy[rank], end) if end == end else None for rank, end in enumerate(finish)]


def idle_s(log: MessageLog, compute: list[list[tuple[float, float]]], finish: list[float]) -> list[float | None]:
    """Per worker: the length of its :func:`idle_spans` (None for a worker that never finished)."""
    return [None if gaps is None else sum(b - a for a, b in gaps) for gaps in idle_spans(log, compute, finish)]


@dataclass(frozen=True)
class CriticalPath:
    """The chain that set the finish time: ``origin`` (the worker it starts at), its compute spans,
    messages and gaps (jitter, or waiting on nothing recorded) in seconds, and the workers it visits."""

    origin: Hashable
    compute_s: float
    computes: int
    message_s: float
    gap_s: float
    messages: int
    hops: list[Hashable]

    def describe(self, show: Callable[[float], str] = format_time) -> str:
        """The path in words, each time written by ``show`` (default: with its own unit)."""
        hops = "→".join(map(str, self.hops[:12])) + ("→…" if len(self.hops) > 12 else "")
        if self.computes == 1:
            start = f"compute of worker {self.origin} ({show(self.compute_s)}), then "
        elif self.computes:
            start = f"{self.computes} computes ({show(self.compute_s)}) and "
        else:
            start = ""
        return (f"{start}{self.messages} messages ({show(self.message_s)}) along {hops}"
                + (f", {show(self.gap_s)} waiting" if self.gap_s > 0 else ""))


def critical_path(log: MessageLog, compute: list[list[tuple[float, float]]], finish: list[float],
                  posted: dict[tuple[Hashable, Hashable, float], float] | None = None) -> CriticalPath | None:
    """Walk back from the last finisher to time 0: at each node and time, whichever ended last of its
    compute spans and the messages it sent or received released it; a compute hands the walk to its
    start, a message sent to when its sender sent it, a message received to its sender then. A message
    that started late (``posted``: (src, dst, start) → when it was sent) waited from its sending to its
    start, and only what ended by its sending can have released it. Only a message delivered before the
    one the walk came through can have released that one (the log is in delivery order), so the walk
    ends even through messages that take no time."""
    ends = [(t, rank) for rank, t in enumerate(finish) if t == t]
    if not ends:
        return None
    t, node = max(ends)
    touching: dict[Hashable, list[tuple[float, int, bool, float, Hashable, Hashable]]] = {}
    for index, (src, dst, start, end) in enumerate(_messages_of(log)):  # in delivery order, so by end too
        touching.setdefault(src, []).append((end, index, False, start, src, dst))
        touching.setdefault(dst, []).append((end, index, True, start, src, dst))
    posted = posted or {}
    compute_s = message_s = gap_s = 0.0
    computes = messages = 0
    hops = [node]
    before = len(log)  # the log index below which a message can have released the walk's node
    while t > 0:
        entries = touching.get(node, [])
        i = min(bisect.bisect_right(entries, t, key=_end_of), bisect.bisect_left(entries, before, key=_index_of)) - 1
        spans = compute[node] if isinstance(node, int) and node < len(compute) else []
        span = max((s for s in spans if s[1] <= t and s[1] > s[0]), key=lambda s: s[1], default=None)
        if span is not None and (i < 0 or span[1] >= entries[i][0]):
            gap_s += t - span[1]
            compute_s += span[1] - span[0]
            computes += 1
            t = span[0]
            continue
        if i < 0:
            gap_s += t
            break
        near = entries[i][0] * (1 - 1e-12)  # ends equal but for round-off: the message received released it
        j = i
        while j > 0 and not entries[j][2] and entries[j - 1][0] >= near:
            j -= 1
        end, index, received, start, src, dst = entries[j] if entries[j][2] else entries[i]
        sent = posted.get((src, dst, start), start)
        gap_s += (t - end) + (start - sent)
        message_s += end - start
        messages += 1
        t, before = sent, index
        if received:
            node = src
            hops.append(node)
    hops.reverse()
    return CriticalPath(hops[0], compute_s, computes, message_s, gap_s, messages, hops)
