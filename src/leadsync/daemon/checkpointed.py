"""A connector wrapper that gives the sync engine batch boundaries: before each page after the first is
handed over, the run's checkpoint is checked.

The engine commits every pulled page (with its watermark) before it asks for the next one, so stopping
here (shutdown, deadline, lost leadership) leaves whole pages in the ledger and the watermark where the
next cycle resumes. The page fetched but not handed over is simply read again next time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

from leadsync.connectors.port import CallCounts, CrmConnector, Page, PreflightProblem, WriteResult
from leadsync.daemon.jobs import JobContext
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
        for page in _checked(self.inner.pull(stream, mark, window), self.ctx):
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
