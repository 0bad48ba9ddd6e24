"""Nightly reconciliation: the full id sets of both CRMs against what the ledger believes exists.

Incremental pulls miss what they cannot see: deletes past Salesforce's 15-day recycle-bin feed, records
changed while the daemon was down longer than that, HubSpot records whose index entry lagged. Here every
person stream is pulled from an empty watermark (the whole population, paged, with checkpoints between
pages) and compared with the live records of the engine's record table:

- *missing*: alive in the CRM, unknown to the ledger (a missed create or an ingestion that failed);
- *orphaned*: alive in the ledger, absent from the CRM (a missed delete or merge).

The drift is reported in the run record (counts per system and side, and the first ids as errors);
repairing it is the next cycle's or an operator's job (see ``docs/operations.md``). Records created or
changed since the last cycle show up as *missing* until that cycle has run; small numbers are normal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from leadsync.app import App
from leadsync.connectors.port import CrmConnector, PersonRecord
from leadsync.daemon.jobs import RECONCILE, FunctionJob, JobContext, JobOutcome
from leadsync.domain.model import System
from leadsync.domain.watermark import Watermark, Window
from leadsync.ledger import UnitOfWork

PERSON_STREAMS: dict[System, tuple[str, ...]] = {System.SALESFORCE: ("Lead", "Contact"), System.HUBSPOT: ("contacts",)}
SAMPLE = 20
Key = tuple[str, str, str]  # (system, kind, record id)


def crm_ids(connector: CrmConnector, ctx: JobContext, outcome: JobOutcome) -> set[Key]:
    found: set[Key] = set()
    # Everything there is: the end is only an upper bound, and a connector's server time may come from
    # an earlier response (HubSpot reads it from Date headers), older than our own last writes.
    everything = Window(start=None, end=connector.server_time() + timedelta(days=1))
    system = connector.system.value
    for stream in PERSON_STREAMS.get(connector.system, ()):
        if stream not in connector.streams():
            continue
        for page in connector.pull(stream, Watermark(), everything):
            outcome.pulled[system] = outcome.pulled.get(system, 0) + len(page.records)
            found.update((r.ref.system.value, r.ref.kind, r.ref.record_id)
                         for r in page.records if isinstance(r, PersonRecord) and not r.deleted)
            ctx.checkpoint(outcome)
    return found


def ledger_ids(uow: UnitOfWork, systems: Iterable[str]) -> set[Key]:
    return uow.sync.live_record_keys(systems)


def drift(crm: set[Key], ledger: set[Key], outcome: JobOutcome) -> None:
    missing, orphaned = sorted(crm - ledger), sorted(ledger - crm)
    for system in sorted({k[0] for k in crm | ledger}):
        outcome.counts[f"crm.{system}"] = sum(1 for k in crm if k[0] == system)
        outcome.counts[f"ledger.{system}"] = sum(1 for k in ledger if k[0] == system)
        outcome.counts[f"missing.{system}"] = sum(1 for k in missing if k[0] == system)
        outcome.counts[f"orphaned.{system}"] = sum(1 for k in orphaned if k[0] == system)
    outcome.errors += [f"missing from the ledger: {s} {k} {i}" for s, k, i in missing[:SAMPLE]]
    outcome.errors += [f"gone from the CRM, alive in the ledger: {s} {k} {i}" for s, k, i in orphaned[:SAMPLE]]


def reconcile(connectors: list[CrmConnector], ctx: JobContext) -> JobOutcome:
    outcome = JobOutcome()
    crm: set[Key] = set()
    for connector in connectors:
        crm |= crm_ids(connector, ctx, outcome)
    with ctx.ledger.reading() as uow:
        known = ledger_ids(uow, [c.system.value for c in connectors])
    drift(crm, known, outcome)
    return outcome


def reconcile_job(app: App) -> FunctionJob:
    return FunctionJob(RECONCILE, lambda ctx: reconcile(app.connectors, ctx))
