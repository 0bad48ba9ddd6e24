"""The configured hubspot-api-client against a small TLS emulator: headers, 429s, timeouts and TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from leadsync.config.settings import HubSpotSettings, Settings
from leadsync.connectors.errors import AuthError, PermanentError, QuotaExhausted
from leadsync.connectors.hubspot_client import HubSpotConnection
from leadsync.connectors.policy import RetrySettings, Timeouts
from leadsync.sandbox.tls import SandboxTLS

from .conftest import HUBSPOT_TOKEN, FakeHubSpot, Recorder


@pytest.fixture
def make_connection(
    hubspot: FakeHubSpot, tls: SandboxTLS, recorder: Recorder
) -> Iterator[type[HubSpotConnection]]:
    opened: list[HubSpotConnection] = []

    def make(**kwargs: object) -> HubSpotConnection:
        kwargs.setdefault("access_token", HUBSPOT_TOKEN)
        kwargs.setdefault("host", hubspot.base_url)
        kwargs.setdefault("ca_bundle", tls.ca_path)
        connection = HubSpotConnection(sleep=recorder, **kwargs)  # type: ignore[arg-type]
        opened.append(connection)
        return connection

    yield make  # type: ignore[misc]
    for connection in opened:
        connection.close()


def page(connection: HubSpotConnection, limit: int = 2) -> object:
    return connection.call(lambda hs: hs.crm.contacts.basic_api.get_page_with_http_info(limit=limit))


def test_contacts_page_is_read_and_its_rate_limit_headers_feed_the_limiter(
    make_connection: type[HubSpotConnection], hubspot: FakeHubSpot
) -> None:
    connection = make_connection()
    result = page(connection)
    assert [c.id for c in result.results] == ["101", "102"]  # type: ignore[attr-defined]
    assert result.paging.next.after == "103"  # type: ignore[attr-defined]
    burst = connection.limiter.windows["default"][0]
    assert burst.limit == 100  # the portal's X-HubSpot-RateLimit-Max (below our configured 190)
    assert connection.limiter.daily is not None
    assert connection.limiter.daily.used == 250_000 - hubspot.daily_remaining
    assert connection.counters.get("hubspot", "calls") == 1


def test_ten_secondly_429s_are_retried_after_retry_after(
    make_connection: type[HubSpotConnection], hubspot: FakeHubSpot, recorder: Recorder
) -> None:
    hubspot.faults.add(kind="status", endpoint="contacts.list", status=429, retry_after=1, times=2, body={
        "status": "error", "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT", "correlationId": "c-429", "policyName": "TEN_SECONDLY_ROLLING"})
    connection = make_connection()
    assert len(page(connection).results) == 2  # type: ignore[attr-defined]
    assert hubspot.counters.snapshot()["contacts.list"] == 3
    assert len(recorder.waits) == 2 and all(wait >= 1.0 for wait in recorder.waits)
    assert connection.counters.get("hubspot", "rate_limited") == 2


def test_a_daily_429_stops_the_run_without_retrying(
    make_connection: type[HubSpotConnection], hubspot: FakeHubSpot, recorder: Recorder
) -> None:
    hubspot.faults.add(kind="status", endpoint="contacts.list", status=429, retry_after=1, times=5, body={
        "status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
        "correlationId": "c-daily", "policyName": "DAILY"})
    with pytest.raises(QuotaExhausted):
        page(make_connection())
    assert hubspot.counters.snapshot()["contacts.list"] == 1
    assert recorder.waits == []


def test_5xx_and_connection_resets_are_retried(
    make_connection: type[HubSpotConnection], hubspot: FakeHubSpot, recorder: Recorder
) -> None:
    hubspot.faults.add(kind="status", endpoint="contacts.list", status=502, times=1)
    hubspot.faults.add(kind="reset", endpoint="contacts.list", times=1)
    connection = make_connection()
    assert len(page(connection).results) == 2  # type: ignore[attr-defined]
    assert hubspot.counters.snapshot()["contacts.list"] == 3
    assert connection.counters.get("hubspot", "retries") == 2


def test_a_400_is_permanent_and_not_retried(
    make_connection: type[HubSpotConnection], hubspot: FakeHubSpot, recorder: Recorder
) -> None:
    with pytest.raises(PermanentError) as caught:
        page(make_connection(), limit=0)
    assert (caught.value.status, caught.value.error_code) == (400, "VALIDATION_ERROR")
    assert caught.value.message == "limit must be positive"
    assert hubspot.counters.snapshot()["contacts.list"] == 1
    assert recorder.waits == []


def test_a_bad_token_is_an_auth_error_that_does_not_show_the_token(
    make_connection: type[HubSpotConnection], hubspot: FakeHubSpot
) -> None:
    wrong = "pat-na1-99999999-8888-7777-6666-555555555555"
    with pytest.raises(AuthError) as caught:
        page(make_connection(access_token=wrong))
    assert caught.value.error_code == "INVALID_AUTHENTICATION"
    assert wrong not in str(caught.value)
    assert hubspot.counters.snapshot()["contacts.list"] == 1


def test_read_timeout_applies_to_every_call_and_the_call_is_retried(
    make_connection: type[HubSpotConnection], hubspot: FakeHubSpot
) -> None:
    hubspot.faults.add(kind="delay", endpoint="contacts.list", seconds=1.0, times=1)
    connection = make_connection(timeouts=Timeouts(connect=2.0, read=0.3), retry=RetrySettings(max_attempts=3))
    assert len(page(connection).results) == 2  # type: ignore[attr-defined]
    assert hubspot.counters.snapshot()["contacts.list"] == 2


def test_the_ca_bundle_is_used_and_requests_ca_bundle_does_not_matter(
    make_connection: type[HubSpotConnection], untrusted_ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(untrusted_ca))
    monkeypatch.setenv("SSL_CERT_FILE", str(untrusted_ca))
    assert len(page(make_connection()).results) == 2  # type: ignore[attr-defined]


def test_an_untrusted_certificate_fails_permanently_without_retries(
    make_connection: type[HubSpotConnection], hubspot: FakeHubSpot, untrusted_ca: Path, recorder: Recorder
) -> None:
    with pytest.raises(PermanentError) as caught:
        page(make_connection(ca_bundle=untrusted_ca))
    assert caught.value.error_code == "TLS_ERROR"
    assert hubspot.counters.snapshot().get("contacts.list", 0) == 0
    assert recorder.waits == []


def test_api_objects_share_one_client_per_package_so_connections_are_reused(
    make_connection: type[HubSpotConnection],
) -> None:
    client = make_connection().client
    basic, search = client.crm.contacts.basic_api, client.crm.contacts.search_api
    assert basic.api_client is search.api_client
    configuration = basic.api_client.configuration
    assert configuration.retries is False
    assert configuration.verify_ssl is True


def test_plain_results_are_refused_because_their_headers_would_be_lost(
    make_connection: type[HubSpotConnection],
) -> None:
    connection = make_connection()
    with pytest.raises(TypeError, match="with_http_info"):
        connection.call(lambda hs: hs.crm.contacts.basic_api.get_page(limit=2))


def test_connection_from_settings(
    hubspot: FakeHubSpot, tls: SandboxTLS, recorder: Recorder, clean_env: pytest.MonkeyPatch
) -> None:
    settings = Settings(hubspot=HubSpotSettings(
        host=hubspot.base_url, access_token=SecretStr(HUBSPOT_TOKEN), ca_bundle=tls.ca_path, daily_share=0.1,
        daily_limit=500_000,
    ))
    connection = HubSpotConnection.from_settings(settings, sleep=recorder)
    try:
        assert len(page(connection).results) == 2  # type: ignore[attr-defined]
        assert connection.limiter.daily is not None and connection.limiter.daily.share == 0.1
    finally:
        connection.close()
