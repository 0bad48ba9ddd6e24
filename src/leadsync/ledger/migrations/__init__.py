"""Alembic migrations for the ledger, shipped inside the package (see ``leadsync.ledger.migrate``)."""
