"""Who may write: exactly one leader per ledger, with a fencing epoch on everything it writes.

PostgreSQL: a session-level ``pg_try_advisory_lock`` held on a dedicated connection (its own engine
with ``NullPool``, never the ledger's pool, whose connections come and go). The server releases the lock
when that connection dies, so a standby retrying every few seconds takes over within seconds of the
leader's death. A leader that can no longer reach its lock connection stops writing at once; the
fencing epoch (``Ledger.take_epoch``) makes a leader that was merely paused harmless when it wakes.

SQLite: one process per ledger file, enforced by a file lock next to the database; a second process
fails fast with a message naming the lock file and the pid holding it.
"""

from __future__ import annotations

import contextlib
import enum
import os
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import filelock
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from leadsync.ledger import Ledger, LedgerError, RunStatus
from leadsync.logging import get_logger

# "leadsync" in ASCII: one constant key, so every replica of one ledger database competes for it.
LEADER_LOCK_KEY = 0x6C65_6164_7379_6E63
RETRY_SECONDS = 2.0
log = get_logger(__name__)


class Role(enum.StrEnum):
    LEADER = "leader"
    STANDBY = "standby"
    STOPPED = "stopped"


class LeadershipUnavailable(Exception):
    """This process cannot lead and must not run (another process holds the SQLite ledger's lock)."""


class Leadership(Protocol):
    def prepare(self) -> None:
        """Refuse early, before the rest of the start, what can never lead (SQLite: the file lock is held
        elsewhere), without taking an epoch."""

    def start(self) -> None:
        """Lead (taking a new fencing epoch) or stand by; only once every other start-up check passed."""

    def role(self) -> Role: ...
    def epoch(self) -> int | None: ...
    def is_leader(self) -> bool: ...
    def relinquish(self, reason: str) -> None: ...
    def stop(self) -> None: ...


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _EpochState:
    """The role and epoch, shared between the elector and the job threads."""

    def __init__(self, ledger: Ledger, holder: str, now: Callable[[], datetime]) -> None:
        self.ledger = ledger
        self.holder = holder
        self.now = now
        self._lock = threading.Lock()
        self._epoch: int | None = None
        self._role = Role.STANDBY

    def role(self) -> Role:
        with self._lock:
            return self._role

    def epoch(self) -> int | None:
        with self._lock:
            return self._epoch if self._role is Role.LEADER else None

    def is_leader(self) -> bool:
        return self.role() is Role.LEADER

    def become_leader(self) -> int:
        """Take a new epoch and close the runs a dead leader left open; then writes may start."""
        now = self.now()
        epoch = self.ledger.take_epoch(self.holder, now)
        with self.ledger.unit_of_work(epoch=epoch) as uow:
            abandoned = uow.runs.abandon_unfinished(now, f"{RunStatus.ABORTED.value}: leader changed to {self.holder}")
        with self._lock:
            self._epoch, self._role = epoch, Role.LEADER
        log.info("leadership taken", holder=self.holder, epoch=epoch, abandoned_runs=abandoned)
        return epoch

    def set_role(self, role: Role) -> None:
        with self._lock:
            self._role = role
            if role is not Role.LEADER:
                self._epoch = None


class FileLeadership:
    """SQLite: a file lock next to the database; the holder's pid is written beside it for the message."""

    def __init__(self, ledger: Ledger, database: Path, *, holder: str | None = None,
                 now: Callable[[], datetime] = _utcnow) -> None:
        self._state = _EpochState(ledger, holder or holder_name(), now)
        self.lock_path = Path(f"{database}.lock")
        self.holder_path = Path(f"{database}.lock.holder")
        self._lock = filelock.FileLock(self.lock_path, timeout=0, thread_local=False)

    def prepare(self) -> None:
        """Take the file lock (no epoch yet): a second process is refused before it does anything else."""
        if self._lock.is_locked:
            return
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise LeadershipUnavailable(
                f"the ledger is in use: another leadsync process ({self._holder_text()}) holds {self.lock_path}; "
                "SQLite allows one daemon per ledger file (use PostgreSQL to run replicas)"
            ) from None
        self.holder_path.write_text(f"{os.getpid()} {self._state.holder}\n", encoding="utf-8")

    def start(self) -> None:
        self.prepare()
        try:
            self._state.become_leader()
        except BaseException:
            self._release()
            raise

    def _holder_text(self) -> str:
        try:
            pid, _, name = self.holder_path.read_text(encoding="utf-8").strip().partition(" ")
        except OSError:
            return "pid unknown"
        return f"pid {pid}, {name}" if name else f"pid {pid}"

    def role(self) -> Role:
        return self._state.role()

    def epoch(self) -> int | None:
        return self._state.epoch()

    def is_leader(self) -> bool:
        return self._state.is_leader()

    def relinquish(self, reason: str) -> None:
        # A stale epoch on SQLite means someone bypassed the file lock (e.g. removed it): stop writing.
        log.error("leadership lost", reason=reason)
        self._state.set_role(Role.STANDBY)

    def stop(self) -> None:
        self._state.set_role(Role.STOPPED)
        self._release()

    def _release(self) -> None:
        if self._lock.is_locked:
            with contextlib.suppress(OSError):
                self.holder_path.unlink()
            self._lock.release()


class AdvisoryLeadership:
    """PostgreSQL: an elector thread holding (or trying for) the advisory lock on its own connection."""

    def __init__(self, ledger: Ledger, url: sa.URL, *, holder: str | None = None, retry_seconds: float = RETRY_SECONDS,
                 now: Callable[[], datetime] = _utcnow, on_change: Callable[[Role], None] | None = None) -> None:
        self._state = _EpochState(ledger, holder or holder_name(), now)
        self.retry_seconds = retry_seconds
        self._on_change = on_change
        # Keepalives and a user timeout: a lock connection whose peer vanished must fail within seconds,
        # not after the kernel's two-hour default, so a partitioned leader notices it lost the lock.
        self._engine = sa.create_engine(url, poolclass=NullPool, connect_args={
            "connect_timeout": 5, "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
            "keepalives_count": 2, "tcp_user_timeout": 8000, "application_name": "leadsync-leader-lock",
        })
        self._connection: sa.Connection | None = None
        self._stopping = threading.Event()
        self._drop_requested = threading.Event()
        self._thread = threading.Thread(target=self._elect, name="leadsync-elector", daemon=True)

    def prepare(self) -> None:
        """Nothing to refuse early: a process that cannot lead now stands by."""

    def start(self) -> None:
        self._try_once()  # lead from the first moment if nobody else does
        self._thread.start()

    def role(self) -> Role:
        return self._state.role()

    def epoch(self) -> int | None:
        return self._state.epoch()

    def is_leader(self) -> bool:
        return self._state.is_leader()

    def relinquish(self, reason: str) -> None:
        """Stop writing now (our epoch went stale); the elector drops the lock and competes again."""
        if self._state.is_leader():
            log.error("leadership lost", reason=reason)
            self._set(Role.STANDBY)
            self._drop_requested.set()  # the elector thread owns the connection; it drops it

    def stop(self) -> None:
        self._set(Role.STOPPED)
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.retry_seconds + 10)
        self._drop_connection()
        self._engine.dispose()

    def _set(self, role: Role) -> None:
        before = self._state.role()
        self._state.set_role(role)
        if role is not before and self._on_change is not None:
            self._on_change(role)

    def _elect(self) -> None:
        while not self._stopping.wait(self.retry_seconds):
            if self._drop_requested.is_set():
                self._drop_requested.clear()
                self._drop_connection()
            if self._state.is_leader():
                self._check_lock_alive()
            elif self._state.role() is Role.STANDBY:
                self._try_once()

    def _try_once(self) -> None:
        try:
            if self._connection is None:
                self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = self._connection.execute(sa.select(sa.func.pg_try_advisory_lock(LEADER_LOCK_KEY))).scalar_one()
        except sa.exc.DBAPIError as exc:
            log.warning("leader lock unreachable; will retry", error=str(exc.orig).strip())
            self._drop_connection()
            return
        if not got:
            return
        try:
            self._state.become_leader()
        except LedgerError as exc:
            log.error("took the leader lock but could not take an epoch; releasing it", error=str(exc))
            self._drop_connection()
            return
        if self._on_change is not None:
            self._on_change(Role.LEADER)

    def _check_lock_alive(self) -> None:
        try:
            assert self._connection is not None
            self._connection.execute(sa.text("SELECT 1"))
        except (sa.exc.DBAPIError, AssertionError) as exc:
            log.error("leader lock connection lost; stopped writing", error=str(exc).splitlines()[0])
            self._set(Role.STANDBY)
            self._drop_connection()

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()  # closing the session releases the advisory lock server-side


def for_ledger(ledger: Ledger, *, on_change: Callable[[Role], None] | None = None) -> Leadership:
    """The leadership that fits the ledger's database."""
    url = ledger.url
    if url.get_backend_name() == "postgresql":
        return AdvisoryLeadership(ledger, url, on_change=on_change)
    database = url.database or ""
    return FileLeadership(ledger, Path(database).resolve())


@contextlib.contextmanager
def lead_once(ledger: Ledger) -> Iterator[int]:
    """Lead for one piece of work (``leadsync sync --once``): take the same lock a daemon takes, without
    waiting, and a fresh fencing epoch; raise :class:`LeadershipUnavailable` when a daemon holds it.

    A manual cycle is then fenced like any leader's, and a daemon that starts meanwhile waits for the lock
    (PostgreSQL) or is refused with the file lock's message (SQLite). Nothing is guessed from old epochs.
    """
    leadership = for_ledger(ledger)
    if isinstance(leadership, AdvisoryLeadership):
        leadership._try_once()  # one attempt, no elector thread
        if not leadership.is_leader():
            leadership.stop()
            raise LeadershipUnavailable("a leadsync daemon leads this ledger (it holds the leader lock)")
    else:
        leadership.start()  # raises LeadershipUnavailable with the holder's pid
    try:
        epoch = leadership.epoch()
        assert epoch is not None
        yield epoch
    finally:
        leadership.stop()
