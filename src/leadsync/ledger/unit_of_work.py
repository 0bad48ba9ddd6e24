"""One unit of work: every repository over one connection and one transaction.

Ledger rows, intent states and watermarks written through one ``UnitOfWork`` commit together or not at
all; before the commit every fencing epoch the writes carried is checked against the current leader.
"""

from __future__ import annotations

import sqlalchemy as sa

from leadsync.ledger import fencing
from leadsync.ledger.history import ActivityRepository, ScoreRepository, TransitionRepository
from leadsync.ledger.outbox import OutboxRepository
from leadsync.ledger.people import PeopleRepository
from leadsync.ledger.reports import ReportQueries
from leadsync.ledger.routing import AssignmentRepository
from leadsync.ledger.runs import QuarantineRepository, RunRepository
from leadsync.ledger.sla import SlaRepository
from leadsync.ledger.sql import Tx
from leadsync.ledger.sync_state import SyncStateRepository
from leadsync.ledger.watermarks import WatermarkRepository


class UnitOfWork:
    def __init__(self, connection: sa.Connection, *, leader: str = fencing.DEFAULT_LEADER) -> None:
        self._tx = Tx(connection)
        self._leader = leader
        self.people = PeopleRepository(self._tx)
        self.activities = ActivityRepository(self._tx)
        self.scores = ScoreRepository(self._tx)
        self.transitions = TransitionRepository(self._tx)
        self.outbox = OutboxRepository(self._tx)
        self.watermarks = WatermarkRepository(self._tx)
        self.runs = RunRepository(self._tx)
        self.quarantine = QuarantineRepository(self._tx)
        self.sla = SlaRepository(self._tx)
        self.reports = ReportQueries(self._tx)
        self.sync = SyncStateRepository(self._tx)
        self.assignments = AssignmentRepository(self._tx)

    @property
    def connection(self) -> sa.Connection:
        return self._tx.connection

    def fence(self, epoch: int) -> None:
        """Make this unit of work commit only while ``epoch`` is the current leader epoch."""
        self._tx.fence(epoch)

    def current_epoch(self) -> int | None:
        return fencing.current_epoch(self._tx.connection, name=self._leader)

    def check_fences(self) -> None:
        for epoch in sorted(self._tx.epochs):
            fencing.assert_current(self._tx.connection, epoch, name=self._leader)
