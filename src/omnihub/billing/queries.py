"""Read side of billing, for the API, other rooms and analytics."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.billing import errors, rules
from omnihub.billing.models import (
    billing_documents,
    order_balances,
    payment_methods,
    payments,
    provider_notifications,
    refunds,
    tax_rates,
)
from omnihub.core.clock import as_utc
from omnihub.core.pagination import check_limit, decode_cursor, newest_first, page, within

# ---- payment methods -----------------------------------------------------------------------------------------


def _method(row: Any) -> dict[str, Any]:
    return {"code": row.code, "name": row.name, "gateway": row.gateway, "active": bool(row.active)}


def get_payment_method(conn: Connection, code: str) -> dict[str, Any]:
    row = conn.execute(sa.select(payment_methods).where(payment_methods.c.code == code)).first()
    if row is None:
        raise errors.payment_method_not_found(code)
    return _method(row)


def list_payment_methods(conn: Connection, *, limit: int, cursor: str | None, active: bool | None = None
                         ) -> dict[str, Any]:
    query = sa.select(payment_methods).order_by(payment_methods.c.code).limit(check_limit(limit) + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(payment_methods.c.code > str(after))
    if active is not None:
        query = query.where(payment_methods.c.active.is_(active))
    return page([_method(r) for r in conn.execute(query)], limit, key=lambda m: m["code"])


# ---- tax rates -----------------------------------------------------------------------------------------------


def _percent(value: Any) -> Decimal:
    """21.0000 → 21.00; 8.8750 → 8.875 (at least two decimals, no trailing noise)."""
    exact = Decimal(value).quantize(Decimal("0.0001"))
    two = exact.quantize(Decimal("0.01"))
    return two if two == exact else exact.normalize()


def _tax_rate(row: Any) -> dict[str, Any]:
    return {"tax_class": row.tax_class, "country": row.country, "rate": _percent(row.rate)}


def get_tax_rate(conn: Connection, tax_class: str, country: str) -> dict[str, Any]:
    row = conn.execute(sa.select(tax_rates).where(tax_rates.c.tax_class == tax_class,
                                                  tax_rates.c.country == country)).first()
    if row is None:
        raise errors.tax_rate_missing(tax_class, country, field="tax_class")
    return _tax_rate(row)


def list_tax_rates(conn: Connection, *, limit: int, cursor: str | None, country: str | None = None,
                   tax_class: str | None = None) -> dict[str, Any]:
    query = (sa.select(tax_rates).order_by(tax_rates.c.country, tax_rates.c.tax_class)
             .limit(check_limit(limit) + 1))
    after = decode_cursor(cursor)
    if after is not None:
        if not (isinstance(after, list) and len(after) == 2):
            raise errors.invalid_cursor()
        query = query.where(sa.tuple_(tax_rates.c.country, tax_rates.c.tax_class) > tuple(str(a) for a in after))
    if country:
        query = query.where(tax_rates.c.country == country)
    if tax_class:
        query = query.where(tax_rates.c.tax_class == tax_class)
    return page([_tax_rate(r) for r in conn.execute(query)], limit, key=lambda t: [t["country"], t["tax_class"]])


# ---- payments and refunds ------------------------------------------------------------------------------------


_PAYMENTS = sa.select(payments).where(payments.c.order_id == sa.bindparam("b_order")).order_by(payments.c.position)
_REFUNDS = sa.select(refunds).where(refunds.c.order_id == sa.bindparam("b_order")).order_by(refunds.c.seq)
_BALANCE = sa.select(order_balances).where(order_balances.c.order_id == sa.bindparam("b_order"))
_DOCUMENT = sa.select(billing_documents).where(billing_documents.c.kind == sa.bindparam("b_kind"),
                                               billing_documents.c.source_id == sa.bindparam("b_source"))


def payment_rows(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    """The order's payments, in the order they were taken."""
    return [payment_out(r._mapping) for r in conn.execute(_PAYMENTS, {"b_order": order_id})]


def payment_out(r: Any) -> dict[str, Any]:
    """A payment row (a mapping) as the API shows it."""
    currency = r["currency"]
    return {
        "id": r["id"], "method": r["method"], "gateway": r["gateway"], "customer_id": r["customer_id"],
        "amount": rules.round_money(r["amount"], currency), "refunded": rules.round_money(r["refunded"], currency),
        "currency": currency, "reference": r["reference"], "created_at": as_utc(r["created_at"]),
    }


def refund_rows(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    result = []
    for r in conn.execute(_REFUNDS, {"b_order": order_id}):
        result.append({
            "id": r.id, "refund_id": r.refund_id, "payment_id": r.payment_id, "return_id": r.return_id,
            "method": r.method, "gateway": r.gateway, "amount": rules.round_money(r.amount, r.currency),
            "currency": r.currency, "reason": r.reason, "reference": r.reference,
            "created_at": as_utc(r.created_at),
        })
    return result


def payments_of(conn: Connection, order_id: str) -> dict[str, Any]:
    """{order_id, currency, total, status, paid, refunded, payments, refunds}. An order billing never saw is
    unpaid with nothing recorded (total and currency None)."""
    balance = conn.execute(_BALANCE, {"b_order": order_id}).first()
    if balance is None:
        return {"order_id": order_id, "currency": None, "total": None, "status": "unpaid", "paid": Decimal(0),
                "refunded": Decimal(0), "payments": [], "refunds": []}
    currency = balance.currency
    return {
        "order_id": order_id, "currency": currency, "total": rules.round_money(balance.total, currency),
        "status": balance.status, "paid": rules.round_money(balance.paid, currency),
        "refunded": rules.round_money(balance.refunded, currency),
        "payments": payment_rows(conn, order_id), "refunds": refund_rows(conn, order_id),
    }


# ---- documents -----------------------------------------------------------------------------------------------


def document_out(row: Any) -> dict[str, Any]:
    """A billing document row (a mapping) as the API shows it."""
    return {
        "number": row["number"], "kind": row["kind"], "series": row["series"], "sequence": int(row["sequence"]),
        "order_id": row["order_id"], "return_id": row["return_id"], "invoice_number": row["invoice_number"],
        "currency": row["currency"], "lines": row["lines"], "totals": row["totals"],
        "issued_at": as_utc(row["issued_at"]),
    }


def document_for(conn: Connection, kind: str, source_id: str) -> dict[str, Any] | None:
    """The invoice of an order (kind "invoice") or the credit note of a return (kind "credit_note")."""
    row = conn.execute(_DOCUMENT, {"b_kind": kind, "b_source": source_id}).first()
    return document_out(row._mapping) if row else None


def get_document(conn: Connection, kind: str, number: str) -> dict[str, Any]:
    row = conn.execute(sa.select(billing_documents).where(billing_documents.c.kind == kind,
                                                          billing_documents.c.number == number)).first()
    if row is None:
        raise errors.invoice_not_found(number) if kind == "invoice" else errors.credit_note_not_found(number)
    return document_out(row._mapping)


def list_documents(conn: Connection, kind: str, *, limit: int, cursor: str | None, order_id: str | None = None,
                   series: str | None = None, issued_from: datetime | None = None,
                   issued_to: datetime | None = None) -> dict[str, Any]:
    """Newest first (document ids are time-ordered)."""
    d = billing_documents.c
    conditions = [d.kind == kind, *within(d.issued_at, issued_from, issued_to)]
    if order_id:
        conditions.append(d.order_id == order_id)
    if series:
        conditions.append(d.series == series)
    query = newest_first(sa.select(billing_documents).where(*conditions), d.id, limit=limit, cursor=cursor)
    rows = list(conn.execute(query))
    items = [(document_out(r._mapping), r.id) for r in rows]
    result = page(items, limit, key=lambda item: item[1])
    result["items"] = [doc for doc, _ in result["items"]]
    return result


def list_payments(conn: Connection, *, limit: int, cursor: str | None, method: str | None = None,
                  customer_ids: list[str] | None = None, created_from: datetime | None = None,
                  created_to: datetime | None = None) -> dict[str, Any]:
    """Payments of every order, newest first (payment ids are time-ordered), each with its order."""
    p = payments.c
    conditions = within(p.created_at, created_from, created_to)
    if method is not None:
        conditions.append(p.method == method)
    if customer_ids is not None:
        conditions.append(p.customer_id.in_(customer_ids))
    rows = conn.execute(newest_first(sa.select(payments).where(*conditions), p.id, limit=limit, cursor=cursor))
    return page([{**payment_out(r._mapping), "order_id": r.order_id} for r in rows], limit, key=lambda i: i["id"])


def notification_out(row: Any) -> dict[str, Any]:
    """A stored provider notification in the hub's words (what it said, not its raw body, which held nothing
    more once verified): for people to see what the worker did with it, or why it failed."""
    return {"id": row["id"], "provider": row["provider"], "event_id": row["event_id"], "status": row["status"],
            "attempts": row["attempts"], "error": row["error"], "notice": row["notice"], "result": row["result"],
            "received_at": as_utc(row["received_at"]), "processed_at": as_utc(row["processed_at"])
            if row["processed_at"] else None,
            "next_attempt_at": as_utc(row["next_attempt_at"]) if row["status"] == "pending" else None}


def list_notifications(conn: Connection, *, limit: int, cursor: str | None, provider: str | None = None,
                       status: str | None = None) -> dict[str, Any]:
    """Stored notifications, newest first (ids are time-ordered); applied ones are kept a week."""
    n = provider_notifications.c
    conditions = []
    if provider is not None:
        conditions.append(n.provider == provider)
    if status is not None:
        conditions.append(n.status == status)
    rows = conn.execute(newest_first(sa.select(provider_notifications).where(*conditions), n.id, limit=limit,
                                     cursor=cursor))
    return page([notification_out(r._mapping) for r in rows], limit, key=lambda item: item["id"])


def get_notification(conn: Connection, notification_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(provider_notifications).where(provider_notifications.c.id == notification_id)
                       ).first()
    if row is None:
        raise errors.notification_not_found(notification_id)
    return notification_out(row._mapping)
