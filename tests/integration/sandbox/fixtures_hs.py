"""Fixtures for the HubSpot emulator tests: a real HTTPS emulator and the real hubspot-api-client.

Import the fixtures into a test module (``from tests.integration.sandbox.fixtures_hs import *``);
this folder deliberately has no conftest.py (it is shared with the Salesforce tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hubspot import HubSpot

from leadsync.sandbox.hubspot import HubSpotEmulator
from leadsync.sandbox.tls import SandboxTLS

TOKEN = "pat-test-0000"
BASE_TIME = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def contact(num: int, modified: datetime | None = None, **properties: Any) -> dict[str, Any]:
    """One seed contact with predictable values: contact N has email cN@example.com."""
    created = BASE_TIME + timedelta(minutes=num)
    props = {"email": f"c{num}@example.com", "firstname": f"First{num}", "lastname": f"Last{num}",
             "lifecyclestage": "lead", **properties}
    return {"id": str(num), "properties": props, "createdAt": iso(created),
            "updatedAt": iso(modified or created), "archived": False}


def owners() -> list[dict[str, Any]]:
    return [
        {"id": "501", "email": "ana@example.com", "firstName": "Ana", "lastName": "Rep", "userId": 9001,
         "userIdIncludingInactive": 9001, "createdAt": iso(BASE_TIME), "updatedAt": iso(BASE_TIME),
         "archived": False, "teams": [], "type": "PERSON"},
        {"id": "502", "email": "old@example.com", "firstName": "Old", "lastName": "Rep", "userId": 9002,
         "userIdIncludingInactive": 9002, "createdAt": iso(BASE_TIME), "updatedAt": iso(BASE_TIME),
         "archived": True, "teams": [], "type": "PERSON"},
    ]


@pytest.fixture(scope="session")
def sandbox_tls(tmp_path_factory: pytest.TempPathFactory) -> SandboxTLS:
    return SandboxTLS.create(Path(tmp_path_factory.mktemp("hs-tls")))


EmulatorFactory = Callable[..., HubSpotEmulator]


@pytest.fixture
def start_hubspot(sandbox_tls: SandboxTLS) -> Iterator[EmulatorFactory]:
    """Start emulators with any constructor options; all are stopped at teardown."""
    started: list[HubSpotEmulator] = []

    def start(**options: Any) -> HubSpotEmulator:
        options.setdefault("burst_per_10s", None)
        options.setdefault("daily_limit", None)
        options.setdefault("search_per_second", None)
        emulator = HubSpotEmulator(token=TOKEN, **options)
        emulator.start(sandbox_tls.server_context())
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def hs(start_hubspot: EmulatorFactory) -> HubSpotEmulator:
    """An unthrottled emulator seeded with 250 contacts and two owners."""
    emulator = start_hubspot()
    emulator.load_org({"owners": owners(), "contacts": [contact(n) for n in range(1, 251)]})
    return emulator


def client_for(emulator: HubSpotEmulator, ca_path: Path, token: str = TOKEN) -> HubSpot:
    """The unmodified official client, pointed at the emulator and trusting only the sandbox CA."""
    return HubSpot(access_token=token, host=emulator.base_url, ssl_ca_cert=str(ca_path))


@pytest.fixture
def client(hs: HubSpotEmulator, sandbox_tls: SandboxTLS) -> HubSpot:
    return client_for(hs, sandbox_tls.ca_path)
