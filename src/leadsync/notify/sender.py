"""Deliver notifications without ever holding up a sync.

``Notifier.submit`` only puts the message on a bounded queue and returns; one background thread sends,
paced by a token bucket per endpoint, retrying connection errors, 429 and 5xx with exponential backoff
(at least ``Retry-After``), and giving up on other 4xx at once. What cannot be delivered (queue full,
retries exhausted, permanent refusal, shutdown deadline) is appended to a JSON-lines dead-letter file
with the reason, so nothing is silently lost. Webhook URLs carry secrets (Slack's do), so they are never
logged or dead-lettered: endpoints are named.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import random
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from leadsync.notify.events import Notification, json_payload, slack_payload

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    name: str  # what logs and dead letters call it
    url: str
    style: Literal["json", "slack"] = "json"
    secret: str | None = None  # signs JSON bodies: X-Leadsync-Signature: sha256=<hmac>

    def __post_init__(self) -> None:
        # Only web URLs: urllib would also open file: and ftp: URLs, which a webhook never is.
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"notification endpoint {self.name!r}: the URL must start with https:// or http://")

    def __repr__(self) -> str:  # never show the URL
        return f"Endpoint({self.name!r}, style={self.style!r})"


@dataclass(frozen=True)
class SenderPolicy:
    queue_size: int = 1_000
    max_attempts: int = 5
    backoff_base: float = 0.5  # seconds before the 2nd attempt; doubles each time
    backoff_max: float = 60.0
    rate_per_second: float = 1.0  # Slack accepts about one message per second per webhook
    burst: int = 5
    timeout: float = 5.0  # per HTTP request


class DeadLetters:
    """Append-only JSON lines: what could not be sent, to whom, and why (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def add(self, endpoint: Endpoint, note: Notification, reason: str, attempts: int) -> None:
        line = json.dumps({"endpoint": endpoint.name, "reason": reason, "attempts": attempts,
                           "recorded_at": time.time(), "notification": json_payload(note)})
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as stream:
                stream.write(line + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self._lock:
            return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def wait_time(self) -> float:
        """Seconds until a token is free (0: take it now, and it is taken)."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Permanent(Exception):
    """The receiver refused the message for good (4xx other than 429)."""


class Transient(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Stats:
    queued: int = 0
    sent: int = 0
    retried: int = 0
    dead_lettered: int = 0


class Notifier:
    def __init__(self, endpoints: list[Endpoint], dead_letters: DeadLetters, policy: SenderPolicy | None = None,
                 *, ca_file: Path | None = None) -> None:
        self.endpoints = endpoints
        self.dead_letters = dead_letters
        self.policy = policy or SenderPolicy()
        self.stats = Stats()
        self._stats_lock = threading.Lock()
        self._queue: queue.Queue[tuple[Endpoint, Notification]] = queue.Queue(self.policy.queue_size)
        self._buckets = {e.name: TokenBucket(self.policy.rate_per_second, self.policy.burst) for e in endpoints}
        self._context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        self._wake = threading.Event()
        self._deadline: float | None = None
        self._thread = threading.Thread(target=self._run, name="leadsync-notify", daemon=True)
        self._thread.start()

    # ---- the caller's side: never blocks ------------------------------------------------------------

    def submit(self, note: Notification) -> bool:
        """Queue ``note`` for every endpoint; False when something had to be dead-lettered instead."""
        ok = True
        for endpoint in self.endpoints:
            if self._deadline is not None:
                self._give_up(endpoint, note, "notifier closed", 0)
                ok = False
                continue
            try:
                self._queue.put_nowait((endpoint, note))
                self.stats.queued += 1
            except queue.Full:
                self._give_up(endpoint, note, "queue full", 0)
                ok = False
        return ok

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued for up to ``timeout`` seconds; dead-letter the rest."""
        self._deadline = time.monotonic() + timeout
        self._wake.set()
        self._thread.join(timeout + self.policy.timeout + 1)
        self._drain("shutdown before delivery")

    def _drain(self, reason: str) -> None:
        while True:
            try:
                endpoint, note = self._queue.get_nowait()
            except queue.Empty:
                return
            self._give_up(endpoint, note, reason, 0)

    # ---- the sender thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                endpoint, note = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._deadline is not None:
                    return
                continue
            if self._expired():
                self._give_up(endpoint, note, "shutdown before delivery", 0)
                continue
            self._deliver(endpoint, note)

    def _expired(self, delay: float = 0.0) -> bool:
        return self._deadline is not None and time.monotonic() + delay > self._deadline

    def _pause(self, seconds: float) -> None:
        if self._deadline is None:
            self._wake.wait(seconds)
        else:
            time.sleep(max(0.0, min(seconds, self._deadline - time.monotonic())))

    def _deliver(self, endpoint: Endpoint, note: Notification) -> None:
        policy = self.policy
        for attempt in range(1, policy.max_attempts + 1):
            wait = self._buckets[endpoint.name].wait_time()
            while wait > 0:
                if self._expired(wait):
                    self._give_up(endpoint, note, "shutdown before delivery", attempt - 1)
                    return
                self._pause(wait)
                wait = self._buckets[endpoint.name].wait_time()
            try:
                self._post(endpoint, note)
                self.stats.sent += 1
                return
            except Permanent as exc:
                self._give_up(endpoint, note, f"refused: {exc}", attempt)
                return
            except Transient as exc:
                if attempt == policy.max_attempts:
                    self._give_up(endpoint, note, f"gave up after {attempt} attempts: {exc}", attempt)
                    return
                delay = min(policy.backoff_max, policy.backoff_base * 2 ** (attempt - 1))
                delay = max(delay * random.uniform(0.5, 1.0), exc.retry_after or 0.0)
                if self._expired(delay):
                    self._give_up(endpoint, note, f"shutdown while retrying: {exc}", attempt)
                    return
                self.stats.retried += 1
                log.info("notification to %s failed (%s); retry %d in %.2fs", endpoint.name, exc, attempt, delay)
                self._pause(delay)

    def _post(self, endpoint: Endpoint, note: Notification) -> None:
        payload = slack_payload(note) if endpoint.style == "slack" else json_payload(note)
        body = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "leadsync-notify"}
        if endpoint.secret and endpoint.style == "json":
            digest = hmac.new(endpoint.secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
            headers["X-Leadsync-Signature"] = f"sha256={digest}"
        request = urllib.request.Request(endpoint.url, data=body, headers=headers, method="POST")  # noqa: S310 (scheme checked)
        try:
            with urllib.request.urlopen(  # noqa: S310 (scheme checked in Endpoint)
                    request, timeout=self.policy.timeout, context=self._context) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise Transient(f"HTTP {exc.code}", _retry_after(exc.headers.get("Retry-After"))) from None
            raise Permanent(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Transient(f"connection failed: {type(reason).__name__}") from None

    def _give_up(self, endpoint: Endpoint, note: Notification, reason: str, attempts: int) -> None:
        with self._stats_lock:  # the caller's thread and the sender thread both give up on messages
            self.stats.dead_lettered += 1
        log.warning("notification %s to %s not delivered: %s", note.kind.value, endpoint.name, reason)
        self.dead_letters.add(endpoint, note, reason, attempts)


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff

