"""Migrations: one head, the models agree with the DDL, up/down/up with data, failures roll back."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from leadsync.config.settings import LedgerSettings
from leadsync.domain.model import Move, Transition
from leadsync.ledger import (
    LedgerUrlError,
    MigrationError,
    SchemaOutOfDate,
    SchemaState,
    SchemaTooNew,
    check_schema,
    current,
    downgrade,
    head_revision,
    open_configured,
    open_ledger,
    status,
    upgrade,
)
from leadsync.ledger.engine import make_engine
from leadsync.ledger.migrate import script_directory
from leadsync.ledger.schema import metadata


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _write_history(url: str, person: str, now: datetime) -> None:
    with open_ledger(url) as ledger, ledger.unit_of_work() as uow:
        uow.people.ensure([person], now)
        uow.transitions.append(
            [Transition(person, None, "Inquiry", now, Move.INITIAL, "r", "v1", "form fill")], run_id=None, epoch=0
        )


def test_one_history_with_a_single_head() -> None:
    script = script_directory()
    assert len(script.get_heads()) == 1
    assert head_revision() == script.get_current_head()
    assert [r.revision for r in script.walk_revisions()][-1] == "0001"


def test_upgrade_builds_every_table_the_code_knows(empty_url: str) -> None:
    assert status(empty_url).state is SchemaState.EMPTY
    after = upgrade(empty_url)
    assert (after.state, after.revision) == (SchemaState.CURRENT, head_revision())
    assert _tables(empty_url) == set(metadata.tables) | {"alembic_version"}
    assert check_schema(empty_url).state is SchemaState.CURRENT


def test_models_and_migrations_agree(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_upgrade_downgrade_upgrade_with_data_present(empty_url: str, now: datetime) -> None:
    upgrade(empty_url)
    _write_history(empty_url, "p1", now)
    assert upgrade(empty_url).revision == head_revision()  # at head: a no-op that keeps the rows
    with open_ledger(empty_url) as ledger, ledger.reading() as uow:
        assert len(uow.transitions.for_person("p1")) == 1

    assert downgrade(empty_url, "base").state is SchemaState.EMPTY
    assert _tables(empty_url) <= {"alembic_version"}
    assert current(empty_url) is None

    upgrade(empty_url)
    _write_history(empty_url, "p2", now)
    with open_ledger(empty_url) as ledger, ledger.reading() as uow:
        assert uow.transitions.for_person("p1") == []
        assert [t.transition.person_id for t in uow.transitions.for_person("p2")] == ["p2"]


def test_a_failing_upgrade_leaves_nothing_behind(empty_url: str) -> None:
    engine = make_engine(empty_url)
    with engine.begin() as connection:  # something in the way of the last table the migration creates
        connection.exec_driver_sql("CREATE TABLE transitions (id INTEGER PRIMARY KEY)")
    engine.dispose()

    with pytest.raises(MigrationError, match="failed and was rolled back"):
        upgrade(empty_url)
    assert _tables(empty_url) <= {"transitions", "alembic_version"}
    assert status(empty_url).state is SchemaState.EMPTY


def test_an_unknown_downgrade_target_is_a_clear_error(empty_url: str) -> None:
    upgrade(empty_url)
    with pytest.raises(MigrationError, match="'nope'"):
        downgrade(empty_url, "nope")
    assert current(empty_url) == head_revision()


def test_open_ledger_refuses_an_out_of_date_schema_unless_told_to_upgrade(empty_url: str) -> None:
    with pytest.raises(SchemaOutOfDate, match="leadsync db upgrade"):
        open_ledger(empty_url)
    with open_ledger(empty_url, require_current=False) as ledger:
        assert ledger.schema_status().state is SchemaState.EMPTY
    with open_ledger(empty_url, auto_upgrade=True) as ledger:
        assert ledger.schema_status().state is SchemaState.CURRENT


def test_a_schema_newer_than_the_code_is_refused(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    engine.dispose()

    assert status(empty_url).state is SchemaState.AHEAD
    for attempt in (
        lambda: open_ledger(empty_url),
        lambda: open_ledger(empty_url, auto_upgrade=True),
        lambda: upgrade(empty_url),
        lambda: downgrade(empty_url, "base"),
    ):
        with pytest.raises(SchemaTooNew, match=r"9999_from_the_future.*upgrade leadsync"):
            attempt()
    assert "transitions" in _tables(empty_url)


def test_sqlite_runs_with_wal_foreign_keys_and_a_busy_timeout(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    upgrade(url)
    with open_ledger(url) as ledger, ledger.engine.connect() as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        }
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000}


def test_in_memory_sqlite_is_refused_with_a_reason() -> None:
    with pytest.raises(LedgerUrlError, match="in-memory SQLite"):
        open_ledger("sqlite://")


def test_open_configured_follows_auto_upgrade(empty_url: str) -> None:
    with pytest.raises(SchemaOutOfDate):
        open_configured(LedgerSettings(url=empty_url))
    with open_configured(LedgerSettings(url=empty_url, auto_upgrade=True)) as ledger:
        assert ledger.schema_status().state is SchemaState.CURRENT
