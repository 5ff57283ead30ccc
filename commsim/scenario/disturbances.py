"""The ``stragglers`` and ``faults`` sections: slow and uneven workers, slow links, jitter; links that fail,
workers that crash, a server that drops stragglers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictInt,
    model_validator,
)

from .values import _Strict, _at_most_max_factor
from .values import MAX_FACTOR, Bandwidth, Count, Latency


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


def worker_key(key: Any) -> int:
    """A worker named as a mapping's key: a whole number, or its decimal digits as text (JSON's keys are
    text, so a scenario read back from ``results.json`` or written as JSON names workers so)."""
    if isinstance(key, str) and key.isascii() and key.isdecimal() and len(key) <= 18:
        return int(key)
    if isinstance(key, bool) or not isinstance(key, int):
        raise ValueError(f"a worker is a whole number, got {_short(key)}")
    return key


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
    for key, factor in value.items():
        worker = worker_key(key)
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
    links: dict[Annotated[int, BeforeValidator(worker_key)], LinkSpeed] = {}
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
