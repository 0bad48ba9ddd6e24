"""The errors every connector call ends in, whichever vendor and client library produced them.

Vendor replies and transport failures are classified once (in :mod:`leadsync.connectors.policy`) into
this small hierarchy, so the sync engine decides on meaning, never on status codes:

- :class:`TransientError` (and :class:`RateLimited`): worth retrying, after ``retry_after`` seconds
  when the server said so. Only 429, 5xx, connection failures, timeouts and record-lock errors.
  :class:`ResponseLost` is the transient error of a write that may have been committed: never retried
  by the policy, resolved by reading back.
- :class:`QuotaExhausted`: the daily allocation (or our configured share of it) is spent. Retrying
  would only burn more of it: the run stops cleanly and resumes on a later cycle.
- :class:`AuthError` / :class:`SessionExpired`: credentials refused, or a session that died and may be
  renewed once by logging in again.
- :class:`PermanentError`: any other 4xx. Carries the vendor's error code, message and fields so the
  engine can quarantine a record with the reason.

Messages never carry credentials: they are built from vendor error codes and messages only.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every classified connector failure."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status: int | None = None,
        error_code: str | None = None,
        fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.status = status
        self.error_code = error_code
        self.fields = fields

    def __str__(self) -> str:
        parts = [self.system]
        if self.status is not None:
            parts.append(str(self.status))
        if self.error_code:
            parts.append(self.error_code)
        where = f" [{', '.join(self.fields)}]" if self.fields else ""
        return f"{' '.join(parts)}: {self.message}{where}"


class TransientError(ConnectorError):
    """Retry later: 5xx, a dropped connection, a timeout, a locked row. ``retry_after`` in seconds."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status: int | None = None,
        error_code: str | None = None,
        fields: tuple[str, ...] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, system=system, status=status, error_code=error_code, fields=fields)
        self.retry_after = retry_after


class ResponseLost(TransientError):
    """A write whose request may have reached the server, but whose answer never came (a read timeout, a
    connection reset after sending, a gateway error). The server may have committed it: it is never
    re-sent blindly; the connector reads its targets back to learn what they hold."""


class RateLimited(TransientError):
    """A short-window limit was hit (HubSpot TEN_SECONDLY_ROLLING / SECONDLY, any plain 429)."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status: int | None = 429,
        error_code: str | None = None,
        retry_after: float | None = None,
        policy_name: str | None = None,
    ) -> None:
        super().__init__(message, system=system, status=status, error_code=error_code, retry_after=retry_after)
        self.policy_name = policy_name


class QuotaExhausted(ConnectorError):
    """The daily allocation, or the share of it leadsync may use, is spent: stop the run, do not retry."""


class AuthError(ConnectorError):
    """Credentials refused or a session that could not be renewed. Never carries the secret itself."""


class SessionExpired(AuthError):
    """Salesforce INVALID_SESSION_ID: log in again once, then give up with :class:`AuthError`."""


class PermanentError(ConnectorError):
    """Any other 4xx (and TLS verification failures): retrying cannot help, the request must change."""
