"""Webhook use cases: the only code that writes subscriptions and deliveries.

Nothing here emits domain events: delivery bookkeeping is not a business fact, and emitting it would feed
the webhooks back into themselves.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.connectors.webhooks import errors, queries, rules
from omnihub.connectors.webhooks.models import webhook_deliveries, webhook_streams, webhook_subscriptions
from omnihub.connectors.webhooks.rules import DeliveryStatus
from omnihub.core import secretbox
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import BigId, Timestamp, dialect_insert, new_id
from omnihub.core.events import (
    Event,
    PositionedEvent,
    events_after,
    events_by_id,
    first_position_since,
    head_position,
    lock_positions,
    outbox,
)
from omnihub.core.outbound import OutboundGuard, OutboundRefused

log = logging.getLogger("omnihub.webhooks")


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


SECRET_PURPOSE = "webhook-signing"


def seal_secret(secret_key: str, plain: str) -> str:
    """A signing secret as it is stored: sealed under OMNIHUB_SECRET_KEY, so a database dump signs nothing."""
    return secretbox.seal(secret_key, SECRET_PURPOSE, plain)


@lru_cache(maxsize=1024)
def open_secret(secret_key: str, stored: str) -> str:
    """The plain signing secret (cached: every delivery of a webhook opens the same one). A value stored before
    secrets were sealed is plain already and is used as it is until `seal_plain_secrets` seals it."""
    if not secretbox.looks_sealed(stored):
        return stored
    try:
        return secretbox.unseal(secret_key, SECRET_PURPOSE, stored)
    except ValueError:
        log.error("a webhook signing secret was sealed under another OMNIHUB_SECRET_KEY: rotate it")
        raise


def seal_plain_secrets(conn: Connection, secret_key: str) -> int:
    """Seal the signing secrets stored in clear by earlier versions (run by the worker, which holds the key)."""
    s = webhook_subscriptions.c
    rows = conn.execute(sa.select(s.id, s.secret, s.previous_secret)).all()
    sealed = 0
    for row in rows:
        changes = {name: seal_secret(secret_key, value) for name, value in
                   (("secret", row.secret), ("previous_secret", row.previous_secret))
                   if value and not secretbox.looks_sealed(value)}
        if changes:
            conn.execute(webhook_subscriptions.update().where(s.id == row.id).values(**changes))
            sealed += 1
    return sealed


def checked_url(url: str, guard: OutboundGuard) -> str:
    """A well-formed URL whose host the hub may reach (checked again at every connection, see core.outbound)."""
    url = rules.validate_url(url)
    try:
        guard.check_url(url)
    except OutboundRefused as exc:
        raise errors.url_not_allowed(str(exc)) from None
    return url


def create_webhook(conn: Connection, clock: Clock, data: dict[str, Any], guard: OutboundGuard, *,
                   secret_key: str) -> dict[str, Any]:
    """Subscribe a URL to event types. Returns the webhook with its secret (the only time it is shown)."""
    url = checked_url(data["url"], guard)
    patterns = rules.normalise_patterns(data["events"])
    secret = data.get("secret") or new_secret()
    webhook_id = new_id("whk")
    batch_size = int(data.get("batch_size") or 1)
    conn.execute(
        webhook_subscriptions.insert(), dict(
            id=webhook_id, url=url, events=patterns, secret=seal_secret(secret_key, secret), active=True,
            batch_size=batch_size, created_at=clock.now()
        )
    )
    if rules.is_streamed(batch_size):
        _open_stream(conn, webhook_id)
    return {**queries.get_webhook(conn, webhook_id), "secret": secret}


def update_webhook(conn: Connection, clock: Clock, webhook_id: str, changes: dict[str, Any],
                   guard: OutboundGuard) -> dict[str, Any]:
    """Change URL, event types or batch size in place: the secret and the delivery log stay. Deliveries still
    waiting are sent with the new URL and batch size; the new event types apply to events from now on."""
    webhook = queries.get_webhook(conn, webhook_id)  # an unknown id is 404 whatever the body says
    values: dict[str, Any] = {}
    if changes.get("url") is not None:
        values["url"] = checked_url(changes["url"], guard)
    if changes.get("events") is not None:
        values["events"] = rules.normalise_patterns(changes["events"])
    if changes.get("batch_size") is not None:
        values["batch_size"] = int(changes["batch_size"])
    if not values:
        raise errors.nothing_to_update()
    if not webhook["active"]:
        raise errors.webhook_inactive(webhook_id)
    s = webhook_subscriptions.c
    if conn.execute(webhook_subscriptions.update().where(s.id == webhook_id, s.active.is_(True))
                    .values(**values)).rowcount != 1:
        raise errors.webhook_inactive(webhook_id)  # deactivated between the read and the write
    if "batch_size" in values:
        was, now = rules.is_streamed(webhook["batch_size"]), rules.is_streamed(values["batch_size"])
        if now and not was:
            _open_stream(conn, webhook_id)
        elif was and not now:
            _close_stream(conn, webhook_id)
    return queries.get_webhook(conn, webhook_id)


def _open_stream(conn: Connection, webhook_id: str) -> None:
    """Start streaming at the current head, under the positions lock: every event before it was fanned out as
    rows (or belonged to an earlier stream), every one after it the fan-out leaves to the stream. Re-opening a
    stream that is still draining keeps its cursor (the events it skipped as rows may then arrive twice)."""
    lock_positions(conn)
    head = head_position(conn)
    st = webhook_streams.c
    stream = conn.execute(sa.select(st.position, st.until_position).where(st.subscription_id == webhook_id)).first()
    if stream is None:
        conn.execute(webhook_streams.insert(), dict(subscription_id=webhook_id, position=head, attempts=0))
    elif stream.until_position is not None and stream.position >= stream.until_position:  # drained: start over
        conn.execute(webhook_streams.update().where(st.subscription_id == webhook_id).values(
            position=head, until_position=None, attempts=0, next_attempt_at=None))
    else:
        conn.execute(webhook_streams.update().where(st.subscription_id == webhook_id).values(until_position=None))


def _close_stream(conn: Connection, webhook_id: str) -> None:
    """Back to one event per POST: the stream still sends what was dispatched up to now, then stops; the
    fan-out gives every later event its own delivery row."""
    lock_positions(conn)
    head = head_position(conn)
    st = webhook_streams.c
    conn.execute(webhook_streams.update().where(st.subscription_id == webhook_id, st.until_position.is_(None))
                 .values(until_position=head))


def rotate_secret(conn: Connection, clock: Clock, webhook_id: str, *, secret_key: str, secret: str | None = None,
                  grace_seconds: int = rules.DEFAULT_SECRET_GRACE_SECONDS) -> dict[str, Any]:
    """A new signing secret, shown once. The old one keeps signing beside it (a second `v1=`) for
    `grace_seconds`, so the receiver can switch without rejecting a single delivery; 0 drops it at once."""
    webhook = queries.get_webhook(conn, webhook_id)
    if not webhook["active"]:
        raise errors.webhook_inactive(webhook_id)
    s = webhook_subscriptions.c
    current = conn.execute(sa.select(s.secret).where(s.id == webhook_id)).scalar_one()
    new = secret or new_secret()
    if new == open_secret(secret_key, current):
        raise errors.secret_unchanged()
    now = clock.now()
    keep_old = grace_seconds > 0
    conn.execute(webhook_subscriptions.update().where(s.id == webhook_id).values(
        secret=seal_secret(secret_key, new), previous_secret=current if keep_old else None,
        previous_secret_expires_at=now + timedelta(seconds=grace_seconds) if keep_old else None))
    return {**queries.get_webhook(conn, webhook_id), "secret": new}


def replay(conn: Connection, clock: Clock, webhook_id: str, since: datetime) -> dict[str, Any]:
    """Send again what happened since `since`, as far back as the outbox keeps events: a batching webhook's
    stream moves its cursor back (never forward); a one-event webhook's finished deliveries made since then go
    back to pending with fresh attempts. A batch in flight is disowned (its result is ignored; it comes again)."""
    webhook = queries.get_webhook(conn, webhook_id)
    if not webhook["active"]:
        raise errors.webhook_inactive(webhook_id)
    since = as_utc(since)
    now = clock.now()
    rewound = 0
    st = webhook_streams.c
    d = webhook_deliveries.c
    finished_since = [d.subscription_id == webhook_id, d.status != DeliveryStatus.PENDING.value,
                      d.created_at >= since]
    # The positions lock, as the outbox purge takes it: a purge that read the old cursor cannot delete what
    # the rewound stream is about to send.
    lock_positions(conn)
    stream = conn.execute(sa.select(st.position).where(st.subscription_id == webhook_id)).first()
    if stream is not None:
        cursor = stream.position
        first = first_position_since(conn, since)
        target = first - 1 if first is not None else None
        if target is not None and target < stream.position:
            conn.execute(webhook_streams.update().where(st.subscription_id == webhook_id).values(
                position=target, attempts=0, next_attempt_at=None, locked_until=None, claim_token=None))
            rewound = stream.position - target
            cursor = target
        # A dead letter of an event the stream will send again stays as it is: sent twice it would be a duplicate.
        finished_since.append(d.event_id.not_in(sa.select(outbox.c.id).where(outbox.c.position > cursor)))
    reset = conn.execute(webhook_deliveries.update().where(*finished_since).values(
        status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now, locked_until=None,
        claim_token=None, delivered_at=None)).rowcount
    return {"webhook_id": webhook_id, "since": since, "deliveries_reset": int(reset or 0),
            "stream_rewound_by": rewound, "webhook": queries.get_webhook(conn, webhook_id)}


def _previous_secret(secret_key: str, secret: str | None, expires_at: Any, now: datetime) -> str | None:
    in_grace = secret and expires_at is not None and as_utc(expires_at) > now
    return open_secret(secret_key, secret) if in_grace else None


def deactivate_webhook(conn: Connection, clock: Clock, webhook_id: str) -> dict[str, Any]:
    """Stop sending to a webhook. Its log stays readable; what was still waiting ends as dead, with the reason,
    so the log never shows deliveries as pending that nothing will send (a sender already holding one may
    still complete it: its result then overwrites this)."""
    queries.get_webhook(conn, webhook_id)
    now = clock.now()
    deactivated = conn.execute(
        webhook_subscriptions.update()
        .where(webhook_subscriptions.c.id == webhook_id, webhook_subscriptions.c.active.is_(True))
        .values(active=False, deactivated_at=now)
    ).rowcount
    if deactivated:
        _end_waiting_deliveries(conn, now, [webhook_id])
    return queries.get_webhook(conn, webhook_id)


def _end_waiting_deliveries(conn: Connection, now: datetime, webhook_ids: Sequence[str]) -> None:
    """A deactivated webhook's unclaimed pending deliveries end as dead, with the reason."""
    d = webhook_deliveries.c
    conn.execute(
        webhook_deliveries.update()
        .where(d.subscription_id.in_(list(webhook_ids)), d.status == DeliveryStatus.PENDING.value,
               sa.or_(d.locked_until.is_(None), d.locked_until <= now))
        .values(status=DeliveryStatus.DEAD.value, next_attempt_at=None, last_error="webhook deactivated")
    )


def redeliver(conn: Connection, clock: Clock, webhook_id: str, delivery_id: str) -> dict[str, Any]:
    """Send a finished (delivered or dead) delivery again, with a fresh set of attempts."""
    webhook = queries.get_webhook(conn, webhook_id)
    if not webhook["active"]:
        raise errors.webhook_inactive(webhook_id)
    delivery = queries.get_delivery(conn, webhook_id, delivery_id)
    rules.check_redeliverable(delivery_id, delivery["status"])
    result = conn.execute(
        webhook_deliveries.update()
        .where(webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.status == delivery["status"])
        .values(status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=clock.now(),
                locked_until=None, claim_token=None, delivered_at=None)
    )
    if result.rowcount != 1:  # changed under us (e.g. a concurrent redeliver): it is pending now anyway
        raise errors.delivery_pending(delivery_id)
    return queries.get_delivery(conn, webhook_id, delivery_id)


def envelope_body(event: Event) -> str:
    """The exact JSON we sign and send: the public envelope `{id, type, occurred_at, data}`."""
    return json.dumps(event.envelope(), separators=(",", ":"), ensure_ascii=False, default=str)


def follow_rewritten_events(conn: Connection, events: Sequence[Event]) -> None:
    """Rewrite listener (core.events): the delivery log keeps each event's payload for re-sending, so an event
    anonymised in the outbox is anonymised here too — pending, dead and delivered rows alike."""
    for event in events:
        conn.execute(webhook_deliveries.update().where(webhook_deliveries.c.event_id == event.id)
                     .values(payload=envelope_body(event)))


def _insert_ignoring_duplicates(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """One row per (subscription, event): a re-dispatched event does not fan out twice."""
    insert = dialect_insert(conn)
    stmt = insert(webhook_deliveries).on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
    conn.execute(stmt, rows)


class WebhookFanout:
    """Outbox handler: inside the dispatcher's transaction, one pending delivery per matching one-event
    subscription. Batching subscriptions get nothing here: they read the outbox after their cursor.

    It takes the positions lock before reading the subscriptions, so a subscription switching between
    rows and a stream (which takes the same lock) does so exactly between two dispatches."""

    name = "webhooks"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def handle(self, conn: Connection, events: Sequence[Event]) -> None:
        if not events:
            return
        lock_positions(conn)
        subscriptions = [s for s in queries.active_subscriptions(conn) if not rules.is_streamed(s["batch_size"])]
        if not subscriptions:
            return
        now = self.clock.now()
        rows = []
        for event in events:
            body: str | None = None
            for sub in subscriptions:
                if rules.wants(sub["events"], event.type):
                    body = body or envelope_body(event)
                    rows.append({
                        "id": new_id("dlv"), "subscription_id": sub["id"], "event_id": event.id,
                        "event_type": event.type, "payload": body, "status": DeliveryStatus.PENDING.value,
                        "attempts": 0, "next_attempt_at": now, "created_at": now,
                    })
        for start in range(0, len(rows), 1000):
            _insert_ignoring_duplicates(conn, rows[start : start + 1000])


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery this worker holds a lease on, with everything needed to send it without the database."""

    id: str
    claim_token: str
    webhook_id: str
    url: str
    secret: str
    event_id: str
    event_type: str
    payload: str
    attempts: int
    batch_size: int = 1
    previous_secret: str | None = None  # a rotated-out secret still in its grace period: signs too


def claim_due(conn: Connection, clock: Clock, *, limit: int, lease_seconds: float,
              secret_key: str) -> list[ClaimedDelivery]:
    """Take a lease on up to `limit` due deliveries of active webhooks. Commit before sending anything.

    On PostgreSQL concurrent workers skip each other's locked rows; on SQLite the write transaction
    (BEGIN IMMEDIATE) already makes the claim exclusive.
    """
    now = clock.now()
    d, s = webhook_deliveries, webhook_subscriptions
    query = (
        sa.select(d.c.id, d.c.subscription_id, d.c.event_id, d.c.event_type, d.c.payload, d.c.attempts,
                  s.c.url, s.c.secret, s.c.batch_size, s.c.previous_secret, s.c.previous_secret_expires_at)
        .join(s, s.c.id == d.c.subscription_id)
        .where(
            d.c.status == DeliveryStatus.PENDING.value,
            d.c.next_attempt_at <= now,
            sa.or_(d.c.locked_until.is_(None), d.c.locked_until <= now),
            s.c.active.is_(True),
        )
        .order_by(d.c.next_attempt_at, d.c.id)  # ids rise in fan-out order: a batch keeps the events' order
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=d)
    rows = list(conn.execute(query))
    if not rows:
        return []
    token = new_id("clm")
    ids = [r.id for r in rows]
    for start in range(0, len(ids), 500):
        conn.execute(
            d.update().where(d.c.id.in_(ids[start : start + 500]))
            .values(locked_until=now + timedelta(seconds=lease_seconds), claim_token=token)
        )
    return [
        ClaimedDelivery(id=r.id, claim_token=token, webhook_id=r.subscription_id, url=r.url,
                        secret=open_secret(secret_key, r.secret),
                        event_id=r.event_id, event_type=r.event_type, payload=r.payload, attempts=r.attempts,
                        batch_size=r.batch_size,
                        previous_secret=_previous_secret(secret_key, r.previous_secret,
                                                         r.previous_secret_expires_at, now))
        for r in rows
    ]


def _record_statement(where: Any) -> Any:
    d = webhook_deliveries
    return d.update().where(where, d.c.claim_token == sa.bindparam("b_token")).values(
        status=sa.bindparam("b_status"), attempts=sa.bindparam("b_attempts"),
        last_status_code=sa.bindparam("b_code"), last_error=sa.bindparam("b_error"),
        last_attempt_at=sa.bindparam("b_at"), next_attempt_at=sa.bindparam("b_next"),
        delivered_at=sa.bindparam("b_delivered"), locked_until=None, claim_token=None)


_RECORD_ONE = _record_statement(webhook_deliveries.c.id == sa.bindparam("b_id"))
_RECORD_SHARED = _record_statement(webhook_deliveries.c.id.in_(sa.bindparam("b_ids", expanding=True)))


@dataclass(frozen=True)
class AttemptResult:
    delivery: ClaimedDelivery
    status_code: int | None
    error: str | None
    attempted_at: datetime


def record_results(
    conn: Connection,
    clock: Clock,
    results: Sequence[AttemptResult],
    *,
    max_attempts: int,
    base_backoff: float,
    rand: Callable[[], float] | None = None,
) -> dict[str, int]:
    """Write each attempt's outcome and release the lease. Only the current claimant's results count.

    Deliveries that share an outcome (a batch answered by one POST) are written by one UPDATE; the rest in
    one executemany, so a round costs a handful of statements however many events it carried."""
    counts = {status.value: 0 for status in DeliveryStatus}
    shared: dict[tuple[Any, ...], list[str]] = {}
    extra = {"rand": rand} if rand is not None else {}
    outcomes: dict[tuple[Any, ...], rules.AttemptOutcome] = {}
    for result in results:
        # One POST, one outcome: a batch's deliveries share it, jitter included, and so retry together.
        attempt = (result.delivery.webhook_id, result.delivery.attempts, result.status_code, result.attempted_at)
        outcome = outcomes.get(attempt)
        if outcome is None:
            outcome = outcomes[attempt] = rules.after_attempt(
                result.delivery.attempts, result.status_code, as_utc(result.attempted_at),
                max_attempts=max_attempts, base_backoff=base_backoff, **extra,
            )
        counts[outcome.status.value] += 1
        key = (result.delivery.claim_token, outcome.status.value, outcome.attempts, result.status_code,
               (result.error or None) and result.error[:500], result.attempted_at, outcome.next_attempt_at,
               outcome.delivered_at)
        shared.setdefault(key, []).append(result.delivery.id)
    singles = []
    for (token, status, attempts, code, error, at, next_at, delivered_at), ids in shared.items():
        values = {"b_token": token, "b_status": status, "b_attempts": attempts, "b_code": code, "b_error": error,
                  "b_at": at, "b_next": next_at, "b_delivered": delivered_at}
        if len(ids) == 1:
            singles.append({"b_id": ids[0], **values})
            continue
        for start in range(0, len(ids), 500):
            conn.execute(_RECORD_SHARED, {"b_ids": ids[start : start + 500], **values})
    if singles:
        conn.execute(_RECORD_ONE, singles)
    # Deliveries that were in flight when their webhook was deactivated: a failure must not wait for a retry
    # nothing will make (the sender only claims for active webhooks).
    webhook_ids = {r.delivery.webhook_id for r in results}
    s = webhook_subscriptions.c
    inactive = list(conn.execute(sa.select(s.id).where(s.id.in_(webhook_ids), s.active.is_(False))).scalars())
    if inactive:
        _end_waiting_deliveries(conn, clock.now(), inactive)
    return counts


@dataclass(frozen=True)
class ClaimedBatch:
    """The next batch of a stream this worker holds a lease on: the events after the cursor, ready to send."""

    webhook_id: str
    claim_token: str
    url: str
    secret: str
    attempts: int  # failed tries of this batch so far
    end_position: int  # where the cursor goes once it is delivered
    event_ids: tuple[str, ...]
    event_types: tuple[str, ...]
    envelopes: tuple[str, ...]
    previous_secret: str | None = None


def claim_streams(conn: Connection, clock: Clock, *, limit: int, lease_seconds: float,
                  secret_key: str) -> list[ClaimedBatch]:
    """Lease the due streams of active webhooks that have events after their cursor, and read each one's next
    batch. A stream whose next stretch holds nothing it wants just moves its cursor. Commit before sending."""
    head = head_position(conn)
    if head == 0:
        return []
    now = clock.now()
    st, s = webhook_streams, webhook_subscriptions
    query = (
        sa.select(st.c.subscription_id, st.c.position, st.c.until_position, st.c.attempts,
                  s.c.url, s.c.secret, s.c.events, s.c.batch_size, s.c.previous_secret, s.c.previous_secret_expires_at)
        .join(s, s.c.id == st.c.subscription_id)
        .where(
            s.c.active.is_(True),
            st.c.position < head,
            sa.or_(st.c.until_position.is_(None), st.c.position < st.c.until_position),
            sa.or_(st.c.next_attempt_at.is_(None), st.c.next_attempt_at <= now),
            sa.or_(st.c.locked_until.is_(None), st.c.locked_until <= now),
        )
        .order_by(st.c.subscription_id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=st)
    rows = list(conn.execute(query))
    if not rows:
        return []
    token = new_id("clm")
    conn.execute(st.update().where(st.c.subscription_id.in_([r.subscription_id for r in rows]))
                 .values(locked_until=now + timedelta(seconds=lease_seconds), claim_token=token))
    planned = []
    reads: dict[tuple[Any, ...], list[PositionedEvent]] = {}  # streams that stand together read once
    for row in rows:
        upto = min(head, row.until_position) if row.until_position is not None else head
        wanted = rules.type_filter(row.events)
        read = (row.position, upto, wanted, row.batch_size)
        if read not in reads:
            reads[read] = events_after(conn, row.position, upto, types=wanted.types, prefixes=wanted.prefixes,
                                       limit=row.batch_size)
        events = reads[read]
        end = rules.stream_end(row.position, upto, row.batch_size, [e.position for e in events])
        planned.append((row, events[: row.batch_size], end))
    bodies = {e.id: envelope_body(e) for e in events_by_id(
        conn, list({e.id for _, events, _ in planned for e in events})).values()}
    claimed, skipped = [], []
    for row, events, end in planned:
        if not events:
            skipped.append({"b_id": row.subscription_id, "b_position": end})
            continue
        claimed.append(ClaimedBatch(
            webhook_id=row.subscription_id, claim_token=token, url=row.url,
            secret=open_secret(secret_key, row.secret),
            attempts=row.attempts, end_position=end, event_ids=tuple(e.id for e in events),
            event_types=tuple(e.type for e in events), envelopes=tuple(bodies[e.id] for e in events),
            previous_secret=_previous_secret(secret_key, row.previous_secret, row.previous_secret_expires_at,
                                             now)))
    if skipped:
        conn.execute(_SKIP_AHEAD, skipped)
    return claimed


_SKIP_AHEAD = webhook_streams.update().where(
    webhook_streams.c.subscription_id == sa.bindparam("b_id")
).values(position=sa.bindparam("b_position"), attempts=0, locked_until=None, claim_token=None)


_RECORD_STREAM = webhook_streams.update().where(
    webhook_streams.c.subscription_id == sa.bindparam("b_id"),
    webhook_streams.c.claim_token == sa.bindparam("b_token"),
).values(
    position=sa.func.coalesce(sa.bindparam("b_position", type_=BigId), webhook_streams.c.position),
    attempts=sa.bindparam("b_attempts"), next_attempt_at=sa.bindparam("b_next"),
    last_attempt_at=sa.bindparam("b_at"), last_status_code=sa.bindparam("b_code"),
    last_error=sa.bindparam("b_error"),
    last_delivered_at=sa.func.coalesce(sa.bindparam("b_delivered", type_=Timestamp),
                                       webhook_streams.c.last_delivered_at),
    locked_until=None, claim_token=None,
)


@dataclass(frozen=True)
class BatchResult:
    batch: ClaimedBatch
    status_code: int | None
    error: str | None
    attempted_at: datetime


def record_stream_results(
    conn: Connection,
    clock: Clock,
    results: Sequence[BatchResult],
    *,
    max_attempts: int,
    base_backoff: float,
    rand: Callable[[], float] | None = None,
) -> dict[str, int]:
    """Move each delivered stream's cursor past its batch; a failed batch waits with backoff and holds the
    stream (order is kept); a batch that used its last attempt becomes dead-letter delivery rows (visible and
    re-sendable in the log) and the stream moves on. Only the current claimant's results count.
    Returns events per outcome."""
    counts = {status.value: 0 for status in DeliveryStatus}
    extra = {"rand": rand} if rand is not None else {}
    st = webhook_streams.c
    now = clock.now()
    held = sa.select(st.subscription_id, st.claim_token).where(
        st.subscription_id.in_([r.batch.webhook_id for r in results]))
    if conn.dialect.name == "postgresql":
        held = held.with_for_update()
    still_ours = {(r.subscription_id, r.claim_token) for r in conn.execute(held)}
    updates, dead_letters = [], []
    for result in results:
        batch = result.batch
        if (batch.webhook_id, batch.claim_token) not in still_ours:
            continue  # the lease ran out and another worker took the batch over: its result stands
        at = as_utc(result.attempted_at)
        outcome = rules.after_attempt(batch.attempts, result.status_code, at, max_attempts=max_attempts,
                                      base_backoff=base_backoff, **extra)
        error = (result.error or None) and result.error[:500]
        moves_on = outcome.status is not DeliveryStatus.PENDING  # delivered, or dead-lettered
        updates.append({
            "b_id": batch.webhook_id, "b_token": batch.claim_token,
            "b_position": batch.end_position if moves_on else None,
            "b_attempts": 0 if moves_on else outcome.attempts, "b_next": outcome.next_attempt_at,
            "b_at": at, "b_code": result.status_code, "b_error": error,
            "b_delivered": at if outcome.status is DeliveryStatus.DELIVERED else None,
        })
        counts[outcome.status.value] += len(batch.event_ids)
        if outcome.status is DeliveryStatus.DEAD:
            dead_letters += [{
                "id": new_id("dlv"), "subscription_id": batch.webhook_id, "event_id": event_id,
                "event_type": event_type, "payload": body, "status": DeliveryStatus.DEAD.value,
                "attempts": outcome.attempts, "last_status_code": result.status_code, "last_error": error,
                "last_attempt_at": at, "next_attempt_at": None, "created_at": now,
            } for event_id, event_type, body in zip(batch.event_ids, batch.event_types, batch.envelopes,
                                                    strict=True)]
    if updates:
        conn.execute(_RECORD_STREAM, updates)
    for start in range(0, len(dead_letters), 1000):
        _insert_ignoring_duplicates(conn, dead_letters[start : start + 1000])
    return counts


PURGE_BATCH = 1000


def purge_delivered(conn: Connection, clock: Clock, retention_days: float) -> int:
    """Worker job: deliveries that arrived longer than `retention_days` ago leave the log, a batch at a time
    (read through their own index). Dead and pending ones stay, whatever their age."""
    if retention_days <= 0:
        return 0
    d = webhook_deliveries.c
    old = (sa.select(d.id).where(d.status == "delivered", d.delivered_at < clock.now() - timedelta(days=retention_days))
           .limit(PURGE_BATCH))
    return int(conn.execute(webhook_deliveries.delete().where(d.id.in_(old.scalar_subquery()))).rowcount or 0)
