"""Preflight: before leadsync writes anything, every mapped field is described in the org it lives in.

Each connector checks its own system's mapping lines (``problems_for_mappings``): a field leadsync writes
must exist, be writable by the integration user and offer every value the rules can write to it; a field
it only reads must exist. This module runs both, collects every problem (an admin fixes them all in one
pass, not one per restart) and turns them into :class:`PreflightFailed`, whose message names each mapping
line as ``file:line: system object.field: problem``. There is no fallback: a sync with a failed preflight
writes nothing.

:class:`PreflightGate` keeps a passing result so a daemon does not describe the org every cycle: the
check runs again when the rule-set version changes and once the pass is ``max_age`` old (an admin can
change the org under a running daemon). A failing result is never reused, so a fixed org is noticed on
the next cycle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from leadsync.connectors.port import CrmConnector, PreflightProblem
from leadsync.domain.contact_status import ContactStatusRules
from leadsync.domain.fields import FieldMappings
from leadsync.domain.lifecycle import LifecycleRules
from leadsync.rules.ruleset import RuleSet

DEFAULT_MAX_AGE_SECONDS = 3600.0


@runtime_checkable
class MappingChecker(Protocol):
    """A connector that can check every mapping line of its system against the org's metadata."""

    def problems_for_mappings(self, mappings: FieldMappings, lifecycle: LifecycleRules,
                              contact_status: ContactStatusRules) -> list[PreflightProblem]: ...


def located(problem: PreflightProblem) -> str:
    """``fields.toml:50: hubspot contacts.lifecyclestage: ...``: the line an admin must open first."""
    return f"{problem.where}: {problem.system.value} {problem.object}.{problem.field}: {problem.problem}"


class PreflightFailed(Exception):
    """Mapped fields cannot be written as the rules need; ``problems`` lists every one."""

    def __init__(self, problems: Sequence[PreflightProblem]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  {located(p)}" for p in self.problems)
        count = len(self.problems)
        super().__init__(f"preflight failed: {count} mapping line{'s' if count != 1 else ''} cannot be used as "
                         f"the rules need (nothing was written):\n{lines}")

    @property
    def lines(self) -> list[str]:
        return [located(p) for p in self.problems]


@dataclass(frozen=True)
class PreflightResult:
    """One preflight: the rule-set version checked, what is wrong, and the API calls it spent per system
    (zero everywhere when the result came from the gate's cache)."""

    version: str
    problems: tuple[PreflightProblem, ...]
    calls: dict[str, int]
    cached: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def lines(self) -> list[str]:
        return [located(p) for p in self.problems]

    def raise_if_failed(self) -> None:
        if self.problems:
            raise PreflightFailed(self.problems)


def run_preflight(ruleset: RuleSet, connectors: Sequence[CrmConnector]) -> PreflightResult:
    """Check every mapping line with every connector; each object is described once per connector."""
    problems: list[PreflightProblem] = []
    calls: dict[str, int] = {}
    for connector in connectors:
        if not isinstance(connector, MappingChecker):
            # Every real connector can check; one that cannot must not be trusted to write.
            raise TypeError(f"{type(connector).__name__} cannot check field mappings (no problems_for_mappings)")
        before = connector.calls().total
        problems.extend(connector.problems_for_mappings(ruleset.fields, ruleset.lifecycle, ruleset.contact_status))
        calls[connector.system.value] = connector.calls().total - before
    problems.sort(key=lambda p: (_line_order(p.where), p.system.value, p.object, p.field))
    return PreflightResult(ruleset.version, tuple(problems), calls)


def _line_order(where: str) -> tuple[str, int]:
    """Sort by file, then by line number as a number (``:9`` before ``:10``)."""
    name, _, line = where.rpartition(":")
    return (name, int(line)) if line.isdigit() else (where, 0)


@dataclass
class PreflightGate:
    """Reuses a passing preflight for the same rule-set version for ``max_age_seconds``. Thread-safe:
    the daemon's jobs may ask from the scheduler's worker threads."""

    max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS
    monotonic: Callable[[], float] = time.monotonic
    last: PreflightResult | None = None
    _passed: dict[str, float] = field(default_factory=dict)  # rule-set version -> when it last passed
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, ruleset: RuleSet, connectors: Sequence[CrmConnector], *, force: bool = False) -> PreflightResult:
        with self._lock:
            passed_at = self._passed.get(ruleset.version)
            if not force and passed_at is not None and self.monotonic() - passed_at < self.max_age_seconds:
                return PreflightResult(ruleset.version, (), {}, cached=True)
            result = run_preflight(ruleset, connectors)
            if result.ok:
                self._passed = {ruleset.version: self.monotonic()}  # an older version's pass is no longer wanted
            else:
                self._passed.pop(ruleset.version, None)
            self.last = result
            return result

    def require(self, ruleset: RuleSet, connectors: Sequence[CrmConnector]) -> PreflightResult:
        """A passing result, or :class:`PreflightFailed` naming every mapping line at fault."""
        result = self.check(ruleset, connectors)
        result.raise_if_failed()
        return result
