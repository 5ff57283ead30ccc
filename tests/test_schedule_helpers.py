"""The schedule engine's array helpers against plain references (numpy's sort-based forms, Python loops): the
fast paths (no sort where a column holds one value or a short range, a gather or a rotation instead of
``np.maximum.at``) must give what the slow forms give, on any input."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim.engines.schedule import _everything, _histogram, _in_order, _Log, _Spread, _Tally, _values

small = st.integers(min_value=-3, max_value=6)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=8).flatmap(lambda size: st.tuples(st.just(size), st.one_of(
    st.just(list(range(size))), st.permutations(list(range(size))), st.lists(small, max_size=8),
    st.lists(st.integers(0, max(size - 1, 0)), min_size=size, max_size=size)))))
def test_everything_is_0_to_size_minus_1_in_order(case):
    size, values = case
    assert _everything(np.array(values, dtype=np.int64), size) == (values == list(range(size)))


def test_everything_by_hand():
    assert _everything(np.arange(5), 5) and _everything(np.arange(0), 0) and _everything(np.arange(1), 1)
    assert not _everything(np.arange(5), 4) and not _everything(np.arange(1, 6), 5)
    assert not _everything(np.array([0, 2, 1, 3]), 4) and not _everything(np.array([0, 1, 1, 3]), 4)
    assert not _everything(np.array([0, 1, 2, 2]), 4)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=7).flatmap(
    lambda rows: st.lists(st.lists(small, min_size=rows, max_size=rows), min_size=1, max_size=3)))
def test_in_order_is_strictly_increasing_rows(columns):
    """Rows compared as tuples (the first column first, the next on ties): strictly increasing."""
    rows = list(zip(*columns))
    assert _in_order(*(np.array(c, dtype=np.int64) for c in columns)) == all(a < b for a, b in zip(rows, rows[1:]))


def test_in_order_by_hand():
    assert _in_order(np.array([0, 0, 1]), np.array([1, 2, 0]))  # ties on the first broken by the second
    assert not _in_order(np.array([0, 0, 1]), np.array([2, 2, 0]))  # a tie on both: not strictly increasing
    assert not _in_order(np.array([1, 0]), np.array([0, 5]))  # the first column decides before the second
    assert _in_order(np.array([], dtype=np.int64)) and _in_order(np.array([4]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=12), st.booleans())
def test_histogram_and_values_are_numpys_unique(sizes, floats):
    nbytes = np.array(sizes, dtype=np.float64 if floats else np.int64)
    values, counts = _histogram(nbytes)
    want_values, want_counts = np.unique(nbytes, return_counts=True)
    assert values.tolist() == want_values.tolist() and counts.tolist() == want_counts.tolist()
    assert _values(nbytes) == np.unique(nbytes).tolist()


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=6).flatmap(lambda n: st.tuples(
    st.just(n), st.one_of(st.permutations(list(range(n))), st.lists(st.integers(0, n - 1), min_size=1, max_size=2 * n)),
    st.lists(st.floats(-5, 5), min_size=2 * n, max_size=2 * n), st.lists(st.floats(-5, 5), min_size=n, max_size=n))))
def test_spread_gathers_and_maximises_as_a_loop_would(case):
    """Whatever the ends (a permutation, a rotation, the identity, or repeats), gather is values[ends] and maximum
    is into[p] = max(into[p], values[i]) over the transfers i ending at p."""
    n, ends, values, into = case
    ends = np.array(ends, dtype=np.int64)
    values = np.array(values[: len(ends)])
    spread = _Spread(ends, n)
    assert spread.gather(np.array(into)).tolist() == np.array(into)[ends].tolist()
    got, want = np.array(into), list(into)
    spread.maximum(got, values)
    for i, p in enumerate(ends.tolist()):
        want[p] = max(want[p], values[i])
    assert got.tolist() == want


def test_spread_finds_the_identity_and_rotations():
    """ends[i] is transfer i's participant; inverse[p] is participant p's transfer: for ends (1, 2, 0), participant
    0 has transfer 2, so values reach participants shifted by 1 (inverse = (p − 1) mod 3)."""
    assert _Spread(np.array([0, 1, 2]), 3).identity
    rotated = _Spread(np.array([1, 2, 0]), 3)
    assert rotated.shift == 1 and not rotated.identity and rotated.inverse.tolist() == [2, 0, 1]
    assert _Spread(np.array([2, 0, 1]), 3).shift == 2
    assert _Spread(np.array([0, 2, 1]), 3).shift is None  # a permutation that is no rotation
    assert _Spread(np.array([0, 1]), 3).inverse is None  # not every participant is an end
    assert _Spread(np.array([0, 0, 2]), 3).inverse is None  # one participant twice


def test_tally_counts_carries_and_moves_by_hand():
    """Two messages of 100 B on route 0 and one of 7 B on route 2 (route 1 unused), three rounds over; then
    40.4 B of a message moved from route 2 to a new route 4: 40 whole bytes leave 2 and reach 4."""
    tally = _Tally()
    tally.count(np.array([100, 100, 7]), rounds=3)
    tally.carry(np.array([0, 0, 2]), np.array([300.0, 300.0, 21.0]))
    assert (tally.messages, tally.sizes) == (9, {7: 3, 100: 6})
    assert tally.route_bytes.tolist() == [600.0, 0.0, 21.0] and tally.touched.tolist() == [True, False, True]
    tally.add(np.array([1]), np.array([5]))  # once: one message of 5 B on route 1
    assert (tally.messages, tally.sizes[5], tally.route_bytes[1]) == (10, 1, 5.0)
    tally.route_bytes[1] = 0.0
    tally.move(2, 4, 40.4)
    assert tally.route_bytes.tolist() == [600.0, 0.0, -19.0, 0.0, 40.0]
    assert tally.touched.tolist() == [True, True, True, False, True]


def test_the_log_names_only_the_transfers_that_left_late():
    """A transfer issued at 1 s that left at 1.5 s (jitter) is posted; one that left when issued is not."""
    log = _Log()
    log.add(np.array([0, 1]), np.array([1, 0]), np.array([8, 8]), np.array([1.5, 2.0]), np.array([3.0, 3.0]),
            "p", np.array([0, 1]), np.array([1.0, 2.0]))
    assert log.posted(["a", "b"]) == {("a", "b", 1.5): 1.0}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("add"), st.lists(st.integers(0, 5), max_size=5)),
    st.tuples(st.just("due"), st.integers(0, 5)),
    st.tuples(st.just("keep"), st.lists(st.booleans(), min_size=12, max_size=12))), max_size=10))
def test_rows_in_chunks_are_a_plain_table(steps):
    """The fluid way's tables in chunks against a list of rows: rows added in turn (times 0–5, some chunks
    empty), taken when due (in order, whole chunks, parts of chunks or none), kept by a mask: the same rows in the
    same order, the same earliest time, and a chunk as added (taken alone) told apart from rows merged."""
    from commsim.engines.schedule import _Rows

    table, plain, label = _Rows(("call", "i"), ("at",)), [], 0
    for action, value in steps:
        if action == "add":
            rows = [(label + j, float(at)) for j, at in enumerate(value)]
            label += len(value)
            table.add(call=np.zeros(len(rows), dtype=np.int64), i=[i for i, _ in rows], at=[at for _, at in rows])
            plain += rows
        elif action == "due":
            got = table.due(float(value))
            due = [row for row in plain if row[1] <= value]
            plain = [row for row in plain if row[1] > value]
            if not due:
                assert got is None
                continue
            assert list(zip(got["i"].tolist(), got["at"].tolist())) == due
            if table.as_added:  # (one chunk as added: labels consecutive within one add)
                assert got["i"].tolist() == sorted(got["i"].tolist())
        elif len(table):
            mask = np.resize(np.array(value), len(table))
            table.keep(mask)
            plain = [row for row, kept in zip(plain, mask.tolist()) if kept]
        assert len(table) == len(plain) == len(table.chunks and table.column("i"))
        assert table.column("i").tolist() == [i for i, _ in plain]
        assert table.earliest() == (min(at for _, at in plain) if plain else None)
        assert all(len(chunk["i"]) for chunk in table.chunks)  # no empty chunk: an empty one would say "inf"


def test_rows_in_chunks_by_hand():
    """Two chunks: at 1, 3 | 2; due at 2 takes rows 0 (part of the first) and 2 (the whole second), in order;
    merged by a mask, a single chunk taken is no longer one as added; every row taken at once, in order."""
    from commsim.engines.schedule import _Rows

    table = _Rows(("call", "i"), ("at",))
    table.add(call=[0, 0], i=[0, 1], at=[1.0, 3.0])
    table.add(call=[0], i=[2], at=[2.0])
    assert table.earliest() == 1.0 and table.due(0.5) is None
    got = table.due(2.0)
    assert got["i"].tolist() == [0, 2] and not table.as_added and table.column("i").tolist() == [1]
    table.add(call=[0], i=[3], at=[5.0])
    assert table.due(3.0)["i"].tolist() == [1] and table.as_added
    table.add(call=[0], i=[4], at=[4.0])
    table.keep(np.array([True, True]))
    assert table.due(4.0)["i"].tolist() == [4] and not table.as_added and table.earliest() == 5.0
    table.add(call=[0], i=[6], at=[6.0])
    assert table.taken()["i"].tolist() == [3, 6] and table.taken() is None and len(table) == 0  # all, then none


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=6).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, n - 1), max_size=10), st.sets(st.integers(0, n - 1)), st.just(n))))
def test_transfers_by_end_are_those_a_loop_finds(case):
    """A round's transfers by sender (or receiver) for a group: exactly the transfers whose end is in the group,
    each with its end's position in the group — participants with none, one or several transfers."""
    from commsim.engines.schedule import _ByEnd

    ends, group, n = case
    group = sorted(group)
    rows, member = _ByEnd(np.array(ends, dtype=np.int64), n).of(np.array(group, dtype=np.int64))
    assert sorted(zip(rows.tolist(), member.tolist())) == [(t, group.index(end)) for t, end in enumerate(ends)
                                                           if end in group]


def test_transfers_by_end_by_hand():
    """A ring of 4 (each sends one: the shortcut) and a star's receiver (3 of 4 transfers to 0)."""
    from commsim.engines.schedule import _ByEnd

    ring = _ByEnd(np.array([1, 2, 3, 0]), 4)  # transfer t ends at (t + 1) mod 4
    assert ring.single
    rows, member = ring.of(np.array([0, 2]))
    assert rows.tolist() == [3, 1] and member.tolist() == [0, 1]
    star = _ByEnd(np.array([0, 0, 1, 0]), 3)
    assert not star.single
    rows, member = star.of(np.array([0, 2]))
    assert rows.tolist() == [0, 1, 3] and member.tolist() == [0, 0, 0]


def test_a_pattern_carries_bytes_per_transfer_into_the_tally_by_hand():
    """Three transfers on routes 2, 0, 2: launched in parts over two rounds (transfer 1 with 0 bytes: its route
    still taken), then tallied: bytes per route 5 + 7 + 11 = 23 on route 2, 0 on route 0 (taken), none on route 1;
    tallied again with nothing launched since, nothing more."""
    from commsim.engines.schedule import _Pattern

    pattern = _Pattern(np.array([0, 1, 2]), np.array([1, 2, 0]))
    pattern.found(np.array([2, 0, 2]))
    pattern.carry(np.array([2, 1]), np.array([7, 0]))
    pattern.carry(slice(None), np.array([5, 0, 11]))
    tally = _Tally()
    pattern.tally(tally)
    assert tally.route_bytes.tolist() == [0.0, 0.0, 23.0] and tally.touched.tolist() == [True, False, True]
    pattern.tally(tally)
    assert tally.route_bytes.tolist() == [0.0, 0.0, 23.0] and tally.messages == 0  # (counts are the caller's)
    pattern.carry(np.array([0]), np.array([4]))
    pattern.tally(tally)
    assert tally.route_bytes.tolist() == [0.0, 0.0, 27.0]
