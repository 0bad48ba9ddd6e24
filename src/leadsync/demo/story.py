"""The demo's story: real sync cycles, with the org's people acting between them.

1. the first sync backfills the org; 2. two prospects fill in the contact form and cross the MQL line;
3. a sales rep accepts one of them; 4. the rep calls (no answer, then connected); 5. the rep converts
the lead; 6. three days pass and nobody accepted the other MQL: its SLA is missed; 7. a quiet cycle in
which nothing changes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from leadsync.config.settings import Settings
from leadsync.demo.summary import CycleSummary, DemoResult, sla_state, summarise
from leadsync.demo.world import Person, World
from leadsync.domain.lifecycle import Role
from leadsync.ledger import NO_LEADER_EPOCH
from leadsync.reports import Window, build_report, render
from leadsync.sla_engine import sweep
from leadsync.sync.cycle import SyncEngine

CONTACT_FORM = "Contact us"
FORM_POINTS = 20  # what the shipped scoring.toml gives a contact-us form; more forms follow if the rules differ


class DemoError(Exception):
    """The demo cannot tell its story (e.g. the org is too small to have two near-MQL prospects)."""


class Story:
    def __init__(self, world: World) -> None:
        self.world = world
        self.cycles: list[CycleSummary] = []
        self.names: dict[str, str] = {}

    def cycle(self, title: str, acted: list[str], *, breached_now: int = 0) -> CycleSummary:
        app = self.world.app
        # Salesforce stamps changes to the second: let the second of the actions just taken pass, so the cycle's
        # window (which ends at server time) holds them, as a real interval between cycles would.
        time.sleep(1.05 - math.modf(time.time())[0] if self.cycles else 0)
        config = app.engine_config(keep_plans=True)
        # The engine starts and stops SLA clocks, routes new MQLs and sends queued write-backs itself.
        report = SyncEngine(app.ledger, app.ruleset, app.connectors, config, app.clock,
                            notifier=app.notifier()).run_once()
        self.names.update({p.person_id: p.name for p in self.world.people()})
        with app.ledger.reading() as uow:
            sla = sla_state(uow, breached_now)
        summary = summarise(len(self.cycles) + 1, title, acted, report, self.names, sla)
        self.cycles.append(summary)
        return summary

    def prospects(self) -> list[tuple[Person, int]]:
        """Prospects short of MQL whom a few contact forms qualify: (person, forms needed), nearest first."""
        early = set(self.world.statuses_with(Role.RAW) + self.world.statuses_with(Role.INQUIRY))
        found = []
        for person in self.world.people():
            gap = self.world.mql_gap(person)
            if person.sf_lead and person.hs_contact and (person.status in early or person.status is None) \
                    and gap is not None and gap > 0:
                found.append((person, max(1, math.ceil(gap / FORM_POINTS))))
        return sorted(found, key=lambda item: (item[1], item[0].person_id))

    def fill_forms(self, person: Person, forms: int) -> str:
        hs = self.world.sandbox.hs
        for n in range(forms):
            when = self.world.clock.now() - timedelta(minutes=forms - n)  # events are pulled by when they happened
            hs.submit_form(person.hs_contact or "", CONTACT_FORM, when)
        times = f" ({forms} submissions)" if forms > 1 else ""
        return f"marketing: {person.name} fills in the '{CONTACT_FORM}' form{times}"

    def until_mql(self, people: list[tuple[Person, int]]) -> None:
        mql = set(self.world.statuses_with(Role.MQL))
        acted = [self.fill_forms(p, n) for p, n in people]
        self.cycle("form fills push prospects toward the MQL line", acted)
        for _ in range(3):  # the rule files may weigh forms differently: one more form until they qualify
            behind = [p for p, _ in people if self.world.status_of(p.person_id) not in mql]
            if not behind:
                return
            self.cycle("another form fill, until they reach MQL", [self.fill_forms(p, 1) for p in behind])
        raise DemoError("the prospects did not reach MQL; check the MQL thresholds in lifecycle.toml")

    def run(self) -> None:
        world, sf = self.world, self.world.sandbox.sf
        self.cycle("first sync: backfill both CRMs into the ledger", [])
        candidates = self.prospects()
        if len(candidates) < 2:
            raise DemoError("the org has fewer than two prospects close to MQL; try a larger --persons")
        (accepted, forms_a), (ignored, forms_b) = candidates[0], candidates[1]
        self.until_mql([(accepted, forms_a), (ignored, forms_b)])
        rep = world.a_sales_rep()
        rep_name = f"{rep.get('FirstName', '')} {rep.get('LastName', '')}".strip() or str(rep["Id"])
        lead = accepted.sf_lead or ""
        sf.update_record("Lead", lead, {"Status": "Working - Contacted", "OwnerId": rep["Id"]}, str(rep["Id"]))
        self.cycle("sales accepts the lead", [f"sales: {rep_name} takes {accepted.name}'s lead and starts working it"])
        sf.log_call(lead, "No answer", "Intro call", world.clock.now() - timedelta(minutes=30), by_user=str(rep["Id"]))
        sf.log_call(lead, "Connected", "Intro call", world.clock.now(), by_user=str(rep["Id"]))
        sf.log_event(lead, "Discovery meeting", world.clock.now() + timedelta(days=2), by_user=str(rep["Id"]))
        self.cycle("the rep calls and books a meeting", [
            f"sales: {rep_name} calls {accepted.name}: no answer, then connected",
            f"sales: {rep_name} books a discovery meeting with {accepted.name} for in two days"])
        sf.convert_lead(lead, by_user=str(rep["Id"]))
        self.cycle("the rep converts the lead", [f"sales: {rep_name} converts {accepted.name}'s lead (with a deal)"])
        world.clock.advance(timedelta(days=3))
        app = world.app
        result = sweep(app.ledger, app.ruleset, app.clock(), epoch=NO_LEADER_EPOCH)
        self.cycle("an SLA is missed", [f"three days pass; nobody accepts {ignored.name}",
                                        f"SLA sweep: {len(result.breached)} clock(s) breached"],
                   breached_now=len(result.breached))
        self.cycle("quiet: nobody did anything", [])


def write_reports(world: World) -> dict[str, str]:
    folder = world.directory / "reports"
    folder.mkdir(exist_ok=True)
    window = Window.default(world.clock.now(), days=30)
    written = {}
    for name in ("funnel", "sla", "audit"):
        path = folder / f"{name}.html"
        path.write_text(render(build_report(name, world.app.ledger, world.ruleset, window), "html"), encoding="utf-8")
        written[name] = str(path)
    return written


def run_demo(settings: Settings, directory: Path, *, persons: int, seed: int = 42,
             on_cycle: Callable[[CycleSummary], None] | None = None) -> DemoResult:
    started = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    with World(settings, directory, persons, seed) as world:
        story = Story(world)
        if on_cycle is not None:
            original = story.cycle

            def announced(title: str, acted: list[str], *, breached_now: int = 0) -> CycleSummary:
                summary = original(title, acted, breached_now=breached_now)
                on_cycle(summary)
                return summary

            story.cycle = announced  # type: ignore[method-assign]
        story.run()
        reports = write_reports(world)
        (directory / "demo.toml").write_text(f'[ledger]\nurl = "{world.settings.ledger.url}"\n', encoding="utf-8")
        return DemoResult(str(directory), world.settings.ledger.url, persons, story.cycles, reports,
                          time.monotonic() - started)
