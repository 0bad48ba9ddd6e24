"""Routing and queued write-backs: the ``assignments`` table, the CRM users routing picks from
(``crm_owners``), and two columns on ``write_intents`` that tell the engine's own intents from queued ones.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

``write_intents.origin`` says who created an intent: ``sync`` (the cycle, right before its API call),
``sla`` (the SLA sweep and clock reconciliation) or ``routing`` (owner writes). ``dispatched_at`` is set when
an intent is handed to a connector: a pending intent with it set is a crashed run's leftover (read back
before anything else), one without it is queued and waits for the next cycle's apply step. Rows that exist
before this revision were all created by the engine right before its call: they become ``sync`` and
dispatched, which is what the engine assumed of them until now.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    _create_assignments()
    op.create_table(
        "crm_owners",
        sa.Column("system", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=128), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("is_queue", sa.Boolean(), nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("system", "owner_id", name=op.f("pk_crm_owners")),
    )
    op.create_index(op.f("ix_crm_owners_email"), "crm_owners", ["email"])
    with op.batch_alter_table("write_intents") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=16), nullable=False, server_default="sync"))
        batch.add_column(sa.Column("dispatched_at", Instant, nullable=True))
    op.execute("UPDATE write_intents SET dispatched_at = updated_at")
    op.create_index(op.f("ix_write_intents_origin_state_id"), "write_intents", ["origin", "state", "id"])


def _create_assignments() -> None:
    op.create_table(
        "assignments",
        sa.Column("id", RowId, nullable=False, autoincrement=True),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        # "assigned" (a rep took it), "waiting" (nobody in the queue could), "returned" (the SLA sweep put
        # the lead back in the pool).
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("queue", sa.String(length=128), nullable=False),
        sa.Column("owner_email", sa.String(length=320), nullable=True),
        sa.Column("salesforce_owner_id", sa.String(length=128), nullable=True),
        sa.Column("hubspot_owner_id", sa.String(length=128), nullable=True),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        # The queue's round-robin credits after this pick: the next pick starts from the newest row.
        sa.Column("credits", Json, nullable=False),
        sa.Column("at", Instant, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        # The hand-off notification: "pending" until handed to the notifier, then "sent"; "none" when no
        # notifier was configured (nothing to send later either).
        sa.Column("handoff", sa.String(length=16), nullable=False),
        sa.Column("handoff_at", Instant, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], name=op.f("fk_assignments_person_id_persons")),
    )
    op.create_index(op.f("ix_assignments_person_id_id"), "assignments", ["person_id", "id"])
    op.create_index(op.f("ix_assignments_queue_id"), "assignments", ["queue", "id"])
    op.create_index(op.f("ix_assignments_handoff"), "assignments", ["handoff"])


def downgrade() -> None:
    op.drop_index(op.f("ix_write_intents_origin_state_id"), table_name="write_intents")
    with op.batch_alter_table("write_intents") as batch:
        batch.drop_column("dispatched_at")
        batch.drop_column("origin")
    op.drop_table("crm_owners")
    op.drop_table("assignments")
