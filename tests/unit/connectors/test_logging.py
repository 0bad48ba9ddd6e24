"""Log output: JSON lines with the run id, readable console lines, and no secret in either."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from leadsync.logging import configure_logging, get_logger, redact_text, register_secret, start_job

SF_TOKEN = "00D5g000004Xyz1!AQ4AQLqf9.ZvR8_abcDEF123xyz"
HS_TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
PASSWORD = "Tr0ub4dor&3-horse"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back for the tests that follow."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("debug", "json", stream=buffer)
    yield buffer
    structlog.contextvars.clear_contextvars()


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_run_id_level_logger_and_timestamp(json_log: io.StringIO) -> None:
    run_id = start_job(system="salesforce")
    get_logger("leadsync.sync").info("pulled", records=12)
    (line,) = lines(json_log)
    assert line["event"] == "pulled"
    assert line["records"] == 12
    assert line["run_id"] == run_id
    assert line["system"] == "salesforce"
    assert line["level"] == "info"
    assert line["logger"] == "leadsync.sync"
    assert str(line["timestamp"]).endswith("Z")


def test_start_job_clears_what_the_previous_job_bound(json_log: io.StringIO) -> None:
    start_job("run-1", object_type="Lead")
    start_job("run-2")
    get_logger().info("next")
    (line,) = lines(json_log)
    assert line["run_id"] == "run-2"
    assert "object_type" not in line


def test_secret_keys_are_masked_at_any_depth(json_log: io.StringIO) -> None:
    get_logger().info(
        "login",
        password=PASSWORD,
        request={"headers": {"Authorization": f"Bearer {HS_TOKEN}"}, "form": [{"client_secret": "cs-9f8e7d6c"}]},
        access_token=SF_TOKEN,
        Session_Id=SF_TOKEN,
    )
    output = json_log.getvalue()
    for secret in (PASSWORD, HS_TOKEN, SF_TOKEN, "cs-9f8e7d6c"):
        assert secret not in output
    (line,) = lines(json_log)
    assert line["password"] == "***"
    assert line["request"] == {"headers": {"Authorization": "***"}, "form": [{"client_secret": "***"}]}


def test_secret_looking_text_is_masked_inside_ordinary_fields(json_log: io.StringIO) -> None:
    get_logger().warning(
        "retrying",
        detail=f"GET /query failed for session {SF_TOKEN} using Authorization: Bearer {HS_TOKEN}",
        form=f"grant_type=password&username=a%40b.com&password={PASSWORD}&client_id=abc",
        jwt="eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl",
        body=b'{"access_token":"opaque-123456","instance_url":"https://x"}',
    )
    output = json_log.getvalue()
    for secret in (SF_TOKEN, HS_TOKEN, PASSWORD, "eyJpc3MiOiJ4In0", "opaque-123456"):
        assert secret not in output
    (line,) = lines(json_log)
    assert "username=a%40b.com" in str(line["form"])  # what is not secret stays readable
    assert "instance_url" in str(line["body"])


def test_exceptions_and_tracebacks_are_included_and_redacted(json_log: io.StringIO) -> None:
    register_secret(PASSWORD)
    try:
        raise RuntimeError(f"token endpoint refused {PASSWORD} (session {SF_TOKEN})")
    except RuntimeError:
        get_logger().exception("login failed")
    (line,) = lines(json_log)
    exception = str(line["exception"])
    assert "Traceback (most recent call last)" in exception
    assert "RuntimeError: token endpoint refused" in exception
    assert PASSWORD not in exception and SF_TOKEN not in exception


def test_exception_objects_as_values_are_rendered_redacted(json_log: io.StringIO) -> None:
    get_logger().error("call failed", error=ValueError(f"bad header Bearer {HS_TOKEN}"))
    (line,) = lines(json_log)
    assert HS_TOKEN not in json_log.getvalue()
    assert line["error"] == "bad header Bearer ***"


def test_standard_library_records_go_through_the_same_redaction(json_log: io.StringIO) -> None:
    start_job("run-std")
    logging.getLogger("some.library").warning("sending Authorization=%s", f"Bearer {HS_TOKEN}")
    (line,) = lines(json_log)
    assert HS_TOKEN not in json_log.getvalue()
    assert line["run_id"] == "run-std"
    assert line["logger"] == "some.library"


def test_vendor_debug_logs_are_held_back_even_at_debug_level(json_log: io.StringIO) -> None:
    logging.getLogger("hubspot.crm.contacts.rest").debug("response body: %s", "{...}")
    assert json_log.getvalue() == ""


def test_console_format_is_readable_and_redacted() -> None:
    buffer = io.StringIO()
    configure_logging("info", "console", stream=buffer)
    start_job("run-c")
    get_logger("leadsync").info("hello", password=PASSWORD, note=f"token {SF_TOKEN}")
    output = buffer.getvalue()
    assert "hello" in output and "run_id=run-c" in output
    assert PASSWORD not in output and SF_TOKEN not in output
    assert not output.lstrip().startswith("{")
    structlog.contextvars.clear_contextvars()


def test_auto_format_picks_json_when_not_a_terminal() -> None:
    buffer = io.StringIO()
    configure_logging("info", "auto", stream=buffer)
    get_logger().info("piped")
    assert json.loads(buffer.getvalue())["event"] == "piped"


def test_levels_below_the_configured_one_are_dropped() -> None:
    buffer = io.StringIO()
    configure_logging("warning", "json", stream=buffer)
    get_logger().info("quiet")
    get_logger().warning("loud")
    assert [line["event"] for line in lines(buffer)] == ["loud"]


def test_unknown_level_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("chatty", "json", stream=io.StringIO())


def test_registered_secrets_are_masked_wherever_they_appear() -> None:
    register_secret("plain-words-secret")
    assert redact_text("the value plain-words-secret leaked") == "the value *** leaked"
    register_secret("abc")  # too short to mask safely: would shred ordinary words
    assert redact_text("abcdef") == "abcdef"
