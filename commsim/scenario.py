"""Scenario files: the only reader of YAML. Validated with pydantic, human units parsed.

Every error becomes one ``ScenarioError`` line naming the file, the key and the value.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import scenario_file, units
from .errors import CommsimError, ScenarioError, TopologyError, shown

DEFAULT_SCENARIO = "textbook.yaml"
VALIDATE_UP_TO = 250_000  # nodes plus links of the topologies built at load time to check them (~1 s)
BIAS_SCENARIO = "implicit_bias.yaml"


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


def _known(name: str, registry: Any, what: str) -> str:
    """``name`` if ``registry`` has it, else a ValueError listing what is known (the closest first, the
    list cut to a line)."""
    if name not in registry:
        import difflib

        close = difflib.get_close_matches(str(name), list(registry), n=3, cutoff=0.6)
        names = [*close, *(known for known in registry if known not in close)]
        listed = shown(", ".join(names), 110, quote=False)
        raise ValueError(f"unknown {what} {shown(name, 40)}; " + (f"did you mean {close[0]}? " if close else "") + f"known: {listed}")
    return name


def _positive(value: float, key: str) -> float:
    if not value > 0:
        raise ValueError(f"{key} must be > 0, got {value!r}")
    if value < units.MIN_BANDWIDTH:
        raise ValueError(f"{key} must be at least 1 bit/s, got {value!r} B/s")
    return value


def _non_negative(value: float, key: str) -> float:
    if not value >= 0:
        raise ValueError(f"{key} must be >= 0, got {value!r}")
    if value > units.MAX_SECONDS:
        raise ValueError(f"{key} must be at most {units.MAX_SECONDS:g} s (about 32 years), got {value!r} s")
    return value


MAX_FACTOR = 1e6  # the most a slowdown or a compute jitter may stretch a worker's compute


def _at_most_max_seconds(seconds: float) -> float:
    if seconds > units.MAX_SECONDS:
        raise ValueError(f"at most {units.MAX_SECONDS:g} s (about 32 years) of simulated time")
    return seconds


def _at_least_min_bandwidth(bandwidth: float) -> float:
    if bandwidth < units.MIN_BANDWIDTH:
        raise ValueError("at least 1 bit/s")
    return bandwidth


def _at_least_one_flop_per_second(rate: float) -> float:
    if rate < 1:
        raise ValueError("at least 1 FLOP/s (compute times must stay finite)")
    return rate


def _at_most_max_factor(factor: float) -> float:
    if factor > MAX_FACTOR:
        raise ValueError(f"at most {MAX_FACTOR:g} (a compute a million times longer)")
    return factor


MAX_SWEEP_POINTS = 100_000  # values one key may expand to


def _integral(parse: Any) -> Any:
    return parse is units.parse_count


def sweep_values(value: Any, parse: Any) -> list[Any]:
    """What one sweepable key stands for: a scalar is one value, a list each of its values, and a range
    ``{from: A, to: B, factor: f}`` (geometric, f > 1) or ``{from: A, to: B, step: s}`` (arithmetic)
    every value from A up to B inclusive (``parse`` reads its ends and step), integers staying integers."""
    if isinstance(value, list):  # each item is validated in place, so errors name its index
        return value
    if not isinstance(value, dict):
        return [value]
    unknown = sorted(set(map(str, value)) - {"from", "to", "factor", "step"})
    if unknown:
        raise ValueError(f"a range takes from, to and factor or step; unknown key {unknown[0]!r}")
    if "from" not in value or "to" not in value or ("factor" in value) == ("step" in value):
        raise ValueError("a range needs 'from', 'to' and exactly one of 'factor' or 'step'")
    start, stop = parse(value["from"]), parse(value["to"])
    if max(abs(start), abs(stop)) >= 2**63:
        raise ValueError("range ends must be below 2^63")
    if start > stop:
        raise ValueError(f"range from {value['from']!r} is above to {value['to']!r}")
    if "factor" in value:
        factor = value["factor"]
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 1 < factor < float("inf"):
            raise ValueError(f"range factor must be a number > 1, got {factor!r}")
        if start <= 0:
            raise ValueError(f"a geometric range must start above 0, got {value['from']!r}")
        count = int(math.log(stop / start) / math.log(factor) + 1e-9) + 1
        points = [start * factor**i for i in range(min(count, MAX_SWEEP_POINTS + 1))]
    else:
        step = parse(value["step"])
        if not step > 0:
            raise ValueError(f"range step must be > 0, got {value['step']!r}")
        count = int((stop - start) / step + 1e-9) + 1
        points = [start + i * step for i in range(min(count, MAX_SWEEP_POINTS + 1))]
    if count > MAX_SWEEP_POINTS:
        raise ValueError(f"the range has {count} values; at most {MAX_SWEEP_POINTS} are allowed")
    if _integral(parse) or isinstance(start, int):
        points = list(dict.fromkeys(int(round(point)) for point in points))
    return points


def _sweep(parse: Any) -> BeforeValidator:
    return BeforeValidator(lambda value: sweep_values(value, parse))


# Topology keys that are never swept: names, lists that are one value (links; dims unless a list of lists).
_NOT_SWEPT = ("kind", "label", "links")


def _option_parser(key: str) -> Any:
    if key.endswith("bandwidth"):
        return units.parse_bandwidth
    if key.endswith("latency"):
        return units.parse_time
    return lambda value: value


def expand_topology(spec: Any) -> list[Any]:
    """A topology mapping whose options hold lists or ranges -> one mapping per combination, each labelled
    with the values that tell it apart (``torus dims=4x4``). ``dims: [4, 4]`` is one value; ``dims:
    [[4, 4], [2, 8]]`` sweeps."""
    if not isinstance(spec, dict):
        return [spec]
    swept: dict[str, list[Any]] = {}
    for key, value in spec.items():
        if key in _NOT_SWEPT or not isinstance(value, (list, dict)):
            continue
        if key == "dims" and not (isinstance(value, list) and value and all(isinstance(v, list) for v in value)):
            continue
        parse = units.parse_count if key in ("servers", "k", "nodes", "gpus_per_node", "nics_per_node", "arity") else None
        if isinstance(value, dict) and parse is None:
            parse = _option_parser(key)
            if parse is not units.parse_bandwidth and parse is not units.parse_time:
                raise ValueError(f"{key}: a range needs a numeric option")
        try:
            swept[key] = sweep_values(value, parse or (lambda item: item)) if isinstance(value, dict) else list(value)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{key}: {error}") from None
    if not swept:
        return [spec]
    base = spec.get("label") or spec.get("kind")
    expanded = []
    for combination in itertools.product(*swept.values()):
        one = dict(spec)
        one.update(zip(swept, combination))
        shown = " ".join(f"{key}={_show_value(value)}" for key, value in zip(swept, combination))
        one["label"] = f"{base} {shown}"
        expanded.append(one)
    return expanded


def _show_value(value: Any) -> str:
    if isinstance(value, list):
        return "x".join(map(str, value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


Bandwidth = Annotated[float, BeforeValidator(units.parse_bandwidth), Field(gt=0), AfterValidator(_at_least_min_bandwidth)]
FlopRate = Annotated[float, BeforeValidator(units.parse_rate), Field(gt=0), AfterValidator(_at_least_one_flop_per_second)]
Latency = Annotated[float, BeforeValidator(units.parse_time), Field(ge=0), AfterValidator(_at_most_max_seconds)]
MAX_COUNT = 2**53  # any count above this is absurd, and floats would round it
MAX_WORKERS = 1 << 22  # 4,194,304: the closed forms take O(n) time, a second at this size
Count = Annotated[int, BeforeValidator(units.parse_count), Field(gt=0, le=MAX_COUNT)]
WorkerCount = Annotated[int, BeforeValidator(units.parse_count), Field(gt=0, le=MAX_WORKERS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _limit(key: str) -> BeforeValidator:
    from . import budget

    return BeforeValidator(lambda value: budget.parse_limit(key, value))


class BudgetSpec(_Strict):
    """What one run may take before it is refused (see :mod:`commsim.budget`): ``memory`` ("8 GB"),
    ``messages`` and ``events`` (counts); unset ones keep ``COMMSIM_BUDGET``'s or the machine's."""

    memory: Annotated[float, _limit("memory")] | None = None
    messages: Annotated[float, _limit("messages")] | None = None
    events: Annotated[float, _limit("events")] | None = None


class LinkOverride(_Strict):
    """One edge with its own bandwidth and/or latency: ``{between: [0, switch], bandwidth: ...}``."""

    between: tuple[StrictInt | str, StrictInt | str]
    bandwidth: Bandwidth | None = None
    latency: Latency | None = None


class TopologySpec(BaseModel):
    """Which topology, the bandwidth and latency of its links, and its own options (``dims``,
    ``k``, ``nodes``, ``nic_bandwidth``, ...: keys ending in ``bandwidth``/``latency`` take units)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str
    label: str | None = None  # how tables name this network (default: its kind)
    bandwidth: Bandwidth = 100e9 / 8
    latency: Latency = 0.0
    servers: Annotated[int, Field(ge=1, le=MAX_WORKERS)] | None = None  # parameter servers (default 1 when needed)
    links: list[LinkOverride] = []

    @property
    def options(self) -> dict[str, Any]:
        """The generator's own keyword arguments, units parsed."""
        options = dict(self.model_extra or {})
        for key, value in options.items():
            try:
                if key.endswith("bandwidth"):
                    options[key] = _positive(units.parse_bandwidth(value), key)
                elif key.endswith("latency"):
                    options[key] = _non_negative(units.parse_time(value), key)
            except units.UnitError as error:
                raise ValueError(f"{key}: {error}") from None
        return options

    @model_validator(mode="after")
    def _options_parse(self) -> TopologySpec:
        self.options  # noqa: B018  (raises on a bad unit)
        return self

    @property
    def title(self) -> str:
        if self.label:
            return self.label
        if self.kind == "cluster" and "preset" in self.options:  # name the machine: "cluster hgx-h100 x2"
            nodes = self.options.get("nodes")
            return f"cluster {self.options['preset']}" + (f" x{nodes}" if nodes else "")
        return self.kind

    def server_count(self, algorithms: list[str]) -> int:
        """How many servers to place: as asked, else one if an algorithm needs a server."""
        if not any(_has_server(name) for name in algorithms):
            return 0
        return self.servers or 1

    def build(self, n: int, algorithms: list[str]) -> Any:
        """The topology for n workers (validated, overrides applied)."""
        from .network.topology import build

        return build(
            self.kind, n, self.bandwidth, self.latency, servers=self.server_count(algorithms),
            overrides=[link.model_dump() for link in self.links], **self.options,
        )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        from .network.topology import TOPOLOGIES

        return _known(kind, TOPOLOGIES, "topology")


class OptimizerSpec(BaseModel):
    """An optimizer by name, its wire format, and its keyword arguments (``alpha``, ``b1``, ...)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    wire: Literal["fp64", "fp32", "fp16", "sign"] = "fp32"
    schedule: Literal["constant", "inverse_sqrt"] = "constant"
    label: str | None = None

    @property
    def kwargs(self) -> dict[str, Any]:
        """The optimizer's own arguments, the step size wrapped in the schedule."""
        import optim

        kwargs = dict(self.model_extra or {})
        for step_size in ("alpha", "learning_rate"):
            if step_size in kwargs and self.schedule == "inverse_sqrt":
                kwargs[step_size] = optim.inverse_sqrt(kwargs[step_size])
        return kwargs

    @property
    def title(self) -> str:
        """How tables and plots name this optimizer."""
        return self.label or (self.name if self.wire == "fp32" else f"{self.name}/{self.wire}")

    def build(self) -> Any:
        """A fresh ``optim.GradientTransformation``."""
        import optim

        return optim.get(self.name, **self.kwargs)

    @model_validator(mode="after")
    def _buildable(self) -> OptimizerSpec:
        import math

        import optim

        for step_size in ("alpha", "learning_rate"):
            value = (self.model_extra or {}).get(step_size)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise ValueError(f"{step_size} must be a finite number > 0, got {value!r}")

        _known(self.name, sorted(optim.OPTIMIZERS), "optimizer")
        if self.wire == "sign" and self.name not in optim.SIGN_TYPE:
            raise ValueError(
                f"wire 'sign' carries only sign(g) and one scale; optimizer {self.name!r} needs the whole gradient "
                f"(sign-type optimizers: {', '.join(sorted(optim.SIGN_TYPE))})"
            )
        try:
            self.build()
        except (TypeError, ValueError) as error:
            raise ValueError(f"optimizer {self.name!r}: {error}") from None
        return self


class ComputeSpec(_Strict):
    """How fast each worker computes."""

    flops_per_second: FlopRate = 10e12


class TrainingSpec(_Strict):
    """What the workers train, on which data, with which optimizers."""

    model: Literal["linear_regression", "logistic_regression", "mlp"]
    dataset: str = "synthetic"
    samples: Count = 4096
    features: Count = 20
    classes: Annotated[int, Field(ge=2)] = 2
    hidden: Count = 32
    steps: Count
    batch_per_worker: Count = 32
    optimizer: Annotated[list[OptimizerSpec], BeforeValidator(_as_list), Field(min_length=1)]
    compute: ComputeSpec = ComputeSpec()

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        from .training.datasets import DATASETS

        return _known(name, DATASETS, "dataset")

    @model_validator(mode="after")
    def _model_fits_dataset(self) -> TrainingSpec:
        if self.model == "linear_regression" and self.dataset != "synthetic":
            raise ValueError(
                f"model: linear_regression needs a regression dataset; {self.dataset!r} is a classification "
                "dataset (use dataset: synthetic, or a classifier)"
            )
        return self


def _factor(value: Any, where: str = "") -> float:
    """A slowdown factor: a number (YAML reads ``1e1`` as text: it is 10 here, as ``1e6`` is elsewhere)."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 < number < float("inf"):
        raise ValueError(f"{where}a slowdown factor must be a number > 0, got {_short(value)}")
    if number > MAX_FACTOR:
        raise ValueError(f"{where}a slowdown factor is at most {MAX_FACTOR:g} (a worker a million times slower), "
                         f"got {_short(value)}")
    return float(number)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _slowdown(value: Any) -> Any:
    """``{worker: factor}``, ``[factor, ...]`` or ``{lognormal: sigma}`` / ``{uniform: [low, high]}``."""
    if isinstance(value, list):
        return [_factor(item, f"item {i}: ") for i, item in enumerate(value)]
    if not isinstance(value, dict):
        raise ValueError("give {worker: factor}, a list of factors, {lognormal: sigma} or {uniform: [low, high]}")
    if any(key in ("lognormal", "uniform") for key in value):
        if len(value) != 1:
            raise ValueError("a distribution is one of {lognormal: sigma} or {uniform: [low, high]}")
        ((name, arg),) = value.items()
        if name == "lognormal":
            if isinstance(arg, bool) or not isinstance(arg, (int, float)) or not 0 <= arg <= 10:
                raise ValueError(f"lognormal: sigma must be a number from 0 to 10, got {_short(arg)}")
        elif not (isinstance(arg, list) and len(arg) == 2 and 0 < _factor(arg[0], "uniform: ") <= _factor(arg[1], "uniform: ")):
            raise ValueError(f"uniform: give [low, high] with 0 < low <= high, got {_short(arg)}")
        return {name: arg}
    factors = {}
    for worker, factor in value.items():
        if isinstance(worker, bool) or not isinstance(worker, int):
            raise ValueError(f"a worker is a whole number, got {_short(worker)}")
        factors[worker] = _factor(factor, f"worker {worker}: ")
    return factors


class LinkSpeed(_Strict):
    """A worker's own links: every edge at the worker gets this bandwidth and/or latency."""

    bandwidth: Bandwidth | None = None
    latency: Latency | None = None


class Jitter(_Strict):
    """Seeded noise: each compute takes ``1 + compute·U[0, 1)`` times as long; each message starts up to
    ``message`` late (U[0, message))."""

    compute: Annotated[float, Field(ge=0, allow_inf_nan=False), AfterValidator(_at_most_max_factor)] = 0.0
    message: Latency = 0.0


class StragglerSpec(_Strict):
    """Slow and uneven workers. ``slowdown``: {worker: factor}, a list of factors (worker i gets the i-th;
    the rest 1), or a seeded distribution ``{lognormal: sigma}`` / ``{uniform: [low, high]}``."""

    compute: Latency | None = None  # collectives: each worker's compute before the collective
    slowdown: Annotated[Any, BeforeValidator(_slowdown)] = {}
    links: dict[StrictInt, LinkSpeed] = {}
    jitter: Jitter = Jitter()

    def factors(self, n: int, seed: int) -> list[float]:
        """Each of n workers' compute factor (drawn from ``seed`` and n for a distribution)."""
        import numpy as np

        spec = self.slowdown
        if isinstance(spec, list):
            return [spec[i] if i < len(spec) else 1.0 for i in range(n)]
        if "lognormal" in spec:
            return np.exp(spec["lognormal"] * np.random.default_rng([seed, n, 11]).standard_normal(n)).tolist()
        if "uniform" in spec:
            low, high = spec["uniform"]
            return np.random.default_rng([seed, n, 11]).uniform(low, high, n).tolist()
        return [spec.get(i, 1.0) for i in range(n)]

    def compute_s(self, n: int, seed: int, base: float) -> list[float]:
        """Each worker's compute time: ``base`` × its factor × (1 + compute jitter)."""
        import numpy as np

        noise = np.random.default_rng([seed, n, 13]).random(n)
        return [base * factor * (1 + self.jitter.compute * u) for factor, u in zip(self.factors(n, seed), noise)]


class LinkDown(_Strict):
    """The edge ``between`` two nodes fails at time ``at``."""

    between: tuple[StrictInt | str, StrictInt | str]
    at: Latency = 0.0


class Crash(_Strict):
    """Worker ``worker`` stops at time ``at`` (it sends and receives nothing more)."""

    worker: Annotated[int, Field(ge=0)]
    at: Latency = 0.0


class FaultSpec(_Strict):
    """Failures during a run, and how a parameter server copes with missing gradients."""

    link_down: list[LinkDown] = []
    crash: list[Crash] = []
    drop_stragglers: Count | None = None  # the server proceeds with the first n − k (ties: the lowest ranks)
    backup_workers: Count | None = None  # the same: k of the n workers are backups

    @model_validator(mode="after")
    def _one_mode(self) -> FaultSpec:
        if self.drop_stragglers is not None and self.backup_workers is not None:
            raise ValueError("drop_stragglers: give drop_stragglers or backup_workers, not both")
        return self

    @property
    def dropped(self) -> int | None:
        """k: how many gradients the parameter server does without."""
        return self.drop_stragglers if self.drop_stragglers is not None else self.backup_workers


class RunSpec(NamedTuple):
    """One point of a scenario's sweep (``params`` is None for training runs: the model sets it).
    ``unavailable`` is why the point cannot run (its topology or algorithm cannot take it), else None."""

    algorithm: str
    workers: int
    params: int | None
    optimizer: OptimizerSpec | None = None
    topology: TopologySpec | None = None
    dtype: str = "float32"
    unavailable: str | None = None


DType = Literal["float16", "float32", "float64"]
ITEMSIZE = {"float16": 2, "float32": 4, "float64": 8}


def _dtypes(value: Any) -> list[Any]:
    """``dtype: float32`` or ``dtype: [float16, float32]``; a wrong one is named."""
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, str) or item not in ITEMSIZE:
            known = "'float16', 'float32' or 'float64'"
            raise ValueError(f"Input should be {known}" + (f" (got {item!r} in the list)" if isinstance(value, list) else ""))
    return _as_list(value)


def _whole_bytes(value: Any) -> int:
    nbytes = units.parse_bytes(value)
    if not float(nbytes).is_integer() or nbytes <= 0:
        raise ValueError(f"a size must be a whole number of bytes > 0, got {value!r}")
    return int(nbytes)


def _channels(value: Any) -> Any:
    """``channels``: "auto" (NCCL's count) or a whole number from 1 to 64 (NCCL's MAXCHANNELS)."""
    if value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 64:
        raise ValueError("must be 'auto' or a whole number from 1 to 64 (NCCL's most)")
    return value


NCCL_AUTO = "auto"
NCCL_ALGORITHMS = ("ring_allreduce", "double_binary_tree", NCCL_AUTO)
"""What ``model: nccl`` runs: NCCL's ring, NCCL's (pipelined, chained) tree for the double binary tree, and
``auto``: whichever of the two NCCL's tuner picks for each size."""


def _has_server(name: str) -> bool:
    """Whether an algorithm needs a parameter server (``auto``, NCCL's pick, never does)."""
    from .collectives import get

    return name != NCCL_AUTO and get(name).server is not None


class Scenario(_Strict):
    """A whole scenario: what to run, on which network, at which sizes."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
    seed: int = Field(default=0, ge=0, le=2**64 - 1)
    workers: Annotated[list[WorkerCount], _sweep(units.parse_count), Field(min_length=1)]
    params: Annotated[list[Count], _sweep(units.parse_count), Field(min_length=1)] | None = None
    size: Annotated[list[Annotated[int, BeforeValidator(_whole_bytes)]], _sweep(_whole_bytes), Field(min_length=1)] | None = None  # bytes, as nccl-tests
    dtype: Annotated[list[DType], BeforeValidator(_dtypes), Field(min_length=1)] = ["float32"]
    topology: TopologySpec | None = None
    topologies: Annotated[list[TopologySpec], Field(min_length=1)] | None = None
    algorithms: Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]
    schedule_files: dict[str, str] = {}  # registry name → file, for algorithms given as {schedule: FILE}
    payload: Literal["data", "size-only"] = "data"
    gamma: Latency = 0.0  # seconds per byte a worker spends combining data (reduction cost)
    engine: Literal["simulate", "schedule", "analytic"] = "simulate"
    model: Literal["alpha-beta", "nccl"] = "alpha-beta"  # the textbook's, or collectives as NCCL runs them
    protocol: Literal["auto", "ll", "ll128", "simple"] = "auto"  # model nccl: NCCL's protocol (auto: its tuner's pick)
    channels: Annotated[Literal["auto"] | int, BeforeValidator(_channels)] = "auto"  # model nccl: rings at once (auto: NCCL's)
    training: TrainingSpec | None = None
    stragglers: StragglerSpec | None = None
    faults: FaultSpec | None = None
    budget: BudgetSpec | None = None  # limits of a run (and of all runs' events); see commsim.budget

    @model_validator(mode="before")
    @classmethod
    def _imported_schedules(cls, data: Any) -> Any:
        """Algorithms given as ``{schedule: FILE}`` are read, checked and registered; the scenario keeps
        their registry names and, in ``schedule_files``, where they came from (so a worker process or
        ``commsim plot`` registers them again)."""
        if not isinstance(data, dict):
            return data
        from .collectives.imported import ensure_registered

        files = data.get("schedule_files") or {}
        if not isinstance(files, dict):
            raise ValueError("schedule_files: must be a mapping of algorithm names to schedule files")
        files = dict(files)
        for path in files.values():
            ensure_registered(path)
        algorithms = data.get("algorithms")
        names, imported = [], False
        for i, entry in enumerate(algorithms if isinstance(algorithms, list) else [algorithms]):
            if isinstance(entry, dict):
                if set(entry) != {"schedule"} or not isinstance(entry["schedule"], str):
                    raise ValueError(f"algorithms[{i}]: an algorithm is a name or {{schedule: FILE}} (a JSON schedule)")
                path = entry["schedule"]
                entry = ensure_registered(path)
                files[entry], imported = path, True
            names.append(entry)
        if imported:
            data = {**data, "algorithms": names}
        return {**data, "schedule_files": files} if files else data

    @field_validator("algorithms")
    @classmethod
    def _known_algorithms(cls, names: list[str]) -> list[str]:
        from .collectives import REGISTRY

        return [name if name == NCCL_AUTO else _known(name, REGISTRY, "algorithm") for name in names]

    @model_validator(mode="before")
    @classmethod
    def _expand_topologies(cls, data: Any) -> Any:
        """Topology options given as lists or ranges become one topology per combination, expanded once (a
        swept ``topology`` becomes ``topologies``, which is not expanded again)."""
        if not isinstance(data, dict):
            return data
        given = [key for key in ("topology", "topologies") if data.get(key) is not None]
        if len(given) > 1:  # before a swept topology would replace the list
            raise ValueError("topology: give either 'topology' or a list 'topologies', not both")
        for key in given:
            specs = data[key]
            many = specs if key == "topologies" and isinstance(specs, list) else [specs]
            expanded = []
            for index, spec in enumerate(many):
                try:
                    expanded.extend(expand_topology(spec))
                except ValueError as error:
                    where = key if key == "topology" else f"{key}.{index}"
                    raise ValueError(f"{where}.{error}") from None
            if key == "topology" and len(expanded) > 1:
                return {k: v for k, v in data.items() if k != "topology"} | {"topologies": expanded}
            if key == "topologies" and expanded:
                return data | {"topologies": expanded}
        return data

    @model_validator(mode="after")
    def _params_or_training(self) -> Scenario:
        given = [key for key in ("params", "size", "training") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError("params: give exactly one of 'params' or 'size' (collectives alone) or a 'training' section"
                             + (f"; got {' and '.join(given)}" if given else ""))
        for nbytes in self.size or ():
            for dtype in self.dtype:
                if nbytes % ITEMSIZE[dtype]:
                    raise ValueError(f"size: {nbytes} B is not a whole number of {dtype} elements")
        if self.training is not None:
            from .collectives import get

            for name in self.algorithms:
                if get(name).kind != "allreduce":
                    raise ValueError(f"algorithms: training needs an all-reduce; {name!r} is a {get(name).kind}")
            if self.training.dataset == "synthetic" and max(self.workers) > self.training.samples:
                raise ValueError(f"workers: {max(self.workers)} workers but only {self.training.samples} samples to shard")
            if self.payload != "data":
                raise ValueError("payload: training needs real data, not 'size-only'")
            from .training.wire import VOTING_ALGORITHMS

            signed = any(opt.wire == "sign" for opt in self.training.optimizer)
            for name in self.algorithms if signed else ():
                if name not in VOTING_ALGORITHMS:
                    raise ValueError(
                        f"training.optimizer: wire 'sign' needs an algorithm that sees whole buffers to vote "
                        f"({', '.join(sorted(VOTING_ALGORITHMS))}); {name!r} adds partial sums, which are not signs"
                    )
        return self

    @property
    def networks(self) -> list[TopologySpec]:
        """The topologies to run on: ``topology``, or each of ``topologies``."""
        return [self.topology] if self.topology is not None else list(self.topologies or ())

    def _network_key(self, index: int) -> str:
        return "topology" if self.topology is not None else f"topologies.{index}"

    @model_validator(mode="after")
    def _runs_fit_topology(self) -> Scenario:
        if self.topology is None and self.topologies is None:
            raise ValueError("topology: Field required (or give a list 'topologies')")
        if self.engine == "analytic" and self.training is not None:
            raise ValueError("engine: 'analytic' answers collectives from their closed forms; training needs 'simulate'")
        if self.engine == "schedule" and self.training is not None:
            raise ValueError("engine: 'schedule' moves sizes only; training needs 'simulate'")
        if self.engine == "schedule" and self.payload != "size-only":
            raise ValueError("engine: 'schedule' moves sizes only, not values; add 'payload: size-only' (or use 'simulate')")
        self._check_model()
        self._check_disturbances()
        if self.schedule_files:
            from .collectives.imported import LOADED

            for name, path in self.schedule_files.items():
                fixed = LOADED[name].workers
                if any(n != fixed for n in self.workers):
                    raise ValueError(f"workers: the schedule in {path} is written for {fixed} workers; got "
                                     f"{', '.join(str(n) for n in sorted(set(self.workers)))}")
                if self.engine == "analytic":
                    raise ValueError(f"engine: 'analytic' needs closed forms, and the schedule in {path} has none")
        failures = {}
        for index, topo in enumerate(self.networks):
            failures[index] = self._check_network(topo, self._network_key(index))
        self._unavailable.update(failures)
        points = [(index, n, name) for index in failures for n in self.workers for name in self.algorithms]
        blocked = [self._blocking(failures[index], n, name) for index, n, name in points]
        first = next((reason for reason in blocked if reason is not None), None)
        if first is not None and (self.training is not None or all(reason is not None for reason in blocked)):
            raise ValueError(first)  # training runs everything; a sweep only needs something runnable
        return self

    @model_validator(mode="after")
    def _within_budget(self, info: ValidationInfo) -> Scenario:
        """Every run's estimated messages, events and memory within the budget (:mod:`commsim.budget`),
        unless the scenario is read back from results it already produced (``parse(..., budget=False)``)."""
        from . import budget

        if (info.context or {}).get("budget") is False:
            return self
        try:
            budget.check(self)
        except CommsimError as error:
            raise ValueError(str(error)) from None
        return self

    def _check_model(self) -> None:
        """``model: nccl`` runs NCCL's ring on cluster presets, as a collective (no training yet)."""
        if self.model == "alpha-beta":
            if NCCL_AUTO in self.algorithms:
                raise ValueError("algorithms: 'auto' (NCCL's pick of ring or tree) needs 'model: nccl'")
            if self.protocol != "auto" or self.channels != "auto":
                raise ValueError(f"{'protocol' if self.protocol != 'auto' else 'channels'}: only with 'model: nccl'")
            return
        if self.training is not None:
            raise ValueError("model: 'nccl' runs collectives; training runs on the 'alpha-beta' model")
        for index, topo in enumerate(self.networks):
            if topo.kind != "cluster":
                raise ValueError(f"{self._network_key(index)}.kind: model 'nccl' needs a 'cluster' topology (a preset), "
                                 f"got {topo.kind!r}")
        other = [name for name in self.algorithms if name not in NCCL_ALGORITHMS]
        if other:
            raise ValueError(f"algorithms: model 'nccl' runs {', '.join(NCCL_ALGORITHMS)} (NCCL's ring and tree); "
                             f"got {other[0]!r}")

    @property
    def disturbed(self) -> bool:
        """Whether runs have stragglers or faults (and so a uniform twin to compare with)."""
        return self.stragglers is not None or self.faults is not None

    def _check_disturbances(self) -> None:
        """Stragglers and faults run on the message engine, against workers and links that exist."""
        if not self.disturbed:
            return
        key = "stragglers" if self.stragglers is not None else "faults"
        if self.engine != "simulate" or self.model != "alpha-beta":
            raise ValueError(f"{key}: stragglers and faults are simulated message by message: use 'engine: simulate' "
                             "and 'model: alpha-beta'")
        fewest = min(self.workers)
        spec = self.stragglers
        if spec is not None:
            if self.training is not None and spec.compute is not None:
                raise ValueError("stragglers.compute: training computes for its model's time; give slowdown instead")
            needs_compute = spec.slowdown or spec.jitter.compute
            if self.training is None and needs_compute and spec.compute is None:
                raise ValueError("stragglers.compute: slowdown and compute jitter scale a compute time; give one "
                                 "(e.g. 'compute: 1 ms')")
            if isinstance(spec.slowdown, list) and len(spec.slowdown) > fewest:
                raise ValueError(f"stragglers.slowdown: {len(spec.slowdown)} factors for workers={fewest}; "
                                 "give at most one per worker")
            for name, ranks in (("slowdown", spec.slowdown if isinstance(spec.slowdown, dict) else {}),
                                ("links", spec.links)):
                for rank in ranks:
                    if isinstance(rank, int) and not 0 <= rank < fewest:
                        raise ValueError(f"stragglers.{name}: no worker {rank} with workers={fewest}")
        faults = self.faults
        if faults is not None:
            failing: dict[frozenset[Any], int] = {}
            for i, down in enumerate(faults.link_down):
                first = failing.setdefault(frozenset(down.between), i)
                if first != i:
                    u, v = down.between
                    raise ValueError(f"faults.link_down.{i}.between: link {u}–{v} already fails (faults.link_down.{first})")
            for i, crash in enumerate(faults.crash):
                if crash.worker >= fewest:
                    raise ValueError(f"faults.crash.{i}.worker: no worker {crash.worker} with workers={fewest}")
            k = faults.dropped
            if k is not None:
                mode = "drop_stragglers" if faults.drop_stragglers is not None else "backup_workers"
                if "parameter_server" not in self.algorithms:
                    raise ValueError(f"faults.{mode}: only 'parameter_server' can proceed without some gradients; "
                                     f"add it to algorithms")
                if k >= fewest:
                    raise ValueError(f"faults.{mode}: the server must keep at least one of {fewest} gradients, got {k}")
                if self.training is not None and any(opt.wire == "sign" for opt in self.training.optimizer):
                    raise ValueError(f"faults.{mode}: the sign vote needs every worker's signs; use wire fp32")

    _unavailable: dict[int, dict[tuple[int, str], str]] = PrivateAttr(default_factory=dict)

    def _servers_for(self, topo: TopologySpec, algorithm: str) -> int:
        return topo.server_count(self.algorithms) if _has_server(algorithm) else 0

    def _blocking(self, failures: dict[tuple[int, str], str], n: int, algorithm: str) -> str | None:
        """Why (n, algorithm) cannot run on a network with these build failures, with the key to blame."""
        graph = "servers" if _has_server(algorithm) else "plain"
        return failures.get((n, "build")) or failures.get((n, graph))

    def _check_network(self, topo: TopologySpec, key: str) -> dict[tuple[int, str], str]:
        """Unknown options refused; each worker count built once (small ones) without and with the servers.
        Returns {(n, what): "key: with workers=n: why"} for what fails: "build" (the topology itself, which
        blocks every algorithm), "plain" (the overrides, without servers) or "servers" (with them)."""
        from .collectives import get
        from .network.options import check, size
        from .network.topology import (
            TOPOLOGIES,
            apply_overrides,
            generator_options,
            validate,
        )

        accepted = generator_options(TOPOLOGIES[topo.kind])
        for option, value in (topo.model_extra or {}).items():
            if option not in accepted:
                known = f"; its options: {shown(', '.join(accepted), 100, quote=False)}" if accepted else ""
                close = _close(option, [*TopologySpec.model_fields, *accepted])
                raise ValueError(f"{key}.{option}: unknown key{close} (got {shown(value)}) for topology {topo.kind!r}"
                                 + ("" if close else known))
        try:
            check(topo.kind, topo.options)
        except TopologyError as error:
            raise ValueError(f"{key}.{error}") from None
        if self.engine == "analytic":
            return {}
        with_server = [name for name in self.algorithms if _has_server(name)]
        graphs = [("plain", key, 0)]
        if with_server:
            graphs.append(("servers", f"algorithms ({', '.join(with_server)})", topo.server_count(self.algorithms)))
        failures: dict[tuple[int, str], str] = {}
        built = 0
        failing = self.faults.link_down if self.faults is not None else []
        for n in sorted(set(self.workers)):
            built += size(topo.kind, n, graphs[-1][2], topo.options)
            if built > VALIDATE_UP_TO:  # the biggest topologies are checked when they are built for the run
                break
            missing = set(range(len(failing)))  # failures whose link no graph of this n has (a server's: with servers)
            for what, culprit, servers in graphs:
                try:
                    graph = TOPOLOGIES[topo.kind](n, topo.bandwidth, topo.latency, servers=servers, **topo.options)
                except (TopologyError, ValueError) as error:
                    failures[n, "build" if what == "plain" else what] = f"{culprit}: with workers={n}: {error}"
                    missing = set()
                    break
                try:
                    apply_overrides(graph, [link.model_dump() for link in topo.links])
                    validate(graph)
                except TopologyError as error:
                    failures[n, what] = f"{key}.links: with workers={n}: {error}"
                missing &= {i for i, down in enumerate(failing) if not graph.has_edge(*down.between)}
            if missing:
                i = min(missing)
                u, v = failing[i].between
                raise ValueError(f"faults.link_down.{i}.between: no link {u}–{v} in {key} with workers={n}")
        return failures

    def _params_and_dtypes(self) -> list[tuple[int, str]]:
        """(params, dtype) pairs: ``params`` × ``dtype``, or each ``size`` in bytes as elements of each dtype."""
        if self.size is not None:
            return [(nbytes // ITEMSIZE[dtype], dtype) for dtype in self.dtype for nbytes in self.size]
        return [(p, dtype) for dtype in self.dtype for p in self.params or ()]

    def runs(self) -> Iterator[RunSpec]:
        """The sweep, in file order: topology × algorithm × workers × (dtype × params, or optimizer for
        training). Points a topology or algorithm cannot take carry the reason in ``unavailable``."""
        for index, topo in enumerate(self.networks):
            failures = self._unavailable.get(index, {})
            if self.training is not None:
                for algorithm, n, opt in itertools.product(self.algorithms, self.workers, self.training.optimizer):
                    yield RunSpec(algorithm, n, None, opt, topo, self.dtype[0])
            else:
                for algorithm, n, (p, dtype) in itertools.product(self.algorithms, self.workers, self._params_and_dtypes()):
                    reason = self._blocking(failures, n, algorithm)
                    yield RunSpec(algorithm, n, p, None, topo, dtype, reason.split(": ", 2)[-1] if reason else None)


class ExperimentScenario(_Strict):
    """A pure-optimization experiment with no network (``experiment: implicit_bias``)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
    experiment: Literal["implicit_bias"]


def _close(name: Any, known: list[str]) -> str:
    """``; did you mean 'x'?`` for the known name closest to a misspelt ``name`` (difflib), or nothing."""
    import difflib

    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _models_in(annotation: Any) -> list[Any]:
    """The types an annotation stands for: ``X | None``, ``Annotated[X, ...]`` unwrapped."""
    import typing

    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _models_in(typing.get_args(annotation)[0])
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        return [kind for arg in typing.get_args(annotation) for kind in _models_in(arg)]
    return [annotation]


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a mapping at ``loc`` (a pydantic error location inside ``model``) may hold: its model's fields."""
    import typing

    kinds: list[Any] = [model]
    for step in loc:
        inner = []
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                field = kind.model_fields.get(step) if isinstance(step, str) else None
                inner += _models_in(field.annotation) if field is not None else []
            elif typing.get_origin(kind) in (list, tuple, dict) and typing.get_args(kind):
                inner += _models_in(typing.get_args(kind)[-1])  # items of a list, values of a mapping
        kinds = inner
    return [name for kind in kinds if isinstance(kind, type) and issubclass(kind, BaseModel) for name in kind.model_fields]


MAX_MESSAGE = 240  # characters of an error after the file name; a longer one has a long value echoed in it


def _bounded(message: str) -> str:
    """``message`` cut to ``MAX_MESSAGE`` characters in the middle, where a long echoed value sits, so the
    key it starts with and what it ends with (the known names, the fix) stay."""
    if len(message) <= MAX_MESSAGE:
        return message
    head = (MAX_MESSAGE - 1) * 2 // 3
    return message[:head] + "…" + message[len(message) - (MAX_MESSAGE - 1 - head):]


def _describe(error: ValidationError, source: str, model: type[BaseModel]) -> str:
    """The first pydantic error as one line: file: key: message (got value). An unknown key comes first,
    with the known key it is closest to: a misspelt required key is also reported missing, and the
    misspelling is what to fix."""
    errors = error.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a whole-scenario check: its message starts with the key
        return f"{source}: {_bounded(message)}"
    key = ".".join(shown(part, 30, quote=False) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        message = "unknown key" + _close(first["loc"][-1], _fields_at(model, first["loc"][:-1]))
    got = first.get("input")
    echoed_already = isinstance(got, str) and len(got) > 20 and repr(got)[:20] in message  # a long value, once
    echoed = "" if isinstance(got, (dict, list)) or got is None or echoed_already else f" (got {shown(got)})"
    return f"{source}: {_bounded(f'{key}: {message}{echoed}')}"


def _check_top_level(data: dict[Any, Any], model: type[BaseModel], source: str) -> None:
    """An unknown top-level key is named, with the known key it is closest to (``algoritms``: did you mean
    'algorithms'?), before anything else: else a misspelt required key reads as a missing one. A scenario
    without ``experiment`` may have misspelt that key, so it is among the suggestions."""
    for key, value in data.items():
        if key not in model.model_fields:
            known = [*model.model_fields, *(["experiment"] if model is Scenario else [])]
            echoed = "" if isinstance(value, (dict, list)) or value is None else f" (got {shown(value)})"
            raise ScenarioError(f"{source}: {shown(key, 40, quote=False)}: unknown key{_close(key, known)}{echoed}")


def parse(data: Any, source: str = "<scenario>", budget: bool = True) -> Scenario | ExperimentScenario:
    """Validate an already-loaded mapping (an ``experiment`` key makes it an experiment); ``budget=False``
    skips the budget, for a scenario read back from the results it produced."""
    if data is None:
        raise ScenarioError(f"{source}: is empty; a scenario is a mapping of keys (name, workers, topology, ...)")
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping of keys, got {type(data).__name__}")
    model = ExperimentScenario if "experiment" in data else Scenario
    _check_top_level(data, model, source)
    try:
        return model.model_validate(data, context={"budget": budget})
    except ValidationError as error:
        raise ScenarioError(_describe(error, source, model)) from None


def _check_units_written(data: Any, source: str) -> None:
    """A link's bandwidth or latency written as a bare number where that is surely a missing unit is refused
    (:func:`commsim.units.check_bare_bandwidth`, :func:`~commsim.units.check_bare_latency`): every key ending
    in ``bandwidth`` or ``latency`` in ``topology``, ``topologies`` and ``stragglers``, each value of a sweep
    list and each end and step of a range. Only what a person wrote: results read back hold SI numbers."""
    if not isinstance(data, dict):
        return
    for key in ("topology", "topologies", "stragglers"):
        if key in data:
            _check_units_below(data[key], (key,), source)


def _check_units_below(value: Any, path: tuple[Any, ...], source: str) -> None:
    """:func:`_check_units_written` for ``value``, found at ``path`` (named in the error)."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_units_below(item, (*path, index), source)
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        name = str(key)
        check = (units.check_bare_bandwidth if name.endswith("bandwidth") else
                 units.check_bare_latency if name.endswith("latency") else None)
        if check is None:
            _check_units_below(item, (*path, key), source)
            continue
        written = (enumerate(item) if isinstance(item, list) else
                   ((end, item[end]) for end in ("from", "to", "step") if end in item) if isinstance(item, dict) else
                   [(None, item)])
        for step, one in written:
            try:
                check(one)
            except units.UnitError as error:
                where = ".".join(shown(part, 30, quote=False) for part in (*path, key, *([] if step is None else [step])))
                raise ScenarioError(f"{source}: {where}: {error}") from None


def load_bundled(name: str = DEFAULT_SCENARIO) -> Scenario | ExperimentScenario:
    """A scenario shipped inside the package (``commsim.scenarios``)."""
    folder = resources.files("commsim.scenarios")
    source = f"<bundled {name}>"
    data = scenario_file.parse_yaml((folder / name).read_text(encoding="utf-8"), source)
    _check_units_written(data, source)
    return parse(_paths_beside(data, Path(str(folder))), source)


def bundled() -> dict[str, str]:
    """The bundled scenarios: name (file stem) -> the first sentence of the comment that opens the file
    (up to a full stop followed by a space and a capital or a digit, or the comment's end)."""
    found = {}
    for entry in sorted(resources.files("commsim.scenarios").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            lines = entry.read_text(encoding="utf-8").splitlines()
            opening = itertools.takewhile(lambda line: line.startswith("#"), itertools.dropwhile(
                lambda line: not line.startswith("#"), lines))
            comment = " ".join(line.lstrip("# ").strip() for line in opening)
            found[entry.name.removesuffix(".yaml")] = re.split(r"(?<=\.)\s+(?=[A-Z0-9])", comment, maxsplit=1)[0]
    return found


def load(path: str | Path | None = None) -> Scenario | ExperimentScenario:
    """Read and validate a scenario file (safe YAML only: :mod:`commsim.scenario_file`); None means the
    bundled default, and a name that is no file but a bundled scenario's (``training``, ``training.yaml``)
    means that one."""
    if path is None:
        return load_bundled()
    name = str(path).removesuffix(".yaml")
    if "/" not in str(path) and not os.path.lexists(path):  # lexists: False, not an error, for a bad name
        if name in bundled():
            return load_bundled(f"{name}.yaml")
        raise ScenarioError(f"{path}: no such file, and no bundled scenario of that name ('commsim list' shows them)")
    source = str(path)
    data = scenario_file.read(Path(path), source)
    _check_units_written(data, source)
    return parse(_paths_beside(data, Path(path).parent), source)


def _paths_beside(data: Any, folder: Path) -> Any:
    """Relative ``from_file`` paths in a scenario file mean the scenario's own folder, not the current one."""
    if not isinstance(data, dict):
        return data
    specs = [data.get("topology"), *(data.get("topologies") or [] if isinstance(data.get("topologies"), list) else [])]
    for spec in specs:
        if isinstance(spec, dict) and spec.get("kind") == "from_file" and isinstance(spec.get("path"), str):
            if not Path(spec["path"]).is_absolute():
                spec["path"] = str(folder / spec["path"])
    algorithms = data.get("algorithms")
    for entry in algorithms if isinstance(algorithms, list) else [algorithms]:
        if isinstance(entry, dict) and isinstance(entry.get("schedule"), str) and not Path(entry["schedule"]).is_absolute():
            entry["schedule"] = str(folder / entry["schedule"])
    return data
