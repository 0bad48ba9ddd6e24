"""The fault-injection rig: the sandbox emulators, a real ledger (SQLite file or PostgreSQL) and the sync
engine with the real connectors, plus the outcome of a run in a form two runs can be compared by.

Every scenario runs the same org twice: once undisturbed (the reference) and once with its fault, then
asserts that the faulty run ends where the reference ended (nothing lost), wrote no record more often
(nothing written twice) and recorded only legal transitions. Orgs are generated from a seed and one fixed
``ORG_NOW``, so two sandboxes of one seed hold the same records under the same ids.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadsync.app import sandbox_connectors
from leadsync.config.settings import Settings
from leadsync.connectors.port import CrmConnector
from leadsync.domain.lifecycle import is_legal
from leadsync.domain.model import System
from leadsync.domain.planner import Target
from leadsync.ledger import NO_LEADER_EPOCH, IntentState, Ledger, open_ledger
from leadsync.rules.ruleset import load_ruleset
from leadsync.sandbox.runtime import Sandbox
from leadsync.sync.cycle import CycleReport, EngineConfig, SyncEngine
from leadsync.sync.state import SyncState, ensure_tables, target_of

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "mappings"
RULESET = load_ruleset(MAPPINGS)
# One instant for every org a test generates, so the reference and the faulty sandbox hold the same data.
ORG_NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
# The emulators' write endpoints (route names): what "written twice" is counted on.
SF_WRITES = ("composite.sobjects", "composite.sobjects.upsert", "sobject.update", "composite.sobjects.create")
HS_WRITES = ("contacts.batch_update", "contacts.batch_upsert", "contacts.batch_create", "contacts.update")
# Fields whose value is an instant the cycle computed from its own clock: two runs agree on whether they
# are set, not on the second.
TIME_FIELDS = frozenset({"MQL_Date__c", "SLA_Due__c", "leadsync_mql_date", "leadsync_sla_due"})


def mapped_fields(system: System) -> dict[str, tuple[str, ...]]:
    """Object -> the fields leadsync writes there, from the live rule set."""
    out: dict[str, set[str]] = {}
    for mapping in RULESET.fields.outbound_mappings:
        if mapping.system is system and mapping.owned_by_leadsync:
            out.setdefault(mapping.object, set()).add(mapping.field)
    return {obj: tuple(sorted(names)) for obj, names in out.items()}


def settings_for_tests() -> Settings:
    return Settings()


def engine_config(*, epoch: int = NO_LEADER_EPOCH) -> EngineConfig:
    return EngineConfig.from_settings(settings_for_tests(), epoch=epoch, keep_plans=True)


@dataclass
class Rig:
    """One sandbox, one ledger, one pair of connectors; ``cycle`` runs the engine at server time."""

    sandbox: Sandbox
    ledger: Ledger
    ledger_url: str
    connectors: list[CrmConnector]
    offset: float = 0.0
    reports: list[CycleReport] = field(default_factory=list)
    # Every (system, record id, field values) a write request carried, as the emulators received them.
    sent: Counter[tuple[str, str, tuple[tuple[str, str], ...]]] = field(default_factory=Counter)

    def engine(self, *, epoch: int = NO_LEADER_EPOCH) -> SyncEngine:
        return SyncEngine(self.ledger, RULESET, self.connectors, engine_config(epoch=epoch), self.sandbox.clock.now)

    def advance(self, minutes: float = 2.0) -> None:
        """Move the server clock on past the pull windows' lag margin.

        The connectors extrapolate server time from the last ``Date`` they saw with a monotonic clock, which
        is right while time flows, but a jump of the emulated clock would leave them minutes behind (a
        skew no real org produces). So each forgets its reading and asks the server again (one cheap call)."""
        self.offset += minutes * 60
        self.sandbox.clock.set_offset(self.offset)
        for connector in self.connectors:
            forget_server_date(connector)

    def cycle(self, *, minutes_later: float = 2.0, epoch: int = NO_LEADER_EPOCH) -> CycleReport:
        self.advance(minutes_later)
        report = self.engine(epoch=epoch).run_once()
        self.reports.append(report)
        return report

    def settle(self) -> None:
        """Changes just made must be at least a whole ``Date`` second old before a window can cover them."""
        time.sleep(1.1)

    def run_until_quiet(self, *, max_cycles: int = 8) -> list[CycleReport]:
        """Cycles until one writes nothing and records no transition (our echoes come back once)."""
        done: list[CycleReport] = []
        for _ in range(max_cycles):
            report = self.cycle()
            done.append(report)
            if not report.writes and not report.transitions and report.outcome.failed == 0:
                return done
        raise AssertionError(f"still writing after {max_cycles} cycles: "
                             f"{[(len(r.writes), len(r.transitions)) for r in done]}")

    def write_calls(self) -> dict[str, int]:
        sf, hs = self.sandbox.sf.counters.snapshot(), self.sandbox.hs.counters.snapshot()
        return {**{f"sf:{k}": sf.get(k, 0) for k in SF_WRITES}, **{f"hs:{k}": hs.get(k, 0) for k in HS_WRITES}}

    def outcome(self) -> Outcome:
        return Outcome.of(self)


def _records_in(endpoint: str, body: Any) -> list[tuple[str, dict[str, Any]]]:
    if endpoint == "composite.sobjects":
        return [(str(r.get("id")), {k: v for k, v in r.items() if k not in ("attributes", "id")})
                for r in (body or {}).get("records", [])]
    return [(str(i.get("id")), dict(i.get("properties") or {})) for i in (body or {}).get("inputs", [])]


def log_sent_writes(target: Rig) -> None:
    """Count every record update the emulators receive (before any fault or handler runs), so a write
    re-sent with the same values shows up however the client got there."""
    for system, emulator in (("salesforce", target.sandbox.sf), ("hubspot", target.sandbox.hs)):
        original = emulator._run

        def run(route: Any, request: Any, original: Any = original, system: str = system) -> Any:
            if route.name in ("composite.sobjects", "contacts.batch_update"):
                for record_id, values in _records_in(route.name, request.json()):
                    key = tuple(sorted((k, str(v)) for k, v in values.items()))
                    target.sent[(system, record_id, key)] += 1
            return original(route, request)

        emulator._run = run  # type: ignore[method-assign]


def assert_nothing_sent_twice(target: Rig) -> None:
    """No record was sent the same values twice (a duplicate write on the wire)."""
    twice = {k: n for k, n in target.sent.items() if n > 1}
    assert twice == {}, f"sent twice: {list(twice)[:3]}"


SERVER_DATE_ATTRIBUTES = ("_last_date", "_server_date")  # HubSpot's, Salesforce's


def forget_server_date(connector: CrmConnector) -> None:
    found = [name for name in SERVER_DATE_ATTRIBUTES if hasattr(connector, name)]
    assert found, f"{type(connector).__name__} keeps its server Date elsewhere; update the fault harness"
    for name in found:
        setattr(connector, name, None)


@contextmanager
def rig(directory: Path, *, ledger_url: str | None = None, persons: int = 12, seed: int = 7,
        **sandbox_options: Any) -> Iterator[Rig]:
    """A started sandbox of ``persons`` people and a migrated ledger (a SQLite file under ``directory``
    unless ``ledger_url`` names another database)."""
    directory.mkdir(parents=True, exist_ok=True)
    url = ledger_url or f"sqlite:///{directory / 'ledger.db'}"
    sandbox_options.setdefault("rate_limits", False)
    with Sandbox(persons=persons, seed=seed, now=ORG_NOW, directory=directory / "sandbox", **sandbox_options) as box:
        ledger = open_ledger(url, auto_upgrade=True)
        ensure_tables(ledger)
        try:
            made = Rig(box, ledger, url, sandbox_connectors(settings_for_tests(), RULESET, box.env()))
            log_sent_writes(made)
            yield made
        finally:
            ledger.close()


def _plain(name: str, value: Any) -> Any:
    if value in ("", None):
        return None
    if name in TIME_FIELDS:
        return "<set>"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return str(value) if not isinstance(value, bool) else value


@dataclass(frozen=True)
class Outcome:
    """What a run left behind, keyed by CRM record ids (the same in two sandboxes of one seed)."""

    salesforce: dict[tuple[str, str], dict[str, Any]]
    hubspot: dict[str, dict[str, Any]]
    statuses: dict[tuple[str, ...], str | None]
    transitions: dict[tuple[str, ...], list[tuple[str | None, str, str]]]
    applied_per_target: Counter[tuple[str, str, str]]
    applied_payloads: Counter[tuple[str, str, str, str]]
    open_intents: dict[str, int]
    streams: frozenset[str]

    @classmethod
    def of(cls, rig: Rig) -> Outcome:
        sf: dict[tuple[str, str], dict[str, Any]] = {}
        for obj, names in mapped_fields(System.SALESFORCE).items():
            for record in rig.sandbox.sf.records(obj):
                sf[(obj, str(record["Id"]))] = {n: _plain(n, record.get(n)) for n in names}
        hs: dict[str, dict[str, Any]] = {}
        names = mapped_fields(System.HUBSPOT).get("contacts", ())
        with rig.sandbox.hs.lock:
            contacts = list(rig.sandbox.hs.stores["contacts"].records.values())
        for record in contacts:
            if not record.archived:
                hs[record.id] = {n: _plain(n, record.props.get(n)) for n in names}
        statuses: dict[tuple[str, ...], str | None] = {}
        transitions: dict[tuple[str, ...], list[tuple[str | None, str, str]]] = {}
        applied: Counter[tuple[str, str, str]] = Counter()
        payloads: Counter[tuple[str, str, str, str]] = Counter()
        open_intents: dict[str, int] = {}
        with rig.ledger.reading() as uow:
            state = SyncState(uow)
            for person in state.all_people():
                key = tuple(sorted(f"{r.ref.system.value}:{r.ref.kind}:{r.ref.record_id}"
                                   for r in state.records_of([person])))
                statuses[key] = uow.transitions.current_status(person)
                transitions[key] = [(t.transition.from_status, t.transition.to_status, t.transition.move.value)
                                    for t in uow.transitions.for_person(person)]
            for intent in state.intents_in(IntentState.APPLIED, limit=1_000_000):
                applied[(intent.intent.target.value, intent.intent.object, intent.intent.record_id)] += 1
                payloads[(intent.intent.target.value, intent.intent.object, intent.intent.record_id,
                          intent.intent.payload_hash)] += 1
            for intent_state in (IntentState.PENDING, IntentState.FAILED):
                open_intents[intent_state.value] = len(state.intents_in(intent_state))
            streams = frozenset(w.stream for w in uow.watermarks.all() if w.value)
        return cls(sf, hs, statuses, transitions, applied, payloads, open_intents, streams)


# Scores decay with time and two runs end a few (emulated) minutes apart: they agree to this much.
SCORE_FIELDS = frozenset({"Lead_Score__c", "leadsync_score"})
SCORE_TOLERANCE = 0.05


def _scores_apart(faulty: dict[Any, dict[str, Any]], reference: dict[Any, dict[str, Any]]) -> dict[Any, Any]:
    """Records whose mapped fields differ, scores compared within SCORE_TOLERANCE."""
    apart: dict[Any, Any] = {}
    for key in faulty.keys() | reference.keys():
        mine, theirs = faulty.get(key), reference.get(key)
        if mine is None or theirs is None or mine.keys() != theirs.keys():
            apart[key] = (mine, theirs)
            continue
        for name in mine:
            a, b = mine[name], theirs[name]
            if name in SCORE_FIELDS and a is not None and b is not None:
                same = abs(float(a) - float(b)) <= SCORE_TOLERANCE
            else:
                same = a == b
            if not same:
                apart.setdefault(key, {})[name] = (a, b)
    return apart


def assert_same_crm(faulty: dict[Any, dict[str, Any]], reference: dict[Any, dict[str, Any]]) -> None:
    """Same records holding the same mapped values (scores within SCORE_TOLERANCE)."""
    assert _scores_apart(faulty, reference) == {}


def assert_same_outcome(faulty: Outcome, reference: Outcome) -> None:
    """Nothing lost, nothing extra: both CRMs, the ledger's statuses and histories, the cursors."""
    assert _scores_apart(faulty.salesforce, reference.salesforce) == {}
    assert _scores_apart(faulty.hubspot, reference.hubspot) == {}
    assert faulty.statuses == reference.statuses
    assert faulty.transitions == reference.transitions
    assert faulty.streams == reference.streams
    assert faulty.open_intents == {"pending": 0, "failed": 0}


def held_value(outcome: Outcome, target: Target, name: str) -> Any:
    """What a record held for one mapped field when ``outcome`` was taken (normalized as in Outcome)."""
    if target.system is System.SALESFORCE:
        return outcome.salesforce.get((target.object, target.record_id), {}).get(name)
    return outcome.hubspot.get(target.record_id, {}).get(name)


def assert_no_write_of_a_held_value(reports: list[CycleReport], before: Outcome) -> None:
    """No write in ``reports`` set a record to what it already held in ``before`` (a resent write)."""
    resent = [(w.target, w.field, w.value) for r in reports for w in r.writes if w.field not in TIME_FIELDS
              and not w.clear_first and held_value(before, w.target, w.field) == _plain(w.field, w.value)]
    assert resent == [], f"written again with the value the record already held: {resent[:5]}"


def assert_not_written_twice(faulty: Outcome, reference: Outcome) -> None:
    """No payload was applied twice to one record (a score that decayed meanwhile is a new payload, not a
    duplicate), and no record was written that the undisturbed run never wrote."""
    twice = {t: n for t, n in faulty.applied_payloads.items() if n > 1}
    assert twice == {}, f"the same payload applied twice: {twice}"
    stray = set(faulty.applied_per_target) - set(reference.applied_per_target)
    assert stray == set(), f"written, though the undisturbed run never wrote them: {stray}"


def assert_transitions_legal(rig: Rig) -> int:
    """Every recorded transition is legal under the rules and starts where the previous one ended."""
    count = 0
    with rig.ledger.reading() as uow:
        for person in SyncState(uow).all_people():
            previous: str | None = None
            for recorded in uow.transitions.for_person(person):
                t = recorded.transition
                assert t.from_status == previous, f"{person}: history broken at {t}"
                assert is_legal(t.from_status, t.to_status, t.move, RULESET.lifecycle), f"illegal: {t}"
                previous = t.to_status
                count += 1
    return count


ReferenceRun = Callable[[int, int], "tuple[Outcome, dict[str, int]]"]


def reference_outcome(directory: Path, *, ledger_url: str | None = None, persons: int = 12,
                      seed: int = 7) -> tuple[Outcome, dict[str, int]]:
    """The undisturbed run of an org: cycles until quiet; its outcome and its write calls."""
    with rig(directory, ledger_url=ledger_url, persons=persons, seed=seed) as ref:
        ref.run_until_quiet()
        assert_transitions_legal(ref)
        return ref.outcome(), ref.write_calls()


def held_in_crm(target: Rig, system: System, obj: str, record_id: str, name: str) -> Any:
    if system is System.SALESFORCE:
        record = target.sandbox.sf.record(obj, record_id)
        return None if record is None else record.get(name)
    with target.sandbox.hs.lock:
        found = target.sandbox.hs.stores["contacts"].records.get(record_id)
        return None if found is None or found.archived else found.props.get(name)


def lifecycle_mismatches(target: Rig) -> list[tuple[str, str, str, Any, Any]]:
    """Writable records whose lifecycle field does not hold what the ledger decided for their person:
    (system, object, id, wanted, held). Empty when both CRMs converged on the ledger."""
    mappings = {(m.system, m.object): m for m in RULESET.fields.for_value("lifecycle_status")
                if m.owned_by_leadsync}
    wrong: list[tuple[str, str, str, Any, Any]] = []
    with target.ledger.reading() as uow:
        state = SyncState(uow)
        for person in state.all_people():
            status = uow.transitions.current_status(person)
            for record in state.records_of([person]):
                spot = target_of(record.ref)
                mapping = mappings.get((spot.system, spot.object))
                if status is None or not record.writable or mapping is None:
                    continue
                wanted = mapping.values.get(status, status) if mapping.values else status
                held = held_in_crm(target, spot.system, spot.object, spot.record_id, mapping.field)
                if held is not None and str(held) != str(wanted):
                    wrong.append((spot.system.value, spot.object, spot.record_id, wanted, held))
                elif held is None:
                    wrong.append((spot.system.value, spot.object, spot.record_id, wanted, None))
    return wrong


def soak_requested() -> bool:
    """``--soak`` for settings fixed at import time (Hypothesis' example counts): the command line or
    LEADSYNC_TEST_SOAK=1; the ``soak`` fixture is the same answer for test bodies."""
    import os
    import sys

    return "--soak" in sys.argv or os.environ.get("LEADSYNC_TEST_SOAK") == "1"
