"""A whole scenario: what to run, on which network, at which sizes, with which engine and model; its
checks across sections; its points (``runs``)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .. import units
from ..errors import CommsimError, TopologyError, shown
from .disturbances import FaultSpec, StragglerSpec
from .names import _engine, _has_server
from .network import TopologySpec, expand_topology
from .training import OptimizerSpec, TrainingSpec
from .workload import WorkloadSpec
from .values import _close, _Strict, _as_list, _sweep, _known, _dtypes, _whole_bytes, _channels
from .names import NCCL_ALGORITHMS, NCCL_AUTO, NCCL_ONLY, NCCL_TESTS_NAMES, collective_kind
from .values import ITEMSIZE, VALIDATE_UP_TO, BudgetSpec, Count, DType, Latency, WorkerCount


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
    strategy: str | None = None  # a workload's data-parallel strategy
    bucket_cap: int | None = None  # a workload's bucket cap (bytes)




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
    # auto: the schedule engine unless values ride along (then the message engine); simulate = message
    engine: Annotated[Literal["auto", "message", "schedule", "analytic"], BeforeValidator(_engine)] = "auto"
    model: Literal["alpha-beta", "nccl"] = "alpha-beta"  # the textbook's, or collectives as NCCL runs them
    protocol: Literal["auto", "ll", "ll128", "simple"] = "auto"  # model nccl: NCCL's protocol (auto: its tuner's pick)
    channels: Annotated[Literal["auto"] | int, BeforeValidator(_channels)] = "auto"  # model nccl: rings at once (auto: NCCL's)
    training: TrainingSpec | None = None
    workload: WorkloadSpec | None = None
    stragglers: StragglerSpec | None = None
    faults: FaultSpec | None = None
    budget: BudgetSpec | None = None  # limits of a run (and of all runs' events); see commsim.budget

    @model_validator(mode="before")
    @classmethod
    def _workload_defaults(cls, data: Any) -> Any:
        """A workload moves sizes alone; its all-reduce is the ring's (NCCL's pick with ``model: nccl``) unless
        ``algorithms`` names one."""
        if not isinstance(data, dict) or data.get("workload") is None:
            return data
        defaults = {"payload": "size-only", "algorithms": NCCL_AUTO if data.get("model") == "nccl" else "ring_allreduce"}
        return defaults | data

    @model_validator(mode="before")
    @classmethod
    def _imported_schedules(cls, data: Any) -> Any:
        """Algorithms given as ``{schedule: FILE}`` are read, checked and registered; the scenario keeps
        their registry names and, in ``schedule_files``, where they came from (so a worker process or
        ``commsim plot`` registers them again)."""
        if not isinstance(data, dict):
            return data
        from ..collectives.imported import ensure_registered

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
        from ..collectives import REGISTRY

        names = [NCCL_TESTS_NAMES.get(name, name) for name in names]
        return [name if name in NCCL_ONLY else _known(name, REGISTRY, "algorithm") for name in names]

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
        given = [key for key in ("params", "size", "training", "workload") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError("params: give exactly one of 'params' or 'size' (collectives alone) or a 'training' section"
                             + " or a 'workload'" * ("workload" in given) + (f"; got {' and '.join(given)}" if given else ""))
        if self.workload is not None:
            self._check_workload()
        for nbytes in self.size or ():
            for dtype in self.dtype:
                if nbytes % ITEMSIZE[dtype]:
                    raise ValueError(f"size: {nbytes} B is not a whole number of {dtype} elements")
        if self.training is not None:
            pass

            for name in self.algorithms:
                kind = collective_kind(name)
                if kind != "allreduce":
                    raise ValueError(f"algorithms: training needs an all-reduce; {name!r} is a {kind}")
            if self.training.dataset == "synthetic" and max(self.workers) > self.training.samples:
                raise ValueError(f"workers: {max(self.workers)} workers but only {self.training.samples} samples to shard")
            from ..training.wire import VOTING_ALGORITHMS

            signed = any(opt.wire == "sign" for opt in self.training.optimizer)
            for name in self.algorithms if signed else ():
                if name not in VOTING_ALGORITHMS:
                    raise ValueError(
                        f"training.optimizer: wire 'sign' needs an algorithm that sees whole buffers to vote "
                        f"({', '.join(sorted(VOTING_ALGORITHMS))}); {name!r} adds partial sums, which are not signs"
                    )
        return self

    def _check_workload(self) -> None:
        """A workload's all-reduce, sizes alone, and a GPU (a cluster preset's, or a peak) unless the compute is
        measured."""
        for name in self.algorithms:
            kind = collective_kind(name)
            if kind != "allreduce":
                raise ValueError(f"algorithms: a workload's buckets need an all-reduce; {name!r} is a {kind}")
        if self.payload != "size-only":
            raise ValueError("payload: a workload moves sizes alone (no model trains); use 'payload: size-only'")
        spec = self.workload
        if spec.peak_flops is None and not spec.measured:
            for index, topo in enumerate(self.networks):
                if topo.kind != "cluster":
                    raise ValueError(f"workload.peak_flops: {self._network_key(index)} {topo.kind!r} has no GPU; give "
                                     "peak_flops (e.g. '989 TFLOP/s'), step_time, or a cluster preset")

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
        if self.engine == "schedule" and self.payload != "size-only":
            what = "a real model trains, per rank" if self.training is not None else "real buffers, their mean checked"
            raise ValueError(f"engine: {self.engine!r} moves sizes only, not values ({what}); add 'payload: size-only' "
                             "(or use 'engine: message')")
        self._check_model()
        self._check_disturbances()
        if self.schedule_files:
            from ..collectives.imported import LOADED

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
        from .. import budget

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
            what = {NCCL_AUTO: "pick of ring, tree or NVLS", "alltoall": "all-to-all", "nvls": "NVLS"}
            for name in NCCL_ONLY:
                if name in self.algorithms:
                    raise ValueError(f"algorithms: {name!r} (NCCL's {what[name]}) needs 'model: nccl'")
            if self.protocol != "auto" or self.channels != "auto":
                raise ValueError(f"{'protocol' if self.protocol != 'auto' else 'channels'}: only with 'model: nccl'")
            return
        for index, topo in enumerate(self.networks):
            if topo.kind != "cluster":
                raise ValueError(f"{self._network_key(index)}.kind: model 'nccl' needs a 'cluster' topology (a preset), "
                                 f"got {topo.kind!r}")
        other = [name for name in self.algorithms if name not in NCCL_ALGORITHMS]
        if other:
            raise ValueError(f"algorithms: model 'nccl' runs {', '.join(NCCL_ALGORITHMS)} (NCCL's collectives); "
                             f"got {other[0]!r}")

    @property
    def engine_picked(self) -> tuple[str, str]:
        """(engine, why): the scenario's engine, or for ``auto`` the schedule engine unless ranks carry values
        (real buffers whose mean is checked, a model that trains), then the message engine."""
        if self.engine != "auto":
            return self.engine, "as the scenario asks"
        if self.payload == "data":
            what = "a real model trains" if self.training is not None else "real buffers, their mean checked"
            return "message", f"auto: {what}, per rank"
        return "schedule", "auto: sizes only, a round at a time"

    @property
    def disturbed(self) -> bool:
        """Whether runs have stragglers or faults (and so a uniform twin to compare with)."""
        return self.stragglers is not None or self.faults is not None

    def _check_disturbances(self) -> None:
        """Stragglers and faults run on the message engine, against workers and links that exist."""
        if not self.disturbed:
            return
        if self.engine == "analytic":
            self._check_analytic_disturbances()
        fewest = min(self.workers)
        spec = self.stragglers
        if spec is not None:
            stepping = self.training is not None or self.workload is not None
            if stepping and spec.compute is not None:
                raise ValueError("stragglers.compute: training computes for its model's time; give slowdown instead")
            needs_compute = spec.slowdown or spec.jitter.compute
            if not stepping and needs_compute and spec.compute is None:
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

    def _check_analytic_disturbances(self) -> None:
        """The analytic engine bounds a run under stragglers (at least the fastest compute plus the closed
        form, and the slowest compute); what else goes wrong has no closed form: simulate it."""
        faults, spec = self.faults, self.stragglers
        what = [name for name, given in (
            ("faults.link_down", faults is not None and faults.link_down),
            ("faults.crash", faults is not None and faults.crash),
            ("faults.drop_stragglers", faults is not None and faults.dropped is not None),
            ("stragglers.jitter.message", spec is not None and spec.jitter.message)) if given]
        if what:
            raise ValueError(f"{what[0]}: engine 'analytic' has no closed form for it; use 'engine: schedule' "
                             "(or 'message')")

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
        from ..network.options import check, size
        from ..network.topology import (
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
            elif self.workload is not None:
                spec = self.workload
                for algorithm, strategy, cap, n in itertools.product(self.algorithms, spec.strategy, spec.bucket_cap,
                                                                     self.workers):
                    reason = self._blocking(failures, n, algorithm)
                    yield RunSpec(algorithm, n, None, None, topo, "float32", reason.split(": ", 2)[-1] if reason else None,
                                  strategy, cap)
            else:
                for algorithm, n, (p, dtype) in itertools.product(self.algorithms, self.workers, self._params_and_dtypes()):
                    reason = self._blocking(failures, n, algorithm)
                    yield RunSpec(algorithm, n, p, None, topo, dtype, reason.split(": ", 2)[-1] if reason else None)


class ExperimentScenario(_Strict):
    """A pure-optimization experiment with no network (``experiment: implicit_bias``)."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
    experiment: Literal["implicit_bias"]
