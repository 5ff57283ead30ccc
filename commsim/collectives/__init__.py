"""Collective algorithms, one module per family, registered by name."""

from . import all_to_all, parameter_server, ring  # noqa: F401  (registration)
from .base import REGISTRY, Algorithm, Comm, get, register

__all__ = ["REGISTRY", "Algorithm", "Comm", "get", "register"]
