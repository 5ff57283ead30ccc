"""NCCL's ring with channels and protocols, as a schedule both engines run: the mean, counts and wire
bytes by formula, every NIC carrying the same inter-node bytes, and a shared NVSwitch step by hand."""

from functools import partial

import numpy as np
import pytest

from commsim.collectives import REGISTRY, register
from commsim.collectives.follow import scheduled
from commsim.collectives.nccl.ring import channel_orders, nccl_ring_schedule
from commsim.collectives.schedule import SCHEDULES
from commsim.engines.message import bytes_per_link, make_buffers, run_collective
from commsim.engines.schedule import participant_nodes, run_schedule, worker_finish
from commsim.network import topology


@pytest.fixture
def ring():
    """Register NCCL's ring with given channels and protocol for one test."""
    names = []

    def make(channels: int, protocol: str) -> str:
        name = f"test_nccl_ring_{channels}_{protocol}"
        register(scheduled(name, partial(nccl_ring_schedule, channels=channels, protocol=protocol), None, "test"))
        names.append(name)
        return name

    yield make
    for name in names:
        REGISTRY.pop(name, None)
        SCHEDULES.pop(name, None)


def _cluster(nodes: int, gpus: int = 8, **options):
    return topology.build("cluster", nodes * gpus, 1.0, 0.0, preset="hgx-h100", nodes=nodes, gpus_per_node=gpus,
                          nics_per_node=gpus, **options)


def test_each_channel_enters_every_node_at_its_own_gpu():
    """2 nodes of 4: channel c visits node 0 from local c, then node 1 from local c."""
    assert channel_orders(8, 4, 2).tolist() == [[0, 1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 0, 5, 6, 7, 4]]


@pytest.mark.parametrize("protocol", ["simple", "ll", "ll128"])
def test_every_rank_ends_with_the_exact_mean(ring, protocol):
    """Integer data, 2 nodes × 4 GPUs, 6 channels, p = 1001 (uneven channels and chunks): exact mean,
    identical replicas, 6 · 2n(n−1) messages."""
    n, p = 8, 1001
    rng = np.random.default_rng(3)
    x = [rng.integers(-1000, 1000, p).astype(np.float64) for _ in range(n)]
    run = run_collective(ring(6, protocol), _cluster(2, 4), x)
    for result in run.results:
        np.testing.assert_array_equal(result, np.mean(np.stack(x), axis=0))
    assert run.network.messages == 6 * 2 * n * (n - 1)


def test_wire_bytes_follow_the_line_formats(ring):
    """One channel, p = 8 · 300 fp32 (a chunk of 1200 data bytes): Simple 1200, LL 2400 (4 of 8 bytes),
    LL128 ⌈1200/120⌉·128 = 1280, each 2n(n−1) times."""
    n = 8
    for protocol, size in (("simple", 1200), ("ll", 2400), ("ll128", 1280)):
        run = run_collective(ring(1, protocol), _cluster(1), make_buffers(n, n * 300, "float32", "size-only", 0),
                             keep_log=False)
        assert run.network.message_sizes() == {size: 2 * n * (n - 1)}


def test_channels_spread_inter_node_bytes_over_every_nic(ring):
    """2 × 8 H100, 16 channels: each NIC carries, each way, the crossings of its 2 channels — 2 · 2(n−1)
    chunks of P/(16·16) — to the byte, where the textbook ring puts all of it on NIC 0."""
    n, p = 16, 16 * 16 * 250
    run = run_collective(ring(16, "simple"), _cluster(2), make_buffers(n, p, "float32", "size-only", 0), keep_log=False)
    per_link = bytes_per_link(run.network)
    chunk = p // 256 * 4
    for x in (0, 1):
        for i in range(8):
            assert per_link[f"node{x}.nic{i}->rail{i}"] == 2 * 2 * (n - 1) * chunk, (x, i)


def test_a_shared_nvswitch_step_by_hand(ring):
    """One H100 node, 12 channels: every GPU's NVLink uplink (and downlink) carries 12 messages of
    P/(12·8) at once, each at B/12, so a step is the route's 0.6 µs + (P/8)/B, and the ring
    2(n−1)(0.6 µs + P/(8B)) — on both engines."""
    n, p = 8, 12 * 8 * 1000
    graph = _cluster(1)
    name = ring(12, "simple")
    expected = 2 * (n - 1) * (0.6e-6 + p * 4 / 8 / 450e9)
    message = run_collective(name, graph, make_buffers(n, p, "float32", "size-only", 0), keep_log=False)
    assert message.makespan_s == pytest.approx(expected, rel=1e-9)
    schedule = nccl_ring_schedule(n, p, 4, channels=12, gpus_per_node=8)
    run = run_schedule(schedule, graph, participant_nodes(schedule, n, ()))
    assert worker_finish(schedule, run.finish_s, n).tolist() == pytest.approx(message.finish_s, rel=1e-9)
    assert run.bytes_per_link == bytes_per_link(message.network)


def test_both_engines_agree_across_nodes(ring):
    """2 × 8 H100, 16 channels, LL128: per-rank times, counts and bytes per link, message and schedule engine."""
    n, p = 16, 100_003
    graph = _cluster(2)
    message = run_collective(ring(16, "ll128"), graph, make_buffers(n, p, "float32", "size-only", 0), keep_log=False)
    schedule = nccl_ring_schedule(n, p, 4, channels=16, protocol="ll128", gpus_per_node=8)
    run = run_schedule(schedule, graph, participant_nodes(schedule, n, ()))
    assert worker_finish(schedule, run.finish_s, n).tolist() == pytest.approx(message.finish_s, rel=1e-9)
    assert (run.messages, run.sizes, run.bytes_per_link) == (
        message.network.messages, message.network.message_sizes(), bytes_per_link(message.network))


def _scenario(extra: str = "", engine: str = "simulate", payload: str = "size-only"):
    import yaml

    from commsim import scenario

    text = (f"name: s\nworkers: 16\nsize: 4 MiB\npayload: {payload}\nalgorithms: [ring_allreduce]\n"
            f"topology: {{kind: cluster, preset: hgx-h100, nodes: 2}}\nmodel: nccl\nengine: {engine}\n{extra}")
    return scenario.parse(yaml.safe_load(text), "s.yaml")


def test_model_nccl_runs_nccls_ring_with_nccls_choices():
    """2 × 8 H100, 4 MiB: NCCL's 16 channels and its ring protocol pick (LL128), 16 · 2n(n−1) messages
    of ⌈data/120⌉·128 wire bytes, every NIC the same bytes; both engines agree, each ending NCCL's base
    latency (14 µs for LL128) after its network time, on GPU links at most LL128's 8 × 36.7 GB/s of data;
    the analytic engine answers NCCL's model."""
    from commsim.collectives.nccl import model as nccl_model
    from commsim.runner import points

    n, size = 16, 4 << 20
    (run,) = points.simulate(_scenario())
    (fast,) = points.simulate(_scenario(engine="schedule"))
    (answer,) = points.simulate(_scenario(engine="analytic"))
    assert run.nccl["protocol"] == "ll128" and run.nccl["channels"] == 16 and run.ok
    assert run.messages == 16 * 2 * n * (n - 1)
    assert run.nccl["logical_messages"] == run.nccl["wire_messages_per_channel"] == 2 * n * (n - 1)
    assert run.message_bytes == {-(-size // 256 // 120) * 128: 16 * 2 * n * (n - 1)}
    nic_bytes = {run.bytes_per_link[f"node{x}.nic{i}->rail{i}"] for x in (0, 1) for i in range(8)}
    assert len(nic_bytes) == 1
    assert fast.makespan_s == pytest.approx(run.makespan_s, rel=1e-9) and fast.bytes_per_link == run.bytes_per_link
    machine = nccl_model.machine(topology.build("cluster", n, 1.0, 0.0, preset="hgx-h100", nodes=2))
    assert answer.makespan_s == nccl_model.time_s(machine, "ring", "ll128", size) == run.nccl["predicted_s"]
    graph = nccl_model.nccl_rates(topology.build("cluster", n, 1.0, 0.0, preset="hgx-h100", nodes=2), "ll128")
    graph = nccl_model.capped_gpu_links(graph, 8 * 36.7e9 * 128 / 120)  # LL128: 8 ring channels × 36.7 GB/s, on the wire
    schedule = nccl_ring_schedule(n, size // 4, 4, channels=16, protocol="ll128", gpus_per_node=8)
    network = run_schedule(schedule, graph, participant_nodes(schedule, n, ()))
    assert run.makespan_s == pytest.approx(14e-6 + max(worker_finish(schedule, network.finish_s, n)), rel=1e-9)


def test_a_scenario_may_fix_protocol_and_channels():
    """protocol: ll, channels: 8: 8 · 2n(n−1) messages of twice the data bytes."""
    from commsim.runner import points

    (run,) = points.simulate(_scenario("protocol: ll\nchannels: 8\n"))
    n = 16
    assert run.nccl["protocol"] == "ll" and run.messages == 8 * 2 * n * (n - 1)
    assert run.message_bytes == {2 * (4 << 20) // 128: 8 * 2 * n * (n - 1)}


@pytest.mark.parametrize(("text", "message"), [
    ("topology: {kind: star}\n", "topology.kind: model 'nccl' needs a 'cluster' topology"),
    ("algorithms: [all_to_all]\n", "model 'nccl' runs ring_allreduce"),
])
def test_model_nccl_refuses_what_it_cannot_run(text, message):
    import yaml

    from commsim import scenario
    from commsim.errors import ScenarioError

    base = ("name: s\nworkers: 16\nsize: 4 MiB\npayload: size-only\nalgorithms: [ring_allreduce]\n"
            "topology: {kind: cluster, preset: hgx-h100, nodes: 2}\nmodel: nccl\n")
    key = text.split(":")[0]
    lines = [line for line in base.splitlines() if not line.startswith(key + ":")] + [text.strip()]
    with pytest.raises(ScenarioError, match=message):
        scenario.parse(yaml.safe_load("\n".join(lines)), "s.yaml")
    with pytest.raises(ScenarioError, match="protocol: only with 'model: nccl'"):
        scenario.parse(yaml.safe_load(base.replace("model: nccl", "protocol: ll")), "s.yaml")


def test_eager_sends_add_latency_along_the_chain_of_hops(ring):
    """2 nodes × 2 GPUs, one channel, 4 elements: hops 0→1 and 2→3 inside nodes (2 × 1 µs through the
    NVSwitch), 1→2 and 3→0 between them (through the NVSwitch to the NIC's GPU, then 2 × 10 µs of NIC
    links: 22 µs). A rank moves on once its receive is in, so the last chunk's chain of 2(n−1) = 6
    consecutive hops — 3 inside, 3 between — sets the time: 3·2 + 3·22 = 72 µs (plus six 4-byte
    transmissions), not six inter-node hops' worth as when every step waits for its own send."""
    graph = topology.build("cluster", 4, 1.0, 0.0, preset="hgx-h100", nodes=2, gpus_per_node=2, nics_per_node=2,
                           nvlink_latency="1 us", pcie_latency=0, nic_latency="10 us")
    n = 4
    schedule = nccl_ring_schedule(n, 4, 4, channels=1, gpus_per_node=2)
    run = run_schedule(schedule, graph, participant_nodes(schedule, n, ()))
    assert run.makespan(n) == pytest.approx(72e-6, rel=1e-4)
    message = run_collective(ring(1, "simple"), graph, make_buffers(n, 4, "float32", "size-only", 0), keep_log=False)
    assert message.makespan_s == pytest.approx(run.makespan(n), rel=1e-9)
    from dataclasses import replace

    waiting = replace(schedule, eager=False)
    assert run_schedule(waiting, graph, participant_nodes(waiting, n, ())).makespan(n) > 120e-6


@pytest.mark.parametrize("protocol", ["ll", "ll128"])
def test_values_travel_at_the_protocols_wire_bytes_too(protocol):
    """payload: data moves the same wire bytes in the same time as size-only, and the mean is right."""
    from commsim.runner import points

    extra = f"protocol: {protocol}\nchannels: 8\n"
    (sizes,) = points.simulate(_scenario(extra))
    (data,) = points.simulate(_scenario(extra, payload="data"))
    assert (data.messages, data.bytes, data.message_bytes) == (sizes.messages, sizes.bytes, sizes.message_bytes)
    assert data.makespan_s == pytest.approx(sizes.makespan_s, rel=1e-12) and data.ok


def test_a_protocol_the_machine_cannot_run_is_not_applicable():
    """protocol: ll128 on nodes whose 4 GPUs meet over PCIe: an n/a row saying why, not a crash."""
    import yaml

    from commsim import scenario
    from commsim.runner import points

    text = ("name: s\nworkers: 8\nsize: 1 MiB\npayload: size-only\nalgorithms: [ring_allreduce]\nmodel: nccl\n"
            "protocol: ll128\ntopology: {kind: cluster, preset: ethernet, nodes: 2, gpus_per_node: 4}\n")
    (row,) = points.simulate(scenario.parse(yaml.safe_load(text), "s.yaml"))
    assert isinstance(row, points.NotApplicable) and "no protocol of ll128 runs" in row.reason


def test_channels_must_be_auto_or_1_to_64():
    from commsim.errors import ScenarioError

    for bad in ("0", "65", "true", "two"):
        with pytest.raises(ScenarioError, match="channels: must be 'auto' or a whole number from 1 to 64"):
            _scenario(f"channels: {bad}\n")


def _sent(schedule) -> int:
    return sum(len(schedule.round(k).src) for k in range(schedule.rounds))


@pytest.mark.parametrize("n", [1, 2])
def test_nccl_rings_of_one_and_two_ranks_by_hand(n):
    """C = 2 rings, p = 64 fp32: a lone rank sends nothing; two ranks: all-reduce 2·2·2(2−1) = 8 chunks of
    64/2/2 = 16 floats (64 B), reduce-scatter and all-gather 2·2·(2−1) = 4 parts of 64 B each."""
    from commsim.collectives.nccl.ring import (block_message_sizes, message_sizes, nccl_all_gather_schedule,
                                               nccl_reduce_scatter_schedule, nccl_ring_schedule)

    allreduce = nccl_ring_schedule(n, 64, 4, channels=2)
    scatter = nccl_reduce_scatter_schedule(n, 64, 4, channels=2)
    gather = nccl_all_gather_schedule(n, 64, 4, channels=2)
    if n == 1:
        assert [_sent(s) for s in (allreduce, scatter, gather)] == [0, 0, 0]
        assert message_sizes(1, 64, 4, 2, "simple") == block_message_sizes(1, 64, 4, 2, "simple") == {}
        return
    assert [_sent(s) for s in (allreduce, scatter, gather)] == [8, 4, 4]
    assert message_sizes(2, 64, 4, 2, "simple") == {64: 8}
    assert block_message_sizes(2, 64, 4, 2, "simple") == {64: 4}


def test_nccl_ring_chunks_of_a_length_n_does_not_divide():
    """p = 10 fp32 on one ring of 3: chunks ⌊(j+1)·10/3⌋ − ⌊j·10/3⌋ = 3, 3, 4 floats (12, 12, 16 B), each
    crossing 2(3−1) = 4 hops: {12: 8, 16: 4}."""
    from commsim.collectives.nccl.ring import message_sizes

    assert message_sizes(3, 10, 4, 1, "simple") == {12: 8, 16: 4}


@pytest.mark.parametrize("n, gpus, channels, p, protocol", [(6, 2, 3, 1001, "simple"), (8, 4, 6, 37, "ll128"),
                                                             (4, 4, 1, 10, "ll"), (2, 1, 2, 64, "simple")])
def test_sized_rounds_are_the_rounds_without_element_ranges(n, gpus, channels, p, protocol):
    """Every all-reduce round sized (what the schedule engine reads) is the full round's transfers, wire bytes,
    combined bytes and phase, with no element ranges, and states the histogram np.unique makes of the full
    round's bytes; uneven channels and chunks (p = 1001 over 3 channels of 6 chunks, p = 37 over 6 × 8) and
    every protocol, so a rotation off by one step or a channel's sizes from another would differ."""
    schedule = nccl_ring_schedule(n, p, 4, channels=channels, protocol=protocol, gpus_per_node=gpus)
    for k in range(schedule.rounds):
        full, sized = schedule.round(k), schedule.sized_round(k)
        assert sized.src.tolist() == full.src.tolist() and sized.dst.tolist() == full.dst.tolist()
        assert sized.nbytes.tolist() == full.nbytes.tolist(), k
        assert (sized.combine is None) == (full.combine is None) and sized.phase == full.phase and \
            sized.reduce == full.reduce
        if full.combine is not None:
            assert sized.combine.tolist() == full.combine.tolist(), k
        assert sized.lo is None and sized.hi is None and sized.scale is None
        values, counts = np.unique(full.nbytes, return_counts=True)
        assert sized.sizes[0].tolist() == values.tolist() and sized.sizes[1].tolist() == counts.tolist()


def test_the_schedule_engine_gives_the_same_from_sized_and_full_rounds():
    """2 nodes of 4 GPUs, 6 channels, p = 1001, γ > 0 (rounds pause for what they combine), where channels share
    NICs (the fluid way): the same record, to the last bit, from the sized rounds as from the full ones."""
    from dataclasses import replace

    from commsim.engines.program import one_call
    from commsim.engines.schedule import run_program

    schedule = nccl_ring_schedule(8, 1001, 4, channels=6, protocol="ll128", gpus_per_node=4)
    graph = _cluster(2, 4)
    nodes = participant_nodes(schedule, 8, [])
    sized, full = (run_program(one_call(made, nodes, 8), graph, 3e-10)
                   for made in (schedule, replace(schedule, sized=None)))
    assert sized.fluid and full.fluid
    assert sized.finish_s.tobytes() == full.finish_s.tobytes() and sized.task_end.tobytes() == full.task_end.tobytes()
    assert (sized.messages, sized.sizes, sized.bytes_per_link) == (full.messages, full.sizes, full.bytes_per_link)
