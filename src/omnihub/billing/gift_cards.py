"""Gift cards: a code and a balance in one currency, usable in every channel — issued, topped up, spent in part,
checked, expired; and a refund can go onto one (a new card, or a given one topped up).

The code is a bearer secret (80 random bits), shown once at issue and stored only as its SHA-256. One card
cannot be spent twice at once: its row is locked before its balance is read (FOR UPDATE on PostgreSQL; SQLite's
writers are exclusive), and the balance is compared as Decimal in Python."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.billing import rules
from omnihub.billing.models import gift_card_ledger, gift_cards
from omnihub.core.clock import Clock
from omnihub.core.db import new_id
from omnihub.core.errors import Conflict, NotFound, ValidationFailed
from omnihub.core.events import emit
from omnihub.core.money import parse_amount

GC = gift_cards.c
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a till


def new_code() -> str:
    """GC-XXXX-XXXX-XXXX-XXXX: 16 characters of a 32-letter alphabet (80 bits)."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "GC-" + "-".join(chars[i:i + 4] for i in range(0, 16, 4))


def normalise(code: str) -> str:
    raw = "".join(c for c in code.upper() if c.isalnum())
    raw = raw[2:] if raw.startswith("GC") else raw
    return "GC-" + "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def not_found() -> NotFound:
    return NotFound("gift_card_not_found", "No gift card with that code.", field="code")


def _card(conn: Connection, code: str, *, lock: bool) -> Any:
    query = sa.select(gift_cards).where(GC.code_hash == code_hash(code))
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise not_found()
    return row


def _out(row: Any, *, code: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    expired = row.status == "expired" or (now is not None and row.expires_at is not None and row.expires_at <= now)
    return {"id": row.id, "code": code, "last4": row.last4, "currency": row.currency,
            "balance": rules.round_money(row.balance, row.currency), "status": "expired" if expired else row.status,
            "expires_at": row.expires_at, "issued_at": row.issued_at}


def _ledger(conn: Connection, clock: Clock, card_id: str, kind: str, amount: Decimal, balance: Decimal,
            reference: str | None) -> None:
    conn.execute(gift_card_ledger.insert(), dict(card_id=card_id, kind=kind, amount=amount, balance=balance,
                                                 reference=reference, at=clock.now()))


def issue(conn: Connection, clock: Clock, *, amount: Decimal | str, currency: str, expires_at: datetime | None = None,
          customer_id: str | None = None, reference: str | None = None) -> dict[str, Any]:
    """A new card; the answer is the only time its code is shown."""
    value = parse_amount(amount, currency, field="amount")
    if value <= 0:
        raise ValidationFailed("invalid_amount", "A gift card is issued for more than zero.", field="amount")
    if expires_at is not None and expires_at <= clock.now():
        raise ValidationFailed("invalid_expiry", "A gift card expires in the future.", field="expires_at")
    code, now = new_code(), clock.now()
    row = dict(id=new_id("gft"), code_hash=code_hash(code), last4=code[-4:], currency=currency, balance=value,
               status="active", customer_id=customer_id, expires_at=expires_at, issued_at=now, updated_at=now)
    conn.execute(gift_cards.insert(), row)
    _ledger(conn, clock, row["id"], "issue", value, value, reference)
    emit(conn, clock, "gift_card.issued", {"id": row["id"], "last4": row["last4"], "currency": currency,
                                           "amount": str(value), "customer_id": customer_id})
    return _out(_Row(row), code=code)


class _Row:
    """A dict read as a row (attribute access), for a card this transaction just wrote."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def balance(conn: Connection, clock: Clock, code: str) -> dict[str, Any]:
    return _out(_card(conn, code, lock=False), now=clock.now())


def _usable(row: Any, clock: Clock) -> None:
    if row.status == "expired" or (row.expires_at is not None and row.expires_at <= clock.now()):
        raise Conflict("gift_card_expired", f"The gift card ending {row.last4} has expired.", field="code")


def top_up(conn: Connection, clock: Clock, code: str, amount: Decimal | str, *, reference: str | None = None
           ) -> dict[str, Any]:
    row = _card(conn, code, lock=True)
    _usable(row, clock)
    value = parse_amount(amount, row.currency, field="amount")
    if value <= 0:
        raise ValidationFailed("invalid_amount", "A top-up is more than zero.", field="amount")
    after = rules.round_money(row.balance, row.currency) + value
    conn.execute(gift_cards.update().where(GC.id == row.id).values(balance=after, updated_at=clock.now()))
    _ledger(conn, clock, row.id, "top_up", value, after, reference)
    return _out(_card(conn, code, lock=False), now=clock.now())


def redeem(conn: Connection, clock: Clock, code: str | None, amount: Decimal, currency: str, *, reference: str,
           field: str = "code") -> str:
    """Spend `amount` from the card (part of its balance is fine). 409 `insufficient_gift_card_balance` when it
    holds less, `gift_card_expired`; 422 `currency_mismatch`. Returns the card's id."""
    if not code:
        raise ValidationFailed("gift_card_code_required", "Paying with a gift card needs its code.", field=field)
    row = _card(conn, code, lock=True)
    _usable(row, clock)
    if row.currency != currency:
        raise ValidationFailed("currency_mismatch", f"The gift card is in {row.currency}, not {currency}.",
                               field=field)
    held = rules.round_money(row.balance, row.currency)
    if held < amount:
        raise Conflict("insufficient_gift_card_balance", f"The gift card ending {row.last4} holds {held} "
                       f"{row.currency}, less than {amount}.", field=field, balance=str(held))
    conn.execute(gift_cards.update().where(GC.id == row.id).values(balance=held - amount, updated_at=clock.now()))
    _ledger(conn, clock, row.id, "redeem", -amount, held - amount, reference)
    return str(row.id)


def credit(conn: Connection, clock: Clock, card_id: str, amount: Decimal, *, reference: str) -> None:
    """Money back onto the card a payment came from (a refund to the original tender)."""
    row = conn.execute(sa.select(gift_cards).where(GC.id == card_id)).one()
    after = rules.round_money(row.balance, row.currency) + amount
    conn.execute(gift_cards.update().where(GC.id == card_id).values(balance=after, updated_at=clock.now()))
    _ledger(conn, clock, card_id, "refund", amount, after, reference)


def expire_due(conn: Connection, clock: Clock, limit: int = 500) -> int:
    """Cards past their date: expired, what they held written off in the ledger."""
    rows = conn.execute(sa.select(gift_cards).where(GC.status == "active", GC.expires_at.is_not(None),
                                                    GC.expires_at <= clock.now()).limit(limit)).all()
    for row in rows:
        held = rules.round_money(row.balance, row.currency)
        conn.execute(gift_cards.update().where(GC.id == row.id).values(status="expired", balance=0,
                                                                       updated_at=clock.now()))
        _ledger(conn, clock, row.id, "expire", -held, Decimal(0), None)
    return len(rows)
