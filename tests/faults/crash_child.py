"""A sync cycle in a child process that SIGKILLs itself at a named point (kill -9 tests).

Run as ``python -m tests.faults.crash_child`` with LEADSYNC_TEST_CRASH (JSON: ledger_url, sandbox_env,
clock_offset, point, nth). The point is armed by wrapping one real function of the engine; on its
``nth`` call the process kills itself with SIGKILL, so no ``finally``, no rollback and no flush runs:

- ``page``: the ``nth`` pulled page was ingested but its transaction not committed (mid-pull);
- ``cursor_commit``: inside the ``nth`` watermark save, before its transaction commits;
- ``before_write``: intents are committed as pending, no write call made yet;
- ``mid_batch``: Salesforce's batch was written and acknowledged, HubSpot's not yet sent;
- ``after_ack``: every write acknowledged, no outcome committed;
- ``outcome_commit``: outcomes, transitions and the cursor staged in the transaction, not committed.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from typing import Any

from leadsync.app import sandbox_connectors
from leadsync.ledger import open_ledger
from leadsync.ledger.watermarks import WatermarkRepository
from leadsync.sandbox.server import SandboxClock
from leadsync.sync import apply as applying
from leadsync.sync import cycle
from leadsync.sync.cycle import SyncEngine

from .harness import RULESET, engine_config, settings_for_tests

SPEC_ENV = "LEADSYNC_TEST_CRASH"
POINTS = ("page", "cursor_commit", "before_write", "mid_batch", "after_ack", "outcome_commit")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def armed(original: Callable[..., Any], nth: int, *, before: bool) -> Callable[..., Any]:
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if before and calls == nth:
            die()
        result = original(*args, **kwargs)
        if not before and calls == nth:
            die()
        return result
    return wrapper


def arm(point: str, nth: int, engine: SyncEngine) -> None:
    if point == "page":
        cycle.ingest_page = armed(cycle.ingest_page, nth, before=False)  # type: ignore[assignment]
    elif point == "cursor_commit":
        WatermarkRepository.save = armed(WatermarkRepository.save, nth, before=False)  # type: ignore[method-assign]
    elif point == "before_write":
        applying.call_connectors = armed(applying.call_connectors, 1, before=True)  # type: ignore[assignment]
    elif point == "after_ack":
        applying.call_connectors = armed(applying.call_connectors, 1, before=False)  # type: ignore[assignment]
    elif point == "outcome_commit":
        applying.record_outcomes = armed(applying.record_outcomes, 1, before=False)  # type: ignore[assignment]
    elif point == "mid_batch":
        hubspot = next(c for c in engine.connectors.values() if c.system.value == "hubspot")
        hubspot.apply = armed(hubspot.apply, 1, before=True)  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown crash point {point!r}")


def main() -> int:
    spec = json.loads(os.environ[SPEC_ENV])
    clock = SandboxClock()
    clock.set_offset(float(spec["clock_offset"]))
    ledger = open_ledger(spec["ledger_url"])
    connectors = sandbox_connectors(settings_for_tests(), RULESET, spec["sandbox_env"])
    engine = SyncEngine(ledger, RULESET, connectors, engine_config(), clock.now)
    arm(spec["point"], int(spec["nth"]), engine)
    engine.run_once()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
