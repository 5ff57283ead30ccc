"""Progress bars on a terminal (rich), and nothing at all when output goes to a file or a pipe.

The bar counts work, not points: each point weighs its estimated work (the budget's events,
``commsim/budget.py``), so a sweep whose last point is its largest does not sit at "29/30, 0:00:01
left" while that point runs. The time left is the whole run projected at the rate the work done so
far went, less the time gone: elapsed / share − elapsed, counting down between updates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def time_left(elapsed: float, share: float, now: float | None = None) -> float | None:
    """Seconds left when ``share`` (0..1) of the work took ``elapsed`` seconds: the whole projected at that
    rate, ``elapsed / share``, less the time gone by ``now`` (default ``elapsed``); never below 0; None
    before any work is done."""
    if share <= 0:
        return None
    return max(0.0, elapsed / min(share, 1.0) - (elapsed if now is None else now))


@contextmanager
def progress_bar(description: str, unit: str = "points",
                 enabled: bool | None = None) -> Iterator[Callable[[float, int, float], None]]:
    """Yield ``update(done, total, share)``: on a terminal a bar over ``share`` (0..1, the part of the
    estimated work done), done/total points, the rate and the time left (:func:`time_left`); a no-op
    otherwise (``enabled`` overrides the terminal test). ``done`` may be fractional: within a long run,
    the share of its simulated time already done."""
    from rich.console import Console

    console = Console(stderr=False)
    if not (console.is_terminal if enabled is None else enabled):
        def nothing(done: float, total: int, share: float) -> None:
            """No terminal: nothing to draw."""

        nothing.active = False  # type: ignore[attr-defined]
        yield nothing
        return
    from datetime import timedelta

    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class TimeLeft(ProgressColumn):  # type: ignore[misc]
        """The time left at the rate of the work done so far (rich's own column counts points)."""

        def render(self, task: Any) -> Text:
            left = time_left(task.fields["elapsed_at_update"], task.completed, task.elapsed or 0.0)
            return Text("-:--:-- left" if left is None else f"{timedelta(seconds=round(left))} left")

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[count]} " + unit),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeLeft())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(description, total=1.0, count="", rate="", elapsed_at_update=0.0)

        def update(done: float, total: int, share: float) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            rate = f"{done / elapsed:.2f}/s" if elapsed > 0 and done else ""
            bar.update(task, completed=share, count=f"{int(done)}/{total}", rate=rate, elapsed_at_update=elapsed)

        update.active = True  # type: ignore[attr-defined]
        yield update
