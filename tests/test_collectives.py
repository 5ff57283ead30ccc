"""The collectives: textbook counts and sizes, exact means, identical replicas, size-only mode."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commsim.collectives import REGISTRY, get
from commsim.engines.message import make_buffers, message_histogram, run_collective
from commsim.network import topology

B, ALPHA = 12.5e9, 5e-6
ALGORITHMS = ["all_to_all", "parameter_server", "ring_allreduce"]
W = 4  # float32


def textbook_sizes(algorithm: str, n: int, p: int, w: int = W) -> Counter:
    """The table of background.md §3, written out independently of commsim's analytic module."""
    if n == 1:
        return Counter()
    if algorithm == "all_to_all":
        return Counter({p * w: n * (n - 1)})
    if algorithm == "parameter_server":
        return Counter({p * w: 2 * n})
    small, large = p // n, -(-p // n)
    n_large = p - small * n  # chunks that get one extra element
    sizes = Counter({small * w: (n - n_large) * 2 * (n - 1)})
    sizes[large * w] += n_large * 2 * (n - 1)
    return +sizes if p else Counter({0: 2 * n * (n - 1)})


def _graph(algorithm: str, n: int, kind: str = "star"):
    return topology.build(kind, n, B, ALPHA, servers=get(algorithm).server is not None)


def _run(algorithm, n, p, payload="data", kind="star", dtype="float32", seed=0):
    buffers = make_buffers(n, p, dtype, payload, seed)
    return buffers, run_collective(algorithm, _graph(algorithm, n, kind), buffers)


def test_registry_holds_the_three_textbook_algorithms():
    """The three patterns are registered by name, and unknown names say what is known."""
    assert set(ALGORITHMS) <= set(REGISTRY)
    with pytest.raises(ValueError, match="unknown algorithm 'tree'; known: all_to_all"):
        get("tree")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 16])
@pytest.mark.parametrize("p", [240, 1001])
def test_counts_and_sizes_match_the_textbook(algorithm, n, p):
    """Messages and their sizes equal the table, with p divisible (240) and not (1001) by n."""
    _, run = _run(algorithm, n, p, payload="size-only")
    sizes = textbook_sizes(algorithm, n, p)
    assert message_histogram(run.network.log) == dict(sizes)
    copies = {"all_to_all": n * (n - 1), "parameter_server": 2 * n, "ring_allreduce": 2 * (n - 1)}[algorithm]
    assert sum(run.network.log.nbytes) == (copies * p * W if n > 1 else 0)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 16])
def test_every_worker_holds_the_exact_mean(algorithm, n):
    """With integer-valued data every sum is exact, so each result equals numpy's mean bit for bit."""
    rng = np.random.default_rng(n)
    buffers = [rng.integers(-1000, 1000, 1001).astype(np.float64) for _ in range(n)]
    run = run_collective(algorithm, _graph(algorithm, n), buffers)
    mean = np.mean(np.stack(buffers), axis=0)
    for result in run.results:
        np.testing.assert_array_equal(result, mean)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_inputs_are_left_untouched(algorithm):
    """A collective returns new buffers and never writes into the workers' gradients."""
    buffers = make_buffers(5, 103, "float64", "data", 1)
    before = [b.copy() for b in buffers]
    run = run_collective(algorithm, _graph(algorithm, 5), buffers)
    for buffer, original, result in zip(buffers, before, run.results):
        np.testing.assert_array_equal(buffer, original)
        assert not np.shares_memory(buffer, result)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_size_only_mode_moves_the_same_bytes_at_the_same_times(algorithm):
    """Size-only buffers reproduce the data run's log exactly, without data."""
    _, data = _run(algorithm, 6, 1003, payload="data")
    _, sizes = _run(algorithm, 6, 1003, payload="size-only")
    for column in ("route", "nbytes", "start", "end", "phase"):
        assert getattr(data.network.log, column) == getattr(sizes.network.log, column)
    assert data.finish_s == sizes.finish_s


@given(
    algorithm=st.sampled_from(ALGORITHMS),
    kind=st.sampled_from(["star", "fully_connected", "ring"]),
    n=st.integers(1, 12),
    p=st.integers(0, 150),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=60, deadline=None)
def test_any_n_and_p_give_textbook_counts_mean_and_identical_replicas(algorithm, kind, n, p, seed):
    """For any n ≥ 1 and p ≥ 0: textbook counts, the mean on every worker, identical replicas."""
    if kind == "ring" and algorithm == "parameter_server":
        kind = "star"
    buffers, run = _run(algorithm, n, p, kind=kind, dtype="float64", seed=seed)
    assert message_histogram(run.network.log) == dict(textbook_sizes(algorithm, n, p, w=8))
    mean = np.mean(np.stack(buffers), axis=0)
    for result in run.results:
        np.testing.assert_allclose(result, mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(result, run.results[0])


def test_parameter_server_needs_a_server_node():
    """Running the parameter server on a topology without a server is refused clearly."""
    with pytest.raises(topology.TopologyError, match="needs a parameter server"):
        run_collective("parameter_server", topology.star(3, B, ALPHA), make_buffers(3, 10, "float32", "data", 0))


def _star_for(algorithm: str, n: int):
    servers = 0 if get(algorithm).server is None else 2 if algorithm == "sharded_parameter_server" else 1
    return topology.build("star", n, B, ALPHA, servers=servers)


@pytest.mark.parametrize("algorithm", list(REGISTRY))
@pytest.mark.parametrize("n", [1, 2, 4, 5])
def test_every_result_is_a_fresh_array(algorithm, n):
    """No rank's result shares memory with an input or with another rank's result: a worker that writes
    into its result changes nobody else's (n = 1 too: a copy, never the caller's own buffer)."""
    if get(algorithm).power_of_two and n & (n - 1):
        n = 8
    buffers = make_buffers(n, 37, "float64", "data", 3)
    run = run_collective(algorithm, _star_for(algorithm, n), buffers)
    for rank, result in enumerate(run.results):
        assert isinstance(result, np.ndarray)
        for other in [*buffers, *run.results[:rank]]:
            assert not np.shares_memory(result, other)


def _sum_in_order(buffers):
    total = buffers[0].copy()
    for buffer in buffers[1:]:
        total += buffer
    total /= len(buffers)
    return total


@pytest.mark.parametrize("algorithm", ["all_to_all", "parameter_server", "sharded_parameter_server"])
def test_means_are_summed_in_rank_order(algorithm):
    """All-to-all and the parameter servers add ((b0 + b1) + b2) + ... in the buffers' dtype, then divide
    by n: bit for bit, on float32 data whose sum depends on the order (checked: reversed differs)."""
    n, p = 5, 4000
    rng = np.random.default_rng(7)
    buffers = [(rng.standard_normal(p) * 10.0 ** rng.integers(-4, 5, p)).astype(np.float32) for _ in range(n)]
    in_order, reversed_order = _sum_in_order(buffers), _sum_in_order(buffers[::-1])
    assert np.count_nonzero(in_order != reversed_order) > p // 10  # the data can tell the orders apart
    run = run_collective(algorithm, _star_for(algorithm, n), buffers)
    for result in run.results:
        np.testing.assert_array_equal(result, in_order)


def test_all_to_all_waits_for_its_own_sends():
    """On a ring of 4 worker 2's last send lands after its last receive (checked); every worker finishes
    when the last message it sent or received is delivered, not at its last receive."""
    n = 4
    run = run_collective("all_to_all", topology.build("ring", n, B, ALPHA), make_buffers(n, 1000, "float32", "size-only", 0))
    log = run.network.log
    ends = [(log.endpoints(i), log.end[i]) for i in range(len(log))]
    last_send = [max(end for (src, _), end in ends if src == rank) for rank in range(n)]
    last_receive = [max(end for (_, dst), end in ends if dst == rank) for rank in range(n)]
    assert last_send[2] > last_receive[2]
    assert run.finish_s == [max(s, r) for s, r in zip(last_send, last_receive)]


def test_chunks_follow_the_block_distribution():
    """Chunk i is [⌊i·p/n⌋, ⌊(i+1)·p/n⌋): for p = 10, n = 4 the bounds 0, 2, 5, 7, 10 (sizes 2, 3, 2, 3)."""
    from commsim.collectives.payload import chunk_bounds, split

    assert chunk_bounds(10, 4) == (0, 2, 5, 7, 10)
    assert chunk_bounds(3, 5) == (0, 0, 1, 1, 2, 3)
    assert [len(chunk) for chunk in split(np.arange(10), 4)] == [2, 3, 2, 3]


def test_buffers_are_drawn_in_their_own_precision():
    """float32 buffers are the seeded generator's float32 normals themselves (no float64 draw cast down);
    float64 its float64 normals; float16 the float32 draw rounded; size-only buffers carry only sizes."""
    import numpy as np

    from commsim.engines.message import make_buffers

    for dtype, drawn in (("float32", np.float32), ("float64", np.float64), ("float16", np.float32)):
        rng = np.random.default_rng([7, 3, 100])
        expected = [rng.standard_normal(100, dtype=drawn).astype(dtype) for _ in range(3)]
        got = make_buffers(3, 100, dtype, "data", 7)
        assert all(g.dtype == np.dtype(dtype) and np.array_equal(g, e) for g, e in zip(got, expected))
    assert [b.nbytes for b in make_buffers(3, 100, "float16", "size-only", 7)] == [200] * 3
