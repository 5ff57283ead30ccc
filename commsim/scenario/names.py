"""What a scenario may name: NCCL's collectives (and nccl-tests' programs), which algorithms need a server,
what each collective leaves where, the engines."""

from __future__ import annotations

from typing import Any


NCCL_AUTO = "auto"
NCCL_COLLECTIVES = {"ring_allreduce": ("allreduce", ("ring",)), "double_binary_tree": ("allreduce", ("tree",)),
                    "nvls": ("allreduce", ("nvls",)), NCCL_AUTO: ("allreduce", None), "reduce_scatter": ("reduce_scatter", None),
                    "all_gather": ("all_gather", None), "broadcast": ("broadcast", None), "reduce": ("reduce", None),
                    "alltoall": ("personalized_all_to_all", None)}
"""What ``model: nccl`` runs, by algorithm name: the collective and the NCCL algorithms it may pick among (None:
NCCL's tuner picks, among those commsim schedules)."""
NCCL_ALGORITHMS = tuple(NCCL_COLLECTIVES)
NCCL_ONLY = (NCCL_AUTO, "alltoall", "nvls")
"""Names only ``model: nccl`` runs (no textbook algorithm of that name)."""
NCCL_TESTS_NAMES = {"all_reduce_perf": NCCL_AUTO, "reduce_scatter_perf": "reduce_scatter", "all_gather_perf": "all_gather",
                    "broadcast_perf": "broadcast", "reduce_perf": "reduce", "alltoall_perf": "alltoall"}
"""nccl-tests' programs, as names of what ``model: nccl`` runs (NVIDIA/nccl-tests, src/*.cu)."""
"""What ``model: nccl`` runs: NCCL's ring, NCCL's (pipelined, chained) tree for the double binary tree, NVLS
(``nvls``, one node of sm90+ GPUs on an NVSwitch), and ``auto``: whichever of them NCCL's tuner picks for each size."""


def collective_kind(name: str) -> str:
    """What an algorithm leaves where (``allreduce``, ``reduce_scatter``, …), NCCL's own names included."""
    from ..collectives import get

    return NCCL_COLLECTIVES[name][0] if name in NCCL_ONLY else get(name).kind


def _has_server(name: str) -> bool:
    """Whether an algorithm needs a parameter server (``auto``, NCCL's pick, never does)."""
    from ..collectives import get

    return name not in NCCL_ONLY and get(name).server is not None




def _engine(value: Any) -> Any:
    """``engine``: ``simulate`` is the message engine's older name."""
    return "message" if value == "simulate" else value
