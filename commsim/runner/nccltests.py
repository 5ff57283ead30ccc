"""nccl-tests output read as printed: its text, its ``-J`` JSON, and the CSV tables bundled in
``validation/``; per size the out-of-place bytes, count, type, time, algbw and busbw, with the collective,
the launch mode, the GPU name and the rank count.

The formats, from NVIDIA/nccl-tests ``src/util.cu`` and ``src/common.cu`` (v2.19.6, and the 2021–2022
versions before the JSON writer):

* text: ``# nThread T nGpus G minBytes …`` (one process drives T·G GPUs), ``# Collective test starting:
  all_reduce_perf`` (from 2.17), one ``#  Rank r Group g Pid p on host device d [bus] name`` line per rank
  (``Group`` from 2.13), the column header ``#  size count type redop root time algbw busbw #wrong time
  …`` (before 2.13 all_gather had no redop and root, broadcast no redop, and ``#wrong`` was ``error``;
  ``-C`` prints ``cputime``), then one row per size, out-of-place columns first, and ``# Avg bus
  bandwidth`` at the end. The columns are found by their names, so every layout reads alike. Lines
  tagged by the launcher (Open MPI's ``[1,0]<stdout>:``, Slurm's ``0: ``) are untagged; NCCL's log
  lines and anything else that is neither a ``#`` line nor a row are skipped.
* JSON (``-J FILE.json``, format version 3): ``config`` (``nthreads``, ``ngpus``, ``devices``: one rank
  line per process), ``args`` (``args[0]`` the program, hence the collective), ``results`` (per size
  ``size``, ``count``, ``type``, ``out_of_place``: ``time`` or ``cpu_time`` µs, ``alg_bw``, ``bus_bw``).
* the bundled CSVs: ``size_bytes,count,type,time_us,algbw_GBps,busbw_GBps`` after ``#`` lines that quote
  the nccl-tests header line (``nThread 1 nGpus 8 …``) or the command (``-g 8``).

Rows of 0 bytes (all_gather and reduce_scatter below one element per rank) move nothing and are left
out. Times are kept in seconds, bandwidths in bytes/s (GB = 1e9 B, as nccl-tests prints them).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ..errors import CommsimError, shown

MAX_BYTES = 256 << 20
"""The largest file read (256 MiB: an nccl-tests run with NCCL's INFO log on many ranks is a few MB)."""
MAX_SIZE = 1 << 50
"""The largest buffer a row may state (1 PiB); beyond it the number is garbage, not a measurement."""
MAX_TIME_US = 1e12
"""The longest time a row may state (about 11 days)."""
COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "broadcast", "reduce", "alltoall", "sendrecv",
               "gather", "scatter", "hypercube", "alltoallv")
"""nccl-tests' programs (``<name>_perf``)."""

# Open MPI --tag-output, srun --label, and the row tag of the abhivijay96/nccl-tests fork ("[STAT]:", the
# bundled a100_1x8_*_abhivijay96-cw.txt tables)
_TAG = re.compile(r"^(?:\[\d+,\d+\]<\w+>:|\s*\d+: |\[STAT\]:)")
_HEADER = re.compile(r"^#\s*nThread\s+(\d+)\s+nGpus\s+(\d+)\s+minBytes")
_BANNER = re.compile(r"^#\s*Collective test starting:\s*(\S+)")
_RANK = re.compile(r"^#\s*Rank\s+(\d+)\s+(?:Group\s+\d+\s+)?Pid\s+(\d+)\s+on\s+(\S+)\s+device\s+(\d+)\s+\[[^\]]*\]\s*(.*?)\s*$")
_PROGRAM = re.compile(r"(?:^|/)(\w+?)_perf(?:_mpi)?$")
_COMMAND_GPUS = re.compile(r"(?:^|\s)-g\s*(\d+)(?:\s|$)")


@dataclass(frozen=True)
class Row:
    """One size, out-of-place: bytes, elements, type, time (s), algbw and busbw (bytes/s; None where a
    bundled table did not copy them)."""

    size: int
    count: int | None
    dtype: str
    time_s: float
    algbw: float | None
    busbw: float | None


@dataclass(frozen=True)
class Table:
    """One nccl-tests run: its rows and what its header says of how it ran.

    ``gpus_per_process`` is nThread × nGpus (1: one process per GPU, as training jobs run; more: one
    process drives several GPUs, ``-g N``), None where the file does not say. ``ranks`` and ``gpu`` come
    from the Rank lines (None without them)."""

    path: str
    collective: str | None
    rows: tuple[Row, ...]
    gpus_per_process: int | None
    ranks: int | None
    gpu: str | None
    header: str | None = None

    @property
    def launch(self) -> str:
        """The launch mode in words."""
        if self.gpus_per_process is None:
            return "launch mode not stated"
        if self.gpus_per_process == 1:
            return "one process per GPU"
        threads = _HEADER.search(self.header or "")
        if threads and int(threads.group(1)) > 1:  # -t T: T threads of one process, each driving nGpus
            return (f"one process drives {self.gpus_per_process} GPUs ({threads.group(1)} threads of "
                    f"{threads.group(2)} GPU{'s' if int(threads.group(2)) > 1 else ''})")
        return f"one process drives {self.gpus_per_process} GPUs (-g {self.gpus_per_process})"


def _fail(path: Path | str, line: int | None, problem: str) -> CommsimError:
    where = f"{shown(str(path), 100, quote=False, tail=True)}" + (f": line {line}" if line is not None else "")
    return CommsimError(f"{where}: {problem}")


def collective_of(program: str) -> str | None:
    """The collective of an nccl-tests program name or path (``./build/all_reduce_perf`` → all_reduce)."""
    found = _PROGRAM.search(program.strip())
    return found.group(1) if found and found.group(1) in COLLECTIVES else None


def read(path: Path, collective: str | None = None) -> Table:
    """The table of ``path``: nccl-tests' JSON, a bundled CSV or its text output, told apart by content.
    ``collective`` names it where the file does not (and must agree where it does). One-line errors
    (file, line, what) for anything else."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        raise _fail(path, None, f"cannot be read ({error.strerror or type(error).__name__})") from None
    if len(data) > MAX_BYTES:
        raise _fail(path, None, "larger than 256 MiB: not an nccl-tests output")
    if b"\0" in data[:65536]:
        raise _fail(path, None, "a binary file, not nccl-tests output (text or -J JSON)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise _fail(path, line, "not UTF-8 text: not nccl-tests output") from None
    if not text.strip():
        raise _fail(path, None, "empty: no nccl-tests output in it")
    if text.lstrip().startswith("{"):
        table = _json(path, text)
    elif re.search(r"^size_bytes,", text, re.MULTILINE):
        table = _csv(path, text)
    else:
        table = _text(path, text)
    if collective is not None:
        if collective not in COLLECTIVES:
            raise _fail(path, None, f"unknown collective {collective!r}; nccl-tests has {', '.join(COLLECTIVES)}")
        if table.collective not in (None, collective):
            raise _fail(path, None, f"the file measured {table.collective}, not {collective}")
        table = Table(table.path, collective, table.rows, table.gpus_per_process, table.ranks, table.gpu, table.header)
    return table


def _number(path: Path | str, line: int, name: str, token: str, integer: bool) -> float | int:
    """A row's field: an integer (size, count) or a finite non-negative number, bounded."""
    try:
        value: float | int = int(token) if integer else float(token)
    except ValueError:
        raise _fail(path, line, f"{name} is not a number: {shown(token, 30)}") from None
    if not math.isfinite(value) or value < 0:
        raise _fail(path, line, f"{name} must be a finite number >= 0, got {shown(token, 30)}")
    if name == "size" and value > MAX_SIZE or name == "time" and value > MAX_TIME_US:
        raise _fail(path, line, f"{name} {shown(token, 30)} is beyond any measurement")
    return value


def _scaled(token: str, exponent: int) -> float:
    """A printed decimal times 10^exponent, rounded once (34.28 µs is 34.28e-6 s to the last bit)."""
    return float(Decimal(token.strip()).scaleb(exponent))


def _row(path: Path | str, line: int, size: str, count: str | None, dtype: str, time_us: str, algbw: str | None,
         busbw: str | None) -> Row:
    for name, token in (("time", time_us), ("algbw", algbw), ("busbw", busbw)):
        if token is not None:
            _number(path, line, name, token, False)
    return Row(int(_number(path, line, "size", size, True)),
               None if count in (None, "") else int(_number(path, line, "count", count, True)), dtype,
               _scaled(time_us, -6), None if algbw is None else _scaled(algbw, 9),
               None if busbw is None else _scaled(busbw, 9))


def _checked(path: Path | str, rows: list[tuple[int, Row]]) -> tuple[Row, ...]:
    """The rows that moved bytes, each size once (a size printed twice is two runs in one file)."""
    if not rows:
        raise _fail(path, None, "no measured rows: not nccl-tests output (or the run printed none)")
    seen: dict[int, int] = {}
    kept = []
    for line, row in rows:
        if row.size == 0:
            continue
        if row.size in seen:
            raise _fail(path, line, f"size {row.size} measured again (first on line {seen[row.size]}): "
                                    "two runs in one file; give each its own file")
        seen[row.size] = line
        if row.time_s <= 0:
            raise _fail(path, line, f"time must be > 0 for {row.size} bytes")
        kept.append(row)
    if not kept:
        raise _fail(path, None, "every row measured 0 bytes: nothing to compare")
    return tuple(kept)


def _text(path: Path, text: str) -> Table:
    """nccl-tests' text output (see the module docstring)."""
    header = banner = None
    per_process: int | None = None
    ranks: dict[int, tuple[str, str, str]] = {}
    columns: list[str] | None = None
    rows: list[tuple[int, Row]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _TAG.sub("", raw, count=1).rstrip()
        if line.startswith("#"):
            if found := _HEADER.match(line):
                per_process, header = int(found.group(1)) * int(found.group(2)), line
            elif found := _BANNER.match(line):
                banner = collective_of(found.group(1))
            elif found := _RANK.match(line):
                rank = int(found.group(1))
                if rank in ranks:
                    raise _fail(path, number, f"rank {rank} listed twice: two runs in one file; give each its own file")
                ranks[rank] = (found.group(3), found.group(2), found.group(5))  # host, pid, GPU name
            elif {"size", "count", "type"} <= set(tokens := line[1:].split()) and ("time" in tokens or "cputime" in tokens):
                columns = tokens
            continue
        fields = line.split()
        if columns is None or not fields or not fields[0].isdigit():
            continue  # NCCL's log, the launcher's messages, the command as typed
        time_at = next(k for k, name in enumerate(columns) if name in ("time", "cputime"))
        need = time_at + 3
        if len(fields) < need:
            raise _fail(path, number, f"a row of {len(fields)} fields; the column header needs at least {need} "
                                      "(size … time algbw busbw): truncated?")
        rows.append((number, _row(path, number, fields[0], fields[columns.index("count")], fields[columns.index("type")],
                                  fields[time_at], fields[time_at + 1], fields[time_at + 2])))
    if columns is None:
        raise _fail(path, None, "no nccl-tests column header ('#  size  count  type … time  algbw  busbw'): "
                                "not nccl-tests output")
    gpus = {gpu for _, _, gpu in ranks.values() if gpu}
    if len(gpus) > 1:
        raise _fail(path, None, f"the Rank lines name {len(gpus)} GPU models ({', '.join(sorted(gpus))[:60]})")
    if per_process is None and ranks:  # no header line: the Rank lines say how many processes there were
        processes = {(host, pid) for host, pid, _ in ranks.values()}
        per_process = len(ranks) // len(processes)
    return Table(str(path), banner, _checked(path, rows), per_process, len(ranks) or None,
                 next(iter(gpus)) if gpus else None, header)


def _json(path: Path, text: str) -> Table:
    """nccl-tests' ``-J`` JSON (format version 3; see the module docstring)."""
    def constant(name: str) -> None:
        raise ValueError(f"{name} is not a number JSON allows")

    try:
        document = json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as error:
        raise _fail(path, error.lineno, f"not valid JSON: {error.msg}") from None
    except (ValueError, RecursionError) as error:
        raise _fail(path, None, f"not valid JSON: {shown(str(error), 60, quote=False)}") from None
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        raise _fail(path, None, "JSON without a 'results' list: not nccl-tests' -J output")
    config = document.get("config")
    if not isinstance(config, dict):
        raise _fail(path, None, "JSON without 'config': not nccl-tests' -J output")
    per_process = None
    if isinstance(config.get("nthreads"), int) and isinstance(config.get("ngpus"), int):
        per_process = config["nthreads"] * config["ngpus"]
    devices = config.get("devices") if isinstance(config.get("devices"), list) else []
    gpus = {str(d.get("device_info")) for d in devices if isinstance(d, dict) and d.get("device_info")}
    if len(gpus) > 1:
        raise _fail(path, None, f"'config.devices' names {len(gpus)} GPU models ({', '.join(sorted(gpus))[:60]})")
    args = document.get("args")
    collective = collective_of(args[0]) if isinstance(args, list) and args and isinstance(args[0], str) else None
    rows = []
    for k, result in enumerate(document["results"]):
        where = f"results[{k}]"
        if not isinstance(result, dict) or not isinstance(result.get("out_of_place"), dict):
            raise _fail(path, None, f"{where}: needs 'size' and an 'out_of_place' object")
        out = result["out_of_place"]
        time_key = "time" if "time" in out else "cpu_time"
        try:
            fields = [str(result["size"]), None if result.get("count") is None else str(result["count"]),
                      str(result.get("type", "")), str(out[time_key]), str(out["alg_bw"]), str(out["bus_bw"])]
        except KeyError as error:
            raise _fail(path, None, f"{where}: missing {error.args[0]!r}") from None
        for name, value in (("size", result["size"]), ("time", out[time_key])):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _fail(path, None, f"{where}.{name}: not a number: {shown(value, 30)}")
        try:
            rows.append((k + 1, _row(path, k + 1, *fields)))
        except CommsimError as error:
            raise CommsimError(str(error).replace(f": line {k + 1}:", f": {where}:")) from None
    try:
        checked = _checked(path, rows)
    except CommsimError as error:
        raise CommsimError(re.sub(r": line (\d+):", lambda m: f": results[{int(m.group(1)) - 1}]:", str(error))) from None
    ranks = len(devices) * per_process if devices and per_process else None
    return Table(str(path), collective, checked, per_process, ranks, next(iter(gpus)) if gpus else None)


def _csv(path: Path, text: str) -> Table:
    """A bundled table (``validation/*.csv``): its rows, and the launch mode its comment lines quote."""
    import csv
    import io

    comments = [line for line in text.splitlines() if line.startswith("#")]
    per_process = None
    header = None
    for line in comments:
        if found := re.search(r"nThread\s+(\d+)\s+nGpus\s+(\d+)", line):
            per_process, header = int(found.group(1)) * int(found.group(2)), line
            break
    else:
        for line in comments:
            if "command" in line and (found := _COMMAND_GPUS.search(line)):
                per_process, header = int(found.group(1)), line
                break
    lines = text.splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("size_bytes,"))
    reader = csv.DictReader(io.StringIO("\n".join(lines[start:])))
    columns = ("size_bytes", "time_us")  # algbw_GBps and busbw_GBps where copied
    if any(column not in (reader.fieldnames or ()) for column in columns):
        raise _fail(path, start + 1, f"needs the columns {', '.join(columns)}")
    rows = []
    for k, row in enumerate(reader):
        number = start + 2 + k
        if None in row or any(value is None for value in row.values()):
            raise _fail(path, number, "a row with too few or too many fields")
        rows.append((number, _row(path, number, row["size_bytes"], row.get("count") or None, row.get("type") or "",
                                  row["time_us"], row.get("algbw_GBps") or None, row.get("busbw_GBps") or None)))
    return Table(str(path), None, _checked(path, rows), per_process, None, None, header)
