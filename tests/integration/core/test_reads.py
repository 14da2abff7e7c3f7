"""`read_together`: several reads in one round trip on PostgreSQL (its pipeline), one after the other on SQLite —
the same rows as `conn.execute` gives each, in order, whatever the statement holds (an IN of constants, a LIMIT,
a typed parameter, JSON and timestamps); a failing read raises as SQLAlchemy would and leaves the connection
usable."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import emit_many, outbox
from omnihub.core.reads import read_together

OUT = outbox.c
_BY_TYPE = (sa.select(OUT.seq, OUT.type, OUT.data, OUT.occurred_at).where(OUT.type == sa.bindparam("b_type"))
            .order_by(OUT.seq))
_OF_TYPES = (sa.select(OUT.type, sa.func.count().label("n")).where(OUT.type.in_(("order.paid", "order.created")))
             .group_by(OUT.type).order_by(OUT.type))
_LATEST = sa.select(OUT.seq).order_by(OUT.seq.desc()).limit(2)
_NOTHING = sa.select(OUT.seq).where(OUT.type == sa.bindparam("b_type", type_=sa.String()))


def _rows(found: list[Any]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in found]


def test_each_read_gives_the_rows_execute_gives(db: Database, clock: ManualClock) -> None:
    with db.transaction() as conn:
        emit_many(conn, clock, [("order.paid", {"n": 1, "tags": ["a"]}), ("order.created", {"n": 2}),
                                ("order.paid", {"n": 3}), ("stock.changed", {"n": 4})])
    reads = [(_BY_TYPE, {"b_type": "order.paid"}), (_OF_TYPES, {}), (_LATEST, {}), (_NOTHING, {"b_type": "none"}),
             (_BY_TYPE, {"b_type": "stock.changed"})]
    with db.read() as conn:
        together = read_together(conn, reads)
        one_by_one = [conn.execute(statement, params).all() for statement, params in reads]

    assert [_rows(f) for f in together] == [_rows(f) for f in one_by_one]
    paid, counts, latest, nothing, stock = together
    assert [r.data["n"] for r in paid] == [1, 3] and paid[0].data["tags"] == ["a"]
    assert paid[0].occurred_at.utcoffset() is not None  # an aware timestamp, as SQLAlchemy gives it
    assert [(r.type, r.n) for r in counts] == [("order.created", 1), ("order.paid", 2)]
    assert len(latest) == 2 and latest[0].seq > latest[1].seq and nothing == []
    assert [r._asdict()["type"] for r in stock] == ["stock.changed"]


def test_a_statement_built_for_each_call_is_read_with_its_own_values(db: Database, clock: ManualClock) -> None:
    with db.transaction() as conn:
        emit_many(conn, clock, [("order.paid", {}), ("order.created", {})])
    with db.read() as conn:
        for kind in ("order.paid", "order.created", "order.paid"):  # a new statement object each time
            found = read_together(conn, [(sa.select(OUT.type).where(OUT.type == kind), {}), (_LATEST, {})])
            assert [r.type for r in found[0]] == [kind]


def test_a_failing_read_raises_and_the_connection_goes_on(db: Database) -> None:
    broken = sa.select(sa.text("no_such_column")).select_from(outbox)
    with pytest.raises(sa.exc.DBAPIError), db.read() as conn:
        read_together(conn, [(_LATEST, {}), (broken, {}), (_OF_TYPES, {})])
    with db.read() as conn:  # the pool's connection was rolled back and is usable
        assert read_together(conn, [(_LATEST, {}), (_OF_TYPES, {})]) == [[], []]
