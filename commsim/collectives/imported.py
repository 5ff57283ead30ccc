"""Schedules from files: a collective written as rounds of chunk transfers (JSON), checked to compute
its collective before it runs, then run like any registered algorithm by both engines.

The format (one JSON object; MSCCL's XML describes the same thing as threadblocks of steps)::

    {"name": "ring4", "collective": "allreduce", "workers": 4, "chunks": 4,
     "rounds": [[{"src": 0, "dst": 1, "chunk": 0, "op": "reduce"}, ...], ...]}

The buffer is cut into ``chunks`` parts (``chunk_bounds(p, chunks)``). In round k a transfer sends the
sender's chunk as it is when the sender starts the round; at the end of the round the receiver adds
it in (``"op": "reduce"``, charged γ per byte) or overwrites its own (``"copy"``). The rounds have the
library's send-receive semantics (``commsim.collectives.schedule``). ``collective`` is ``allreduce``
(every worker ends with every chunk summed over all workers, which the run divides by n: the mean),
``reduce_scatter`` (chunks = workers; worker r ends with chunk r summed), ``all_gather`` (worker r
starts owning chunk r; everyone ends with every chunk) or ``broadcast`` (worker 0's buffer
everywhere). Before anything runs, each worker's chunks are followed as counts of every worker's
contribution: a schedule that loses or double-counts one is refused, with the worker and chunk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ScenarioError, shown
from .base import register
from .cost import Cost, LinkCost
from .follow import scheduled
from .payload import chunk_bounds
from .schedule import Round, Schedule, bounds_of, ints

KINDS = ("allreduce", "reduce_scatter", "all_gather", "broadcast")
OPS = ("reduce", "copy")
MAX_BYTES = 50_000_000  # a schedule file larger than this is refused before it is read


@dataclass(frozen=True)
class Transfers:
    """One round of a file's schedule: transfer i sends chunk ``chunk[i]`` from ``src[i]`` to ``dst[i]``."""

    src: np.ndarray
    dst: np.ndarray
    chunk: np.ndarray
    reduce: np.ndarray  # True: the receiver adds it in; False: overwrites


@dataclass(frozen=True)
class ImportedSchedule:
    """A checked schedule file."""

    name: str
    kind: str
    workers: int
    chunks: int
    rounds: tuple[Transfers, ...]
    source: str  # the file, for messages

    def schedule(self, n: int, p: int, w: int, **_: object) -> Schedule:
        """The rounds on a buffer of p elements of w bytes: chunk c is ``chunk_bounds(p, chunks)``'s; an
        all-reduce divides by n after its last round, a reduce-scatter worker r its chunk r. Senders copy what they send (a file's rounds may
        write a chunk while it is in flight)."""
        bounds = bounds_of(p, self.chunks)
        everyone = ints(range(n))
        whole = (everyone, np.zeros(n, dtype=np.int64), np.full(n, p, dtype=np.int64))
        own = (everyone, bounds[:n], bounds[1:n + 1])  # reduce_scatter: worker r's chunk r, summed, becomes the mean
        last = len(self.rounds) - 1

        def round_(k: int) -> Round:
            t = self.rounds[k]
            lo, hi = bounds[t.chunk], bounds[t.chunk + 1]
            nbytes = (hi - lo) * w
            combine = np.bincount(t.dst[t.reduce], weights=nbytes[t.reduce], minlength=n).astype(np.int64)
            scale = (whole if self.kind == "allreduce" else own if self.kind == "reduce_scatter" else None) if k == last else None
            return Round(t.src, t.dst, nbytes, f"round {k}", combine if t.reduce.any() else None, lo, hi, t.reduce, scale)

        return Schedule(n, len(self.rounds), round_, p=p, snapshot=True)


def _fail(source: str, where: str, problem: str) -> ScenarioError:
    return ScenarioError(f"{shown(source, 100, quote=False, tail=True)}: {where}: {problem}")


def _integer(source: str, where: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise _fail(source, where, f"must be an integer from {low} to {high}, got {shown}")
    return value


def parse_schedule(document: Any, source: str) -> ImportedSchedule:
    """Check a schedule document's shape, then that it computes its collective."""
    if not isinstance(document, dict):
        raise _fail(source, "top level", "must be a JSON object with name, collective, workers, chunks and rounds")
    unknown = set(document) - {"name", "collective", "workers", "chunks", "rounds", "comment"}
    if unknown:
        raise _fail(source, min(unknown), "unknown key (known: name, collective, workers, chunks, rounds, comment)")
    name = document.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise _fail(source, "name", f"must be a name made of letters, digits and _, got {name!r:.40}")
    kind = document.get("collective")
    if kind not in KINDS:
        raise _fail(source, "collective", f"must be one of {', '.join(KINDS)}, got {kind!r:.40}")
    n = _integer(source, "workers", document.get("workers"), 1, 4096)
    chunks = _integer(source, "chunks", document.get("chunks"), 1, 1 << 20)
    rounds = document.get("rounds")
    if not isinstance(rounds, list):
        raise _fail(source, "rounds", "must be a list of rounds, each a list of transfers")
    parsed = []
    for k, transfers in enumerate(rounds):
        if not isinstance(transfers, list):
            raise _fail(source, f"rounds[{k}]", "must be a list of transfers")
        src, dst, chunk, reduce = [], [], [], []
        for i, transfer in enumerate(transfers):
            where = f"rounds[{k}][{i}]"
            if not isinstance(transfer, dict) or set(transfer) - {"src", "dst", "chunk", "op"}:
                raise _fail(source, where, 'must be {"src": rank, "dst": rank, "chunk": index, "op": "reduce" or "copy"}')
            src.append(_integer(source, f"{where}.src", transfer.get("src"), 0, n - 1))
            dst.append(_integer(source, f"{where}.dst", transfer.get("dst"), 0, n - 1))
            if src[-1] == dst[-1]:
                raise _fail(source, where, f"worker {src[-1]} cannot send to itself")
            chunk.append(_integer(source, f"{where}.chunk", transfer.get("chunk"), 0, chunks - 1))
            op = transfer.get("op", "reduce")
            if op not in OPS:
                raise _fail(source, f"{where}.op", f"must be 'reduce' or 'copy', got {op!r:.40}")
            reduce.append(op == "reduce")
        parsed.append(Transfers(*(np.asarray(v, dtype=np.int64) for v in (src, dst, chunk)), np.asarray(reduce, dtype=bool)))
    imported = ImportedSchedule(name, kind, n, chunks, tuple(parsed), source)
    check_computes(imported)
    return imported


def _contributions(imported: ImportedSchedule) -> np.ndarray:
    """[worker, chunk, contributor]: how many times each worker's input is in each chunk at the end."""
    n, chunks = imported.workers, imported.chunks
    state = np.zeros((n, chunks, n), dtype=np.int64)
    if imported.kind == "all_gather":
        for r in range(min(n, chunks)):
            state[r, r, r] = 1
    elif imported.kind == "broadcast":
        state[0, :, 0] = 1
    else:
        state[np.arange(n), :, np.arange(n)] = 1
    for k, t in enumerate(imported.rounds):
        sent = state[t.src, t.chunk].copy()  # the senders' chunks as they start the round
        written = set()
        added = {(int(d), int(c)) for d, c, r in zip(t.dst, t.chunk, t.reduce) if r}
        for i in range(len(t.src)):
            dst, chunk = int(t.dst[i]), int(t.chunk[i])
            if t.reduce[i]:
                state[dst, chunk] += sent[i]
            else:
                if (dst, chunk) in added:
                    raise _fail(imported.source, f"rounds[{k}][{i}]",
                                f"worker {dst}'s chunk {chunk} is both overwritten and added to in one round")
                if (dst, chunk) in written:
                    raise _fail(imported.source, f"rounds[{k}][{i}]", f"worker {dst}'s chunk {chunk} is overwritten twice in one round")
                written.add((dst, chunk))
                state[dst, chunk] = sent[i]
    return state


def check_computes(imported: ImportedSchedule) -> None:
    """Refuse a schedule whose result is not its collective, naming a worker and chunk that is wrong."""
    state = _contributions(imported)
    n, chunks = imported.workers, imported.chunks
    if imported.kind == "reduce_scatter" and chunks != n:
        raise _fail(imported.source, "chunks", f"a reduce_scatter has one chunk per worker ({n}), got {chunks}")
    want = np.zeros_like(state)
    if imported.kind == "allreduce":
        want[:] = 1
    elif imported.kind == "reduce_scatter":
        want[np.arange(n), np.arange(n), :] = 1
    elif imported.kind == "all_gather":
        want[:, np.arange(chunks), np.arange(chunks)] = 1
    else:
        want[:, :, 0] = 1
    checked = np.ones((n, chunks), dtype=bool)
    if imported.kind == "reduce_scatter":  # only chunk r at worker r is specified
        checked[:] = False
        checked[np.arange(n), np.arange(n)] = True
    wrong = np.argwhere(checked[..., None] & (state != want))
    if len(wrong):
        worker, chunk, contributor = (int(v) for v in wrong[0])
        raise _fail(imported.source, "rounds",
                    f"does not compute its collective ({imported.kind}): worker {worker} ends with chunk {chunk} holding worker "
                    f"{contributor}'s input {state[worker, chunk, contributor]} times (should be {want[worker, chunk, contributor]})")


def load_schedule(path: Path) -> ImportedSchedule:
    """Read and check a schedule file (one-line errors naming the file and the key)."""
    source = str(path)
    try:
        if not path.is_file():
            raise _fail(source, "schedule", "not a file (a directory)" if path.is_dir() else "no such file")
        if path.stat().st_size > MAX_BYTES:
            raise _fail(source, "schedule", f"larger than {MAX_BYTES // 1_000_000} MB")
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        if isinstance(error, ScenarioError):
            raise
        raise _fail(source, "schedule", f"not a JSON schedule ({type(error).__name__}: {str(error)[:80]})") from None
    return parse_schedule(document, source)


def _cost(imported: ImportedSchedule) -> Any:
    def cost(n: int, p: int, w: int, link: LinkCost) -> Cost:
        sizes = np.diff(np.asarray(chunk_bounds(p, imported.chunks), dtype=np.int64)) * w
        histogram: dict[int, int] = {}
        for t in imported.rounds:
            for size in sizes[t.chunk].tolist():
                histogram[size] = histogram.get(size, 0) + 1
        return Cost(dict(sorted(histogram.items())), None, "from the schedule file (no closed form for its time)")

    return cost


LOADED: dict[str, ImportedSchedule] = {}
"""The schedules registered in this process, by registry name."""


def ensure_registered(path: str) -> str:
    """Read, check and register the schedule in ``path`` unless it already is; its registry name. Two
    files may claim the same name only if they hold the same schedule (a copy)."""
    imported = load_schedule(Path(path))
    name = f"schedule:{imported.name}"
    known = LOADED.get(name)
    if known is not None and Path(known.source).resolve() != Path(imported.source).resolve() \
            and not _same_schedule(known, imported):
        raise ScenarioError(f"{shown(path, 80, quote=False, tail=True)}: name: {shown(imported.name, 40)} is also the name "
                            f"of the schedule in {shown(known.source, 80, quote=False, tail=True)}")
    if known is None:
        register_imported(imported)
    return name


def _same_schedule(a: ImportedSchedule, b: ImportedSchedule) -> bool:
    """Whether two checked files hold the same schedule (their sources aside)."""
    return (a.name, a.kind, a.workers, a.chunks, len(a.rounds)) == (b.name, b.kind, b.workers, b.chunks, len(b.rounds)) \
        and all(np.array_equal(getattr(x, key), getattr(y, key)) for x, y in zip(a.rounds, b.rounds)
                for key in ("src", "dst", "chunk", "reduce"))


def register_imported(imported: ImportedSchedule) -> str:
    """Register a checked schedule as an algorithm (and its schedule); its registry name."""
    name = f"schedule:{imported.name}"
    register(scheduled(name, imported.schedule, _cost(imported), f"from {imported.source}", kind=imported.kind))
    LOADED[name] = imported
    return name
