"""The one composition root: settings in, a rule set, a ledger and both connectors out.

Nothing else in leadsync builds a connector or opens the ledger for the sync. With ``[sandbox] enabled``
(the default, so a fresh checkout runs end to end) the connectors talk to the sandbox emulators: a
running ``leadsync sandbox serve`` when its ``LEADSYNC_SANDBOX_*`` variables are in the environment,
else an embedded :class:`~leadsync.sandbox.runtime.Sandbox` seeded from ``[sandbox] persons/seed`` and
stopped with the app. Otherwise the real org and portal from ``[salesforce]`` and ``[hubspot]``.

Before an engine is handed out for a run that writes, the preflight describes every mapped field
(:mod:`leadsync.sync.preflight`); a failed one raises :class:`~leadsync.sync.preflight.PreflightFailed`
naming each mapping line, and nothing is written. A dry run plans anyway and reports the problems.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from leadsync.config.settings import Settings
from leadsync.connectors.port import CrmConnector
from leadsync.ledger import Ledger, LedgerError, open_ledger
from leadsync.ledger.fencing import NO_LEADER_EPOCH
from leadsync.logging import get_logger
from leadsync.rules.ruleset import RuleSet, load_ruleset
from leadsync.sync.cycle import EngineConfig, SyncEngine
from leadsync.sync.preflight import PreflightGate, PreflightResult
from leadsync.sync.state import ensure_tables

if TYPE_CHECKING:
    from leadsync.notify import Notifier
    from leadsync.sandbox.runtime import Sandbox

SANDBOX_ENV = "LEADSYNC_SANDBOX_SF_URL"


class AppError(Exception):
    """The app cannot be built (ledger schema, sandbox, credentials); the message says what to do."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    settings: Settings
    ruleset: RuleSet
    ledger: Ledger
    connectors: list[CrmConnector] = field(default_factory=list)
    sandbox: Sandbox | None = None
    # The Salesforce login the connectors really use when it is not in the settings (the sandbox's): routing
    # must know it, since a lead owned by the integration user is unassigned.
    salesforce_login: str | None = None
    notes: list[str] = field(default_factory=list)  # what the root did on the user's behalf
    clock: Callable[[], datetime] = utc_now
    gate: PreflightGate = field(default_factory=PreflightGate)  # one per app: the daemon's lives as long as it
    _notifier: Notifier | None = None
    _notifier_built: bool = False

    def notifier(self) -> Notifier | None:
        """The notifier for the configured webhooks (``[notifications]``), started on first use and closed
        with the app (what is still queued then gets a few seconds, then goes to the dead letters); None
        when no webhook is configured."""
        if not self._notifier_built:
            from leadsync.daemon.wiring import dead_letter_path  # the daemon keeps its dead letters there too
            from leadsync.notify import notifier_from_settings

            self._notifier = notifier_from_settings(self.settings.notifications, dead_letter_path(self.settings))
            self._notifier_built = True
        return self._notifier

    def preflight(self, *, force: bool = False) -> PreflightResult:
        """Describe every mapped field (or reuse this rule-set version's recent pass)."""
        return self.gate.check(self.ruleset, self.connectors, force=force)

    def engine(self, *, dry_run: bool = False, epoch: int = NO_LEADER_EPOCH) -> SyncEngine:
        """The sync engine over this app's connectors. For a run that writes, the preflight must pass
        (:class:`PreflightFailed` otherwise); a dry run still plans, and ``gate.last`` holds the problems
        its report should show."""
        result = self.preflight()
        if not dry_run:
            result.raise_if_failed()
        config = self.engine_config(epoch=epoch)
        return SyncEngine(self.ledger, self.ruleset, self.connectors, config, self.clock,
                          notifier=None if dry_run else self.notifier())

    def engine_config(self, *, epoch: int = NO_LEADER_EPOCH, keep_plans: bool = False) -> EngineConfig:
        """The engine's configuration from the settings, with the login the connectors really use."""
        config = EngineConfig.from_settings(self.settings, epoch=epoch, keep_plans=keep_plans)
        login = (self.salesforce_login or "").strip().lower()
        if "@" not in login:
            return config
        return dataclasses.replace(config, integration_users=config.integration_users | {login})

    def preflight_problems(self) -> list[str]:
        """The located problems of the last preflight (empty when it passed or was not run)."""
        last = self.gate.last
        return [] if last is None else last.lines

    def close(self) -> None:
        if self._notifier is not None:
            self._notifier.close()
            self._notifier = None
        for connector in self.connectors:
            closer = getattr(connector, "close", None)
            if callable(closer):
                closer()
        self.ledger.close()
        if self.sandbox is not None:
            self.sandbox.stop()

    def __enter__(self) -> App:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def build_app(settings: Settings, *, connectors: bool = True) -> App:
    """Everything a command needs; ``connectors=False`` for ledger-only commands (``score explain``)."""
    ruleset = load_ruleset(settings.daemon.mappings_dir)
    notes: list[str] = []
    horizon = ruleset.sla.calendar.horizon_warning(utc_now().date())
    if horizon is not None:
        notes.append(horizon)
        get_logger("leadsync.app").warning("calendar horizon", warning=horizon)
    ledger = open_sync_ledger(settings, notes, create=connectors)
    app = App(settings, ruleset, ledger, notes=notes)
    if not connectors:
        return app
    try:
        app.connectors, app.sandbox = open_connectors(settings, ruleset, notes)
        if settings.sandbox.enabled:
            env = app.sandbox.env() if app.sandbox is not None else os.environ
            app.salesforce_login = env.get("LEADSYNC_SANDBOX_SF_USERNAME")
    except BaseException:
        app.close()
        raise
    return app


def open_connectors(settings: Settings, ruleset: RuleSet, notes: list[str]) -> tuple[list[CrmConnector],
                                                                                    Sandbox | None]:
    """Both connectors as configured, and the embedded sandbox started for them (the caller stops it)."""
    if not settings.sandbox.enabled:
        return _real_connectors(settings, ruleset), None
    env: Mapping[str, str]
    sandbox: Sandbox | None = None
    if os.environ.get(SANDBOX_ENV):
        env = os.environ
        notes.append(f"using the running sandbox at {env[SANDBOX_ENV]}")
    else:
        sandbox = _start_sandbox(settings)
        env = sandbox.env()
        notes.append(f"started an embedded sandbox ({settings.sandbox.persons} persons, seed {settings.sandbox.seed})")
    try:
        return sandbox_connectors(settings, ruleset, env), sandbox
    except BaseException:
        if sandbox is not None:
            sandbox.stop()
        raise


@contextlib.contextmanager
def connected(settings: Settings, ruleset: RuleSet, notes: list[str]) -> Iterator[list[CrmConnector]]:
    """The configured connectors without a ledger (``mappings validate --online``), closed afterwards."""
    connectors, sandbox = open_connectors(settings, ruleset, notes)
    try:
        yield connectors
    finally:
        for connector in connectors:
            closer = getattr(connector, "close", None)
            if callable(closer):
                closer()
        if sandbox is not None:
            sandbox.stop()


def open_sync_ledger(settings: Settings, notes: list[str], *, create: bool = True) -> Ledger:
    """The ledger at ``[ledger] url``, its schema current (upgraded only with ``auto_upgrade``, or, with
    ``create``, for a sandbox run on a SQLite file that does not exist yet), plus the sync engine's tables."""
    url = settings.ledger.url
    fresh_file = _fresh_sqlite_file(url)
    if fresh_file is not None and not create:
        raise AppError(f"no ledger at {fresh_file} yet: run `leadsync sync --once` first")
    upgrade = settings.ledger.auto_upgrade or (settings.sandbox.enabled and fresh_file is not None)
    try:
        ledger = open_ledger(url, auto_upgrade=upgrade, echo=settings.ledger.echo_sql)
    except LedgerError as exc:
        raise AppError(str(exc)) from exc
    if fresh_file is not None and upgrade and not settings.ledger.auto_upgrade:
        notes.append(f"created a fresh sandbox ledger at {fresh_file} (schema upgraded to head)")
    ensure_tables(ledger)
    return ledger


def _fresh_sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url.endswith(":memory:"):
        return None
    path = Path(url[len(prefix):])
    return path if not path.exists() or path.stat().st_size == 0 else None


def _real_connectors(settings: Settings, ruleset: RuleSet) -> list[CrmConnector]:
    from leadsync.connectors.hubspot import HubSpotConnector
    from leadsync.connectors.salesforce import SalesforceConnector

    built: list[CrmConnector] = []
    if settings.salesforce.enabled:
        built.append(SalesforceConnector.from_settings(settings, ruleset.fields))
    if settings.hubspot.enabled:
        built.append(HubSpotConnector.from_settings(settings, ruleset.fields))
    return built


def _start_sandbox(settings: Settings) -> Sandbox:
    from leadsync.sandbox.runtime import Sandbox

    section = settings.sandbox
    sandbox = Sandbox(persons=section.persons, seed=section.seed, sf_port=section.sf_port, hs_port=section.hs_port)
    try:
        return sandbox.start()
    except OSError as exc:
        raise AppError(f"cannot start the embedded sandbox: {exc}") from exc


def sandbox_connectors(settings: Settings, ruleset: RuleSet, env: Mapping[str, str]) -> list[CrmConnector]:
    """Both connectors pointed at a sandbox described by its ``LEADSYNC_SANDBOX_*`` variables."""
    from leadsync.connectors.hubspot import HubSpotConnector
    from leadsync.connectors.salesforce import SalesforceConnector

    def need(name: str) -> str:
        value = env.get(f"LEADSYNC_SANDBOX_{name}")
        if not value:
            raise AppError(f"LEADSYNC_SANDBOX_{name} is not set; start `leadsync sandbox serve` and export its output")
        return value

    ca = Path(need("CA"))
    sf_section = settings.salesforce.model_copy(update={
        "auth": "username_password", "login_url": need("SF_URL"), "username": need("SF_USERNAME"),
        "client_id": need("SF_CLIENT_ID"), "ca_bundle": ca,
    })
    sandboxed = settings.model_copy(update={"salesforce": sf_section})
    secrets: dict[str, Any] = {"password": need("SF_PASSWORD"), "security_token": need("SF_SECURITY_TOKEN"),
                               "client_secret": need("SF_CLIENT_SECRET")}
    return [
        SalesforceConnector.from_settings(sandboxed, ruleset.fields, credentials_overrides=secrets),
        HubSpotConnector.from_settings(sandboxed, ruleset.fields, access_token=need("HS_TOKEN"),
                                       host=need("HS_URL"), ca_bundle=ca),
    ]
