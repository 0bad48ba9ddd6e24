"""Composite-key lookups: the same rows as a row-value IN, answered from an index on SQLite too."""

from __future__ import annotations

import sqlalchemy as sa

from leadsync.ledger.keys import keys_in

META = sa.MetaData()
ROWS = sa.Table("rows", META, sa.Column("a", sa.String, primary_key=True), sa.Column("b", sa.String, primary_key=True),
                sa.Column("c", sa.String, primary_key=True), sa.Column("v", sa.Integer))


def test_keys_in_finds_exactly_the_keys_and_seeks_the_index() -> None:
    engine = sa.create_engine("sqlite://")
    META.create_all(engine)
    everything = [(a, b, c) for a in ("sf", "hs") for b in ("Lead", "Contact", "contacts") for c in map(str, range(50))]
    with engine.begin() as conn:
        conn.execute(ROWS.insert(), [{"a": a, "b": b, "c": c, "v": i} for i, (a, b, c) in enumerate(everything)])
        wanted = [("sf", "Lead", "7"), ("sf", "Lead", "8"), ("hs", "contacts", "49"), ("sf", "Contact", "0"),
                  ("hs", "Lead", "missing"), ("sf", "Lead", "7")]
        columns = (ROWS.c.a, ROWS.c.b, ROWS.c.c)
        query = sa.select(ROWS.c.a, ROWS.c.b, ROWS.c.c).where(keys_in(columns, wanted))
        found = {tuple(r) for r in conn.execute(query)}
        assert found == {("sf", "Lead", "7"), ("sf", "Lead", "8"), ("hs", "contacts", "49"), ("sf", "Contact", "0")}
        assert conn.execute(sa.select(ROWS.c.a).where(keys_in(columns, []))).all() == []
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(query.compile(engine, compile_kwargs={"literal_binds": True}))))
        assert "SCAN rows" not in plan and "INDEX" in plan, plan
