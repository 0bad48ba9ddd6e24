"""The generated Salesforce data only uses picklist values the emulator's describe offers, so preflight and
reports see an org whose data and metadata agree, as in a real org."""

from __future__ import annotations

from datetime import UTC, datetime

from leadsync.sandbox.orggen import generate_org
from leadsync.sandbox.salesforce.schema import SCHEMAS


def test_every_generated_picklist_value_is_offered_by_describe() -> None:
    org = generate_org(2000, 42, now=datetime(2026, 11, 24, tzinfo=UTC))
    unknown: dict[tuple[str, str], set[str]] = {}
    checked = 0
    for sobject, records in org.salesforce.items():
        schema = SCHEMAS[sobject]
        picklists = {f.name: set(f.picklist) for f in schema.fields if f.type == "picklist"}
        for record in records:
            for name, allowed in picklists.items():
                value = record.get(name)
                if value is None:
                    continue
                checked += 1
                if value not in allowed:
                    unknown.setdefault((sobject, name), set()).add(value)
    assert checked > 1000
    assert unknown == {}
