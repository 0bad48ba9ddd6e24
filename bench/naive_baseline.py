"""The naive baseline: the same write-back done record by record, as a hand-written script would.

With the same client libraries leadsync uses (simple-salesforce; hubspot-api-client), the script lists
the person records to handle (a SOQL query per object at 2,000 per page; a contact search at 200 per
page), then for each record makes one read call (the record) and one write call (the score field back),
which is the most charitable record-by-record script: it reads no activities at all.

The sync bench measures a sample of records for real (calls and wall time, against the same sandbox and
its limits, after the sync cycles so it disturbs none of them) and scales the per-record cost to the
records each cycle had to handle; the calls scale exactly (two per record plus the listing pages).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.format import format_soql

from bench.minimum import HS_SEARCH_PAGE, SF_QUERY_PAGE
from leadsync.connectors.hubspot_client import build_hubspot_client

API_VERSION = "59.0"
PERSON_OBJECTS = ("Lead", "Contact")
# Converted leads cannot be updated; a script would skip them too.
LISTING = {"Lead": "SELECT Id FROM Lead WHERE IsConverted = false ORDER BY Id LIMIT {}",
           "Contact": "SELECT Id FROM Contact ORDER BY Id LIMIT {}"}


@dataclass(frozen=True)
class NaiveSample:
    system: str
    records: int
    calls: int
    wall_s: float
    rate_limited: int  # 429s the script met (it sleeps Retry-After and tries again, as scripts do)

    @property
    def seconds_per_record(self) -> float:
        return self.wall_s / self.records if self.records else 0.0


def naive_calls(records: Mapping[str, int], page_size: int) -> int:
    """Calls the script spends on ``records`` person records per object: listing pages + a read and a write
    for each record."""
    return sum(max(1, math.ceil(n / page_size)) + 2 * n for n in records.values())


def naive_cycle_calls(sf_records: Mapping[str, int], hs_contacts: int) -> dict[str, int]:
    return {"salesforce": naive_calls(sf_records, SF_QUERY_PAGE),
            "hubspot": naive_calls({"contacts": hs_contacts}, HS_SEARCH_PAGE)}


def _salesforce(env: Mapping[str, str]) -> Salesforce:
    session = requests.Session()
    session.trust_env = False
    session.verify = env["LEADSYNC_SANDBOX_CA"]
    reply = session.post(env["LEADSYNC_SANDBOX_SF_URL"] + "/services/oauth2/token", data={
        "grant_type": "password", "client_id": env["LEADSYNC_SANDBOX_SF_CLIENT_ID"],
        "client_secret": env["LEADSYNC_SANDBOX_SF_CLIENT_SECRET"], "username": env["LEADSYNC_SANDBOX_SF_USERNAME"],
        "password": env["LEADSYNC_SANDBOX_SF_PASSWORD"] + env["LEADSYNC_SANDBOX_SF_SECURITY_TOKEN"]}, timeout=30)
    reply.raise_for_status()
    token = reply.json()
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session,
                      version=API_VERSION)


def sample_salesforce(env: Mapping[str, str], sample: int) -> NaiveSample:
    sf = _salesforce(env)
    start, calls, done = time.perf_counter(), 0, 0
    for name in PERSON_OBJECTS:
        page: dict[str, Any] = sf.query(format_soql(LISTING[name], sample))
        calls += 1
        sobject = getattr(sf, name)
        for row in page["records"][: sample // len(PERSON_OBJECTS)]:
            record = sobject.get(row["Id"])
            sobject.update(row["Id"], {"Lead_Score__c": record.get("Lead_Score__c")})
            calls, done = calls + 2, done + 1
    return NaiveSample("salesforce", done, calls, time.perf_counter() - start, 0)


def sample_hubspot(env: Mapping[str, str], sample: int) -> NaiveSample:
    from hubspot.crm.contacts import PublicObjectSearchRequest, SimplePublicObjectInput
    from hubspot.crm.contacts.exceptions import ApiException

    hs = build_hubspot_client(access_token=env["LEADSYNC_SANDBOX_HS_TOKEN"], host=env["LEADSYNC_SANDBOX_HS_URL"],
                              ca_bundle=env["LEADSYNC_SANDBOX_CA"])
    counts = {"calls": 0, "429": 0}

    def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        while True:
            counts["calls"] += 1
            try:
                return fn(*args, **kwargs)
            except ApiException as exc:
                if exc.status != 429:
                    raise
                counts["429"] += 1
                time.sleep(float((exc.headers or {}).get("Retry-After", 1)))

    start = time.perf_counter()
    found = call(hs.crm.contacts.search_api.do_search,
                 public_object_search_request=PublicObjectSearchRequest(limit=min(sample, HS_SEARCH_PAGE)))
    done = 0
    for contact in found.results[:sample]:
        record = call(hs.crm.contacts.basic_api.get_by_id, contact.id, properties=["leadsync_score"])
        value = (record.properties or {}).get("leadsync_score") or ""
        call(hs.crm.contacts.basic_api.update, contact.id,
             simple_public_object_input=SimplePublicObjectInput(properties={"leadsync_score": value}))
        done += 1
    return NaiveSample("hubspot", done, counts["calls"], time.perf_counter() - start, counts["429"])
