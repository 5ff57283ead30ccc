"""Errors commsim raises on purpose (the CLI turns them into one line and exit status 2), and how a
value is shown in one."""


class CommsimError(Exception):
    """Base class: bad input or an impossible request, never a bug."""


class ScenarioError(CommsimError):
    """A scenario file (or its values) is invalid."""


class TopologyError(CommsimError):
    """A topology cannot be built or cannot carry the requested run."""


class UnitError(CommsimError, ValueError):
    """A quantity with units could not be parsed."""


def shown(value: object, limit: int = 60, quote: bool = True, tail: bool = False) -> str:
    """``value`` for an error line: its repr (``quote``) or str on one line, cut to ``limit`` characters
    with "…" (keeping the end with ``tail``, as for a path), so a 100 kB value never fills the terminal."""
    try:
        text = repr(value) if quote else str(value)
    except ValueError:  # an int too long to print in decimal
        text = f"<{type(value).__name__} too large to print>"
    if not (quote and isinstance(value, str)):  # a str's repr is one line already; keep its spaces
        text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return "…" + text[len(text) - limit + 1:] if tail else text[: limit - 1] + "…"
