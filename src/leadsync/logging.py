"""Structured logs: JSON lines for machines, readable lines on a terminal, and never a secret in either.

:func:`configure_logging` routes both structlog and the standard library (urllib3, the vendor clients,
APScheduler) through one chain:

    contextvars (run id) -> level, logger name, timestamp -> traceback as text -> REDACT -> render

Redaction runs after tracebacks are formatted and before rendering, so a token inside an exception
message, a nested dict or a library's debug line is masked too. It masks (a) the values of keys that
name secrets, (b) secret-looking substrings (``Bearer ...``, Salesforce session ids ``00D...!...``,
HubSpot private-app tokens, JWTs, ``password=...`` pairs) and (c) any literal value registered with
:func:`register_secret` (a password read from a secret file looks like any other word).

Tracebacks are rendered as plain text (no local variables: locals are where secrets live).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import uuid
from collections.abc import Mapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

MASK = "***"

# Key names (lowercased, '-' read as '_') whose values are always masked, wherever they nest.
SECRET_KEY_PARTS = (
    "password", "passwd", "secret", "token", "authorization", "session_id", "sessionid", "api_key",
    "apikey", "private_key", "assertion", "cookie", "security_token",
)

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers and token-type prefixes.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=!:-]{4,}"), r"\1 " + MASK),
    # Salesforce session ids / access tokens: org id (00D + 12 or 15 chars), '!', then the token.
    (re.compile(r"\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]+"), "00D" + MASK),
    # HubSpot private-app and OAuth tokens.
    (re.compile(r"\bpat-[a-z]{2,4}\d?-[0-9a-fA-F-]{8,}"), "pat-" + MASK),
    # JWTs (header.payload.signature, base64url): assertions and tokens alike.
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "eyJ" + MASK),
    # key=value / "key": "value" pairs in form bodies, URLs, repr'd dicts and JSON text.
    (
        re.compile(
            r"(?i)([\"']?\b(?:password|passwd|client_secret|access_token|refresh_token|session_id|"
            r"security_token|assertion|token|secret)[\"']?\s*[:=]\s*[\"']?)([^\"'&\s,;}]+)"
        ),
        r"\1" + MASK,
    ),
)

_known_secrets: set[str] = set()
_known_lock = threading.Lock()
_MIN_SECRET_LENGTH = 4


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it appears in a log line (call when a secret is read)."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _known_lock:
            _known_secrets.add(value)


def _is_secret_key(key: object) -> bool:
    name = str(key).lower().replace("-", "_")
    return any(part in name for part in SECRET_KEY_PARTS)


def redact_text(text: str) -> str:
    """Mask every secret-looking substring and every registered secret in ``text``."""
    with _known_lock:
        known = sorted(_known_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` with secrets masked: mappings by key and content, sequences, text, objects."""
    if depth > 20:
        return MASK  # a structure this deep is not a log field; do not risk rendering it raw
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", errors="replace"))
    if isinstance(value, Mapping):
        return {
            k: (MASK if _is_secret_key(k) and v not in (None, "") else redact_value(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, depth + 1) for v in value]
    # Exceptions, paths, datetimes, SecretStr...: render to text now so the renderer cannot leak them.
    return redact_text(str(value))


def redact_processor(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The structlog processor: masks secrets in every field of the event, nested ones included."""
    redacted: EventDict = {}
    for key, value in event_dict.items():
        if key.startswith("_"):  # structlog's own bookkeeping (``_record``, ``_from_structlog``)
            redacted[key] = value
        elif _is_secret_key(key) and value not in (None, ""):
            redacted[key] = MASK
        else:
            redacted[key] = redact_value(value)
    return redacted


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_processor,
    ]


def _renderer(fmt: Literal["json", "console"], stream: TextIO) -> Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer(sort_keys=False, default=str)
    colors = bool(getattr(stream, "isatty", lambda: False)())
    return structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=structlog.dev.plain_traceback)


def configure_logging(
    level: str = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    *,
    stream: TextIO | None = None,
) -> None:
    """Set up structlog and the standard library's root logger (idempotent; the last call wins).

    ``fmt="auto"`` writes JSON lines unless ``stream`` (default: stderr) is a terminal.
    """
    out = stream if stream is not None else sys.stderr
    is_terminal = bool(getattr(out, "isatty", lambda: False)())
    chosen: Literal["json", "console"] = ("console" if is_terminal else "json") if fmt == "auto" else fmt
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r}")
    shared = _shared_processors()
    structlog.configure(
        processors=[*shared[:-2], structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        # Records from structlog arrive with the first processors applied; the rest run here, so the
        # exception text is formatted, then redacted, for both structlog and plain logging records.
        foreign_pre_chain=shared[:-2],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_processor,
            _renderer(chosen, out),
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_leadsync", False):
            root.removeHandler(old)
    handler._leadsync = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric_level)
    # The vendor clients log whole response bodies (personal data) at DEBUG: never below INFO for them.
    for noisy in ("urllib3", "hubspot", "simple_salesforce"):
        logging.getLogger(noisy).setLevel(max(numeric_level, logging.INFO))


def start_job(run_id: str | None = None, **bound: Any) -> str:
    """Clear what the previous job bound and bind a fresh run id (and any extra fields); returns the id."""
    structlog.contextvars.clear_contextvars()
    chosen = run_id or uuid.uuid4().hex[:12]
    structlog.contextvars.bind_contextvars(run_id=chosen, **bound)
    return chosen


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A bound structlog logger (typed ``Any``: structlog's proxies are dynamically typed)."""
    return structlog.get_logger(name, **initial)

