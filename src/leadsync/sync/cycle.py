"""One sync cycle: pull -> upsert -> compute -> guard -> intents -> apply -> outcomes.

The pure planner (``leadsync.domain``) sits between thin I/O steps; each step's ledger writes commit in
their own unit of work, in an order that makes a crash at any point harmless:

1. each pulled page commits with its watermark and the people it touched (``sync_dirty``);
2. those people are evaluated and their writes planned (reads only);
3. the mass-change guard may stop the cycle here: nothing is written, the people stay marked;
4. intents commit as pending before any API call; the connectors apply them;
5. outcomes, last-written hashes, score snapshots, transitions and the run record commit together, and
   only then are the people unmarked.

A dry run does all of it inside one ledger transaction that is rolled back, and never calls ``apply``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from leadsync.config.settings import Settings
from leadsync.connectors.port import CrmConnector, OwnerRecord
from leadsync.daemon.jobs import RESCORE, SYNC, RunStopped
from leadsync.domain.model import BACKFILL_FACT, ContactStatusChange, Move, System, Transition
from leadsync.domain.planner import FieldWrite, GuardVerdict, Target, mass_change_guard
from leadsync.domain.watermark import Watermark, Window, advance, window
from leadsync.ledger import (
    NO_LEADER_EPOCH,
    CrmOwner,
    IntentOrigin,
    IntentRecord,
    IntentState,
    Ledger,
    RunStatus,
    UnitOfWork,
)
from leadsync.ledger import Watermark as StoredWatermark
from leadsync.logging import get_logger, start_job
from leadsync.notify import Notifier
from leadsync.rules.ruleset import RuleSet
from leadsync.sync import apply as applying
from leadsync.sync.applier import Applier, record_history
from leadsync.sync.compute import PersonPlan, plan_chunk
from leadsync.sync.followup import FollowUp, FollowUpStats
from leadsync.sync.pull import PullStats, identity, ingest_page
from leadsync.sync.state import SyncState, ref_of, rolled_back
from leadsync.sync.totals import WRITE_BATCH, PlanTotals

# People evaluated together: their ledger state is read in a few queries per chunk.
PEOPLE_PER_CHUNK = 200

# The watermark row (beside each stream's own) that keeps where the last completed read of it ended.
END_SUFFIX = "@read_until"

UowFactory = Callable[[], contextlib.AbstractContextManager[UnitOfWork]]


class GuardTripped(RuntimeError):
    """The plan would change too many people at once; nothing was written."""


@dataclass(frozen=True)
class EngineConfig:
    overlap: Mapping[System, timedelta]
    lag_margin: Mapping[System, timedelta]
    max_change_share: float = 0.10
    max_change_min: int = 10
    epoch: int = NO_LEADER_EPOCH
    # Keep every person's plan in the report (``report.plans``, ``.writes``, ``.transitions``). Off (the
    # default), the cycle is streamed: memory stays flat however many people there are, the report carries
    # ``totals`` only, and each chunk is planned twice (once for the guard, once to apply). A dry run always
    # keeps them, since printing them is its purpose.
    keep_plans: bool = False
    # Emails of the CRM users leadsync writes as: a new MQL they own is routed like an unowned one.
    integration_users: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings, *, epoch: int = NO_LEADER_EPOCH,
                      keep_plans: bool = False) -> EngineConfig:
        hs_lag = timedelta(seconds=settings.hubspot.lag_margin_seconds)
        login = (settings.salesforce.username or "").strip().lower()
        return cls(
            overlap={System.SALESFORCE: timedelta(seconds=settings.salesforce.overlap_seconds),
                     System.HUBSPOT: timedelta(seconds=settings.hubspot.overlap_seconds)},
            # Salesforce's late commits are caught by the overlap re-read; HubSpot's search index lags a few
            # seconds (the margin), and its stragglers are caught by the overlap re-read too. A short margin
            # keeps a HubSpot change's way to the other system under one interval plus a few seconds.
            lag_margin={System.SALESFORCE: timedelta(0), System.HUBSPOT: hs_lag},
            max_change_share=settings.daemon.max_change_share, max_change_min=settings.daemon.max_change_min,
            epoch=epoch, keep_plans=keep_plans, integration_users=frozenset({login} if "@" in login else ()),
        )


@dataclass
class CycleReport:
    """What one cycle did (or, in a dry run, would do)."""

    run_id: str
    dry_run: bool
    started_at: datetime
    status: str = "running"
    pull: PullStats = field(default_factory=PullStats)
    totals: PlanTotals = field(default_factory=PlanTotals)
    plans: list[PersonPlan] = field(default_factory=list)  # every plan, unless the config streams them
    guard: GuardVerdict | None = None
    outcome: applying.ApplyStats = field(default_factory=applying.ApplyStats)
    followup: FollowUpStats = field(default_factory=FollowUpStats)  # routing, SLA clocks, hand-offs
    # A dry run only: the writes the follow-ups would queue and the cycle would send (owners, due dates,
    # breach flags), with those already queued by the sweep, as (origin, write).
    queued: list[tuple[str, FieldWrite]] = field(default_factory=list)
    api_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    would_write_calls: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def writes(self) -> list[FieldWrite]:
        return [w for p in self.plans for w in p.writes]

    @property
    def transitions(self) -> list[Transition]:
        return [t for p in self.plans for t in p.transitions]

    @property
    def contact_changes(self) -> list[ContactStatusChange]:
        return [p.evaluation.contact_change for p in self.plans if p.evaluation.contact_change is not None]


class SyncEngine:
    def __init__(self, ledger: Ledger, ruleset: RuleSet, connectors: Sequence[CrmConnector],
                 config: EngineConfig, clock: Callable[[], datetime], *, notifier: Notifier | None = None) -> None:
        self.ledger, self.ruleset, self.config, self.clock = ledger, ruleset, config, clock
        self.notifier = notifier  # MQL hand-offs; None: not configured (nothing is sent, nothing waits)
        self.connectors: dict[System, CrmConnector] = {c.system: c for c in connectors}
        self.log = get_logger("leadsync.sync")
        self._retrying: set[str] = set()
        self._backfill = False  # this cycle is the ledger's first sync (see domain.model.BACKFILL_FACT)

    def run_once(self, *, dry_run: bool = False, rescore_all: bool = False) -> CycleReport:
        kind = RESCORE if rescore_all else SYNC
        run_id = start_job(job=kind)
        report = CycleReport(run_id, dry_run, self.clock())
        before = {s: c.calls() for s, c in self.connectors.items()}
        if dry_run:
            with rolled_back(self.ledger) as uow:
                self._cycle(report, lambda: contextlib.nullcontext(uow), rescore_all)
                report.status = "planned" if report.status == "running" else report.status
            self._count_calls(report, before)
            return report
        with self._uow() as uow:
            uow.runs.start(kind, report.started_at, epoch=self.config.epoch, run_id=run_id)
        try:
            self._cycle(report, self._uow, rescore_all)
        except RunStopped as stopped:
            # Shutdown or deadline at a batch boundary: what committed stays, the rest waits for the next run.
            report.status = "aborted"
            report.errors.append(f"stopped at a batch boundary: {stopped.reason}")
            self._finish(report, before, RunStatus.ABORTED)
            self.log.warning("sync cycle stopped", reason=stopped.reason)
            raise
        except Exception as exc:
            report.status = "failed"
            report.errors.append(f"{type(exc).__name__}: {exc}")
            self._finish(report, before, RunStatus.FAILED)
            self.log.error("sync cycle failed", error=report.errors[-1])
            raise
        self._finish(report, before, RunStatus.ABORTED if report.status == "guard_tripped" else None)
        return report

    # ----- the steps -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _uow(self) -> Iterator[UnitOfWork]:
        with self.ledger.unit_of_work(epoch=self.config.epoch) as uow:
            yield uow

    def _cycle(self, report: CycleReport, uow_factory: UowFactory, rescore_all: bool) -> None:
        now = report.started_at
        followup = FollowUp(self.ruleset, now, report.run_id, self.config.epoch, self.notifier,
                            self.config.integration_users, report.followup)
        if not report.dry_run:
            with uow_factory() as uow:
                report.outcome.resolved_pending = applying.resolve_pending(uow, self.connectors, now, report.run_id)
            followup.hand_off(uow_factory, force=True)  # what a crashed run committed but did not hand over
        for connector in self.connectors.values():
            self._pull(connector, report, uow_factory)
        with uow_factory() as uow:
            marks = self._to_evaluate(uow, rescore_all)
            population = SyncState(uow).population()
            self._backfill = not uow.runs.any_succeeded(SYNC)
        chunks = _chunks(sorted(marks))
        keep = self.config.keep_plans or report.dry_run
        kept: list[list[PersonPlan]] = []
        for chunk in chunks:
            plans = self._plan(uow_factory, chunk, now)
            report.totals.add(plans, self._retrying)
            if keep:
                kept.append(plans)
                report.plans.extend(plans)
        report.guard = mass_change_guard(report.totals.changed_people, population,
                                         max_share=self.config.max_change_share, min_count=self.config.max_change_min)
        report.would_write_calls = report.totals.write_calls()
        if not report.guard.allowed:
            report.status = "guard_tripped"
            report.errors.append(f"mass-change guard: {report.guard.reason}")
            self.log.error("mass-change guard stopped the cycle; nothing written", reason=report.guard.reason)
            return
        if report.dry_run:
            self._preview_followups(uow_factory, kept, followup, report)
            return
        applier = Applier(self.connectors, uow_factory, now, report.run_id, self.config.epoch, report.outcome,
                          followup)
        applier.start()
        for index, chunk in enumerate(chunks):
            plans = kept[index] if keep else self._plan(uow_factory, chunk, now)
            planned = {p.person_id for p in plans}
            applier.add(plans, marks, [m for person in chunk if person not in planned for m in marks[person]])
        applier.finish()
        applier.send_queued()  # the sweep's and routing's intents, and the due dates this cycle queued
        report.errors.extend(report.outcome.errors)
        report.status = "succeeded"

    def _preview_followups(self, uow_factory: UowFactory, kept: Sequence[Sequence[PersonPlan]], followup: FollowUp,
                           report: CycleReport) -> None:
        """What routing and the SLA clocks would write, worked out as the real cycle does (history first,
        then the follow-ups) inside the dry run's transaction, which is rolled back: nobody is notified and
        nothing is kept, but the plan shows every write the cycle would make, the owner writes included."""
        with uow_factory() as uow:
            for plans in kept:
                record_history(uow, plans, report.run_id, self.config.epoch)
                followup.record(uow, plans)
            after, queued = 0, list[IntentRecord]()
            while page := uow.outbox.queued(after_id=after, limit=1_000):
                queued.extend(i for i in page if i.intent.target in self.connectors)
                after = page[-1].id
        origin: dict[tuple[Target, str], str] = {}
        for intent in sorted(queued, key=lambda i: i.id):  # the latest intent's value wins, and so its origin
            target = Target(intent.intent.target, intent.intent.object, intent.intent.record_id)
            origin.update({(target, name): intent.origin.value for name in intent.intent.fields})
        writes = applying.queued_writes(queued)
        report.queued = [(origin[(t, w.field)], w) for t, items in sorted(writes.items()) for w in items]
        for system, calls in queued_write_calls(writes).items():
            report.would_write_calls[system] = report.would_write_calls.get(system, 0) + calls

    def _pull(self, connector: CrmConnector, report: CycleReport, uow_factory: UowFactory) -> None:
        system = connector.system
        server_now = connector.server_time()
        for stream in connector.streams():
            key = f"{system.value}:{stream}"
            with uow_factory() as uow:
                mark = _from_ledger(uow.watermarks.get(key))
                read_until = _from_ledger(uow.watermarks.get(key + END_SUFFIX)).value
            span = self._window(system, mark, read_until, server_now)
            for page in connector.pull(stream, mark, span):
                with uow_factory() as uow:
                    ingest_page(uow, page, report.started_at, report.run_id, report.pull)
                    _save_owners(uow, page.records, report.started_at)
                    mark = advance(mark, page.cursor_keys, limit=span.end)
                    if mark.value is not None:
                        uow.watermarks.save(_to_ledger(key, mark), report.started_at, run_id=report.run_id)
            with uow_factory() as uow:  # the whole window was read: late rows can only be newer than this
                uow.watermarks.save(_to_ledger(key + END_SUFFIX, Watermark(span.end)), report.started_at,
                                    run_id=report.run_id)
            self.log.info("stream pulled", system=system.value, stream=stream)

    def _window(self, system: System, mark: Watermark, read_until: datetime | None, server_now: datetime) -> Window:
        """The pull window. Rows committed late carry timestamps shortly before the moment they became
        visible, so the overlap is measured back from where the last completed read *ended*, not from the
        newest row: an idle stream then re-reads nothing (one call, no rows) instead of its last rows."""
        overlap = self.config.overlap[system]
        span = window(mark, server_now, overlap=overlap, lag_margin=self.config.lag_margin[system])
        if mark.value is None or read_until is None:
            return span
        return Window(start=min(mark.value, read_until - overlap), end=span.end)

    def _to_evaluate(self, uow: UnitOfWork, rescore_all: bool) -> dict[str, list[str]]:
        """The people to evaluate (each survivor once), with the ids they were marked under: marks may
        name people merged away since, and every mark is cleared once its survivor is done."""
        state = SyncState(uow)
        people = set(state.all_people() if rescore_all else state.dirty())
        # The cycle's own failed writes bring their people back; queued ones are retried by send_queued.
        failed = uow.outbox.by_state(IntentState.FAILED, limit=10_000, origin=IntentOrigin.SYNC)
        found = uow.people.find_many(identity(ref_of(_target(i))) for i in failed)
        self._retrying = set(found.values()) - people
        people |= self._retrying
        marks: dict[str, list[str]] = {}
        for marked, survivor in uow.people.resolve_many(people).items():
            marks.setdefault(survivor, []).append(marked)
        return marks

    def _plan(self, uow_factory: UowFactory, people: Sequence[str], now: datetime) -> list[PersonPlan]:
        with uow_factory() as uow:
            plans = plan_chunk(uow, SyncState(uow), people, self.ruleset, now)
        if self._backfill:  # until a first sync succeeded, first statuses are the org's backlog
            for plan in plans:
                plan.transitions = [dataclasses.replace(t, facts={**t.facts, BACKFILL_FACT: True})
                                    if t.move is Move.INITIAL else t for t in plan.transitions]
        return plans

    def _finish(self, report: CycleReport, before: Mapping[System, object], status: RunStatus | None) -> None:
        self._count_calls(report, before)
        final = status or RunStatus.SUCCEEDED  # per-record failures are outcomes, not a failed run
        counts: dict[str, int] = {
            "pages": report.pull.pages, "records": report.pull.records,
            "people_changed": len(report.pull.people_changed), "people_evaluated": report.totals.people,
            "activities": report.pull.activities,
            "echoes": report.pull.echoes, "duplicates": report.pull.duplicates,
            "conversions": report.pull.conversions, "merges": report.pull.merges,
            "transitions": report.totals.transitions, "contact_status_changes": report.totals.contact_changes,
            "override_corrections": report.totals.corrections,
            "override_limit": report.totals.skipped.get("override_limit", 0),
            "writes": report.totals.writes, "applied": report.outcome.applied, "failed": report.outcome.failed,
            "quarantined": report.outcome.quarantined, "held": report.outcome.held,
            "resolved_pending": report.outcome.resolved_pending, "queued_sent": report.outcome.queued_sent,
            "assigned": report.followup.assigned, "assignments_waiting": report.followup.waiting,
            "owners_kept": report.followup.kept, "clocks_started": report.followup.clocks_started,
            "clocks_met": report.followup.clocks_met, "handoffs": report.followup.handoffs,
        }
        for system, connector in self.connectors.items():
            left = budget_remaining(connector)
            if left is not None:
                counts[f"budget_remaining.{system.value}"] = left
        calls = {system: c["reads"] + c["writes"] for system, c in report.api_calls.items()}
        with self._uow() as uow:
            uow.runs.finish(report.run_id, final, self.clock(), counts=counts, api_calls=calls,
                            errors=report.errors[:100])
        self.log.info("sync cycle finished", status=final.value, **counts,
                      **{f"api_calls_{system}": n for system, n in calls.items()})

    def _count_calls(self, report: CycleReport, before: Mapping[System, object]) -> None:
        for system, connector in self.connectors.items():
            start, end = before[system], connector.calls()
            reads = end.reads - getattr(start, "reads", 0)
            writes = end.writes - getattr(start, "writes", 0)
            report.api_calls[system.value] = {"reads": reads, "writes": writes}


def budget_remaining(connector: CrmConnector) -> int | None:
    """Calls the connector's daily share still allows, as its rate limiter last saw them (None: unknown,
    e.g. an in-memory connector). A connector wrapped by the daemon (``inner``) is looked through."""
    inner: Any = getattr(connector, "inner", connector)
    daily: Any = getattr(getattr(getattr(inner, "connection", None), "limiter", None), "daily", None)
    if daily is None or daily.allowance is None:
        return None
    return max(0, int(daily.allowance) - int(daily.used))


def _save_owners(uow: UnitOfWork, records: Sequence[object], now: datetime) -> None:
    """Users, queues and owners of a page, kept for routing (it maps reps' emails to owner ids)."""
    owners = [CrmOwner(r.system, r.owner_id, r.email, r.active, r.is_queue) for r in records
              if isinstance(r, OwnerRecord)]
    uow.assignments.save_owners(owners, now)


def queued_write_calls(writes: Mapping[Target, Sequence[FieldWrite]]) -> dict[str, int]:
    """Write calls the queued writes take: full batches per system and object."""
    per_object: dict[tuple[System, str], int] = {}
    for target in writes:
        per_object[(target.system, target.object)] = per_object.get((target.system, target.object), 0) + 1
    calls: dict[str, int] = {}
    for (system, _obj), count in per_object.items():
        calls[system.value] = calls.get(system.value, 0) + -(-count // WRITE_BATCH[system])
    return calls


def _chunks(people: Sequence[str]) -> list[Sequence[str]]:
    return [people[offset:offset + PEOPLE_PER_CHUNK] for offset in range(0, len(people), PEOPLE_PER_CHUNK)]


def _from_ledger(stored: StoredWatermark | None) -> Watermark:
    if stored is None or not stored.value:
        return Watermark()
    return Watermark(datetime.fromisoformat(stored.value), frozenset(stored.seen_ids))


def _to_ledger(key: str, mark: Watermark) -> StoredWatermark:
    assert mark.value is not None
    return StoredWatermark(key, mark.value.isoformat(), mark.ids_at_value)


def _target(intent: IntentRecord) -> Target:
    return Target(intent.intent.target, intent.intent.object, intent.intent.record_id)
