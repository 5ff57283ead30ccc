"""A scenario's values: units parsed and bounded, sweeps expanded, dtypes, budgets, and the strict base of
every section."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from .. import units
from ..errors import shown


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
    from .. import budget

    return BeforeValidator(lambda value: budget.parse_limit(key, value))


class BudgetSpec(_Strict):
    """What one run may take before it is refused (see :mod:`commsim.budget`): ``memory`` ("8 GB"),
    ``messages`` and ``events`` (counts); unset ones keep ``COMMSIM_BUDGET``'s or the machine's."""

    memory: Annotated[float, _limit("memory")] | None = None
    messages: Annotated[float, _limit("messages")] | None = None
    events: Annotated[float, _limit("events")] | None = None




DType = Literal["float16", "float32", "float64"]
ITEMSIZE = units.ITEMSIZE


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


def _close(name: Any, known: list[str]) -> str:
    """``; did you mean 'x'?`` for the known name closest to a misspelt ``name`` (difflib), or nothing."""
    import difflib

    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
