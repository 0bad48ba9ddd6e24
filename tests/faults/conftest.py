"""Options and fixtures of the fault-injection suite.

CI runs a bounded version of every scenario (a few seeds, small orgs). ``--soak`` runs many seeds and
the full sizes (e.g. the 25,000-record tie flood); ``--fault-seeds N`` sets the number of seeds. Both
options exist when pytest is started on this folder (``pytest tests/faults --soak``); from elsewhere the
environment variables LEADSYNC_TEST_SOAK=1 and LEADSYNC_TEST_FAULT_SEEDS=N do the same.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.faults.harness")

from tests.integration.ledger.conftest import pg_admin_url, pg_url  # noqa: E402, F401 - fixtures

from .harness import Outcome, ReferenceRun, reference_outcome  # noqa: E402 - after the rewrite hook

CI_SEEDS = 2
SOAK_SEEDS = 25


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("faults", "fault-injection suite")
    group.addoption("--soak", action="store_true", default=False, help="many seeds and full sizes")
    group.addoption("--fault-seeds", type=int, default=None, help="number of seeds per seeded scenario")


def _option(config: pytest.Config, name: str) -> object:
    try:
        return config.getoption(name)
    except ValueError:  # the option is registered only when pytest starts on this folder
        return None


def soak_enabled(config: pytest.Config) -> bool:
    return bool(_option(config, "--soak")) or os.environ.get("LEADSYNC_TEST_SOAK") == "1"


def seed_count(config: pytest.Config) -> int:
    chosen = _option(config, "--fault-seeds") or os.environ.get("LEADSYNC_TEST_FAULT_SEEDS")
    if chosen:
        return int(str(chosen))
    return SOAK_SEEDS if soak_enabled(config) else CI_SEEDS


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test taking ``fault_seed`` runs once per seed."""
    if "fault_seed" in metafunc.fixturenames:
        metafunc.parametrize("fault_seed", range(1, seed_count(metafunc.config) + 1))


@pytest.fixture
def soak(request: pytest.FixtureRequest) -> bool:
    return soak_enabled(request.config)


# The faulty runs' databases: every scenario runs on a SQLite file and on a fresh PostgreSQL database
# (skipped without LEADSYNC_TEST_PG_URL, a failure when LEADSYNC_REQUIRE_PG is set, as in CI).
FAULTY_DATABASES: list[object] = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=FAULTY_DATABASES)
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The faulty run's ledger: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'faulty-ledger.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


_REFERENCES: dict[tuple[int, int], tuple[Outcome, dict[str, int]]] = {}


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReferenceRun]:
    """``reference(persons, seed)``: the undisturbed run of that org, computed once per session."""
    def get(persons: int = 12, seed: int = 7) -> tuple[Outcome, dict[str, int]]:
        key = (persons, seed)
        if key not in _REFERENCES:
            _REFERENCES[key] = reference_outcome(tmp_path_factory.mktemp("reference"), persons=persons, seed=seed)
        return _REFERENCES[key]
    yield get
