"""Reliability test 3: a tie flood. Thousands of records share one timestamp on both sides (a data
import); pages of 200 cut through the tie and HubSpot's search cap forces a restart inside it. Each
record becomes exactly one person, is written once, the request count stays near the minimum, and the
next cycle is idle (no page is re-read for ever).

CI floods 600 Salesforce leads and 600 HubSpot contacts, with the search cap lowered to 500 (budget 400)
on both the emulator and the connector so the restart happens; ``--soak`` floods 25,000 leads and 12,000
contacts against the real 10,000 cap."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import pytest

from leadsync.connectors import hubspot as hubspot_connector
from leadsync.connectors.hubspot_search import KeysetSearch
from leadsync.domain.model import System
from leadsync.ledger import Identity, IdentityKind
from leadsync.sandbox.hubspot import objects_api
from leadsync.sandbox.hubspot.store import Record

from .harness import Rig, assert_transitions_legal, rig

SF_PAGE, HS_PAGE = 200, 200


def flood_salesforce(target: Rig, count: int) -> list[str]:
    rows = [{"LastName": f"Tie{n:05d}", "Company": f"Flood {n % 97} Ltd", "Email": f"sf.tie{n:05d}@flood.example",
             "LeadSource": "Web"} for n in range(count)]
    return target.sandbox.sf.import_records("Lead", rows)


def flood_hubspot(target: Rig, count: int) -> list[str]:
    """Contacts created one by one, then all stamped with one modification instant (an import)."""
    hs = target.sandbox.hs
    ids = [hs.create_contact({"email": f"hs.tie{n:05d}@flood.example", "firstname": "Tie", "lastname": f"H{n:05d}"})
           for n in range(count)]
    with hs.lock:
        store = hs.stores["contacts"]
        stamp = hs.now_ms()
        records: list[Record] = [store.records[i] for i in ids]
        for record in records:
            store.touch(record, stamp)
    return ids


def test_a_tie_flood_is_read_once_written_once_and_leaves_an_idle_cycle(
        tmp_path: Path, ledger_url: str, soak: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    sf_count, hs_count = (25_000, 12_000) if soak else (600, 600)
    if not soak:
        monkeypatch.setattr(objects_api, "RESULT_CAP", 500)
        monkeypatch.setattr(hubspot_connector, "KeysetSearch",
                            functools.partial(KeysetSearch, page_limit=HS_PAGE, budget=400))
    cap = 10_000 if soak else 500
    with rig(tmp_path / "flood", ledger_url=ledger_url, persons=4, seed=3) as flood:
        sf_connector = next(c for c in flood.connectors if c.system is System.SALESFORCE)
        sf_connector.batch_size = SF_PAGE  # type: ignore[attr-defined]
        flood.run_until_quiet()
        leads, contacts = flood_salesforce(flood, sf_count), flood_hubspot(flood, hs_count)
        flood.settle()
        sf_reads = flood.sandbox.sf.counters.snapshot()
        hs_reads = flood.sandbox.hs.counters.snapshot()
        reports = flood.run_until_quiet(max_cycles=5)

        with flood.ledger.reading() as uow:
            sf_people = {uow.people.find(Identity(IdentityKind.SALESFORCE_LEAD, i)) for i in leads}
            hs_people = {uow.people.find(Identity(IdentityKind.HUBSPOT_CONTACT, i)) for i in contacts}
        assert None not in sf_people and None not in hs_people
        assert len(sf_people) == sf_count and len(hs_people) == hs_count and not sf_people & hs_people

        # Read once: the flood's pages, once more for the echo of our own writes, plus one page per stream
        # and cycle.
        after_sf, after_hs = flood.sandbox.sf.counters.snapshot(), flood.sandbox.hs.counters.snapshot()
        query_pages = sum(after_sf.get(k, 0) - sf_reads.get(k, 0) for k in ("query", "query_more"))
        sf_streams = len(sf_connector.streams())
        assert query_pages <= 2 * math.ceil(sf_count / SF_PAGE) + sf_streams * len(reports) + 2, query_pages
        searches = after_hs.get("contacts.search", 0) - hs_reads.get("contacts.search", 0)
        restarts = math.ceil(hs_count / (cap - 100))
        assert searches <= 2 * (math.ceil(hs_count / HS_PAGE) + restarts) + 2 * len(reports), searches

        # Written once: one applied intent per flooded record, every lead holds its status.
        outcome = flood.outcome()
        flooded = {("salesforce", "Lead", i) for i in leads} | {("hubspot", "contacts", i) for i in contacts}
        assert {t: n for t, n in outcome.applied_per_target.items() if t in flooded and n != 1} == {}
        assert {t for t in flooded if outcome.applied_per_target.get(t, 0) == 0} == set()
        missing = [i for i in leads if outcome.salesforce[("Lead", i)]["Lifecycle_Status__c"] is None]
        assert missing == []
        flood.cycle(minutes_later=6)  # still re-reads the echo: it lies inside the 5-minute overlap
        idle = flood.cycle(minutes_later=6)
        assert idle.writes == [] and idle.pull.records <= 20, idle.pull.records  # no tie re-read for ever
        assert assert_transitions_legal(flood) >= sf_count + hs_count
