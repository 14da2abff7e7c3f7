"""What every customer use case writes with: profile locks, the identity reads resolution needs, bulk row writes,
and the retry of a transaction a concurrent resolution invalidated."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from omnihub.catalog import queries as catalog_queries
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import Database, PerEngine, RetryTransaction, dialect_insert
from omnihub.customers import errors, rules
from omnihub.customers.models import customer_consents, customer_identities, customers, identity_blocks
from omnihub.customers.queries import resolve_many_with_status, resolve_with_status
from omnihub.customers.rules import Identity, ProfileFacts

CHUNK = 2000

T = TypeVar("T")


class RetryResolution(RetryTransaction):
    """A concurrent request changed a profile this one relies on: resolve again from scratch."""


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError | RetryResolution):
        return True
    # Raw driver errors (array inserts) carry the SQLSTATE themselves; SQLAlchemy's carry it on .orig.
    code = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in ("23505", "40001", "40P01")


def retrying(db: Database, work: Callable[[Connection], T], *, attempts: int = 8) -> T:
    """Run `work` in a transaction; when a racing request created the same identity first (unique key),
    or a deadlock/serialization failure hit, start over: the second run sees the winner's profile."""
    for attempt in range(attempts):
        try:
            with db.transaction() as conn:
                return work(conn)
        except Exception as exc:
            if attempt == attempts - 1 or not _retryable(exc):
                raise
            time.sleep(0.005 * (attempt + 1))
    raise AssertionError("unreachable")


def insert_into(conn: Connection, table: sa.Table) -> Any:
    insert = dialect_insert(conn)
    return insert(table)


def greatest(conn: Connection, a: Any, b: Any) -> Any:
    fn = sa.func.greatest if conn.dialect.name == "postgresql" else sa.func.max
    return fn(sa.func.coalesce(a, b), b)


def least(conn: Connection, a: Any, b: Any) -> Any:
    fn = sa.func.least if conn.dialect.name == "postgresql" else sa.func.min
    return fn(sa.func.coalesce(a, b), b)


def _pg_type(column: sa.Column) -> str:
    kind = column.type
    if isinstance(kind, sa.JSON):
        return "jsonb"
    if isinstance(kind, sa.Boolean):
        return "bool"
    if isinstance(kind, sa.DateTime):
        return "timestamptz"
    if isinstance(kind, sa.Float):
        return "float8"
    if isinstance(kind, sa.Numeric):
        return "numeric"
    if isinstance(kind, sa.Integer):
        return "int8"
    return "text"


def write_rows(conn: Connection, table: sa.Table, rows: list[dict[str, Any]], *, on_conflict: str = "",
               sqlite_stmt: Callable[[], Any] | None = None) -> None:
    """Insert many rows in one statement.

    PostgreSQL gets one array parameter per column (INSERT … SELECT FROM unnest(…)): a short, constant
    statement whatever the batch size, so neither the driver nor the server re-parses a 7,000-placeholder
    query per batch. SQLite runs the driver's executemany, which is already an in-process loop, with the
    statement `sqlite_stmt()` builds (built only there: building one costs more than the PostgreSQL path).
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(sqlite_stmt() if sqlite_stmt is not None else table.insert(), rows)
        return
    columns = list(rows[0])
    params: dict[str, Any] = {}
    arrays, selects = [], []
    for index, name in enumerate(columns):
        pg_type = _pg_type(table.c[name])
        values = [row[name] for row in rows]
        if pg_type == "jsonb":
            values = [None if v is None else json.dumps(v) for v in values]
            arrays.append(f"%(c{index})b::text[]")
            selects.append(f"c{index}::jsonb")
        else:
            arrays.append(f"%(c{index})b::{pg_type}[]")
            selects.append(f"c{index}")
        params[f"c{index}"] = values
    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(selects)} "
           f"FROM unnest({', '.join(arrays)}) AS u({aliases}) {on_conflict}")
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)  # %b: arrays travel in binary, no per-element text quoting
    finally:
        cursor.close()


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def utc_or_now(value: datetime | None, clock: Clock) -> datetime:
    return as_utc(value) if value is not None else clock.now()


def active_id(conn: Connection, customer_id: str, field_: str | None = None) -> str:
    resolved = resolve_with_status(conn, customer_id)
    if resolved is None:
        raise errors.customer_not_found(customer_id, field_)
    cid, status = resolved
    if status == "erased":
        raise errors.customer_erased(cid, field_)
    return cid


def active_ids(conn: Connection, customer_ids: Iterable[str], field_: str | None = None) -> dict[str, str]:
    """`active_id` for many ids at once (imports): id → the active profile it stands for now."""
    wanted = set(customer_ids)
    resolved = resolve_many_with_status(conn, wanted)
    out = {}
    for cid in sorted(wanted):
        if cid not in resolved:
            raise errors.customer_not_found(cid, field_)
        now_id, status = resolved[cid]
        if status == "erased":
            raise errors.customer_erased(now_id, field_)
        out[cid] = now_id
    return out


def _lock_statement(in_: Any, *, exclusive: bool) -> Any:
    query = (sa.select(customers.c.id, customers.c.status).where(in_(customers.c.id, "b_values"))
             .order_by(customers.c.id))
    # SQLite serialises writers itself; FOR UPDATE/SHARE is PostgreSQL's (SQLAlchemy drops it on SQLite).
    return query.with_for_update(read=not exclusive)


# Built once per engine kind (resolving a customer runs these on every order).
_LOCK_EXCLUSIVE = PerEngine(lambda in_: _lock_statement(in_, exclusive=True))
_LOCK_SHARED = PerEngine(lambda in_: _lock_statement(in_, exclusive=False))
_BLOCKS = PerEngine(lambda in_: sa.select(identity_blocks.c.hash, identity_blocks.c.reason)
                    .where(in_(identity_blocks.c.hash, "b_values")))
_PROFILES_CREATED = PerEngine(lambda in_: sa.select(customers.c.id, customers.c.created_at)
                               .where(in_(customers.c.id, "b_values")))
_IDENTITIES_OF = PerEngine(lambda in_: sa.select(
    customer_identities.c.customer_id, customer_identities.c.kind, customer_identities.c.namespace,
    customer_identities.c.value, customer_identities.c.verified)
    .where(in_(customer_identities.c.customer_id, "b_values")).order_by(customer_identities.c.id))
CONSENTS_OF = PerEngine(lambda in_: sa.select(customer_consents)
                         .where(in_(customer_consents.c.customer_id, "b_values")))
_KNOWN = PerEngine(lambda in_: sa.select(
    customer_identities.c.key, customer_identities.c.customer_id, customer_identities.c.verified)
    .where(in_(customer_identities.c.key, "b_values")))
# Both of the above as one read (what a single order's customer needs): block rows first, then known keys.
_BLOCKS_AND_KNOWN = PerEngine(lambda in_: sa.union_all(
    sa.select(sa.literal("block").label("what"), identity_blocks.c.hash.label("k"),
              identity_blocks.c.reason.label("v"), sa.literal(False).label("verified"))
    .where(in_(identity_blocks.c.hash, "b_hashes")),
    sa.select(sa.literal("known").label("what"), customer_identities.c.key, customer_identities.c.customer_id,
              customer_identities.c.verified)
    .where(in_(customer_identities.c.key, "b_keys"))))


def lock_profiles(conn: Connection, ids: Iterable[str], *, exclusive: bool) -> dict[str, str]:
    """Lock profiles (in id order, so two requests never deadlock on each other) and return their status.
    SQLite already serialises writers, so the FOR UPDATE/SHARE only matters on PostgreSQL."""
    wanted = sorted(set(ids))
    result: dict[str, str] = {}
    statement = (_LOCK_EXCLUSIVE if exclusive else _LOCK_SHARED)(conn)
    for chunk in chunks(wanted):
        result.update({r.id: r.status for r in conn.execute(statement, {"b_values": chunk})})
    return result


def channel_regions(conn: Connection, channels: Sequence[str | None], field_: Callable[[int], str]
                    ) -> dict[str, str | None]:
    regions: dict[str, str | None] = {}
    for index, code in enumerate(channels):
        if code is not None and code not in regions:
            regions[code] = catalog_queries.get_channel(conn, code, field=field_(index))["country"]
    return regions


def blocked(conn: Connection, keys: Iterable[str]) -> dict[str, str]:
    """key -> 'blocked' | 'erased' for the keys on the block list."""
    by_hash = {rules.identity_hash(k): k for k in set(keys)}
    found: dict[str, str] = {}
    for chunk in chunks(list(by_hash)):
        for h, reason in conn.execute(_BLOCKS(conn), {"b_values": chunk}):
            found[by_hash[h]] = reason
    return found


def blocked_and_known(conn: Connection, keys: Iterable[str]) -> tuple[dict[str, str], dict[str, tuple[str, bool]]]:
    """`blocked` and `known_keys` of the same keys in one read (a blocked key's known entry is simply unused)."""
    by_hash = {rules.identity_hash(k): k for k in set(keys)}
    if len(by_hash) > CHUNK:
        return blocked(conn, by_hash.values()), known_keys(conn, by_hash.values())
    blocks: dict[str, str] = {}
    known: dict[str, tuple[str, bool]] = {}
    for what, k, v, verified in conn.execute(_BLOCKS_AND_KNOWN(conn), {"b_hashes": list(by_hash),
                                                                       "b_keys": sorted(by_hash.values())}):
        if what == "block":
            blocks[by_hash[k]] = v
        else:
            known[k] = (v, bool(verified))
    return blocks, known


def known_keys(conn: Connection, keys: Iterable[str]) -> dict[str, tuple[str, bool]]:
    known: dict[str, tuple[str, bool]] = {}
    for chunk in chunks(sorted(set(keys))):
        rows = conn.execute(_KNOWN(conn), {"b_values": chunk})
        known.update({r.key: (r.customer_id, bool(r.verified)) for r in rows})
    return known


def profile_facts(conn: Connection, ids: Iterable[str]) -> dict[str, ProfileFacts]:
    wanted = sorted(set(ids))
    facts = {r.id: ProfileFacts(r.id, as_utc(r.created_at), [])
             for r in conn.execute(_PROFILES_CREATED(conn), {"b_values": wanted})}
    rows = conn.execute(_IDENTITIES_OF(conn), {"b_values": wanted})
    for r in rows:
        facts[r.customer_id].identities.append(Identity(r.kind, r.value, r.namespace, bool(r.verified)))
    return facts

