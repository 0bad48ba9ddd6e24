"""One HTTP policy for both connectors: classify every failure once, retry only what can succeed later.

Classification (pure functions of status, headers and body, one per vendor):
  :func:`classify_salesforce`, :func:`classify_hubspot`, and :func:`classify_transport` for failures
  that never produced a reply (connection refused or reset, timeouts, TLS).
Retrying (:class:`HttpPolicy`): tenacity with exponential backoff and jitter, never shorter than the
  server's ``Retry-After``, bounded in attempts and in total time, and only for
  :class:`~leadsync.connectors.errors.TransientError` (429, 5xx, connection errors, timeouts, lock
  errors). A 401 ``INVALID_SESSION_ID`` triggers at most one re-login per call and a few per minute.
Writes (``call(..., write=True)``) are retried only on failures that prove the server did not act: a
  429, a 503, a 423 or a record-lock error (the server refused), or a connection that was never made
  (refused, connect timeout, name resolution). A read timeout, a reset after the request went out or
  another 5xx (a gateway may have passed it on) may come after the commit: they end the call with
  :class:`~leadsync.connectors.errors.ResponseLost`, and the connector reads its targets back.
"""

from __future__ import annotations

import email.utils
import json
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
import tenacity
import urllib3.exceptions

from leadsync.connectors.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    ResponseLost,
    SessionExpired,
    TransientError,
)
from leadsync.connectors.ratelimit import DEFAULT_KIND, CallCounters, Clock, RateLimiter, Sleep

T = TypeVar("T")

SALESFORCE = "salesforce"
HUBSPOT = "hubspot"

# Salesforce error codes that mean "another transaction holds the row": retry with jitter.
SALESFORCE_LOCK_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})
SALESFORCE_QUOTA_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED"})
HUBSPOT_DAILY_POLICIES = frozenset({"DAILY"})


@dataclass(frozen=True)
class HttpReply:
    """The parts of an HTTP answer the classifier needs, whichever client produced it."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class Timeouts:
    """Every call gets both: ``connect`` for the TCP/TLS handshake, ``read`` between bytes of the answer."""

    connect: float = 5.0
    read: float = 30.0

    def as_tuple(self) -> tuple[float, float]:
        return (self.connect, self.read)


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 6
    # No retry starts if its wait would end later than this many seconds after the first attempt.
    max_total_seconds: float = 120.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    relogins_per_minute: int = 3


# ----- classification ------------------------------------------------------------------------------


def parse_body(body: Any) -> Any:
    """Bytes or text -> parsed JSON when it is JSON, else the text; parsed bodies pass through."""
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            return json.loads(body) if body.strip() else None
        except ValueError:
            return body
    return body


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds (fractions kept) or as an HTTP date; ``None`` when absent or garbled."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, seconds) if seconds == seconds else None  # NaN check


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _salesforce_errors(body: Any) -> list[dict[str, Any]]:
    """Salesforce answers errors as ``[{"message","errorCode","fields"}]``; tolerate a lone object."""
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return []
    return [item for item in body if isinstance(item, dict)]


def classify_salesforce(reply: HttpReply) -> ConnectorError | None:
    """``None`` for a success (< 300); otherwise the one error this reply means."""
    if reply.status < 300:
        return None
    errors = _salesforce_errors(parse_body(reply.body))
    first = errors[0] if errors else {}
    code = str(first.get("errorCode") or first.get("error") or "") or None
    message = str(first.get("message") or first.get("error_description") or f"HTTP {reply.status}")
    fields = tuple(str(f) for f in first.get("fields") or ())
    codes = {str(e.get("errorCode")) for e in errors}
    common: dict[str, Any] = {"system": SALESFORCE, "status": reply.status, "error_code": code}
    retry_after = parse_retry_after(_header(reply.headers, "Retry-After"))
    if codes & SALESFORCE_QUOTA_CODES:
        return QuotaExhausted(message, **common)
    if codes & SALESFORCE_LOCK_CODES:
        return TransientError(message, fields=fields, retry_after=retry_after, **common)
    if reply.status == 429:
        return RateLimited(message, retry_after=retry_after, **common)
    if reply.status >= 500:
        return TransientError(message, retry_after=retry_after, **common)
    if reply.status == 401:
        if code == "INVALID_SESSION_ID":
            return SessionExpired(message, **common)
        return AuthError(message, **common)
    return PermanentError(message, fields=fields, **common)


def _hubspot_fields(body: dict[str, Any]) -> tuple[str, ...]:
    names: list[str] = []
    for item in body.get("errors") or ():
        context = item.get("context") if isinstance(item, dict) else None
        if isinstance(context, dict):
            value = context.get("propertyName")
            if isinstance(value, str):
                names.append(value)
    return tuple(dict.fromkeys(names))


def classify_hubspot(reply: HttpReply) -> ConnectorError | None:
    """``None`` for a success (2xx, 207 included: partial batch results are the engine's business)."""
    if reply.status < 300:
        return None
    parsed = parse_body(reply.body)
    body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
    message = str(body.get("message") or f"HTTP {reply.status}")
    code = str(body.get("category") or body.get("errorType") or "") or None
    policy_name = body.get("policyName")
    common: dict[str, Any] = {"system": HUBSPOT, "status": reply.status, "error_code": code}
    retry_after = parse_retry_after(_header(reply.headers, "Retry-After"))
    if reply.status == 429:
        if policy_name in HUBSPOT_DAILY_POLICIES:
            return QuotaExhausted(message, **common)
        return RateLimited(message, retry_after=retry_after, policy_name=policy_name, **common)
    if reply.status >= 500 or reply.status == 423:  # 423 Locked: a concurrent write holds the record
        return TransientError(message, retry_after=retry_after, **common)
    if reply.status == 401:
        return AuthError(message, **common)
    return PermanentError(message, fields=_hubspot_fields(body), **common)


CLASSIFIERS: dict[str, Callable[[HttpReply], ConnectorError | None]] = {
    SALESFORCE: classify_salesforce,
    HUBSPOT: classify_hubspot,
}

_TLS_ERRORS: tuple[type[BaseException], ...] = (
    ssl.SSLError, requests.exceptions.SSLError, urllib3.exceptions.SSLError,
)
_TRANSIENT_TRANSPORT: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.TimeoutError,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.MaxRetryError,
    ConnectionError,
    TimeoutError,
)


# Transport failures that happen before a request is sent: nothing reached the server.
_NOT_SENT: tuple[type[BaseException], ...] = (
    urllib3.exceptions.NewConnectionError,  # refused, unreachable, name not resolved
    urllib3.exceptions.ConnectTimeoutError,
    requests.exceptions.ConnectTimeout,
    ConnectionRefusedError,
)
# Replies that say the server did not act on the request.
WRITE_SAFE_STATUSES = frozenset({423, 429, 503})


def never_sent(exc: BaseException | None) -> bool:
    """True when ``exc`` (or the cause it wraps) proves the request never reached the server."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, _NOT_SENT):
            return True
        if isinstance(exc, urllib3.exceptions.MaxRetryError):
            exc = exc.reason
            continue
        wrapped = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        exc = wrapped or exc.__cause__ or exc.__context__
    return False


def write_may_have_landed(error: ConnectorError, exc: BaseException) -> bool:
    """Whether a failed write may still have been committed by the server (so it must not be resent)."""
    if not isinstance(error, TransientError) or isinstance(error, RateLimited | ResponseLost):
        return False
    if error.status is not None:
        return error.status not in WRITE_SAFE_STATUSES and error.error_code not in SALESFORCE_LOCK_CODES
    return not never_sent(exc)


def classify_transport(system: str, exc: BaseException) -> ConnectorError | None:
    """Failures without a reply. TLS failures are permanent: a bad certificate does not heal in seconds."""
    name = type(exc).__name__
    if isinstance(exc, _TLS_ERRORS) or (
        isinstance(exc, urllib3.exceptions.MaxRetryError) and isinstance(exc.reason, _TLS_ERRORS)
    ):
        return PermanentError(f"TLS failure: {name}: {exc}", system=system, error_code="TLS_ERROR")
    if isinstance(exc, _TRANSIENT_TRANSPORT):
        return TransientError(f"transport failure: {name}: {exc}", system=system, error_code="TRANSPORT")
    return None


# ----- retrying ------------------------------------------------------------------------------------

ReplyExtractor = Callable[[BaseException], HttpReply | ConnectorError | None]


def _no_reply(_: BaseException) -> HttpReply | ConnectorError | None:
    return None


class HttpPolicy:
    """Rate limit, call, classify and retry one API request for one system.

    ``extract_reply`` turns a client library's exception into an :class:`HttpReply` (or an already
    classified error); ``relogin`` renews the session after a 401 ``INVALID_SESSION_ID``. ``fn`` passed to
    :meth:`call` must make exactly one HTTP request, so the limiter counts what the server counts.
    """

    def __init__(
        self,
        system: str,
        *,
        limiter: RateLimiter | None = None,
        retry: RetrySettings | None = None,
        extract_reply: ReplyExtractor = _no_reply,
        relogin: Callable[[], None] | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
        counters: CallCounters | None = None,
    ) -> None:
        self.system = system
        self.limiter = limiter
        self.retry = retry or RetrySettings()
        self.extract_reply = extract_reply
        self.relogin = relogin
        self.clock = clock
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.counters = counters or (limiter.counters if limiter is not None else CallCounters())
        self._relogins: deque[float] = deque()
        self._lock = threading.Lock()

    # -- public ---------------------------------------------------------------------------------
    def call(self, fn: Callable[[], T], *, kind: str = DEFAULT_KIND, paced: bool = True, write: bool = False) -> T:
        """Run ``fn`` under the policy; raise a :class:`ConnectorError` when it cannot succeed.

        ``kind`` picks the limiter's windows (``"search"`` for HubSpot search). ``paced=False`` skips the
        limiter for requests outside the API allocation (OAuth token requests). ``write=True``: a failure
        after which the server may have committed raises :class:`ResponseLost` at once, never retried.
        """
        state = {"relogged": False, "write": write}
        retrying = tenacity.Retrying(
            stop=self._stop_after(self.clock()),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(TransientError)
            & tenacity.retry_if_not_exception_type(ResponseLost),
            sleep=self.sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )
        result: T = retrying(self._attempt, fn, kind if paced else None, state)
        return result

    def to_error(self, exc: BaseException) -> ConnectorError | None:
        """The classified meaning of ``exc``; ``None`` for exceptions that are bugs, not API failures."""
        if isinstance(exc, ConnectorError):
            return exc
        extracted = self.extract_reply(exc)
        if isinstance(extracted, ConnectorError):
            return extracted
        if extracted is not None:
            if self.limiter is not None:
                self.limiter.observe(extracted.headers)
            return CLASSIFIERS[self.system](extracted)
        return classify_transport(self.system, exc)

    # -- one attempt ------------------------------------------------------------------------------
    def _attempt(self, fn: Callable[[], T], kind: str | None, state: dict[str, bool]) -> T:
        try:
            return self._once(fn, kind, write=state["write"])
        except SessionExpired as expired:
            if self.relogin is None or state["relogged"]:
                why = "cannot be renewed" if self.relogin is None else "refused after re-login"
                raise AuthError(
                    f"session {why}: {expired.message}", system=self.system,
                    status=expired.status, error_code=expired.error_code,
                ) from expired
            self._relogin_or_fail(expired)
            state["relogged"] = True
        try:
            return self._once(fn, kind, write=state["write"])
        except SessionExpired as again:
            raise AuthError(
                f"session refused right after re-login: {again.message}", system=self.system,
                status=again.status, error_code=again.error_code,
            ) from again

    def _once(self, fn: Callable[[], T], kind: str | None, *, write: bool = False) -> T:
        if kind is None:
            self.counters.add(self.system, "unpaced_calls")
        elif self.limiter is not None:
            self.limiter.acquire(kind)
        else:
            self.counters.add(self.system, "calls")
        try:
            return fn()
        except Exception as exc:
            error = self.to_error(exc)
            if error is None:
                raise  # a bug, not an API failure: surface it as it is
            if isinstance(error, RateLimited):
                self.counters.add(self.system, "rate_limited")
            if write and write_may_have_landed(error, exc):
                self.counters.add(self.system, "responses_lost")
                assert isinstance(error, TransientError)
                raise ResponseLost(f"the answer to a write was lost ({error.message}); it may have been "
                                   "committed, so it is read back, not resent", system=self.system,
                                   status=error.status, error_code="RESPONSE_LOST") from exc
            if error is exc:
                raise
            raise error from exc

    def _relogin_or_fail(self, expired: SessionExpired) -> None:
        with self._lock:
            now = self.clock()
            while self._relogins and self._relogins[0] <= now - 60.0:
                self._relogins.popleft()
            if len(self._relogins) >= self.retry.relogins_per_minute:
                raise AuthError(
                    f"session keeps expiring: {len(self._relogins)} re-logins in the last minute",
                    system=self.system, status=expired.status, error_code=expired.error_code,
                ) from expired
            self._relogins.append(now)
        assert self.relogin is not None
        self.counters.add(self.system, "relogins")
        self.relogin()

    # -- tenacity hooks ---------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        """Exponential with 'equal jitter': at least half the step, so retries never bunch up at 0."""
        step: float = min(self.retry.backoff_max, self.retry.backoff_initial * 2.0 ** (attempt - 1))
        return step / 2 + self.rng.uniform(0, step / 2)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        retry_after: float | None = error.retry_after if isinstance(error, TransientError) else None
        backoff = self._backoff(state.attempt_number)
        return max(backoff, retry_after) if retry_after is not None else backoff

    def _stop_after(self, started: float) -> Callable[[tenacity.RetryCallState], bool]:
        """Stop on the attempt cap, or when the coming wait would end past the total-time bound.

        Tenacity computes the wait before asking to stop, so ``upcoming_sleep`` is the real next wait.
        Our own clock (not tenacity's) so fake-clock tests see the bound.
        """

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= self.retry.max_attempts:
                return True
            return self.clock() - started + state.upcoming_sleep > self.retry.max_total_seconds

        return stop

    def _count_retry(self, state: tenacity.RetryCallState) -> None:
        self.counters.add(self.system, "retries")
