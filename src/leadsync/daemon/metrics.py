"""The daemon's Prometheus metrics, on a registry of their own (never the global default one, so a
library's metrics or a second daemon in one test process cannot collide with ours)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from leadsync.daemon.jobs import JobOutcome

CONTENT_TYPE = CONTENT_TYPE_LATEST


class DaemonMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.pulled = Counter("leadsync_records_pulled", "Records pulled, per system", ["system"], registry=r)
        self.written = Counter("leadsync_records_written", "Records written, per system", ["system"], registry=r)
        self.errors = Counter("leadsync_errors", "Errors recorded by job runs, per job", ["job"], registry=r)
        self.job_runs = Counter("leadsync_job_runs", "Job runs by outcome", ["job", "outcome"], registry=r)
        self.missed = Counter("leadsync_job_runs_missed", "Scheduled runs skipped (missed or still running)",
                              ["job", "why"], registry=r)
        self.quarantined = Gauge("leadsync_quarantined_records", "Records held in quarantine", registry=r)
        self.budget = Gauge("leadsync_api_budget_remaining", "API calls leadsync may still spend today",
                            ["system"], registry=r)
        self.last_good_age = Gauge("leadsync_last_good_cycle_age_seconds",
                                   "Seconds since the last successful sync cycle ended (-1: none yet)", registry=r)
        self.sla_breaches = Gauge("leadsync_sla_breaches_open", "Open SLA clocks already breached", registry=r)
        self.leader = Gauge("leadsync_leader", "1 while this process is the leader, else 0", registry=r)
        self.ledger_up = Gauge("leadsync_ledger_up", "1 when the last ledger read succeeded", registry=r)
        self.last_good_age.set(-1)

    def observe_run(self, job: str, outcome_label: str, outcome: JobOutcome | None) -> None:
        self.job_runs.labels(job=job, outcome=outcome_label).inc()
        if outcome is None:
            return
        for system, n in outcome.pulled.items():
            self.pulled.labels(system=system).inc(n)
        for system, n in outcome.written.items():
            self.written.labels(system=system).inc(n)
        if outcome.errors:
            self.errors.labels(job=job).inc(len(outcome.errors))
        for system, n in outcome.budget_remaining.items():
            self.budget.labels(system=system).set(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)
