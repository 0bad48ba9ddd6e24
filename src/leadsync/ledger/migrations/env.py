"""Alembic environment for the ledger. Run through ``leadsync.ledger.migrate`` (``leadsync db ...``),
which opens the connection and the transaction; there is no alembic.ini to point at a database."""

from __future__ import annotations

from alembic import context

from leadsync.ledger.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("ledger migrations run through `leadsync db upgrade`, with a live connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode copies the table instead. Harmless on PostgreSQL.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
