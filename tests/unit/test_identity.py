from __future__ import annotations

import itertools
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.domain.identity import IdentityIndex, IncomingRecord, RecordRef, normalise_email, resolve
from leadsync.domain.model import System

SF, HS = System.SALESFORCE, System.HUBSPOT


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"p{next(counter)}"


def lead(rid: str, email: str | None, converted_to: str | None = None) -> IncomingRecord:
    target = RecordRef(SF, "contact", converted_to) if converted_to else None
    return IncomingRecord(RecordRef(SF, "lead", rid), email, converted_to=target)


def hs(rid: str, email: str | None, merged: tuple[str, ...] = ()) -> IncomingRecord:
    return IncomingRecord(RecordRef(HS, "contact", rid), email, merged_from=merged)


def test_normalise_email() -> None:
    assert normalise_email("  Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"
    assert normalise_email("no-at-sign") is None
    assert normalise_email("a@b") is None
    assert normalise_email("") is None and normalise_email(None) is None


def test_same_email_in_both_systems_is_one_person() -> None:
    plan = resolve([lead("00Q1", "ada@x.io"), hs("101", "ADA@x.io")], IdentityIndex(), ids())
    assert plan.assignments[RecordRef(SF, "lead", "00Q1")] == plan.assignments[RecordRef(HS, "contact", "101")]
    assert [e.kind for e in plan.events] == ["new", "link"]


def test_two_records_with_one_email_in_one_system_are_flagged_not_merged() -> None:
    plan = resolve([hs("1", "dup@x.io"), hs("2", "dup@x.io")], IdentityIndex(), ids())
    first, second = plan.assignments[RecordRef(HS, "contact", "1")], plan.assignments[RecordRef(HS, "contact", "2")]
    assert first != second
    (dup,) = plan.of_kind("duplicate")
    assert {dup.person_id, dup.other_person_id} == {first, second}


def test_stored_ids_win_over_email() -> None:
    index = IdentityIndex(
        person_of={RecordRef(HS, "contact", "7"): "p-old"},
        people_by_email={"new@x.io": frozenset({"p-other"})},
        records_of={"p-old": frozenset({RecordRef(HS, "contact", "7")})},
    )
    plan = resolve([hs("7", "new@x.io")], index, ids())
    assert plan.assignments[RecordRef(HS, "contact", "7")] == "p-old"
    assert plan.events == ()


def test_conversion_moves_contact_to_the_leads_person_whatever_the_order() -> None:
    contact = IncomingRecord(RecordRef(SF, "contact", "0031"), "ada@x.io")
    for batch in ([contact, lead("00Q1", "ada@x.io", converted_to="0031")],
                  [lead("00Q1", "ada@x.io", converted_to="0031"), contact]):
        plan = resolve(batch, IdentityIndex(), ids())
        assert plan.assignments[contact.ref] == plan.assignments[RecordRef(SF, "lead", "00Q1")]
        assert [e.kind for e in plan.events] == ["new", "conversion"]


def test_merge_remaps_the_merged_away_contact_to_the_survivor() -> None:
    index = IdentityIndex(
        person_of={RecordRef(HS, "contact", "1"): "pA", RecordRef(HS, "contact", "2"): "pB"},
        records_of={"pA": frozenset({RecordRef(HS, "contact", "1")}), "pB": frozenset({RecordRef(HS, "contact", "2")})},
    )
    plan = resolve([hs("1", "a@x.io", merged=("2",))], index, ids())
    assert plan.assignments[RecordRef(HS, "contact", "2")] == "pA"
    (merge,) = plan.of_kind("merge")
    assert merge.other_person_id == "pB" and merge.person_id == "pA"


emails = st.sampled_from(["a@x.io", "b@x.io", "A@X.io", None, "bad"])
recs = st.lists(
    st.tuples(st.sampled_from([SF, HS]), st.integers(0, 6), emails), max_size=12, unique_by=lambda t: (t[0], t[1]),
)


@settings(max_examples=200, deadline=None)
@given(recs=recs, data=st.data())
def test_resolution_does_not_depend_on_pull_order(recs: list[tuple[System, int, str | None]], data: st.DataObject
                                                  ) -> None:
    records = [IncomingRecord(RecordRef(s, "contact", str(i)), e) for s, i, e in recs]
    shuffled = data.draw(st.permutations(records))
    one, two = resolve(records, IdentityIndex(), ids()), resolve(shuffled, IdentityIndex(), ids())
    assert one.assignments == two.assignments and one.events == two.events
    # Never more than one record of a system per person unless flagged as a duplicate.
    for person in set(one.assignments.values()):
        refs = [r for r, p in one.assignments.items() if p == person]
        assert len({r.system for r in refs}) == len(refs)
