"""What a cycle records about itself: its kind, and ABORTED (not FAILED) when the daemon stops it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadsync.connectors.memory import MemoryConnector
from leadsync.daemon.jobs import RunStopped
from leadsync.domain.model import System
from leadsync.domain.watermark import Watermark, Window
from leadsync.ledger import RunStatus

from .conftest import World, table_counts
from .helpers import form_fill


class StoppingConnector(MemoryConnector):
    """Stops the run (as the daemon's checkpoint does at shutdown) once ``pages_before_stop`` pages went by."""

    pages_before_stop = 2

    def pull(self, stream: str, mark: Watermark, window: Window) -> Iterator:  # type: ignore[type-arg]
        for page in super().pull(stream, mark, window):
            if self.pages_before_stop == 0:
                raise RunStopped("shutdown requested")
            self.pages_before_stop -= 1
            yield page


def test_a_run_stopped_at_a_checkpoint_is_aborted_and_resumes_from_what_committed(world: World) -> None:
    world.sf = StoppingConnector(System.SALESFORCE, world.clock, page_size=3)
    for n in range(7):
        world.sf.add_person("lead", f"00Q{n}", email=f"p{n}@acme-corp.io", fields={"email": f"p{n}@acme-corp.io"})
        form_fill(world, System.SALESFORCE, "lead", f"00Q{n}", f"task-{n}")
    with pytest.raises(RunStopped):
        world.cycle()
    with world.ledger.reading() as uow:
        [run] = uow.runs.latest(1)
    assert run.status is RunStatus.ABORTED and run.kind == "sync"
    assert any("shutdown requested" in e for e in run.errors)
    assert table_counts(world.ledger)["persons"] == 6  # two pages of three leads committed

    world.sf.pages_before_stop = 1_000
    report = world.cycle()
    assert report.status == "succeeded"
    assert table_counts(world.ledger)["persons"] == 7 and table_counts(world.ledger)["sync_dirty"] == 0


def test_a_rescore_is_recorded_as_a_rescore_run(world: World) -> None:
    world.sf.add_person("lead", "00Q1", email="a@acme-corp.io", fields={"email": "a@acme-corp.io"})
    sync = world.cycle()
    world.clock.advance(hours=1)
    rescore = world.engine().run_once(rescore_all=True)
    with world.ledger.reading() as uow:
        kinds = {uow.runs.get(r.run_id).kind for r in (sync, rescore)}
        assert uow.runs.get(rescore.run_id).counts["people_evaluated"] == 1
    assert kinds == {"sync", "rescore"}
