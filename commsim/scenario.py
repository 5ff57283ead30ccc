"""Scenario files: the only reader of YAML. Validated with pydantic, human units parsed.

Every error becomes one ``ScenarioError`` line naming the file, the key and the value.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import units
from .errors import ScenarioError, TopologyError

DEFAULT_SCENARIO = "textbook.yaml"


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


Bandwidth = Annotated[float, BeforeValidator(units.parse_bandwidth), Field(gt=0)]
Latency = Annotated[float, BeforeValidator(units.parse_time), Field(ge=0)]
Count = Annotated[int, BeforeValidator(units.parse_count), Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkOverride(_Strict):
    """One edge with its own bandwidth and/or latency: ``{between: [0, switch], bandwidth: ...}``."""

    between: tuple[int | str, int | str]
    bandwidth: Bandwidth | None = None
    latency: Latency | None = None


class TopologySpec(_Strict):
    """Which topology, and the bandwidth and latency of its links."""

    kind: str
    bandwidth: Bandwidth = 100e9 / 8
    latency: Latency = 0.0
    links: list[LinkOverride] = []

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        from .topology import TOPOLOGIES

        if kind not in TOPOLOGIES:
            raise ValueError(f"unknown topology {kind!r}; known: {', '.join(TOPOLOGIES)}")
        return kind


class RunSpec(NamedTuple):
    """One point of a scenario's sweep."""

    algorithm: str
    workers: int
    params: int


class Scenario(_Strict):
    """A whole scenario: what to run, on which network, at which sizes."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 0
    workers: Annotated[list[Count], BeforeValidator(_as_list), Field(min_length=1)]
    params: Annotated[list[Count], BeforeValidator(_as_list), Field(min_length=1)]
    dtype: Literal["float16", "float32", "float64"] = "float32"
    topology: TopologySpec
    algorithms: Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]
    payload: Literal["data", "size-only"] = "data"

    @field_validator("algorithms")
    @classmethod
    def _known_algorithms(cls, names: list[str]) -> list[str]:
        from .collectives import REGISTRY

        for name in names:
            if name not in REGISTRY:
                raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(REGISTRY)}")
        return names

    @model_validator(mode="after")
    def _runs_fit_topology(self) -> Scenario:
        from .collectives import get
        from .topology import build

        with_server = [name for name in self.algorithms if get(name).server is not None]
        if not (with_server or self.topology.links):
            return self
        key = "topology.links" if self.topology.links else "algorithms"
        for n in sorted(set(self.workers)):
            try:
                build(
                    self.topology.kind, n, self.topology.bandwidth, self.topology.latency,
                    server=bool(with_server), overrides=[link.model_dump() for link in self.topology.links],
                )
            except TopologyError as error:
                culprit = f" ({', '.join(with_server)})" if with_server and "server" in str(error) else ""
                raise ValueError(f"{key}{culprit}: with workers={n}: {error}") from None
        return self

    def runs(self) -> Iterator[RunSpec]:
        """The sweep: every algorithm × workers × params, in file order."""
        for algorithm, n, p in itertools.product(self.algorithms, self.workers, self.params):
            yield RunSpec(algorithm, n, p)


def _describe(error: ValidationError, source: str) -> str:
    """The first pydantic error as one line: file: key: message (got value)."""
    first = error.errors()[0]
    message = first["msg"].removeprefix("Value error, ")
    if not first["loc"]:  # a whole-scenario check: its message starts with the key
        return f"{source}: {message}"
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    got = first.get("input")
    shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {got!r})"
    return f"{source}: {key}: {message}{shown}"


def parse(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate an already-loaded mapping."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping of keys, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise ScenarioError(_describe(error, source)) from None


def load(path: str | Path | None = None) -> Scenario:
    """Read and validate a scenario file (``yaml.safe_load`` only); None means the bundled default."""
    if path is None:
        resource = resources.files("commsim.scenarios") / DEFAULT_SCENARIO
        return parse(yaml.safe_load(resource.read_text(encoding="utf-8")), f"<bundled {DEFAULT_SCENARIO}>")
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(f"{source}: cannot read scenario: {error.strerror or error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ScenarioError(f"{source}: invalid YAML{where}: {problem}") from None
    return parse(data, source)
