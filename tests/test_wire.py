"""Tests for commsim.wire: bytes per message of each wire format, the sign encoding, majority vote and tie rule."""

import functools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import optim
from commsim import scenario
from commsim.collectives import get
from commsim.collectives.payload import mean_in_rank_order
from commsim.engines.message import run_collective
from commsim.network import topology as topologies
from commsim.runner import points
from commsim.training.datasets import Dataset, load_dataset
from commsim.training.loop import TrainingSetup, train
from commsim.training.models import build_model
from commsim.training.wire import WIRE_FORMATS

SIGN = WIRE_FORMATS["sign"]
VOTING = ("all_to_all", "parameter_server")


def sign_bytes(p: int) -> int:
    """⌈p/8⌉ bits of signs plus one fp32 scale."""
    return math.ceil(p / 8) + 4


def gradients(n_max: int = 6, p_max: int = 40):
    """(n, p, list of n float64 gradients of p elements, each entry 0 or of moderate size)."""
    element = st.one_of(st.just(0.0), st.floats(1e-3, 1e3), st.floats(-1e3, -1e-3))
    return st.integers(1, n_max).flatmap(lambda n: st.integers(1, p_max).flatmap(lambda p: st.tuples(
        st.just(n), st.just(p), st.lists(hnp.arrays(np.float64, p, elements=element), min_size=n, max_size=n))))


# --------------------------------------------------------------------------- bytes per message


@settings(max_examples=60, deadline=None)
@given(p=st.integers(1, 100_000), name=st.sampled_from(["fp16", "fp32", "fp64"]))
def test_value_formats_take_their_itemsize_per_element(p, name):
    """fp16 messages are 2 bytes per element, fp32 4, fp64 8: both the encoded buffer and the closed form."""
    wire = WIRE_FORMATS[name]
    width = {"fp16": 2, "fp32": 4, "fp64": 8}[name]
    buffer = wire.encode(np.linspace(-1.0, 1.0, p))
    assert buffer.dtype == np.dtype(wire.dtype) and buffer.shape == (p,)
    assert wire.nbytes(buffer) == width * p
    assert wire.message_bytes(p) == width * p
    assert not wire.is_sign


@settings(max_examples=100, deadline=None)
@given(p=st.integers(0, 1_000_000))
def test_sign_messages_take_ceil_p_over_8_plus_4_bytes(p):
    """A sign message for p elements is ⌈p/8⌉ + 4 bytes, whether counted from p or from an encoded buffer."""
    assert SIGN.message_bytes(p) == sign_bytes(p)
    if p <= 5000:
        buffer = SIGN.encode(np.sin(np.arange(p, dtype=np.float64)))
        assert buffer.shape == (p + 1,)
        assert SIGN.nbytes(buffer) == sign_bytes(p)
        assert SIGN.nbytes(SIGN.vote(buffer)) == sign_bytes(p)


@settings(max_examples=60, deadline=None)
@given(p=st.integers(1, 10_000_000))
def test_sign_to_fp32_ratio_approaches_32(p):
    """fp32 / sign bytes is 4p/(⌈p/8⌉+4): always under 32, and above 31 once p exceeds 1240."""
    ratio = WIRE_FORMATS["fp32"].message_bytes(p) / SIGN.message_bytes(p)
    assert ratio == 4 * p / sign_bytes(p)
    assert ratio < 32
    if p > 1240:
        assert ratio > 31


# --------------------------------------------------------------------------- encode / vote / decode


def test_sign_encoding_is_signs_then_mean_absolute_value():
    """encode(g) = [sign(g)..., mean|g|] in float32, with sign(0) = 0."""
    buffer = SIGN.encode(np.array([3.0, -1.0, 0.0, 0.5]))
    assert buffer.dtype == np.float32
    assert buffer.tolist() == [1.0, -1.0, 0.0, 1.0, 1.125]


@settings(max_examples=120, deadline=None)
@given(case=gradients())
def test_decode_of_mean_encoding_is_mean_scale_times_majority_vote(case):
    """decode(mean of encodes) = mean(scale_w)·sign(Σ_w sign(g_w)), directly and through the server's vote."""
    n, p, grads = case
    encoded = [SIGN.encode(g) for g in grads]
    mean = mean_in_rank_order(encoded)
    vote = np.sign(np.sum([np.sign(g) for g in grads], axis=0))
    scale = float(np.mean([np.float64(np.float32(np.mean(np.abs(g)))) for g in grads]))
    for decoded in (SIGN.decode(mean), SIGN.decode(SIGN.vote(mean))):
        assert decoded.dtype == np.float64 and decoded.shape == (p,)
        assert np.array_equal(np.sign(decoded), vote * (scale > 0))
        np.testing.assert_allclose(decoded, scale * vote, rtol=1e-6, atol=0)


@settings(max_examples=80, deadline=None)
@given(case=gradients(n_max=3), tied=st.data())
def test_tied_vote_is_zero_and_the_coordinate_does_not_move(case, tied):
    """With 2k workers whose signs cancel on a coordinate, the vote there is 0 and sign_sgd leaves it still."""
    k, p, grads = case
    grads = [g.copy() for g in grads] + [g.copy() for g in grads]  # n = 2k workers
    ties = tied.draw(st.lists(st.integers(0, p - 1), min_size=1, unique=True))
    for rank, g in enumerate(grads):
        g[ties] = np.abs(g[ties]) + 1.0 if rank < k else -(np.abs(g[ties]) + 0.25 * (rank + 1))
    mean = mean_in_rank_order([SIGN.encode(g) for g in grads])
    vote = SIGN.vote(mean)
    assert np.all(vote[ties] == 0)
    decoded = SIGN.decode(vote)
    assert np.all(decoded[ties] == 0)
    assert np.all(SIGN.decode(mean)[ties] == 0)
    optimizer = optim.sign_sgd(0.1)
    theta = np.arange(p, dtype=np.float64)
    updates, _ = optimizer.update(decoded, optimizer.init(theta), theta)
    moved = optim.apply_updates(theta, updates)
    assert np.array_equal(moved[ties], theta[ties])


@pytest.mark.parametrize("algorithm", VOTING)
def test_collective_of_cancelling_signs_returns_a_zero_vote(algorithm):
    """Through the real collective, two workers with opposite gradients vote 0 everywhere."""
    g = np.array([2.0, -3.0, 0.5, -0.1, 7.0])
    buffers = [SIGN.encode(g), SIGN.encode(-4.0 * g)]
    graph = topologies.build("star", 2, 1e9, 1e-6, servers=get(algorithm).server is not None)
    run = run_collective(algorithm, graph, buffers)
    for result in run.results:
        assert np.all(SIGN.decode(result) == 0)


def _tie_setup(optimizer: str, wire: str) -> TrainingSetup:
    """Two examples x = +1, -1 with y = 1, 3 under ½(wx + b − y)²: one per worker, so at w = 0, b < 1 the
    w-gradients are −1·(1−b) and +1·(3−b), opposite signs of different sizes, while both b-gradients are negative."""
    dataset = Dataset("tie", np.array([[1.0], [-1.0]]), np.array([1.0, 3.0]), "regression", 0)
    factory = functools.partial(optim.get, optimizer, learning_rate=0.1)
    return TrainingSetup(model=build_model("linear_regression", 1, 0), dataset=dataset, optimizer=factory,
                         wire=WIRE_FORMATS[wire], steps=5, batch_per_worker=1, flops_per_second=1e9, seed=0)


@pytest.mark.parametrize("algorithm", VOTING)
def test_tied_coordinate_stays_still_in_training(algorithm):
    """Two workers whose w-signs cancel: with the sign wire w stays 0 while b moves 0.1 a step; fp32 moves w."""
    graph = topologies.build("star", 2, 1e9, 1e-6, servers=get(algorithm).server is not None)
    voted = train(_tie_setup("sign_sgd", "sign"), algorithm, graph, 2)
    for replica in voted.replicas:
        assert replica["w"].tolist() == [0.0]
        assert replica["b"][0] == pytest.approx(0.5, abs=1e-12)
    averaged = train(_tie_setup("sign_sgd", "fp32"), algorithm, graph, 2)
    assert averaged.replicas[0]["w"][0] != 0.0  # the mean gradient does not cancel: w moves


# --------------------------------------------------------------------------- training traffic

SIGN_VOTE_LIKE = {
    "name": "sign-vote-small",
    "seed": 0,
    "workers": [2, 4, 5],
    "topology": {"kind": "star", "bandwidth": "10 Gbit/s", "latency": "5 us"},
    "algorithms": ["parameter_server", "all_to_all"],
    "training": {
        "model": "mlp", "hidden": 8, "features": 6, "classes": 3, "samples": 256, "steps": 4, "batch_per_worker": 8,
        "optimizer": [
            {"name": "sign_sgd", "learning_rate": 0.002},
            {"name": "sign_sgd", "learning_rate": 0.002, "wire": "sign"},
            {"name": "signum", "learning_rate": 0.002, "wire": "sign"},
            {"name": "sign_sgd", "learning_rate": 0.002, "wire": "fp16"},
        ],
    },
}
P_MLP = 6 * 8 + 8 + 8 * 3 + 3  # 83 parameters


@pytest.fixture(scope="module")
def sign_vote_runs():
    """The sign-vote-like scenario simulated: {(algorithm, workers, optimizer title): TrainingResult}."""
    runs = points.simulate(scenario.parse(SIGN_VOTE_LIKE))
    return {(run.algorithm, run.workers, run.optimizer): run for run in runs}


def test_sign_vote_runs_pass_every_check(sign_vote_runs):
    """Every run of the sign-vote-like scenario matches its closed forms and keeps replicas identical."""
    assert len(sign_vote_runs) == 2 * 3 * 4
    for key, run in sign_vote_runs.items():
        assert run.n_params == P_MLP
        assert run.ok, (key, run.checks)


@pytest.mark.parametrize("algorithm", VOTING)
@pytest.mark.parametrize("n", [2, 4, 5])
def test_sign_run_bytes_per_step_are_fp32_over_4p_per_ceil_p8_plus_4(sign_vote_runs, algorithm, n):
    """Same messages; bytes per step of the sign run beside the fp32 run in the ratio 4p/(⌈p/8⌉+4)."""
    fp32 = sign_vote_runs[algorithm, n, "sign_sgd"]
    for title in ("sign_sgd/sign", "signum/sign"):
        signed = sign_vote_runs[algorithm, n, title]
        assert signed.messages == fp32.messages > 0
        assert fp32.bytes * sign_bytes(P_MLP) == signed.bytes * 4 * P_MLP
        assert fp32.bytes / signed.bytes == pytest.approx(4 * P_MLP / sign_bytes(P_MLP), rel=1e-15)
        assert signed.message_bytes == {sign_bytes(P_MLP): signed.messages}
    assert fp32.message_bytes == {4 * P_MLP: fp32.messages}


@pytest.mark.parametrize("algorithm", VOTING)
def test_fp16_training_messages_are_two_bytes_per_parameter(sign_vote_runs, algorithm):
    """With the fp16 wire every training message is 2p bytes (and fp32's are 4p)."""
    for n in (2, 4, 5):
        fp16 = sign_vote_runs[algorithm, n, "sign_sgd/fp16"]
        assert fp16.message_bytes == {2 * P_MLP: fp16.messages}
        assert fp16.bytes * 2 == sign_vote_runs[algorithm, n, "sign_sgd"].bytes


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_majority_vote_over_parameter_server_sends_2n_sign_messages_per_step(n):
    """Per step each worker pushes one ⌈p/8⌉+4-byte sign message and the server sends n votes of the same size back."""
    features, classes, steps = 9, 3, 5
    p = classes * (features + 1)
    dataset = load_dataset("synthetic", task="classification", seed=1, n_samples=128, n_features=features,
                           n_classes=classes)
    setup = TrainingSetup(model=build_model("logistic_regression", features, classes), dataset=dataset,
                          optimizer=functools.partial(optim.get, "sign_sgd", learning_rate=0.01),
                          wire=SIGN, steps=steps, batch_per_worker=8, flops_per_second=1e12, seed=1)
    graph = topologies.build("star", n, 1e9, 1e-6, servers=True)
    log = train(setup, "parameter_server", graph, n).network.log
    assert len(log) == 2 * n * steps
    assert set(log.nbytes) == {sign_bytes(p)}
    endpoints = [log.endpoints(i) for i in range(len(log))]
    for worker in range(n):
        assert endpoints.count((worker, topologies.SERVER)) == steps
        assert endpoints.count((topologies.SERVER, worker)) == steps
    phases = [log.phases[index] for index in log.phase]
    assert phases.count("push") == phases.count("pull") == n * steps
