"""The ledger's tables, as SQLAlchemy Core metadata (the migrations are the source of truth for DDL;
``tests/integration/ledger`` checks the two agree).

Times are instants: stored as ``timestamptz`` on PostgreSQL and as naive UTC text on SQLite, always
handed back as aware UTC datetimes (:class:`UtcDateTime`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

# JSONB on PostgreSQL (indexable, compact); SQLite's JSON is text either way.
Json = sa.JSON().with_variant(JSONB(), "postgresql")
# Row ids: 64-bit on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the fast rowid alias.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; a naive datetime is a bug and is refused."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given to the ledger; instants must be aware")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

persons = sa.Table(
    "persons",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # Set when this person was merged into another; identities move to the survivor.
    # Indexed (revision 0002): the engine looks up everyone merged into a set of people each cycle.
    sa.Column("merged_into", sa.String(64), sa.ForeignKey("persons.id"), nullable=True, index=True),
    sa.Column("merged_at", UtcDateTime(), nullable=True),
)

person_identities = sa.Table(
    "person_identities",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("value", sa.String(320), primary_key=True),
    sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.id"), nullable=False, index=True),
    sa.Column("linked_at", UtcDateTime(), nullable=False),
)

identity_events = sa.Table(
    "identity_events",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("details", Json, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
)

activities = sa.Table(
    "activities",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("source_id", sa.String(128), nullable=False),
    sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.id"), nullable=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("occurred_at", UtcDateTime(), nullable=False),
    sa.Column("properties", Json, nullable=False),
    sa.UniqueConstraint("source", "source_id"),
    sa.Index("ix_activities_person_id_occurred_at", "person_id", "occurred_at"),
)

score_snapshots = sa.Table(
    "score_snapshots",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.id"), nullable=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("score", sa.Float(), nullable=False),
    sa.Column("grade", sa.String(8), nullable=True),
    sa.Column("ruleset_version", sa.String(64), nullable=False),
    sa.Column("breakdown", Json, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Index("ix_score_snapshots_person_id_at", "person_id", "at"),
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("ended_at", UtcDateTime(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("epoch", sa.BigInteger(), nullable=False),
    sa.Column("counts", Json, nullable=False),
    sa.Column("api_calls", Json, nullable=False),
    sa.Column("errors", Json, nullable=False),
    sa.Index("ix_sync_runs_started_at", "started_at"),
)


def _history_columns() -> list[sa.Column[Any]]:
    """Columns transitions and contact-status changes share (both are append-only)."""
    return [
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.id"), nullable=False),
        sa.Column("from_status", sa.String(64), nullable=True),
        sa.Column("to_status", sa.String(64), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("ruleset_version", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("facts", Json, nullable=False),
        sa.Column("cause_kind", sa.String(16), nullable=False),
        sa.Column("cause_actor", sa.String(128), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
    ]


transitions = sa.Table(
    "transitions",
    metadata,
    *_history_columns(),
    sa.Column("move", sa.String(16), nullable=False),
    # (at, to_status) covers the funnel query (counts per stage per period) without touching the table.
    sa.Index("ix_transitions_at_to_status", "at", "to_status"),
    sa.Index("ix_transitions_person_id_at", "person_id", "at"),
)

contact_status_changes = sa.Table(
    "contact_status_changes",
    metadata,
    *_history_columns(),
    sa.Index("ix_contact_status_changes_at", "at"),
    sa.Index("ix_contact_status_changes_person_id_at", "person_id", "at"),
)

# Tables no one may UPDATE or DELETE; the migration adds triggers enforcing it in the database.
APPEND_ONLY_TABLES = ("transitions", "contact_status_changes")

write_intents = sa.Table(
    "write_intents",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("target", sa.String(16), nullable=False),
    sa.Column("object", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(128), nullable=False),
    sa.Column("fields", Json, nullable=False),
    sa.Column("payload_hash", sa.String(128), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    # Who created the intent (revision 0003): "sync" (the cycle, right before its call), "sla" (the sweep,
    # clock reconciliation) or "routing" (owner writes); the last two are queued for the next cycle.
    sa.Column("origin", sa.String(16), nullable=False, server_default="sync"),
    # When the intent went to a connector: pending and dispatched is a crashed call's leftover (read back),
    # pending and not dispatched is queued (sent by the next cycle).
    sa.Column("dispatched_at", UtcDateTime(), nullable=True),
    sa.Index("ix_write_intents_state_id", "state", "id"),
    sa.Index("ix_write_intents_origin_state_id", "origin", "state", "id"),
    # By record (revision 0004): pending intents of records about to be written, correction histories.
    sa.Index("ix_write_intents_record", "target", "object", "record_id", "id"),
    # One open (pending) intent per identical payload: re-planning the same write is a no-op.
    sa.Index(
        "uq_write_intents_pending_payload",
        "target", "object", "record_id", "payload_hash",
        unique=True,
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    ),
)

written_values = sa.Table(
    "written_values",
    metadata,
    sa.Column("system", sa.String(16), primary_key=True),
    sa.Column("object", sa.String(64), primary_key=True),
    sa.Column("record_id", sa.String(128), primary_key=True),
    sa.Column("field", sa.String(128), primary_key=True),
    sa.Column("value_hash", sa.String(128), nullable=False),
    sa.Column("written_at", UtcDateTime(), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
)

watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("stream", sa.String(128), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
    sa.Column("seen_ids", Json, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("system", sa.String(16), primary_key=True),
    sa.Column("object", sa.String(64), primary_key=True),
    sa.Column("record_id", sa.String(128), primary_key=True),
    sa.Column("reason", sa.Text(), nullable=False),
    # A digest of what caused the failure (error code, offending value, describe version): the record is
    # retried only once this changes, so a permanent error does not cost an API call every cycle.
    sa.Column("cause_fingerprint", sa.String(128), nullable=False),
    sa.Column("first_seen", UtcDateTime(), nullable=False),
    sa.Column("last_seen", UtcDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("released_at", UtcDateTime(), nullable=True),
    sa.Column("run_id", sa.String(64), nullable=True),
)

_OPEN_CLOCK = "met_at IS NULL AND stopped_at IS NULL"

sla_clocks = sa.Table(
    "sla_clocks",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.id"), nullable=False),
    sa.Column("sla", sa.String(64), nullable=False),
    sa.Column("owner_id", sa.String(128), nullable=True),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("due_at", UtcDateTime(), nullable=False),
    sa.Column("warn_at", UtcDateTime(), nullable=True),
    sa.Column("met_at", UtcDateTime(), nullable=True),
    sa.Column("breached_at", UtcDateTime(), nullable=True),
    sa.Column("stopped_at", UtcDateTime(), nullable=True),
    sa.Column("stop_reason", sa.Text(), nullable=True),
    sa.Index("ix_sla_clocks_person_id_sla", "person_id", "sla"),
    # Only open clocks are swept and reported, and they are few next to the closed ones.
    sa.Index(
        "ix_sla_clocks_open_due_at", "due_at",
        sqlite_where=sa.text(_OPEN_CLOCK), postgresql_where=sa.text(_OPEN_CLOCK),
    ),
    sa.Index(
        "uq_sla_clocks_open_person_sla", "person_id", "sla", unique=True,
        sqlite_where=sa.text(_OPEN_CLOCK), postgresql_where=sa.text(_OPEN_CLOCK),
    ),
)

leader_epochs = sa.Table(
    "leader_epochs",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("epoch", sa.BigInteger(), nullable=False),
    sa.Column("holder", sa.String(256), nullable=False),
    sa.Column("taken_at", UtcDateTime(), nullable=False),
)

# ----- the sync engine's bookkeeping (revision 0002) -----------------------------------------------
# Each CRM record's last pulled state: person fields, CRM facts and the values its mapped fields hold.
sync_records = sa.Table(
    "sync_records",
    metadata,
    sa.Column("system", sa.String(16), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("record_id", sa.String(128), primary_key=True),
    sa.Column("person_id", sa.String(64), nullable=False, index=True),
    sa.Column("email", sa.String(320), nullable=True, index=True),
    sa.Column("modstamp", UtcDateTime(), nullable=False),
    sa.Column("fields", Json, nullable=False),
    sa.Column("facts", Json, nullable=False),
    sa.Column("current", Json, nullable=False),
    sa.Column("deleted", sa.Boolean(), nullable=False),
    # When the CRM facts last changed (lifecycle reads it to tell a fresh CRM verdict from an old one).
    sa.Column("facts_changed_at", UtcDateTime(), nullable=False),
)

# The deals linked to each CRM record (a deal's contact roles), with what lifecycle needs of them.
sync_opportunity_links = sa.Table(
    "sync_opportunity_links",
    metadata,
    sa.Column("opportunity_id", sa.String(128), primary_key=True),
    sa.Column("system", sa.String(16), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("record_id", sa.String(128), primary_key=True),
    sa.Column("is_closed", sa.Boolean(), nullable=False),
    sa.Column("is_won", sa.Boolean(), nullable=False),
    sa.Column("stage", sa.String(128), nullable=False),
    sa.Column("modstamp", UtcDateTime(), nullable=False),
    sa.Index("ix_sync_opportunity_links_record", "system", "kind", "record_id"),
)

# People a committed page touched that no cycle has evaluated yet (a crash between pull and compute
# loses nothing: the next cycle finds them here).
sync_dirty = sa.Table(
    "sync_dirty",
    metadata,
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("marked_at", UtcDateTime(), nullable=False),
)

# Two people sharing one email: flagged for a human, never merged automatically.
sync_duplicates = sa.Table(
    "sync_duplicates",
    metadata,
    sa.Column("person_id", sa.String(64), primary_key=True),
    sa.Column("other_person_id", sa.String(64), primary_key=True),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("detected_at", UtcDateTime(), nullable=False),
)

# ----- routing (revision 0003) -----------------------------------------------------------------------
# Every routing decision: who got the lead (per-system owner ids), or why it waits, and the hand-off.
assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("person_id", sa.String(64), sa.ForeignKey("persons.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # assigned | waiting | returned
    sa.Column("queue", sa.String(128), nullable=False),
    sa.Column("owner_email", sa.String(320), nullable=True),
    sa.Column("salesforce_owner_id", sa.String(128), nullable=True),
    sa.Column("hubspot_owner_id", sa.String(128), nullable=True),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("credits", Json, nullable=False),  # the queue's round-robin credits after this pick
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("epoch", sa.BigInteger(), nullable=False),
    sa.Column("handoff", sa.String(16), nullable=False),  # pending | sent | none
    sa.Column("handoff_at", UtcDateTime(), nullable=True),
    sa.Index("ix_assignments_person_id_id", "person_id", "id"),
    sa.Index("ix_assignments_queue_id", "queue", "id"),
    sa.Index("ix_assignments_handoff", "handoff"),
)

# The CRM users, queues and owners as last pulled: routing maps a rep's email to each system's owner id.
crm_owners = sa.Table(
    "crm_owners",
    metadata,
    sa.Column("system", sa.String(16), primary_key=True),
    sa.Column("owner_id", sa.String(128), primary_key=True),
    sa.Column("email", sa.String(320), nullable=True, index=True),
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("is_queue", sa.Boolean(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

SYNC_TABLES = ("sync_records", "sync_opportunity_links", "sync_dirty", "sync_duplicates")
