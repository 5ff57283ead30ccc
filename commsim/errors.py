"""Errors commsim raises on purpose; the CLI turns them into one line and exit status 2."""


class CommsimError(Exception):
    """Base class: bad input or an impossible request, never a bug."""


class ScenarioError(CommsimError):
    """A scenario file (or its values) is invalid."""


class TopologyError(CommsimError):
    """A topology cannot be built or cannot carry the requested run."""


class UnitError(CommsimError, ValueError):
    """A quantity with units could not be parsed."""
