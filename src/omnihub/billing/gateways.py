"""Payment gateways: how money actually moves for a payment method. A method names its gateway; the registry
maps gateway names to implementations. Gateways run inside the caller's transaction, so a failure anywhere
in the use case rolls their bookkeeping back too.

Shipped: `manual` (offline tender — cash, card terminal, bank transfer…: records only) and `store_credit`
(the customer's wallet, spent and credited atomically). An online provider (card acquirer, PayPal…) is one
more class with the same two methods, registered under its name."""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.billing import errors, rules
from omnihub.core.clock import Clock
from omnihub.core.errors import not_found
from omnihub.customers import queries as customer_queries
from omnihub.customers import service as customer_service


class PaymentGateway(Protocol):
    name: str

    def charge(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str) -> str:
        """Take `amount`; return the gateway's reference for it. Raise a DomainError to refuse."""
        ...

    def refund(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str) -> str:
        """Give `amount` back against payment `payment_id`; return the gateway's reference."""
        ...


class ManualGateway:
    """Offline tender settled outside the hub (cash drawer, card terminal, bank transfer): records only."""

    name = "manual"

    def charge(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str) -> str:
        return f"manual:{payment_id}"

    def refund(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str) -> str:
        return f"manual-refund:{payment_id}"


class StoreCreditGateway:
    """The wallet on the customer profile, usable in every channel."""

    name = "store_credit"

    def charge(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str) -> str:
        if customer_id is None:
            raise errors.customer_required("customer_id")
        spend_store_credit(conn, clock, customer_id, amount, currency, reason=f"payment {payment_id}")
        return f"store_credit:{payment_id}"

    def refund(self, conn: Connection, clock: Clock, *, payment_id: str, customer_id: str | None,
               amount: Decimal, currency: str) -> str:
        if customer_id is None:
            raise errors.customer_required("customer_id")
        customer_service.add_store_credit(conn, clock, customer_id, amount, currency,
                                          reason=f"refund of payment {payment_id}")
        return f"store_credit-refund:{payment_id}"


_registry: dict[str, PaymentGateway] = {}


def register_gateway(gateway: PaymentGateway) -> None:
    _registry[gateway.name] = gateway


def gateway_for(name: str) -> PaymentGateway:
    try:
        return _registry[name]
    except KeyError:
        raise errors.gateway_unknown(name, gateway_names()) from None


def gateway_names() -> list[str]:
    return sorted(_registry)


register_gateway(ManualGateway())
register_gateway(StoreCreditGateway())


# ---- the wallet ---------------------------------------------------------------------------------------------
# The customers room owns the ledger (`customer_credit`, signed entries) and exposes `add_store_credit`; it has
# no public "spend" or "balance" yet, so the two small pieces below live here. They should move to
# customers as `store_credit_balance(conn, customer_id, currency)` and `spend_store_credit(...)`.


def store_credit_balance(conn: Connection, customer_id: str, currency: str) -> Decimal:
    """Exact sum of the profile's ledger in one currency (summed as Decimal: SQLite stores NUMERIC as REAL)."""
    ledger = customer_queries.customer_credit
    amounts = conn.execute(sa.select(ledger.c.amount).where(ledger.c.customer_id == customer_id,
                                                            ledger.c.currency == currency)).scalars()
    return sum((Decimal(a) for a in amounts), Decimal(0))


def spend_store_credit(conn: Connection, clock: Clock, customer_id: str, amount: Decimal, currency: str,
                       *, reason: str) -> Decimal:
    """Take `amount` from the wallet, never below zero; returns the balance left.

    The profile row is the lock: on PostgreSQL `SELECT … FOR UPDATE` serialises spenders (and merges, which
    lock the same row) before the balance is read; on SQLite the write transaction is already exclusive
    (BEGIN IMMEDIATE)."""
    cid = customer_queries.resolve_id(conn, customer_id)
    if cid is None:
        raise not_found("customer", customer_id, field="customer_id")
    if conn.dialect.name == "postgresql":
        profiles = customer_queries.customers
        conn.execute(sa.select(profiles.c.id).where(profiles.c.id == cid).with_for_update()).first()
    balance = rules.round_money(store_credit_balance(conn, cid, currency), currency)
    if balance < amount:
        raise errors.insufficient_store_credit(balance, amount, currency)
    customer_service.add_store_credit(conn, clock, cid, -amount, currency, reason=reason)
    return balance - amount
