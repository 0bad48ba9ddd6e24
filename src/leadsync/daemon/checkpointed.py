"""A connector wrapper that gives the sync engine batch boundaries: before each page after the first is
handed over, the run's checkpoint is checked.

The engine commits every pulled page (with its watermark) before it asks for the next one, so stopping
here (shutdown, deadline, lost leadership) leaves whole pages in the ledger and the watermark where the
next cycle resumes. The page fetched but not handed over is simply read again next time.

A stream's first pull (no watermark yet: the backfill) reports its progress through
:func:`leadsync.daemon.progress.progress`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

from leadsync.connectors.port import CallCounts, CrmConnector, Page, PreflightProblem, WriteResult
from leadsync.daemon.jobs import JobContext
from leadsync.daemon.progress import progress
from leadsync.domain.model import System
from leadsync.domain.planner import FieldWrite, Scalar, Target
from leadsync.domain.watermark import Watermark, Window


class CheckpointedConnector:
    def __init__(self, inner: CrmConnector, ctx: JobContext) -> None:
        self.inner = inner
        self.ctx = ctx
        self.system: System = inner.system
        self.pulled = 0  # records handed to the engine (for the records-pulled metric)

    def streams(self) -> Sequence[str]:
        return self.inner.streams()

    def server_time(self) -> datetime:
        return self.inner.server_time()

    def pull(self, stream: str, mark: Watermark, window: Window) -> Iterator[Page]:
        self.ctx.checkpoint()
        pages = _checked(self.inner.pull(stream, mark, window), self.ctx)
        if mark.value is not None:  # an incremental pull: short, no progress to show
            yield from self._counted(pages)
            return
        # A stream's first pull is the backfill, the long operation: a bar on a terminal, two log lines otherwise.
        # A stream with nothing in it keeps no watermark and "backfills" every cycle: no progress for that.
        counted = self._counted(pages)
        first = next(counted, None)
        if first is None:
            return
        with progress(f"backfill {self.system.value} {stream}") as bar:
            for page in itertools.chain([first], counted):
                bar.advance(len(page.records))
                yield page

    def _counted(self, pages: Iterator[Page]) -> Iterator[Page]:
        for page in pages:
            self.pulled += len(page.records)
            yield page

    def read_current(self, targets: Sequence[Target], fields: Sequence[str]) -> Mapping[Target, Mapping[str, Scalar]]:
        return self.inner.read_current(targets, fields)

    def apply(self, writes: Sequence[FieldWrite]) -> list[WriteResult]:
        return self.inner.apply(writes)

    def preflight(self, fields: Sequence[tuple[str, str, str, frozenset[str] | None]]) -> list[PreflightProblem]:
        return self.inner.preflight(fields)

    def calls(self) -> CallCounts:
        return self.inner.calls()


def _checked(pages: Iterator[Page], ctx: JobContext) -> Iterator[Page]:
    first = True
    for page in pages:
        if not first:
            ctx.checkpoint()  # the previous page is committed by now
        first = False
        yield page
