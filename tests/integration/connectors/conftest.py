"""Tiny TLS emulators for the connector plumbing: a Salesforce token endpoint plus one query route, and a
HubSpot contacts page. Real HTTPS on loopback, real form bodies, real JWT verification."""

from __future__ import annotations

import base64
import itertools
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from leadsync.sandbox.server import Emulator, Request, Response
from leadsync.sandbox.tls import SandboxTLS

CLIENT_ID = "3MVG9leadsync.test.client"
CLIENT_SECRET = "client-secret-5f2a9c"
USERNAME = "integration@example.com"
PASSWORD = "Pa55word-that-must-not-leak"
SECURITY_TOKEN = "SecTok123"
HUBSPOT_TOKEN = "pat-na1-0a1b2c3d-1111-2222-3333-444455556666"
API_VERSION = "59.0"


class Recorder:
    """An injectable sleep that records waits instead of sleeping (the HTTP stays real)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class FakeSalesforce(Emulator):
    system = "salesforce"

    def __init__(self, public_key_pem: bytes) -> None:
        super().__init__()
        self.public_key_pem = public_key_pem
        self.token_requests: list[dict[str, Any]] = []
        self.valid_tokens: set[str] = set()
        self.usage = 18
        self.usage_max = 5000
        self.refuse_all_sessions = False
        self._serial = itertools.count(1)
        self.route("POST", "/services/oauth2/token", "token", self.token)
        self.route("GET", rf"/services/data/v{API_VERSION}/query/?", "query", self.query)

    # -- OAuth ----------------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        self.token_requests.append({"form": form, "authorization": request.header("authorization")})
        if self._accepts(form, request.header("authorization")):
            token = f"00D000000000001AAA!{secrets.token_urlsafe(24)}"
            self.valid_tokens.add(token)
            return Response(200, {
                "access_token": token, "instance_url": self.base_url, "token_type": "Bearer",
                "id": f"{self.base_url}/id/00D000000000001AAA/005000000000001AAA",
                "issued_at": str(1_700_000_000_000 + next(self._serial)), "signature": "c2ln",
            })
        return Response(400, {"error": "invalid_grant", "error_description": "authentication failure"})

    def _accepts(self, form: dict[str, str], authorization: str | None) -> bool:
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            try:
                claims = jwt.decode(form.get("assertion", ""), self.public_key_pem, algorithms=["RS256"],
                                    audience=self.base_url, issuer=CLIENT_ID, options={"require": ["exp"]})
            except jwt.PyJWTError:
                return False
            return bool(claims.get("sub") == USERNAME)
        if grant == "client_credentials":
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            return authorization == f"Basic {expected}"
        if grant == "password":
            return (form.get("client_id"), form.get("username"), form.get("password")) == (
                CLIENT_ID, USERNAME, PASSWORD + SECURITY_TOKEN)
        return False

    # -- API ------------------------------------------------------------------------------------------
    def authorize(self, request: Request, endpoint: str) -> Response | None:
        if endpoint == "token":
            return None
        token = (request.header("authorization") or "").removeprefix("Bearer ")
        if self.refuse_all_sessions or token not in self.valid_tokens:
            return Response(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        return None

    def query(self, request: Request) -> Response:
        soql = request.arg("q") or ""
        if not soql.upper().startswith("SELECT"):
            return Response(400, [{"message": "unexpected token", "errorCode": "MALFORMED_QUERY"}])
        return Response(200, {"totalSize": 1, "done": True, "records": [
            {"attributes": {"type": "Lead", "url": f"/services/data/v{API_VERSION}/sobjects/Lead/00Q000000000001"},
             "Id": "00Q000000000001AAA"}]})

    def decorate(self, response: Response, endpoint: str) -> None:
        if endpoint != "token":
            self.usage += 1
            response.headers["Sforce-Limit-Info"] = f"api-usage={self.usage}/{self.usage_max}"

    def error_response(self, status: int, code: str, message: str) -> Response:
        return Response(status, [{"message": message, "errorCode": code}])

    def expire_sessions(self) -> None:
        self.valid_tokens.clear()


class FakeHubSpot(Emulator):
    system = "hubspot"

    def __init__(self) -> None:
        super().__init__()
        self.daily_remaining = 249_000
        self.route("GET", "/crm/v3/objects/contacts", "contacts.list", self.contacts)

    def authorize(self, request: Request, endpoint: str) -> Response | None:
        if request.header("authorization") != f"Bearer {HUBSPOT_TOKEN}":
            return Response(401, {"status": "error", "message": "Authentication credentials not found.",
                                  "correlationId": "c0ffee00-0000-0000-0000-000000000001",
                                  "category": "INVALID_AUTHENTICATION"})
        return None

    def contacts(self, request: Request) -> Response:
        if request.arg("limit") == "0":
            return Response(400, {"status": "error", "message": "limit must be positive",
                                  "correlationId": "c0ffee00-0000-0000-0000-000000000002",
                                  "category": "VALIDATION_ERROR"})
        stamp = "2026-01-05T10:00:00.000Z"
        return Response(200, {
            "results": [
                {"id": str(n), "properties": {"email": f"p{n}@example.com", "lastmodifieddate": stamp},
                 "createdAt": stamp, "updatedAt": stamp, "archived": False}
                for n in (101, 102)
            ],
            "paging": {"next": {"after": "103", "link": f"{self.base_url}/crm/v3/objects/contacts?after=103"}},
        })

    def decorate(self, response: Response, endpoint: str) -> None:
        self.daily_remaining -= 1
        response.headers.update({
            "X-HubSpot-RateLimit-Max": "100", "X-HubSpot-RateLimit-Remaining": "99",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily_remaining),
        })


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> SandboxTLS:
    return SandboxTLS.create(tmp_path_factory.mktemp("trusted-ca"))


@pytest.fixture(scope="module")
def untrusted_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA that did not sign the emulators' certificate."""
    return SandboxTLS.create(tmp_path_factory.mktemp("other-ca")).ca_path


@pytest.fixture(scope="module")
def rsa_key() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


@pytest.fixture
def salesforce(tls: SandboxTLS, rsa_key: tuple[str, bytes]) -> Iterator[FakeSalesforce]:
    emulator = FakeSalesforce(rsa_key[1])
    emulator.start(tls.server_context())
    yield emulator
    emulator.stop()


@pytest.fixture
def hubspot(tls: SandboxTLS) -> Iterator[FakeHubSpot]:
    emulator = FakeHubSpot()
    emulator.start(tls.server_context())
    yield emulator
    emulator.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
