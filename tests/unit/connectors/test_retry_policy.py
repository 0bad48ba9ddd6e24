"""HttpPolicy on a fake clock: what is retried, how long it waits, and where it gives up."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import requests
import urllib3.exceptions

from leadsync.connectors.errors import (
    AuthError,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    ResponseLost,
    SessionExpired,
    TransientError,
)
from leadsync.connectors.policy import HttpPolicy, HttpReply, RetrySettings
from leadsync.connectors.ratelimit import HubSpotLimiter, ManualClock


class Script:
    """A fake API call that fails with the given outcomes, then returns ``"ok"``."""

    def __init__(self, *outcomes: BaseException) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.outcomes:
            raise self.outcomes.pop(0)
        return "ok"


def make_policy(clock: ManualClock, **kwargs: object) -> HttpPolicy:
    return HttpPolicy("hubspot", clock=clock.now, sleep=clock.sleep, rng=random.Random(3), **kwargs)  # type: ignore[arg-type]


def rate_limited(seconds: float | None) -> RateLimited:
    return RateLimited("slow down", system="hubspot", retry_after=seconds, policy_name="TEN_SECONDLY_ROLLING")


def test_429_twice_then_success_waits_at_least_retry_after() -> None:
    clock = ManualClock()
    script = Script(rate_limited(1.0), rate_limited(1.0))
    policy = make_policy(clock)
    assert policy.call(script) == "ok"
    assert script.calls == 3
    assert len(clock.slept) == 2
    assert all(wait >= 1.0 for wait in clock.slept)
    assert policy.counters.get("hubspot", "retries") == 2
    assert policy.counters.get("hubspot", "rate_limited") == 2


def test_fractional_retry_after_is_honoured() -> None:
    clock = ManualClock()
    policy = make_policy(clock, retry=RetrySettings(backoff_initial=0.01, backoff_max=0.01))
    assert policy.call(Script(rate_limited(0.3))) == "ok"
    assert clock.slept == [pytest.approx(0.3)]


def test_backoff_grows_exponentially_with_jitter_within_bounds() -> None:
    clock = ManualClock()
    failures = [TransientError("503", system="hubspot", status=503) for _ in range(5)]
    policy = make_policy(clock, retry=RetrySettings(max_attempts=6, backoff_initial=1.0, backoff_max=8.0))
    assert policy.call(Script(*failures)) == "ok"
    steps = [1.0, 2.0, 4.0, 8.0, 8.0]
    assert len(clock.slept) == 5
    for wait, step in zip(clock.slept, steps, strict=True):
        assert step / 2 <= wait <= step


@pytest.mark.parametrize(
    "error",
    [
        PermanentError("bad field", system="hubspot", status=400, error_code="VALIDATION_ERROR"),
        QuotaExhausted("daily", system="hubspot", status=429),
        AuthError("no", system="hubspot", status=401),
    ],
)
def test_no_retry_on_permanent_quota_or_auth_errors(error: Exception) -> None:
    clock = ManualClock()
    script = Script(error, error)
    with pytest.raises(type(error)):
        make_policy(clock).call(script)
    assert script.calls == 1
    assert clock.slept == []


def test_attempts_are_bounded_and_the_last_error_surfaces() -> None:
    clock = ManualClock()
    script = Script(*[TransientError("503", system="hubspot", status=503) for _ in range(10)])
    with pytest.raises(TransientError):
        make_policy(clock, retry=RetrySettings(max_attempts=4)).call(script)
    assert script.calls == 4


def test_total_time_is_bounded_even_when_the_server_asks_for_long_waits() -> None:
    clock = ManualClock()
    script = Script(rate_limited(50.0), rate_limited(50.0), rate_limited(50.0))
    with pytest.raises(RateLimited):
        make_policy(clock, retry=RetrySettings(max_total_seconds=120.0)).call(script)
    # Two waits of 50 s fit in 120 s; a third would end at 150 s, so the policy stops instead.
    assert script.calls == 3
    assert sum(clock.slept) <= 120.0


def test_transport_errors_are_classified_and_retried() -> None:
    clock = ManualClock()
    script = Script(requests.exceptions.ConnectionError("reset"), requests.exceptions.ReadTimeout("slow"))
    assert make_policy(clock).call(script) == "ok"
    assert script.calls == 3


def test_bugs_are_neither_retried_nor_rewrapped() -> None:
    clock = ManualClock()
    script = Script(KeyError("properties"))
    with pytest.raises(KeyError):
        make_policy(clock).call(script)
    assert script.calls == 1


class VendorError(Exception):
    def __init__(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"vendor error {status}")
        self.reply = HttpReply(status, headers or {}, body)


def extract(exc: BaseException) -> HttpReply | None:
    return exc.reply if isinstance(exc, VendorError) else None


def test_vendor_exceptions_go_through_the_classifier_and_feed_the_limiter() -> None:
    clock = ManualClock()
    limiter = HubSpotLimiter.build(daily_limit=None, clock=clock.now, sleep=clock.sleep)
    body = '{"status":"error","message":"You have reached your ten_secondly_rolling limit.",' \
           '"errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}'
    headers = {"Retry-After": "2", "X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Max": "190"}
    script = Script(VendorError(429, body, headers))
    policy = make_policy(clock, limiter=limiter, extract_reply=extract)
    assert policy.call(script) == "ok"
    assert script.calls == 2
    assert policy.counters.get("hubspot", "rate_limited") == 1
    assert policy.counters.get("hubspot", "calls") == 2
    # The 429 said the window is full: the retry waited for the window, not just Retry-After.
    assert clock.now() >= 10.0


def test_daily_429_stops_without_retry() -> None:
    clock = ManualClock()
    body = '{"status":"error","message":"daily limit","errorType":"RATE_LIMIT","policyName":"DAILY"}'
    script = Script(VendorError(429, body, {"Retry-After": "1"}))
    with pytest.raises(QuotaExhausted):
        make_policy(clock, extract_reply=extract).call(script)
    assert script.calls == 1


def test_client_side_quota_stop_makes_no_call() -> None:
    clock = ManualClock()
    limiter = HubSpotLimiter.build(daily_limit=2, daily_share=1.0, clock=clock.now, sleep=clock.sleep)
    policy = make_policy(clock, limiter=limiter)
    script = Script()
    policy.call(script)
    policy.call(script)
    with pytest.raises(QuotaExhausted):
        policy.call(script)
    assert script.calls == 2


def expired() -> SessionExpired:
    return SessionExpired("Session expired or invalid", system="salesforce", status=401,
                          error_code="INVALID_SESSION_ID")


class Relogin:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def sf_policy(clock: ManualClock, relogin: Callable[[], None] | None, **kwargs: object) -> HttpPolicy:
    return HttpPolicy("salesforce", relogin=relogin, clock=clock.now, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


def test_expired_session_logs_in_again_once_and_succeeds() -> None:
    clock = ManualClock()
    relogin = Relogin()
    script = Script(expired())
    assert sf_policy(clock, relogin).call(script) == "ok"
    assert (script.calls, relogin.count) == (2, 1)


def test_persistent_401_gives_auth_error_after_exactly_one_relogin() -> None:
    clock = ManualClock()
    relogin = Relogin()
    script = Script(expired(), expired(), expired(), expired())
    with pytest.raises(AuthError) as caught:
        sf_policy(clock, relogin).call(script)
    assert not isinstance(caught.value, SessionExpired)
    assert (script.calls, relogin.count) == (2, 1)


def test_one_relogin_per_call_even_across_transient_retries() -> None:
    clock = ManualClock()
    relogin = Relogin()
    script = Script(expired(), TransientError("503", system="salesforce", status=503), expired())
    with pytest.raises(AuthError):
        sf_policy(clock, relogin).call(script)
    assert (script.calls, relogin.count) == (3, 1)


def test_relogins_are_capped_per_minute() -> None:
    clock = ManualClock()
    relogin = Relogin()
    policy = sf_policy(clock, relogin, retry=RetrySettings(relogins_per_minute=2))
    for _ in range(2):
        assert policy.call(Script(expired())) == "ok"
    with pytest.raises(AuthError, match="re-logins in the last minute"):
        policy.call(Script(expired()))
    assert relogin.count == 2
    clock.advance(61)
    assert policy.call(Script(expired())) == "ok"
    assert relogin.count == 3


def test_without_relogin_an_expired_session_is_an_auth_error() -> None:
    clock = ManualClock()
    script = Script(expired())
    with pytest.raises(AuthError):
        sf_policy(clock, None).call(script)
    assert script.calls == 1


def test_unpaced_calls_skip_the_limiter() -> None:
    clock = ManualClock()
    limiter = HubSpotLimiter.build(daily_limit=1, daily_share=1.0, clock=clock.now, sleep=clock.sleep)
    policy = make_policy(clock, limiter=limiter)
    for _ in range(3):
        policy.call(Script(), paced=False)
    assert limiter.counters.get("hubspot", "calls") == 0
    assert limiter.counters.get("hubspot", "unpaced_calls") == 3


# ----- writes: never resent once the server may have acted ----------------------------------------------


def refused() -> requests.exceptions.ConnectionError:
    reason = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")  # type: ignore[arg-type]
    return requests.exceptions.ConnectionError(urllib3.exceptions.MaxRetryError(None, "/x", reason))  # type: ignore[arg-type]


def reset_after_sending() -> requests.exceptions.ConnectionError:
    return requests.exceptions.ConnectionError(
        urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer")))


def status(code: int, error_code: str | None = None, system: str = "hubspot") -> TransientError:
    return TransientError(f"HTTP {code}", system=system, status=code, error_code=error_code)


@pytest.mark.parametrize("failure", [
    requests.exceptions.ReadTimeout("read timed out"),
    urllib3.exceptions.ReadTimeoutError(None, "/x", "read timed out"),  # type: ignore[arg-type]
    reset_after_sending(),
    urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
    requests.exceptions.ChunkedEncodingError("cut off"),
    status(500), status(502), status(504),
], ids=["requests-read-timeout", "urllib3-read-timeout", "requests-reset", "urllib3-reset", "cut-off", "500", "502",
        "504"])
def test_a_write_that_may_have_been_committed_is_not_retried(failure: BaseException) -> None:
    clock = ManualClock()
    script = Script(failure)
    policy = make_policy(clock)
    with pytest.raises(ResponseLost) as lost:
        policy.call(script, write=True)
    assert script.calls == 1 and clock.slept == []
    assert lost.value.error_code == "RESPONSE_LOST" and isinstance(lost.value, TransientError)
    assert policy.counters.get("hubspot", "responses_lost") == 1


@pytest.mark.parametrize("failure", [
    rate_limited(0.5),
    status(503), status(423),
    refused(),
    urllib3.exceptions.NewConnectionError(None, "refused"),  # type: ignore[arg-type]
    urllib3.exceptions.ConnectTimeoutError(None, "/x", "connect timed out"),  # type: ignore[arg-type]
    requests.exceptions.ConnectTimeout("connect timed out"),
    ConnectionRefusedError(111, "refused"),
], ids=["429", "503", "423", "requests-refused", "urllib3-refused", "urllib3-connect-timeout",
        "requests-connect-timeout", "os-refused"])
def test_a_write_the_server_never_acted_on_is_retried(failure: BaseException) -> None:
    clock = ManualClock()
    script = Script(failure)
    policy = make_policy(clock)
    assert policy.call(script, write=True) == "ok"
    assert script.calls == 2 and len(clock.slept) == 1
    assert policy.counters.get("hubspot", "responses_lost") == 0


def test_a_salesforce_lock_error_on_a_write_is_retried() -> None:
    clock = ManualClock()
    script = Script(status(400, "UNABLE_TO_LOCK_ROW", system="salesforce"))
    policy = HttpPolicy("salesforce", clock=clock.now, sleep=clock.sleep, rng=random.Random(3))
    assert policy.call(script, write=True) == "ok" and script.calls == 2


def test_reads_still_retry_timeouts_and_resets() -> None:
    clock = ManualClock()
    script = Script(requests.exceptions.ReadTimeout("slow"), reset_after_sending(), status(502))
    policy = make_policy(clock)
    assert policy.call(script) == "ok" and script.calls == 4
    assert policy.counters.get("hubspot", "responses_lost") == 0
