"""Notifications against a real local HTTP receiver: payload shapes, retries on 5xx and 429, no retry on
other 4xx, rate limiting, dead letters, and a dead or hanging receiver never holding up the caller."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from leadsync.ledger import SlaClock
from leadsync.notify import (
    DeadLetters,
    Endpoint,
    NotificationKind,
    Notifier,
    SenderPolicy,
    mql_handoff,
    sla_breach,
)

AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
FAST = SenderPolicy(queue_size=10, max_attempts=3, backoff_base=0.01, backoff_max=0.05, rate_per_second=1000,
                    burst=1000, timeout=2.0)


class Receiver:
    """A webhook receiver: answers with the scripted statuses in turn (then 200), records every body."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.bodies: list[dict[str, Any]] = []
        self.arrivals: list[float] = []  # monotonic clock, when each request was read
        self.headers: list[dict[str, str]] = []
        self.hold = threading.Event()
        self.hold.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.hold.wait(10)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.arrivals.append(time.monotonic())
                receiver.bodies.append(json.loads(body))
                receiver.headers.append(dict(self.headers))
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def clock() -> SlaClock:
    return SlaClock(7, "p1", "mql_accepted", AT, AT, owner_id="ivy@example.com")


def test_json_and_slack_payloads_with_signature(receiver: Receiver, tmp_path: Path) -> None:
    endpoints = [Endpoint("hook", receiver.url, "json", secret="s3cret"), Endpoint("slack", receiver.url, "slack")]
    notifier = Notifier(endpoints, DeadLetters(tmp_path / "dead.jsonl"), FAST)
    note = mql_handoff("p1", AT, email="fay@example.com", owner="ivy@example.com", score=120, grade="A")
    assert notifier.submit(note)
    notifier.close(5)
    plain, slack = sorted(receiver.bodies, key=lambda b: "blocks" in b)
    assert plain == {"id": note.id, "event": "mql_handoff", "person_id": "p1", "at": "2026-11-24T09:30:00Z",
                     "summary": "New MQL fay@example.com handed to ivy@example.com",
                     "details": {"email": "fay@example.com", "owner": "ivy@example.com", "score": 120, "grade": "A"}}
    assert slack["text"] == plain["summary"] and slack["blocks"][0]["type"] == "section"
    assert {"type": "mrkdwn", "text": "*grade:* A"} in slack["blocks"][1]["fields"]
    signed = next(h for h in receiver.headers if "X-Leadsync-Signature" in h)
    body = json.dumps(plain).encode()
    assert signed["X-Leadsync-Signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert notifier.stats.sent == 2 and notifier.stats.dead_lettered == 0


def test_retries_5xx_and_429_then_delivers(receiver: Receiver, tmp_path: Path) -> None:
    receiver.script = [503, 429]
    notifier = Notifier([Endpoint("hook", receiver.url)], DeadLetters(tmp_path / "dead.jsonl"), FAST)
    notifier.submit(sla_breach(clock(), AT, ("notify",)))
    notifier.close(5)
    assert len(receiver.bodies) == 3 and notifier.stats.retried == 2 and notifier.stats.sent == 1
    assert receiver.bodies[-1]["event"] == NotificationKind.SLA_BREACH.value
    assert receiver.bodies[-1]["details"]["sla"] == "mql_accepted"


def test_gives_up_after_max_attempts_and_on_4xx_into_dead_letters(receiver: Receiver, tmp_path: Path) -> None:
    receiver.script = [500, 500, 500, 400]
    dead = DeadLetters(tmp_path / "dead.jsonl")
    notifier = Notifier([Endpoint("hook", receiver.url)], dead, FAST)
    notifier.submit(mql_handoff("p1", AT))
    notifier.submit(mql_handoff("p2", AT))
    notifier.close(5)
    assert len(receiver.bodies) == 4  # three tries for p1, one for p2 (a 400 is not retried)
    letters = dead.read()
    assert [(d["notification"]["person_id"], d["attempts"]) for d in letters] == [("p1", 3), ("p2", 1)]
    assert "gave up after 3 attempts: HTTP 500" in letters[0]["reason"] and letters[1]["reason"] == "refused: HTTP 400"
    assert receiver.url not in (tmp_path / "dead.jsonl").read_text()  # webhook URLs are secrets


def test_rate_limit_spaces_messages(receiver: Receiver, tmp_path: Path) -> None:
    policy = SenderPolicy(queue_size=10, rate_per_second=20, burst=1, timeout=2.0)
    notifier = Notifier([Endpoint("hook", receiver.url)], DeadLetters(tmp_path / "dead.jsonl"), policy)
    for n in range(4):
        notifier.submit(mql_handoff(f"p{n}", AT))
    notifier.close(5)
    arrivals = receiver.arrivals
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) == 4 and all(gap >= 0.04 for gap in gaps)  # 20/s with no burst: >= 50 ms apart


def test_hanging_receiver_never_blocks_the_caller(receiver: Receiver, tmp_path: Path) -> None:
    receiver.hold.clear()  # the receiver accepts connections but never answers
    dead = DeadLetters(tmp_path / "dead.jsonl")
    policy = SenderPolicy(queue_size=5, max_attempts=2, backoff_base=0.01, rate_per_second=1000, burst=1000,
                          timeout=0.5)
    notifier = Notifier([Endpoint("hook", receiver.url)], dead, policy)
    accepted = [notifier.submit(mql_handoff(f"p{n}", AT)) for n in range(20)]
    # Every submit returned at once: one message in flight, five queued, the rest dead-lettered on the spot.
    assert accepted.count(True) in (5, 6) and accepted.count(False) == 20 - accepted.count(True)
    assert all(d["reason"] == "queue full" for d in dead.read())
    notifier.close(0.2)
    assert notifier.stats.sent == 0
    assert len(dead.read()) == 20  # nothing lost: every message is in the dead-letter file


def test_dead_receiver_connection_refused(tmp_path: Path) -> None:
    dead = DeadLetters(tmp_path / "dead.jsonl")
    notifier = Notifier([Endpoint("hook", "http://127.0.0.1:9/nothing")], dead, FAST)
    notifier.submit(mql_handoff("p1", AT))
    notifier.close(5)
    (letter,) = dead.read()
    assert letter["attempts"] == 3 and "connection failed" in letter["reason"]


def test_endpoint_refuses_non_web_urls() -> None:
    with pytest.raises(ValueError, match="https://"):
        Endpoint("hook", "file:///etc/passwd")


def test_sweep_sends_breach_notification_after_commit(receiver: Receiver, tmp_path: Path, ledger: Any) -> None:
    from leadsync.rules.ruleset import load_ruleset
    from leadsync.sla_engine import reconcile, sweep
    from tests.integration.reports.builders import berlin, walk, write

    ruleset = load_ruleset(Path(__file__).resolve().parents[3] / "mappings")
    mql = berlin(2026, 11, 2, 10)
    epoch = write(ledger, walk("p9", ("Inquiry", mql), ("MQL", mql)))
    with ledger.unit_of_work() as uow:
        reconcile(uow, ruleset.sla, "p9", mql, owner_id="ivy.inside@example.com")
    notifier = Notifier([Endpoint("hook", receiver.url)], DeadLetters(tmp_path / "dead.jsonl"), FAST)
    result = sweep(ledger, ruleset, berlin(2026, 11, 3, 11), epoch=epoch, notifier=notifier,
                   warned_until=berlin(2026, 11, 3, 11))
    notifier.close(5)
    assert result.notified == 1
    (body,) = receiver.bodies
    assert (body["event"], body["person_id"], body["details"]["sla"], body["details"]["owner"]) == \
        ("sla_breach", "p9", "mql_accepted", "ivy.inside@example.com")
    assert body["details"]["due_at"] == "2026-11-03T09:00:00Z" and body["details"]["actions"] == ["notify",
                                                                                                  "write_fields"]
