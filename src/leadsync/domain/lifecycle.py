"""Lifecycle status: where a person stands in the funnel, decided from facts by admin-edited rules.

Status *names* are data (orgs rename them, add MAQL or LAL); each status has a *role*, a fixed concept
the code reasons about. Funnel statuses are ordered by their position in ``lifecycle.toml``;
Disqualified and Recycled stand outside the funnel order.

How :func:`decide` moves a person (one call gives at most one transition):

* From nothing: Disqualified or Recycled if a CRM or hygiene verdict says so, else the furthest funnel
  status whose entry rule holds, else Raw (``move=INITIAL``).
* From a funnel status or Recycled: disqualify (hygiene says junk, or the CRM status maps to a reason), else recycle
  (the CRM status is a nurture value, or the only opportunity was lost), else forward to the furthest
  status whose entry rule holds. Skipped stages are recorded in ``facts["skipped"]``. Customer is final
  for automatic moves: a paying customer is never disqualified or recycled by a rule.
* From Disqualified: nothing automatic; only a named REOPEN (an admin or a CRM user) leaves it.
* From Recycled: never back to Raw or Inquiry. The way forward is re-qualifying: the furthest status at
  or beyond the first MQL-role status whose entry rule holds on evidence *newer than the recycle*: a
  hand-raise, a real interaction while score and grade are over the bar, or a CRM change, after
  ``status_since``. Without fresh evidence a recycled lead whose score is still high would bounce straight
  back to MQL (nurture emails get opened), which is exactly what sales just rejected. Only fresh rules
  count: a lead the SLA sweep took back from a rep still says "Working - Contacted" in the CRM, and that
  stale acceptance must not carry a new hand-raise past MQL to SAL (nobody accepted it again).
* After a recycle (``recycled_at``, when the person last entered a recycled status), forward moves keep
  needing evidence newer than the recycle: else the person re-qualified as MQL would move on to SAL in
  the next cycle on the very same stale CRM status.

Why the timestamps: CRM verdicts are states, not events. A Lead.Status of "Recycled" stays there after
marketing re-qualifies the person, and must not recycle them again. A CRM verdict (recycle or
disqualify) is *stale* when the CRM facts last changed (``crm_changed_at``) no later than the current
status was entered (``status_since``): it was already acted on. When either time is unknown the verdict
is taken as current, so a recycled person whose CRM still says "Recycled" stays recycled until the CRM
moves on. The ledger knows ``status_since``; the sync knows when a person's CRM facts last changed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from leadsync.domain.grades import grade_at_least
from leadsync.domain.model import (
    EMPTY,
    Activity,
    Cause,
    CrmFacts,
    HygieneAction,
    HygieneVerdict,
    Move,
    OwnerKind,
    Transition,
)


class Role(enum.StrEnum):
    RAW = "raw"
    INQUIRY = "inquiry"
    MQL = "mql"
    SAL = "sal"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    DISQUALIFIED = "disqualified"
    RECYCLED = "recycled"


FUNNEL_ROLES: tuple[Role, ...] = (
    Role.RAW, Role.INQUIRY, Role.MQL, Role.SAL, Role.SQL, Role.OPPORTUNITY, Role.CUSTOMER,
)
# Roles that may be held by more than one status (MAQL then MQL, LAL then SAL ...).
REPEATABLE_ROLES: frozenset[Role] = frozenset({Role.MQL, Role.SAL, Role.SQL, Role.OPPORTUNITY})


class IllegalMove(ValueError):
    """A named move that the lifecycle rules do not allow, or one without a reason."""


@dataclass(frozen=True, slots=True)
class Threshold:
    """Score at least ``min_score`` and grade at least ``min_grade``, both together."""

    min_score: float
    min_grade: str

    def holds(self, score: float, grade: str | None) -> bool:
        return score >= self.min_score and grade_at_least(grade, self.min_grade)


@dataclass(frozen=True, slots=True)
class EntryRules:
    """Ways into one forward status; any one that holds admits the person."""

    real_interaction: bool = False
    score_and_grade: Threshold | None = None
    matrix: tuple[Threshold, ...] = ()  # rows of a score x grade matrix: score band -> lowest grade
    hand_raise: frozenset[str] = frozenset()
    crm_status: frozenset[str] = frozenset()
    owner_must_be_user: bool = False  # applies to crm_status: a queue owner has not accepted anything
    converted: bool = False
    open_opportunity: bool = False
    won_opportunity: bool = False

    def is_empty(self) -> bool:
        return self == EntryRules()


@dataclass(frozen=True, slots=True)
class Status:
    name: str
    role: Role
    rank: int | None  # position in the funnel; None for Disqualified and Recycled
    enter: EntryRules = field(default_factory=EntryRules)


@dataclass(frozen=True, slots=True)
class DisqualifyRules:
    hygiene: bool = True  # hygiene DISQUALIFY -> Disqualified with the verdict's reason (default "spam")
    crm_status_reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecycleRules:
    crm_status: frozenset[str] = frozenset()
    lost_opportunity: bool = True


@dataclass(frozen=True, slots=True)
class LifecycleRules:
    statuses: tuple[Status, ...]  # in file order; funnel statuses carry their rank
    real_interaction_types: frozenset[str]
    disqualify: DisqualifyRules
    recycle: RecycleRules
    version: str
    # Lookups built once: decide() runs for every person every cycle.
    _by_name: Mapping[str, Status] = field(init=False, repr=False, compare=False)
    _funnel: tuple[Status, ...] = field(init=False, repr=False, compare=False)
    _first: Mapping[Role, Status] = field(init=False, repr=False, compare=False)
    _hand_raise: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        first: dict[Role, Status] = {}
        for status in self.statuses:
            first.setdefault(status.role, status)
        funnel = tuple(sorted((s for s in self.statuses if s.rank is not None), key=lambda s: s.rank or 0))
        object.__setattr__(self, "_by_name", {s.name: s for s in self.statuses})
        object.__setattr__(self, "_funnel", funnel)
        object.__setattr__(self, "_first", first)
        object.__setattr__(self, "_hand_raise", frozenset().union(*(s.enter.hand_raise for s in self.statuses)))

    def status(self, name: str) -> Status:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown lifecycle status {name!r}") from None

    def status_names(self) -> tuple[str, ...]:
        """Every status name, in file order (funnel statuses, Disqualified and Recycled alike)."""
        return tuple(s.name for s in self.statuses)

    def funnel(self) -> tuple[Status, ...]:
        return self._funnel

    def by_role(self, role: Role) -> tuple[Status, ...]:
        return tuple(s for s in self.statuses if s.role == role)

    def first(self, role: Role) -> Status:
        return self._first[role]

    def hand_raise_types(self) -> frozenset[str]:
        return self._hand_raise


@dataclass(frozen=True, slots=True)
class ActivitySummary:
    """What lifecycle needs to know about a person's activities, condensed once per cycle."""

    real_interactions: int = 0
    first_interaction_at: datetime | None = None
    last_interaction_at: datetime | None = None  # latest real interaction: fresh evidence for score rules
    last_activity_at: datetime | None = None  # any activity at all
    hand_raises: tuple[tuple[str, datetime], ...] = ()  # (type, latest occurrence), sorted by type

    def last_hand_raise(self, types: Iterable[str]) -> datetime | None:
        wanted = set(types)
        times = [at for kind, at in self.hand_raises if kind in wanted]
        return max(times) if times else None


def summarize(activities: Iterable[Activity], rules: LifecycleRules) -> ActivitySummary:
    """Condense activities: real interactions (per the rules), hand-raises, and timings."""
    real_types = rules.real_interaction_types
    raise_types = rules.hand_raise_types()
    count = 0
    first: datetime | None = None
    last_real: datetime | None = None
    last: datetime | None = None
    raises: dict[str, datetime] = {}
    for activity in activities:
        at, kind = activity.occurred_at, activity.type
        if last is None or at > last:
            last = at
        if kind in real_types:
            count += 1
            if first is None or at < first:
                first = at
            if last_real is None or at > last_real:
                last_real = at
        if kind in raise_types and (kind not in raises or at > raises[kind]):
            raises[kind] = at
    return ActivitySummary(count, first, last_real, last, tuple(sorted(raises.items())) if raises else ())


@dataclass(frozen=True, slots=True)
class LifecycleInput:
    """Everything :func:`decide` looks at. ``status_since``: when the current status was entered;
    ``crm_changed_at``: when the CRM facts last changed (see the module docstring for why)."""

    score: float
    grade: str | None
    crm: CrmFacts = field(default_factory=CrmFacts)
    hygiene: HygieneVerdict = field(default_factory=HygieneVerdict)
    activity: ActivitySummary = field(default_factory=ActivitySummary)
    status_since: datetime | None = None
    crm_changed_at: datetime | None = None
    recycled_at: datetime | None = None  # the person's latest entry into a recycled status (None: never)


class _Match(NamedTuple):
    """A NamedTuple: built for every decision, and cheaper to build than a frozen dataclass."""

    rule: str
    reason: str
    facts: Mapping[str, Any]
    evidence_at: datetime | None  # when the evidence appeared, if known; None = a CRM fact


def _threshold_facts(facts: LifecycleInput, t: Threshold) -> dict[str, Any]:
    return {"score": facts.score, "grade": facts.grade, "min_score": t.min_score, "min_grade": t.min_grade}


def _entry_matches(status: Status, facts: LifecycleInput) -> Iterator[_Match]:
    """Every entry rule of ``status`` that holds, in a fixed order (the first one is reported).
    A generator: reasons are only formatted for the rules a caller actually looks at."""
    enter, role = status.enter, status.role  # a StrEnum formats as its value
    act, crm = facts.activity, facts.crm
    if enter.real_interaction and act.real_interactions > 0:
        yield _Match(f"{role}.real_interaction", f"first real interaction ({act.real_interactions} so far)",
                     {"real_interactions": act.real_interactions}, act.first_interaction_at)
    if enter.score_and_grade and enter.score_and_grade.holds(facts.score, facts.grade):
        t = enter.score_and_grade
        yield _Match(f"{role}.score_and_grade", f"score {facts.score:g} >= {t.min_score:g} and grade "
                     f"{facts.grade} >= {t.min_grade}", _threshold_facts(facts, t), act.last_interaction_at)
    for row in enter.matrix:
        if row.holds(facts.score, facts.grade):
            yield _Match(f"{role}.matrix", f"score x grade matrix: score {facts.score:g} >= {row.min_score:g}"
                         f" with grade {facts.grade} >= {row.min_grade}", _threshold_facts(facts, row),
                         act.last_interaction_at)
            break
    raised_at = act.last_hand_raise(enter.hand_raise) if enter.hand_raise and act.hand_raises else None
    if raised_at is not None:
        kinds = sorted(k for k, _ in act.hand_raises if k in enter.hand_raise)
        yield _Match(f"{role}.hand_raise", f"hand-raise: {', '.join(kinds)}", {"hand_raise": kinds}, raised_at)
    owner_ok = not enter.owner_must_be_user or crm.owner_kind == OwnerKind.USER
    if crm.crm_status in enter.crm_status and owner_ok:
        owner = " owned by a user" if enter.owner_must_be_user else ""
        yield _Match(f"{role}.crm_status", f"CRM status {crm.crm_status!r}{owner}",
                     {"crm_status": crm.crm_status, "owner_kind": crm.owner_kind.value}, None)
    if enter.converted and crm.is_converted:
        yield _Match(f"{role}.converted", "the lead was converted in the CRM", {"is_converted": True}, None)
    if enter.open_opportunity and crm.has_open_opportunity:
        yield _Match(f"{role}.open_opportunity", "an open opportunity exists", {"open_opportunity": True}, None)
    if enter.won_opportunity and crm.has_won_opportunity:
        yield _Match(f"{role}.won_opportunity", "an opportunity was won", {"won_opportunity": True}, None)


def _crm_verdict_stale(facts: LifecycleInput) -> bool:
    """A CRM verdict the current status already answered (see module docstring)."""
    return (facts.crm_changed_at is not None and facts.status_since is not None
            and facts.crm_changed_at <= facts.status_since)


def _disqualify_signal(facts: LifecycleInput, rules: LifecycleRules) -> _Match | None:
    crm, hygiene = facts.crm, facts.hygiene
    if crm.has_won_opportunity:
        return None
    if rules.disqualify.hygiene and hygiene.action == HygieneAction.DISQUALIFY:
        reason = hygiene.reason or "spam"
        return _Match("disqualified.hygiene", f"hygiene rules flagged junk ({reason})",
                      {"disqualified_reason": reason, "hygiene_rules": list(hygiene.rules)}, None)
    mapped = rules.disqualify.crm_status_reasons.get(crm.crm_status or "")
    if mapped is not None and not _crm_verdict_stale(facts):
        reason = crm.disqualified_reason or mapped
        return _Match("disqualified.crm_status", f"CRM status {crm.crm_status!r} means disqualified ({reason})",
                      {"crm_status": crm.crm_status, "disqualified_reason": reason}, None)
    return None


def _recycle_signal(facts: LifecycleInput, rules: LifecycleRules) -> _Match | None:
    crm = facts.crm
    if crm.has_open_opportunity or crm.has_won_opportunity:  # a live deal outranks a nurture status
        return None
    if crm.crm_status in rules.recycle.crm_status:
        match = _Match("recycled.crm_status", f"CRM status {crm.crm_status!r} sends the person back to nurture",
                       {"crm_status": crm.crm_status}, None)
    elif rules.recycle.lost_opportunity and crm.has_lost_opportunity:
        match = _Match("recycled.lost_opportunity", "the opportunity was lost; back to nurture",
                       {"lost_opportunity": True}, None)
    else:
        return None
    return None if _crm_verdict_stale(facts) else match


def _furthest(facts: LifecycleInput, rules: LifecycleRules, above: int,
              fresh_after: datetime | None = None) -> tuple[Status, _Match] | None:
    """The furthest funnel status ranked above ``above`` whose entry rule holds, with the rule to report
    (with ``fresh_after``, only rules holding on evidence newer than that instant count)."""
    for status in reversed(rules.funnel()):
        if (status.rank or 0) <= above:
            break
        matches = _entry_matches(status, facts)
        if fresh_after is not None:
            matches = (m for m in matches if _is_fresh(m, facts, fresh_after))
        match = next(matches, None)
        if match is not None:
            return status, match
    return None


def _is_fresh(match: _Match, facts: LifecycleInput, since: datetime) -> bool:
    evidence = facts.crm_changed_at if match.evidence_at is None else match.evidence_at
    return evidence is not None and evidence > since


def decide(person_id: str, current: str | None, facts: LifecycleInput, rules: LifecycleRules,
           now: datetime) -> Transition | None:
    """The next lifecycle transition for one person, or None when the status should stay."""

    def make(to: Status, move: Move, match: _Match, extra: Mapping[str, Any] = EMPTY) -> Transition:
        return Transition(person_id, current, to.name, now, move, match.rule, rules.version, match.reason,
                          {**match.facts, **extra})

    def forward(found: tuple[Status, _Match] | None, move: Move) -> Transition | None:
        if found is None:
            return None
        target, match, extra = _with_skips(found, current, rules)
        return make(target, move, match, extra)

    if current is None:
        for signal, role in ((_disqualify_signal, Role.DISQUALIFIED), (_recycle_signal, Role.RECYCLED)):
            hit = signal(facts, rules)
            if hit is not None:
                return make(rules.first(role), Move.INITIAL, hit)
        initial = forward(_furthest(facts, rules, above=-1), Move.INITIAL)
        if initial is not None:
            return initial
        raw_rule = "raw.imported" if facts.crm.imported else "raw.no_interaction"
        why = "imported with no interaction" if facts.crm.imported else "no real interaction yet"
        return make(rules.first(Role.RAW), Move.INITIAL, _Match(raw_rule, why, {"imported": facts.crm.imported}, None))

    status = rules.status(current)
    if status.role in (Role.DISQUALIFIED, Role.CUSTOMER):
        return None
    hit = _disqualify_signal(facts, rules)
    if hit is not None:
        return make(rules.first(Role.DISQUALIFIED), Move.DISQUALIFY, hit)
    if status.role == Role.RECYCLED:
        if _recycle_signal(facts, rules) is not None:
            return None
        floor = (rules.first(Role.MQL).rank or 0) - 1
        # An unknown recycle time: every rule counts (as fresh as it can be known).
        return forward(_furthest(facts, rules, above=floor, fresh_after=facts.status_since), Move.FORWARD)
    hit = _recycle_signal(facts, rules)
    if hit is not None:
        return make(rules.first(Role.RECYCLED), Move.RECYCLE, hit)
    return forward(_furthest(facts, rules, above=status.rank or 0, fresh_after=facts.recycled_at), Move.FORWARD)


def _with_skips(found: tuple[Status, _Match], current: str | None,
                rules: LifecycleRules) -> tuple[Status, _Match, Mapping[str, Any]]:
    """Record the funnel stages a forward (or initial) move jumps over, for reasons and funnel metrics."""
    target, match = found
    if current is None:
        low = rules.first(Role.RAW).rank or 0  # starting above Raw skips nothing worth recording
    elif rules.status(current).role == Role.RECYCLED:
        low = (rules.first(Role.MQL).rank or 0) - 1
    else:
        low = rules.status(current).rank or 0
    skipped = [s.name for s in rules.funnel() if low < (s.rank or 0) < (target.rank or 0)]
    if not skipped:
        return target, match, EMPTY
    reason = f"{match.reason}; skipped {', '.join(skipped)}"
    return target, _Match(match.rule, reason, match.facts, match.evidence_at), {"skipped": skipped}


def is_legal(from_status: str | None, to_status: str, move: Move, rules: LifecycleRules) -> bool:
    """Whether ``from_status -> to_status`` by ``move`` is a transition the rules allow at all.

    INITIAL: from nothing to any status. FORWARD: up the funnel (never out of Customer or Disqualified),
    or from Recycled to a status at or beyond the first MQL one. DISQUALIFY: from any status to
    Disqualified. RECYCLE: from a funnel status other than Customer to Recycled. REOPEN: from Disqualified
    to any funnel status or Recycled, from Recycled to a status at or beyond the first MQL one.
    """
    names = {s.name for s in rules.statuses}
    if to_status not in names or (from_status is not None and from_status not in names):
        return False
    to = rules.status(to_status)
    if move == Move.INITIAL:
        return from_status is None
    if from_status is None or from_status == to_status:
        return False
    frm = rules.status(from_status)
    mql_rank = rules.first(Role.MQL).rank or 0
    if move == Move.FORWARD:
        if to.rank is None or frm.role in (Role.CUSTOMER, Role.DISQUALIFIED):
            return False
        return to.rank >= mql_rank if frm.role == Role.RECYCLED else to.rank > (frm.rank or 0)
    if move == Move.DISQUALIFY:
        return to.role == Role.DISQUALIFIED
    if move == Move.RECYCLE:
        return to.role == Role.RECYCLED and frm.rank is not None and frm.role != Role.CUSTOMER
    if move == Move.REOPEN:
        if frm.role == Role.DISQUALIFIED:
            return to.role != Role.DISQUALIFIED
        return frm.role == Role.RECYCLED and to.rank is not None and to.rank >= mql_rank
    return False


_NAMED_MOVES = (Move.DISQUALIFY, Move.RECYCLE, Move.REOPEN)


def named_move(person_id: str, current: str | None, move: Move, target: str | None, reason: str, cause: Cause,
               rules: LifecycleRules, now: datetime) -> Transition:
    """A deliberate move by an admin or a CRM user: disqualify, recycle, or reopen, always with a reason.

    ``target`` may be omitted for DISQUALIFY and RECYCLE (the status with that role is used) and is
    required for REOPEN. Raises :class:`IllegalMove` when the rules do not allow the move.
    """
    if move not in _NAMED_MOVES:
        raise IllegalMove(f"{move.value} is not a named move (use one of: {', '.join(m.value for m in _NAMED_MOVES)})")
    if not reason.strip():
        raise IllegalMove(f"a {move.value} needs a reason")
    if current is None:
        raise IllegalMove(f"cannot {move.value} a person with no lifecycle status yet")
    if target is None:
        if move == Move.REOPEN:
            raise IllegalMove("reopen needs a target status")
        target = rules.first(Role.DISQUALIFIED if move == Move.DISQUALIFY else Role.RECYCLED).name
    known = {s.name for s in rules.statuses}
    for name in (current, target):
        if name not in known:
            raise IllegalMove(f"unknown lifecycle status {name!r} (known: {', '.join(sorted(known))})")
    if not is_legal(current, target, move, rules):
        raise IllegalMove(f"{move.value} from {current!r} to {target!r} is not allowed")
    actor = f" by {cause.actor}" if cause.actor else ""
    rule = f"{move.value}.{cause.kind.value}"
    facts = {"cause": cause.kind.value, "actor": cause.actor, "reason": reason.strip()}
    return Transition(person_id, current, target, now, move, rule, rules.version,
                      f"{move.value}{actor}: {reason.strip()}", facts, cause)
