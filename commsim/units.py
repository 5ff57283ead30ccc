"""Human quantities parsed at the edges into SI floats, and formatted back for tables.

Every parser takes an int, a float or a string such as ``"4 MiB"``, ``"100 Gbit/s"`` or
``"5 us"`` (the space is optional) and returns a plain float in the base unit: bytes,
bytes per second, seconds, or FLOP/s.  A plain number is already in the base unit.

Conventions:

* ``B`` is a byte and ``b`` / ``bit`` a bit (8 bits = 1 byte).  The case of B/b always matters.
* SI prefixes are powers of 1000 (``GB`` = 1e9 bytes, as in nccl-tests); ``K`` is accepted as
  ``k``.  Binary prefixes ``Ki Mi Gi Ti Pi Ei`` are powers of 1024 (``MiB`` = 2**20 bytes).
* Prefix letters are case-sensitive: ``ms`` is milli-second, ``M`` is mega.  ``mb``, ``mB``,
  ``gb`` ... are refused with a suggestion (``'MB' or 'Mbit'``) instead of being guessed.
  Spelled-out words are case-insensitive: ``GBit`` = ``Gbit``, ``3 Sec`` = ``3 s``.
* Negative values are returned as they are (callers check signs), but NaN, infinities,
  overflowing values, booleans, None, empty strings, unknown units and garbage raise
  :class:`~commsim.errors.UnitError` with a one-line message.
* A bare number (no unit) written for a link's bandwidth or latency is refused where it is surely a
  missing unit (:func:`check_bare_bandwidth`, :func:`check_bare_latency`): below
  ``BARE_BANDWIDTH_FLOOR`` B/s, or ``BARE_LATENCY_CEILING`` s and more.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import NamedTuple

from commsim.errors import UnitError, shown

__all__ = [
    "BARE_BANDWIDTH_FLOOR",
    "BARE_LATENCY_CEILING",
    "check_bare_bandwidth",
    "check_bare_latency",
    "format_bandwidth",
    "format_bytes",
    "format_time",
    "parse_bandwidth",
    "parse_bytes",
    "parse_count",
    "parse_rate",
    "parse_time",
]

# Bounds that keep every simulated time finite (a sum of latencies, bytes over a bandwidth, a compute
# stretched by its slowdown): no input time over MAX_SECONDS (about 32 years), no bandwidth under
# MIN_BANDWIDTH (1 bit/s, in bytes per second).
MAX_SECONDS = 1e9
MIN_BANDWIDTH = 1 / 8
ITEMSIZE = {"float16": 2, "float32": 4, "float64": 8}
"""Bytes of one element of each payload dtype."""


# --------------------------------------------------------------------------- unit tables


class _Unit(NamedTuple):
    """value_in_base_unit = number * num / den; ``canonical`` is the spelling we suggest."""

    num: int
    den: int
    canonical: str


_SI = (("k", 10**3), ("K", 10**3), ("M", 10**6), ("G", 10**9), ("T", 10**12), ("P", 10**15), ("E", 10**18))
_BINARY = (("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30), ("Ti", 2**40), ("Pi", 2**50), ("Ei", 2**60))
_SUBSECOND = (("", 1), ("m", 10**3), ("u", 10**6), ("\u00b5", 10**6), ("\u03bc", 10**6), ("n", 10**9), ("p", 10**12))
# The part after the prefix is case-insensitive when it is a spelled-out word ("bit", "sec", "FLOP/s").
_WORD = re.compile(r"[A-Za-z]{3,}(?:/s|/sec)?")

Row = tuple[str, str, int, int, str]  # prefix, rest, num, den, canonical


class _Table:
    """Unit spellings of one kind of quantity, with case-insensitive words and suggestions."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self.exact: dict[str, _Unit] = {}
        self.folded: dict[tuple[str, str], _Unit | None] = {}  # None: two factors collide
        self.by_lower: dict[str, list[str]] = {}
        prefixes: set[str] = set()
        for prefix, rest, num, den, canonical in rows:
            unit = _Unit(num, den, canonical)
            self.exact[prefix + rest] = unit
            prefixes.add(prefix)
            names = self.by_lower.setdefault((prefix + rest).lower(), [])
            if canonical not in names:
                names.append(canonical)
            if _WORD.fullmatch(rest):
                key = (prefix, rest.lower())
                old = self.folded.get(key, unit)
                same = old is not None and (old.num, old.den) == (num, den)
                self.folded[key] = unit if same else None
        self.prefixes = tuple(sorted(prefixes, key=len, reverse=True))

    def lookup(self, unit: str) -> _Unit | None:
        """The unit spelled ``unit``, or None."""
        hit = self.exact.get(unit)
        if hit is not None:
            return hit
        for prefix in self.prefixes:
            if unit.startswith(prefix):
                hit = self.folded.get((prefix, unit[len(prefix) :].lower()))
                if hit is not None:
                    return hit
        return None

    def suggestions(self, unit: str) -> list[str]:
        """Canonical spellings of units that differ from ``unit`` only by case."""
        return self.by_lower.get(unit.lower(), [])


def _data_rows() -> Iterable[Row]:
    for prefix, mult in (("", 1), *_SI, *_BINARY):
        shown = "k" if prefix == "K" else prefix
        yield prefix, "B", mult, 1, shown + "B"
        for rest in ("b", "bit", "bits"):
            yield prefix, rest, mult, 8, shown + "bit"
    for rest in ("byte", "bytes"):
        yield "", rest, 1, 1, "B"


def _bandwidth_rows() -> Iterable[Row]:
    for prefix, rest, num, den, canonical in _data_rows():
        for per in ("/s", "/sec"):
            yield prefix, rest + per, num, den, canonical + "/s"
    for prefix, mult in (("", 1), *_SI, *_BINARY):
        shown = "k" if prefix == "K" else prefix
        yield prefix, "Bps", mult, 1, shown + "B/s"
        yield prefix, "bps", mult, 8, shown + "bit/s"


def _time_rows() -> Iterable[Row]:
    for prefix, den in _SUBSECOND:
        shown = "u" if den == 10**6 else prefix
        for rest in ("s", "sec") if prefix else ("s", "sec", "secs", "second", "seconds"):
            yield prefix, rest, 1, den, shown + "s"
    for rest in ("min", "mins", "minute", "minutes"):
        yield "", rest, 60, 1, "min"
    for rest in ("h", "hr", "hrs", "hour", "hours"):
        yield "", rest, 3600, 1, "h"


def _rate_rows(base: str) -> Iterable[Row]:
    for prefix, mult in (("", 1), *_SI):
        canonical = ("k" if prefix == "K" else prefix) + base + "/s"
        yield prefix, base + "/s", mult, 1, canonical
        yield prefix, base + "/sec", mult, 1, canonical
        if base.isupper():
            yield prefix, base + "S", mult, 1, canonical  # FLOPS


@dataclass(frozen=True)
class _Kind:
    what: str  # "a size", used as "cannot parse X as <what>"
    noun: str  # "size", used as "a unit of <noun>"
    examples: str
    table: _Table


_SIZE = _Kind("a size", "size", "'4 MiB', '12 GB', '8 Gbit'", _Table(_data_rows()))
_BANDWIDTH = _Kind("a bandwidth", "bandwidth", "'100 Gbit/s', '12.5 GB/s'", _Table(_bandwidth_rows()))
_TIME = _Kind("a time", "time", "'5 us', '1.5 ms', '2 s'", _Table(_time_rows()))
_FIXED_KINDS = (_SIZE, _BANDWIDTH, _TIME)
_COUNT_EXAMPLES = "'8', '1e6', '1_000_000', '2^20'"


@cache
def _rate_kind(unit: str) -> _Kind:
    match = re.fullmatch(r"([A-Za-z]+)/s", unit)
    if match is None:
        raise ValueError(f"rate unit must look like 'FLOP/s', got {unit!r}")
    base = match[1]
    return _Kind(f"a rate in {unit}", unit, f"'10 T{base}/s', '1e12'", _Table(_rate_rows(base)))


# --------------------------------------------------------------------------- parsing

_DIGITS = r"[0-9](?:_?[0-9])*"
_NUMBER = rf"[+-]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
# A number, optional whitespace, then an optional unit starting with a letter (no newlines).
_QUANTITY = re.compile(rf"(?P<num>{_NUMBER})\s*(?P<unit>[^\W\d_].*?)?")
_PER = re.compile(r"\s*/\s*")
_NONFINITE = {"nan", "inf", "infinity"}


def _show(value: object) -> str:
    """repr of ``value`` on one short line, for messages."""
    return shown(value, 60)


def _error(value: object, what: str, reason: str, examples: str | None) -> UnitError:
    message = f"cannot parse {_show(value)} as {what}: {reason}"
    if examples:
        message += f" (try e.g. {examples})"
    return UnitError(message)


def _number(value: object, what: str, examples: str) -> float | str:
    """A finite float for a number, the stripped text for a string; refuse the rest."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise _error(value, what, f"expected a number or a string, got {type(value).__name__}", examples)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise _error(value, what, "empty string", examples)
        if text.lstrip("+-").lower() in _NONFINITE:
            raise _error(value, what, "not a finite number", None)
        return text
    try:
        x = float(value)
    except OverflowError:
        raise _error(value, what, "out of range", None) from None
    if not math.isfinite(x):
        raise _error(value, what, "not a finite number", None)
    return x


def _parse(value: object, kind: _Kind) -> float:
    parsed = _number(value, kind.what, kind.examples)
    if isinstance(parsed, float):
        return parsed
    match = _QUANTITY.fullmatch(parsed)
    if match is None:
        raise _error(value, kind.what, "expected a number optionally followed by a unit", kind.examples)
    number = float(match["num"])
    raw_unit = match["unit"] or ""
    if raw_unit:
        unit = kind.table.lookup(_PER.sub("/", raw_unit))
        if unit is None:
            raise _unknown_unit(value, raw_unit, kind)
        number = number * unit.num / unit.den
    if not math.isfinite(number):
        raise _error(value, kind.what, "out of range", None)
    return number


def _unknown_unit(value: object, raw_unit: str, kind: _Kind) -> UnitError:
    unit = _PER.sub("/", raw_unit)
    for other in _FIXED_KINDS:
        if other is not kind and other.table.lookup(unit) is not None:
            reason = f"{raw_unit!r} is a unit of {other.noun}, not {kind.noun}"
            return _error(value, kind.what, reason, kind.examples)
    names = kind.table.suggestions(unit)
    if names:
        options = " or ".join(repr(name) for name in names)
        return _error(value, kind.what, f"unknown unit {raw_unit!r} (case matters: did you mean {options}?)", None)
    return _error(value, kind.what, f"unknown unit {raw_unit!r}", kind.examples)


def parse_bytes(value: float | str) -> float:
    """Bytes from e.g. ``"4 MiB"``, ``"12 GB"``, ``"1 Gbit"`` or ``512`` (plain numbers are bytes).

    ``B`` is a byte, ``b``/``bit`` a bit; ``GB`` is 1e9 bytes and ``GiB`` 2**30 bytes.
    """
    return _parse(value, _SIZE)


def parse_bandwidth(value: float | str) -> float:
    """Bytes per second from e.g. ``"100 Gbit/s"``, ``"100 Gbps"``, ``"12.5 GB/s"``, ``"25 GiB/s"``.

    Plain numbers are bytes per second; ``bps``/``b/s``/``bit/s`` are bits, ``Bps``/``B/s`` bytes.
    """
    return _parse(value, _BANDWIDTH)


def parse_time(value: float | str) -> float:
    """Seconds from e.g. ``"5 us"`` (also ``µs``/``μs``), ``"1.5 ms"``, ``"2 ns"``, ``"1 min"``, ``"2e-6"``.

    Plain numbers are seconds; units are ``ps ns us ms s min h``.
    """
    return _parse(value, _TIME)


def parse_rate(value: float | str, unit: str = "FLOP/s") -> float:
    """A rate in ``unit`` (``"<base>/s"``) from e.g. ``"10 TFLOP/s"``, ``"312 TFLOPS"`` or ``1e12``.

    SI prefixes k..E scale it; plain numbers are already in ``unit``.  A malformed ``unit``
    argument is a programming error and raises plain ``ValueError``.
    """
    return _parse(value, _rate_kind(unit))


# A bare number is in the base unit, so ``bandwidth: 100`` is 100 B/s (800 bit/s) and ``latency: 5`` is 5 s.
# Where that is surely a missing unit, it is refused: a bandwidth below 1 MB/s (8 Mbit/s, a hundredth of the
# 1 Gbit/s Ethernet that is the slowest network training runs on) is what one writes meaning Gbit/s, GB/s or
# Mbit/s (100, 400, 900, 100_000), and a latency of 1 s or more exceeds any link's (a geostationary satellite
# hop, the longest, is ~0.27 s one way) and is what one writes meaning us, ns or ms. With a unit, any value.
BARE_BANDWIDTH_FLOOR = 1e6  # B/s
BARE_LATENCY_CEILING = 1.0  # s


def _bare(value: object) -> float | None:
    """``value`` as a float if it is a number written without a unit (``100``, ``"100"``, ``"1e5"``), else None."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        return None
    text = value.strip() if isinstance(value, str) else None
    if text is not None and not re.fullmatch(_NUMBER, text):
        return None
    try:
        return float(value if text is None else text)
    except OverflowError:  # an integer beyond floats: the parser refuses it
        return None


def _written(value: object, number: float) -> str:
    """A bare number as the scenario wrote it, for a message (``100``, ``12.5``, ``1e5``); long ones short."""
    text = value.strip() if isinstance(value, str) else f"{number:g}"
    return text if len(text) <= 12 else f"{number:g}"


def check_bare_bandwidth(value: object) -> None:
    """Refuse a bandwidth written as a bare number below ``BARE_BANDWIDTH_FLOOR`` B/s (a missing unit)."""
    number = _bare(value)
    if number is not None and 0 < number < BARE_BANDWIDTH_FLOOR:
        text = _written(value, number)
        raise UnitError(f"a bare {text} is {format_bandwidth(number)} ({format_bandwidth(number, bits=True)}), slower "
                        f"than any network: give the unit ('{text} Gbit/s', '{text} GB/s', or '{text} B/s' if meant)")


def check_bare_latency(value: object) -> None:
    """Refuse a latency written as a bare number of ``BARE_LATENCY_CEILING`` s or more (a missing unit)."""
    number = _bare(value)
    if number is not None and math.isfinite(number) and number >= BARE_LATENCY_CEILING:
        text = _written(value, number)
        raise UnitError(f"a bare {text} is {format_time(number)}, longer than any link's latency: give the unit "
                        f"('{text} us', '{text} ms', or '{text} s' if meant)")


_POWER = re.compile(r"([0-9]+)\s*(?:\^|\*\*)\s*([0-9]+)")
_MAX_COUNT_BITS = 4096


def parse_count(value: float | str) -> int:
    """A non-negative integer from ``8``, ``1e6`` (if integral), ``"1e6"``, ``"1_000_000"`` or ``"2^20"``."""
    what = "a count"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        count = int(value)
    else:
        parsed = _number(value, what, _COUNT_EXAMPLES)
        if isinstance(parsed, float):
            if not parsed.is_integer():
                raise _error(value, what, "not an integer", _COUNT_EXAMPLES)
            count = int(parsed)
        elif power := _POWER.fullmatch(parsed):
            base, exponent = int(power[1]), int(power[2])
            if base > 1 and exponent * base.bit_length() > _MAX_COUNT_BITS:
                raise _error(value, what, "too large", None)
            count = base**exponent
        elif re.fullmatch(_NUMBER, parsed):
            try:
                exact = Decimal(parsed)
            except InvalidOperation:  # pragma: no cover - the regex only lets numbers through
                raise _error(value, what, "not a number", _COUNT_EXAMPLES) from None
            if exact.adjusted() > _MAX_COUNT_BITS * 0.31:  # log10(2) ~ 0.301
                raise _error(value, what, "too large", None)
            if exact != exact.to_integral_value():
                raise _error(value, what, "not an integer", _COUNT_EXAMPLES)
            count = int(exact)
        else:
            raise _error(value, what, "expected a non-negative integer", _COUNT_EXAMPLES)
    if count < 0:
        raise _error(value, what, "must not be negative", None)
    return count


# --------------------------------------------------------------------------- formatting

_SI_SCALES = (("", 1.0), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("P", 1e15), ("E", 1e18))
_BINARY_SCALES = (("", 1.0),) + tuple((prefix, float(mult)) for prefix, mult in _BINARY)
_TIME_SCALES = (("ps", 1e-12), ("ns", 1e-9), ("us", 1e-6), ("ms", 1e-3), ("s", 1.0))


def _significant(m: float, digits: int = 3) -> str:
    """``m`` (>= 0) with ``digits`` significant digits (three: 1.23, 12.3, 123); whole numbers from
    10^digits up (1000..1023 binary), an exponent only from 1e6."""
    if m < 1:
        return f"{m:#.{digits}g}"
    for decimals in range(digits - 1, -1, -1):
        text = f"{m:.{decimals}f}"
        if float(text) < 10 ** (digits - decimals):
            return text
    return f"{m:.0f}" if m < 1e6 else f"{m:.{digits}g}"


def _format(x: float, scales: tuple[tuple[str, float], ...], suffix: str, zero: str, whole_base: bool) -> str:
    x = float(x)
    if not math.isfinite(x):
        return f"{x} {zero}"
    if x == 0:
        return f"0 {zero}"
    sign, size = ("-" if x < 0 else ""), abs(x)
    i = max((k for k, (_, factor) in enumerate(scales) if size >= factor), default=0)
    while True:
        name, factor = scales[i]
        if whole_base and factor == 1 and size.is_integer():
            text = f"{size:.0f}"
        else:
            text = _significant(size / factor)
        if i == len(scales) - 1 or float(text) < round(scales[i + 1][1] / factor):
            return f"{sign}{text} {name}{suffix}"
        i += 1


def format_bytes(x: float, binary: bool = False) -> str:
    """A short size for tables: ``"1.00 MB"``, ``"512 B"``; ``binary=True`` gives ``"4.00 MiB"``."""
    return _format(x, _BINARY_SCALES if binary else _SI_SCALES, "B", "B", whole_base=True)


def format_time(x: float) -> str:
    """A short duration for tables: ``"5.00 us"``, ``"1.50 ms"``, ``"3600 s"``."""
    return _format(x, _TIME_SCALES, "", "s", whole_base=False)


def format_bandwidth(x: float, bits: bool = False) -> str:
    """A short bandwidth (x in bytes/s) for tables: ``"12.5 GB/s"``; ``bits=True`` gives ``"100 Gbit/s"``."""
    if bits:
        return _format(float(x) * 8, _SI_SCALES, "bit/s", "bit/s", whole_base=False)
    return _format(x, _SI_SCALES, "B/s", "B/s", whole_base=False)


def column_unit(values: Iterable[float], kind: str) -> tuple[str, float]:
    """One unit for a whole table column (``kind`` "time", "bytes" or "bandwidth", bytes/s): the largest
    scale the column's median magnitude reaches, so most cells read as 1..999 and none needs an exponent;
    the base unit (``("s", 1.0)``, ``("B", 1.0)``, ``("B/s", 1.0)``) for a column of zeros."""
    magnitudes = sorted(abs(float(v)) for v in values if v and math.isfinite(float(v)))
    suffix = {"time": "", "bytes": "B", "bandwidth": "B/s"}[kind]
    scales = _TIME_SCALES if kind == "time" else tuple((f"{prefix}{suffix}", factor) for prefix, factor in _SI_SCALES)
    if not magnitudes:
        return ("s", 1.0) if kind == "time" else (suffix, 1.0)
    median = magnitudes[(len(magnitudes) - 1) // 2]
    return max((scale for scale in scales if median >= scale[1]), key=lambda scale: scale[1], default=scales[0])


def format_in(x: float, factor: float, digits: int = 3) -> str:
    """``x`` in a column's unit (see :func:`column_unit`): ``digits`` significant digits below
    10^digits, whole numbers above (never an exponent)."""
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    m = abs(x) / factor
    return ("-" if x < 0 else "") + (f"{m:.0f}" if m >= 10**digits else _significant(m, digits))
