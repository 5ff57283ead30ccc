"""The ``topology`` section: a network by kind and options (lists and ranges expand into several), link
overrides, servers."""

from __future__ import annotations

import itertools
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
    model_validator,
)

from .. import units
from .names import _has_server
from .values import _Strict, _show_value, _known, _positive, _non_negative
from .values import MAX_WORKERS, Bandwidth, Latency, sweep_values


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
        from ..network.topology import build

        return build(
            self.kind, n, self.bandwidth, self.latency, servers=self.server_count(algorithms),
            overrides=[link.model_dump() for link in self.links], **self.options,
        )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        from ..network.topology import TOPOLOGIES

        return _known(kind, TOPOLOGIES, "topology")
