"""What can go wrong with the ledger, as exceptions whose message is one clear line.

The CLI prints ``str(exc)`` of any :class:`LedgerError` and exits non-zero; the daemon refuses to start on
:class:`SchemaOutOfDate` unless ``ledger.auto_upgrade`` is set. No message ever contains a password: URLs
are rendered with the password masked before they reach an exception.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class: an expected ledger failure with a one-line, user-facing message."""


class LedgerUrlError(LedgerError):
    """The configured ledger URL is not a database URL this program can use."""


class LedgerUnavailable(LedgerError):
    """The database could not be reached or opened (server down, bad credentials, missing folder)."""


class LedgerLocked(LedgerError):
    """Another process holds the SQLite file's lock longer than the busy timeout."""


class SchemaOutOfDate(LedgerError):
    """The database schema is older than this code (or missing); ``leadsync db upgrade`` fixes it."""


class SchemaTooNew(LedgerError):
    """The database carries a migration this code does not know: a newer leadsync wrote it."""


class MigrationError(LedgerError):
    """A migration command was given something it cannot act on (e.g. an unknown revision)."""


class StaleEpoch(LedgerError):
    """A writer's fencing epoch is no longer the current one: another leader took over."""

    def __init__(self, name: str, epoch: int, current: int | None) -> None:
        self.epoch = epoch
        self.current = current
        shown = "none taken" if current is None else str(current)
        super().__init__(
            f"stale fencing epoch {epoch} for {name!r} (current: {shown}); this writer is no longer the leader"
        )


class IdentityConflict(LedgerError):
    """An identity (a CRM id or an email) is already linked to a different person."""


class IntentStateError(LedgerError):
    """A write intent was asked to make a state change its state machine does not allow."""


class NotFound(LedgerError):
    """A referenced ledger row (intent, run, clock) does not exist."""
