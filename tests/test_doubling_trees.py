"""Recursive doubling, Rabenseifner, binomial tree and double binary tree all-reduce."""

from collections import Counter
from math import log2

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim.collectives import get
from commsim.collectives.cost import LinkCost
from commsim.collectives.textbook.trees import binary_tree, double_binary_tree_shape
from commsim.engines import analytic
from commsim.engines.message import make_buffers, message_histogram, run_collective
from commsim.network import topology

B, ALPHA, GAMMA = 12.5e9, 5e-6, 1 / 20e9
BETA = 1 / B
ALGORITHMS = ["recursive_doubling", "rabenseifner", "binomial_tree", "double_binary_tree"]
RTOL = 1e-9


def _graph(n: int):
    return topology.build("fully_connected", n, B, ALPHA)


def _integer_buffers(n: int, p: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, n, p])
    return [rng.integers(-1000, 1000, p).astype(np.float64) for _ in range(n)]


def _assert_matches_cost(algorithm: str, n: int, p: int, w: int, gamma: float, run) -> None:
    expected = analytic.expected(algorithm, "fully_connected", n, p, w, ALPHA, B, gamma=gamma)
    assert message_histogram(run.network.log) == expected.message_bytes
    assert expected.time_relation == "="
    assert run.makespan_s == pytest.approx(expected.makespan_s, rel=RTOL, abs=0.0)


def test_the_four_algorithms_are_registered_as_allreduce_with_a_cost():
    """Each is registered under its name as an all-reduce with a closed form, for any n."""
    for name in ALGORITHMS:
        spec = get(name)
        assert spec.kind == "allreduce" and spec.cost is not None and not spec.power_of_two
        assert spec.summary


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("n", range(1, 18))
def test_every_rank_holds_the_exact_mean(algorithm, n):
    """Integer-valued data sums exactly, so every rank's result equals numpy's mean bit for bit."""
    buffers = _integer_buffers(n, 37)
    run = run_collective(algorithm, _graph(n), buffers, gamma=GAMMA)
    mean = np.mean(np.stack(buffers), axis=0)
    for result in run.results:
        np.testing.assert_array_equal(result, mean)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("n", range(2, 18))
def test_replicas_are_bitwise_identical_on_rounding_data(algorithm, n):
    """With float32 data whose sums round, every rank still ends with the same bits, close to the mean."""
    buffers = make_buffers(n, 101, "float32", "data", 7)
    before = [buffer.copy() for buffer in buffers]
    run = run_collective(algorithm, _graph(n), buffers)
    for result in run.results[1:]:
        assert result.dtype == np.float32
        np.testing.assert_array_equal(result, run.results[0])
    np.testing.assert_allclose(run.results[0], np.mean(np.stack(before).astype(np.float64), axis=0), atol=1e-5)
    for buffer, original in zip(buffers, before):
        np.testing.assert_array_equal(buffer, original)  # inputs untouched
    assert len({id(result) for result in run.results}) == n  # no rank shares another's buffer


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("n", range(2, 18))
@pytest.mark.parametrize("p", [1, 5, 1000, 1_000_003])
@pytest.mark.parametrize("gamma", [0.0, GAMMA])
def test_messages_and_makespan_equal_the_cost_on_fully_connected(algorithm, n, p, gamma):
    """Message-size histogram exactly, makespan to 1e-9, for uneven chunks and p < n (zero-byte messages)."""
    run = run_collective(algorithm, _graph(n), make_buffers(n, p, "float32", "size-only", 0), gamma=gamma)
    _assert_matches_cost(algorithm, n, p, 4, gamma, run)


THAKUR = {
    "recursive_doubling": lambda n, P, a, b, g: log2(n) * (a + P * b + P * g),
    "rabenseifner": lambda n, P, a, b, g: 2 * log2(n) * a + 2 * (n - 1) / n * P * b + (n - 1) / n * P * g,
    "binomial_tree": lambda n, P, a, b, g: 2 * log2(n) * (a + P * b) + log2(n) * P * g,
}


@pytest.mark.parametrize("algorithm", sorted(THAKUR))
@pytest.mark.parametrize("n", [2, 4, 8, 16])
@pytest.mark.parametrize("gamma", [0.0, GAMMA])
def test_powers_of_two_reduce_to_thakur_rabenseifner_gropp(algorithm, n, gamma):
    """For n = 2^k and n | p the cost, and the simulated time, are Thakur et al.'s formulas."""
    p, w = 3 * 2**10, 4
    formula = THAKUR[algorithm](n, p * w, ALPHA, BETA, gamma)
    assert get(algorithm).cost(n, p, w, LinkCost(ALPHA, BETA, gamma)).time == pytest.approx(formula, rel=RTOL)
    run = run_collective(algorithm, _graph(n), make_buffers(n, p, "float32", "size-only", 0), gamma=gamma)
    assert run.makespan_s == pytest.approx(formula, rel=RTOL)


@pytest.mark.parametrize(
    "n, fold, exchange",
    [(2, 0, 2), (3, 1, 2), (5, 1, 8), (6, 2, 8), (7, 3, 8), (8, 0, 24), (13, 5, 24), (16, 0, 64), (17, 1, 64)],
)
def test_recursive_doubling_folds_like_mpich(n, fold, exchange):
    """r = n − 2^⌊lg n⌋ even ranks fold into their odd neighbours and get the result back; m·lg m exchanges."""
    run = run_collective("recursive_doubling", _graph(n), make_buffers(n, 10, "float32", "size-only", 0))
    log = run.network.log
    phases = Counter(log.phases[i] for i in log.phase)
    assert phases == Counter({"fold": fold, "exchange": exchange, "unfold": fold}) - Counter()
    for i in range(len(log)):
        src, dst = log.endpoints(i)
        if log.phases[log.phase[i]] == "fold":
            assert src % 2 == 0 and dst == src + 1 and src < 2 * fold
        if log.phases[log.phase[i]] == "unfold":
            assert dst % 2 == 0 and src == dst + 1


@pytest.mark.parametrize("n", [3, 6, 12, 16])
def test_rabenseifner_halves_then_doubles_its_messages(n):
    """Reduce-scatter messages halve step by step (P/2, P/4, ...), all-gather ones double back; m of each."""
    p = 1 << 12
    run = run_collective("rabenseifner", _graph(n), make_buffers(n, p, "float32", "size-only", 0))
    log = run.network.log
    m = 1 << (n.bit_length() - 1)
    sizes = [p * 4 >> k for k in range(1, m.bit_length())]
    for phase, order in [("reduce_scatter", sizes), ("all_gather", sizes[::-1])]:
        sent = sorted((log.start[i], log.nbytes[i]) for i in range(len(log)) if log.phases[log.phase[i]] == phase)
        assert [size for _, size in sent] == [size for size in order for _ in range(m)]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 6, 8, 13, 16])
@pytest.mark.parametrize("gamma", [0.0, GAMMA])
def test_size_only_and_data_runs_log_the_same_messages(algorithm, n, gamma):
    """The same messages, between the same ranks, of the same sizes, at the same times, in the same phases."""
    logs = [
        run_collective(algorithm, _graph(n), make_buffers(n, 37, "float32", payload, 3), gamma=gamma).network.log
        for payload in ("data", "size-only")
    ]
    data, size_only = ([(log.endpoints(i), log.nbytes[i], log.start[i], log.end[i], log.phases[log.phase[i]])
                        for i in range(len(log))] for log in logs)
    assert data == size_only
    assert len(data) == sum(analytic.expected(algorithm, "fully_connected", n, 37, 4, ALPHA, B).message_bytes.values())


def test_first_tree_is_nccl_in_order_binary_tree():
    """Tree 1 for 14 ranks is the one drawn in NCCL's trees.cc: 0–8, 8–{4,12}, 12–{10,13}, ..."""
    _, children = binary_tree(14)
    drawn = {0: (8,), 8: (4, 12), 4: (2, 6), 12: (10, 13), 2: (1, 3), 6: (5, 7), 10: (9, 11)}
    assert {x: kids for x, kids in enumerate(children) if kids} == drawn


@pytest.mark.parametrize(
    "n, root, drawn",
    [
        (12, 11, {11: (3,), 3: (7, 1), 7: (9, 5), 1: (2, 0), 9: (10, 8), 5: (6, 4)}),  # mirrored
        (13, 1, {1: (9,), 9: (5, 0), 5: (3, 7), 0: (11,), 3: (2, 4), 7: (6, 8), 11: (10, 12)}),  # shifted
    ],
)
def test_second_tree_is_the_first_mirrored_or_shifted(n, root, drawn):
    """Tree 2 is tree 1 mirrored (n even) or shifted by one rank (n odd), as drawn in NCCL's trees.cc."""
    _, (parents, children) = double_binary_tree_shape(n)
    assert parents.index(-1) == root
    assert {x: kids for x, kids in enumerate(children) if kids} == drawn


@pytest.mark.parametrize("n", range(2, 65))
def test_the_two_trees_are_complementary_spanning_trees(n):
    """Both trees span every rank from one root; every leaf of tree 1 is an interior node of tree 2."""
    trees = double_binary_tree_shape(n)
    for parents, children in trees:
        assert parents.count(-1) == 1 and sum(map(len, children)) == n - 1
        for x, kids in enumerate(children):
            assert len(kids) <= 2 and all(parents[c] == x for c in kids)
        for x in range(n):  # every rank reaches the root
            for _ in range(n):
                x = parents[x] if parents[x] >= 0 else x
            assert parents[x] == -1
    (_, children1), (_, children2) = trees
    assert all(children2[x] for x in range(n) if not children1[x])


def _tree_time(parents, children, size: int, link: LinkCost) -> float:
    """Longest path on one tree, from its dependency structure: children added in order, broadcast to both at once."""
    hop, add = link.message(size), size * link.gamma

    def done(x):
        t = 0.0
        for child in children[x]:
            t = max(t, done(child) + hop) + add
        return t

    def depth(x):
        return 0 if parents[x] < 0 else 1 + depth(parents[x])

    return done(parents.index(-1)) + max(map(depth, range(len(parents)))) * hop


@pytest.mark.parametrize("n", range(2, 40))
@pytest.mark.parametrize("gamma", [0.0, GAMMA])
def test_double_tree_cost_is_the_longest_path_on_its_trees(n, gamma):
    """The closed form equals the longest path through both trees, each with its own half."""
    p, w = 1001, 4
    link = LinkCost(ALPHA, BETA, gamma)
    halves = (p // 2 * w, (p - p // 2) * w)
    longest = max(_tree_time(*tree, size, link) for tree, size in zip(double_binary_tree_shape(n), halves))
    assert get("double_binary_tree").cost(n, p, w, link).time == pytest.approx(longest, rel=RTOL)


@settings(max_examples=150, deadline=None)
@given(
    algorithm=st.sampled_from(ALGORITHMS),
    n=st.integers(1, 20),
    p=st.integers(0, 300),
    gamma=st.sampled_from([0.0, GAMMA]),
    seed=st.integers(0, 2**16),
)
def test_any_n_and_p_give_the_exact_mean_and_the_cost(algorithm, n, p, gamma, seed):
    """Any n ≥ 1, p ≥ 0: exact mean on every rank, histogram and makespan equal to the cost."""
    buffers = _integer_buffers(n, p, seed)
    run = run_collective(algorithm, _graph(n), buffers, gamma=gamma)
    mean = np.mean(np.stack(buffers), axis=0) if p else np.zeros(0)
    for result in run.results:
        np.testing.assert_array_equal(result, mean)
    _assert_matches_cost(algorithm, n, p, 8, gamma, run)
