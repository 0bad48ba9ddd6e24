"""The cycle on a real SQLite ledger file with two in-memory CRMs and a hand-driven clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leadsync.connectors.memory import MemoryConnector
from leadsync.domain.model import System
from leadsync.ledger import Ledger, open_ledger
from leadsync.rules.ruleset import RuleSet, load_ruleset
from leadsync.sync.cycle import CycleReport, EngineConfig, SyncEngine
from leadsync.sync.state import ensure_tables

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class World:
    ledger: Ledger
    ruleset: RuleSet
    clock: Clock
    sf: MemoryConnector
    hs: MemoryConnector
    config: EngineConfig

    def engine(self, config: EngineConfig | None = None) -> SyncEngine:
        return SyncEngine(self.ledger, self.ruleset, [self.sf, self.hs], config or self.config, self.clock)

    def cycle(self, *, dry_run: bool = False, seconds: float = 30) -> CycleReport:
        self.clock.advance(seconds=seconds)
        return self.engine().run_once(dry_run=dry_run)


@pytest.fixture(scope="session")
def ruleset(mappings_dir: Path) -> RuleSet:
    return load_ruleset(mappings_dir)


@pytest.fixture(scope="session")
def mappings_dir() -> Path:
    return Path(__file__).resolve().parents[3] / "mappings"


@pytest.fixture
def world(tmp_path: Path, ruleset: RuleSet) -> Iterator[World]:
    made = make_world(tmp_path, ruleset)
    yield made
    made.ledger.close()


def make_world(tmp_path: Path, ruleset: RuleSet) -> World:
    """A fresh world (a SQLite ledger in ``tmp_path``); the caller closes its ledger."""
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}", auto_upgrade=True)
    ensure_tables(ledger)
    clock = Clock()
    config = EngineConfig(
        overlap={System.SALESFORCE: timedelta(minutes=1), System.HUBSPOT: timedelta(minutes=1)},
        lag_margin={System.SALESFORCE: timedelta(0), System.HUBSPOT: timedelta(seconds=5)},
        max_change_share=1.0, max_change_min=1000, keep_plans=True,
    )
    sf = MemoryConnector(System.SALESFORCE, clock, page_size=3)
    hs = MemoryConnector(System.HUBSPOT, clock, page_size=3)
    return World(ledger, ruleset, clock, sf, hs, config)


def table_counts(ledger: Ledger) -> dict[str, int]:
    """Rows in every ledger and sync table."""
    import sqlalchemy as sa

    with ledger.engine.connect() as conn:
        metadata = sa.MetaData()
        metadata.reflect(conn)
        return {t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for t in metadata.sorted_tables}


def dump(ledger: Ledger) -> list[str]:
    """Every row of every table, as text: two equal dumps mean an unchanged ledger."""
    with ledger.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        return list(raw.iterdump())  # type: ignore[attr-defined]
