"""Collective algorithms, one module per family, registered by name when this package loads.

Every module here except ``base``, ``cost``, ``payload``, ``schedule``, ``follow``, ``imported`` and the NCCL
model (``nccl_table``, ``nccl_model``, ``nccl_ring``, ``nccl_tree``) registers its algorithms on import, each written once as its schedule; the three textbook patterns come first, the rest in
module-name order.
"""

import importlib
import pkgutil

from .base import KINDS, REGISTRY, Algorithm, Comm, get, reference_results, register

_FIRST = ("all_to_all", "parameter_server", "ring")
_NOT_ALGORITHMS = ("base", "cost", "payload", "schedule", "follow", "imported", "nccl_table", "nccl_model", "nccl_ring", "nccl_tree")
for _name in [
    *_FIRST,
    *sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name not in (*_FIRST, *_NOT_ALGORITHMS)),
]:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["KINDS", "REGISTRY", "Algorithm", "Comm", "get", "reference_results", "register"]
