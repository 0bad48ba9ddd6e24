"""Progress on long operations (the first backfill): a rich bar on a terminal, quiet log lines otherwise.

    with progress("pulling Salesforce Lead", total=None) as bar:
        for page in pages:
            ...
            bar.advance(len(page.records))

``total`` may be unknown (None): the bar then counts without a percentage. When stdout is not a
terminal (a service, a container, a pipe) nothing is drawn; one log line marks the start and one the
end with the count, so JSON logs stay one event per line.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from leadsync.logging import get_logger

log = get_logger(__name__)


class ProgressBar(Protocol):
    def advance(self, amount: int = 1) -> None: ...
    def set_total(self, total: int) -> None: ...


class _Counter:
    def __init__(self, total: int | None) -> None:
        self.done = 0
        self.total = total

    def advance(self, amount: int = 1) -> None:
        self.done += amount

    def set_total(self, total: int) -> None:
        self.total = total


class _RichBar(_Counter):
    def __init__(self, bar: Progress, task: int, total: int | None) -> None:
        super().__init__(total)
        self._bar = bar
        self._task = task

    def advance(self, amount: int = 1) -> None:
        super().advance(amount)
        self._bar.advance(self._task, amount)  # type: ignore[arg-type]

    def set_total(self, total: int) -> None:
        super().set_total(total)
        self._bar.update(self._task, total=total)  # type: ignore[arg-type]


def is_terminal(stream: TextIO | None = None) -> bool:
    out = stream if stream is not None else sys.stdout
    return bool(getattr(out, "isatty", lambda: False)())


@contextlib.contextmanager
def progress(description: str, *, total: int | None = None, stream: TextIO | None = None) -> Iterator[ProgressBar]:
    """A progress bar for one long operation; see the module docstring."""
    started = time.monotonic()
    if is_terminal(stream):
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn())
        console = Console(file=stream) if stream is not None else None
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(description, total=total)
            rich_bar = _RichBar(bar, task, total)
            yield rich_bar
        counter: _Counter = rich_bar
    else:
        counter = _Counter(total)
        log.info("started", operation=description, total=total)
        yield counter
    log.info("done", operation=description, count=counter.done, seconds=round(time.monotonic() - started, 3))
