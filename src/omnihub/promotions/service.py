"""Promotion use cases: the only code that writes the promotions tables.

Usage counters move only through conditional UPDATEs (`... SET used = used + 1 WHERE used < limit`), in the
caller's transaction, so parallel checkouts can never redeem a code more often than its limits allow, on
SQLite or on any number of API processes over one PostgreSQL. Commerce calls `price_basket`, then `redeem`
inside the transaction that creates the order, and `release_redemptions` when it cancels one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from omnihub.catalog import queries as catalog
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import conflict_insert, new_id
from omnihub.core.events import emit
from omnihub.core.jsonable import jsonable
from omnihub.promotions import errors, queries, rules
from omnihub.promotions.models import promotion_customer_usage, promotion_redemptions, promotion_targets, promotions
from omnihub.promotions.rules import Basket, Discounts

P = promotions.c
U = promotion_customer_usage.c
R = promotion_redemptions.c
SCOPE = {"channels": "channel", "customer_ids": "customer", "customer_tags": "tag", "skus": "sku",
         "categories": "category"}


def _check_channels(conn: Connection, codes: list[str], currency: str | None) -> None:
    for index, code in enumerate(codes):
        channel = catalog.get_channel(conn, code, field=f"channels.{index}")
        if currency is not None and channel["currency"] != currency:
            raise errors.invalid("currency_mismatch", f"Channel '{code}' sells in {channel['currency']}, not "
                                 f"{currency}: this promotion could never apply there.", f"channels.{index}",
                                 channel=code, currency=currency)


def create_promotion(conn: Connection, clock: Clock, data: dict[str, Any]) -> dict[str, Any]:
    """A code or an automatic promotion. Emits `promotion.issued`."""
    now = clock.now()
    values = rules.normalise_promotion(data, now)
    _check_channels(conn, list(data.get("channels") or []), values["currency"])  # in request order
    if values["code"] and conn.execute(sa.select(P.id).where(P.code == values["code"])).first():
        raise errors.code_exists(values["code"])
    promotion_id = new_id("promo")
    scope = {name: values.pop(name) for name in SCOPE}
    try:
        with conn.begin_nested():
            conn.execute(promotions.insert(), dict(id=promotion_id, used=0, created_at=now, updated_at=now,
                                                    **values))
    except IntegrityError:  # a concurrent create of the same code won the race
        raise errors.code_exists(values["code"]) from None
    rows = [{"promotion_id": promotion_id, "dimension": SCOPE[name], "value": value}
            for name, items in scope.items() for value in items]
    if rows:
        conn.execute(promotion_targets.insert(), rows)
    promotion = queries.get_promotion(conn, promotion_id)
    emit(conn, clock, "promotion.issued", jsonable(promotion))
    return promotion


def update_promotion(conn: Connection, clock: Clock, promotion_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Switch on/off, rename, move the window, change the limits or the priority. Emits `promotion.updated`."""
    current = queries.get_promotion(conn, promotion_id)
    allowed = ("name", "active", "starts_at", "ends_at", "usage_limit", "per_customer_limit", "priority")
    values = {k: v for k, v in changes.items() if k in allowed}
    for name in ("name", "active", "starts_at", "priority"):
        if name in values and values[name] is None:
            del values[name]  # these cannot be cleared
    for name in ("starts_at", "ends_at"):
        if values.get(name) is not None:
            values[name] = as_utc(values[name])  # a time without a zone is taken as UTC
    rules.check_window(values.get("starts_at", current["starts_at"]), values.get("ends_at", current["ends_at"]))
    rules.check_limit("usage_limit", values.get("usage_limit"))
    rules.check_limit("per_customer_limit", values.get("per_customer_limit"))
    if values:
        guard = [P.id == promotion_id]
        if values.get("usage_limit") is not None:
            guard.append(P.used <= values["usage_limit"])  # atomic with concurrent redemptions
        changed = conn.execute(promotions.update().where(*guard).values(**values, updated_at=clock.now())).rowcount
        if changed != 1:
            used = conn.execute(sa.select(P.used).where(P.id == promotion_id)).scalar_one()
            raise errors.limit_below_used(promotion_id, values["usage_limit"], used)
    promotion = queries.get_promotion(conn, promotion_id)
    emit(conn, clock, "promotion.updated", jsonable(promotion))
    return promotion


def price_basket(conn: Connection, clock: Clock, basket: Basket, *,
                 customer_tags: Callable[[], Iterable[str]] | None = None) -> Discounts:
    """The basket's discounts from the automatic promotions running now plus its codes (checked with the clock).

    A code that cannot apply is a 422 `invalid_promotion_code` (field `promotion_codes.N`, with a `reason`).
    `customer_tags`: reads the customer's tags (segments) into the basket — called only when a candidate
    promotion is scoped to tags, so most orders never pay for the read."""
    basket = dataclasses.replace(basket, now=clock.now())
    automatic, by_code = queries.pricing_candidates(
        conn, basket.now, basket.channel, [rules.normalise_code(c) for c in basket.codes])
    if customer_tags is not None and any(p.customer_tags for p in [*automatic, *by_code.values()]):
        basket = dataclasses.replace(basket, customer_tags=frozenset(customer_tags()))
    limited = [p.id for p in [*automatic, *by_code.values()] if p.per_customer_limit is not None]
    usage = queries.customer_usage(conn, limited, basket.customer_id)
    rules.check_codes(by_code, basket, usage)
    return rules.apply_promotions([*automatic, *by_code.values()], basket, usage)


def _count_customer_use(conn: Connection, promotion_id: str, customer_id: str, limit: int | None) -> bool:
    """One more use by this customer, unless that would pass `limit`. Counted even without a limit, so one
    added later sees the uses made before it."""
    conn.execute(conflict_insert(promotion_customer_usage, ["promotion_id", "customer_id", "used"],
                                 conflict="DO NOTHING"),
                 {"promotion_id": promotion_id, "customer_id": customer_id, "used": 0})
    guard = [U.promotion_id == promotion_id, U.customer_id == customer_id]
    if limit is not None:
        guard.append(U.used < limit)
    return conn.execute(promotion_customer_usage.update().where(*guard).values(used=U.used + 1)).rowcount == 1


def redeem(conn: Connection, clock: Clock, discounts: Discounts, *, order_id: str, customer_id: str | None) -> None:
    """Count the order's use of every applied promotion, inside the order's transaction.

    A limit already reached raises a 409 `promotion_limit_reached`; the caller's transaction (the whole order)
    then rolls back. Promotions are counted in id order, so two orders never deadlock on PostgreSQL."""
    now = clock.now()
    for applied in sorted(discounts.applied, key=lambda a: a.promotion_id):
        counted = conn.execute(
            promotions.update()
            .where(P.id == applied.promotion_id, sa.or_(P.usage_limit.is_(None), P.used < P.usage_limit))
            .values(used=P.used + 1, updated_at=now)
            .returning(P.per_customer_limit)
        ).first()
        if counted is None:
            raise errors.limit_reached(applied.promotion_id, applied.code, "total")
        limit = counted.per_customer_limit
        if customer_id is None:
            if limit is not None:  # a per-customer limit needs to know the customer
                raise errors.limit_reached(applied.promotion_id, applied.code, "customer")
        elif not _count_customer_use(conn, applied.promotion_id, customer_id, limit):
            raise errors.limit_reached(applied.promotion_id, applied.code, "customer")
        try:
            with conn.begin_nested():
                conn.execute(promotion_redemptions.insert(), dict(
                    id=new_id("rdm"), promotion_id=applied.promotion_id, order_id=order_id, customer_id=customer_id,
                    code=applied.code, amount=applied.amount, currency=discounts.currency or None, redeemed_at=now))
        except IntegrityError:
            raise errors.already_redeemed(applied.promotion_id, order_id) from None
        emit(conn, clock, "promotion.redeemed", {
            "promotion_id": applied.promotion_id, "code": applied.code, "kind": applied.kind, "order_id": order_id,
            "customer_id": customer_id, "amount": str(applied.amount), "currency": discounts.currency or None})


def release_redemptions(conn: Connection, clock: Clock, order_id: str) -> None:
    """The order was cancelled: its redemptions stop counting. Releasing twice gives back nothing more."""
    now = clock.now()
    released = conn.execute(
        promotion_redemptions.update().where(R.order_id == order_id, R.released_at.is_(None))
        .values(released_at=now).returning(R.promotion_id, R.customer_id, R.code, R.amount, R.currency)
    ).all()
    for row in sorted(released, key=lambda r: r.promotion_id):
        conn.execute(promotions.update().where(P.id == row.promotion_id, P.used > 0)
                     .values(used=P.used - 1, updated_at=now))
        if row.customer_id is not None:
            conn.execute(promotion_customer_usage.update()
                         .where(U.promotion_id == row.promotion_id, U.customer_id == row.customer_id, U.used > 0)
                         .values(used=U.used - 1))
        emit(conn, clock, "promotion.released", {
            "promotion_id": row.promotion_id, "code": row.code, "order_id": order_id,
            "customer_id": row.customer_id, "amount": str(Decimal(row.amount)), "currency": row.currency})
