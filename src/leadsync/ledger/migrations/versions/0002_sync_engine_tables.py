"""The sync engine's bookkeeping tables (CRM record states, deal links, people awaiting evaluation,
duplicate flags) and an index on ``persons.merged_into``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Before this revision the engine created these four tables itself (``create_all`` beside the migrations).
A ledger that already has them keeps them and their rows: each table is created only when missing, and
its indexes likewise, so upgrading a ledger the older engine has used loses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

SYNC_TABLES = ("sync_records", "sync_opportunity_links", "sync_dirty", "sync_duplicates")


def _tables() -> dict[str, list[sa.Column[object] | sa.PrimaryKeyConstraint]]:
    return {
        "sync_records": [
            sa.Column("system", sa.String(length=16), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("record_id", sa.String(length=128), nullable=False),
            sa.Column("person_id", sa.String(length=64), nullable=False),
            sa.Column("email", sa.String(length=320), nullable=True),
            sa.Column("modstamp", Instant, nullable=False),
            sa.Column("fields", Json, nullable=False),
            sa.Column("facts", Json, nullable=False),
            sa.Column("current", Json, nullable=False),
            sa.Column("deleted", sa.Boolean(), nullable=False),
            sa.Column("facts_changed_at", Instant, nullable=False),
            sa.PrimaryKeyConstraint("system", "kind", "record_id", name=op.f("pk_sync_records")),
        ],
        "sync_opportunity_links": [
            sa.Column("opportunity_id", sa.String(length=128), nullable=False),
            sa.Column("system", sa.String(length=16), nullable=False),
            sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("record_id", sa.String(length=128), nullable=False),
            sa.Column("is_closed", sa.Boolean(), nullable=False),
            sa.Column("is_won", sa.Boolean(), nullable=False),
            sa.Column("stage", sa.String(length=128), nullable=False),
            sa.Column("modstamp", Instant, nullable=False),
            sa.PrimaryKeyConstraint("opportunity_id", "system", "kind", "record_id",
                                    name=op.f("pk_sync_opportunity_links")),
        ],
        "sync_dirty": [
            sa.Column("person_id", sa.String(length=64), nullable=False),
            sa.Column("marked_at", Instant, nullable=False),
            sa.PrimaryKeyConstraint("person_id", name=op.f("pk_sync_dirty")),
        ],
        "sync_duplicates": [
            sa.Column("person_id", sa.String(length=64), nullable=False),
            sa.Column("other_person_id", sa.String(length=64), nullable=False),
            sa.Column("email", sa.String(length=320), nullable=True),
            sa.Column("detected_at", Instant, nullable=False),
            sa.PrimaryKeyConstraint("person_id", "other_person_id", name=op.f("pk_sync_duplicates")),
        ],
    }


INDEXES = (
    ("ix_sync_records_person_id", "sync_records", ["person_id"]),
    ("ix_sync_records_email", "sync_records", ["email"]),
    ("ix_sync_opportunity_links_record", "sync_opportunity_links", ["system", "kind", "record_id"]),
    ("ix_persons_merged_into", "persons", ["merged_into"]),
)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, elements in _tables().items():
        if name not in existing:
            op.create_table(name, *elements)
    for index, table, columns in INDEXES:
        present = table in existing and index in {i["name"] for i in inspector.get_indexes(table)}
        if not present:
            op.create_index(op.f(index), table, columns, unique=False)


def downgrade() -> None:
    # DROP INDEX needs no table rebuild, on SQLite either (batch mode is for column changes).
    op.drop_index(op.f("ix_persons_merged_into"), table_name="persons")
    for name in reversed(SYNC_TABLES):
        op.drop_table(name)  # their indexes go with them
