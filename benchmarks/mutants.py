"""Mutation check: does the test suite notice when the code is wrong?

Each mutant is a one-line change that stands for a real bug (a dropped term, an off-by-one, a
wrong order, an alias where a copy is due). The tool applies one mutant at a time to a scratch
copy of the project, runs the tests that should catch it, and reports every mutant that
*survives* (all tests still pass). A survivor is a hole in the suite, or an equivalent mutant —
code whose change makes no difference, which then deserves a simplification or a comment.

    python benchmarks/mutants.py                     # the catalogue below, every core module
    python benchmarks/mutants.py --only network      # mutants whose path or note contains "network"
    python benchmarks/mutants.py --auto commsim/budget.py --jobs 1
                                                     # every operator/number flip in one module, with
                                                     # the tests AUTO_TESTS names for it
    python benchmarks/mutants.py --auto              # every module of AUTO_TESTS, killed/tried per module
    python benchmarks/mutants.py --auto commsim/network/fluid.py:_reallocate --tests tests/test_network.py
                                                     # one function, the tests given
    python benchmarks/mutants.py --auto commsim/engines/schedule.py:_Stream commsim/engines/schedule.py:_Fluid.run
                                                     # one class, one method of a class
    python benchmarks/mutants.py --all-tests         # run the whole suite per mutant (slow)

Exit status 0 when every mutant is killed, 1 when some survive, 2 on a stale catalogue entry
(its ``before`` text no longer occurs exactly once). An automatic mutant that survives on a line
whose comment, or the comment lines right above it, say ``equivalent:`` (why no output can change) is
listed as explained, not survived. Runs ``--jobs`` mutants at a time (default:
every core), each in its own copy, so the work tree is never touched.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tokenize
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("commsim", "optim", "tests", "scenarios", "validation", "benchmarks", "README.md", "pyproject.toml")


@dataclass(frozen=True)
class Mutant:
    """Replace ``before`` (which must occur exactly once in ``path``) by ``after``."""

    path: str
    before: str
    after: str
    bug: str
    tests: tuple[str, ...]
    equivalent: str | None = None  # automatic mutants: the ``equivalent:`` comment on the line or right above it


def _m(path: str, before: str, after: str, bug: str, *tests: str) -> Mutant:
    return Mutant(path, before, after, bug, tests)


RING = "commsim/collectives/textbook/ring.py"
PS = "commsim/collectives/textbook/parameter_server.py"
A2A = "commsim/collectives/textbook/all_to_all.py"
ANALYTIC = "commsim/engines/analytic.py"
NET = "commsim/network/fluid.py"
NORMS = "optim/norms.py"
PAYLOAD = "commsim/collectives/payload.py"
SIM = "commsim/engines/message.py"
T_COLL = "tests/test_collectives.py"
T_ANALYTIC = "tests/test_analytic.py"
T_VERIFY = "tests/test_verify.py"
T_NET = "tests/test_network.py"
T_NORMS = "tests/test_optim_norms.py"
T_TOPO = "tests/test_topologies_more.py"
T_ENGINE = "tests/test_engine_analytic.py"
SCHED = "commsim/engines/schedule.py"
SCHEDULES = "commsim/collectives/schedule.py"
FOLLOW = "commsim/collectives/follow.py"
NCCL_MODEL = "commsim/collectives/nccl/model.py"
NCCL_RING = "commsim/collectives/nccl/ring.py"
NCCL_PIPE = "commsim/collectives/nccl/pipeline.py"
NCCL_P2P = "commsim/collectives/nccl/p2p.py"
T_NCCL = ("tests/test_nccl_model.py", "tests/test_nccl_ring.py", "tests/test_validate.py", "tests/test_nccl_collectives.py")
T_SCHED = "tests/test_schedule_engine.py"
DIST_NET = "commsim/network/disturbances.py"
DIST = "commsim/engines/disturbed.py"
DIST_RUN = "commsim/runner/disturbed.py"
T_DIST = "tests/test_disturbed.py"
T_DIST_NET = "tests/test_disturbances.py"
SCENARIO = "commsim/scenario.py"
CLI = "commsim/cli.py"

CATALOGUE: tuple[Mutant, ...] = (
    # -- ring all-reduce ----------------------------------------------------------------------
    _m(RING, "+ 2 * (n - 1)\n", "+ 2 * n\n", "histogram counts 2n chunks per size, not 2(n−1)", T_COLL, T_ANALYTIC, T_VERIFY),
    _m(RING, "largest = -(-p // n) * w", "largest = (p // n) * w", "floor, not ceil, for the largest chunk", T_ANALYTIC, T_VERIFY),
    _m(RING, "+ (n - 1) * largest * link.gamma", "+ n * largest * link.gamma", "γ charged n times, not n−1", T_VERIFY),
    _m(RING, "time = 2 * (n - 1) * link.message(largest)", "time = (n - 1) * link.message(largest)", "one phase's steps only", T_VERIFY),
    _m(RING, "return ring_rounds(n, p, w, n - 1, n - 1, 0, 1)", "return ring_rounds(n, p, w, n - 2, n - 1, 0, 1)",
       "one reduce-scatter step short", T_COLL),
    # -- parameter server ---------------------------------------------------------------------
    _m(PS, "2 * link.message(size) + (n - 1)", "link.message(size) + (n - 1)", "one message time instead of two", T_VERIFY),
    _m(PS, "+ (n - 1) * size * link.gamma", "+ n * size * link.gamma", "γ charged n times, not n−1", T_VERIFY),
    _m(PS, "return Cost({size: 2 * n}", "return Cost({size: 2 * n + 1}", "histogram off by one", T_COLL, T_ANALYTIC, T_VERIFY),
    _m(PS, "    combine[n:] -= (bounds[1:] - bounds[:-1]) * w", "", "server combines n buffers, not n−1", T_VERIFY, T_SCHED),
    # -- all-to-all ---------------------------------------------------------------------------
    _m(A2A, "return Cost({size: n * (n - 1)}", "return Cost({size: n * n}", "n² messages instead of n(n−1)", T_COLL, T_ANALYTIC, T_VERIFY),
    _m(A2A, "link.message(size) + (n - 1) * size * link.gamma", "link.alpha + (n - 1) * size * link.gamma", "bandwidth term dropped", T_VERIFY),
    # -- following a schedule -----------------------------------------------------------------
    _m(FOLLOW, "                for sent in sends:\n                    yield sent\n        if gamma", "        if gamma",
       "a participant does not wait for its own sends (several per round)", T_COLL),
    _m(FOLLOW, "        parts.sort(key=lambda part: part[0])", "        parts.sort(key=lambda part: -part[0])",
       "sums in reverse participant order", T_COLL),
    _m(FOLLOW, "        total = parts[0][1].copy()", "        total = parts[0][1]", "a sum formed in the first sender's array", T_COLL),
    _m(FOLLOW, "                part /= n\n", "                part /= n - 1\n", "divides by n−1", T_COLL),
    _m(FOLLOW, "            self.array, self.mine = value if fresh else value.copy(), True", "            self.array, self.mine = value, True",
       "a whole-buffer copy keeps the sender's array (workers share the server's reply)", T_COLL),
    _m(FOLLOW, "        return self.array if self.mine or self.array is None else self.array.copy()", "        return self.array",
       "a rank that never writes returns the caller's buffer (alias)", T_COLL),
    _m(FOLLOW, "        elif not self.mine:\n            self.array = self.array.copy()\n", "",
       "no copy on first write: the caller's input is written over", T_COLL, "tests/test_follow.py"),
    _m(FOLLOW, "        if (shared or not (lo == 0 and hi == p)) and any(a < hi and lo < b for a, b in sent):", "        if False:",
       "a range written while in flight is sent as a view", "tests/test_follow.py"),
    _m(FOLLOW, "        if (shared or not (lo == 0 and hi == p)) and", "        if (not (lo == 0 and hi == p)) and",
       "a shared buffer's whole range written in flight is sent as a view", "tests/test_follow.py"),
    _m(FOLLOW, "        sends, snapshots = [], {}", "        sends, snapshots = list(), dict()",
       "(control: a mutant that changes nothing must survive — checks the tool itself)", T_COLL),
    # -- payload ------------------------------------------------------------------------------
    _m(PAYLOAD, "return tuple((i * p) // n for i in range(n + 1))", "return tuple(-(-i * p // n) for i in range(n + 1))",
       "chunk bounds rounded up instead of down", T_COLL),
    # -- analytic twin ------------------------------------------------------------------------
    _m(ANALYTIC, "hops = _WORKER_HOPS.get(topology, min_hops)", "hops = _WORKER_HOPS.get(topology, 1)", "lower bounds ignore min_hops", T_ANALYTIC, T_ENGINE, T_TOPO),
    _m(ANALYTIC, "exact = uniform_links and is_exact(algorithm, topology, n)", "exact = uniform_links", "a cost declared exact on any uniform topology", T_ANALYTIC, T_ENGINE),
    _m(ANALYTIC, "directed_links = 2 * n if n > 2 else 2", "directed_links = 2 * n", "two-worker ring counted as four directed links", T_ANALYTIC),
    _m(ANALYTIC, "return n & (n - 1) == 0 and algorithm", "return algorithm", "power-of-two-only exactness claimed for every n", T_ANALYTIC),
    _m(ANALYTIC, "return 2 * alpha + (n - 1) * size / bandwidth + combine", "return alpha + (n - 1) * size / bandwidth + combine",
       "all-to-all on a star: one latency per hop dropped", T_ANALYTIC),
    _m(ANALYTIC, "exact = uniform_links and topology == \"star\" and n >= k", "exact = uniform_links and topology == \"star\"",
       "sharded server declared exact on a star with fewer workers than servers", T_ANALYTIC),
    _m(ANALYTIC, "time = 2 * (route_alpha + n * shard / bandwidth)", "time = 2 * (route_alpha + shard / bandwidth)",
       "server-link bound forgets the n pushes share the link", T_ANALYTIC),
    _m(ANALYTIC, "hops * alpha < n * w * (1.0 / bandwidth + 2 * gamma)", "hops * alpha < w * (1.0 / bandwidth + 2 * gamma)",
       "staggered forms declared exact down to one element's time of latency", T_ANALYTIC),
    _m(SIM, "return max((nbytes / link.bandwidth + latency[link]", "return max((nbytes / link.bandwidth",
       "busiest-link bound without the route latency", T_ANALYTIC, "tests/test_cli.py"),
    _m(SIM, "if bound <= expected.makespan_s:\n        return expected", "if True:\n        return expected",
       "busiest-link bound never applied", T_ANALYTIC, "tests/test_cli.py"),
    _m(NET, "            if flow.stage == _ALONE:  # not made to share since", "            if True:  # not made to share since",
       "a lone flow made to share is delivered by its old timer too", T_NET, T_COLL),
    _m(NET, "        due = self._due.get(when)\n", "        due = None\n", "every lone flow its own timer (no sharing of timers)", T_NET),
    # -- schedule engine ----------------------------------------------------------------------
    _m(SCHED, "        ready = done + _combine_after(round_, gamma)", "        ready = done",
       "round at a time: the combine after a round dropped", T_SCHED),
    _m(SCHED, "if np.bincount(links).max() > 1:", "if np.bincount(links).max() > 2:",
       "round at a time: two transfers of a round let share a link", T_SCHED),
    _m(SCHED, "        count -= np.bincount(links[newly[owner]], minlength=len(count))\n", "",
       "progressive filling: frozen transfers still counted on their links", T_SCHED),
    _m(SCHEDULES, "return Round(ranks, right, nbytes, \"reduce_scatter\", np.roll(nbytes, 1), lo, hi, True, scale)",
       "return Round(ranks, right, nbytes, \"reduce_scatter\", nbytes, lo, hi, True, scale)",
       "ring schedule combines the chunk it sent, not the one it received", T_SCHED, T_VERIFY, T_ENGINE, "tests/test_sensitivity.py"),
    # -- NCCL mode ----------------------------------------------------------------------------
    _m(NCCL_MODEL, "bus = min(bus * T.RING_LL128_FACTOR,", "bus = min(bus,", "ring LL128 without its 0.92", *T_NCCL),
    _m(NCCL_MODEL, "inter_steps = 0 if nodes == 1 else 2 * (nodes - 1) if", "inter_steps = 0 if nodes == 1 else 2 * nodes if",
       "ring counts 2N inter-node steps (NCCL before 2.23), not 2(N−1)", *T_NCCL),
    _m(NCCL_MODEL, "else 2 * (nodes - 1) if collective == \"allreduce\" else nodes - 1", "else 2 * (nodes - 1)",
       "reduce-scatter and all-gather cross between nodes 2(N−1) times, as all-reduce", *T_NCCL),
    _m(NCCL_MODEL, "    return m.nodes == 1 or min(m.nics_per_node, m.gpus_per_node) == 1", "    return m.nodes == 1",
       "sameChannels only on one node (one NIC per node too)", *T_NCCL),
    _m(NCCL_MODEL, "algbw = bus * (n / steps if", "algbw = bus * (n / (2 * (n - 1)) if",
       "every collective's algBw takes all-reduce's 2(n−1) steps", *T_NCCL),
    _m(NCCL_MODEL, "while least * m.ranks > total_channels and least > 1:", "while least * m.ranks > 2 * total_channels and least > 1:",
       "p2p sends start on too many parts", *T_NCCL),
    _m(NCCL_RING, "lag = 1 if reduce else 0", "lag = 0", "reduce-scatter passes on its own block first", *T_NCCL),
    _m(NCCL_PIPE, "start = np.argmax(rank_at == ROOT, axis=1) + (1 if to_root else 0)",
       "start = np.argmax(rank_at == ROOT, axis=1)", "reduce's chain starts at the root", *T_NCCL),
    _m(NCCL_PIPE, "np.tile(ints(range(n)), channels), p)\n", "np.tile(ints(range(n)), channels), p, eager=True)\n",
       "broadcast's first rank pushes every chunk at once", *T_NCCL),
    _m(NCCL_P2P, "at = np.broadcast_to(r * b + begin, keep.shape)[keep]", "at = lo",
       "all-to-all blocks land where they were sent from", *T_NCCL),
    _m(FOLLOW, "at = lo if round_.at is None else round_.at", "at = lo", "message engine ignores where a receiver writes",
       *T_NCCL),
    _m(NCCL_MODEL, "        speed /= -(-doubled // count)\n", "", "duplicated channels keep their full speed", *T_NCCL),
    _m(NCCL_MODEL, "size_index = (nbytes >> 6).bit_length() - 1", "size_index = (nbytes >> 6).bit_length()",
       "tree correction one size class off", *T_NCCL),
    _m(NCCL_RING, "return (node * g + (c + k) % g).reshape(channels, n)", "return (node * g + k % g + 0 * c).reshape(channels, n)",
       "every channel enters each node at GPU 0 (one NIC for all)", *T_NCCL),
    _m(NCCL_RING, "return -(-data // 4) * 8", "return -(-data // 4) * 4", "LL without its flags", *T_NCCL),
    _m(SCHED, "np.maximum.at(sent if schedule.eager else done, src, delivery)", "np.maximum.at(done, src, delivery)",
       "schedule engine: eager senders wait for their sends", *T_NCCL),
    _m(FOLLOW, "                if eager:\n                    pending.append(sent)\n                else:\n                    yield sent",
       "                yield sent", "message engine: eager senders wait for their sends", *T_NCCL),
    # -- network ------------------------------------------------------------------------------
    _m(NET, "if flow.stage != _ALONE or flow.tx_end > self.env.now:", "if flow.stage != _ALONE or flow.tx_end >= self.env.now:",
       "_idle: a flow ending now still occupies its link", T_NET),
    _m(NET, "if rate != flow.rate or flow.stage == _ALONE:", "if rate != flow.rate:", "a lone flow's delivery timer is not redone", T_NET),
    _m(NET, "self.env.schedule(event, _AFTER_NORMAL)", "self.env.schedule(event, NORMAL)",
       "rate reallocation not deferred after the instant's other events", T_NET),
    _m(NET, "            self._reallocation_pending = True\n", "", "rate reallocation scheduled again for every change", T_NET),
    _m(NET, "_SATURATED = 1e-9", "_SATURATED = 1e-3", "saturation threshold loosened", T_NET),
    _m(NET, "                            links[link] = None\n                            stack.append(link)\n",
       "                            links[link] = None\n", "max-min fair rates computed without following the whole sharing component", T_NET),
    _m(NET, "flow.remaining = max(flow.remaining - flow.rate * (now - flow.since), 0.0)", "flow.remaining = flow.remaining",
       "a rate change forgets the bytes already sent", T_NET),
    _m(NET, "if link.flows and not self._idle(link):\n                alone = False", "if link.flows:\n                alone = False",
       "a finished lone flow makes the next message share", T_NET),
    _m(NET, "self.latency = sum(link.latency for link in links)", "self.latency = max(link.latency for link in links)",
       "route latency is the largest hop's, not the sum", T_NET),
    _m(NET, "spare[link] -= increment * count", "spare[link] -= increment", "progressive filling charges one flow per link", T_NET),
    # -- stragglers and faults ----------------------------------------------------------------
    _m(DIST_NET, "return flow.nbytes - flow.rate * (now - flow.start)", "return flow.nbytes",
       "a failure resends a lone message's bytes already sent", T_DIST),
    _m(DIST_NET, "self._intact = copy.deepcopy(self.graph)", "self._intact = self.graph.copy()",
       "the intact route is found on a copy with another neighbour order", T_DIST),
    _m(DIST_NET, "if len(parts) > 1:", "if len(parts) > 2:", "a network cut in two is not a partition", T_DIST),
    _m(DIST_NET, "timer = self.env.timeout(self.jitter_s * float(self._draw()))", "timer = self.env.timeout(2 * self.jitter_s * float(self._draw()))",
       "message jitter up to twice its bound", T_DIST),
    _m(PS, "mean = total / np.asarray(keep, dtype=total.dtype)", "mean = total / np.asarray(comm.size, dtype=total.dtype)",
       "a dropping server divides by n, not by the gradients it kept", T_DIST),
    _m(PS, "pushed = comm.recv(rank, tag=(\"push\", call))", "pushed = comm.recv(rank)",
       "a late gradient counts in the next call", T_DIST),
    _m(DIST, "yield env.timeout(disturbance.compute_s[rank])", "yield env.timeout(min(disturbance.compute_s))",
       "every worker computes the fastest time", T_DIST),
    _m(DIST, "        if span is not None and (i < 0 or span[1] >= entries[i][0]):", "        if span is not None and i < 0:",
       "the critical path never goes through a compute", T_DIST),
    _m(DIST, "            if node in busy:\n                busy[node].append((start, end))", "            pass",
       "idle time counts the time messages are under way", T_DIST),
    _m(DIST_RUN, "graphs = [slow_links(topo.build(n, [run.algorithm]), scenario), topo.build(n, [run.algorithm])]",
       "graphs = [slow_links(topo.build(n, [run.algorithm]), scenario) for _ in range(2)]",
       "the uniform twin has the stragglers' slow links", T_DIST),
    # -- faults: links that fail under routed and shared traffic, nodes that crash (issues 17, 18) -----
    _m(NET, "            self._route_count += 1\n", "",
       "a route found anew after a failure reuses an index: the log names the wrong endpoints (disturbances)", T_DIST_NET),
    _m(DIST_NET, "            old.bytes -= round(remaining)\n", "",
       "a rerouted message's bytes left count on its old route's links too", T_DIST_NET),
    _m(DIST_NET, "self._retired.append(self._routes.pop(key))", "self._routes.pop(key)",
       "the links of a route a failure replaced lose what crossed them", T_DIST_NET),
    _m(DIST_NET, "            self._mark_dirty(old.links + new.links)", "            self._mark_dirty(new.links)",
       "the links a rerouted message leaves keep their old rates (disturbances)", T_DIST_NET),
    _m(DIST_NET, "if part & set(self.participants)]", "]",
       "a switch cut off with nobody behind it is a partition (disturbances)", T_DIST_NET),
    _m(DIST_NET, "if path is not None and all(self.graph.has_edge(a, b) for a, b in zip(path, path[1:])):",
       "if path is not None:", "a routed topology's traffic keeps using a dead link (disturbances)", T_DIST_NET),
    _m(DIST_NET, "            if not unsent:\n", "            if True:\n",
       "a crashed sender's bytes not yet sent still arrive", T_DIST_NET, T_DIST),
    _m(DIST_NET, "            self._withdraw((route.src, route.dst, flow.tag), flow.delivery)", "            pass",
       "a receive matched to a lost message no longer counts as waiting", T_DIST_NET),
    _m(DIST_NET, "        if not is_send and key[1] in self.crashed:\n", "        if False:\n",
       "a crashed node still receives", T_DIST_NET),
    _m(DIST_NET, "            del self._channels[key]  # its own receives: nothing will come for them",
       "            pass", "a crashed rank's receives posted before its crash still wait (disturbances)", T_DIST_NET),
    _m(DIST_NET, "        if src in self.crashed:\n            self.lost.append((src, dst, float(nbytes)))",
       "        if False:\n            self.lost.append((src, dst, float(nbytes)))",
       "a jittered message starts after its sender crashed", T_DIST_NET),
    _m(DIST_NET, "lambda event: delivery.succeed(event.value)", "lambda event: None",
       "a receive whose message was cut never gets the channel's next one", T_DIST_NET),
    _m(DIST_NET, "            self.posted[src, dst, self.env.now] = sent", "            pass",
       "a jittered message's sending time is forgotten: the critical path takes what arrived while it waited",
       T_DIST),
    _m(DIST, "            net.crash(rank)\n", "",
       "a crash only interrupts the rank's first process: its other processes and sends go on", T_DIST),
    _m(DIST, "    env.all_of(processes).callbacks.append(StopSimulation.callback)\n", "",
       "failures and crashes due after the run ended still happen (disturbed)", T_DIST),
    _m(DIST, "if processes and len(down) == len(processes):", "if processes and len(down) > len(processes):",
       "a run whose every worker crashed counts as finished (disturbed)", T_DIST),
    _m(DIST, "        t, before = sent, index", "        t, before = sent, len(log)",
       "the critical path walks back through messages that take no time for ever (disturbed)", T_DIST),
    _m(DIST, "        sent = posted.get((src, dst, start), start)", "        sent = start",
       "the critical path takes a message that arrived during a jitter as what released the send (disturbed)",
       T_DIST),
    _m(DIST, "        gap_s += (t - end) + (start - sent)", "        gap_s += t - end",
       "the critical path drops the jitter before a message from its waiting (disturbed)", T_DIST),
    _m(DIST, "        gap_s += (t - end) + (start - sent)", "        gap_s += start - sent",
       "the critical path drops the waiting after a message (disturbed)", T_DIST),
    _m(DIST, "            gap_s += t - span[1]\n", "",
       "the critical path drops the waiting after a compute (disturbed)", T_DIST),
    _m(DIST_RUN, "bool(run.network.failed)", "bool(disturbance.link_failures)",
       "a failure due after the run ended makes its time a bound", T_DIST),
    _m(PS, "kept = sorted(sorted(arrived, key=lambda item: item[:2])[:keep], key=lambda item: item[1])",
       "kept = sorted(arrived[:keep], key=lambda item: item[1])",
       "tied arrivals kept in event order, not lowest rank first (disturbed)", T_DIST),
    _m(PS, "                env.schedule(enough, _AFTER_THE_INSTANT)", "                env.schedule(enough)",
       "the dropping server decides before the instant's other arrivals are in (disturbed)", T_DIST),
    _m(SCENARIO, "                if first != i:", "                if False:",
       "the same link failing twice passes the load (disturbances)", T_DIST),
    _m(SCENARIO, "                missing &= {i for", "                missing |= {i for",
       "a server's link cannot be failed (disturbances)", T_DIST),
    _m(SCENARIO, "    if seconds > units.MAX_SECONDS:", "    if seconds > float('inf'):",
       "an absurd time (1e300 s) is taken (disturbances)", T_DIST),
    _m(SCENARIO, "    if bandwidth < units.MIN_BANDWIDTH:", "    if bandwidth < 0:",
       "a bandwidth whose times overflow (1e-300 B/s) is taken (disturbances)", T_DIST),
    _m(SCENARIO, "    if number > MAX_FACTOR:", "    if number > float('inf'):",
       "a slowdown that makes times overflow is taken (disturbances)", T_DIST),
    _m(SCENARIO, "and len(spec.slowdown) > fewest:", "and len(spec.slowdown) > fewest + 1:",
       "a slowdown list longer than the workers passes (disturbances)", T_DIST),
    _m(SCENARIO, "            number = float(value)\n", "            pass\n",
       "a slowdown written 1e1 (text to YAML) is refused (disturbances)", T_DIST),
    _m(CLI, "EXIT_CHECK_FAILED if failed else EXIT_STOPPED if stopped else EXIT_OK",
       "EXIT_CHECK_FAILED if failed else EXIT_OK", "a run stopped by its faults exits 0 (disturbances)", T_DIST),
    _m(CLI, "EXIT_CHECK_FAILED if failed else EXIT_STOPPED if stopped else EXIT_OK",
       "EXIT_STOPPED if stopped else EXIT_CHECK_FAILED if failed else EXIT_OK",
       "a stopped run hides a failed check in the exit status (disturbances)", T_DIST),
    # -- optim norms --------------------------------------------------------------------------
    _m(NORMS, "keep = sigma > sigma[0] * max(matrix.shape) * np.finfo(float).eps", "keep = sigma > 0",
       "Spectral.sharp keeps singular values at round-off level", T_NORMS),
)
T_FLOW = ("tests/test_follow.py", "tests/test_eager_ring.py", "tests/test_schedule_engine.py", "tests/test_nccl_ring.py", "tests/test_nccl_tree.py",
          "tests/test_collectives.py", "tests/test_verify.py", "tests/test_engine_analytic.py", T_DIST,
          "tests/test_buffered.py")
T_NCCL_ALL = ("tests/test_nccl_model.py", "tests/test_nccl_ring.py", "tests/test_nccl_tree.py", "tests/test_nccl_nvls.py",
              "tests/test_nccl_collectives.py",
              "tests/test_validate.py", "tests/test_cluster.py", "tests/test_buffered.py")  # buffered: tree, pipelines
AUTO_TESTS: dict[str, tuple[str, ...]] = {
    FOLLOW: T_FLOW,
    SCHED: ("tests/test_schedule_stream.py", T_ENGINE, T_VERIFY, T_SCHED, T_DIST_NET, "tests/test_nccl_tree.py",
            "tests/test_follow.py", "tests/test_eager_ring.py", "tests/test_nccl_ring.py", "tests/test_imported_schedule.py",
            "tests/test_workloads.py", "tests/test_schedule_helpers.py", "tests/test_buffered.py"),  # DDP steps: chains of calls
    NCCL_MODEL: T_NCCL_ALL,
    "commsim/collectives/nccl/table.py": T_NCCL_ALL,
    "commsim/collectives/nccl/tree.py": T_NCCL_ALL,
    "commsim/collectives/nccl/nvls.py": T_NCCL_ALL,
    NCCL_RING: T_NCCL_ALL,
    "commsim/collectives/nccl/pipeline.py": T_NCCL_ALL,  # (without an entry: the whole suite, whose baseline fails in
    # a scratch copy: a bundled scenario loaded by path and by name are two trees there)
    "commsim/budget.py": ("tests/test_budget.py", "tests/test_nccl_nvls.py::test_the_budget_estimate_of_nvls_bounds_what_it_sends",
                          "tests/test_disturbed.py::test_budget_counts_the_uniform_twin", "tests/test_scenario.py",
                          "tests/test_hostile_input.py"),
    DIST: (T_DIST, T_DIST_NET, "tests/test_trace.py"),
    DIST_NET: (T_DIST, T_NET, T_DIST_NET, "tests/test_buffered.py"),
    "commsim/report/trace.py": ("tests/test_trace.py", T_DIST),
}
"""The tests ``--auto PATH`` runs for each module (``--tests`` overrides them; other modules: the whole suite)."""
EQUIVALENT = "equivalent:"  # in a line's comment: why no flip on that line can change an output
CONTROL = "(control:"  # a mutant whose ``bug`` starts so is equivalent on purpose and must survive


def auto_mutants(spec: str, tests: tuple[str, ...] = ()) -> list[Mutant]:
    """Every one-token flip of an operator, comparison, boolean or integer in ``path[:function]``, each run
    against ``tests`` (default: the module's ``AUTO_TESTS``)."""
    path, _, function = spec.partition(":")
    tests = tests or AUTO_TESTS.get(path, ())
    if not (ROOT / path).is_file() or not path.endswith(".py"):
        print(f"--auto: {path!r} is not a Python file of the project", file=sys.stderr)
        raise SystemExit(2)
    source = (ROOT / path).read_text()
    lines = range(1, len(source.splitlines()) + 1)
    if function:
        node = _definition(ast.parse(source), function)
        if node is None:
            print(f"--auto: no function or class {function!r} in {path}", file=sys.stderr)
            raise SystemExit(2)
        lines = range(node.lineno, node.end_lineno + 1)
    flips = {"+": "-", "-": "+", "*": "/", "/": "*", "//": "/", "<": "<=", "<=": "<", ">": ">=", ">=": ">",
             "==": "!=", "!=": "==", "and": "or", "or": "and", "min": "max", "max": "min"}
    text_lines = source.splitlines(keepends=True)
    mutants = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        row, col = token.start
        if row not in lines or token.type not in (tokenize.OP, tokenize.NAME, tokenize.NUMBER):
            continue
        if token.type == tokenize.NUMBER:
            if not token.string.isdigit():
                continue
            replacement = str(int(token.string) + 1)
        elif token.string in flips:
            replacement = flips[token.string]
        else:
            continue
        line = text_lines[row - 1]
        mutated = line[:col] + replacement + line[token.end[1]:]
        above, i = [], row - 2  # the comment lines right above, joined
        while i >= 0 and text_lines[i].lstrip().startswith("#"):
            above.insert(0, text_lines[i].strip().lstrip("#").strip())
            i -= 1
        reason = _comment_reason(line) or _comment_reason("# " + " ".join(above))
        mutants.append(Mutant(path, line, mutated, f"line {row}: {token.string} → {replacement}", tests, reason))
    return mutants


def _definition(tree: ast.Module, name: str) -> ast.AST | None:
    """The first function or class called ``name`` (``Class.method`` for one method of a class)."""
    scope: ast.AST = tree
    for part in name.split("."):
        scope = next((n for n in ast.walk(scope) if n is not scope and isinstance(n, DEFINITIONS) and n.name == part),
                     None)
        if scope is None:
            return None
    return scope


DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _comment_reason(line: str) -> str | None:
    """What follows ``equivalent:`` in the comment of one source line, if anything."""
    try:  # a line of a longer statement ends in an error, after its comment
        for token in tokenize.generate_tokens(io.StringIO(line).readline):
            if token.type == tokenize.COMMENT and EQUIVALENT in token.string:
                return token.string.split(EQUIVALENT, 1)[1].strip()
    except (tokenize.TokenError, SyntaxError):
        pass
    return None


def explained(mutant: Mutant) -> str | None:
    """Why an automatic mutant cannot change an output, as the comment on or just above its line says."""
    return mutant.equivalent


def per_module(outcome: list[tuple[Mutant, str, float]]) -> str:
    """Killed/tried per module, and how many survivors carry an ``equivalent:`` comment."""
    rows = {}
    for mutant, status, _ in outcome:
        row = rows.setdefault(mutant.path, [0, 0, 0])
        row[0] += status != "survived"
        row[1] += 1
        row[2] += status == "survived" and explained(mutant) is not None
    width = max(map(len, rows), default=6)
    lines = [f"{'module':{width}}  killed/tried  survived  explained"]
    for path, (killed, tried, known) in rows.items():
        lines.append(f"{path:{width}}  {killed:>6}/{tried:<5}  {tried - killed - known:>8}  {known:>9}")
    return "\n".join(lines)


def _apply(root: Path, mutant: Mutant, line_exact: bool) -> None:
    target = root / mutant.path
    text = target.read_text()
    if line_exact:  # auto mutants: replace the line by position, as the same line may occur twice
        row = int(mutant.bug.split(":")[0].split()[1])
        lines = text.splitlines(keepends=True)
        lines[row - 1] = mutant.after
        target.write_text("".join(lines))
    else:
        target.write_text(text.replace(mutant.before, mutant.after, 1))


def stale(mutants: list[Mutant]) -> list[str]:
    """Catalogue entries whose ``before`` text is not in their file exactly once."""
    problems = []
    for mutant in mutants:
        count = (ROOT / mutant.path).read_text().count(mutant.before)
        if count != 1:
            problems.append(f"{mutant.path}: {mutant.bug}: 'before' occurs {count} times")
    return problems


def _scratch() -> Path:
    root = Path(tempfile.mkdtemp(prefix="commsim-mutant-"))
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, root / name)
    # the installed package maps commsim.scenarios to scenarios/ (pyproject.toml): the copy's must be the
    # copy's, one directory under both names, or a schedule file is seen twice
    (root / "commsim" / "scenarios").symlink_to(root / "scenarios", target_is_directory=True)
    return root


def _pytest(root: Path, tests: tuple[str, ...], timeout: float) -> tuple[str, float]:
    """Run ``tests`` in the copy at ``root``: ("killed" | "survived" | "timeout", seconds)."""
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg")
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--hypothesis-seed=0", *tests]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start
    return ("survived" if done.returncode == 0 else "killed"), time.perf_counter() - start


def _check_copy_is_imported(root: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(root))
    probe = ("import commsim, commsim.scenarios, optim; print(commsim.__file__); print(optim.__file__); "
             "print(commsim.scenarios.__file__)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, env=env, capture_output=True, text=True, check=True).stdout
    if any(not line.startswith(str(root)) for line in out.split()):
        raise SystemExit(f"the scratch copy is not what Python imports:\n{out}")


def baselines(root: Path, mutants: list[Mutant], all_tests: bool) -> dict[tuple[str, ...], float]:
    """Seconds each distinct test selection takes unmutated; exits if one of them fails already
    (every mutant would then count as killed)."""
    seconds = {}
    for tests in dict.fromkeys(_tests_for(m, all_tests) for m in mutants):
        status, seconds[tests] = _pytest(root, tests, timeout=3600)
        if status != "survived":
            raise SystemExit(f"the unmutated tests fail ({' '.join(tests)}): fix them first")
    return seconds


def _tests_for(mutant: Mutant, all_tests: bool) -> tuple[str, ...]:
    return ("tests",) if all_tests or not mutant.tests else mutant.tests


def run(mutants: list[Mutant], jobs: int, all_tests: bool, line_exact: bool) -> list[tuple[Mutant, str, float]]:
    """Each mutant in a fresh copy (copies are reused one per job); results in catalogue order. A
    mutant whose tests run 5× longer than unmutated (at least 30 s) counts as killed: it hangs."""
    pool = [_scratch() for _ in range(jobs)]
    _check_copy_is_imported(pool[0])
    free = list(pool)
    outcome: list[tuple[Mutant, str, float]] = []

    def one(mutant: Mutant) -> tuple[Mutant, str, float]:
        root = free.pop()
        original = (root / mutant.path).read_text()
        tests = _tests_for(mutant, all_tests)
        try:
            _apply(root, mutant, line_exact)
            status, seconds = _pytest(root, tests, max(30.0, 5 * baseline[tests]))
        finally:
            (root / mutant.path).write_text(original)
            free.append(root)
        print(f"  {status:8} {seconds:6.1f} s  {mutant.path}: {mutant.bug}", flush=True)
        return mutant, status, seconds

    try:
        baseline = baselines(pool[0], mutants, all_tests)
        with ThreadPoolExecutor(jobs) as executor:
            outcome = list(executor.map(one, mutants))
    finally:
        for root in pool:
            shutil.rmtree(root, ignore_errors=True)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the catalogue's mutants whose path or bug contains this text")
    parser.add_argument("--auto", metavar="PATH[:FUNCTION]", nargs="*",
                        help="generate operator/number flips in these modules (none named: every module of "
                             "AUTO_TESTS) instead of running the catalogue; FUNCTION may be a class or "
                             "Class.method")
    parser.add_argument("--all-tests", action="store_true", help="run the whole suite for every mutant")
    parser.add_argument("--tests", nargs="+", help="the tests to run for --auto mutants (default: the whole suite)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.auto is not None:
        specs = args.auto or list(AUTO_TESTS)
        mutants = [m for spec in specs for m in auto_mutants(spec, tuple(args.tests or ()))]
        line_exact = True
    else:
        mutants = [m for m in CATALOGUE if not args.only or args.only in m.path or args.only in m.bug]
        line_exact = False
        if problems := stale(mutants):
            print("stale catalogue entries:\n  " + "\n  ".join(problems), file=sys.stderr)
            return 2
    print(f"{len(mutants)} mutants, {args.jobs} at a time", flush=True)
    outcome = run(mutants, args.jobs, args.all_tests, line_exact)
    survivors = [(m, s) for m, s, _ in outcome if s == "survived" and not m.bug.startswith(CONTROL)
                 and not (line_exact and explained(m))]
    controls_killed = [m for m, s, _ in outcome if m.bug.startswith(CONTROL) and s != "survived"]
    killed = sum(s != "survived" for _, s, _ in outcome)
    print(f"\n{killed} of {len(outcome)} mutants killed; {len(survivors)} survived")
    for mutant, _ in survivors:
        print((f"SURVIVED {mutant.path}: {mutant.bug}" + (f"  |  {mutant.after.strip()}" if line_exact else ""))[:100])
    if line_exact:
        for mutant, status, _ in outcome:
            if status == "survived" and (reason := explained(mutant)):
                print(f"EXPLAINED {mutant.path}: {mutant.bug} ({reason})"[:100])
        print("\n" + per_module(outcome))
    for mutant in controls_killed:
        print(f"CONTROL KILLED (the tool or the suite is broken) {mutant.path}: {mutant.bug}")
    return 1 if survivors or controls_killed else 0


if __name__ == "__main__":
    sys.exit(main())
