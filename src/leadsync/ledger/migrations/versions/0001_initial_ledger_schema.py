"""The initial ledger schema: people and identities, activities, scores, append-only transitions and
contact-status changes, the outbox, echo hashes, watermarks, runs, quarantine, SLA clocks, fencing epochs.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Types are spelled out here rather than imported from ``leadsync.ledger.schema`` so that this migration
keeps meaning what it meant when it was written, whatever the schema module becomes later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Partial indexes: only open SLA clocks and pending intents are looked up by these (both dialects have them).
OPEN_CLOCK = sa.text("met_at IS NULL AND stopped_at IS NULL")
PENDING = sa.text("state = 'pending'")

APPEND_ONLY = ("transitions", "contact_status_changes")

# PostgreSQL: one function raising for any UPDATE, DELETE or TRUNCATE on an append-only table, so even a
# raw SQL session as the application user cannot rewrite history.
PG_FORBID_FUNCTION = """
CREATE FUNCTION leadsync_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger table % is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "leader_epochs",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=256), nullable=False),
        sa.Column("taken_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leader_epochs")),
    )
    op.create_table(
        "persons",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("merged_into", sa.String(length=64), nullable=True),
        sa.Column("merged_at", Instant, nullable=True),
        sa.ForeignKeyConstraint(["merged_into"], ["persons.id"], name=op.f("fk_persons_merged_into_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    op.create_table(
        "quarantine",
        sa.Column("system", sa.String(length=16), nullable=False),
        sa.Column("object", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("cause_fingerprint", sa.String(length=128), nullable=False),
        sa.Column("first_seen", Instant, nullable=False),
        sa.Column("last_seen", Instant, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("released_at", Instant, nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("system", "object", "record_id", name=op.f("pk_quarantine")),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("started_at", Instant, nullable=False),
        sa.Column("ended_at", Instant, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("counts", Json, nullable=False),
        sa.Column("api_calls", Json, nullable=False),
        sa.Column("errors", Json, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
    )
    op.create_index("ix_sync_runs_started_at", "sync_runs", ["started_at"], unique=False)

    op.create_table(
        "watermarks",
        sa.Column("stream", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("seen_ids", Json, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("stream", name=op.f("pk_watermarks")),
    )
    op.create_table(
        "write_intents",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("object", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("fields", Json, nullable=False),
        sa.Column("payload_hash", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_intents")),
    )
    op.create_index("ix_write_intents_state_id", "write_intents", ["state", "id"], unique=False)
    op.create_index(
        "uq_write_intents_pending_payload",
        "write_intents",
        ["target", "object", "record_id", "payload_hash"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )

    op.create_table(
        "written_values",
        sa.Column("system", sa.String(length=16), nullable=False),
        sa.Column("object", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=False),
        sa.Column("value_hash", sa.String(length=128), nullable=False),
        sa.Column("written_at", Instant, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("system", "object", "record_id", "field", name=op.f("pk_written_values")),
    )
    op.create_table(
        "activities",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", Instant, nullable=False),
        sa.Column("properties", Json, nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_activities_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
        sa.UniqueConstraint("source", "source_id", name=op.f("uq_activities_source_source_id")),
    )
    op.create_index("ix_activities_person_id_occurred_at", "activities", ["person_id", "occurred_at"], unique=False)

    op.create_table(
        "contact_status_changes",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("from_status", sa.String(length=64), nullable=True),
        sa.Column("to_status", sa.String(length=64), nullable=False),
        sa.Column("at", Instant, nullable=False),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("ruleset_version", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("facts", Json, nullable=False),
        sa.Column("cause_kind", sa.String(length=16), nullable=False),
        sa.Column("cause_actor", sa.String(length=128), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_contact_status_changes_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_status_changes")),
    )
    op.create_index("ix_contact_status_changes_at", "contact_status_changes", ["at"], unique=False)
    op.create_index(
        "ix_contact_status_changes_person_id_at", "contact_status_changes", ["person_id", "at"], unique=False
    )

    op.create_table(
        "identity_events",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", Instant, nullable=False),
        sa.Column("details", Json, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_identity_events_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_events")),
    )
    op.create_index(op.f("ix_identity_events_person_id"), "identity_events", ["person_id"], unique=False)

    op.create_table(
        "person_identities",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("linked_at", Instant, nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_person_identities_person_id_persons")),
        sa.PrimaryKeyConstraint("kind", "value", name=op.f("pk_person_identities")),
    )
    op.create_index(op.f("ix_person_identities_person_id"), "person_identities", ["person_id"], unique=False)

    op.create_table(
        "score_snapshots",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("at", Instant, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(length=8), nullable=True),
        sa.Column("ruleset_version", sa.String(length=64), nullable=False),
        sa.Column("breakdown", Json, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_score_snapshots_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_snapshots")),
    )
    op.create_index("ix_score_snapshots_person_id_at", "score_snapshots", ["person_id", "at"], unique=False)

    op.create_table(
        "sla_clocks",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("sla", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.String(length=128), nullable=True),
        sa.Column("started_at", Instant, nullable=False),
        sa.Column("due_at", Instant, nullable=False),
        sa.Column("warn_at", Instant, nullable=True),
        sa.Column("met_at", Instant, nullable=True),
        sa.Column("breached_at", Instant, nullable=True),
        sa.Column("stopped_at", Instant, nullable=True),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_sla_clocks_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_clocks")),
    )
    op.create_index(
        "ix_sla_clocks_open_due_at",
        "sla_clocks",
        ["due_at"],
        unique=False,
        sqlite_where=OPEN_CLOCK,
        postgresql_where=OPEN_CLOCK,
    )
    op.create_index("ix_sla_clocks_person_id_sla", "sla_clocks", ["person_id", "sla"], unique=False)
    op.create_index(
        "uq_sla_clocks_open_person_sla",
        "sla_clocks",
        ["person_id", "sla"],
        unique=True,
        sqlite_where=OPEN_CLOCK,
        postgresql_where=OPEN_CLOCK,
    )

    op.create_table(
        "transitions",
        sa.Column("id", RowId, autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("from_status", sa.String(length=64), nullable=True),
        sa.Column("to_status", sa.String(length=64), nullable=False),
        sa.Column("at", Instant, nullable=False),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("ruleset_version", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("facts", Json, nullable=False),
        sa.Column("cause_kind", sa.String(length=16), nullable=False),
        sa.Column("cause_actor", sa.String(length=128), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("move", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_transitions_person_id_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transitions")),
    )
    op.create_index("ix_transitions_at_to_status", "transitions", ["at", "to_status"], unique=False)
    op.create_index("ix_transitions_person_id_at", "transitions", ["person_id", "at"], unique=False)
    _forbid_changes()


def _forbid_changes() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FORBID_FUNCTION)
    for table in APPEND_ONLY:
        if dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION leadsync_forbid_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION leadsync_forbid_change()"
            )
        elif dialect == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'ledger table {table} is append-only: {verb} is not allowed'); END"
                )


def downgrade() -> None:
    # Dropping a table drops its triggers and indexes; the tables go in reverse dependency order.
    for table in (
        "transitions",
        "sla_clocks",
        "score_snapshots",
        "person_identities",
        "identity_events",
        "contact_status_changes",
        "activities",
        "written_values",
        "write_intents",
        "watermarks",
        "sync_runs",
        "quarantine",
        "persons",
        "leader_epochs",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION leadsync_forbid_change()")
