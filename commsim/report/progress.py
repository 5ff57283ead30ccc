"""Progress bars on a terminal (rich), and nothing at all when output goes to a file or a pipe."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(description: str, unit: str = "points", enabled: bool | None = None) -> Iterator[Callable[[float, int], None]]:
    """Yield ``update(done, total)``: a bar with done/total, the rate and the time left on a terminal;
    a no-op otherwise (``enabled`` overrides the terminal test). ``done`` may be fractional: within a
    long run, the share of its simulated time already done."""
    from rich.console import Console

    console = Console(stderr=False)
    if not (console.is_terminal if enabled is None else enabled):
        def nothing(done: float, total: int) -> None:
            """No terminal: nothing to draw."""

        nothing.active = False  # type: ignore[attr-defined]
        yield nothing
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(description, total=None, rate="")

        def update(done: float, total: int) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = f"{done / elapsed:.2f}/s" if elapsed > 0 and done else ""
            bar.update(task, completed=done, total=total, rate=rate)

        update.active = True  # type: ignore[attr-defined]
        yield update
