"""Collective algorithms, registered by name when this package loads.

Here: what every algorithm shares — ``base`` (the registry, ``Comm``), ``cost`` (closed forms' terms),
``payload`` (buffers and chunks), ``schedule`` (rounds of transfers either engine runs), ``follow`` (a rank
following a schedule) and ``imported`` (schedules from files). The algorithms are the sub-package
``textbook`` (one module per family, registered on import) and NCCL's model, channels and protocols the
sub-package ``nccl`` (which registers nothing).
"""

from . import textbook  # noqa: F401  (registers the algorithms)
from .base import KINDS, REGISTRY, Algorithm, Comm, get, reference_results, register

__all__ = ["KINDS", "REGISTRY", "Algorithm", "Comm", "get", "reference_results", "register"]
