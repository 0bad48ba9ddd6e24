"""The preflight over real HTTPS against the sandbox: the shipped mappings pass, a hostile org fails with
the exact mapping line, each object is described once, a pass is reused, and nothing writes without one."""

from __future__ import annotations

import contextlib
import re
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadsync.app import App, build_app, sandbox_connectors
from leadsync.config.settings import Settings, load_settings
from leadsync.connectors.port import CrmConnector
from leadsync.daemon.jobs import FunctionJob, JobContext, JobOutcome
from leadsync.daemon.service import DaemonError
from leadsync.daemon.wiring import default_jobs, preflighted
from leadsync.ledger import RunStatus
from leadsync.rules.ruleset import RuleSet, load_ruleset
from leadsync.sandbox.runtime import Sandbox
from leadsync.sync.preflight import PreflightFailed, PreflightGate, run_preflight

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
SF_WRITES = ("composite.sobjects", "composite.sobjects.create", "composite.sobjects.upsert", "sobject.update",
             "sobject.create", "sobject.delete", "composite.sobjects.delete")
HS_WRITES = ("contacts.batch_update", "contacts.update", "contacts.create", "contacts.batch_create")


def line_of(path: Path, text: str, nth: int = 0) -> int:
    """The 1-based line of the ``nth`` line containing ``text`` (found by reading the file, not assumed)."""
    hits = [n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if text in line]
    return hits[nth]


def writes(sandbox: Sandbox) -> int:
    sf, hs = sandbox.sf.counters.snapshot(), sandbox.hs.counters.snapshot()
    return sum(sf.get(name, 0) for name in SF_WRITES) + sum(hs.get(name, 0) for name in HS_WRITES)


@pytest.fixture
def sandbox(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(persons=12, seed=4, rate_limits=False, directory=tmp_path / "sandbox") as running:
        yield running


def connectors_for(sandbox: Sandbox, ruleset: RuleSet) -> list[CrmConnector]:
    return sandbox_connectors(Settings(), ruleset, sandbox.env())


def test_shipped_mappings_pass_with_one_describe_per_object(sandbox: Sandbox) -> None:
    ruleset = load_ruleset(MAPPINGS)
    connectors = connectors_for(sandbox, ruleset)
    sandbox.sf.counters.reset()
    sandbox.hs.counters.reset()

    result = run_preflight(ruleset, connectors)

    assert result.ok, result.lines
    sf_objects = {m.object for m in ruleset.fields.outbound_mappings + ruleset.fields.inbound_mappings
                  if m.system.value == "salesforce"}
    assert sf_objects == {"Lead", "Contact"}
    sf, hs = sandbox.sf.counters.snapshot(), sandbox.hs.counters.snapshot()
    assert sf.get("describe") == len(sf_objects)
    assert hs == {"properties.list": 1}
    assert set(sf) <= {"describe", "token"}  # a login at most, then describes; no query, no write
    assert result.calls == {"salesforce": len(sf_objects), "hubspot": 1}


def test_read_only_property_and_removed_option_fail_on_their_lines(sandbox: Sandbox) -> None:
    ruleset = load_ruleset(MAPPINGS)
    connectors = connectors_for(sandbox, ruleset)
    sandbox.hs.change_property("contacts", "leadsync_score", read_only=True)
    sandbox.hs.change_property("contacts", "hs_lead_status", remove_options=("BAD_TIMING",))

    result = run_preflight(ruleset, connectors)

    fields_toml = MAPPINGS / "fields.toml"
    score_line = line_of(fields_toml, 'field = "leadsync_score"')
    status_line = line_of(fields_toml, 'field = "hs_lead_status"')
    assert [(Path(p.where).name, p.object, p.field) for p in result.problems] == [
        (f"fields.toml:{score_line}", "contacts", "leadsync_score"),
        (f"fields.toml:{status_line}", "contacts", "hs_lead_status"),
    ]
    score, status = result.lines
    assert score.endswith(f"fields.toml:{score_line}: hubspot contacts.leadsync_score: property leadsync_score "
                          "is read-only for the integration (modificationMetadata.readOnlyValue)")
    assert f"fields.toml:{status_line}: hubspot contacts.hs_lead_status:" in status and "'BAD_TIMING'" in status
    with pytest.raises(PreflightFailed) as failed:
        result.raise_if_failed()
    assert failed.value.lines == result.lines
    assert "2 mapping lines" in str(failed.value)


def test_non_updateable_salesforce_field_fails_on_its_line(sandbox: Sandbox, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(MAPPINGS, rules)
    fields_toml = rules / "fields.toml"
    text = fields_toml.read_text(encoding="utf-8")
    assert text.count('field = "SLA_Breached__c"') == 1
    fields_toml.write_text(text.replace('field = "SLA_Breached__c"', 'field = "IsConverted"'), encoding="utf-8")
    ruleset = load_ruleset(rules)  # valid offline: only the org knows the field is read-only

    result = run_preflight(ruleset, connectors_for(sandbox, ruleset))

    line = line_of(fields_toml, 'field = "IsConverted"')
    by_object = {p.object: p for p in result.problems}
    assert set(by_object) == {"Lead", "Contact"}
    assert all(p.where.endswith(f"fields.toml:{line}") and p.field == "IsConverted" for p in result.problems)
    assert by_object["Lead"].problem == "Lead.IsConverted is not updateable by the integration user"
    assert "does not exist" in by_object["Contact"].problem  # IsConverted is a Lead field only


def test_gate_reuses_a_pass_rechecks_on_age_and_version_and_never_reuses_a_failure(sandbox: Sandbox) -> None:
    ruleset = load_ruleset(MAPPINGS)
    connectors = connectors_for(sandbox, ruleset)
    now = [1000.0]
    gate = PreflightGate(max_age_seconds=3600, monotonic=lambda: now[0])

    first = gate.check(ruleset, connectors)
    sandbox.hs.counters.reset()
    now[0] += 3599
    again = gate.check(ruleset, connectors)
    assert first.ok and not first.cached and again.ok and again.cached
    assert sandbox.hs.counters.snapshot() == {}  # the cached pass described nothing

    sandbox.hs.change_property("contacts", "leadsync_grade", read_only=True)
    now[0] += 2  # an hour after the pass: described again, and the changed org is seen
    stale = gate.check(ruleset, connectors)
    assert not stale.cached and [p.field for p in stale.problems] == ["leadsync_grade"]
    assert sandbox.hs.counters.snapshot() == {"properties.list": 1}
    retry = gate.check(ruleset, connectors)  # a failure is checked again every time, never reused
    assert not retry.cached and not retry.ok and sandbox.hs.counters.snapshot() == {"properties.list": 2}

    sandbox.hs.change_property("contacts", "leadsync_grade", read_only=False)
    assert gate.check(ruleset, connectors).ok
    other_version = load_ruleset(MAPPINGS)
    object.__setattr__(other_version, "version", "changed-rules")
    changed = gate.check(other_version, connectors)
    assert changed.ok and not changed.cached and changed.version == "changed-rules"


# ----- wired in: the composition root and the daemon ------------------------------------------------------
@contextlib.contextmanager
def app_on(sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "leadsync.toml"
    config.write_text(f'[ledger]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n'
                      f'[daemon]\nmappings_dir = "{MAPPINGS}"\nlog_level = "warning"\n', encoding="utf-8")
    with build_app(load_settings(config)) as app:
        yield app


def test_engine_refuses_to_write_but_a_dry_run_still_plans(sandbox: Sandbox, tmp_path: Path,
                                                           clean_env: pytest.MonkeyPatch) -> None:
    sandbox.hs.change_property("contacts", "lifecyclestage", remove_options=("opportunity",))
    with app_on(sandbox, tmp_path, clean_env) as app:
        with pytest.raises(PreflightFailed) as failed:
            app.engine()
        line = line_of(MAPPINGS / "fields.toml", 'field = "lifecyclestage"')
        [only] = failed.value.lines
        assert only.endswith(f"fields.toml:{line}: hubspot contacts.lifecyclestage: property lifecyclestage has no "
                             "option 'opportunity'")

        report = app.engine(dry_run=True).run_once(dry_run=True)
        assert report.status == "planned" and report.writes  # the first sync has plenty to write
        assert app.preflight_problems() == failed.value.lines
    assert writes(sandbox) == 0


def test_daemon_fails_fast_at_start_and_a_later_failure_fails_the_run(sandbox: Sandbox, tmp_path: Path,
                                                                      clean_env: pytest.MonkeyPatch) -> None:
    sandbox.hs.change_property("contacts", "leadsync_score", read_only=True)
    with app_on(sandbox, tmp_path, clean_env) as app, contextlib.ExitStack() as resources:
        with pytest.raises(DaemonError, match=r"fields\.toml:\d+: hubspot contacts\.leadsync_score"):
            default_jobs(app.settings, app.ledger, resources)

        ran: list[str] = []
        job = preflighted(app, FunctionJob("sync", lambda ctx: ran.append(ctx.run_id) or JobOutcome(),
                                           records_own_run=True))
        ctx = JobContext(run_id="run-preflight", kind="sync", epoch=0, ledger=app.ledger,
                         started_at=datetime(2026, 1, 5, 9, tzinfo=UTC), deadline=float("inf"),
                         stop=threading.Event(), still_leader=lambda: True, now=lambda: datetime.now(UTC))
        with pytest.raises(PreflightFailed):
            job(ctx)
        assert ran == []  # the cycle never started
        with app.ledger.reading() as uow:
            run = uow.runs.get("run-preflight")
        assert run.status is RunStatus.FAILED
        assert len(run.errors) == 1 and re.search(r"fields\.toml:\d+: hubspot contacts\.leadsync_score", run.errors[0])

        sandbox.hs.change_property("contacts", "leadsync_score", read_only=False)  # the admin fixes the portal
        job(ctx.__class__(**{**ctx.__dict__, "run_id": "run-fixed"}))
        assert ran == ["run-fixed"]
    assert writes(sandbox) == 0


def test_the_engine_knows_the_sandbox_login_as_the_integration_user(sandbox: Sandbox, tmp_path: Path,
                                                                   clean_env: pytest.MonkeyPatch) -> None:
    # Routing treats a lead owned by the integration user as unassigned; with the sandbox, the login is not in
    # the settings but in the sandbox's variables.
    with app_on(sandbox, tmp_path, clean_env) as app:
        assert app.settings.salesforce.username is None
        assert app.engine_config(epoch=3).integration_users == {sandbox.sf_username.lower()}
        assert app.engine_config(epoch=3).epoch == 3
