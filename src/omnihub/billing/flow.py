"""Payments at external providers, as a flow: opened in the order's transaction (nothing leaves the hub
there), started at the provider after commit by the driver, moved by the provider's verified notifications
exactly once, expired by a worker job, captured when the goods leave, refunded through the provider's API.

Exactly once, one mechanism: every notification is first written to `provider_events` under its
(provider, event id) key — a repeat collides and changes nothing, without waiting for the payment — and the
payment row is locked before its status is read, so two different events about one payment (a duplicate
under another id, success racing an expiry) take turns and the later one sees what the first did. Statuses only
move forward (`_apply`): a failure that arrives after the success changes nothing.

Calls to providers happen in `drive`, never with a transaction open: it claims due actions (a lease, committed),
calls the provider, then records the answer in a new transaction. A crash between the two repeats the call,
which the providers' idempotency keys make harmless.

Rooms that care (commerce: the order becomes paid, or is cancelled and its stock released) register an
outcome listener, called in the same transaction as the change."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.billing import errors, rules
from omnihub.billing import service as billing_service
from omnihub.billing.models import (
    payment_providers,
    provider_events,
    provider_payments,
    provider_refunds,
)
from omnihub.billing.provider_accounts import account_for
from omnihub.billing.provider_accounts import provider_named as _provider
from omnihub.billing.providers import (
    Account,
    Notice,
    NotVerified,
    PaymentAsk,
    ProviderFailed,
    is_provider,
    provider_for,
)
from omnihub.core.clock import Clock
from omnihub.core.db import Database, conflict_insert, dialect_insert, new_id
from omnihub.core.events import emit
from omnihub.core.jsonable import jsonable
from omnihub.core.money import minor_units
from omnihub.core.outbound import OutboundGuard

log = logging.getLogger("omnihub.billing.flow")
PP = provider_payments.c
PR = provider_refunds.c
_PURPOSE = "payment-provider"
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 8

Listener = Callable[[Connection, Clock, dict[str, Any], str, str | None], None]
_listeners: list[Listener] = []


def register_outcome_listener(listener: Listener) -> None:
    """`listener(conn, clock, payment, outcome, reason)` with outcome `paid` (the order's money is all in),
    `failed` or `expired` — in the transaction that made the change. Idempotent by identity."""
    if listener not in _listeners:
        _listeners.append(listener)


def _tell(conn: Connection, clock: Clock, payment: dict[str, Any], outcome: str, reason: str | None) -> None:
    for listener in _listeners:
        listener(conn, clock, payment, outcome, reason)


def _lock(conn: Connection, query: sa.Select) -> sa.Select:
    return query.with_for_update() if conn.dialect.name == "postgresql" else query


def to_minor(amount: Decimal, currency: str) -> int:
    return int((Decimal(amount) * (Decimal(10) ** minor_units(currency))).to_integral_value())


def from_minor(minor: int, currency: str) -> Decimal:
    return (Decimal(minor) / (Decimal(10) ** minor_units(currency))).quantize(Decimal(1).scaleb(-minor_units(currency)))


# ---- opening payments, in the order's transaction ----------------------------------------------------------------


def provider_of_method(conn: Connection, method: str) -> str | None:
    """The provider an active payment method is paid at, or None for a method settled on the spot (or unknown or
    inactive: taking the payment refuses it then). Read from the reference-data cache: every order asks."""
    row = billing_service.active_method(conn, method)
    gateway = row.gateway if row is not None else None
    return gateway if gateway is not None and is_provider(gateway) else None


def open_payments(conn: Connection, clock: Clock, *, order_id: str, channel: str, customer_id: str | None,
                  currency: str, tenders: Sequence[tuple[int, str, str, Decimal]], expires_in: timedelta
                  ) -> list[dict[str, Any]]:
    """The order waits for these payments (index in the order's `payments`, method, provider, amount): each
    row says `start`, done by the driver after commit. The channel must have an account at the provider."""
    now = clock.now()
    rows = []
    for index, method, provider, amount in tenders:
        configured = conn.execute(sa.select(payment_providers.c.provider).where(
            payment_providers.c.channel_code == channel, payment_providers.c.provider == provider)).first()
        if configured is None:
            error = errors.provider_not_configured(provider, channel)
            error.field = f"payments.{index}.method"
            raise error
        rows.append(dict(id=new_id("ppy"), order_id=order_id, channel_code=channel, provider=provider, method=method,
                         customer_id=customer_id, amount=amount, captured=Decimal(0), currency=currency,
                         status="pending", reference=None, next_action=None, details=None, reason=None,
                         action="start",
                         action_due_at=now, action_attempts=0, payment_id=None, expires_at=now + expires_in,
                         created_at=now, updated_at=now))
    if rows:
        conn.execute(provider_payments.insert(), rows)
    return rows


def payments_for_order(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    """What an order waits for or took at providers, with what the front end needs next."""
    rows = conn.execute(sa.select(provider_payments).where(PP.order_id == order_id).order_by(PP.created_at, PP.id))
    return [payment_out(r._mapping) for r in rows]


def payment_out(row: Any) -> dict[str, Any]:
    currency = row["currency"]
    return {"id": row["id"], "order_id": row["order_id"], "channel": row["channel_code"],
            "provider": row["provider"], "method": row["method"],
            "amount": rules.round_money(row["amount"], currency), "currency": currency, "status": row["status"],
            "reference": row["reference"], "next_action": row["next_action"], "reason": row["reason"],
            "expires_at": row["expires_at"], "captured": rules.round_money(row["captured"], currency)}


def cancel_open(conn: Connection, clock: Clock, order_id: str, reason: str) -> int:
    """The order is cancelled: what it still waits for is cancelled too (voided at the provider when started)."""
    now = clock.now()
    rows = conn.execute(_lock(conn, sa.select(provider_payments).where(
        PP.order_id == order_id, PP.status.in_(("pending", "started"))))).all()
    for row in rows:
        conn.execute(provider_payments.update().where(PP.id == row.id).values(
            status="cancelled", reason=reason, updated_at=now,
            action="cancel" if row.reference else None, action_due_at=now if row.reference else None))
    return len(rows)


def request_capture(conn: Connection, clock: Clock, order_id: str) -> int:
    """The goods left (shipped, collected): authorised money is captured, after commit."""
    now = clock.now()
    return conn.execute(provider_payments.update().where(PP.order_id == order_id, PP.status == "authorized")
                        .values(action="capture", action_due_at=now, action_attempts=0, updated_at=now)).rowcount


def owe_refund(conn: Connection, clock: Clock, *, payment_id: str, amount: Decimal, currency: str) -> str:
    """A refund share against a payment taken at a provider (billing.service.refund, in its transaction): owed,
    sent by the driver after commit. Returns the reference the refund leg keeps.

    Money only authorised (Stripe, PayPal: not captured yet) is not refunded, it is never taken: the share is
    *released* — the capture takes the rest only (Stripe `amount_to_capture`, PayPal a final partial capture,
    which voids the remainder), and releasing all of it voids the authorisation now. A capture already on its way
    (claimed) is let finish: the share is then refunded after it, as usual."""
    row = conn.execute(_lock(conn, sa.select(provider_payments).where(PP.payment_id == payment_id))).first()
    if row is None:
        raise ValueError(f"payment {payment_id} was not taken at a provider")
    now = clock.now()
    refund_id = new_id("prf")
    if row.status == "authorized" and row.action != "capture":
        released = Decimal(str((row.details or {}).get("released", "0"))) + amount
        everything = released >= row.amount
        conn.execute(provider_refunds.insert(), dict(
            id=refund_id, provider_payment_id=row.id, refund_leg_id=None, amount=amount, currency=currency,
            status="released", reference=None, reason="authorised, not captured: never taken", attempts=0,
            due_at=now, created_at=now, updated_at=now))
        values: dict[str, Any] = {"details": {**(row.details or {}), "released": str(released)}, "updated_at": now}
        if everything:  # nothing left to take: void the authorisation, after commit
            values.update(status="refunded", action="cancel", action_due_at=now, action_attempts=0,
                          reason="refunded in full before capture")
        conn.execute(provider_payments.update().where(PP.id == row.id).values(**values))
        return f"{row.provider}-release:{refund_id}"
    due = now + LEASE if row.action == "capture" else now  # after the capture on its way
    conn.execute(provider_refunds.insert(), dict(
        id=refund_id, provider_payment_id=row.id, refund_leg_id=None, amount=amount, currency=currency,
        status="pending", reference=None, reason=None, attempts=0, due_at=due, created_at=now, updated_at=now))
    return f"{row.provider}-refund:{refund_id}"


def released_of(row: Any) -> Decimal:
    """What refunds released from an authorisation before its capture (never taken)."""
    return Decimal(str((row.details or {}).get("released", "0")))


def payment_status(conn: Connection, payment_id: str) -> str:
    return str(conn.execute(sa.select(PP.status).where(PP.id == payment_id)).scalar_one())


def refunds_for_order(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(provider_refunds, PP.provider).join(
        provider_payments, PP.id == PR.provider_payment_id).where(PP.order_id == order_id).order_by(PR.created_at))
    return [{"id": r.id, "provider": r.provider, "amount": rules.round_money(r.amount, r.currency),
             "currency": r.currency, "status": r.status, "reference": r.reference, "reason": r.reason} for r in rows]


# ---- notifications -----------------------------------------------------------------------------------------------


def verify(accounts: list[Account], name: str, raw: bytes, headers: dict[str, str], guard: OutboundGuard) -> Notice:
    """The notification in the hub's words, once its signature checks out against one of the provider's
    `accounts` (`accounts_of`, read first: no transaction stays open while a provider is asked — PayPal's check
    is a call to PayPal); else 401 `notification_not_verified` (logged, nothing stored)."""
    provider = _provider(name)
    try:
        notice = provider.verify(raw, headers, accounts, guard)
    except NotVerified as exc:
        log.warning("%s notification refused: %s", name, exc)
        raise errors.notification_not_verified(name) from None
    except ProviderFailed as exc:  # a verification that asks the provider (PayPal) could not ask it
        log.warning("%s notification not verified: %s", name, exc)
        raise errors.notification_not_verified(name) from None
    except (ValueError, KeyError, TypeError, AttributeError):  # signed, but not an event (`[]`, a string)
        raise errors.notification_unreadable(name) from None
    if not notice.event_id:  # an event without its id: the same body is the same event, another body another
        return dataclasses.replace(notice, event_id="body:" + hashlib.sha256(raw).hexdigest())
    return notice


_RECORD_EVENT = conflict_insert(provider_events, ["provider", "event_id", "kind", "payment_id", "outcome",
                                                  "received_at"], conflict="DO NOTHING", returning="event_id")


@dataclass(frozen=True)
class Receipt:
    duplicate: bool
    outcome: str
    payment_id: str | None
    status: str | None

    def out(self) -> dict[str, Any]:
        return {"duplicate": self.duplicate, "outcome": self.outcome, "payment_id": self.payment_id,
                "status": self.status}


def receive(conn: Connection, clock: Clock, name: str, notice: Notice) -> Receipt:
    """Apply one verified notification, once. A repeat (same event id) is a duplicate that changes nothing; an
    event about an unknown payment is recorded and ignored."""
    query = sa.select(provider_payments)
    if notice.payment_id:
        query = query.where(PP.id == notice.payment_id, PP.provider == name)
    elif notice.reference:
        query = query.where(PP.provider == name, PP.reference == notice.reference)
    else:
        query = None
    found = conn.execute(query).first() if query is not None else None
    outcome = notice.outcome if found is not None else "unknown_payment"
    # The event first: a repeat collides here and waits for nothing else (no payment lock taken).
    recorded = conn.execute(_RECORD_EVENT, dict(provider=name, event_id=notice.event_id, kind=notice.kind[:64],
                                                payment_id=found.id if found else None, outcome=outcome,
                                                received_at=clock.now())).first()
    if recorded is None:
        return Receipt(True, outcome, found.id if found else None, found.status if found else None)
    if found is None:
        return Receipt(False, outcome, None, None)
    row = conn.execute(_lock(conn, sa.select(provider_payments).where(PP.id == found.id))).one()
    payment = dict(row._mapping)
    result = _apply(conn, clock, payment, notice)
    return Receipt(False, result, payment["id"], payment["status"])


def receive_many(conn: Connection, clock: Clock, items: Sequence[tuple[str, Notice]]) -> list[Receipt]:
    """`receive` for a batch of (provider, notice), in order, with the same outcome as one `receive` after the
    other: the payments they name are read and locked in one statement (by id, so that workers sharing the
    queue lock in the same order), their events recorded in one insert (a repeat collides and changes
    nothing), then each applied on its payment as it stands after the ones before it."""
    ids = sorted({n.payment_id for _, n in items if n.payment_id})
    refs = sorted({(name, n.reference) for name, n in items if not n.payment_id and n.reference})
    wanted = ([PP.id.in_(ids)] if ids else []) + ([sa.tuple_(PP.provider, PP.reference).in_(refs)] if refs else [])
    rows = conn.execute(_lock(conn, sa.select(provider_payments).where(sa.or_(*wanted)).order_by(PP.id))).all() \
        if wanted else []
    by_id = {r.id: dict(r._mapping) for r in rows}
    by_ref = {(r.provider, r.reference): r.id for r in rows if r.reference}

    def found_of(name: str, notice: Notice) -> dict[str, Any] | None:
        if notice.payment_id:
            row = by_id.get(notice.payment_id)
            return row if row is not None and row["provider"] == name else None
        key = by_ref.get((name, notice.reference)) if notice.reference else None
        return by_id[key] if key is not None else None

    found = [found_of(name, notice) for name, notice in items]
    events: dict[tuple[str, str], dict[str, Any]] = {}
    now = clock.now()
    for (name, notice), payment in zip(items, found, strict=True):
        events.setdefault((name, notice.event_id), dict(
            provider=name, event_id=notice.event_id, kind=notice.kind[:64],
            payment_id=payment["id"] if payment else None,
            outcome=notice.outcome if payment is not None else "unknown_payment", received_at=now))
    if not events:
        return []
    insert = dialect_insert(conn)(provider_events).values(list(events.values()))
    recorded = {(r.provider, r.event_id) for r in conn.execute(
        insert.on_conflict_do_nothing().returning(provider_events.c.provider, provider_events.c.event_id))}
    receipts = []
    moved: set[str] = set()
    for (name, notice), payment in zip(items, found, strict=True):
        outcome = notice.outcome if payment is not None else "unknown_payment"
        first = (name, notice.event_id) in recorded
        recorded.discard((name, notice.event_id))  # the same event twice in one batch: the second is a repeat
        if payment is not None and payment["id"] in moved:  # moved by an earlier one: as it stands now
            payment = by_id[payment["id"]] = dict(conn.execute(
                sa.select(provider_payments).where(PP.id == payment["id"])).one()._mapping)
        if not first or payment is None:
            receipts.append(Receipt(not first, outcome, payment["id"] if payment else None,
                                    payment["status"] if payment else None))
            continue
        result = _apply(conn, clock, payment, notice)
        moved.add(payment["id"])
        receipts.append(Receipt(False, result, payment["id"], payment["status"]))
    return receipts


def _apply(conn: Connection, clock: Clock, payment: dict[str, Any], notice: Notice) -> str:
    """Move a (locked) payment as the notice says (`rules.provider_step`: forward only). Returns what happened."""
    status, outcome, now = payment["status"], notice.outcome, clock.now()
    currency = payment["currency"]
    if notice.reference and not payment["reference"]:  # the notification came before the start was recorded
        payment["reference"] = notice.reference
    short = (outcome == "captured" and notice.amount_minor is not None
             and notice.amount_minor < to_minor(payment["amount"], currency))
    step = rules.provider_step(status, outcome, short=short)
    if step == "short":
        _move(conn, clock, payment, "failed", tell="failed",
              reason=f"{payment['provider']}: paid {from_minor(int(notice.amount_minor or 0), currency)} of "
                     f"{rules.round_money(payment['amount'], currency)} {currency}")
        return "failed"
    if step == "pay":
        values: dict[str, Any] = {}
        provider = provider_for(payment["provider"])
        if outcome == "captured" or (provider is not None and not provider.authorises):
            outcome = "captured"
            values["captured"] = payment["amount"]
        all_in = _record_paid(conn, clock, payment) == "paid"
        _move(conn, clock, payment, outcome, **values)
        if all_in:
            _tell(conn, clock, payment, "paid", None)
        return outcome
    if step == "capture":
        _move(conn, clock, payment, "captured", captured=payment["amount"])
        return "captured"
    if step == "late":  # money arrived for an order the hub gave up on: give it back (void), say why
        conn.execute(provider_payments.update().where(PP.id == payment["id"]).values(
            reference=payment["reference"], action="cancel", action_due_at=now, updated_at=now,
            reason=f"{payment['reason'] or status}; paid late, given back"))
        return "late"
    if step == "fail":
        _move(conn, clock, payment, "failed", reason=notice.reason or f"{payment['provider']}: failed", tell="failed")
        return "failed"
    if step == "authorize":  # the buyer agreed at the provider: the hub authorises, after commit
        conn.execute(provider_payments.update().where(PP.id == payment["id"]).values(
            reference=payment["reference"], action="authorize", action_due_at=now, action_attempts=0,
            updated_at=now))
        return "approved"
    if step == "note":  # not paid: the payment stays open (until it expires), and says why
        conn.execute(provider_payments.update().where(PP.id == payment["id"]).values(
            reason=notice.reason, reference=payment["reference"], updated_at=now))
        payment["reason"] = notice.reason
        return "underpaid"
    # `refunded`: the provider confirms a refund (ours are marked sent when its API answered); nothing moves.
    return step


def _record_paid(conn: Connection, clock: Clock, payment: dict[str, Any]) -> str:
    """The billing payment, against the order's balance. Returns the balance's status after it (`paid`: all the
    order's money is in)."""
    taken = billing_service.take_confirmed(
        conn, clock, order_id=payment["order_id"], customer_id=payment["customer_id"], currency=payment["currency"],
        method=payment["method"], amount=rules.round_money(payment["amount"], payment["currency"]),
        reference=f"{payment['provider']}:{payment['reference'] or payment['id']}")
    payment["payment_id"] = taken["taken"][0]["id"]
    return str(taken["status"])


def _move(conn: Connection, clock: Clock, payment: dict[str, Any], status: str, *, reason: str | None = None,
          tell: str | None = None, **values: Any) -> str:
    now = clock.now()
    changes = dict(status=status, reference=payment["reference"], payment_id=payment["payment_id"], updated_at=now,
                   **values)
    if reason is not None:
        changes["reason"] = reason
    if status in ("failed", "expired") and payment["reference"] and payment["status"] == "started":
        changes.update(action="cancel", action_due_at=now)  # nothing left to take: void it at the provider
    elif payment.get("action") == "start" and status != "pending":
        changes.update(action=None, action_due_at=None)
    conn.execute(provider_payments.update().where(PP.id == payment["id"]).values(**changes))
    payment.update(changes)
    emit(conn, clock, f"provider_payment.{status}", jsonable({k: payment[k] for k in (
        "id", "order_id", "provider", "method", "amount", "currency", "reference", "status", "reason")}))
    if tell:
        _tell(conn, clock, payment, tell, reason)
    return status


# ---- expiry (a worker job) ---------------------------------------------------------------------------------------


def expire_due(conn: Connection, clock: Clock, limit: int = 200) -> int:
    """Payments nobody completed in time: expired, and the order is told (commerce releases its stock)."""
    query = (sa.select(provider_payments).where(PP.status.in_(("pending", "started")), PP.expires_at <= clock.now())
             .order_by(PP.expires_at).limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    for row in rows:
        payment = dict(row._mapping)
        minutes = int((payment["expires_at"] - payment["created_at"]).total_seconds() // 60)
        _move(conn, clock, payment, "expired", reason=f"not paid within {minutes} minutes", tell="expired")
    return len(rows)


# ---- the driver: provider calls after commit -------------------------------------------------------------------


def ask_for(row: Any) -> PaymentAsk:
    minor = to_minor(row.amount, row.currency)
    return PaymentAsk(payment_id=row.id, order_id=row.order_id, method=row.method,
                      amount=rules.round_money(row.amount, row.currency), minor=minor,
                      currency=row.currency, reference=row.reference, details=dict(row.details or {}),
                      capture_minor=minor - to_minor(released_of(row), row.currency))


def _claim(db: Database, clock: Clock, order_id: str | None, limit: int) -> tuple[list[Any], list[Any]]:
    """Due actions and refunds, leased (committed) so that no other driver repeats them meanwhile."""
    now = clock.now()
    with db.transaction() as conn:
        query = sa.select(provider_payments).where(PP.action.is_not(None), PP.action_due_at <= now)
        refunds = (sa.select(provider_refunds).where(PR.status == "pending", PR.due_at <= now)
                   .order_by(PR.due_at).limit(limit))
        if order_id is not None:
            query = query.where(PP.order_id == order_id)
            refunds = refunds.where(PR.provider_payment_id.in_(sa.select(PP.id).where(PP.order_id == order_id)))
        query = query.order_by(PP.action_due_at).limit(limit)
        if conn.dialect.name == "postgresql":
            query, refunds = query.with_for_update(skip_locked=True), refunds.with_for_update(skip_locked=True)
        actions, owed = conn.execute(query).all(), conn.execute(refunds).all()
        if actions:
            conn.execute(provider_payments.update().where(PP.id.in_([r.id for r in actions])).values(
                action_due_at=now + LEASE, action_attempts=PP.action_attempts + 1))
        if owed:
            conn.execute(provider_refunds.update().where(PR.id.in_([r.id for r in owed])).values(
                due_at=now + LEASE, attempts=PR.attempts + 1))
    return actions, owed


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def drive(db: Database, clock: Clock, *, secret_key: str, guard: OutboundGuard, order_id: str | None = None,
          limit: int = 50) -> int:
    """Do what is due at the providers (start, capture, cancel, refunds) and record each answer. Called after
    an order's commit for that order, and by the worker for whatever is left. Returns how many calls it made."""
    actions, owed = _claim(db, clock, order_id, limit)
    for row in actions:
        _do_action(db, clock, secret_key, guard, row)
    for refund in owed:
        _do_refund(db, clock, secret_key, guard, refund)
    return len(actions) + len(owed)


def _do_action(db: Database, clock: Clock, secret_key: str, guard: OutboundGuard, row: Any) -> None:
    provider = _provider(row.provider)
    try:
        with db.read() as conn:
            account = account_for(conn, secret_key, row.channel_code, row.provider)
        if row.action == "start":
            started = provider.start(account, ask_for(row), guard)
            with db.transaction() as conn:
                _record_started(conn, clock, row.id, started.reference, started.next_action)
            return
        if row.action == "authorize":
            details = provider.authorize(account, ask_for(row), guard)  # type: ignore[attr-defined]
            with db.transaction() as conn:
                _merge_details(conn, row.id, details)
                conn.execute(provider_payments.update().where(PP.id == row.id, PP.action == "authorize").values(
                    action=None, action_due_at=None))
                receive(conn, clock, row.provider, Notice(event_id=f"hub-authorize:{row.id}", kind="hub.authorize",
                                                          outcome="authorized", payment_id=row.id))
            return
        details = None
        if row.action == "capture":
            details = provider.capture(account, ask_for(row), guard)
        elif row.action == "cancel" and row.reference:
            provider.cancel(account, ask_for(row), guard)
        with db.transaction() as conn:
            if details:
                _merge_details(conn, row.id, details)
            _action_done(conn, clock, row.id, row.action)
    except ProviderFailed as exc:
        log.warning("%s %s of payment %s: %s", row.provider, row.action, row.id, exc)
        with db.transaction() as conn:
            _action_failed(conn, clock, row.id, row.action, str(exc)[:300], exc.permanent)
    except ValueError as exc:  # an account's secrets sealed under another key, a provider's odd answer
        with db.transaction() as conn:
            _action_failed(conn, clock, row.id, row.action, str(exc)[:300], True)


def _merge_details(conn: Connection, payment_id: str, details: dict[str, Any]) -> None:
    row = conn.execute(_lock(conn, sa.select(PP.details).where(PP.id == payment_id))).one()
    conn.execute(provider_payments.update().where(PP.id == payment_id).values(
        details={**(row.details or {}), **jsonable(details)}))


def _record_started(conn: Connection, clock: Clock, payment_id: str, reference: str,
                    next_action: dict[str, Any]) -> None:
    """The provider took the start: its reference and the next step. A notification may have come first (it
    moved the status on): the status is never set back."""
    now = clock.now()
    row = conn.execute(_lock(conn, sa.select(provider_payments).where(PP.id == payment_id))).one()
    values: dict[str, Any] = {"reference": row.reference or reference, "next_action": jsonable(next_action),
                              "updated_at": now}
    if row.action == "start":
        values.update(action=None, action_due_at=None)
    if row.status == "pending":
        values["status"] = "started"
    conn.execute(provider_payments.update().where(PP.id == payment_id).values(**values))
    if row.status in ("expired", "cancelled", "failed"):  # given up meanwhile: void what was just started
        conn.execute(provider_payments.update().where(PP.id == payment_id).values(action="cancel",
                                                                                 action_due_at=now))


def _action_done(conn: Connection, clock: Clock, payment_id: str, action: str) -> None:
    now = clock.now()
    row = conn.execute(_lock(conn, sa.select(provider_payments).where(PP.id == payment_id))).one()
    values: dict[str, Any] = {"updated_at": now}
    if row.action == action:
        values.update(action=None, action_due_at=None)
    if action == "capture" and row.status == "authorized":
        values.update(status="captured", captured=row.amount - released_of(row))
    conn.execute(provider_payments.update().where(PP.id == payment_id).values(**values))
    if action == "capture":
        emit(conn, clock, "provider_payment.captured", {"id": payment_id, "order_id": row.order_id,
                                                        "provider": row.provider})


def _action_failed(conn: Connection, clock: Clock, payment_id: str, action: str, reason: str, permanent: bool
                   ) -> None:
    row = conn.execute(_lock(conn, sa.select(provider_payments).where(PP.id == payment_id))).one()
    payment = dict(row._mapping)
    now = clock.now()
    if row.action != action:
        return
    if permanent or row.action_attempts >= MAX_ATTEMPTS:
        conn.execute(provider_payments.update().where(PP.id == payment_id).values(
            action=None, action_due_at=None, reason=reason, updated_at=now))
        if action in ("start", "authorize") and row.status in ("pending", "started"):
            payment.update(action=None)
            _move(conn, clock, payment, "failed", reason=reason, tell="failed")
        return
    conn.execute(provider_payments.update().where(PP.id == payment_id).values(
        action_due_at=now + _backoff(row.action_attempts), reason=reason, updated_at=now))


def _do_refund(db: Database, clock: Clock, secret_key: str, guard: OutboundGuard, refund: Any) -> None:
    with db.read() as conn:
        row = conn.execute(sa.select(provider_payments).where(PP.id == refund.provider_payment_id)).one()
        account = account_for(conn, secret_key, row.channel_code, row.provider)
    provider = _provider(row.provider)
    now = clock.now()
    try:
        reference = provider.refund(account, ask_for(row), to_minor(refund.amount, refund.currency), refund.id, guard)
    except ProviderFailed as exc:
        log.warning("%s refund %s: %s", row.provider, refund.id, exc)
        done = exc.permanent or refund.attempts >= MAX_ATTEMPTS
        with db.transaction() as conn:
            conn.execute(provider_refunds.update().where(PR.id == refund.id).values(
                status="failed" if done else "pending", reason=str(exc)[:300], updated_at=now,
                due_at=now + _backoff(refund.attempts)))
            if done:
                emit(conn, clock, "provider_refund.failed", {"id": refund.id, "order_id": row.order_id,
                                                             "provider": row.provider, "reason": str(exc)[:300]})
        return
    with db.transaction() as conn:
        conn.execute(provider_refunds.update().where(PR.id == refund.id).values(
            status="sent", reference=reference, reason=None, updated_at=now))
