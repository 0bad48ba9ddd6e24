"""The HubSpot client (hubspot-api-client 12) configured for leadsync, and its errors for the classifier.

How the generated client is bent into shape, checked against the library's source:

- ``HubSpot(**kwargs)`` keeps kwargs in a config dict and, on every attribute access such as
  ``client.crm.contacts.basic_api``, calls ``config["api_factory"](package, api_name, config)``. The
  default factory builds a fresh ``Configuration`` + ``ApiClient`` (a new urllib3 pool, so no
  connection reuse) each time. Ours builds one ``ApiClient`` per API package and caches it.
- TLS: ``Configuration.ssl_ca_cert`` is handed to urllib3's ``PoolManager(ca_certs=...)``; verification
  stays ``CERT_REQUIRED`` (``verify_ssl`` is never touched). urllib3 ignores ``REQUESTS_CA_BUNDLE``.
- Retries: ``Configuration.retries = None`` means urllib3's default of 3 silent retries. We set
  ``False``: our policy is the only one that retries, and failures surface unwrapped
  (``ProtocolError``, ``NewConnectionError``, ``ReadTimeoutError``...), except urllib3 ``SSLError``,
  which the library turns into ``ApiException(status=0, reason="SSLError...")`` and then trips over
  (see :func:`hubspot_reply_from_exception`).
- Timeouts: the library has no default (``_request_timeout=None`` waits forever), so each
  ``RESTClientObject.request`` gets ``(connect, read)`` unless the caller passes one.
- Response headers: every generated method has a ``*_with_http_info`` twin returning
  ``(data, status, headers)``; that is how :meth:`HubSpotConnection.call` reads the
  ``X-HubSpot-RateLimit-*`` headers of successful replies. (``api_client.last_response`` exists too,
  but it is shared by all threads using that client, so it is not reliable.) Errors carry theirs in
  ``ApiException.headers``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from hubspot import HubSpot

from leadsync.config.settings import ConfigError, Settings
from leadsync.connectors.errors import ConnectorError, PermanentError
from leadsync.connectors.policy import HUBSPOT, HttpPolicy, HttpReply, RetrySettings, Timeouts
from leadsync.connectors.ratelimit import DEFAULT_KIND, CallCounters, Clock, HubSpotLimiter, Sleep
from leadsync.logging import register_secret

DEFAULT_HOST = "https://api.hubapi.com"


class _CachingApiFactory:
    """The ``api_factory`` hook: one configured ``ApiClient`` per API package, reused across accesses."""

    def __init__(
        self, *, access_token: str, host: str, ca_bundle: str | None, timeouts: Timeouts, pool_maxsize: int
    ) -> None:
        self._access_token = access_token
        self._host = host.rstrip("/")
        self._ca_bundle = ca_bundle
        self._timeouts = timeouts
        self._pool_maxsize = pool_maxsize
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, package: ModuleType, api_name: str, _config: Mapping[str, Any]) -> Any:
        with self._lock:
            api_client = self._clients.get(package.__name__)
            if api_client is None:
                api_client = self._new_api_client(package)
                self._clients[package.__name__] = api_client
        return getattr(package, api_name)(api_client=api_client)

    def _new_api_client(self, package: ModuleType) -> Any:
        configuration = package.Configuration()
        configuration.host = self._host
        configuration.access_token = self._access_token
        configuration.ssl_ca_cert = self._ca_bundle
        configuration.retries = False
        configuration.connection_pool_maxsize = self._pool_maxsize
        api_client = package.ApiClient(configuration=configuration)
        api_client.user_agent = "leadsync (hubspot-api-client-python)"
        _default_timeout(api_client.rest_client, self._timeouts)
        return api_client

    def close(self) -> None:
        with self._lock:
            for api_client in self._clients.values():
                api_client.rest_client.pool_manager.clear()
            self._clients.clear()


def _default_timeout(rest_client: Any, timeouts: Timeouts) -> None:
    """Give every request of this REST client a (connect, read) timeout unless the caller set one.

    The generated ``GET``/``POST``/... methods all go through ``self.request``, so wrapping it on the
    instance covers them all without subclassing each package's generated class.
    """
    original = rest_client.request

    def request(*args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
        return original(*args, _request_timeout=_request_timeout or timeouts.as_tuple(), **kwargs)

    rest_client.request = request


def build_hubspot_client(
    *,
    access_token: str,
    host: str = DEFAULT_HOST,
    ca_bundle: Path | str | None = None,
    timeouts: Timeouts | None = None,
    pool_maxsize: int = 8,
) -> HubSpot:
    """A ``hubspot.HubSpot`` client: given host and CA bundle, timeouts on every call, no retries of its own."""
    register_secret(access_token)
    factory = _CachingApiFactory(
        access_token=access_token, host=host, ca_bundle=str(ca_bundle) if ca_bundle is not None else None,
        timeouts=timeouts or Timeouts(), pool_maxsize=pool_maxsize,
    )
    return HubSpot(access_token=access_token, host=host.rstrip("/"), api_factory=factory)


def _is_hubspot_api_exception(exc: BaseException) -> bool:
    """Each generated package has its own ``ApiException`` class, so match by name and origin."""
    return any(
        cls.__name__ == "ApiException" and cls.__module__.startswith("hubspot.") for cls in type(exc).__mro__
    )


def hubspot_reply_from_exception(exc: BaseException) -> HttpReply | ConnectorError | None:
    """Status, headers and body of an ``ApiException``; ``status=0`` is a failure before any reply.

    hubspot-api-client 12 turns a urllib3 ``SSLError`` into ``ApiException(status=0)`` whose body is
    ``None``, and then its ``ApiClient`` crashes on ``e.body.decode`` while handling it: the caller sees
    an ``AttributeError`` whose ``__context__`` is that ``ApiException``. We look through that crash.
    """
    if isinstance(exc, AttributeError) and exc.__context__ is not None and _is_hubspot_api_exception(
        exc.__context__
    ):
        exc = exc.__context__
    if not _is_hubspot_api_exception(exc):
        return None
    status = int(getattr(exc, "status", 0) or 0)
    if status == 0:
        reason = str(getattr(exc, "reason", "") or "")
        tls = reason.startswith("SSLError")
        return PermanentError(
            f"{'TLS failure' if tls else 'request not sent'}: {reason.splitlines()[-1] if reason else ''}",
            system=HUBSPOT, error_code="TLS_ERROR" if tls else "CLIENT_ERROR",
        )
    headers = {str(k): str(v) for k, v in dict(getattr(exc, "headers", None) or {}).items()}
    return HttpReply(status=status, headers=headers, body=getattr(exc, "body", None))


class HubSpotConnection:
    """The configured client, the HubSpot limiter (burst, search, daily) and the retry policy.

    ``call(lambda hs: hs.crm.contacts.basic_api.get_page_with_http_info(limit=100), kind="default")``
    runs one request under the policy, feeds the reply's rate-limit headers to the limiter and returns
    the deserialized data. ``fn`` must return the ``(data, status, headers)`` of a ``*_with_http_info``
    method. Use ``kind="search"`` for ``.../search`` endpoints (their own 5/s window).
    """

    def __init__(
        self,
        *,
        access_token: str,
        host: str = DEFAULT_HOST,
        ca_bundle: Path | str | None = None,
        timeouts: Timeouts | None = None,
        limiter: HubSpotLimiter | None = None,
        retry: RetrySettings | None = None,
        counters: CallCounters | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.counters = counters or (limiter.counters if limiter is not None else CallCounters())
        self.limiter = limiter or HubSpotLimiter.build(clock=clock, sleep=sleep, counters=self.counters)
        self.client = build_hubspot_client(access_token=access_token, host=host, ca_bundle=ca_bundle, timeouts=timeouts)
        self.policy = HttpPolicy(
            HUBSPOT, limiter=self.limiter, retry=retry, extract_reply=hubspot_reply_from_exception,
            clock=clock, sleep=sleep, counters=self.counters,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> HubSpotConnection:
        """Token, host, CA bundle, timeout and limits from ``[hubspot]``; keyword arguments win."""
        section = settings.hubspot
        token = kwargs.pop("access_token", None) or settings.secret("hubspot", "access_token")
        if not token:
            raise ConfigError(["[hubspot] access_token <- required: set LEADSYNC__HUBSPOT__ACCESS_TOKEN or "
                               "access_token_file"])
        kwargs.setdefault("host", section.host)
        kwargs.setdefault("ca_bundle", section.ca_bundle)
        kwargs.setdefault(
            "timeouts", Timeouts(connect=min(10.0, section.timeout_seconds), read=section.timeout_seconds)
        )
        if "limiter" not in kwargs:
            kwargs["limiter"] = HubSpotLimiter.from_settings(
                section, clock=kwargs.get("clock", time.monotonic), sleep=kwargs.get("sleep", time.sleep),
                counters=kwargs.get("counters"),
            )
        return cls(access_token=token, **kwargs)

    def call(self, fn: Callable[[HubSpot], Any], *, kind: str = DEFAULT_KIND, write: bool = False) -> Any:
        def once() -> Any:
            result = fn(self.client)
            if not (isinstance(result, tuple) and len(result) == 3 and isinstance(result[1], int)):
                raise TypeError("HubSpotConnection.call needs a *_with_http_info method's (data, status, headers)")
            data, _status, headers = result
            self.limiter.observe({str(k): str(v) for k, v in dict(headers or {}).items()})
            return data

        return self.policy.call(once, kind=kind, write=write)

    def close(self) -> None:
        factory = self.client.config.get("api_factory")
        if isinstance(factory, _CachingApiFactory):
            factory.close()
