"""Small builders the cycle tests share."""

from __future__ import annotations

from datetime import timedelta

from leadsync.domain.identity import RecordRef
from leadsync.domain.model import Activity, System

from .conftest import World


def form_fill(world: World, system: System, kind: str, record_id: str, source_id: str, *, days_ago: float = 1,
              activity_type: str = "form_fill") -> None:
    connector = world.sf if system is System.SALESFORCE else world.hs
    occurred = world.clock.now - timedelta(days=days_ago)
    activity = Activity(system, source_id, activity_type, occurred, {"form_name": "whitepaper"})
    connector.add_activity(activity, RecordRef(system, kind, record_id))


def ann(world: World) -> None:
    """One person in both systems with one real interaction."""
    world.sf.add_person("lead", "00Q1", email="Ann@Acme-Corp.io",
                        fields={"email": "ann@acme-corp.io", "title": "VP Marketing", "company": "Acme"})
    world.hs.add_person("contact", "101", email="ann@acme-corp.io", fields={"email": "ann@acme-corp.io"})
    form_fill(world, System.HUBSPOT, "contact", "101", "hs-e1")
