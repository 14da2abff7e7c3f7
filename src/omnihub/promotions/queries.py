"""Read side of promotions, for the API, the pricing of baskets and other rooms."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.clock import as_utc
from omnihub.core.money import format_amount
from omnihub.core.pagination import decode_cursor, page
from omnihub.promotions import errors, rules
from omnihub.promotions.models import promotion_customer_usage, promotion_redemptions, promotion_targets, promotions

P = promotions.c
T = promotion_targets.c
DIMENSIONS = {"channel": "channels", "customer": "customer_ids", "tag": "customer_tags", "sku": "skus",
              "category": "categories"}


def targets(conn: Connection, ids: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    """Each promotion's scope: {promotion id: {"channels": [...], "customer_ids": [...], ...}}, values sorted."""
    wanted = list(set(ids))
    result: dict[str, dict[str, list[str]]] = {i: {name: [] for name in DIMENSIONS.values()} for i in wanted}
    if wanted:
        rows = conn.execute(sa.select(T.promotion_id, T.dimension, T.value)
                            .where(T.promotion_id.in_(wanted)).order_by(T.promotion_id, T.dimension, T.value))
        for promotion_id, dimension, value in rows:
            result[promotion_id][DIMENSIONS[dimension]].append(value)
    return result


def _value(row: Any) -> Decimal:
    value = Decimal(row.value)
    if row.kind == "fixed":
        return Decimal(format_amount(value, row.currency))
    if row.kind == "percent":
        return value.normalize()
    return Decimal(0)


def _out(row: Any, scope: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "code": row.code,
        "name": row.name,
        "kind": row.kind,
        "value": _value(row),
        "currency": row.currency,
        **scope,
        "starts_at": as_utc(row.starts_at),
        "ends_at": as_utc(row.ends_at) if row.ends_at is not None else None,
        "min_subtotal": (Decimal(format_amount(row.min_subtotal, row.currency))
                         if row.min_subtotal is not None else None),
        "usage_limit": row.usage_limit,
        "per_customer_limit": row.per_customer_limit,
        "used": row.used,
        "priority": row.priority,
        "exclusive": row.exclusive,
        "stackable": row.stackable,
        "active": row.active,
        "created_at": as_utc(row.created_at),
        "updated_at": as_utc(row.updated_at),
    }


def get_promotion(conn: Connection, promotion_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(promotions).where(P.id == promotion_id)).first()
    if row is None:
        raise errors.promotion_not_found(promotion_id)
    return _out(row, targets(conn, [row.id])[row.id])


def _valid_in_channel(channel: Any) -> Any:
    """No channel scope (every channel), or the channel is listed."""
    scoped = sa.select(T.promotion_id).where(T.promotion_id == P.id, T.dimension == "channel")
    return sa.or_(~sa.exists(scoped), sa.exists(scoped.where(T.value == channel)))


def _running(now: Any) -> Any:
    return sa.and_(P.active.is_(True), P.starts_at <= now, sa.or_(P.ends_at.is_(None), P.ends_at > now))


def list_promotions(conn: Connection, now: datetime, *, limit: int, cursor: str | None, active: bool | None = None,
                    channel: str | None = None) -> dict[str, Any]:
    """Newest first. `active=true`: switched on and inside the window now; `active=false`: the others."""
    query = sa.select(promotions).order_by(P.id.desc()).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(P.id < str(after))
    if active is not None:
        query = query.where(_running(now) if active else sa.not_(_running(now)))
    if channel:
        query = query.where(_valid_in_channel(channel))
    rows = list(conn.execute(query))
    scopes = targets(conn, [r.id for r in rows])
    return page([_out(r, scopes[r.id]) for r in rows], limit, key=lambda p: p["id"])


def _rule(row: Any, scope: dict[str, list[str]]) -> rules.Promotion:
    return rules.Promotion(
        id=row.id, kind=row.kind, value=Decimal(row.value), code=row.code, currency=row.currency,
        channels=frozenset(scope["channels"]), customer_ids=frozenset(scope["customer_ids"]),
        customer_tags=frozenset(scope["customer_tags"]), skus=frozenset(scope["skus"]),
        categories=frozenset(scope["categories"]), starts_at=as_utc(row.starts_at),
        ends_at=as_utc(row.ends_at) if row.ends_at is not None else None,
        min_subtotal=Decimal(row.min_subtotal) if row.min_subtotal is not None else None,
        usage_limit=row.usage_limit, per_customer_limit=row.per_customer_limit, used=row.used,
        priority=row.priority, exclusive=row.exclusive, stackable=row.stackable, active=row.active,
    )


# Built once: every order and cart price reads it.
_AUTOMATIC_RUNNING = sa.select(promotions).where(
    P.code.is_(None), _running(sa.bindparam("b_now", type_=P.starts_at.type)),
    _valid_in_channel(sa.bindparam("b_channel", type_=sa.String)),
    sa.or_(P.usage_limit.is_(None), P.used < P.usage_limit))


def pricing_candidates(conn: Connection, now: datetime, channel: str,
                       codes: Iterable[str]) -> tuple[list[rules.Promotion], dict[str, rules.Promotion]]:
    """The automatic promotions running now in this channel (not used up), and the promotions behind the given
    (upper-cased) codes whatever their state, so a refused code can be told why."""
    automatic = list(conn.execute(_AUTOMATIC_RUNNING, {"b_now": now, "b_channel": channel}))
    wanted = list(set(codes))
    coded = list(conn.execute(sa.select(promotions).where(P.code.in_(wanted)))) if wanted else []
    scopes = targets(conn, [r.id for r in automatic + coded])
    return ([_rule(r, scopes[r.id]) for r in automatic],
            {r.code: _rule(r, scopes[r.id]) for r in coded})


def customer_usage(conn: Connection, promotion_ids: Iterable[str], customer_id: str | None) -> dict[str, int]:
    """How often this customer has redeemed each of these promotions (orders not cancelled)."""
    wanted = list(set(promotion_ids))
    if customer_id is None or not wanted:
        return {}
    U = promotion_customer_usage.c
    rows = conn.execute(sa.select(U.promotion_id, U.used).where(U.customer_id == customer_id,
                                                                U.promotion_id.in_(wanted)))
    return {promotion_id: used for promotion_id, used in rows}


def redemptions_of_order(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    R = promotion_redemptions.c
    rows = conn.execute(sa.select(promotion_redemptions).where(R.order_id == order_id).order_by(R.promotion_id))
    return [{"promotion_id": r.promotion_id, "code": r.code, "customer_id": r.customer_id,
             "amount": Decimal(r.amount), "currency": r.currency, "redeemed_at": as_utc(r.redeemed_at),
             "released_at": as_utc(r.released_at) if r.released_at is not None else None} for r in rows]


# Promotions addressed to a person by id (`b_cid`), built once: the 360 view reads it with the rest of the view.
FOR_CUSTOMER = (sa.select(promotion_targets.c.promotion_id)
                .where(promotion_targets.c.dimension == "customer",
                       promotion_targets.c.value == sa.bindparam("b_cid", type_=sa.String()))
                .order_by(promotion_targets.c.promotion_id))
