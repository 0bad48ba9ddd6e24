"""Salesforce login flows, retries and CA handling over real HTTPS against a small TLS emulator."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
import requests
from pydantic import SecretStr

from leadsync.config.settings import SalesforceSettings, Settings
from leadsync.connectors.errors import AuthError, PermanentError, QuotaExhausted
from leadsync.connectors.policy import RetrySettings, Timeouts
from leadsync.connectors.ratelimit import SalesforceLimiter
from leadsync.connectors.salesforce_auth import (
    SalesforceAuthenticator,
    SalesforceConnection,
    SalesforceCredentials,
    build_http_session,
)
from leadsync.sandbox.tls import SandboxTLS

from .conftest import (
    API_VERSION,
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    SECURITY_TOKEN,
    USERNAME,
    FakeSalesforce,
    Recorder,
)

SOQL = "SELECT Id FROM Lead"


def jwt_credentials(salesforce: FakeSalesforce, ca: Path, private_key: str, **extra: object) -> SalesforceCredentials:
    return SalesforceCredentials(
        flow="jwt", login_url=salesforce.base_url, api_version=API_VERSION, client_id=CLIENT_ID, username=USERNAME,
        private_key=private_key, ca_bundle=ca, **extra,  # type: ignore[arg-type]
    )


def connect(credentials: SalesforceCredentials, recorder: Recorder, **kwargs: object) -> SalesforceConnection:
    return SalesforceConnection(credentials, sleep=recorder, **kwargs)  # type: ignore[arg-type]


def test_jwt_bearer_login_sends_a_signed_assertion_the_server_verifies(
    salesforce: FakeSalesforce, tls: SandboxTLS, rsa_key: tuple[str, bytes], recorder: Recorder
) -> None:
    connection = connect(jwt_credentials(salesforce, tls.ca_path, rsa_key[0]), recorder)
    session = connection.login()
    assert session.instance_url == salesforce.base_url
    assert session.access_token in salesforce.valid_tokens
    assert session.issued_at.year == 2023  # from the reply's issued_at (ms since the epoch)
    (sent,) = salesforce.token_requests
    assert sent["form"]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(sent["form"]["assertion"], rsa_key[1], algorithms=["RS256"], audience=salesforce.base_url)
    assert (claims["iss"], claims["sub"]) == (CLIENT_ID, USERNAME)
    assert 0 < claims["exp"] - time.time() <= 180
    result = connection.call(lambda sf: sf.query(SOQL))
    assert [r["Id"] for r in result["records"]] == ["00Q000000000001AAA"]
    assert connection.counters.get("salesforce", "calls") == 1
    assert connection.counters.get("salesforce", "unpaced_calls") == 1  # the login is outside the budget


def test_client_credentials_login_uses_basic_auth(salesforce: FakeSalesforce, tls: SandboxTLS) -> None:
    credentials = SalesforceCredentials(flow="client_credentials", login_url=salesforce.base_url,
                                        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, ca_bundle=tls.ca_path)
    http = build_http_session(ca_bundle=tls.ca_path, timeouts=Timeouts())
    session = SalesforceAuthenticator(credentials, http).login()
    assert session.access_token in salesforce.valid_tokens
    (sent,) = salesforce.token_requests
    assert sent["form"] == {"grant_type": "client_credentials"}
    assert str(sent["authorization"]).startswith("Basic ")


def test_username_password_login_appends_the_security_token(salesforce: FakeSalesforce, tls: SandboxTLS) -> None:
    credentials = SalesforceCredentials(flow="username_password", login_url=salesforce.base_url,
                                        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, username=USERNAME,
                                        password=PASSWORD, security_token=SECURITY_TOKEN, ca_bundle=tls.ca_path)
    http = build_http_session(ca_bundle=tls.ca_path, timeouts=Timeouts())
    session = SalesforceAuthenticator(credentials, http).login()
    assert session.access_token in salesforce.valid_tokens
    assert salesforce.token_requests[0]["form"]["client_secret"] == CLIENT_SECRET


def test_bad_credentials_give_the_vendors_reason_and_never_the_secret(
    salesforce: FakeSalesforce, tls: SandboxTLS, recorder: Recorder
) -> None:
    credentials = SalesforceCredentials(flow="username_password", login_url=salesforce.base_url,
                                        client_id=CLIENT_ID, username=USERNAME, password="wrong-" + PASSWORD,
                                        security_token=SECURITY_TOKEN, ca_bundle=tls.ca_path)
    with pytest.raises(AuthError) as caught:
        connect(credentials, recorder).login()
    text = f"{caught.value} {caught.value!r} {caught.value.args}"
    assert "invalid_grant: authentication failure" in str(caught.value)
    assert PASSWORD not in text and SECURITY_TOKEN not in text
    assert PASSWORD not in repr(credentials)
    assert len(salesforce.token_requests) == 1  # refused credentials are not retried
    assert recorder.waits == []


def test_jwt_signed_with_another_key_is_refused(
    salesforce: FakeSalesforce, tls: SandboxTLS, recorder: Recorder
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with pytest.raises(AuthError, match="invalid_grant"):
        connect(jwt_credentials(salesforce, tls.ca_path, stranger), recorder).login()


@pytest.mark.parametrize(
    ("fault", "expected_waits"),
    [
        ({"kind": "status", "status": 429, "retry_after": 1, "times": 2}, 2),
        ({"kind": "status", "status": 503, "times": 1}, 1),
        ({"kind": "reset", "times": 2}, 2),
    ],
)
def test_query_is_retried_through_429_503_and_connection_resets(
    salesforce: FakeSalesforce, tls: SandboxTLS, rsa_key: tuple[str, bytes], recorder: Recorder,
    fault: dict[str, object], expected_waits: int,
) -> None:
    connection = connect(jwt_credentials(salesforce, tls.ca_path, rsa_key[0]), recorder)
    connection.login()
    salesforce.faults.add(endpoint="query", **fault)
    result = connection.call(lambda sf: sf.query(SOQL))
    assert result["totalSize"] == 1
    assert salesforce.counters.snapshot()["query"] == expected_waits + 1
    assert len(recorder.waits) == expected_waits
    if fault.get("retry_after"):
        assert all(wait >= 1.0 for wait in recorder.waits)
    assert connection.counters.get("salesforce", "retries") == expected_waits


def test_a_400_is_not_retried(
    salesforce: FakeSalesforce, tls: SandboxTLS, rsa_key: tuple[str, bytes], recorder: Recorder
) -> None:
    connection = connect(jwt_credentials(salesforce, tls.ca_path, rsa_key[0]), recorder)
    with pytest.raises(PermanentError) as caught:
        connection.call(lambda sf: sf.query("DELETE everything"))
    assert caught.value.error_code == "MALFORMED_QUERY"
    assert salesforce.counters.snapshot()["query"] == 1
    assert recorder.waits == []


def test_an_expired_session_is_renewed_once_and_the_call_succeeds(
    salesforce: FakeSalesforce, tls: SandboxTLS, rsa_key: tuple[str, bytes], recorder: Recorder
) -> None:
    connection = connect(jwt_credentials(salesforce, tls.ca_path, rsa_key[0]), recorder)
    first = connection.login()
    salesforce.expire_sessions()
    assert connection.call(lambda sf: sf.query(SOQL))["totalSize"] == 1
    assert len(salesforce.token_requests) == 2
    assert connection.session is not None and connection.session.access_token != first.access_token
    assert connection.counters.get("salesforce", "relogins") == 1


def test_a_session_refused_after_relogin_ends_in_auth_error_without_looping(
    salesforce: FakeSalesforce, tls: SandboxTLS, rsa_key: tuple[str, bytes], recorder: Recorder
) -> None:
    connection = connect(jwt_credentials(salesforce, tls.ca_path, rsa_key[0]), recorder)
    connection.login()
    salesforce.refuse_all_sessions = True
    with pytest.raises(AuthError, match="after re-login"):
        connection.call(lambda sf: sf.query(SOQL))
    assert len(salesforce.token_requests) == 2  # the first login and exactly one renewal
    assert salesforce.counters.snapshot()["query"] == 2


def test_usage_headers_stop_the_run_at_the_configured_daily_share(
    salesforce: FakeSalesforce, tls: SandboxTLS, rsa_key: tuple[str, bytes], recorder: Recorder
) -> None:
    salesforce.usage = 2490
    limiter = SalesforceLimiter.from_settings(SalesforceSettings(daily_share=0.5), sleep=recorder)
    connection = connect(jwt_credentials(salesforce, tls.ca_path, rsa_key[0]), recorder, limiter=limiter)
    calls = 0
    with pytest.raises(QuotaExhausted):
        while calls < 100:
            connection.call(lambda sf: sf.query(SOQL))
            calls += 1
    assert calls == 10  # 2491..2500 of 5000, and 2500 is half
    assert salesforce.counters.snapshot()["query"] == 10
    assert limiter.daily is not None and limiter.daily.used == 2500


def test_the_configured_ca_bundle_wins_over_requests_ca_bundle(
    salesforce: FakeSalesforce, tls: SandboxTLS, untrusted_ca: Path, rsa_key: tuple[str, bytes],
    recorder: Recorder, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(untrusted_ca))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(untrusted_ca))
    # The trap being defended against: a plain session's verify loses to the environment variable.
    plain = requests.Session()
    plain.verify = str(tls.ca_path)
    with pytest.raises(requests.exceptions.SSLError):
        plain.get(f"{salesforce.base_url}/services/data/v{API_VERSION}/query/?q=x", timeout=5)
    connection = connect(jwt_credentials(salesforce, tls.ca_path, rsa_key[0]), recorder)
    assert connection.call(lambda sf: sf.query(SOQL))["totalSize"] == 1


def test_an_untrusted_server_certificate_fails_permanently_without_retries(
    salesforce: FakeSalesforce, untrusted_ca: Path, rsa_key: tuple[str, bytes], recorder: Recorder
) -> None:
    connection = connect(jwt_credentials(salesforce, untrusted_ca, rsa_key[0]), recorder)
    with pytest.raises(PermanentError) as caught:
        connection.login()
    assert caught.value.error_code == "TLS_ERROR"
    assert salesforce.token_requests == []
    assert recorder.waits == []


def test_every_call_has_a_read_timeout_and_a_timed_out_call_is_retried(
    salesforce: FakeSalesforce, tls: SandboxTLS, rsa_key: tuple[str, bytes], recorder: Recorder
) -> None:
    credentials = jwt_credentials(salesforce, tls.ca_path, rsa_key[0], timeouts=Timeouts(connect=2.0, read=0.3))
    connection = connect(credentials, recorder, retry=RetrySettings(max_attempts=3))
    connection.login()
    salesforce.faults.add(kind="delay", endpoint="query", seconds=1.0, times=1)
    assert connection.call(lambda sf: sf.query(SOQL))["totalSize"] == 1
    assert salesforce.counters.snapshot()["query"] == 2
    assert connection.counters.get("salesforce", "retries") == 1


def test_connection_from_settings_reads_the_salesforce_section_and_its_secrets(
    salesforce: FakeSalesforce, tls: SandboxTLS, recorder: Recorder, clean_env: pytest.MonkeyPatch,
) -> None:
    settings = Settings(salesforce=SalesforceSettings(
        auth="username_password", login_url=salesforce.base_url, api_version=API_VERSION, username=USERNAME,
        client_id=CLIENT_ID, password=SecretStr(PASSWORD), security_token=SecretStr(SECURITY_TOKEN),
        ca_bundle=tls.ca_path, daily_share=0.25,
    ))
    connection = SalesforceConnection.from_settings(settings, sleep=recorder)
    assert connection.call(lambda sf: sf.query(SOQL))["totalSize"] == 1
    assert connection.limiter.daily is not None and connection.limiter.daily.share == 0.25
    assert connection.http.verify == str(tls.ca_path) and connection.http.trust_env is False
