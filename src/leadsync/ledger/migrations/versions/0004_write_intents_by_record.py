"""An index on ``write_intents`` by record.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

The engine looks intents up by record: the pending intents of the records it is about to write, and the
applied ones of records a CRM user may have overridden (how often we corrected them). The only index by
record was the partial unique one over pending payloads, which a query with a bound state parameter cannot
use, so those lookups scanned a table that grows with every write ever made.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_write_intents_record", "write_intents", ["target", "object", "record_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_write_intents_record", table_name="write_intents")
