"""Progress bars on a terminal (rich), and nothing at all when output goes to a file or a pipe."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress_bar(description: str, unit: str = "points", enabled: bool | None = None) -> Iterator[Callable[[int, int], None]]:
    """Yield ``update(done, total)``: a bar with done/total, the rate and the time left on a terminal;
    a no-op otherwise (``enabled`` overrides the terminal test)."""
    from rich.console import Console

    console = Console(stderr=False)
    if not (console.is_terminal if enabled is None else enabled):
        yield lambda done, total: None
        return
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(description, total=None, rate="")

        def update(done: int, total: int) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = f"{done / elapsed:.2f}/s" if elapsed > 0 and done else ""
            bar.update(task, completed=done, total=total, rate=rate)

        yield update
