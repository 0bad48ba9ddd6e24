"""A small threaded HTTPS server that the emulators plug routes into.

Why not a web framework: the emulators need exact control of status codes, headers and connection
behaviour (a reset before the handler, a dropped answer after a commit) for fault injection, and the
standard library's server gives that with no extra dependency. HTTP/1.1 keep-alive is on, so the real
clients reuse connections as they do against the real APIs.

Each emulator subclasses :class:`Emulator`, registers routes with :meth:`Emulator.route` and keeps its
state behind ``self.lock`` (one request mutates state at a time; reads are cheap enough).

Control endpoint, on every emulator (loopback only, no auth, test tooling):
  ``GET /__control/counters``, ``POST /__control/counters/reset``,
  ``GET|POST|DELETE /__control/faults`` (POST body: one fault as JSON, see :class:`Fault`),
  ``POST /__control/clock`` (``{"offset_seconds": N}``).
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from leadsync.sandbox.faults import (
    DELAY,
    DROP_AFTER_COMMIT,
    RESET,
    STATUS,
    CallCounter,
    Fault,
    FaultPlan,
)


class SandboxClock:
    """The emulators' notion of server time: real time plus a settable offset (clock-skew tests)."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)

    def now(self) -> datetime:
        """Strictly increasing server time, so two changes never share a modstamp by accident.

        Ties still happen on purpose (bulk imports set one stamp on many records); they are made by
        the emulators, not by the clock's resolution.
        """
        with self._lock:
            current = datetime.now(UTC) + self._offset
            if current <= self._last:
                current = self._last + timedelta(microseconds=1000)
            self._last = current
            return current

    def set_offset(self, seconds: float) -> None:
        """Skew the server clock. Setting it back is allowed to make time go backwards: that is what a
        clock-skew test injects (rows stamped earlier than rows already seen)."""
        with self._lock:
            self._offset = timedelta(seconds=seconds)
            self._last = datetime.min.replace(tzinfo=UTC)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json;charset=UTF-8"

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


Handler = Callable[[Request], Response]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Handler


class _DropConnection(Exception):
    """Close the socket without writing an answer."""


class Emulator:
    """Base of both emulators: routing, TLS server lifecycle, counters, faults, control endpoint."""

    system = "base"

    def __init__(self, clock: SandboxClock | None = None) -> None:
        self.clock = clock or SandboxClock()
        self.faults = FaultPlan()
        self.counters = CallCounter()
        self.lock = threading.RLock()
        self._routes: list[Route] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self._install_control_routes()

    # ----- routing -------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, name: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` and a path regex (named groups become ``params``)."""
        self._routes.append(Route(method, re.compile(f"^{pattern}$"), name, handler))

    def dispatch(self, request: Request) -> tuple[str, Response]:
        allowed = False
        for route in self._routes:
            match = route.pattern.match(request.path)
            if not match:
                continue
            allowed = True
            if route.method != request.method:
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            return route.name, self._run(route, request)
        if allowed:
            return "method_not_allowed", self.error_response(405, "METHOD_NOT_ALLOWED", "HTTP method not allowed")
        return "not_found", self.error_response(404, "NOT_FOUND", "The requested resource does not exist")

    def _run(self, route: Route, request: Request) -> Response:
        if route.name.startswith("control."):
            return route.handler(request)
        self.counters.hit(route.name)
        fault = self.faults.take(route.name, (STATUS, RESET, DROP_AFTER_COMMIT, DELAY))
        if fault is not None and fault.kind == RESET:
            raise _DropConnection
        if fault is not None and fault.kind == STATUS:
            return self.fault_response(fault)
        response = self.authorize(request, route.name) or route.handler(request)
        if fault is not None and fault.kind == DROP_AFTER_COMMIT:
            raise _DropConnection
        if fault is not None and fault.kind == DELAY:
            time.sleep(fault.seconds)
        self.decorate(response, route.name)
        return response

    # ----- hooks for subclasses ------------------------------------------------------------------
    def authorize(self, request: Request, endpoint: str) -> Response | None:
        """Return an error response when the request is not authenticated; ``None`` lets it through."""
        return None

    def decorate(self, response: Response, endpoint: str) -> None:
        """Add per-response headers (usage and rate-limit headers)."""

    def error_response(self, status: int, code: str, message: str) -> Response:
        return Response(status, {"message": message, "errorCode": code})

    def fault_response(self, fault: Fault) -> Response:
        body = fault.body if fault.body is not None else {"message": "injected fault", "status": fault.status}
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        return Response(fault.status, body, headers)

    # ----- control endpoint ----------------------------------------------------------------------
    def _install_control_routes(self) -> None:
        def counters(_: Request) -> Response:
            return Response(200, {"total": self.counters.total(), "endpoints": self.counters.snapshot()})

        def reset_counters(_: Request) -> Response:
            self.counters.reset()
            return Response(204)

        def list_faults(_: Request) -> Response:
            return Response(200, [f.to_json() for f in self.faults.list()])

        def add_fault(request: Request) -> Response:
            try:
                fault = self.faults.add(Fault.from_json(request.json() or {}))
            except (ValueError, TypeError) as exc:
                return Response(400, {"message": str(exc)})
            return Response(201, fault.to_json())

        def clear_faults(_: Request) -> Response:
            self.faults.clear()
            return Response(204)

        def set_clock(request: Request) -> Response:
            body = request.json() or {}
            self.clock.set_offset(float(body.get("offset_seconds", 0)))
            return Response(200, {"now": self.clock.now().isoformat()})

        self.route("GET", "/__control/counters", "control.counters", counters)
        self.route("POST", "/__control/counters/reset", "control.counters_reset", reset_counters)
        self.route("GET", "/__control/faults", "control.faults", list_faults)
        self.route("POST", "/__control/faults", "control.faults_add", add_fault)
        self.route("DELETE", "/__control/faults", "control.faults_clear", clear_faults)
        self.route("POST", "/__control/clock", "control.clock", set_clock)

    # ----- server lifecycle ----------------------------------------------------------------------
    def start(self, context: ssl.SSLContext, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve over TLS in a background thread; returns the base URL (``https://127.0.0.1:PORT``)."""
        emulator = self

        class _Handler(_RequestHandler):
            owner = emulator

        server = _TLSServer((host, port), _Handler, context)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"{self.system}-emulator", daemon=True
        )
        self._thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("emulator not started")
        return f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 context: ssl.SSLContext) -> None:
        self.context = context
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the connection's own thread, so a slow client never
        # stalls the accept loop.
        try:
            # Answers go out as one write; without NODELAY, Nagle plus delayed ACK adds ~40 ms a call.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls.close()


class _RequestHandler(BaseHTTPRequestHandler):
    owner: Emulator
    protocol_version = "HTTP/1.1"
    server_version = "leadsync-sandbox"
    sys_version = ""
    # Buffer the answer and flush once (headers and body in one TLS record where possible).
    wbufsize = 64 * 1024

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header follows the sandbox clock, so clock-skew tests skew what clients see too."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        return email.utils.format_datetime(self.owner.clock.now().astimezone(UTC), usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and the demo read counters, not access logs."""

    def _handle(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            _, response = self.owner.dispatch(request)
        except _DropConnection:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        except Exception as exc:  # an emulator bug must show as a 500, not a hung client
            response = Response(500, [{"message": f"sandbox error: {exc!r}", "errorCode": "UNKNOWN_EXCEPTION"}])
        payload = response.encode()
        self.send_response(response.status)
        if payload or response.status not in (204, 304):
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)
        self.wfile.flush()

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle
