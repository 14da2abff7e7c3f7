"""Catalog routes: thin — parse, call the service or a query, return."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from omnihub.catalog import queries, service
from omnihub.catalog.schemas import (
    ChannelCreate,
    ChannelOut,
    ChannelUpdate,
    PriceIn,
    PriceListCreate,
    PriceListOut,
    PriceListPriceIn,
    PriceOut,
    ProductCreate,
    ProductOut,
    ProductUpdate,
)
from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.core.security import Role
from omnihub.deps import Context, context, requires

router = APIRouter(tags=["catalog"])
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


@router.post("/products", status_code=201, response_model=ProductOut)
def create_product(body: ProductCreate, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.create_product(conn, ctx.clock, body.model_dump())


@router.put("/products/{sku}", response_model=ProductOut)
def replace_product(sku: str, body: ProductUpdate, response: Response,
                    ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        product, created = service.replace_product(conn, ctx.clock, sku, body.model_dump())
    response.status_code = 201 if created else 200
    return product


@router.get("/products", response_model=Page[ProductOut])
def list_products(limit: int = Limit, cursor: str | None = None, category: str | None = None,
                  group: str | None = None, ctx: Context = Depends(context)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.list_products(conn, limit=limit, cursor=cursor, category=category, group=group)


@router.get("/products/{sku}", response_model=ProductOut)
def get_product(sku: str, ctx: Context = Depends(context)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_product(conn, sku)


@router.post("/channels", status_code=201, response_model=ChannelOut)
def create_channel(body: ChannelCreate, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.create_channel(conn, ctx.clock, body.model_dump())


@router.patch("/channels/{code}", response_model=ChannelOut)
def update_channel(code: str, body: ChannelUpdate, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.update_channel(conn, ctx.clock, code, body.model_dump(exclude_unset=True))


@router.get("/channels", response_model=Page[ChannelOut])
def list_channels(limit: int = Limit, cursor: str | None = None, ctx: Context = Depends(context)) -> dict[str, Any]:
    """A channel key sees its own channel only (as with `GET /channels/{code}`)."""
    with ctx.db.read() as conn:
        if ctx.principal.role is Role.CHANNEL and ctx.principal.channel:
            own = [queries.get_channel(conn, ctx.principal.channel)] if cursor is None else []
            return {"items": own, "next_cursor": None}
        return queries.list_channels(conn, limit=limit, cursor=cursor)


@router.get("/channels/{code}", response_model=ChannelOut)
def get_channel(code: str, ctx: Context = Depends(context)) -> dict[str, Any]:
    ctx.principal.ensure_channel(code)
    with ctx.db.read() as conn:
        return queries.get_channel(conn, code)


@router.put("/channels/{code}/prices", response_model=list[PriceOut])
def set_prices(code: str, body: list[PriceIn], ctx: Context = Depends(requires())) -> list[dict[str, Any]]:
    with ctx.db.transaction() as conn:
        return service.set_prices(conn, ctx.clock, code, [(p.sku, p.amount) for p in body])


@router.get("/channels/{code}/prices", response_model=Page[PriceOut])
def list_prices(code: str, limit: int = Limit, cursor: str | None = None,
                ctx: Context = Depends(context)) -> dict[str, Any]:
    ctx.principal.ensure_channel(code)
    with ctx.db.read() as conn:
        return queries.channel_prices_page(conn, code, limit=limit, cursor=cursor)


@router.post("/price-lists", status_code=201, response_model=PriceListOut)
def create_price_list(body: PriceListCreate, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.create_price_list(conn, ctx.clock, body.model_dump())


@router.get("/price-lists/{code}", response_model=PriceListOut)
def get_price_list(code: str, ctx: Context = Depends(requires(Role.AGENT))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_price_list(conn, code)


@router.put("/price-lists/{code}/prices", response_model=PriceListOut)
def set_price_list_prices(code: str, body: list[PriceListPriceIn], ctx: Context = Depends(requires())
                          ) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.set_price_list_prices(conn, ctx.clock, code, [p.model_dump() for p in body])


@router.put("/price-lists/{code}/customers/{customer_id}", response_model=PriceListOut)
def assign_price_list(code: str, customer_id: str, ctx: Context = Depends(requires())) -> dict[str, Any]:
    """The customer (a wholesale account) now buys at this list's prices in every channel."""
    with ctx.db.transaction() as conn:
        return service.assign_price_list(conn, ctx.clock, code, customer_id)
