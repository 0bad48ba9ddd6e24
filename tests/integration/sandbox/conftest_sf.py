"""Fixtures for the Salesforce emulator tests: a real HTTPS emulator and the real simple-salesforce.

Test modules import what they use from here (this folder has no conftest.py: it is shared with the
HubSpot tests). PYTEST_DONT_REWRITE: the modules import helpers from here before pytest loads it as a
plugin, and it holds no assertions to rewrite.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from leadsync.sandbox.salesforce.emulator import SalesforceEmulator
from leadsync.sandbox.salesforce.values import id_checksum
from leadsync.sandbox.tls import SandboxTLS

SEED_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def make_id(prefix: str, number: int) -> str:
    """A valid 18-char id with ``prefix`` (in another pod than the emulator's own ids)."""
    id15 = f"{prefix}7x{number:010d}"
    return id15 + id_checksum(id15)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def lead(number: int, **fields: Any) -> dict[str, Any]:
    """Seed lead N: LastName LeadN, company CoN, email leadN@example.com, modified SEED_TIME + N minutes."""
    moment = SEED_TIME + timedelta(minutes=number)
    return {"Id": make_id("00Q", number), "LastName": f"Lead{number}", "FirstName": f"F{number}",
            "Company": f"Co{number}", "Email": f"lead{number}@example.com", "CreatedDate": stamp(moment),
            "LastModifiedDate": stamp(moment), "SystemModstamp": stamp(moment), **fields}


@pytest.fixture(scope="session")
def sf_tls(tmp_path_factory: pytest.TempPathFactory) -> SandboxTLS:
    return SandboxTLS.create(Path(tmp_path_factory.mktemp("sf-tls")))


@pytest.fixture
def sf_emulator(sf_tls: SandboxTLS) -> Iterator[SalesforceEmulator]:
    emulator = SalesforceEmulator()
    emulator.start(sf_tls.server_context())
    yield emulator
    emulator.stop()


@pytest.fixture
def http(sf_tls: SandboxTLS) -> requests.Session:
    """A requests session that trusts the sandbox CA only (and ignores REQUESTS_CA_BUNDLE)."""
    session = requests.Session()
    session.verify = str(sf_tls.ca_path)
    session.trust_env = False
    return session


@pytest.fixture
def sf(sf_emulator: SalesforceEmulator, http: requests.Session) -> Salesforce:
    return Salesforce(instance_url=sf_emulator.base_url, session_id=sf_emulator.new_session(), session=http,
                      version="59.0")


def api_url(emulator: SalesforceEmulator, path: str) -> str:
    return f"{emulator.base_url}/services/data/v59.0/{path}"


def bearer(emulator: SalesforceEmulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emulator.new_session()}"}
