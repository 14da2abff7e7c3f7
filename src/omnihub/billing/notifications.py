"""Payment notifications in two steps, so a storm of notifications (each sent several times by the provider)
never waits on the payments, orders and stock it moves.

1. The request (`accept`): the signature is checked against the provider's accounts (unsealed once per process,
   `provider_accounts.AccountCache`); a bad or missing one is 401 and nothing is stored. The verified
   notification, in the hub's words (`providers.Notice`), is stored in one insert keyed by (provider, event
   id): a repeat collides, stores nothing and is answered `duplicate: true` at once.
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
import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.billing import flow, provider_accounts
from omnihub.billing.models import payment_providers, provider_notifications
from omnihub.billing.providers import Notice
from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.db import Database, conflict_insert, new_id
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


# ---- step 1: the request --------------------------------------------------------------------------------------


def accept(db: Database, clock: Clock, *, secret_key: str, guard: OutboundGuard, name: str, raw: bytes,
           headers: dict[str, str]) -> dict[str, Any]:
    """Verify a notification and store it for the worker. Returns `{duplicate, outcome, event_id}`: `queued`,
    or `duplicate` when that event was stored before (nothing stored again). 401/400 and nothing stored when
    the signature does not check out or the body cannot be read."""
    provider_accounts.provider_named(name)  # 404 for a provider the hub does not know
    with db.single_statement(read_only=True) as conn:
        accounts = [provider_accounts.ACCOUNTS.account(secret_key, r)
                    for r in conn.execute(_ACCOUNT_ROWS, {"name": name})]
    notice = flow.verify(accounts, name, raw, headers, guard)  # no connection held: PayPal's check is a call
    now = clock.now()
    with db.single_statement() as conn:
        stored = conn.execute(_STORE, dict(
            id=new_id("pnt"), provider=name, event_id=notice.event_id[:200], notice=jsonable(
                dataclasses.asdict(notice)), status="pending", attempts=0, next_attempt_at=now,
            received_at=now)).first()
    duplicate = stored is None
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
