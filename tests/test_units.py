"""Tests for commsim.units: parsing human quantities into SI floats and formatting them back."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commsim.errors import UnitError
from commsim.units import (
    format_bandwidth,
    format_bytes,
    format_time,
    parse_bandwidth,
    parse_bytes,
    parse_count,
    parse_rate,
    parse_time,
)

# Independent oracle: unit -> (num, den), value = number * num / den.
SIZE_FACTORS = {
    "B": (1, 1), "byte": (1, 1), "bytes": (1, 1), "kB": (10**3, 1), "KB": (10**3, 1),
    "MB": (10**6, 1), "GB": (10**9, 1), "TB": (10**12, 1), "PB": (10**15, 1), "EB": (10**18, 1),
    "KiB": (2**10, 1), "MiB": (2**20, 1), "GiB": (2**30, 1), "TiB": (2**40, 1), "PiB": (2**50, 1),
    "b": (1, 8), "bit": (1, 8), "bits": (1, 8), "kbit": (10**3, 8), "Mb": (10**6, 8),
    "Mbit": (10**6, 8), "Gb": (10**9, 8), "Gbit": (10**9, 8), "Tbit": (10**12, 8), "Gibit": (2**30, 8),
}
BANDWIDTH_FACTORS = {
    "B/s": (1, 1), "bit/s": (1, 8), "bps": (1, 8), "Bps": (1, 1), "kB/s": (10**3, 1),
    "MB/s": (10**6, 1), "GB/s": (10**9, 1), "GBps": (10**9, 1), "TB/s": (10**12, 1),
    "GiB/s": (2**30, 1), "MiB/s": (2**20, 1), "Mbit/s": (10**6, 8), "Mbps": (10**6, 8),
    "Gbit/s": (10**9, 8), "Gb/s": (10**9, 8), "Gbps": (10**9, 8), "Tbit/s": (10**12, 8),
    "GB/sec": (10**9, 1), "kbps": (10**3, 8),
}
TIME_FACTORS = {
    "s": (1, 1), "sec": (1, 1), "seconds": (1, 1), "ms": (1, 10**3), "msec": (1, 10**3),
    "us": (1, 10**6), "\u00b5s": (1, 10**6), "\u03bcs": (1, 10**6), "ns": (1, 10**9),
    "ps": (1, 10**12), "min": (60, 1), "minutes": (60, 1), "h": (3600, 1), "hours": (3600, 1),
}
RATE_FACTORS = {
    "FLOP/s": (1, 1), "FLOPS": (1, 1), "kFLOP/s": (10**3, 1), "MFLOP/s": (10**6, 1),
    "GFLOPS": (10**9, 1), "TFLOP/s": (10**12, 1), "TFLOPS": (10**12, 1), "PFLOP/s": (10**15, 1),
    "EFLOPS": (10**18, 1),
}
PARSERS = [parse_bytes, parse_bandwidth, parse_time, parse_rate]
FINITE = st.floats(allow_nan=False, allow_infinity=False)
MAGNITUDES = st.floats(min_value=1e-100, max_value=1e100)
FORMATTABLE = st.floats(min_value=1e-30, max_value=1e30) | st.floats(min_value=-1e30, max_value=-1e-30)
FORMAT_REL = 5.01e-3  # three significant digits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4 MiB", 4 * 2**20), ("12 GB", 12e9), ("1.5 kB", 1500.0), ("512 B", 512.0), ("100", 100.0),
        (100, 100.0), ("1e6", 1e6), (2.5, 2.5), ("8 bit", 1.0), ("1 Gbit", 1.25e8), ("1 Gb", 1.25e8),
        ("16 bits", 2.0), ("1 KB", 1000.0), ("1 KiB", 1024.0), ("1TiB", 2.0**40), ("3 bytes", 3.0),
        ("1_000 B", 1000.0), ("  7\tMB ", 7e6), ("5\u00a0MB", 5e6), ("1EB", 1e18), ("1 EiB", 2.0**60),
        ("1e3B", 1000.0), (".5 kB", 500.0), ("1. kB", 1000.0), ("-1 kB", -1000.0), ("+2 MB", 2e6),
        ("1 Mib", 2**20 / 8), ("1 GBit", 1.25e8), ("2 Byte", 2.0), ("0", 0.0), (0, 0.0),
    ],
)
def test_parse_bytes_table(text, expected):
    """Each size spelling gives its exact byte count."""
    assert parse_bytes(text) == expected


def test_parse_bytes_inexact_decimal():
    """Decimal fractions that are not exact in binary still land within an ulp."""
    assert parse_bytes("0.1 GB") == pytest.approx(1e8, rel=1e-15)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100 Gbit/s", 12.5e9), ("100 Gbps", 12.5e9), ("12.5 GB/s", 12.5e9), ("12.5 GBps", 12.5e9),
        ("1e9", 1e9), (1e9, 1e9), ("400 Gb/s", 50e9), ("25 GiB/s", 25 * 2**30), ("1 Tbit/s", 1.25e11),
        ("800 Mbit/s", 1e8), ("1 kB/s", 1000.0), ("1 Gbit / s", 1.25e8), ("10 B/sec", 10.0),
        ("8 bps", 1.0), ("200Gbps", 25e9), ("3 bytes/s", 3.0), ("1 GBit/s", 1.25e8),
    ],
)
def test_parse_bandwidth_table(text, expected):
    """Each bandwidth spelling gives its exact bytes per second."""
    assert parse_bandwidth(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5 us", 5e-6), ("5 \u00b5s", 5e-6), ("5 \u03bcs", 5e-6), ("1.5 ms", 1.5e-3), ("2 ns", 2e-9),
        ("3 s", 3.0), ("1 min", 60.0), ("2e-6", 2e-6), (0, 0.0), ("0", 0.0), ("3ps", 3e-12),
        ("2 h", 7200.0), ("10 sec", 10.0), ("1 Min", 60.0), ("4 msec", 4e-3), ("1.5 hours", 5400.0),
        ("3 Sec", 3.0), ("5us", 5e-6), (7, 7.0),
    ],
)
def test_parse_time_table(text, expected):
    """Each duration spelling gives its exact seconds."""
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10 TFLOP/s", 1e13), ("312 TFLOPS", 312e12), ("1e12", 1e12), (1e12, 1e12), ("1 kFLOP/s", 1e3),
        ("2 GFLOPS", 2e9), ("5 PFLOP/s", 5e15), ("3 Tflop/s", 3e12), ("3 TFLOPs", 3e12), ("7 FLOP/s", 7.0),
    ],
)
def test_parse_rate_table(text, expected):
    """Each FLOP/s spelling gives its exact FLOP per second."""
    assert parse_rate(text) == expected


def test_parse_rate_other_unit():
    """parse_rate works for any '<base>/s' unit, not only FLOP/s."""
    assert parse_rate("5 ktoken/s", unit="token/s") == 5000.0


def test_parse_rate_bad_unit_argument():
    """A malformed unit argument is a programming error (plain ValueError)."""
    with pytest.raises(ValueError, match="FLOP/s"):
        parse_rate("1", unit="FLOP")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (8, 8), ("8", 8), ("1e6", 10**6), ("1_000_000", 10**6), (1e6, 10**6), ("2^20", 2**20),
        ("2 ** 10", 1024), ("0", 0), (0, 0), ("12345678901234567890", 12345678901234567890),
        ("1.0e3", 1000), (3.0, 3), (" 42 ", 42), ("+5", 5), ("-0", 0), ("1e30", 10**30),
    ],
)
def test_parse_count_table(value, expected):
    """Each count spelling gives the exact int."""
    count = parse_count(value)
    assert count == expected
    assert type(count) is int


ERRORS = [
    (parse_bandwidth, "12 parsecs", "unknown unit 'parsecs'"),
    (parse_bytes, "4 mb", "did you mean 'MB' or 'Mbit'?"),
    (parse_bytes, "4 mB", "did you mean 'MB' or 'Mbit'?"),
    (parse_bytes, "1 gb", "did you mean 'GB' or 'Gbit'?"),
    (parse_bytes, "1 kib", "did you mean 'KiB' or 'Kibit'?"),
    (parse_bandwidth, "1 mbps", "did you mean 'MB/s' or 'Mbit/s'?"),
    (parse_bandwidth, "1 GBPS", "did you mean 'GB/s' or 'Gbit/s'?"),
    (parse_time, "5 Ms", "did you mean 'ms'?"),
    (parse_time, "5 US", "did you mean 'us'?"),
    (parse_bandwidth, "100 GB", "'GB' is a unit of size, not bandwidth"),
    (parse_bytes, "1 GB/s", "'GB/s' is a unit of bandwidth, not size"),
    (parse_time, "1 MB", "'MB' is a unit of size, not time"),
    (parse_bandwidth, "5 ps", "'ps' is a unit of time, not bandwidth"),
    (parse_rate, "1 TB/s", "'TB/s' is a unit of bandwidth"),
    (parse_rate, "1 mFLOP/s", "unknown unit 'mFLOP/s'"),
    (parse_rate, "1 TiFLOP/s", "unknown unit 'TiFLOP/s'"),
    (parse_bytes, "1 e", "unknown unit 'e'"),
    (parse_bytes, "1 MB2", "unknown unit 'MB2'"),
    (parse_time, "1 day", "unknown unit 'day'"),
    (parse_bytes, float("nan"), "not a finite number"),
    (parse_bytes, float("inf"), "not a finite number"),
    (parse_time, float("-inf"), "not a finite number"),
    (parse_bytes, "nan", "not a finite number"),
    (parse_bandwidth, "inf", "not a finite number"),
    (parse_time, "-Infinity", "not a finite number"),
    (parse_bytes, "1e999", "out of range"),
    (parse_bytes, "1e300 EB", "out of range"),
    (parse_bytes, 10**400, "out of range"),
    (parse_bytes, True, "got bool"),
    (parse_time, False, "got bool"),
    (parse_bandwidth, None, "got NoneType"),
    (parse_bytes, [1], "got list"),
    (parse_bytes, b"1", "got bytes"),
    (parse_bytes, "", "empty string"),
    (parse_time, "   ", "empty string"),
    (parse_bytes, "abc", "expected a number optionally followed by a unit"),
    (parse_bytes, "MB", "expected a number optionally followed by a unit"),
    (parse_bytes, "1,000", "expected a number optionally followed by a unit"),
    (parse_bytes, "1 2", "expected a number optionally followed by a unit"),
    (parse_bytes, "--1", "expected a number optionally followed by a unit"),
    (parse_bytes, "1.2.3", "expected a number optionally followed by a unit"),
    (parse_bytes, "1__0", "expected a number optionally followed by a unit"),
    (parse_bytes, "5 %", "expected a number optionally followed by a unit"),
    (parse_time, "1\nparsecs", "unknown unit 'parsecs'"),
    (parse_bytes, "1 M\nB", "expected a number optionally followed by a unit"),
    (parse_bytes, "\u0665 MB", "expected a number optionally followed by a unit"),
    (parse_count, -1, "must not be negative"),
    (parse_count, "-5", "must not be negative"),
    (parse_count, 1.5, "not an integer"),
    (parse_count, "1.5", "not an integer"),
    (parse_count, "1e-3", "not an integer"),
    (parse_count, "2^-1", "expected a non-negative integer"),
    (parse_count, "1k", "expected a non-negative integer"),
    (parse_count, True, "got bool"),
    (parse_count, None, "got NoneType"),
    (parse_count, float("nan"), "not a finite number"),
    (parse_count, float("inf"), "not a finite number"),
    (parse_count, "", "empty string"),
    (parse_count, "1e5000", "too large"),
    (parse_count, "2^100000", "too large"),
]


@pytest.mark.parametrize(("parser", "value", "fragment"), ERRORS)
def test_errors(parser, value, fragment):
    """Bad input raises UnitError with one line naming the input and the reason."""
    with pytest.raises(UnitError) as info:
        parser(value)
    message = str(info.value)
    assert fragment in message
    assert message.startswith(f"cannot parse {repr(value)[:50]}")
    assert "\n" not in message


def test_error_message_exact():
    """The bandwidth error reads exactly as documented."""
    with pytest.raises(UnitError) as info:
        parse_bandwidth("12 parsecs")
    assert str(info.value) == (
        "cannot parse '12 parsecs' as a bandwidth: unknown unit 'parsecs' (try e.g. '100 Gbit/s', '12.5 GB/s')"
    )


def test_unit_error_is_value_error():
    """UnitError can be caught as ValueError too."""
    with pytest.raises(ValueError):
        parse_time("soon")


def test_long_input_is_shortened():
    """A huge bad string does not produce a huge message."""
    with pytest.raises(UnitError) as info:
        parse_bytes("x" * 10_000)
    assert len(str(info.value)) < 250


def _scaled(x: float, factor: tuple[int, int]) -> float:
    return x * factor[0] / factor[1]


@given(MAGNITUDES, st.sampled_from(sorted(SIZE_FACTORS)), st.sampled_from(["", " ", "  "]))
def test_size_property(x, unit, space):
    """For any number and size unit, parse_bytes gives number * factor exactly."""
    assert parse_bytes(f"{x!r}{space}{unit}") == _scaled(x, SIZE_FACTORS[unit])


@given(MAGNITUDES, st.sampled_from(sorted(BANDWIDTH_FACTORS)), st.sampled_from(["", " "]))
def test_bandwidth_property(x, unit, space):
    """For any number and bandwidth unit, parse_bandwidth gives number * factor exactly."""
    assert parse_bandwidth(f"{x!r}{space}{unit}") == _scaled(x, BANDWIDTH_FACTORS[unit])


@given(MAGNITUDES, st.sampled_from(sorted(TIME_FACTORS)), st.sampled_from(["", " "]))
def test_time_property(x, unit, space):
    """For any number and time unit, parse_time gives number * factor exactly."""
    assert parse_time(f"{x!r}{space}{unit}") == _scaled(x, TIME_FACTORS[unit])


@given(MAGNITUDES, st.sampled_from(sorted(RATE_FACTORS)))
def test_rate_property(x, unit):
    """For any number and FLOP/s unit, parse_rate gives number * factor exactly."""
    assert parse_rate(f"{x!r} {unit}") == _scaled(x, RATE_FACTORS[unit])


@given(FINITE, st.sampled_from(PARSERS))
def test_plain_numbers_pass_through(x, parser):
    """A finite float, or its repr, is returned unchanged in the base unit."""
    assert parser(x) == x
    assert parser(repr(x)) == x


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(PARSERS))
def test_plain_ints_pass_through(n, parser):
    """An int, or its decimal string, is returned as the equal float."""
    assert parser(n) == float(n)
    assert parser(str(n)) == float(n)


@given(st.integers(min_value=0, max_value=10**40))
def test_count_roundtrip(n):
    """Every non-negative int survives parse_count exactly, plain or with underscores."""
    assert parse_count(n) == n
    assert parse_count(str(n)) == n
    assert parse_count(f"{n:_}") == n


@given(st.integers(min_value=0, max_value=64), st.integers(min_value=0, max_value=64))
def test_count_power(base, exponent):
    """'a^b' and 'a**b' give exactly base ** exponent."""
    assert parse_count(f"{base}^{exponent}") == base**exponent
    assert parse_count(f"{base}**{exponent}") == base**exponent


@given(st.floats(min_value=0.0, max_value=1e15).filter(lambda v: not v.is_integer()))
def test_count_refuses_fractions(x):
    """A non-integral float is never a count."""
    with pytest.raises(UnitError, match="not an integer"):
        parse_count(x)


@pytest.mark.parametrize(
    ("formatter", "value", "expected"),
    [
        (format_bytes, 1e6, "1.00 MB"), (format_bytes, 512, "512 B"), (format_bytes, 999_999, "1.00 MB"),
        (format_bytes, 12.5e9, "12.5 GB"), (format_bytes, 123_456, "123 kB"), (format_bytes, 0, "0 B"),
        (format_bytes, 0.5, "0.500 B"), (format_bytes, -2048, "-2.05 kB"), (format_bytes, 1e25, "1e+07 EB"),
        (format_time, 5e-6, "5.00 us"), (format_time, 1.5e-3, "1.50 ms"), (format_time, -1.5e-3, "-1.50 ms"),
        (format_time, 3600, "3600 s"), (format_time, 0, "0 s"), (format_time, 2e-9, "2.00 ns"),
        (format_time, 9.9996e-6, "10.0 us"), (format_time, 1e-17, "1.00e-05 ps"), (format_time, math.inf, "inf s"),
        (format_bandwidth, 12.5e9, "12.5 GB/s"), (format_bandwidth, 1e3, "1.00 kB/s"), (format_bandwidth, 0, "0 B/s"),
    ],
)
def test_format_table(formatter, value, expected):
    """Formatters give short three-digit strings."""
    assert formatter(value) == expected


def test_format_options():
    """format_bytes(binary=True) uses KiB/MiB, format_bandwidth(bits=True) uses bit/s."""
    assert format_bytes(4 * 2**20, binary=True) == "4.00 MiB"
    assert format_bytes(1023, binary=True) == "1023 B"
    assert format_bytes(1023.9, binary=True) == "1.00 KiB"
    assert format_bytes(1000.5 * 2**20, binary=True) == "1000 MiB"
    assert format_bandwidth(12.5e9, bits=True) == "100 Gbit/s"
    assert format_bandwidth(50e6, bits=True) == "400 Mbit/s"


@given(FORMATTABLE)
def test_format_bytes_roundtrip(x):
    """parse_bytes(format_bytes(x)) recovers x to three significant digits."""
    assert parse_bytes(format_bytes(x)) == pytest.approx(x, rel=FORMAT_REL)
    assert parse_bytes(format_bytes(x, binary=True)) == pytest.approx(x, rel=FORMAT_REL)


@given(FORMATTABLE)
def test_format_time_roundtrip(x):
    """parse_time(format_time(x)) recovers x to three significant digits."""
    assert parse_time(format_time(x)) == pytest.approx(x, rel=FORMAT_REL)


@given(FORMATTABLE)
def test_format_bandwidth_roundtrip(x):
    """parse_bandwidth(format_bandwidth(x)) recovers x to three significant digits."""
    assert parse_bandwidth(format_bandwidth(x)) == pytest.approx(x, rel=FORMAT_REL)
    assert parse_bandwidth(format_bandwidth(x, bits=True)) == pytest.approx(x, rel=FORMAT_REL)


@given(FORMATTABLE)
def test_format_is_short(x):
    """Formatted strings stay narrow enough for table columns."""
    for text in (format_bytes(x), format_time(x), format_bandwidth(x)):
        assert len(text) <= 14


def test_column_unit_is_the_scale_of_the_median_value():
    """One unit per column: the largest scale the median reaches (364 us, 2.57 ms, 5 us → us; bytes
    1 kB, 50 MB, 2 GB → MB); an all-zero column keeps the base unit."""
    from commsim.units import column_unit

    assert column_unit([364e-6, 2.57e-3, 5e-6], "time") == ("us", 1e-6)
    assert column_unit([2.57e-3, 5.13e-3, 364e-6, 0.0], "time") == ("ms", 1e-3)
    assert column_unit([1e3, 5e7, 2e9], "bytes") == ("MB", 1e6)
    assert column_unit([999, 1000, 1001], "bytes") == ("kB", 1e3)
    assert column_unit([0, 0], "time") == ("s", 1.0) and column_unit([], "bytes") == ("B", 1.0)
    assert column_unit([3e-13], "time") == ("ps", 1e-12)
    assert column_unit([3.1e9, 1.2e7, 1.9e5], "bandwidth") == ("MB/s", 1e6) and column_unit([], "bandwidth") == ("B/s", 1.0)


def test_format_in_a_column_unit():
    """Three significant digits below 1000, whole numbers above, never an exponent."""
    from commsim.units import format_in

    assert [format_in(x, 1e-6) for x in (364e-6, 2.5664e-3, 56e-6, 12.04e-6, 0.5e-6)] == ["364", "2566", "56.0", "12.0", "0.500"]
    assert format_in(7.52e12, 1e3) == "7520000000" and format_in(0, 1e6) == "0" and format_in(-2e-6, 1e-6) == "-2.00"
    # more digits where a table needs them: 158.4 and 158.0 apart, 1.5124 ms as 1512 us
    assert [format_in(x, 1e-3, 4) for x in (158.44e-3, 158.0e-3, 1.51241e-3, 0.00123e-3, 12345e-3)] == [
        "158.4", "158.0", "1.512", "0.001230", "12345"]


BARE_FLOOR, BARE_CEILING = 1e6, 1.0  # B/s and s, as README states the rule


@given(x=st.floats(min_value=0, max_value=1e9, exclude_min=True), as_text=st.booleans(), unit=st.sampled_from(
    ["B/s", "Gbit/s", "GB/s", "bit/s"]))
def test_a_bare_bandwidth_is_refused_exactly_below_one_megabyte_per_second(x, as_text, unit):
    """A bandwidth written without a unit is refused iff 0 < x < 1e6 B/s, as a number or as text; with a unit
    any value passes (the parser takes it as written)."""
    from commsim.units import check_bare_bandwidth

    written = repr(x) if as_text else x
    if x < BARE_FLOOR:
        with pytest.raises(UnitError, match=r"^a bare .* is .*B/s \(.*bit/s\), slower than any network: give the unit"):
            check_bare_bandwidth(written)
    else:
        check_bare_bandwidth(written)
    check_bare_bandwidth(f"{x!r} {unit}")


@given(x=st.floats(min_value=0, max_value=1e6), as_text=st.booleans(), unit=st.sampled_from(["us", "ms", "s", "ns"]))
def test_a_bare_latency_is_refused_exactly_from_one_second(x, as_text, unit):
    """A latency written without a unit is refused iff x >= 1 s, as a number or as text; with a unit it passes."""
    from commsim.units import check_bare_latency

    written = repr(x) if as_text else x
    if x >= BARE_CEILING:
        with pytest.raises(UnitError, match=r"^a bare .* is .*s, longer than any link's latency: give the unit"):
            check_bare_latency(written)
    else:
        check_bare_latency(written)
    check_bare_latency(f"{x!r} {unit}")


@pytest.mark.parametrize("value", [0, -5, "-100", True, None, "fast", [100], {"from": 1}, "1e400", 10**400, "  "])
def test_what_is_not_a_positive_bare_number_is_left_to_the_parser(value):
    """Zero, negatives, booleans, words, lists, overflowing numbers: not the bare-number check's to refuse
    (the parser and the range checks say what is wrong with them)."""
    from commsim.units import check_bare_bandwidth, check_bare_latency

    check_bare_bandwidth(value)
    check_bare_latency(value)


def test_a_bare_number_is_echoed_as_written_and_long_ones_short():
    """The message quotes the number as the file wrote it; a 40-digit one is shown in %g."""
    from commsim.units import check_bare_bandwidth, check_bare_latency

    with pytest.raises(UnitError, match=r"^a bare 1_0 is 10\.0 B/s \(80\.0 bit/s\), .*'1_0 Gbit/s'"):
        check_bare_bandwidth(" 1_0 ")
    with pytest.raises(UnitError, match=r"^a bare 1e\+40 is 1e\+40 s, .*\('1e\+40 us', '1e\+40 ms', or '1e\+40 s' if meant\)$"):
        check_bare_latency("1" + "0" * 40)
