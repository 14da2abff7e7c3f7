"""Reference data kept in memory while it stays the same.

Channels, locations, tax rates, payment methods and daily capacity limits are read by every order but change a
few times a day. Each process keeps what it read, per database, and trusts it for as long as the database's
*reference token* is the one it was read under. The token is one row; every change to reference data writes a
new random token in the same transaction (`changed`), so a transaction that sees the new token also sees the
new data. A transaction reads the token once (one tiny read instead of one per table) and, once it has changed
reference data itself, reads around the cache until it ends (its changes may still roll back).

A token is random rather than a counter so that a database emptied and refilled (a test harness truncating
tables, a restore) can never bring back a value some process cached different data under. When the row is
missing (such a database) nothing is cached.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from omnihub.core.db import conflict_insert, metadata, new_id, transaction_memo

T = TypeVar("T")

reference_version = sa.Table(
    "reference_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token", sa.String(40), nullable=False),
)

_READ_TOKEN = sa.select(reference_version.c.token).where(reference_version.c.id == 1)
_MEMO = "reference"  # per transaction: {"token": the token it read, or None once it changed reference data}

# Per engine: name -> (token, value). Entries go with their engine.
_stores: weakref.WeakKeyDictionary[Engine, dict[str, tuple[str, Any]]] = weakref.WeakKeyDictionary()


def changed(conn: Connection) -> None:
    """Reference data changes in this transaction: every process reloads what it cached once it commits, and
    this transaction reads around the cache from now on."""
    conn.execute(conflict_insert(reference_version, ["id", "token"],
                                 conflict="(id) DO UPDATE SET token = excluded.token"),
                 {"id": 1, "token": new_id("ref")})
    transaction_memo(conn, _MEMO)["token"] = None


def _token(conn: Connection) -> str | None:
    memo = transaction_memo(conn, _MEMO)
    if "token" in memo:
        return memo["token"]  # type: ignore[no-any-return]
    token = conn.execute(_READ_TOKEN).scalar()
    transaction_memo(conn, _MEMO)["token"] = token  # the read may have begun the transaction
    return token


def cached(conn: Connection, name: str, load: Callable[[Connection], T]) -> T:
    """`load(conn)`'s result, from memory while the reference token is unchanged. `load` reads a whole (small)
    table's worth, and callers must not modify what it returns: it is shared by every thread of the process."""
    token = _token(conn)
    if token is None:
        return load(conn)
    store = _stores.get(conn.engine)
    if store is None:
        store = _stores.setdefault(conn.engine, {})
    entry = store.get(name)
    if entry is not None and entry[0] == token:
        return entry[1]  # type: ignore[no-any-return]
    value = load(conn)
    store[name] = (token, value)  # two threads may both load: the same data either way
    return value
