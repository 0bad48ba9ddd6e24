"""Fencing epochs: each new leader takes a higher epoch; writes carrying an older one are refused.

The advisory lock (PostgreSQL) or file lock (SQLite) decides who leads; the epoch makes a paused, former
leader harmless when it wakes up: its unit of work is checked against the current epoch right before
commit, under the leader row's lock, and rolled back if it is stale.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from leadsync.ledger.errors import StaleEpoch
from leadsync.ledger.schema import leader_epochs
from leadsync.ledger.sql import insert

DEFAULT_LEADER = "daemon"
# Writers outside any leadership (admin commands, tests) use epoch 0, valid only while no leader exists.
NO_LEADER_EPOCH = 0


def take_epoch(connection: sa.Connection, holder: str, now: datetime, *, name: str = DEFAULT_LEADER) -> int:
    """Become the leader ``name``: bump and return its epoch (1 for the first leader)."""
    stmt = insert(connection, leader_epochs).values(name=name, epoch=1, holder=holder, taken_at=now)
    bump = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={"epoch": leader_epochs.c.epoch + 1, "holder": stmt.excluded.holder, "taken_at": stmt.excluded.taken_at},
    ).returning(leader_epochs.c.epoch)
    return int(connection.execute(bump).scalar_one())


def current_epoch(connection: sa.Connection, *, name: str = DEFAULT_LEADER) -> int | None:
    query = sa.select(leader_epochs.c.epoch).where(leader_epochs.c.name == name)
    value = connection.execute(query).scalar_one_or_none()
    return None if value is None else int(value)


def assert_current(connection: sa.Connection, epoch: int, *, name: str = DEFAULT_LEADER) -> None:
    """Raise StaleEpoch unless ``epoch`` is the current one (or 0 while no leader was ever elected).

    The no-op UPDATE takes the leader row's lock (PostgreSQL) inside the writer's transaction: a
    concurrent ``take_epoch`` either committed first (then the WHERE no longer matches and we fail) or
    waits until this transaction is over. On SQLite the writer already holds the database write lock.
    """
    stmt = (
        sa.update(leader_epochs)
        .where(leader_epochs.c.name == name, leader_epochs.c.epoch == epoch)
        .values(epoch=leader_epochs.c.epoch)
    )
    if connection.execute(stmt).rowcount == 1:
        return
    current = current_epoch(connection, name=name)
    if current is None and epoch == NO_LEADER_EPOCH:
        return
    raise StaleEpoch(name, epoch, current)
