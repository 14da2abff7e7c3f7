"""Order numbers per channel: a PostgreSQL sequence of the channel's own, or its counter row on SQLite."""

from __future__ import annotations

import hashlib
import weakref

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from omnihub.commerce import rules
from omnihub.commerce.models import order_sequences
from omnihub.core.db import take_counter


def next_number(conn: Connection, channel: str) -> str:
    """The channel's next order number. On PostgreSQL it comes from a sequence of the channel's own: concurrent
    orders never queue behind each other's open transaction for it, and a rolled-back order merely leaves a
    gap (order numbers may have gaps; invoice numbers, in billing, may not). SQLite runs one writer at a time
    anyway, so there the order's own transaction advances the channel's counter row."""
    if conn.dialect.name == "postgresql":
        number = conn.execute(_NEXTVAL, {"b_sequence": _number_sequence(conn, channel)}).scalar_one()
        return rules.order_number(channel, int(number))
    return _take_number(conn, channel)


_NEXTVAL = sa.text("SELECT nextval(CAST(:b_sequence AS regclass))")
# Per engine: the sequences known to exist (made at most once per process and channel).
_SEQUENCES_MADE: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()


def _number_sequence(conn: Connection, channel: str) -> str:
    """The channel's order-number sequence (PostgreSQL), made on first use, starting where the channel's counter
    row stands (a database that numbered orders with it keeps counting from there). Owned by the counter
    column, so it goes with that table and restarts when the table is truncated with RESTART IDENTITY."""
    base = f"order_number_{channel}"
    if len(base) > 50:  # identifiers stop at 63 bytes: keep long codes apart with a digest
        base = f"{base[:36]}_{hashlib.sha256(channel.encode()).hexdigest()[:12]}"
    name = conn.dialect.identifier_preparer.quote(base)
    made = _SEQUENCES_MADE.setdefault(conn.engine, set())
    if name in made:
        return name
    with conn.engine.connect() as side:  # DDL that commits by itself, whatever becomes of this order
        side = side.execution_options(isolation_level="AUTOCOMMIT")
        counter = side.execute(sa.select(order_sequences.c.next_number)
                               .where(order_sequences.c.channel_code == channel)).scalar()
        try:
            side.exec_driver_sql(f"CREATE SEQUENCE IF NOT EXISTS {name} START WITH {int(counter or 1)} "
                                 "OWNED BY order_sequences.next_number")
        except sa.exc.DBAPIError:  # another process made it between our check and our create
            if not side.execute(_SEQUENCE_EXISTS, {"b_name": base}).scalar():
                raise
    made.add(name)
    return name


_SEQUENCE_EXISTS = sa.text("SELECT to_regclass(quote_ident(:b_name)) IS NOT NULL")


def _take_number(conn: Connection, channel: str) -> str:
    return rules.order_number(channel, take_counter(conn, order_sequences, "channel_code", channel, "next_number"))

