"""Malformed and mutated scenarios for the fuzz test (``tests/test_fuzz.py``) and its subprocess benchmark
(``benchmarks/fuzz_cli.py``): the bundled scenarios, made small, then mutated key by key (hostile values,
dropped keys, unknown keys, wrapped types), corrupted as a whole file (random bytes, truncation,
non-UTF-8, NUL, empty, deep nesting, alias bombs, duplicate keys), or given one input trap whose error
line is known (a bare number that is surely a missing unit, a misspelt key, an alias bomb of long
strings)."""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

SCENARIOS = Path(__file__).parent.parent / "scenarios"
# The implicit-bias experiment runs for a second whatever its (two) keys say; it has its own tests.
SKIPPED = {"implicit_bias.yaml"}
LOW_BUDGET = "memory=500 MB, events=1e5, messages=3e4"
"""What a fuzzed run may take (``COMMSIM_BUDGET``): anything bigger is refused in milliseconds."""


def _shrink(document: dict[str, Any]) -> dict[str, Any]:
    """A bundled scenario at toy sizes, its shape kept: a few workers, 64 elements, three training steps."""
    small = copy.deepcopy(document)
    workers = small.get("workers")
    clusters = "kind: cluster" in json.dumps(document).replace('"kind": "cluster"', "kind: cluster")  # n is fixed
    if isinstance(workers, list):
        small["workers"] = sorted({min(count, 8) for count in workers[:2]})
    elif isinstance(workers, dict):
        small["workers"] = {"from": 2, "to": 8, "factor": 2}
    elif isinstance(workers, int) and not clusters:
        small["workers"] = min(workers, 8)
    if "params" in small:
        small["params"] = 64
    if "size" in small:
        small["size"] = {"from": "8 B", "to": "256 B", "factor": 4}
    training = small.get("training")
    if isinstance(training, dict):
        training.update(steps=3, hidden=8)
        if training.get("dataset", "synthetic") == "synthetic":
            training["samples"] = 128
    return small


def bases(shrink: bool = True) -> dict[str, dict[str, Any]]:
    """The bundled scenarios (but ``SKIPPED``), shrunk unless ``shrink`` is False, by file name."""
    found = {}
    for path in sorted(SCENARIOS.glob("*.yaml")):
        if path.name not in SKIPPED:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            found[path.name] = _shrink(document) if shrink else document
    return found
COMPANIONS = sorted(path for path in SCENARIOS.glob("*.json"))  # files a scenario names (imported schedules)

# YAML text for values no dumper writes (or writes safely): each replaces a placeholder in the dumped text.
RAW = [
    "9" * 5000, "-" + "9" * 400, "1e400", "1.0e+400", "-1.0e+400", ".nan", ".inf", "-.inf", "-1", "0", "-0.0", "1e-400",
    "2^64", "2^4096", "0x" + "f" * 120, "0b" + "1" * 90, "1:2:3:4:5", "true", "false", "null", "~", "[]", "{}", "[[]]",
    '"\\ud800"', '"a\\udfffb"', '"\\0"', '"\\x07"', "!!binary AAECAwQ=", "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system", "!!int x", "!!float abc", "!!bool maybe", "!!timestamp 2001-02-30", "!!set {a, b}",
    "!!omap [a: 1]", "'" + "x" * 100_000 + "'", "[" * 200 + "]" * 200, "{a: 1, a: 2}", "*undefined",
    '"100 Gbit/s"', '"5 us"', '"4 MiB"', '"-1 GB"', '"10 mb/s"', '"1 parsec"', "2001-12-14", "12:30:45",
    "[1, 2, 3]", "{from: 1, to: 1e400, factor: 2}", "{from: 2, to: 1, step: 1}", "{from: 1, to: 100000, step: 1}",
    "{from: 0, to: 8, factor: 2}", "{from: 1, to: 2, factor: 1}", "[star, ring]", "{kind: star}", "[{kind: ring}]",
]

_VALUES = st.one_of(
    st.integers(-(10**30), 10**30),
    st.integers(-3, 300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=30),
    st.text(st.characters(codec=None, categories=("Cs", "Co", "Cc", "Zs", "Lo")), max_size=8),
    st.binary(max_size=16),
    st.sampled_from(["star", "ring", "fat_tree", "torus", "cluster", "from_file", "hierarchical", "data", "size-only",
                     "analytic", "schedule", "nccl", "float16", "int8", "ring_allreduce", "auto", "mlp", "digits",
                     "hgx-h100", "4x4", "x", "", " ", "../../etc/passwd", "/dev/zero", "ring4_schedule.json"]),
    st.lists(st.integers(-5, 70), max_size=4),
    st.dictionaries(st.sampled_from(["from", "to", "step", "factor", "kind", "x"]), st.integers(-5, 5000), max_size=4),
)
UNKNOWN_KEYS = st.sampled_from(["colour", "stragglers", "faults", "Workers", "budget", "topology", "", "<<", "1"])


REPR_BYTES = 2000  # of a case's content shown when it is printed


@dataclass(frozen=True, repr=False)
class Case:
    """One fuzzed input: the scenario file's bytes (None: a directory in its place) and where --out points."""

    content: bytes | None
    out: str  # "fresh", "file" (an existing file), "under_file" (below one), "stale" (an earlier run's)
    base: str
    mutation: str
    expect: str | None = None  # a trap's case: exit 2 with this in its error line

    def __repr__(self) -> str:
        """The case in at most ~2,500 characters: its content's start and end with the length between. A
        case can hold a 100 kB value; in full, hypothesis's report of a failure would be over its 30 kB
        "overly large repr" limit, whose warning (an error under ``filterwarnings = error``) hid the failure."""
        content = self.content
        if content is not None and len(content) > REPR_BYTES:
            shown = f"{content[:REPR_BYTES - 200]!r} + <{len(content) - REPR_BYTES:,} bytes> + {content[-200:]!r}"
        else:
            shown = repr(content)
        expect = f", expect={self.expect!r}" if self.expect is not None else ""
        return f"Case(base={self.base!r}, mutation={self.mutation[:200]!r}, out={self.out!r}{expect}, content={shown})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Hypothesis prints a case with this (before its own field-by-field or how-it-was-built printing)."""
        printer.text(repr(self))

    def materialise(self, directory: Path) -> tuple[Path, Path]:
        """Write the case into ``directory``: (the scenario path, the --out path)."""
        for companion in COMPANIONS:
            shutil.copy(companion, directory / companion.name)
        scenario = directory / "scenario.yaml"
        if self.content is None:
            scenario.mkdir()
        else:
            scenario.write_bytes(self.content)
        out = directory / "out"
        if self.out == "file":
            out.write_text("not a directory\n")
        elif self.out == "under_file":
            (directory / "plain").write_text("x\n")
            out = directory / "plain" / "out"
        elif self.out == "stale":
            out.mkdir()
            (out / "time_vs_workers.png").write_bytes(b"an earlier run's figure")
            (out / ".commsim-outputs").write_text('["time_vs_workers.png", "results.json"]\n')
        return scenario, out


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a document (mapping keys and list indices), the root excluded."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*prefix, index))
            found += _paths(item, (*prefix, index))
    return found


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        document = document[step]
    return document


def _dump(document: Any) -> str:
    try:
        return yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=1000)
    except (yaml.YAMLError, ValueError, UnicodeError):
        return json.dumps(document, default=repr)


def _weighted(chosen: dict[str, dict[str, Any]]) -> list[str]:
    """A training run that succeeds also draws its loss figure (~0.3 s): training bases come up half as often."""
    return sorted(name for name, base in chosen.items() for _ in range(1 if "training" in base else 2))


@st.composite
def mutated(draw: Any, chosen: dict[str, dict[str, Any]]) -> tuple[str, bytes, str]:
    """A bundled scenario with 1 to 3 key-level mutations: (base, YAML bytes, what was done)."""
    name = draw(st.sampled_from(_weighted(chosen)))
    document = copy.deepcopy(chosen[name])
    raws: dict[str, str] = {}
    done = []
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(document)
        op = draw(st.sampled_from(["value", "raw", "drop", "unknown", "wrap"] if paths else ["unknown"]))
        path = draw(st.sampled_from(paths)) if paths else ()
        if op == "unknown":
            targets = [()] + [p for p in paths if isinstance(_parent(document, (*p, 0)), dict)]
            where = draw(st.sampled_from(targets))
            holder = _parent(document, (*where, 0))
            if isinstance(holder, dict):
                holder[draw(UNKNOWN_KEYS)] = draw(_VALUES)
            done.append(f"unknown key at {where}")
            continue
        parent, last = _parent(document, path), path[-1]
        if op == "drop":
            del parent[last]
        elif op == "value":
            parent[last] = draw(_VALUES)
        elif op == "wrap":
            parent[last] = draw(st.sampled_from([[parent[last]], {"x": parent[last]}, [parent[last], parent[last]]]))
        else:
            placeholder = f"RAWVALUE{len(raws)}"
            raws[placeholder] = draw(st.sampled_from(RAW))
            parent[last] = placeholder
        done.append(f"{op} {path}")
    text = _dump(document)
    for placeholder, raw in raws.items():
        text = text.replace(f'"{placeholder}"', raw).replace(f"'{placeholder}'", raw).replace(placeholder, raw)
    if draw(st.integers(0, 9)) == 0:  # a top-level key given twice
        text += f"{draw(st.sampled_from(['workers', 'name', 'topology', 'algorithms']))}: 4\n"
        done.append("duplicate key")
    return name, text.encode("utf-8", "surrogatepass"), "; ".join(done)


@st.composite
def corrupted(draw: Any, chosen: dict[str, dict[str, Any]]) -> tuple[str, bytes | None, str]:
    """A whole-file corruption of a bundled scenario: (base, bytes or None for a directory, what)."""
    name = draw(st.sampled_from(_weighted(chosen)))
    text = _dump(chosen[name]).encode("utf-8")
    kind = draw(st.sampled_from(["bytes", "truncate", "non_utf8", "nul", "flip", "empty", "deep", "bomb", "bom",
                                 "directory", "anchors", "tabs"]))
    if kind == "bytes":
        return name, draw(st.binary(max_size=300)), kind
    if kind == "truncate":
        return name, text[: draw(st.integers(0, len(text)))], kind
    at = draw(st.integers(0, len(text)))
    if kind == "non_utf8":
        return name, text[:at] + draw(st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\x80\x80", b"\xed\xa0\x80"])) + text[at:], kind
    if kind == "nul":
        return name, text[:at] + b"\x00" + text[at:], kind
    if kind == "flip":
        data = bytearray(text)
        if data:
            data[min(at, len(data) - 1)] ^= 1 << draw(st.integers(0, 7))
        return name, bytes(data), kind
    if kind == "empty":
        return name, draw(st.sampled_from([b"", b"\n", b"---\n", b"# only a comment\n", b"---\n---\n", b"..."])), kind
    if kind == "deep":
        depth = draw(st.integers(60, 5000))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        return name, text + f"extra: {opener * depth}1{closer * depth}\n".encode(), kind
    if kind == "bomb":
        levels = draw(st.integers(3, 9))
        lines = ["b0: &b0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 10)}]" for i in range(1, levels)]
        return name, text + ("\n".join(lines) + "\n").encode(), kind
    if kind == "bom":
        return name, b"\xef\xbb\xbf" + text, kind
    if kind == "directory":
        return name, None, kind
    if kind == "anchors":
        return name, b"base: &b {kind: star}\n" + text.replace(b"{kind: star", b"{<<: *b, kind: star"), kind
    return name, text.replace(b"  ", b"\t", draw(st.integers(1, 3))), kind


# Bare numbers that are surely a missing unit, each with how the error line shows it (issue 17).
BARE_BANDWIDTHS = [(100, "100"), ("100", "100"), (400, "400"), (12.5, "12.5"), ("1e5", "1e5"), (999_999, "999999"),
                   (1, "1"), (" 25 ", "25")]
BARE_LATENCIES = [(5, "5"), ("5", "5"), (1, "1"), (2.5, "2.5"), ("1e3", "1e3"), (100, "100")]
# Mappings below the top whose keys a typo may hit (every single-letter typo of their keys and of the top
# level's is closest to the key it came from: tests/test_scenario.py checks that).
TYPO_SECTIONS = ("training", "faults", "stragglers")


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(step) for step in path)


def _unit_keys(value: Any, path: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Paths of the keys ending in bandwidth or latency below ``value`` (a topology or stragglers section)."""
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).endswith(("bandwidth", "latency")):
                found.append((*path, key))
            else:
                found += _unit_keys(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _unit_keys(item, (*path, index))
    return found


def _misspelt(draw: Any, key: str) -> str:
    """``key`` with one letter dropped, doubled, or swapped with the next."""
    i = draw(st.integers(0, len(key) - 2))
    how = draw(st.sampled_from(["drop", "double", "swap"]))
    if how == "drop":
        return key[:i] + key[i + 1:]
    if how == "double":
        return key[:i] + key[i] + key[i:]
    return key[:i] + key[i + 1] + key[i] + key[i + 2:] if key[i] != key[i + 1] else key[:i] + key[i + 1:]


@st.composite
def trapped(draw: Any, chosen: dict[str, dict[str, Any]]) -> tuple[str, bytes, str, str]:
    """One input trap on a bundled scenario, whose error line is known: (base, YAML bytes, what, expected)."""
    name = draw(st.sampled_from(_weighted(chosen)))
    document = copy.deepcopy(chosen[name])
    kind = draw(st.sampled_from(["bare", "typo", "long_bomb"]))
    if kind == "bare":
        paths = [path for key in ("topology", "topologies", "stragglers") for path in _unit_keys(document.get(key), (key,))]
        topology = document["topology"] if "topology" in document else document["topologies"][0]
        path = draw(st.sampled_from(paths)) if paths else ("topology", "bandwidth") if "topology" in document else (
            "topologies", 0, "bandwidth")
        value, written = draw(st.sampled_from(BARE_BANDWIDTHS if str(path[-1]).endswith("bandwidth") else BARE_LATENCIES))
        (_parent(document, path) if paths else topology)[path[-1]] = value
        return name, _dump(document).encode(), f"bare {path} = {value!r}", f"{_dotted(path)}: a bare {written} is "
    if kind == "typo":
        sections = [(key,) for key in TYPO_SECTIONS if isinstance(document.get(key), dict) and document[key]]
        where = draw(st.sampled_from([(), *sections]))
        holder = _parent(document, (*where, 0))
        key = draw(st.sampled_from([key for key in holder if len(key) >= 3]))
        typo = _misspelt(draw, key)
        renamed = {(typo if k == key else k): v for k, v in holder.items()}
        if where:
            _parent(document, where)[where[-1]] = renamed
        else:
            document = renamed
        return name, _dump(document).encode(), f"typo {key!r} -> {typo!r}", \
            f"{_dotted((*where, typo))}: unknown key; did you mean {key!r}?"
    length, levels = draw(st.integers(500, 5000)), draw(st.integers(5, 6))  # 11,111 × 500 > 4e6 characters
    lines = [f"lb0: &lb0 {'x' * length}"] + [f"lb{i}: &lb{i} [{', '.join([f'*lb{i - 1}'] * 10)}]" for i in range(1, levels)]
    return name, (_dump(document) + "\n".join(lines) + "\n").encode(), f"long_bomb {length} x {levels}", \
        "characters (aliases repeating long strings?)"


OUTS = st.sampled_from(["fresh"] * 7 + ["stale", "file", "under_file"])

_STAR = "topology: {kind: star, bandwidth: 8 Gbit/s, latency: 1 us}\n"
REPRODUCTIONS = [  # issue 17's fault edge cases: each once a hang, a traceback, or a false "finished"
    "name: r\nworkers: 2\nparams: 1\nalgorithms: [ring_allreduce]\ntopology: {kind: star, bandwidth: 1e10, latency: 0}\n"
    "stragglers: {compute: 1 ms}\n",
    "name: r\nworkers: 3\nparams: 1\nalgorithms: [ring_allreduce]\ntopology: {kind: star, bandwidth: 1e10, latency: 0}\n"
    "faults: {crash: [{worker: 0, at: 1 s}]}\n",
    "name: r\nworkers: 8\nparams: 64\nalgorithms: [double_binary_tree]\n" + _STAR
    + "stragglers: {compute: 1 ms}\nfaults: {crash: [{worker: 3, at: 1.0001 ms}]}\n",
    "name: r\nworkers: 8\nparams: 64\nalgorithms: [parameter_server]\n" + _STAR
    + "stragglers: {compute: 1 ms}\nfaults: {drop_stragglers: 1, crash: [{worker: 5, at: 1.0001 ms}]}\n",
    "name: r\nworkers: 2\nparams: 64\nalgorithms: [ring_allreduce]\n" + _STAR
    + "faults: {crash: [{worker: 0, at: 0 s}, {worker: 1, at: 0 s}]}\n",
    "name: r\nworkers: 2\nparams: 64\nalgorithms: [ring_allreduce]\n" + _STAR
    + "faults: {link_down: [{between: [1, switch], at: 1 s}]}\n",
    "name: r\nworkers: 3\nparams: 64\nalgorithms: [ring_allreduce]\ntopology: {kind: ring, bandwidth: 8 Gbit/s}\n"
    "faults: {link_down: [{between: [0, 1], at: 0 s}, {between: [0, 1], at: 1 us}]}\n",
    "name: r\nworkers: 4\nparams: 64\nalgorithms: [parameter_server, ring_allreduce]\n" + _STAR
    + "faults: {link_down: [{between: [server, switch], at: 1 us}]}\n",
    "name: r\nworkers: 4\nparams: 64\nalgorithms: [ring_allreduce]\n" + _STAR
    + "stragglers: {compute: 1.0e+308, slowdown: {3: 4}}\n",
    "name: r\nworkers: 4\nparams: 64\nalgorithms: [ring_allreduce]\n" + _STAR
    + "stragglers: {compute: 1 ms, slowdown: {3: 1e1}}\n",
    "name: r\nworkers: 4\nparams: 64\nalgorithms: [ring_allreduce]\n" + _STAR
    + "stragglers: {compute: 1 ms, slowdown: [1, 2, 3, 4, 5]}\n",
    "name: r\nworkers: 4\nparams: 64\nalgorithms: [parameter_server]\n" + _STAR + "faults: {drop_stragglers: true}\n",
]


def cases(chosen: dict[str, dict[str, Any]]) -> st.SearchStrategy[Case]:
    """Cases that mutate keys (three branches of six), corrupt the whole file, set an input trap (its error
    line is known) or reproduce one of issue 17's fault edge cases as it was reported; hypothesis favours the
    first branches, so most mutate. Most write into a fresh --out."""
    def plain(made: st.SearchStrategy[Any]) -> st.SearchStrategy[Case]:
        return st.builds(lambda made, out: Case(made[1], out, made[0], made[2]), made, OUTS)

    reproduced = st.sampled_from(REPRODUCTIONS).map(lambda text: ("reproduction", text.encode(), "issue 17"))
    trap = st.builds(lambda made, out: Case(made[1], out, made[0], made[2], made[3]), trapped(chosen), OUTS)
    return st.one_of(plain(mutated(chosen)), plain(mutated(chosen)), plain(mutated(chosen)), plain(corrupted(chosen)),
                     trap, plain(reproduced))


BASES = bases()
CASES = cases(BASES)
"""The cases of the fuzz test: the bundled scenarios at toy sizes."""
FULL_SIZE_CASES = cases(bases(shrink=False))
"""The bundled scenarios at their own sizes (for ``benchmarks/fuzz_cli.py --full-size``)."""
