"""What ``leadsync status`` shows: the leader, the last runs, watermarks, API budget, quarantine, SLA breaches.

Everything comes from the ledger, so any machine that can read it sees what the running daemon (wherever
it runs) has done; nothing here needs the daemon to be up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leadsync.daemon import snapshot
from leadsync.ledger import SyncRun, UnitOfWork

SHOWN_RUNS = 10
SHOWN_ITEMS = 20
BUDGET_PREFIX = "budget_remaining."


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def leader(uow: UnitOfWork) -> dict[str, Any] | None:
    row = uow.sync.leader()
    if row is None:
        return None
    return {"name": row.name, "holder": row.holder, "epoch": row.epoch, "taken_at": _when(row.taken_at)}


def run_view(run: SyncRun) -> dict[str, Any]:
    return {"id": run.id, "kind": run.kind, "status": run.status.value, "epoch": run.epoch,
            "started_at": _when(run.started_at), "ended_at": _when(run.ended_at), "counts": dict(run.counts),
            "api_calls": dict(run.api_calls), "errors": list(run.errors[:5]), "error_count": len(run.errors)}


def api_budget(runs: list[SyncRun]) -> dict[str, dict[str, Any]]:
    """Per system: calls spent by the last run that used it, and the budget left as last recorded."""
    budget: dict[str, dict[str, Any]] = {}
    for run in runs:  # newest first: the first figure seen per system wins
        for system, calls in run.api_calls.items():
            budget.setdefault(system, {}).setdefault("last_run_calls", calls)
        for key, value in run.counts.items():
            if key.startswith(BUDGET_PREFIX):
                entry = budget.setdefault(key[len(BUDGET_PREFIX):], {})
                entry.setdefault("remaining", value)
                entry.setdefault("as_of", _when(run.ended_at or run.started_at))
    return budget


def repairs(counts: dict[str, int]) -> str:
    """A reconciliation's repairs, e.g. ``; repaired: missing salesforce 2, orphaned hubspot 1`` ('' if none)."""
    done = [f"{side} {key.partition('.')[2]} {n}" for side in ("missing", "orphaned")
            for key, n in sorted(counts.items()) if key.startswith(f"repaired_{side}.") and n]
    return f"; repaired: {', '.join(done)}" if done else ""


def gather(uow: UnitOfWork) -> dict[str, Any]:
    snap = snapshot.take(uow)
    quarantined = uow.quarantine.held(limit=SHOWN_ITEMS)
    return {
        "leader": leader(uow),
        "last_good_cycle": _when(snap.last_good_cycle),
        "runs": [run_view(r) for r in snap.runs[:SHOWN_RUNS]],
        "watermarks": [{"stream": w.stream, "value": w.value, "ids_at_value": len(w.seen_ids)}
                       for w in uow.watermarks.all()],
        "api_budget": api_budget(snap.runs),
        "quarantine": {"count": snap.quarantined, "records": [
            {"system": q.system.value, "object": q.object, "record_id": q.record_id, "reason": q.reason,
             "attempts": q.attempts, "first_seen": _when(q.first_seen)} for q in quarantined]},
        "sla_breaches": {"count": len(snap.open_breaches), "clocks": [
            {"person_id": c.person_id, "sla": c.sla, "due_at": _when(c.due_at), "owner_id": c.owner_id}
            for c in snap.open_breaches[:SHOWN_ITEMS]]},
    }


def render_text(status: dict[str, Any]) -> str:
    lines: list[str] = []
    lead = status["leader"]
    lines.append("leader: none yet" if lead is None else
                 f"leader: {lead['holder']} (epoch {lead['epoch']}, since {lead['taken_at']})")
    lines.append(f"last good cycle: {status['last_good_cycle'] or 'none yet'}")
    lines.append("last runs:")
    for run in status["runs"] or []:
        calls = ", ".join(f"{s} {n}" for s, n in run["api_calls"].items()) or "no API calls"
        problems = f"; {run['error_count']} error(s): {run['errors'][0]}" if run["errors"] else ""
        lines.append(f"  {run['started_at']}  {run['kind']:<10} {run['status']:<9} epoch {run['epoch']}; "
                     f"{calls}{repairs(run['counts'])}{problems}")
    if not status["runs"]:
        lines.append("  none yet")
    lines.append("watermarks:")
    lines += [f"  {w['stream']:<32} {w['value']}" for w in status["watermarks"]] or ["  none yet"]
    lines.append("API budget:")
    for system, entry in status["api_budget"].items():
        left = f"{entry['remaining']} left (as of {entry['as_of']})" if "remaining" in entry else "left: not recorded"
        lines.append(f"  {system:<12} last run used {entry.get('last_run_calls', 0)}; {left}")
    if not status["api_budget"]:
        lines.append("  nothing recorded yet")
    quarantine, breaches = status["quarantine"], status["sla_breaches"]
    lines.append(f"quarantined records: {quarantine['count']}")
    lines += [f"  {q['system']} {q['object']} {q['record_id']}: {q['reason']} ({q['attempts']} attempt(s))"
              for q in quarantine["records"]]
    lines.append(f"open SLA breaches: {breaches['count']}")
    lines += [f"  person {c['person_id']} {c['sla']} due {c['due_at']}" for c in breaches["clocks"]]
    return "\n".join(lines)
