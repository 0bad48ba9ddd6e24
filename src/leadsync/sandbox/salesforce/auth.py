"""OAuth token endpoint, SOAP login and sessions of the emulated org.

Flows, as the real login service answers them:
- username-password (``grant_type=password``, password followed by the security token),
- JWT bearer (RS256 assertion: iss = client id, sub = username, aud = login URL, exp), checked with PyJWT
  against the public key registered in :class:`Credentials`,
- client credentials (HTTP Basic of client id and secret), running as the integration user,
- SOAP ``login`` (``POST /services/Soap/u/<version>``), which simple-salesforce's ``Salesforce(username=,
  password=, security_token=)`` constructor calls.
Failures carry the real bodies: 400 ``{"error","error_description"}`` and a SOAP ``INVALID_LOGIN`` fault.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import jwt

from leadsync.sandbox.server import Request, Response

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ORG_ID = "00D5g00000LeadSAAA"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass
class Credentials:
    """What the emulated org accepts; defaults are the sandbox's published demo credentials."""

    username: str = "admin@leadsync.sandbox"
    # Published sandbox demo values, not secrets: the sandbox only listens on loopback.
    password: str = "sandbox-password"  # noqa: S105
    security_token: str = "SandboxToken123"  # noqa: S105
    client_id: str = "leadsync-sandbox-client"
    client_secret: str = "leadsync-sandbox-secret"  # noqa: S105
    jwt_public_key: str | None = None  # PEM; JWT bearer is refused until one is registered


@dataclass
class Session:
    token: str
    username: str
    issued_at: datetime
    expired: bool = False


@dataclass
class SessionRegistry:
    lifetime: timedelta | None = None
    sessions: dict[str, Session] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, username: str, now: datetime) -> Session:
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        session = Session(token, username, now)
        with self.lock:
            self.sessions[token] = session
        return session

    def valid(self, token: str, now: datetime) -> bool:
        with self.lock:
            session = self.sessions.get(token)
            if session is None or session.expired:
                return False
            if self.lifetime is not None and now - session.issued_at >= self.lifetime:
                session.expired = True
                return False
            return True

    def expire(self, token: str | None = None) -> None:
        """End one session, or every session (``token=None``), as an admin or a timeout would."""
        with self.lock:
            for session in self.sessions.values():
                if token is None or session.token == token:
                    session.expired = True


def oauth_error(error: str, description: str) -> Response:
    return Response(400, {"error": error, "error_description": description})


@dataclass
class UserLogin:
    username: str
    password: str
    security_token: str
    user_id: str


@dataclass
class ConnectedApp:
    client_id: str
    client_secret: str
    username: str  # who client-credentials and JWT logins run as
    jwt_public_key: str | None = None


Grant = tuple[UserLogin, ConnectedApp]


class LoginService:
    """Registered users and connected apps, and the login flows over them."""

    def __init__(self, sessions: SessionRegistry) -> None:
        self.sessions = sessions
        self.users: dict[str, UserLogin] = {}
        self.apps: dict[str, ConnectedApp] = {}

    def token(self, request: Request, base_url: str, now: datetime) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        grant = form.get("grant_type", "")
        if grant == "password":
            outcome = self._password_grant(form)
        elif grant == JWT_GRANT:
            outcome = self._jwt_grant(form.get("assertion", ""), base_url)
        elif grant == "client_credentials":
            outcome = self._client_grant(form, request.header("authorization"))
        else:
            outcome = oauth_error("unsupported_grant_type", "grant type not supported")
        if isinstance(outcome, Response):
            return outcome
        return Response(200, self._grant_body(outcome, base_url, now))

    def _grant_body(self, grant: Grant, base_url: str, now: datetime) -> dict[str, Any]:
        user, app = grant
        session = self.sessions.open(user.username, now)
        identity = f"{base_url}/id/{ORG_ID}/{user.user_id}"
        issued_at = str(int(time.time() * 1000))
        digest = hmac.new(app.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
        return {
            "access_token": session.token, "instance_url": base_url, "id": identity, "token_type": "Bearer",
            "issued_at": issued_at, "signature": base64.b64encode(digest.digest()).decode(),
        }

    def _app(self, client_id: str | None, client_secret: str | None) -> ConnectedApp | Response:
        app = self.apps.get(client_id or "")
        if app is None:
            return oauth_error("invalid_client_id", "client identifier invalid")
        if client_secret is not None and not hmac.compare_digest(client_secret.encode(), app.client_secret.encode()):
            return oauth_error("invalid_client", "invalid client credentials")
        return app

    def password_ok(self, username: str | None, given: str | None) -> UserLogin | None:
        user = self.users.get(username or "")
        if user is None or given is None:
            return None
        expected = user.password + user.security_token
        return user if hmac.compare_digest(given.encode(), expected.encode()) else None

    def _password_grant(self, form: dict[str, str]) -> Grant | Response:
        app = self._app(form.get("client_id"), form.get("client_secret", ""))
        if isinstance(app, Response):
            return app
        user = self.password_ok(form.get("username"), form.get("password"))
        if user is None:
            return oauth_error("invalid_grant", "authentication failure")
        return user, app

    def _jwt_grant(self, assertion: str, base_url: str) -> Grant | Response:
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return oauth_error("invalid_grant", "invalid assertion")
        app = self.apps.get(str(unverified.get("iss", "")))
        if app is None:
            return oauth_error("invalid_client_id", "client identifier invalid")
        if app.jwt_public_key is None:
            return oauth_error("invalid_grant", "invalid assertion")
        try:
            claims = jwt.decode(assertion, app.jwt_public_key, algorithms=["RS256"],
                                audience=[*LOGIN_AUDIENCES, base_url],
                                options={"require": ["iss", "sub", "aud", "exp"]})
        except jwt.ExpiredSignatureError:
            return oauth_error("invalid_grant", "expired authorization code")
        except jwt.InvalidAudienceError:
            return oauth_error("invalid_grant", "audience is invalid")
        except jwt.PyJWTError:
            return oauth_error("invalid_grant", "invalid assertion")
        user = self.users.get(str(claims.get("sub", "")))
        if user is None:
            return oauth_error("invalid_grant", "user hasn't approved this consumer")
        return user, app

    def _client_grant(self, form: dict[str, str], authorization: str | None) -> Grant | Response:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode()
            except ValueError:
                return oauth_error("invalid_client", "invalid client credentials")
            client_id, _, client_secret = decoded.partition(":")
        if client_secret is None:
            return oauth_error("invalid_client", "invalid client credentials")
        app = self._app(client_id, client_secret)
        if isinstance(app, Response):
            return app
        user = self.users.get(app.username)
        if user is None:
            return oauth_error("invalid_grant", "no client credentials user enabled")
        return user, app

    # ----- SOAP login ----------------------------------------------------------------------------
    def soap_login(self, request: Request, base_url: str, version: str, now: datetime) -> Response:
        body = request.body.decode("utf-8", "replace")
        user = self.password_ok(_xml_text(body, "username"), _xml_text(body, "password"))
        if user is None:
            return Response(500, raw=_SOAP_FAULT.encode(), content_type="text/xml;charset=UTF-8")
        session = self.sessions.open(user.username, now)
        answer = _SOAP_OK.format(
            server=f"{base_url}/services/Soap/u/{version}/{ORG_ID[:15]}", session=session.token,
            user=user.user_id, org=ORG_ID, username=html.escape(user.username),
        )
        return Response(200, raw=answer.encode(), content_type="text/xml;charset=UTF-8")


def _xml_text(body: str, element: str) -> str | None:
    """The text of the first ``<prefix:element>`` (a regex, not an XML parser: no entity expansion)."""
    match = re.search(rf"<(?:\w+:)?{element}>(.*?)</(?:\w+:)?{element}>", body, re.DOTALL)
    return html.unescape(match.group(1)) if match else None


_SOAP_OK = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
    'envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<soapenv:Body><loginResponse><result><metadataServerUrl>{server}</metadataServerUrl>"
    "<passwordExpired>false</passwordExpired><sandbox>true</sandbox><serverUrl>{server}</serverUrl>"
    "<sessionId>{session}</sessionId><userId>{user}</userId><userInfo><organizationId>{org}</organizationId>"
    "<userName>{username}</userName></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
)
_SOAP_FAULT = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
    'envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<soapenv:Body><soapenv:Fault><faultcode>INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid "
    "username, password, security token; or user locked out.</faultstring><detail><sf:LoginFault "
    'xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid '
    "username, password, security token; or user locked out.</sf:exceptionMessage></sf:LoginFault></detail>"
    "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
)
