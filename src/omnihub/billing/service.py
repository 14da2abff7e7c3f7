"""Billing use cases: the only code that writes payment methods, tax rates, payments, refunds and documents.
Every function runs in the caller's transaction; nothing commits or half-commits on its own.

Concurrency, one mechanism: the row a change depends on is locked before it is read — the order's balance
row for payments and refunds, the customer's profile row for store-credit spending, the series row for
document numbers (an UPDATE … RETURNING). On PostgreSQL that is a row lock; on SQLite the write transaction
is already exclusive (BEGIN IMMEDIATE). Amounts are compared in Python as Decimal, never as SQL arithmetic,
because SQLite keeps NUMERIC as binary floating point."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from omnihub.billing import errors, queries, rules
from omnihub.billing.gateways import gateway_for
from omnihub.billing.models import (
    billing_documents,
    document_series,
    invoices_due,
    order_balances,
    payment_methods,
    payments,
    refunds,
    tax_rates,
)
from omnihub.core import reference
from omnihub.core.clock import Clock
from omnihub.core.db import conflict_insert, dialect_insert, new_id, take_counter, upsert
from omnihub.core.events import emit
from omnihub.core.jsonable import jsonable
from omnihub.core.money import parse_amount

ORIGINAL = "original"  # refund method meaning "back to the payments the order was paid with"
RESERVED_CODES = frozenset({ORIGINAL})

payments_of = queries.payments_of  # the read the commerce room calls lives with the other reads

# What migration 0006 installs (kept in step with it by a test).
DEFAULT_PAYMENT_METHODS = (
    ("card", "Card", "manual"), ("paypal", "PayPal", "manual"), ("bizum", "Bizum", "manual"),
    ("cash", "Cash", "manual"), ("store_credit", "Store credit", "store_credit"),
    ("gift_card", "Gift card", "gift_card"), ("bank_transfer", "Bank transfer", "manual"),
    ("crypto", "Crypto", "manual"),
    # migration 0025: paid through an external provider (billing.flow)
    ("paypal_checkout", "PayPal (Orders v2)", "paypal"), ("stripe", "Card (Stripe)", "stripe"),
    ("redsys", "Card (Redsys)", "redsys"),
    ("redsys_bizum", "Bizum (Redsys)", "redsys"), ("btcpay", "Bitcoin (BTCPay Server)", "btcpay"),
)
DEFAULT_TAX_RATES = (("standard", "ES", Decimal(21)), ("reduced", "ES", Decimal(10)),
                     ("super_reduced", "ES", Decimal(4)), ("zero", "ES", Decimal(0)))


def _insert(conn: Connection, table: sa.Table) -> Any:
    insert = dialect_insert(conn)
    return insert(table)


def _for_update(conn: Connection, query: sa.Select) -> sa.Select:
    # SQLite serialises writers with BEGIN IMMEDIATE; PostgreSQL needs the row lock.
    return query.with_for_update() if conn.dialect.name == "postgresql" else query


# ---- payment methods -----------------------------------------------------------------------------------------


def install_defaults(conn: Connection) -> None:
    """Put back any missing default payment method or tax rate (never overwrites an admin's change). For a
    database whose tables were emptied after migrating (the PostgreSQL test harness truncates everything)."""
    reference.changed(conn)
    conn.execute(_insert(conn, payment_methods).on_conflict_do_nothing(), [
        {"code": c, "name": n, "gateway": g, "active": True} for c, n, g in DEFAULT_PAYMENT_METHODS])
    conn.execute(_insert(conn, tax_rates).on_conflict_do_nothing(), [
        {"tax_class": t, "country": c, "rate": r} for t, c, r in DEFAULT_TAX_RATES])


def create_payment_method(conn: Connection, clock: Clock, data: dict[str, Any]) -> dict[str, Any]:
    code = data["code"]
    if code in RESERVED_CODES:
        raise errors.payment_method_reserved(code)
    gateway_for(data.get("gateway") or "manual")  # refuses a gateway nobody registered
    reference.changed(conn)
    try:
        with conn.begin_nested():
            conn.execute(payment_methods.insert(), dict(
                code=code, name=data["name"], gateway=data.get("gateway") or "manual",
                active=data.get("active", True)))
    except IntegrityError:
        raise errors.payment_method_exists(code) from None
    method = queries.get_payment_method(conn, code)
    emit(conn, clock, "payment_method.created", method)
    return method


def update_payment_method(conn: Connection, clock: Clock, code: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Rename or (de)activate a method. An inactive method takes no new payments or refunds; past ones stay."""
    queries.get_payment_method(conn, code)
    values = {k: v for k, v in changes.items() if k in ("name", "active") and v is not None}
    if values:
        reference.changed(conn)
        conn.execute(payment_methods.update().where(payment_methods.c.code == code).values(**values))
    method = queries.get_payment_method(conn, code)
    emit(conn, clock, "payment_method.updated", method)
    return method


# Payment methods and tax rates are reference data: kept in memory while unchanged (`omnihub.core.reference`).
_ALL_ACTIVE_METHODS = sa.select(payment_methods).where(payment_methods.c.active.is_(True))
_ALL_TAX_RATES = sa.select(tax_rates.c.country, tax_rates.c.tax_class, tax_rates.c.rate)


def _load_active_methods(conn: Connection) -> dict[str, Any]:
    return {r.code: r for r in conn.execute(_ALL_ACTIVE_METHODS)}


def _load_tax_rates(conn: Connection) -> dict[tuple[str, str], Decimal]:
    """(country, class) → rate as a fraction."""
    return {(r.country, r.tax_class): rules.percent_to_rate(Decimal(r.rate)).normalize()
            for r in conn.execute(_ALL_TAX_RATES)}


def active_method(conn: Connection, code: str) -> Any | None:
    """The active payment method `code` (its row, with its gateway), from the reference-data cache: no query
    while the methods are unchanged."""
    return _active_methods(conn, [code]).get(code)


def _active_methods(conn: Connection, codes: Iterable[str]) -> dict[str, Any]:
    wanted = {c for c in codes if isinstance(c, str)}
    if not wanted:
        return {}
    active = reference.cached(conn, "billing.active_methods", _load_active_methods)
    return {code: active[code] for code in wanted if code in active}


# ---- taxes ---------------------------------------------------------------------------------------------------


def set_tax_rate(conn: Connection, clock: Clock, tax_class: str, country: str, rate: Decimal | str
                 ) -> dict[str, Any]:
    """Create or replace the rate (a percentage, "21.00") of a tax class in a country."""
    percent = rules.parse_percent(rate)
    reference.changed(conn)
    upsert(conn, tax_rates, [{"tax_class": tax_class, "country": country, "rate": percent}],
           keys=["tax_class", "country"], update=["rate"])
    result = queries.get_tax_rate(conn, tax_class, country)
    emit(conn, clock, "tax_rate.changed", jsonable(result))
    return result


def tax_rates_for(conn: Connection, country: str | None, tax_classes: Iterable[str]) -> dict[str, Decimal]:
    """The rate of each tax class in `country`, as a FRACTION ready for `rules.tax_line` (21 % → 0.21).

    A class with no rate in that country is an error, never a silent 0: raises 422 `tax_rate_missing`
    (field `lines`), so a missing rate is fixed once by an admin instead of under-taxing orders. A class taxed
    at zero has an explicit 0 rate (seeded: "zero")."""
    wanted = list(dict.fromkeys(tax_classes))
    rates = reference.cached(conn, "billing.tax_rates", _load_tax_rates) if wanted and country else {}
    for tax_class in wanted:
        if (country, tax_class) not in rates:
            raise errors.tax_rate_missing(tax_class, country)
    return {c: rates[(country, c)] for c in wanted}


# ---- payments ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tender:
    method: Any  # payment_methods row
    amount: Decimal
    code: str | None = None  # a gift card's
    field: str = "code"


def _parse_tenders(conn: Connection, customer_id: str | None, currency: str, items: Sequence[dict[str, Any]],
                   field: Callable[[int, str], str]) -> list[_Tender]:
    """Validate every payment before anything moves: all or nothing."""
    methods = _active_methods(conn, [i.get("method") for i in items])
    tenders = []
    for index, item in enumerate(items):
        code = item.get("method")
        method = methods.get(code) if isinstance(code, str) else None
        if method is None:
            raise errors.payment_method_unknown(str(code), field(index, "method"))
        amount = parse_amount(item.get("amount", ""), currency, field=field(index, "amount"))
        if amount <= 0:
            raise errors.amount_not_positive(field(index, "amount"))
        if method.gateway == "store_credit" and customer_id is None:
            raise errors.customer_required(field(index, "method"))
        tenders.append(_Tender(method, amount, item.get("code"), field(index, "code")))
    return tenders


_BALANCE = sa.select(order_balances).where(order_balances.c.order_id == sa.bindparam("b_order"))
_LOCKED_BALANCE = _BALANCE.with_for_update()
_INSERT_PAYMENTS = payments.insert()
_UPDATE_BALANCE = order_balances.update().where(order_balances.c.order_id == sa.bindparam("b_order")).values(
    total=sa.bindparam("b_total"), paid=sa.bindparam("b_paid"), status=sa.bindparam("b_status"),
    updated_at=sa.bindparam("b_now"))
_PAYMENT_COUNT = sa.select(sa.func.count()).select_from(payments).where(payments.c.order_id == sa.bindparam("b_order"))


_INSERT_BALANCE = order_balances.insert()
_OPEN_BALANCE = conflict_insert(order_balances, ["order_id", "currency", "total", "paid", "refunded", "status",
                                                 "updated_at"], conflict="DO NOTHING", returning="order_id")


def _open_balance(conn: Connection, clock: Clock, order_id: str, currency: str, total: Decimal
                  ) -> tuple[Any, bool]:
    """The order's balance row, created on first use and locked. Returns (row, created).

    A row this call created is ours alone until commit (a concurrent insert waits on its key), so it is
    not read back."""
    status = rules.split_tender_status(total, Decimal(0))
    created = conn.execute(_OPEN_BALANCE, dict(
        order_id=order_id, currency=currency, total=total, paid=0, refunded=0, status=status, updated_at=clock.now(),
    )).first() is not None
    if created:
        return SimpleNamespace(order_id=order_id, currency=currency, total=total, paid=Decimal(0),
                               refunded=Decimal(0), status=status), True
    locked = _LOCKED_BALANCE if conn.dialect.name == "postgresql" else _BALANCE
    row = conn.execute(locked, {"b_order": order_id}).one()
    if row.currency != currency:
        raise errors.currency_mismatch(row.currency, currency)
    return row, created


def _take(conn: Connection, clock: Clock, *, order_id: str, customer_id: str | None, currency: str,
          total: Decimal, tenders: list[_Tender], field: str, new_order: bool = False,
          references: Sequence[str] | None = None, opened: tuple[Any, bool] | None = None) -> dict[str, Any]:
    """`references`: the tenders were taken already (a provider confirmed them): their references, no charge.
    `opened`: the balance the caller already opened and locked (`_open_balance`), not asked for again."""
    requested = sum((t.amount for t in tenders), Decimal(0))
    if requested > total:
        raise errors.payment_exceeds_total(total, Decimal(0), requested, currency, field)
    now = clock.now()
    new_balance: dict[str, Any] | None = None
    if new_order:  # created in this transaction: no balance yet, and no one else sees the order
        balance, created, paid_before = None, True, Decimal(0)
        new_balance = dict(order_id=order_id, currency=currency, total=total, paid=requested, refunded=0,
                           status=rules.split_tender_status(total, requested), updated_at=now)
    else:
        balance, created = opened or _open_balance(conn, clock, order_id, currency, total)
        paid_before = rules.round_money(balance.paid, currency)
    if paid_before + requested > total:
        raise errors.payment_exceeds_total(total, paid_before, requested, currency, field)
    position = 0 if created else conn.execute(_PAYMENT_COUNT, {"b_order": order_id}).scalar_one()
    rows = []
    for offset, tender in enumerate(tenders):
        payment_id = new_id("pay")
        details = {"code": tender.code, "field": tender.field} if tender.code is not None else {}
        reference = references[offset] if references is not None else gateway_for(tender.method.gateway).charge(
            conn, clock, payment_id=payment_id, customer_id=customer_id, amount=tender.amount, currency=currency,
            **details)
        rows.append({"id": payment_id, "order_id": order_id, "position": position + offset,
                     "customer_id": customer_id, "method": tender.method.code, "gateway": tender.method.gateway,
                     "amount": tender.amount, "refunded": Decimal(0), "currency": currency,
                     "reference": reference, "created_at": now})
    _insert_payments(conn, new_balance, rows)
    paid = paid_before + requested
    status = rules.split_tender_status(total, paid)
    if not new_order:
        conn.execute(_UPDATE_BALANCE, {"b_order": order_id, "b_total": total, "b_paid": paid, "b_status": status,
                                       "b_now": now})
    # A balance this call opened has no other payments and no refunds: what it took is the whole record.
    recorded = [queries.payment_out(r) for r in rows] if created else queries.payment_rows(conn, order_id)
    if status == "paid" and (created or balance.status != "paid"):
        emit(conn, clock, "order.paid", {
            "order_id": order_id, "customer_id": customer_id, "currency": currency, "total": str(total),
            "paid": str(paid), "payments": [{"id": p["id"], "method": p["method"], "amount": str(p["amount"])}
                                            for p in recorded]})
    if created:
        result = {"order_id": order_id, "currency": currency, "total": rules.round_money(total, currency),
                  "status": status, "paid": rules.round_money(paid, currency), "refunded": Decimal(0),
                  "payments": recorded, "refunds": []}
    else:
        result = queries.payments_of(conn, order_id)
    taken = {r["id"] for r in rows}
    result["taken"] = [p for p in result["payments"] if p["id"] in taken]
    return result


def _insert_payments(conn: Connection, balance: dict[str, Any] | None, rows: list[dict[str, Any]]) -> None:
    """The payments taken, after the new order's balance row when there is one: on PostgreSQL both in one
    statement (the balance as a data-modifying CTE; the payments' foreign key is checked at its end)."""
    if balance is not None and rows and conn.dialect.name == "postgresql":
        conn.execute(payments.insert().values(rows).add_cte(order_balances.insert().values(balance).cte("balance")))
        return
    if balance is not None:
        conn.execute(_INSERT_BALANCE, balance)
    if rows:
        conn.execute(_INSERT_PAYMENTS, rows)


def take_payments(conn: Connection, clock: Clock, *, order_id: str, customer_id: str | None, currency: str,
                  total: Decimal, payments: Sequence[dict[str, Any]], new_order: bool = False) -> dict[str, Any]:
    """Take the payments an order is placed with (split tender: several methods), all or nothing.

    `payments` = [{method, amount}] with decimal-string or Decimal amounts in `currency`. Errors (422 unless
    noted): `payment_method_unknown` (field payments.N.method, unknown or inactive), `invalid_amount`
    (payments.N.amount), `customer_required` (store credit without a customer), `payment_exceeds_total`
    (field payments), `currency_mismatch`, 409 `insufficient_store_credit`. Calling it again for the same
    order adds to what was paid (like add_payment). Emits `order.paid` when the order becomes fully paid.

    Returns payments_of(order) — {order_id, currency, total, status, paid, refunded, payments, refunds} — plus
    `taken`: the payments this call recorded. `new_order`: the order was created in this transaction (no
    balance to read or lock)."""
    total = parse_amount(total, currency, field="total")
    tenders = _parse_tenders(conn, customer_id, currency, payments, lambda i, f: f"payments.{i}.{f}")
    return _take(conn, clock, order_id=order_id, customer_id=customer_id, currency=currency, total=total,
                 tenders=tenders, field="payments", new_order=new_order)


def add_payment(conn: Connection, clock: Clock, *, order_id: str, customer_id: str | None, currency: str,
                total: Decimal, method: str, amount: Decimal | str) -> dict[str, Any]:
    """A later (e.g. wholesale partial) payment; same rules and result as take_payments, fields `method` and
    `amount`. `total` is the order's current total."""
    total = parse_amount(total, currency, field="total")
    tenders = _parse_tenders(conn, customer_id, currency, [{"method": method, "amount": amount}],
                             lambda _i, f: f)
    return _take(conn, clock, order_id=order_id, customer_id=customer_id, currency=currency, total=total,
                 tenders=tenders, field="amount")


def take_confirmed(conn: Connection, clock: Clock, *, order_id: str, customer_id: str | None, currency: str,
                   method: str, amount: Decimal, reference: str) -> dict[str, Any]:
    """A payment an external provider confirmed (billing.flow, the worker applying notifications): recorded
    against the order's balance like any payment, with the provider's reference and no charge of its own — the
    rules of `_take` (never beyond the total, one currency, `order.paid` once when all is in) in the fewest
    statements: the method from the reference-data cache, the balance locked, the order's payments read once.
    Returns {status (the balance's, after), taken: [the payment recorded]}."""
    row = active_method(conn, method) or conn.execute(  # a method switched off since: still recorded
        sa.select(payment_methods).where(payment_methods.c.code == method)).first()
    if row is None:
        raise errors.payment_method_unknown(method, "method")
    locked = _LOCKED_BALANCE if conn.dialect.name == "postgresql" else _BALANCE
    balance = conn.execute(locked, {"b_order": order_id}).first()
    if balance is None:  # an order without a balance yet (none in practice: orders open theirs)
        balance, _ = _open_balance(conn, clock, order_id, currency, Decimal(0))
    if balance.currency != currency:
        raise errors.currency_mismatch(balance.currency, currency)
    total = rules.round_money(balance.total, currency)
    paid_before = rules.round_money(balance.paid, currency)
    if paid_before + amount > total:
        raise errors.payment_exceeds_total(total, paid_before, amount, currency, "amount")
    before = queries.payment_rows(conn, order_id)
    now = clock.now()
    taken = {"id": new_id("pay"), "order_id": order_id, "position": len(before), "customer_id": customer_id,
             "method": row.code, "gateway": row.gateway, "amount": amount, "refunded": Decimal(0),
             "currency": currency, "reference": reference, "created_at": now}
    conn.execute(_INSERT_PAYMENTS, [taken])
    paid = paid_before + amount
    status = rules.split_tender_status(total, paid)
    conn.execute(_UPDATE_BALANCE, {"b_order": order_id, "b_total": total, "b_paid": paid,
                                   "b_status": status, "b_now": now})
    recorded = [*before, queries.payment_out(taken)]
    if status == "paid" and balance.status != "paid":
        emit(conn, clock, "order.paid", {
            "order_id": order_id, "customer_id": customer_id, "currency": currency, "total": str(total),
            "paid": str(paid), "payments": [{"id": p["id"], "method": p["method"], "amount": str(p["amount"])}
                                            for p in recorded]})
    return {"status": status, "taken": [recorded[-1]]}


# ---- refunds -------------------------------------------------------------------------------------------------


def refund(conn: Connection, clock: Clock, *, order_id: str, customer_id: str | None, currency: str,
           amount: Decimal | str, method: str, reason: str, return_id: str | None = None) -> dict[str, Any]:
    """Give money back for an order.

    The amount is always allocated over the order's payments (most recent first, none beyond what it took:
    `rules.allocate_refund`), so the same money can never be refunded twice whichever way it goes out:
    - `method="original"`: each share goes back through its own payment's method and gateway;
    - `method="store_credit"` (any method on the store_credit gateway): credited to the customer's wallet
      (needs `customer_id`);
    - any other active method code: a manual refund by that method (cash back at the counter…).
    A zero amount records nothing. Errors: `refund_exceeds_paid` (field amount), `payment_method_unknown`
    (field method), `customer_required`, `currency_mismatch`. Emits `refund.issued`.

    Returns {id, order_id, return_id, amount, currency, method, reason, refunds: [{id, payment_id, method,
    gateway, amount, reference}]}."""
    amount = parse_amount(amount, currency, field="amount")
    chosen = None
    if method != ORIGINAL:
        chosen = _active_methods(conn, [method]).get(method)
        if chosen is None:
            raise errors.payment_method_unknown(method, "method")
        if chosen.gateway == "store_credit" and customer_id is None:
            raise errors.customer_required("customer_id")
    refund_id = new_id("rfd")
    result: dict[str, Any] = {"id": refund_id, "order_id": order_id, "return_id": return_id, "amount": amount,
                              "currency": currency, "method": method, "reason": reason, "refunds": []}
    if amount == 0:
        return result
    balance = conn.execute(_for_update(conn, sa.select(order_balances)
                                       .where(order_balances.c.order_id == order_id))).first()
    if balance is None:
        raise errors.refund_exceeds_paid(Decimal(0), amount)
    if balance.currency != currency:
        raise errors.currency_mismatch(balance.currency, currency)
    taken = {p.id: p for p in conn.execute(sa.select(payments).where(payments.c.order_id == order_id)
                                           .order_by(payments.c.position))}
    shares = [rules.PaymentShare(p.id, p.method, rules.round_money(p.amount, currency),
                                 rules.round_money(p.refunded, currency)) for p in taken.values()]
    now = clock.now()
    legs = []
    for payment_id, part in rules.allocate_refund(shares, amount):
        paid_with = taken[payment_id]
        out_method, gateway, to_customer = (
            (paid_with.method, paid_with.gateway, paid_with.customer_id) if chosen is None
            else (chosen.code, chosen.gateway, customer_id))
        reference = gateway_for(gateway).refund(conn, clock, payment_id=payment_id, customer_id=to_customer,
                                                amount=part, currency=currency, original=chosen is None,
                                                reference=paid_with.reference)
        conn.execute(payments.update().where(payments.c.id == payment_id)
                     .values(refunded=rules.round_money(paid_with.refunded, currency) + part))
        legs.append({"id": new_id("rfl"), "refund_id": refund_id, "order_id": order_id, "payment_id": payment_id,
                     "return_id": return_id, "method": out_method, "gateway": gateway, "amount": part,
                     "currency": currency, "reason": reason, "reference": reference, "created_at": now})
    conn.execute(refunds.insert(), legs)
    conn.execute(order_balances.update().where(order_balances.c.order_id == order_id)
                 .values(refunded=rules.round_money(balance.refunded, currency) + amount, updated_at=now))
    result["refunds"] = [{k: leg[k] for k in ("id", "payment_id", "method", "gateway", "amount", "reference")}
                         for leg in legs]
    emit(conn, clock, "refund.issued", {
        "refund_id": refund_id, "order_id": order_id, "return_id": return_id, "customer_id": customer_id,
        "amount": str(amount), "currency": currency, "method": method, "reason": reason,
        "refunds": [{"payment_id": leg["payment_id"], "method": leg["method"], "amount": str(leg["amount"])}
                    for leg in legs]})
    return result


# ---- invoices and credit notes -------------------------------------------------------------------------------


def _next_number(conn: Connection, series: str) -> int:
    """Advance the series in this transaction (the row stays locked until it ends): no gaps, no repeats."""
    return take_counter(conn, document_series, "series", series, "next_number")


# PostgreSQL: the series advanced and the document written in one statement — the series row is locked from here
# to commit, and every round trip after it is time that every other document of the series waits. The number is
# spelled as `rules.next_document_number` spells it. `doc` returns the new document's number and sequence.
_ISSUE_CTES_PG = """
n AS (
    INSERT INTO document_series (series, next_number) VALUES (:series, 2)
    ON CONFLICT (series) DO UPDATE SET next_number = document_series.next_number + 1
    RETURNING next_number - 1 AS seq
), doc AS (
    INSERT INTO billing_documents (id, kind, number, series, sequence, source_id, order_id, return_id,
                                   invoice_number, currency, lines, totals, issued_at)
    SELECT :id, :kind, :series || '-' || lpad(seq::text, greatest(:digits, length(seq::text)), '0'), :series, seq,
           :source_id, :order_id, :return_id, :invoice_number, :currency, :lines, :totals, :issued_at FROM n
    RETURNING number, sequence
)"""


def issuing_statement_pg(then: str = "") -> sa.TextClause:
    """The one statement that numbers and writes a new document on PostgreSQL — with, when given, the caller's
    own step `then` (a CTE over `doc`, e.g. `recorded AS (UPDATE my_table SET ... FROM doc WHERE ...)`), so that
    a caller recording the number on its own rows adds no round trip while the series row is locked. The caller
    builds it once, at import, and hands it to `issue_invoice(record_pg=...)`; billing writes only its tables."""
    return sa.text(f"WITH {_ISSUE_CTES_PG}{', ' + then if then else ''} SELECT number, sequence FROM doc").bindparams(
        sa.bindparam("lines", type_=billing_documents.c.lines.type),
        sa.bindparam("totals", type_=billing_documents.c.totals.type),
        sa.bindparam("issued_at", type_=billing_documents.c.issued_at.type))


_ISSUE_NEW_PG = issuing_statement_pg()


def _issue(conn: Connection, clock: Clock, *, kind: str, source_id: str, order_id: str, return_id: str | None,
           series: str, currency: str, lines: Sequence[dict[str, Any]], totals: dict[str, Any],
           invoice_number: str | None, source_is_new: bool = False,
           record_pg: tuple[sa.TextClause, dict[str, Any]] | None = None) -> dict[str, Any]:
    rules.check_series(series)

    def write() -> dict[str, Any]:
        row = dict(id=new_id("doc"), kind=kind, series=series, source_id=source_id, order_id=order_id,
                   return_id=return_id, invoice_number=invoice_number, currency=currency,
                   lines=jsonable(list(lines)), totals=jsonable(dict(totals)), issued_at=clock.now())
        if source_is_new and conn.dialect.name == "postgresql":
            statement, extra = record_pg or (_ISSUE_NEW_PG, {})
            numbered = conn.execute(statement, {**extra, **row, "digits": rules.NUMBER_DIGITS}).one()
            return {**row, "number": numbered.number, "sequence": numbered.sequence}
        sequence = _next_number(conn, series)
        row.update(number=rules.next_document_number(series, sequence), sequence=sequence)
        conn.execute(billing_documents.insert(), row)
        return row

    if source_is_new:  # created in this transaction: nobody else can have documented it
        row = write()
    else:
        existing = queries.document_for(conn, kind, source_id)
        if existing is not None:
            return existing
        try:
            with conn.begin_nested():  # a lost race for the same order/return gives its number back
                row = write()
        except IntegrityError:
            existing = queries.document_for(conn, kind, source_id)
            if existing is None:
                raise
            return existing
    document = queries.document_out(row)
    emit(conn, clock, f"{kind}.issued", jsonable(document))
    return document


def issue_invoice(conn: Connection, clock: Clock, *, order_id: str, series: str, currency: str,
                  lines: Sequence[dict[str, Any]], totals: dict[str, Any], new_order: bool = False,
                  record_pg: tuple[sa.TextClause, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Number and store the order's invoice (`INV-2026-000001`…, gapless per series even under concurrency).
    One invoice per order: issuing again returns the first. Lines and totals are stored as given (Decimals
    become strings). Emits `invoice.issued`. Returns the document: the caller records its number on its own
    rows (billing never writes another room's tables). `new_order`: the order was created in the caller's
    transaction, so there is no earlier invoice to look for (two round trips fewer while the series row is
    locked; on PostgreSQL numbering and writing are then one statement). `record_pg`: for a new order on
    PostgreSQL, the caller's `issuing_statement_pg(then=...)` and its parameters, run instead of the plain one
    (then `then` has recorded the number; in every other case the caller records it itself)."""
    return _issue(conn, clock, kind="invoice", source_id=order_id, order_id=order_id, return_id=None,
                  series=series, currency=currency, lines=lines, totals=totals, invoice_number=None,
                  source_is_new=new_order, record_pg=record_pg)


def issue_credit_note(conn: Connection, clock: Clock, *, order_id: str, return_id: str, series: str, currency: str,
                      lines: Sequence[dict[str, Any]], totals: dict[str, Any]) -> dict[str, Any]:
    """Number and store the credit note of a return; it names the order's invoice when there is one.
    One credit note per return: issuing again returns the first. Emits `credit_note.issued`."""
    invoice = queries.document_for(conn, "invoice", order_id)
    return _issue(conn, clock, kind="credit_note", source_id=return_id, order_id=order_id, return_id=return_id,
                  series=series, currency=currency, lines=lines, totals=totals,
                  invoice_number=invoice["number"] if invoice else None)


# ---- invoices numbered later, in batches -------------------------------------------------------------------------

_QUEUE_INVOICE = conflict_insert(invoices_due, ["order_id", "queued_at"], conflict="DO NOTHING")


def queue_invoice(conn: Connection, clock: Clock, order_id: str) -> None:
    """The order is paid but its invoice is numbered later (`take_due_invoices`, a worker job): a provider's
    notification must not hold the series row — every paid order of the channel would queue behind it."""
    conn.execute(_QUEUE_INVOICE, {"order_id": order_id, "queued_at": clock.now()})


def dequeue_invoice(conn: Connection, order_id: str) -> bool:
    """Take one order off the queue: its invoice is issued now, by the caller (an order cancelled before the job
    reached it gets its invoice, then its credit note — as if the job had run first). False when it was not
    queued; when a job has taken it meanwhile this waits for that job's commit (its row lock), so the caller then
    reads the invoice the job issued."""
    return bool(conn.execute(invoices_due.delete().where(invoices_due.c.order_id == order_id)).rowcount)


def take_due_invoices(conn: Connection, limit: int) -> list[str]:
    """Up to `limit` queued orders, oldest first, taken off the queue in this transaction (a concurrent job skips
    them on PostgreSQL). The caller issues their invoices in the same transaction: the series row is locked once
    for all of them, and a rollback puts them back."""
    query = sa.select(invoices_due.c.order_id).order_by(invoices_due.c.queued_at).limit(limit)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(conn.execute(query).scalars())
    if ids:
        conn.execute(invoices_due.delete().where(invoices_due.c.order_id.in_(ids)))
    return ids
