"""Collective algorithms, one module per family, registered by name."""

from . import all_to_all, parameter_server, ring  # noqa: F401  (registration)
from .base import KINDS, REGISTRY, Algorithm, Comm, get, reference_results, register

__all__ = ["KINDS", "REGISTRY", "Algorithm", "Comm", "get", "reference_results", "register"]
