"""Promotion routes: thin — parse, check the role, call the service or a query, return."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from omnihub.catalog import queries as catalog
from omnihub.core.money import parse_amount
from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.core.security import Role
from omnihub.deps import Context, context, requires
from omnihub.promotions import errors, queries, service
from omnihub.promotions.rules import Basket, BasketLine, Discounts
from omnihub.promotions.schemas import DiscountsOut, EvaluateIn, PromotionCreate, PromotionOut, PromotionUpdate

router = APIRouter(tags=["promotions"])
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@router.post("/promotions", status_code=201, response_model=PromotionOut)
def create_promotion(body: PromotionCreate, ctx: Context = Depends(requires(Role.MARKETER))) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.create_promotion(conn, ctx.clock, body.model_dump())


@router.get("/promotions", response_model=Page[PromotionOut])
def list_promotions(limit: int = Limit, cursor: str | None = None, active: bool | None = None,
                    channel: str | None = None, ctx: Context = Depends(context)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.list_promotions(conn, ctx.clock.now(), limit=limit, cursor=cursor, active=active,
                                       channel=channel)


@router.post("/promotions/evaluate", response_model=DiscountsOut)
def evaluate(body: EvaluateIn, ctx: Context = Depends(context)) -> dict[str, Any]:
    """A dry run: the discounts this basket would get now. Nothing is redeemed."""
    ctx.principal.ensure_channel(body.channel)
    with ctx.db.read() as conn:
        currency = catalog.get_channel(conn, body.channel, field="channel")["currency"]
        if body.currency is not None and body.currency != currency:
            raise errors.invalid("currency_mismatch", f"Channel '{body.channel}' sells in {currency}.", "currency",
                                 channel=body.channel, currency=body.currency)
        basket = Basket(
            channel=body.channel, currency=currency, customer_id=body.customer_id,
            customer_tags=frozenset(body.customer_tags),
            lines=tuple(BasketLine(sku=line.sku, category=line.category, quantity=line.quantity,
                                   unit_price=parse_amount(line.unit_price, currency, field=f"lines.{i}.unit_price"))
                        for i, line in enumerate(body.lines)),
            shipping=parse_amount(body.shipping, currency, field="shipping"),
            now=ctx.clock.now(), codes=tuple(body.codes))
        return _discounts(service.price_basket(conn, ctx.clock, basket))


def _discounts(discounts: Discounts) -> dict[str, Any]:
    return {"currency": discounts.currency, "lines": discounts.lines, "shipping": discounts.shipping,
            "total": discounts.total,
            "applied": [{"promotion_id": a.promotion_id, "code": a.code, "kind": a.kind, "amount": a.amount}
                        for a in discounts.applied]}


@router.get("/promotions/{promotion_id}", response_model=PromotionOut)
def get_promotion(promotion_id: str, ctx: Context = Depends(context)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_promotion(conn, promotion_id)


@router.patch("/promotions/{promotion_id}", response_model=PromotionOut)
def update_promotion(promotion_id: str, body: PromotionUpdate,
                     ctx: Context = Depends(requires(Role.MARKETER))) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.update_promotion(conn, ctx.clock, promotion_id, body.model_dump(exclude_unset=True))
