"""The in-memory reference data: trusted while the database's reference token is unchanged, never holding what a
rolled-back transaction saw, and not used at all where the token row is missing."""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core import reference
from omnihub.core.db import Database


class Loader:
    """Reads the current names of the channels table, counting the reads."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, conn: Connection) -> list[str]:
        self.reads += 1
        return [r.code for r in conn.execute(sa.text("SELECT code FROM channels ORDER BY code"))]


def add_channel(conn: Connection, code: str) -> None:
    conn.execute(sa.text("INSERT INTO channels (code, name, kind, currency, stock_buffer, prices_include_tax, "
                         "shipping_fee, cart_hold_minutes, created_at, updated_at) VALUES (:c, :c, 'web', 'EUR', 0, "
                         ":t, 0, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"c": code, "t": True})


def test_read_once_while_the_token_holds_then_again_after_a_change(db: Database) -> None:
    load = Loader()
    with db.transaction() as conn:
        add_channel(conn, "web")
        reference.changed(conn)
    with db.transaction() as conn:
        assert reference.cached(conn, "test.channels", load) == ["web"]
        assert reference.cached(conn, "test.channels", load) == ["web"]
    with db.transaction() as conn:
        assert reference.cached(conn, "test.channels", load) == ["web"]
    assert load.reads == 1

    with db.transaction() as conn:
        add_channel(conn, "app")
        reference.changed(conn)
    with db.transaction() as conn:
        assert reference.cached(conn, "test.channels", load) == ["app", "web"]
    assert load.reads == 2


def test_the_changing_transaction_reads_around_the_cache_and_a_rollback_leaves_nothing(db: Database) -> None:
    load = Loader()
    with db.transaction() as conn:
        assert reference.cached(conn, "test.channels", load) == []

    with db.engine.connect() as conn, conn.begin() as transaction:
        add_channel(conn, "ghost")
        reference.changed(conn)
        assert reference.cached(conn, "test.channels", load) == ["ghost"]  # its own change, not the cache
        transaction.rollback()

    with db.transaction() as conn:
        assert reference.cached(conn, "test.channels", load) == []
        assert reference.cached(conn, "test.channels", load) == []
    assert load.reads == 2  # the rolled-back read was never kept; the token did not move, so [] still stands


def test_without_the_token_row_nothing_is_kept(db: Database) -> None:
    load = Loader()
    with db.transaction() as conn:
        conn.execute(sa.text("DELETE FROM reference_version"))
    for _ in range(3):
        with db.transaction() as conn:
            reference.cached(conn, "test.channels", load)
    assert load.reads == 3

    with db.transaction() as conn:
        reference.changed(conn)  # puts the row back
    for _ in range(2):
        with db.transaction() as conn:
            reference.cached(conn, "test.channels", load)
    assert load.reads == 4
