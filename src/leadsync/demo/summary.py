"""What the demo shows per cycle, as plain data (the text and ``--json`` renderings read the same)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from leadsync.ledger import UnitOfWork
from leadsync.sync.cycle import CycleReport

SHOWN = 8  # a cycle moving more people than this is summarised per status


@dataclass
class CycleSummary:
    number: int
    title: str
    acted: list[str]
    status: str
    records_pulled: int
    people_changed: int
    transitions: list[str]
    contact_status_changes: list[str]
    writes: dict[str, int]
    api_calls: dict[str, dict[str, int]]
    sla: dict[str, int]
    arrivals: dict[str, int] = field(default_factory=dict)  # transitions per status moved into
    errors: list[str] = field(default_factory=list)

    @property
    def quiet(self) -> bool:
        return not self.transitions and not self.contact_status_changes and not any(self.writes.values())


@dataclass
class DemoResult:
    directory: str
    ledger: str
    persons: int
    cycles: list[CycleSummary]
    reports: dict[str, str]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sla_state(uow: UnitOfWork, breached_now: int) -> dict[str, int]:
    from leadsync.daemon.snapshot import open_clocks

    clocks = open_clocks(uow)
    return {"open_clocks": len(clocks), "open_breaches": sum(1 for c in clocks if c.breached_at is not None),
            "breached_this_step": breached_now}


def summarise(number: int, title: str, acted: list[str], report: CycleReport, names: dict[str, str],
              sla: dict[str, int]) -> CycleSummary:
    writes: dict[str, int] = {}
    for write in report.writes:
        writes[write.target.system.value] = writes.get(write.target.system.value, 0) + 1
    return CycleSummary(
        number=number, title=title, acted=acted, status=report.status, records_pulled=report.pull.records,
        people_changed=len(report.pull.people_changed),
        transitions=[f"{names.get(t.person_id, t.person_id)}: {t.from_status or '(new)'} -> {t.to_status} ({t.rule})"
                     for t in report.transitions],
        contact_status_changes=[f"{names.get(c.person_id, c.person_id)}: {c.from_status or '(none)'} -> "
                                f"{c.to_status}" for c in report.contact_changes],
        writes=writes, api_calls=dict(report.api_calls), sla=sla, arrivals=dict(Counter(t.to_status for t in
                                                                                        report.transitions)),
        errors=list(report.errors[:5]),
    )


def render_text(result: DemoResult) -> str:
    lines = [f"leadsync demo: {result.persons} people in a sandbox Salesforce org and HubSpot portal", ""]
    for cycle in result.cycles:
        lines.append(f"cycle {cycle.number}: {cycle.title}")
        lines += [f"  - {act}" for act in cycle.acted]
        calls = ", ".join(f"{s} {c['reads']} reads / {c['writes']} writes" for s, c in cycle.api_calls.items())
        written = ", ".join(f"{s} {n}" for s, n in cycle.writes.items()) or "none"
        lines.append(f"  pulled {cycle.records_pulled} records ({cycle.people_changed} people changed); "
                     f"{len(cycle.transitions)} transitions; field writes: {written}")
        lines.append(f"  API calls: {calls}")
        if len(cycle.transitions) > SHOWN:
            lines.append("    into " + ", ".join(f"{status} {n}" for status, n in sorted(cycle.arrivals.items())))
        else:
            lines += [f"    {t}" for t in cycle.transitions]
        if len(cycle.contact_status_changes) > SHOWN:
            lines.append(f"    {len(cycle.contact_status_changes)} contact status changes")
        else:
            lines += [f"    contact status {c}" for c in cycle.contact_status_changes]
        sla = cycle.sla
        lines.append(f"  SLA: {sla['open_clocks']} open clocks, {sla['open_breaches']} breached"
                     + (f" ({sla['breached_this_step']} just now)" if sla["breached_this_step"] else ""))
        lines += [f"  ! {e}" for e in cycle.errors]
        if cycle.quiet:
            lines.append("  nothing changed: no transitions, no writes")
        lines.append("")
    lines.append(f"ledger: {result.ledger}")
    lines += [f"{name} report: {path}" for name, path in result.reports.items()]
    lines.append(f"done in {result.seconds:.1f}s; inspect with `leadsync status --config {result.directory}/demo.toml`")
    return "\n".join(lines)
