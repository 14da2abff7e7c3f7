"""Service-level builders for billing tests: each call is its own transaction, as a request would be."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from omnihub.billing import service
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import recent_events
from omnihub.customers import activity as customer_activity
from omnihub.customers import queries as customer_queries
from omnihub.customers import resolution as customer_resolution


def customer(db: Database, clock: ManualClock, email: str, *, credit: str | None = None) -> str:
    with db.transaction() as conn:
        cid, _ = customer_resolution.create_customer(conn, clock, name=None, identities={"email": email}, channel=None)
        if credit is not None:
            customer_activity.add_store_credit(conn, clock, cid, Decimal(credit), "EUR", reason="goodwill")
    return cid


def wallet(db: Database, clock: ManualClock, customer_id: str) -> dict[str, Decimal]:
    with db.read() as conn:
        return customer_queries.customer_view(conn, clock, customer_id)["store_credit"]


def take(db: Database, clock: ManualClock, order_id: str, total: str, payments: list[dict[str, Any]], *,
         customer_id: str | None = None, currency: str = "EUR") -> dict[str, Any]:
    with db.transaction() as conn:
        return service.take_payments(conn, clock, order_id=order_id, customer_id=customer_id, currency=currency,
                                     total=Decimal(total), payments=payments)


def refund(db: Database, clock: ManualClock, order_id: str, amount: str, method: str, *,
           customer_id: str | None = None, return_id: str | None = None) -> dict[str, Any]:
    with db.transaction() as conn:
        return service.refund(conn, clock, order_id=order_id, customer_id=customer_id, currency="EUR",
                              amount=Decimal(amount), method=method, reason="returned", return_id=return_id)


def payments_of(db: Database, order_id: str) -> dict[str, Any]:
    with db.read() as conn:
        return service.payments_of(conn, order_id)


def events(db: Database, type_: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [e.data for e in reversed(recent_events(conn, type_=type_))]


def amounts(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(r["method"], str(r["amount"])) for r in rows]
