"""Logins and sessions of the Salesforce emulator, driven over HTTPS with requests and simple-salesforce."""

from __future__ import annotations

import base64
import time
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce, SalesforceAuthenticationFailed
from simple_salesforce.exceptions import SalesforceExpiredSession

from leadsync.sandbox.salesforce.auth import Credentials
from leadsync.sandbox.salesforce.emulator import SF_SESSION_EXPIRY, SalesforceEmulator
from leadsync.sandbox.tls import SandboxTLS

pytest_plugins = ["tests.integration.sandbox.conftest_sf"]

CREDS = Credentials()
FAILURE = {"error": "invalid_grant", "error_description": "authentication failure"}


def token(http: requests.Session, emulator: SalesforceEmulator, **form: str) -> requests.Response:
    return http.post(f"{emulator.base_url}/services/oauth2/token", data=form)


def client_for(emulator: SalesforceEmulator, http: requests.Session, body: dict[str, Any]) -> Salesforce:
    assert body["instance_url"] == emulator.base_url
    return Salesforce(instance_url=body["instance_url"], session_id=body["access_token"], session=http,
                      version="59.0")


def password_form(password: str) -> dict[str, str]:
    return {"grant_type": "password", "client_id": CREDS.client_id, "client_secret": CREDS.client_secret,
            "username": CREDS.username, "password": password}


def test_password_grant_returns_the_real_reply_shape_and_a_working_session(
        sf_emulator: SalesforceEmulator, http: requests.Session) -> None:
    answer = token(http, sf_emulator, **password_form(CREDS.password + CREDS.security_token))
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert body["token_type"] == "Bearer"
    assert body["id"].startswith(f"{sf_emulator.base_url}/id/00D")
    assert client_for(sf_emulator, http, body).query("SELECT COUNT() FROM Lead")["totalSize"] == 0


@pytest.mark.parametrize("password", ["wrong" + CREDS.security_token, CREDS.password, ""])
def test_bad_password_gets_the_real_400_body(sf_emulator: SalesforceEmulator, http: requests.Session,
                                             password: str) -> None:
    answer = token(http, sf_emulator, **password_form(password))
    assert answer.status_code == 400
    assert answer.json() == FAILURE


def test_unknown_client_and_grant_type_are_refused(sf_emulator: SalesforceEmulator,
                                                   http: requests.Session) -> None:
    form = password_form(CREDS.password + CREDS.security_token) | {"client_id": "nope"}
    assert token(http, sf_emulator, **form).json() == {"error": "invalid_client_id",
                                                       "error_description": "client identifier invalid"}
    answer = token(http, sf_emulator, grant_type="authorization_code")
    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"


@pytest.fixture
def rsa_pair() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def assertion(private: bytes, **claims: Any) -> str:
    payload = {"iss": CREDS.client_id, "sub": CREDS.username, "aud": "https://login.salesforce.com",
               "exp": int(time.time()) + 180} | claims
    return jwt.encode(payload, private, algorithm="RS256")


def test_jwt_bearer_verifies_the_signature_against_the_registered_key(
        sf_emulator: SalesforceEmulator, http: requests.Session, rsa_pair: tuple[bytes, str]) -> None:
    private, public = rsa_pair
    sf_emulator.add_client(CREDS.client_id, CREDS.client_secret, CREDS.username, jwt_public_key=public)
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    answer = token(http, sf_emulator, grant_type=grant, assertion=assertion(private))
    assert answer.status_code == 200, answer.text
    client_for(sf_emulator, http, answer.json()).query("SELECT Id FROM Lead")

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    forged = token(http, sf_emulator, grant_type=grant, assertion=assertion(other_key))
    assert (forged.status_code, forged.json()["error"]) == (400, "invalid_grant")
    expired = token(http, sf_emulator, grant_type=grant, assertion=assertion(private, exp=int(time.time()) - 600))
    assert expired.json() == {"error": "invalid_grant", "error_description": "expired authorization code"}
    wrong_aud = token(http, sf_emulator, grant_type=grant, assertion=assertion(private, aud="https://evil.example"))
    assert wrong_aud.json()["error_description"] == "audience is invalid"


def test_client_credentials_take_basic_auth(sf_emulator: SalesforceEmulator,
                                            http: requests.Session) -> None:
    basic = base64.b64encode(f"{CREDS.client_id}:{CREDS.client_secret}".encode()).decode()
    answer = http.post(f"{sf_emulator.base_url}/services/oauth2/token", data={"grant_type": "client_credentials"},
                       headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 200
    client_for(sf_emulator, http, answer.json()).query("SELECT Id FROM Lead")
    wrong = base64.b64encode(f"{CREDS.client_id}:nope".encode()).decode()
    refused = http.post(f"{sf_emulator.base_url}/services/oauth2/token", data={"grant_type": "client_credentials"},
                        headers={"Authorization": f"Basic {wrong}"})
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}


class _LoginHostToEmulator(HTTPAdapter):
    """Maps https://login.salesforce.com to the emulator, as a hosts-file entry would."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        assert request.url is not None
        request.url = request.url.replace("https://login.salesforce.com", self.base_url)
        return super().send(request, **kwargs)


def test_simple_salesforce_username_password_constructor_logs_in_over_soap(
        sf_emulator: SalesforceEmulator, http: requests.Session) -> None:
    http.mount("https://login.salesforce.com", _LoginHostToEmulator(sf_emulator.base_url))
    sf_client = Salesforce(username=CREDS.username, password=CREDS.password, security_token=CREDS.security_token,
                           session=http, version="59.0")
    assert sf_client.base_url == f"{sf_emulator.base_url}/services/data/v59.0/"
    assert sf_client.query("SELECT COUNT() FROM Lead")["totalSize"] == 0
    with pytest.raises(SalesforceAuthenticationFailed, match="INVALID_LOGIN"):
        Salesforce(username=CREDS.username, password="bad", security_token=CREDS.security_token, session=http)


def test_missing_or_unknown_token_is_401_invalid_session(sf_emulator: SalesforceEmulator,
                                                         http: requests.Session) -> None:
    url = f"{sf_emulator.base_url}/services/data/v59.0/query/?q=SELECT+Id+FROM+Lead"
    for headers in ({}, {"Authorization": "Bearer not-a-session"}):
        answer = http.get(url, headers=headers)
        assert answer.status_code == 401
        assert answer.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_session_lifetime_uses_the_sandbox_clock(sf_tls: SandboxTLS, http: requests.Session) -> None:
    emulator = SalesforceEmulator(session_lifetime=3600)
    emulator.start(sf_tls.server_context())
    try:
        client = Salesforce(instance_url=emulator.base_url, session_id=emulator.new_session(), session=http,
                            version="59.0")
        client.query("SELECT Id FROM Lead")
        emulator.clock.set_offset(3601)
        with pytest.raises(SalesforceExpiredSession):
            client.query("SELECT Id FROM Lead")
    finally:
        emulator.stop()


def test_session_expiry_fault_ends_the_presented_session_only(sf_emulator: SalesforceEmulator, sf: Salesforce,
                                                              http: requests.Session) -> None:
    sf_emulator.faults.add(kind=SF_SESSION_EXPIRY, endpoint="query")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Lead")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Lead")  # the session stays dead
    fresh = token(http, sf_emulator, **password_form(CREDS.password + CREDS.security_token)).json()
    assert client_for(sf_emulator, http, fresh).query("SELECT COUNT() FROM Lead")["totalSize"] == 0
