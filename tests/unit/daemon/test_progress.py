"""progress(): a rich bar on a terminal, two quiet log lines otherwise."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from leadsync.daemon.progress import progress
from leadsync.logging import configure_logging


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    yield stream
    configure_logging("info", "json")


def test_without_a_terminal_nothing_is_drawn_and_the_log_says_start_and_end(log: io.StringIO) -> None:
    out = io.StringIO()
    with progress("pulling Lead", total=None, stream=out) as bar:
        for _ in range(3):
            bar.advance(200)
        bar.set_total(600)
    assert out.getvalue() == ""
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [(e["event"], e["operation"]) for e in lines] == [("started", "pulling Lead"), ("done", "pulling Lead")]
    assert lines[0]["total"] is None and lines[1]["count"] == 600


def test_on_a_terminal_a_bar_counts_what_was_done(log: io.StringIO) -> None:
    out = Terminal()
    with progress("pulling contacts", total=50, stream=out) as bar:
        for _ in range(5):
            bar.advance(10)
    drawn = out.getvalue()
    assert "pulling contacts" in drawn and "50/50" in drawn
    assert [json.loads(line)["event"] for line in log.getvalue().splitlines()] == ["done"]
