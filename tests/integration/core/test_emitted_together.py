"""Events emitted in an `emitted_together` block: written once, at its end, in the order emitted; gone with a
rollback; written at once inside a savepoint, so a rollback to it takes them along."""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import emit, emit_many, emitted_together, recent_events


def outbox_types(conn: Connection) -> list[str]:
    return list(conn.execute(sa.text("SELECT type FROM outbox ORDER BY seq")).scalars())


def test_written_at_the_end_in_the_order_emitted(db: Database, clock: ManualClock) -> None:
    with db.transaction() as conn:
        with emitted_together(conn):
            emit(conn, clock, "order.paid", {"n": 1})
            with emitted_together(conn):  # nested: still held by the outer block
                emit_many(conn, clock, [("stock.changed", {"n": 2}), ("stock.changed", {"n": 3})])
            clock.advance(seconds=1)
            emit(conn, clock, "order.created", {"n": 4})
            assert outbox_types(conn) == []  # nothing written yet
        assert outbox_types(conn) == ["order.paid", "stock.changed", "stock.changed", "order.created"]

    with db.read() as conn:
        events = list(reversed(recent_events(conn, limit=10)))
    assert [e.data["n"] for e in events] == [1, 2, 3, 4]
    assert events[3].occurred_at > events[0].occurred_at  # each keeps the time it was emitted


def test_a_failing_block_writes_nothing(db: Database, clock: ManualClock) -> None:
    with db.transaction() as conn:
        try:
            with emitted_together(conn):
                emit(conn, clock, "order.paid", {})
                raise ValueError("payment gateway down")
        except ValueError:
            pass
        assert outbox_types(conn) == []
        emit(conn, clock, "order.cancelled", {})  # outside any block: written at once
        assert outbox_types(conn) == ["order.cancelled"]


def test_inside_a_savepoint_events_go_at_once_and_roll_back_with_it(db: Database, clock: ManualClock) -> None:
    with db.transaction() as conn:
        with emitted_together(conn):
            emit(conn, clock, "order.paid", {})
            try:
                with conn.begin_nested():
                    emit(conn, clock, "promotion.redeemed", {})
                    assert outbox_types(conn) == ["promotion.redeemed"]
                    raise ValueError("already redeemed")
            except ValueError:
                pass
            with conn.begin_nested():
                emit(conn, clock, "invoice.issued", {})
        assert outbox_types(conn) == ["invoice.issued", "order.paid"]
