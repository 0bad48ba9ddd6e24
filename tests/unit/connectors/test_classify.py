"""Classification tables: every vendor reply and transport failure maps to exactly one meaning."""

from __future__ import annotations

import json
import ssl

import pytest
import requests
import urllib3.exceptions

from leadsync.connectors.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    SessionExpired,
    TransientError,
)
from leadsync.connectors.policy import (
    HttpReply,
    classify_hubspot,
    classify_salesforce,
    classify_transport,
    parse_retry_after,
)


def sf_body(code: str, message: str = "msg", fields: list[str] | None = None) -> bytes:
    return json.dumps([{"message": message, "errorCode": code, "fields": fields or []}]).encode()


def hs_body(status: int, **extra: str) -> str:
    return json.dumps({"status": "error", "message": f"HTTP {status} from HubSpot", "correlationId": "c-1", **extra})


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (400, sf_body("INVALID_FIELD", fields=["Foo__c"]), PermanentError, "INVALID_FIELD"),
        (400, sf_body("MALFORMED_QUERY"), PermanentError, "MALFORMED_QUERY"),
        (400, sf_body("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", fields=["Status"]), PermanentError,
         "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        (400, sf_body("UNABLE_TO_LOCK_ROW"), TransientError, "UNABLE_TO_LOCK_ROW"),
        (401, sf_body("INVALID_SESSION_ID", "Session expired or invalid"), SessionExpired, "INVALID_SESSION_ID"),
        (401, sf_body("INVALID_AUTH_HEADER"), AuthError, "INVALID_AUTH_HEADER"),
        (403, sf_body("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), QuotaExhausted,
         "REQUEST_LIMIT_EXCEEDED"),
        (403, sf_body("INSUFFICIENT_ACCESS"), PermanentError, "INSUFFICIENT_ACCESS"),
        (404, sf_body("NOT_FOUND"), PermanentError, "NOT_FOUND"),
        (300, b'["/services/data/v59.0/sobjects/Lead/00Q1", "/services/data/v59.0/sobjects/Lead/00Q2"]',
         PermanentError, None),
        (429, b"", RateLimited, None),
        (500, sf_body("UNKNOWN_EXCEPTION"), TransientError, "UNKNOWN_EXCEPTION"),
        (503, b"<html>Service Unavailable</html>", TransientError, None),
    ],
)
def test_salesforce_table(status: int, body: bytes, expected: type[ConnectorError], code: str | None) -> None:
    error = classify_salesforce(HttpReply(status, {}, body))
    assert type(error) is expected
    assert error.error_code == code
    assert error.status == status
    assert error.system == "salesforce"


def test_salesforce_success_is_not_an_error_and_fields_are_kept() -> None:
    assert classify_salesforce(HttpReply(200, {}, b"{}")) is None
    assert classify_salesforce(HttpReply(204, {}, b"")) is None
    error = classify_salesforce(HttpReply(400, {}, sf_body("INVALID_FIELD", "No such column", ["Foo__c"])))
    assert error is not None and error.fields == ("Foo__c",)
    assert str(error) == "salesforce 400 INVALID_FIELD: No such column [Foo__c]"


def test_salesforce_lock_error_anywhere_in_the_array_is_transient() -> None:
    body = json.dumps([{"message": "a", "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "fields": []},
                       {"message": "b", "errorCode": "UNABLE_TO_LOCK_ROW", "fields": []}])
    assert isinstance(classify_salesforce(HttpReply(400, {}, body)), TransientError)


@pytest.mark.parametrize(
    ("status", "extra", "headers", "expected", "retry_after"),
    [
        (429, {"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"}, {"Retry-After": "1"}, RateLimited,
         1.0),
        (429, {"errorType": "RATE_LIMIT", "policyName": "SECONDLY"}, {"retry-after": "0.5"}, RateLimited, 0.5),
        (429, {"errorType": "RATE_LIMIT", "policyName": "DAILY"}, {"Retry-After": "3600"}, QuotaExhausted, None),
        (429, {}, {}, RateLimited, None),
        (500, {"category": "INTERNAL_ERROR"}, {}, TransientError, None),
        (502, {}, {}, TransientError, None),
        (504, {}, {"Retry-After": "2"}, TransientError, 2.0),
        (423, {"category": "LOCKED"}, {}, TransientError, None),
        (400, {"category": "VALIDATION_ERROR"}, {}, PermanentError, None),
        (401, {"category": "INVALID_AUTHENTICATION"}, {}, AuthError, None),
        (403, {"category": "MISSING_SCOPES"}, {}, PermanentError, None),
        (404, {"category": "OBJECT_NOT_FOUND"}, {}, PermanentError, None),
        (409, {"category": "CONFLICT"}, {}, PermanentError, None),
    ],
)
def test_hubspot_table(
    status: int, extra: dict[str, str], headers: dict[str, str], expected: type[ConnectorError],
    retry_after: float | None,
) -> None:
    error = classify_hubspot(HttpReply(status, headers, hs_body(status, **extra)))
    assert type(error) is expected
    assert error.system == "hubspot"
    assert error.status == status
    if isinstance(error, TransientError):
        assert error.retry_after == retry_after
    if isinstance(error, RateLimited):
        assert error.policy_name == extra.get("policyName")


def test_hubspot_success_and_partial_batches_are_not_errors() -> None:
    assert classify_hubspot(HttpReply(200, {}, "{}")) is None
    assert classify_hubspot(HttpReply(207, {}, '{"status":"COMPLETE","numErrors":1}')) is None


def test_hubspot_validation_error_carries_category_message_and_property_names() -> None:
    body = {"status": "error", "message": "Property values were not valid", "category": "VALIDATION_ERROR",
            "errors": [{"message": "bad option", "context": {"propertyName": "hs_lead_status"}}]}
    error = classify_hubspot(HttpReply(400, {}, json.dumps(body).encode()))
    assert isinstance(error, PermanentError)
    assert (error.error_code, error.message, error.fields) == (
        "VALIDATION_ERROR", "Property values were not valid", ("hs_lead_status",))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (requests.exceptions.ConnectionError("reset by peer"), TransientError),
        (requests.exceptions.ReadTimeout("read timed out"), TransientError),
        (requests.exceptions.ConnectTimeout("connect timed out"), TransientError),
        (requests.exceptions.ChunkedEncodingError("broken"), TransientError),
        (urllib3.exceptions.ProtocolError("Connection aborted."), TransientError),
        (urllib3.exceptions.ReadTimeoutError(None, "/x", "read timed out"), TransientError),  # type: ignore[arg-type]
        (ConnectionResetError(104, "reset"), TransientError),
        (requests.exceptions.SSLError("certificate verify failed"), PermanentError),
        (ssl.SSLCertVerificationError("certificate verify failed"), PermanentError),
    ],
)
def test_transport_table(exc: BaseException, expected: type[ConnectorError]) -> None:
    error = classify_transport("salesforce", exc)
    assert type(error) is expected


def test_programming_errors_are_not_classified() -> None:
    assert classify_transport("hubspot", ValueError("bug")) is None
    assert classify_transport("hubspot", KeyError("bug")) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", 1.0), ("0.25", 0.25), (" 2.5 ", 2.5), ("-3", 0.0), ("", None), (None, None), ("soon", None),
     ("nan", None)],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Mon, 05 Jan 2026 12:00:30 GMT", now=now) == 30.0
