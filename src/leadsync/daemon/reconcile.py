"""Nightly reconciliation: the full id sets of both CRMs against what the ledger believes exists, and the
repair of the drift between them.

Incremental pulls miss what they cannot see: deletes past Salesforce's 15-day recycle-bin feed, records
changed while the daemon was down longer than that, HubSpot records whose index entry lagged, records
imported with old modification stamps. Here every person stream of one system is pulled from an empty
watermark (the whole population, paged, with checkpoints between pages) and compared with the live
records of the engine's record table:

- *missing*: alive in the CRM, unknown to the ledger (a missed create or an ingestion that failed);
- *orphaned*: alive in the ledger, absent from the CRM (a missed delete or merge).

Both are counted in the run record (per system and side, and the first ids as errors). Unless
``[daemon] reconcile_repair = false``, the drift is then repaired through the sync's own ingestion path
(:func:`leadsync.sync.pull.ingest_page`), so identities, merges and evaluation marks stay what a sync
would have made them; the reconciliation itself writes nothing to a CRM:

- missing records are ingested from the listing's own pages (only they are kept while listing), which
  marks their people for evaluation: the next sync cycle scores them and writes them back like any change;
- orphans are ingested as deleted records, as the delete feeds would have delivered them.

Guard rails. A system is repaired only after its whole listing completed: a listing that fails repairs
nothing for that system (the other system is still done, and the run ends failed), a stopped one
(shutdown, deadline, lost leadership) ends the run. A ledger record changed at or after the moment its
system's listing began (by the CRM's clock, the clock of the record's stamp) is not an orphan: the listing
may simply have passed it before it existed. If a system's orphans exceed the mass-change guard
(``[daemon] max_change_share`` of its live ledger records, and more than ``max_change_min``), none of
them is marked deleted: an alert goes to the run record and the log for an operator to look at (an empty
listing from a misconfigured connector must not delete a whole ledger). Every ledger write is made under
the run's fencing epoch, in units of work of at most :data:`REPAIR_PAGE` records with a checkpoint
between them; the run record counts ``repaired_missing.<system>`` and ``repaired_orphaned.<system>``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from leadsync.app import App
from leadsync.connectors.errors import ConnectorError
from leadsync.connectors.port import CrmConnector, Page, PersonRecord
from leadsync.daemon.jobs import RECONCILE, FunctionJob, JobContext, JobOutcome
from leadsync.daemon.runner import JobFailed
from leadsync.domain.identity import RecordRef
from leadsync.domain.model import System
from leadsync.domain.planner import mass_change_guard
from leadsync.domain.watermark import Watermark, Window
from leadsync.ledger import UnitOfWork
from leadsync.logging import get_logger
from leadsync.sync.pull import PullStats, ingest_page
from leadsync.sync.state import OBJECTS, SyncState

PERSON_STREAMS: dict[System, tuple[str, ...]] = {System.SALESFORCE: ("Lead", "Contact"), System.HUBSPOT: ("contacts",)}
SAMPLE = 20
REPAIR_PAGE = 200  # records per unit of work of the repair
Key = tuple[str, str, str]  # (system, kind, record id)
log = get_logger(__name__)


@dataclass(frozen=True)
class RepairPolicy:
    """Whether to repair, and the mass-change guard the orphans of one system must stay within."""

    repair: bool = True
    max_share: float = 0.10
    min_count: int = 10


@dataclass
class Listing:
    """One system's complete listing: every live id, and the records the ledger did not know when it began."""

    system: System
    began: datetime  # the CRM's clock just before the first page was asked for
    found: set[Key] = field(default_factory=set)
    unknown: dict[Key, PersonRecord] = field(default_factory=dict)


def crm_ids(connector: CrmConnector, ctx: JobContext, outcome: JobOutcome) -> set[Key]:
    """Every live person id of one CRM (the listing without keeping any record)."""
    return list_system(connector, ctx, outcome, known=None).found


def list_system(connector: CrmConnector, ctx: JobContext, outcome: JobOutcome, known: set[Key] | None) -> Listing:
    """Pull every person stream of ``connector`` from the start. With ``known`` (the ledger's live keys),
    the records not in it are kept: they are the candidates for the *missing* repair."""
    began = connector.server_time()
    # Everything there is: the end is only an upper bound, and a connector's server time may come from
    # an earlier response (HubSpot reads it from Date headers), older than our own last writes.
    everything = Window(start=None, end=began + timedelta(days=1))
    listing = Listing(connector.system, began)
    system = connector.system.value
    for stream in PERSON_STREAMS.get(connector.system, ()):
        if stream not in connector.streams():
            continue
        for page in connector.pull(stream, Watermark(), everything):
            outcome.pulled[system] = outcome.pulled.get(system, 0) + len(page.records)
            for record in page.records:
                if not isinstance(record, PersonRecord) or record.deleted:
                    continue
                key = _key(record.ref)
                listing.found.add(key)
                if known is not None and key not in known:
                    listing.unknown[key] = record  # a re-read of the same record: the later copy wins
            ctx.checkpoint(outcome)
    return listing


def ledger_ids(uow: UnitOfWork, systems: Iterable[str]) -> set[Key]:
    return uow.sync.live_record_keys(systems)


def drift(crm: set[Key], ledger: set[Key], outcome: JobOutcome) -> None:
    """Count and sample the drift of every system present on either side (report only)."""
    for system in sorted({k[0] for k in crm | ledger}):
        _report(system, {k for k in crm if k[0] == system}, {k for k in ledger if k[0] == system}, outcome)


def _report(system: str, crm: set[Key], ledger: set[Key], outcome: JobOutcome) -> tuple[list[Key], list[Key]]:
    missing, orphaned = sorted(crm - ledger), sorted(ledger - crm)
    outcome.counts[f"crm.{system}"] = len(crm)
    outcome.counts[f"ledger.{system}"] = len(ledger)
    outcome.counts[f"missing.{system}"] = len(missing)
    outcome.counts[f"orphaned.{system}"] = len(orphaned)
    outcome.errors += [f"missing from the ledger: {s} {k} {i}" for s, k, i in missing[:SAMPLE]]
    outcome.errors += [f"gone from the CRM, alive in the ledger: {s} {k} {i}" for s, k, i in orphaned[:SAMPLE]]
    return missing, orphaned


def reconcile(connectors: Sequence[CrmConnector], ctx: JobContext, policy: RepairPolicy | None = None,
              clock: Callable[[], datetime] | None = None) -> JobOutcome:
    """List, compare and (per ``policy``) repair each system in turn; see the module docs."""
    policy = policy or RepairPolicy()
    now = clock or ctx.now
    outcome = JobOutcome()
    failed: list[str] = []
    for connector in connectors:
        system = connector.system.value
        with ctx.ledger.reading() as uow:
            known_before = ledger_ids(uow, [system])
        try:
            listing = list_system(connector, ctx, outcome, known_before if policy.repair else None)
        except ConnectorError as exc:  # a stop (RunStopped) is not caught: it ends the run here
            failed.append(system)
            outcome.errors.append(f"listing {system} failed, nothing repaired for it: {exc}")
            log.error("reconciliation listing failed; nothing repaired for this system", system=system,
                      error=str(exc))
            continue
        with ctx.ledger.reading() as uow:
            known = ledger_ids(uow, [system])
        missing, orphaned = _report(system, listing.found, known, outcome)
        if policy.repair:
            _repair(listing, missing, orphaned, len(known), ctx, outcome, policy, now)
    if failed:
        raise JobFailed(f"the listing of {', '.join(failed)} failed", outcome)
    return outcome


def _repair(listing: Listing, missing: list[Key], orphaned: list[Key], population: int, ctx: JobContext,
            outcome: JobOutcome, policy: RepairPolicy, now: Callable[[], datetime]) -> None:
    system = listing.system.value
    outcome.counts[f"repaired_missing.{system}"] = 0
    outcome.counts[f"repaired_orphaned.{system}"] = 0
    # Missing records the ledger lost between the two reads (not kept while listing) wait for the next night.
    _repair_missing([listing.unknown[k] for k in missing if k in listing.unknown], ctx, outcome, now)
    orphans = _settled_orphans(orphaned, listing, ctx, outcome)
    verdict = mass_change_guard(len(orphans), population, max_share=policy.max_share, min_count=policy.min_count)
    if not verdict.allowed:
        alert = (f"alert: {len(orphans)} of {population} {system} records in the ledger are gone from the CRM, "
                 f"over the mass-change guard ([daemon] max_change_share {policy.max_share:.0%}, max_change_min "
                 f"{policy.min_count}); none marked deleted: check the connector's access, then repair by hand "
                 f"or raise the guard")
        outcome.counts[f"orphans_held.{system}"] = len(orphans)
        outcome.errors.insert(0, alert)
        log.error("reconciliation held back its orphans: over the mass-change guard", system=system,
                  orphans=len(orphans), ledger_records=population)
        return
    _repair_orphans(orphans, listing.began, ctx, outcome, now)


def _repair_missing(records: list[PersonRecord], ctx: JobContext, outcome: JobOutcome,
                    now: Callable[[], datetime]) -> None:
    stats = PullStats()
    for stream, chunk in _pages(records):
        with ctx.ledger.unit_of_work(epoch=ctx.epoch) as uow:
            stored = SyncState(uow).records(r.ref for r in chunk)
            # Ingested meanwhile (by a sync cycle): the ledger's copy stands. A record the ledger holds as
            # deleted is ingested only if the CRM's copy is newer than that delete (an undelete).
            fresh = [r for r in chunk if (s := stored.get(r.ref)) is None or (s.deleted and s.modstamp < r.modstamp)]
            if fresh:
                ingest_page(uow, Page(stream, fresh, [(r.modstamp, r.ref.record_id) for r in fresh]), now(),
                            ctx.run_id, stats)
        _count(outcome, "repaired_missing", fresh)
        ctx.checkpoint(outcome)


def _settled_orphans(orphaned: list[Key], listing: Listing, ctx: JobContext, outcome: JobOutcome) -> list[Key]:
    """The orphans whose ledger record was last changed before the listing began; the others are counted
    as ``orphans_recent.<system>`` and left alone (the listing may have passed them before they existed)."""
    settled: list[Key] = []
    with ctx.ledger.reading() as uow:
        state = SyncState(uow)
        for offset in range(0, len(orphaned), REPAIR_PAGE):
            stored = state.records(map(_ref, orphaned[offset:offset + REPAIR_PAGE]))
            settled += [_key(s.ref) for s in stored.values() if not s.deleted and s.modstamp < listing.began]
    recent = len(orphaned) - len(settled)
    if recent:
        outcome.counts[f"orphans_recent.{listing.system.value}"] = recent
    return sorted(settled)


def _repair_orphans(orphans: list[Key], began: datetime, ctx: JobContext, outcome: JobOutcome,
                    now: Callable[[], datetime]) -> None:
    stats = PullStats()
    for offset in range(0, len(orphans), REPAIR_PAGE):
        with ctx.ledger.unit_of_work(epoch=ctx.epoch) as uow:
            stored = SyncState(uow).records(map(_ref, orphans[offset:offset + REPAIR_PAGE]))
            # Read again in the writing unit: a record changed since the check above is left alone.
            gone = [PersonRecord(ref=s.ref, modstamp=s.modstamp, email=s.email, fields=s.fields, facts=s.facts,
                                 current=s.current, deleted=True)
                    for s in stored.values() if not s.deleted and s.modstamp < began]
            if gone:
                stream = OBJECTS[(gone[0].ref.system, gone[0].ref.kind)]
                ingest_page(uow, Page(stream, gone, [(r.modstamp, r.ref.record_id) for r in gone]), now(),
                            ctx.run_id, stats)
        _count(outcome, "repaired_orphaned", gone)
        ctx.checkpoint(outcome)


def _pages(records: list[PersonRecord]) -> Iterator[tuple[str, list[PersonRecord]]]:
    by_stream: dict[str, list[PersonRecord]] = {}
    for record in records:
        by_stream.setdefault(OBJECTS[(record.ref.system, record.ref.kind)], []).append(record)
    for stream, items in by_stream.items():
        for offset in range(0, len(items), REPAIR_PAGE):
            yield stream, items[offset:offset + REPAIR_PAGE]


def _count(outcome: JobOutcome, name: str, records: list[PersonRecord]) -> None:
    for record in records:
        key = f"{name}.{record.ref.system.value}"
        outcome.counts[key] = outcome.counts.get(key, 0) + 1


def _key(ref: RecordRef) -> Key:
    return (ref.system.value, ref.kind, ref.record_id)


def _ref(key: Key) -> RecordRef:
    return RecordRef(System(key[0]), key[1], key[2])


def reconcile_job(app: App) -> FunctionJob:
    daemon = app.settings.daemon
    policy = RepairPolicy(repair=daemon.reconcile_repair, max_share=daemon.max_change_share,
                          min_count=daemon.max_change_min)
    return FunctionJob(RECONCILE, lambda ctx: reconcile(app.connectors, ctx, policy, app.clock))
