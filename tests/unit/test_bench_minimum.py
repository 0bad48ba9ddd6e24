"""The benchmark's theoretical-minimum arithmetic (pure; no timing is asserted here)."""

from __future__ import annotations

import math

import pytest
from bench.minimum import (
    archived_owners_needed,
    batches,
    calls_ratio,
    hubspot_floor_seconds,
    hubspot_minimum,
    pages,
    salesforce_floor_seconds,
    salesforce_minimum,
)


def test_an_empty_stream_costs_one_read_and_full_pages_round_up() -> None:
    assert pages(0, 200) == 1
    assert pages(200, 200) == 1
    assert pages(201, 200) == 2
    assert batches(0, 100) == 0
    assert batches(101, 100) == 2


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        pages(-1, 200)
    with pytest.raises(ValueError):
        batches(5, 0)


def test_salesforce_reads_each_stream_at_2000_and_writes_each_object_at_200() -> None:
    minimum = salesforce_minimum({"Lead": 6_000, "Contact": 4_001, "Task": 0}, {"Lead": 401, "Contact": 0})
    assert minimum.detail == {"read Lead": 3, "read Contact": 3, "read Task": 1, "write Lead": 3}
    assert (minimum.reads, minimum.writes, minimum.total) == (7, 3, 10)


def test_hubspot_counts_search_pages_associations_and_backward_stage_clears() -> None:
    minimum = hubspot_minimum({"owners": 12, "owners_archived": 0, "contacts": 10_000, "contacts_archived": 150,
                               "calls": 2_500, "events": 2_001, "notes": 0}, 250, cleared=30)
    assert minimum.detail["read contacts"] == 50
    assert minimum.detail["read contacts_archived"] == 2
    assert minimum.detail["read calls"] == 13
    assert minimum.detail["read calls associations"] == 3
    assert "read notes associations" not in minimum.detail
    assert minimum.detail["read events"] == 3
    assert minimum.detail["read back cleared contacts"] == 1  # clear, set, read back (reliability.md #13)
    assert minimum.reads == 1 + 1 + 50 + 2 + 13 + 3 + 3 + 1 + 1
    assert minimum.writes == 3 + 1


def test_archived_owners_are_listed_on_the_first_sync_and_after_an_active_owner_left() -> None:
    assert archived_owners_needed(None, {"1", "2"})
    assert not archived_owners_needed({"1", "2"}, {"1", "2"})
    assert not archived_owners_needed({"1", "2"}, {"1", "2", "3"})  # a new owner is listed active
    assert archived_owners_needed({"1", "2"}, {"1", "3"})  # owner 2 left the active listing
    rows = {"owners": 12, "owners_archived": 3, "contacts": 0}
    assert hubspot_minimum(rows, 0).detail["read owners_archived"] == 1
    skipped = hubspot_minimum(rows, 0, archived_owners=False)
    assert "read owners_archived" not in skipped.detail
    assert skipped.reads == 2


def test_calls_ratio() -> None:
    assert calls_ratio(105, 100) == pytest.approx(1.05)
    assert calls_ratio(0, 0) == 1.0
    assert math.isinf(calls_ratio(3, 0))


def test_hubspot_floor_is_the_slower_of_burst_and_search_budgets() -> None:
    assert hubspot_floor_seconds(190, 0) == 0.0
    assert hubspot_floor_seconds(1_140, 0) == pytest.approx(50.0)  # 950 more at 19 per second
    assert hubspot_floor_seconds(300, 255) == pytest.approx(50.0)  # searches at 5 per second dominate
    with pytest.raises(ValueError):
        hubspot_floor_seconds(10, 11)


def test_salesforce_has_no_floor_inside_the_daily_allocation() -> None:
    assert salesforce_floor_seconds(50_000, 50_000) == 0.0
    assert salesforce_floor_seconds(50_001, 50_000) == 86_400.0
