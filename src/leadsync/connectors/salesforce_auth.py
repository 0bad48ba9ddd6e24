"""Salesforce authentication and the HTTP plumbing under simple-salesforce.

The connector owns login (simple-salesforce's own login is not used): OAuth 2.0 token requests for the
JWT bearer flow, client credentials (My Domain, Basic auth) and username-password, against production
(``login.salesforce.com``), sandbox (``test.salesforce.com``) or a My Domain login URL. The token is then
handed to ``simple_salesforce.Salesforce(instance_url=..., session_id=..., session=...)``.

The ``requests.Session`` underneath is built here so that every call has a (connect, read) timeout,
every response's ``Sforce-Limit-Info`` feeds the rate limiter, and a configured CA bundle really is
the one used: ``requests`` lets ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE`` override ``session.verify``
unless ``trust_env`` is off, so a CA bundle turns ``trust_env`` off (which also ignores proxy variables
and ``.netrc``; configure neither through the environment when pinning a CA).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import jwt
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError

from leadsync.config.settings import ConfigError, Settings
from leadsync.connectors.errors import AuthError, ConnectorError, TransientError
from leadsync.connectors.policy import (
    SALESFORCE,
    HttpPolicy,
    HttpReply,
    RetrySettings,
    Timeouts,
    classify_transport,
    parse_body,
)
from leadsync.connectors.ratelimit import DEFAULT_KIND, CallCounters, Clock, DailyBudget, SalesforceLimiter, Sleep
from leadsync.logging import register_secret

T = TypeVar("T")

PRODUCTION_LOGIN_URL = "https://login.salesforce.com"
SANDBOX_LOGIN_URL = "https://test.salesforce.com"
TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - an endpoint path, not a credential
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

Flow = Literal["jwt", "client_credentials", "username_password"]


@dataclass(frozen=True)
class SalesforceSession:
    """A logged-in session: where the org lives and the bearer token for it."""

    instance_url: str
    access_token: str = field(repr=False)
    issued_at: datetime
    # The logged-in (integration) user, from the last segment of the token reply's ``id`` URL
    # (``https://login.salesforce.com/id/<org id>/<user id>``); None when the reply had no usable one.
    user_id: str | None = None


@dataclass(frozen=True)
class SalesforceCredentials:
    """Everything a login needs. Secrets are held out of ``repr`` and registered for log redaction."""

    flow: Flow
    login_url: str = PRODUCTION_LOGIN_URL
    api_version: str = "59.0"
    username: str | None = None
    client_id: str | None = None
    private_key: str | None = field(default=None, repr=False)  # PEM text of the JWT signing key
    client_secret: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    ca_bundle: Path | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    jwt_lifetime_seconds: int = 180
    # Salesforce expects the login host as the JWT audience; My Domain setups may need another one.
    jwt_audience: str | None = None

    def __post_init__(self) -> None:
        for secret in (self.private_key, self.client_secret, self.password, self.security_token):
            register_secret(secret)

    @property
    def token_url(self) -> str:
        return self.login_url.rstrip("/") + TOKEN_PATH

    def problems(self) -> list[str]:
        """Missing pieces for the chosen flow, as ``[salesforce] key <- why`` lines."""
        needed: dict[Flow, tuple[str, ...]] = {
            "jwt": ("client_id", "username", "private_key"),
            "client_credentials": ("client_id", "client_secret"),
            "username_password": ("client_id", "username", "password"),
        }
        key_names = {"private_key": "private_key_file"}
        return [
            f"[salesforce] {key_names.get(name, name)} <- required for auth = \"{self.flow}\""
            for name in needed[self.flow]
            if not getattr(self, name)
        ]

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SalesforceCredentials:
        """Credentials from the ``[salesforce]`` section and its secrets; ``overrides`` win (sandbox, tests)."""
        section = settings.salesforce
        private_key = None
        if section.private_key_file is not None:
            try:
                private_key = section.private_key_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    [f"[salesforce] private_key_file <- cannot read {section.private_key_file}: {exc.strerror}"]
                ) from exc
        values: dict[str, Any] = {
            "flow": section.auth,
            "login_url": section.login_url,
            "api_version": section.api_version,
            "username": section.username,
            "client_id": section.client_id,
            "private_key": private_key,
            "client_secret": settings.secret("salesforce", "client_secret"),
            "password": settings.secret("salesforce", "password"),
            "security_token": settings.secret("salesforce", "security_token"),
            "ca_bundle": section.ca_bundle,
            "timeouts": Timeouts(connect=min(10.0, section.timeout_seconds), read=section.timeout_seconds),
        }
        values.update(overrides)
        credentials = cls(**values)
        problems = credentials.problems()
        if problems:
            raise ConfigError(problems)
        return credentials


# ----- HTTP session ----------------------------------------------------------------------------------


class TimeoutSession(requests.Session):
    """A session whose every request has a (connect, read) timeout unless the caller gives one."""

    def __init__(self, timeouts: Timeouts) -> None:
        super().__init__()
        self.default_timeout = timeouts.as_tuple()

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


def build_http_session(
    *,
    ca_bundle: Path | str | None,
    timeouts: Timeouts,
    on_response: Callable[[Mapping[str, str]], Any] | None = None,
) -> TimeoutSession:
    """The ``requests.Session`` every Salesforce call goes through (see the module notes on CA bundles)."""
    session = TimeoutSession(timeouts)
    if ca_bundle is not None:
        session.verify = str(ca_bundle)
        session.trust_env = False
    else:
        session.verify = True
    if on_response is not None:

        def hook(response: requests.Response, *_: Any, **__: Any) -> None:
            on_response(response.headers)

        session.hooks["response"].append(hook)
    return session


def build_salesforce_client(session: SalesforceSession, http: requests.Session, api_version: str) -> Salesforce:
    return Salesforce(
        instance_url=session.instance_url, session_id=session.access_token, session=http, version=api_version
    )


def apply_session(client: Salesforce, session: SalesforceSession) -> None:
    """Point an existing client at a renewed session (its ``SFType`` objects read the token from it)."""
    client.session_id = session.access_token
    client.headers["Authorization"] = "Bearer " + session.access_token


def salesforce_reply_from_exception(
    exc: BaseException, headers: Mapping[str, str] | None = None
) -> HttpReply | ConnectorError | None:
    """simple-salesforce raises ``SalesforceError(url, status, resource_name, content)`` for any >= 300.

    The exception keeps no headers (``Retry-After`` would be lost), so callers pass the headers of the
    response that raised it, as captured by the session's response hook.
    """
    if isinstance(exc, SalesforceError):
        return HttpReply(status=int(exc.status), headers=dict(headers or {}), body=exc.content)
    return None


# ----- login -----------------------------------------------------------------------------------------


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SalesforceAuthenticator:
    """Runs the configured OAuth flow against the token endpoint and returns a :class:`SalesforceSession`."""

    def __init__(
        self, credentials: SalesforceCredentials, http: requests.Session, *, now: Callable[[], datetime] = _utc_now
    ) -> None:
        self.credentials = credentials
        self.http = http
        self.now = now

    def jwt_assertion(self) -> str:
        creds = self.credentials
        assert creds.private_key is not None
        claims = {
            "iss": creds.client_id,
            "sub": creds.username,
            "aud": creds.jwt_audience or creds.login_url.rstrip("/"),
            "exp": int((self.now() + timedelta(seconds=creds.jwt_lifetime_seconds)).timestamp()),
        }
        return jwt.encode(claims, creds.private_key, algorithm="RS256")

    def _request(self) -> tuple[dict[str, str], tuple[str, str] | None]:
        creds = self.credentials
        if creds.flow == "jwt":
            return {"grant_type": JWT_BEARER_GRANT, "assertion": self.jwt_assertion()}, None
        if creds.flow == "client_credentials":
            assert creds.client_id is not None and creds.client_secret is not None
            return {"grant_type": "client_credentials"}, (creds.client_id, creds.client_secret)
        form = {
            "grant_type": "password",
            "client_id": creds.client_id or "",
            "username": creds.username or "",
            "password": (creds.password or "") + (creds.security_token or ""),
        }
        if creds.client_secret:
            form["client_secret"] = creds.client_secret
        return form, None

    def login(self) -> SalesforceSession:
        """One token request. Raises AuthError (refused), TransientError (retry later) or PermanentError (TLS)."""
        problems = self.credentials.problems()
        if problems:
            raise AuthError("; ".join(problems), system=SALESFORCE, error_code="MISSING_CREDENTIALS")
        form, basic = self._request()
        try:
            response = self.http.post(
                self.credentials.token_url, data=form, auth=basic, headers={"Accept": "application/json"}
            )
        except requests.RequestException as exc:
            classified = classify_transport(SALESFORCE, exc)
            if classified is None:
                raise
            raise classified from exc
        return self._session_from(response)

    def _session_from(self, response: requests.Response) -> SalesforceSession:
        body = parse_body(response.content)
        data: dict[str, Any] = body if isinstance(body, dict) else {}
        status = response.status_code
        if status == 429 or status >= 500:
            raise TransientError(f"token endpoint answered {status}", system=SALESFORCE, status=status)
        if status != 200 or not data.get("access_token") or not data.get("instance_url"):
            # Only the vendor's own words: never the form, which holds the password or assertion.
            error = str(data.get("error") or "login_failed")
            description = str(data.get("error_description") or f"HTTP {status}")
            raise AuthError(f"{error}: {description}", system=SALESFORCE, status=status, error_code=error)
        token = str(data["access_token"])
        register_secret(token)
        return SalesforceSession(
            instance_url=str(data["instance_url"]).rstrip("/"),
            access_token=token,
            issued_at=_issued_at(data.get("issued_at")) or self.now(),
            user_id=user_id_of(data.get("id")),
        )


def user_id_of(identity: Any) -> str | None:
    """The user id at the end of an OAuth identity URL, if it is a plain record id (005...)."""
    if not isinstance(identity, str):
        return None
    last = identity.rstrip("/").rsplit("/", 1)[-1]
    return last if re.fullmatch(r"005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?", last) else None


def _issued_at(value: Any) -> datetime | None:
    """Salesforce sends milliseconds since the epoch, as a string."""
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


# ----- the assembled connection ----------------------------------------------------------------------


class SalesforceConnection:
    """Login, the simple-salesforce client, its HTTP session, pacing and the retry policy, in one place.

    ``call(lambda sf: sf.query(soql))`` runs one API request under the policy; after a 401
    ``INVALID_SESSION_ID`` the policy logs in again once and the same ``sf`` object carries the new token.
    """

    def __init__(
        self,
        credentials: SalesforceCredentials,
        *,
        limiter: SalesforceLimiter | None = None,
        retry: RetrySettings | None = None,
        counters: CallCounters | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.credentials = credentials
        self.counters = counters or (limiter.counters if limiter is not None else CallCounters())
        self.limiter = limiter or SalesforceLimiter(
            SALESFORCE, windows={}, daily=DailyBudget(SALESFORCE, limit=None, share=1.0, start=clock()),
            clock=clock, sleep=sleep, counters=self.counters,
        )
        # The headers of the last response each thread received: simple-salesforce's exceptions drop them.
        self._last_headers = threading.local()
        self.http = build_http_session(
            ca_bundle=credentials.ca_bundle, timeouts=credentials.timeouts, on_response=self._on_response
        )
        self.authenticator = SalesforceAuthenticator(credentials, self.http)
        self.policy = HttpPolicy(
            SALESFORCE, limiter=self.limiter, retry=retry, extract_reply=self._extract_reply,
            relogin=self.relogin, clock=clock, sleep=sleep, counters=self.counters,
        )
        self.session: SalesforceSession | None = None
        self._client: Salesforce | None = None

    def _on_response(self, headers: Mapping[str, str]) -> None:
        self._last_headers.value = headers
        self.limiter.observe(headers)

    def _extract_reply(self, exc: BaseException) -> HttpReply | ConnectorError | None:
        return salesforce_reply_from_exception(exc, getattr(self._last_headers, "value", None))

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> SalesforceConnection:
        """Credentials from ``settings`` (``credentials_overrides`` wins), a daily-share limiter, the policy."""
        overrides = kwargs.pop("credentials_overrides", {})
        credentials = SalesforceCredentials.from_settings(settings, **overrides)
        if "limiter" not in kwargs:
            kwargs["limiter"] = SalesforceLimiter.from_settings(
                settings.salesforce, clock=kwargs.get("clock", time.monotonic),
                sleep=kwargs.get("sleep", time.sleep), counters=kwargs.get("counters"),
            )
        return cls(credentials, **kwargs)

    def login(self) -> SalesforceSession:
        """Log in (transient failures retried, outside the API-call budget) and build or refresh the client."""
        session = self.policy.call(self.authenticator.login, paced=False)
        self._install(session)
        return session

    def relogin(self) -> None:
        """Called by the policy inside a call: no nested retrying, the call's own policy retries."""
        self._install(self.authenticator.login())

    def _install(self, session: SalesforceSession) -> None:
        self.session = session
        if self._client is None:
            self._client = build_salesforce_client(session, self.http, self.credentials.api_version)
        else:
            apply_session(self._client, session)

    @property
    def sf(self) -> Salesforce:
        if self._client is None:
            self.login()
        assert self._client is not None
        return self._client

    def call(self, fn: Callable[[Salesforce], T], *, kind: str = DEFAULT_KIND, write: bool = False) -> T:
        """One request under the policy; ``write=True`` for requests that change data (never resent once
        they may have reached the org: see :class:`~leadsync.connectors.errors.ResponseLost`)."""
        client = self.sf
        return self.policy.call(lambda: fn(client), kind=kind, write=write)

    def close(self) -> None:
        self.http.close()
