"""The operator's HTTP endpoint (stdlib server on its own thread): ``/healthz``, ``/readyz``, ``/metrics``.

``/healthz`` answers 200 while the process lives. ``/readyz`` answers 200 when the ledger is reachable,
the last successful cycle (by any replica: read from the ledger) is recent, and this process is the
leader or a standby; otherwise 503 with the reason. ``/metrics`` is Prometheus text.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from leadsync.daemon.leadership import Leadership, Role
from leadsync.daemon.metrics import CONTENT_TYPE, DaemonMetrics
from leadsync.daemon.snapshot import LedgerSnapshot, take
from leadsync.ledger import Ledger, LedgerError
from leadsync.logging import get_logger

log = get_logger(__name__)
STALE_AFTER_INTERVALS = 3
SNAPSHOT_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class Readiness:
    ready: bool
    role: str
    reason: str
    last_good_cycle_age_seconds: float | None


class HealthState:
    """Reads the ledger at most every few seconds, however often probes and scrapers call."""

    def __init__(self, ledger: Ledger, leadership: Leadership, metrics: DaemonMetrics, *, sync_interval: float,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.ledger = ledger
        self.leadership = leadership
        self.metrics = metrics
        self.sync_interval = sync_interval
        self.now = now
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._cached: tuple[float, LedgerSnapshot | str] | None = None
        # Short against the interval, so a cached read never makes a healthy replica look stale.
        self.ttl = min(SNAPSHOT_TTL_SECONDS, sync_interval / 4)

    def snapshot(self) -> LedgerSnapshot | str:
        """The ledger snapshot, or the reason the ledger could not be read."""
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.ttl:
                return self._cached[1]
            try:
                with self.ledger.reading() as uow:
                    result: LedgerSnapshot | str = take(uow)
            except LedgerError as exc:
                result = f"ledger unreachable: {exc}"
            except Exception as exc:  # a probe must answer, whatever the driver raised
                result = f"ledger unreachable: {type(exc).__name__}"
            self._cached = (time.monotonic(), result)
            return result

    def readiness(self) -> Readiness:
        role = self.leadership.role()
        snap = self.snapshot()
        if isinstance(snap, str):
            return Readiness(False, role.value, snap, None)
        age = None if snap.last_good_cycle is None else (self.now() - snap.last_good_cycle).total_seconds()
        if role is Role.STOPPED:
            return Readiness(False, role.value, "shutting down", age)
        limit = STALE_AFTER_INTERVALS * self.sync_interval
        if age is not None and age < limit:
            return Readiness(True, role.value, f"{role.value}; last good cycle {age:.0f}s ago", age)
        if time.monotonic() - self.started < self.sync_interval:
            return Readiness(True, role.value, f"{role.value}; starting, first cycle not due yet", age)
        shown = "no successful cycle yet" if age is None else f"last good cycle {age:.0f}s ago (limit {limit:.0f}s)"
        return Readiness(False, role.value, shown, age)

    def metrics_text(self) -> bytes:
        self.metrics.leader.set(1 if self.leadership.is_leader() else 0)
        snap = self.snapshot()
        if isinstance(snap, str):
            self.metrics.ledger_up.set(0)
        else:
            self.metrics.ledger_up.set(1)
            self.metrics.quarantined.set(snap.quarantined)
            self.metrics.sla_breaches.set(len(snap.open_breaches))
            if snap.last_good_cycle is not None:
                self.metrics.last_good_age.set(max(0.0, (self.now() - snap.last_good_cycle).total_seconds()))
        return self.metrics.render()


def _handler(state: HealthState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "leadsync"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200, "text/plain; charset=utf-8", b"ok\n")
            elif path == "/readyz":
                ready = state.readiness()
                body = json.dumps({"ready": ready.ready, "role": ready.role, "reason": ready.reason,
                                   "last_good_cycle_age_seconds": ready.last_good_cycle_age_seconds})
                self._send(200 if ready.ready else 503, "application/json", body.encode() + b"\n")
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE, state.metrics_text())
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found: try /healthz, /readyz or /metrics\n")

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes every few seconds would drown the log; failures show in /readyz instead

    return Handler


class HealthServer:
    def __init__(self, state: HealthState, host: str, port: int) -> None:
        try:
            self._server = ThreadingHTTPServer((host, port), _handler(state))
        except OSError as exc:
            raise OSError(f"cannot serve health on {host}:{port} ([daemon] health_port): {exc.strerror}") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="leadsync-health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
