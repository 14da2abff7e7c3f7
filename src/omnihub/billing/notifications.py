"""Payment notifications in two steps, so a storm of notifications (each sent several times by the provider)
never waits on the payments, orders and stock it moves.

1. The request (`accept`): the signature is checked against the provider's accounts (unsealed once per process,
   `provider_accounts.AccountCache`); a bad or missing one is 401 and nothing is stored. The verified
   notification, in the hub's words (`providers.Notice`), is stored in one insert keyed by (provider, event
   id): a repeat collides, stores nothing and is answered `duplicate: true` at once. On PostgreSQL the
   request is one statement: the signature is checked against the accounts this process read last, and the
   insert stores only if the provider's accounts are still those (`_STORE_IF_SAME`: a digest of every
   channel's sealed value, which every `PUT` seals anew) — else it stores nothing, and the accounts are read
   again and the signature checked against them, as the first time. A signature that fails against the
   accounts known is refused only once a read shows they are still the current ones.
2. The worker (`drain`, job `billing.apply_notifications`): pending notifications are claimed in batches
   (`FOR UPDATE SKIP LOCKED` on PostgreSQL: several workers never take the same one) and applied by
   `flow.receive_many` — the exactly-once rules of `flow.receive` (`provider_events`, the payment row locked,
   statuses only forward), with the batch's payments locked in one read and its events recorded in one
   insert — in one transaction per batch. If anything in the batch fails, each notification is applied alone
   in its own savepoint: the one that fails keeps its error and is tried again later (`MAX_ATTEMPTS` times,
   then kept as `failed` with its reason); the others go through. The claim and the apply are one
   transaction: a worker that dies mid-batch leaves nothing half done (its rows are pending again when the
   database drops its connection), and `provider_events` makes a second apply of one event a no-op anyway.
3. `purge` (every ten minutes): applied notifications are deleted a week after they came; failed ones stay."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.billing import flow, provider_accounts
from omnihub.billing.models import payment_providers, provider_notifications
from omnihub.billing.providers import Account, Notice
from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.db import Database, conflict_insert, new_id
from omnihub.core.errors import DomainError
from omnihub.core.jsonable import jsonable
from omnihub.core.outbound import OutboundGuard

log = logging.getLogger("omnihub.billing.notifications")
N = provider_notifications.c
BATCH = 200  # notifications per drain transaction
MAX_ATTEMPTS = 5  # then the notification is kept as `failed` with its error
RETRY_SECONDS = 5.0  # times the attempt number
KEEP_DONE = timedelta(days=7)  # applied notifications are deleted after this (provider_events is the record)
PURGE_BATCH = 1000
_NOTICE_FIELDS = {f.name for f in dataclasses.fields(Notice)}

_STORE = conflict_insert(provider_notifications, ["id", "provider", "event_id", "notice", "status", "attempts",
                                                  "next_attempt_at", "received_at"],
                         conflict="(provider, event_id) DO NOTHING", returning="id")
_ACCOUNT_ROWS = (sa.select(payment_providers.c.channel_code, payment_providers.c.provider,
                           payment_providers.c.config, payment_providers.c.sealed)
                 .where(payment_providers.c.provider == sa.bindparam("name"))
                 .order_by(payment_providers.c.channel_code))
# The provider's accounts as they stand, in one value: `_digest` of the rows `_ACCOUNT_ROWS` reads (same order).
_DIGEST_SQL = ("SELECT md5(coalesce(string_agg(channel_code || ':' || sealed, ',' ORDER BY channel_code), '')) "
               "AS digest FROM payment_providers WHERE provider = :provider")
_STORED_COLUMNS = ["id", "provider", "event_id", "notice", "status", "attempts", "next_attempt_at", "received_at"]
# PostgreSQL: store the notification only if the provider's accounts are still the ones it was verified against;
# answers the accounts' digest now and the stored id (none: a duplicate, or the accounts changed).
_STORE_IF_SAME = sa.text(
    f"WITH accounts AS ({_DIGEST_SQL}), stored AS ("
    f"INSERT INTO provider_notifications ({', '.join(_STORED_COLUMNS)}) "
    f"SELECT {', '.join(':' + c for c in _STORED_COLUMNS)} FROM accounts WHERE accounts.digest = :digest "
    "ON CONFLICT (provider, event_id) DO NOTHING RETURNING id) "
    "SELECT accounts.digest, (SELECT id FROM stored) AS id FROM accounts"
).bindparams(*(sa.bindparam(c, type_=provider_notifications.c[c].type) for c in _STORED_COLUMNS))


@dataclasses.dataclass(frozen=True)
class _Known:
    digest: str
    accounts: list[Account]
    until: float  # time.monotonic(): read again after `provider_accounts.ACCOUNT_TTL`, as the unsealed cache


class _KnownAccounts:
    """Per process: each provider's accounts as this process last read them, with their digest (keyed by
    database and secret key too: tests run several databases in one process). Only a hint — nothing is stored
    unless the database's accounts still have that digest at the insert."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str, str], _Known] = {}
        self._lock = threading.Lock()

    def get(self, db: Database, secret_key: str, name: str) -> _Known | None:
        with self._lock:
            known = self._items.get((db.url, secret_key, name))
        return known if known is not None and known.until > time.monotonic() else None

    def put(self, db: Database, secret_key: str, name: str, known: _Known) -> None:
        with self._lock:
            self._items[(db.url, secret_key, name)] = known


KNOWN = _KnownAccounts()


def _digest(rows: list[Any]) -> str:
    """What `_DIGEST_SQL` computes, from the rows `_ACCOUNT_ROWS` read (PostgreSQL's order of channel codes)."""
    return hashlib.md5(",".join(f"{r.channel_code}:{r.sealed}" for r in rows).encode(),
                       usedforsecurity=False).hexdigest()


# ---- step 1: the request --------------------------------------------------------------------------------------


def accept(db: Database, clock: Clock, *, secret_key: str, guard: OutboundGuard, name: str, raw: bytes,
           headers: dict[str, str]) -> dict[str, Any]:
    """Verify a notification and store it for the worker. Returns `{duplicate, outcome, event_id}`: `queued`,
    or `duplicate` when that event was stored before (nothing stored again). 401/400 and nothing stored when
    the signature does not check out or the body cannot be read."""
    provider_accounts.provider_named(name)  # 404 for a provider the hub does not know
    known = KNOWN.get(db, secret_key, name) if db.is_postgres else None
    if known is not None:
        answer = _accept_as_known(db, clock, known, guard=guard, name=name, raw=raw, headers=headers)
        if answer is not None:
            return answer
    with db.single_statement(read_only=True) as conn:  # the accounts as they stand now
        rows = list(conn.execute(_ACCOUNT_ROWS, {"name": name}))
    accounts = [provider_accounts.ACCOUNTS.account(secret_key, r) for r in rows]
    if db.is_postgres:
        KNOWN.put(db, secret_key, name, _Known(_digest(rows), accounts,
                                               time.monotonic() + provider_accounts.ACCOUNT_TTL))
    notice = flow.verify(accounts, name, raw, headers, guard)  # no connection held: PayPal's check is a call
    with db.single_statement() as conn:
        stored = conn.execute(_STORE, _stored(clock, name, notice)).first()
    return _answer(notice, duplicate=stored is None)


def _accept_as_known(db: Database, clock: Clock, known: _Known, *, guard: OutboundGuard, name: str, raw: bytes,
                     headers: dict[str, str]) -> dict[str, Any] | None:
    """The notification verified against the accounts this process knows and stored in one statement if they
    are still the provider's accounts. None when they are not (nothing stored): the caller reads them again."""
    try:
        notice = flow.verify(known.accounts, name, raw, headers, guard)
    except DomainError:
        with db.single_statement(read_only=True) as conn:
            now = conn.execute(sa.text(_DIGEST_SQL), {"provider": name}).scalar_one()
        if now == known.digest:
            raise  # refused by the accounts as they stand
        return None
    with db.single_statement() as conn:
        digest, stored = conn.execute(_STORE_IF_SAME, {**_stored(clock, name, notice), "digest": known.digest}).one()
    if digest != known.digest:
        return None
    return _answer(notice, duplicate=stored is None)


def _stored(clock: Clock, name: str, notice: Notice) -> dict[str, Any]:
    now = clock.now()
    return dict(id=new_id("pnt"), provider=name, event_id=notice.event_id[:200],
                notice=jsonable(dataclasses.asdict(notice)), status="pending", attempts=0, next_attempt_at=now,
                received_at=now)


def _answer(notice: Notice, *, duplicate: bool) -> dict[str, Any]:
    return {"duplicate": duplicate, "outcome": "duplicate" if duplicate else "queued", "event_id": notice.event_id}


# ---- step 2: the worker ---------------------------------------------------------------------------------------


def _notice(stored: dict[str, Any]) -> Notice:
    return Notice(**{k: v for k, v in stored.items() if k in _NOTICE_FIELDS})


def _failed(conn: Connection, clock: Clock, row: Any, error: str) -> None:
    """Kept with its error: tried again after a pause, until MAX_ATTEMPTS; then `failed`, for people to look at."""
    attempts = row.attempts + 1
    now = clock.now()
    gave_up = attempts >= MAX_ATTEMPTS
    conn.execute(provider_notifications.update().where(N.id == row.id).values(
        attempts=attempts, error=error[:500], status="failed" if gave_up else "pending",
        processed_at=now if gave_up else None, next_attempt_at=now + timedelta(seconds=RETRY_SECONDS * attempts)))
    log.warning("%s notification %s not applied (attempt %d): %s", row.provider, row.event_id, attempts, error)


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:500]


def drain(conn: Connection, clock: Clock, _settings: Settings | None = None, *, limit: int = BATCH) -> int:
    """Worker job: apply the notifications waiting (a batch), oldest first. Returns how many it took (a full
    batch: the worker calls again at once)."""
    now = clock.now()
    query = (sa.select(N.id, N.provider, N.event_id, N.notice, N.attempts)
             .where(N.status == "pending", N.next_attempt_at <= now)
             .order_by(N.next_attempt_at, N.id).limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    if not rows:
        return 0
    done: list[dict[str, Any]] = []
    try:  # the batch at once, in one savepoint (the common case: nothing fails) ...
        with conn.begin_nested():
            receipts = flow.receive_many(conn, clock, [(row.provider, _notice(row.notice)) for row in rows])
            done = [{"b_id": row.id, "b_result": receipt.out()} for row, receipt in zip(rows, receipts, strict=True)]
    except Exception:  # ... else each alone, so that only the one that fails waits, with its reason
        done = []
        for row in rows:
            try:
                with conn.begin_nested():
                    receipt = flow.receive(conn, clock, row.provider, _notice(row.notice))
            except Exception as exc:
                _failed(conn, clock, row, _why(exc))
                continue
            done.append({"b_id": row.id, "b_result": receipt.out()})
    if done:
        conn.execute(provider_notifications.update().where(N.id == sa.bindparam("b_id")).values(
            status="done", result=sa.bindparam("b_result"), processed_at=clock.now(), error=None), done)
    return len(rows)


def purge(conn: Connection, clock: Clock, _settings: Settings | None = None) -> int:
    """Worker job: applied notifications a week old are deleted, a batch at a time; failed ones stay."""
    old = sa.select(N.id).where(N.status == "done", N.received_at < clock.now() - KEEP_DONE).limit(PURGE_BATCH)
    return int(conn.execute(provider_notifications.delete().where(N.id.in_(old.scalar_subquery()))).rowcount or 0)


def pending_count(conn: Connection) -> int:
    """Notifications not applied yet (benchmarks, health)."""
    return int(conn.execute(sa.select(sa.func.count()).select_from(provider_notifications)
                            .where(N.status == "pending")).scalar() or 0)
