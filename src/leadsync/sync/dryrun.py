"""A cycle report for people: a summary of what ran, and for a dry run the full plan.

``as_dict`` is the JSON shape (``leadsync sync --once --format json``); ``render_text`` the terminal one.
The plan lists, per record, each field's old and new value, every transition with its rule and reason,
counts per field and per status, and the API calls the cycle spent (reads) or would spend (writes).
"""

from __future__ import annotations

import json
from typing import Any

from leadsync.domain.planner import Scalar
from leadsync.sync.cycle import CycleReport
from leadsync.sync.state import plain


def _shown(value: Scalar) -> Any:
    return plain(value) if value not in (None, "") else None


def as_dict(report: CycleReport) -> dict[str, Any]:
    pull = report.pull
    by_record: dict[str, list[dict[str, Any]]] = {}
    for write in report.writes:
        key = f"{write.target.system.value} {write.target.object} {write.target.record_id}"
        by_record.setdefault(key, []).append({
            "field": write.field, "old": _shown(write.previous), "new": _shown(write.value),
            "clear_first": write.clear_first, **({"note": write.note} if write.note else {}),
        })
    follow_ups: dict[str, list[dict[str, Any]]] = {}
    for origin, write in report.queued:
        key = f"{write.target.system.value} {write.target.object} {write.target.record_id}"
        follow_ups.setdefault(key, []).append({"field": write.field, "new": _shown(write.value), "origin": origin})
    return {
        "run_id": report.run_id,
        "dry_run": report.dry_run,
        "status": report.status,
        "pulled": {"pages": pull.pages, "records": pull.records, "people_changed": len(pull.people_changed),
                   "activities": pull.activities, "echoes_ignored": pull.echoes, "new_people": pull.new_people,
                   "duplicates_flagged": pull.duplicates, "conversions": pull.conversions, "merges": pull.merges,
                   "deleted": pull.deleted},
        "people_evaluated": report.totals.people,
        # A real cycle streams its plans (memory stays flat), so only a dry run lists them record by record.
        "listed": bool(report.plans) or report.dry_run,
        "transitions": [
            {"person": t.person_id, "from": t.from_status, "to": t.to_status, "move": t.move.value, "rule": t.rule,
             "reason": t.reason, "cause": t.cause.kind.value}
            for t in report.transitions
        ],
        "contact_status_changes": [
            {"person": c.person_id, "from": c.from_status, "to": c.to_status, "rule": c.rule, "reason": c.reason}
            for c in report.contact_changes
        ],
        "writes": by_record,
        # Writes the follow-ups queue (routing's owners, the SLA clocks' due dates and breach flags): a dry run
        # works them out too; a real cycle sends them after its own writes (counted in outcome.applied).
        "follow_up_writes": follow_ups,
        # Counts come from the totals, so they are whole even when the cycle streamed its plans.
        "counts": {
            "writes_per_field": dict(sorted(report.totals.writes_per_field.items())),
            "transitions_per_status": dict(sorted(report.totals.transitions_per_status.items())),
            "contact_status_per_status": dict(sorted(report.totals.contact_per_status.items())),
            "fields_left_alone": dict(sorted(report.totals.skipped.items())),
            "override_corrections": report.totals.corrections,
        },
        "outcome": {"applied": report.outcome.applied, "failed_transient": report.outcome.failed,
                    "quarantined": report.outcome.quarantined, "held_in_quarantine": report.outcome.held,
                    "resolved_pending": report.outcome.resolved_pending},
        "api_calls": report.api_calls,
        "would_write_calls": report.would_write_calls,
        "guard": None if report.guard is None else {
            "allowed": report.guard.allowed, "changed_people": report.guard.changed_people,
            "population": report.guard.population, "reason": report.guard.reason},
        "errors": report.errors,
    }


def render_json(report: CycleReport) -> str:
    return json.dumps(as_dict(report), indent=2, sort_keys=False, ensure_ascii=False)


def render_text(report: CycleReport) -> str:
    data = as_dict(report)
    pulled = data["pulled"]
    head = "dry run (nothing written, ledger unchanged)" if report.dry_run else "sync cycle"
    lines = [
        f"{head} {report.run_id}: {report.status}",
        f"  pulled: {pulled['records']} records in {pulled['pages']} pages, {pulled['people_changed']} people "
        f"changed, {pulled['activities']} activities, {pulled['echoes_ignored']} echoes of our writes ignored",
        f"  identity: {pulled['new_people']} new people, {pulled['duplicates_flagged']} duplicates flagged, "
        f"{pulled['conversions']} conversions, {pulled['merges']} merges",
        f"  evaluated: {data['people_evaluated']} people, {report.totals.transitions} transitions, "
        f"{report.totals.contact_changes} contact-status changes",
    ]
    for system, calls in sorted(report.api_calls.items()):
        writes = sum(n for key, n in report.totals.writes_per_field.items() if key.startswith(f"{system}."))
        planned = report.would_write_calls.get(system, 0)
        spent = f"{calls['reads']} read calls, " + (
            f"{planned} write calls needed" if report.dry_run else f"{calls['writes']} write calls")
        lines.append(f"  {system}: {writes} field writes; {spent}")
    outcome = data["outcome"]
    if not report.dry_run:
        lines.append(f"  outcome: {outcome['applied']} records written, {outcome['failed_transient']} to retry, "
                     f"{outcome['quarantined']} quarantined, {outcome['held_in_quarantine']} held in quarantine")
    if report.dry_run:
        lines.extend(_plan_lines(data))
    lines.extend(f"  error: {e}" for e in report.errors[:20])
    return "\n".join(lines)


def _plan_lines(data: dict[str, Any]) -> list[str]:
    lines = ["plan:"]
    for record, fields in data["writes"].items():
        lines.append(f"  {record}")
        for item in fields:
            clear = " (clear, then set)" if item["clear_first"] else ""
            note = f" ({item['note']})" if item.get("note") else ""
            lines.append(f"    {item['field']}: {item['old']!r} -> {item['new']!r}{clear}{note}")
    for record, fields in data["follow_up_writes"].items():
        lines.append(f"  {record} (follow-up)")
        for item in fields:
            lines.append(f"    {item['field']}: -> {item['new']!r} [{item['origin']}]")
    for t in data["transitions"]:
        lines.append(f"  transition {t['person']}: {t['from']} -> {t['to']} [{t['rule']}] {t['reason']}")
    for c in data["contact_status_changes"]:
        lines.append(f"  contact status {c['person']}: {c['from']} -> {c['to']} [{c['rule']}] {c['reason']}")
    counts = data["counts"]
    for title, key in (("writes per field", "writes_per_field"), ("transitions per status", "transitions_per_status"),
                       ("contact status per status", "contact_status_per_status"),
                       ("fields left alone", "fields_left_alone")):
        if counts[key]:
            lines.append(f"  {title}: " + ", ".join(f"{k}={v}" for k, v in counts[key].items()))
    if counts["override_corrections"]:
        lines.append(f"  corrections of CRM users' overrides: {counts['override_corrections']}")
    return lines
