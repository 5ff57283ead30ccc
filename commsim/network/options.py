"""Topology options judged before any graph is built: each option's value by its kind (a count, a choice,
a shape, a file), and the size of the graph a generator would build, so that a wrong type is one line
naming the option and an absurd size (``fat_tree k: 2000``) is refused instead of built for minutes.

The generators check their options again when they build (they can be called on their own); this module
only says what can be known from the options and the worker count alone.
"""

from __future__ import annotations

import math
import os
import re
import stat
from pathlib import Path
from typing import Any

from .. import units
from ..errors import TopologyError, UnitError, shown
from .cluster import ARCHS, CPUS, FABRICS, MAXIMA, PRESETS

# Counts: (smallest, largest) a generator takes.
COUNTS: dict[str, tuple[int, int]] = {
    "k": (2, 1024),  # fat tree: k³/4 hosts (268 M at 1024); the size check below refuses big ones
    "arity": (2, 1 << 20),
    "nodes": (1, MAXIMA["nodes"]),
    "gpus_per_node": (1, MAXIMA["gpus_per_node"]),
    "nics_per_node": (1, MAXIMA["nics_per_node"]),
    "spines": (1, MAXIMA["spines"]),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "intra": ("mesh", "switch"),
    "fabric": FABRICS,
    "arch": ARCHS,
    "cpu": CPUS,
    "preset": tuple(PRESETS),
}
TOPOLOGY_FILE_SUFFIXES = (".graphml", ".edges", ".txt")
MAX_TOPOLOGY_FILE_BYTES = 256 << 20
MAX_DIM = 1 << 22


def _count(key: str, value: Any) -> int:
    low, high = COUNTS[key]
    try:
        count = units.parse_count(value)
    except UnitError as error:
        raise TopologyError(f"{key}: {error}") from None
    if not low <= count <= high:
        raise TopologyError(f"{key}: must be a whole number from {low} to {high:,}, got {shown(value)}")
    return count


def _dims(value: Any) -> list[int]:
    parts = value
    if isinstance(value, str):
        parts = [part for part in re.split(r"\s*[x×,]\s*", value.strip()) if part]
    if not isinstance(parts, (list, tuple)) or len(parts) not in (2, 3):
        raise TopologyError(f"dims: must be 2 or 3 sizes like [4, 4] or '2x2x2', got {shown(value)}")
    sizes = []
    for part in parts:
        try:
            size = units.parse_count(part)
        except UnitError:
            raise TopologyError(f"dims: must be 2 or 3 sizes like [4, 4] or '2x2x2', got {shown(value)}") from None
        if not 1 <= size <= MAX_DIM:
            raise TopologyError(f"dims: each size must be from 1 to {MAX_DIM:,}, got {shown(value)}")
        sizes.append(size)
    return sizes


def _path(value: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise TopologyError(f"path: must be the name of a {', '.join(TOPOLOGY_FILE_SUFFIXES)} file, got {shown(value)}")
    path, named = Path(value), shown(value, 80, tail=True)
    if path.suffix.lower() not in TOPOLOGY_FILE_SUFFIXES:
        raise TopologyError(f"path: {named} is not a {', '.join(TOPOLOGY_FILE_SUFFIXES)} file")
    try:
        info = os.stat(path)
    except (OSError, ValueError) as error:
        raise TopologyError(f"path: cannot read {named}: {getattr(error, 'strerror', None) or error}") from None
    if not stat.S_ISREG(info.st_mode):
        raise TopologyError(f"path: {named} is not a regular file")
    if info.st_size > MAX_TOPOLOGY_FILE_BYTES:
        raise TopologyError(f"path: {named} is {info.st_size:,} bytes; a topology file is at most "
                            f"{MAX_TOPOLOGY_FILE_BYTES:,}")
    return path


def check(kind: str, options: dict[str, Any]) -> None:
    """Refuse an option whose value no worker count could make right: ``TopologyError("<option>: why")``.
    Bandwidths and latencies are parsed by the scenario already; ``kind`` is a known generator."""
    for key, value in options.items():
        if value is None:
            continue
        if key in COUNTS:
            _count(key, value)
            if key == "k" and units.parse_count(value) % 2:
                raise TopologyError(f"k: a fat tree's k must be even, got {shown(value)}")
        elif key in CHOICES:
            if not isinstance(value, str) or value not in CHOICES[key]:
                raise TopologyError(f"{key}: must be one of {', '.join(CHOICES[key])}, got {shown(value)}")
        elif key == "dims":
            _dims(value)
        elif key == "path":
            _path(value)
    if kind == "cluster" and options.get("preset") is None:
        raise TopologyError(f"preset: a cluster needs one of {', '.join(PRESETS)}")
    if kind == "hierarchical" and options.get("gpus_per_node") is None and options.get("nodes") is None:
        raise TopologyError("gpus_per_node: a hierarchical topology needs gpus_per_node (or nodes)")
    if kind == "from_file" and options.get("path") is None:
        raise TopologyError(f"path: from_file needs a {', '.join(TOPOLOGY_FILE_SUFFIXES)} file")


def size(kind: str, n: int, servers: int, options: dict[str, Any]) -> int:
    """Nodes plus links of the graph ``kind`` would build for n workers and ``servers`` servers (an upper
    estimate; for ``from_file``, from the file's size), with ``options`` that passed :func:`check`."""
    s = servers
    if kind == "star":
        return 2 * (n + s) + 1
    if kind == "ring":
        return 2 * n
    if kind == "fully_connected":
        return n + s + n * (n - 1) // 2 + s * n
    if kind == "torus":
        return n * (1 + len(_dims(options["dims"])) if options.get("dims") is not None else 3)
    if kind == "hypercube":
        return n + n * max(n.bit_length() - 1, 0) // 2
    if kind == "fat_tree":
        k = units.parse_count(options.get("k", 4))
        half = k // 2
        return half * half + 2 * k * half + k * half * half + k * half * half + 2 * (n + s)
    if kind == "tree":
        arity = units.parse_count(options.get("arity", 4))
        switches = sum(math.ceil(n / arity**level) for level in range(1, max(1, math.ceil(math.log(max(n, 2), arity))) + 2))
        return 2 * (n + switches + s)
    if kind == "hierarchical":
        g = units.parse_count(options["gpus_per_node"]) if options.get("gpus_per_node") is not None else None
        nodes = units.parse_count(options["nodes"]) if options.get("nodes") is not None else max(n // (g or 1), 1)
        g = g or max(n // nodes, 1)
        nics = units.parse_count(options.get("nics_per_node", 1))
        intra = g * (g - 1) // 2 if options.get("intra", "mesh") == "mesh" else 2 * g + 1
        return nodes * (g + intra + nics * (g + 2)) + 2 * s + 1
    if kind == "cluster":
        preset = PRESETS[options["preset"]]
        g = units.parse_count(options.get("gpus_per_node") or preset.gpus_per_node)
        nics = units.parse_count(options.get("nics_per_node") or preset.nics_per_node)
        nodes = units.parse_count(options["nodes"]) if options.get("nodes") is not None else max(n // g, 1)
        spines = units.parse_count(options.get("spines", 1))
        return nodes * (3 * g + 2 * nics + 1) + nics * (2 + spines) + spines
    if kind == "from_file":
        return _path(options["path"]).stat().st_size // 4 + n  # a link is at least "u v\n"
    raise TopologyError(f"unknown topology {kind!r}")
