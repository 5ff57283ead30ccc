"""Collective algorithms, one module per family, registered by name when this package loads.

Every module here except ``base``, ``cost``, ``payload``, ``schedule``, ``follow`` and ``imported`` registers its
algorithms on import, each written once as its schedule; the three textbook patterns come first, the rest in
module-name order. NCCL's model, channels and protocols are the sub-package ``nccl``, which registers nothing.
"""

import importlib
import pkgutil

from .base import KINDS, REGISTRY, Algorithm, Comm, get, reference_results, register

_FIRST = ("all_to_all", "parameter_server", "ring")
_NOT_ALGORITHMS = ("base", "cost", "payload", "schedule", "follow", "imported", "nccl")
for _name in [
    *_FIRST,
    *sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in (*_FIRST, *_NOT_ALGORITHMS)),
]:
    importlib.import_module(f"{__name__}.{_name}")

# runner/ still imports NCCL's model by its old name (``from ..collectives import nccl_model``); this alias
# goes once the runner imports ``commsim.collectives.nccl.model``.
from .nccl import model as nccl_model  # noqa: E402

__all__ = ["KINDS", "REGISTRY", "Algorithm", "Comm", "get", "reference_results", "register"]
