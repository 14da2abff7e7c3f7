"""Commerce routes: carts, orders, fulfilment, returns. Thin: parse, check scope, call, return."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import TypeAdapter
from sqlalchemy.engine import Connection

from omnihub.commerce import carts, drafts, fulfilment, orders, planning, queries, returns
from omnihub.commerce.schemas import (
    CapacitySet,
    CartCreate,
    CartOut,
    CheckoutIn,
    CollectIn,
    DraftLines,
    DraftSubmit,
    LineIn,
    OrderCreate,
    OrderOut,
    PaymentCreate,
    ReturnCreate,
    ReturnOut,
    ShipmentCreate,
    ShipmentOut,
    SlotCreate,
    SlotOut,
    StatusChangeOut,
)
from omnihub.core.idempotency import Answer, KeyedRequest, earlier_answer, keep_answer, keyed_request
from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.core.security import Principal, Role
from omnihub.deps import Context, in_worker_thread, recently_sold_out, remembering_sold_out, requires

router = APIRouter(tags=["commerce"])
SELLERS = (Role.CHANNEL, Role.ASSOCIATE)
READERS = (Role.CHANNEL, Role.ASSOCIATE, Role.AGENT)


def _scoped_key(principal: Principal, header: str | None) -> str | None:
    return f"{principal.key_id}:{header[:80]}" if header else None


def _check_order_scope(principal: Principal, order: dict[str, Any]) -> None:
    """A channel key sees its own channel's orders; an associate those of its store."""
    if principal.role is Role.CHANNEL and order["channel"] != principal.channel:
        from omnihub.commerce.errors import order_not_found

        raise order_not_found(order["id"])
    if principal.role is Role.ASSOCIATE:
        places = {line["location"] for line in order["lines"]} | {order["fulfilment"].get("location")}
        if principal.location not in places:
            from omnihub.commerce.errors import order_not_found

            raise order_not_found(order["id"])


def _show(principal: Principal, order: dict[str, Any]) -> dict[str, Any]:
    """The pickup code is for admins and the associates of that store only."""
    pickup = order.get("pickup")
    if pickup and not (principal.is_admin or (principal.role is Role.ASSOCIATE
                                              and principal.location == pickup["location"])):
        order = {**order, "pickup": {**pickup, "code": None}}
    return order


def _check_fulfilment_scope(principal: Principal, fulfilment: Any) -> None:
    if principal.role is Role.ASSOCIATE and fulfilment is not None and fulfilment.type != "ship":
        principal.ensure_location(fulfilment.location or "", field="fulfilment.location")


# ---- carts -----------------------------------------------------------------------------------------------


@router.post("/carts", status_code=201, response_model=CartOut)
def create_cart(body: CartCreate, ctx: Context = Depends(requires(*SELLERS))) -> dict[str, Any]:
    ctx.principal.ensure_channel(body.channel)
    return ctx.db.run(lambda conn: carts.create_cart(conn, ctx.clock, channel=body.channel, identity=body.identity,
                                                     actor=ctx.principal.key_id))


@router.get("/carts/{cart_id}", response_model=CartOut)
def get_cart(cart_id: str, ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    """Any channel can open a cart started in another (the counter opens the app's cart)."""
    with ctx.db.read() as conn:
        return queries.get_cart(conn, cart_id)


@router.put("/carts/{cart_id}/lines", response_model=CartOut)
def set_cart_lines(cart_id: str, body: list[LineIn], channel: str | None = None,
                   ctx: Context = Depends(requires(*SELLERS))) -> dict[str, Any]:
    if channel:
        ctx.principal.ensure_channel(channel)
    return ctx.db.run(lambda conn: carts.set_cart_lines(
        conn, ctx.clock, cart_id, [(line.sku, line.quantity) for line in body], channel=channel,
        actor=ctx.principal.key_id))


@router.post("/carts/{cart_id}/checkout", status_code=201, response_model=OrderOut)
async def checkout(cart_id: str, body: CheckoutIn, request: Request,
                   idempotency_key: str | None = Header(default=None),
                   ctx: Context = Depends(requires(*SELLERS))) -> Response:
    """Like `POST /orders`, the answer to an `Idempotency-Key` is kept in the order's own transaction."""
    return await in_worker_thread(_checkout, cart_id, body, idempotency_key, keyed_request(request.state), ctx)


def _checkout(cart_id: str, body: CheckoutIn, idempotency_key: str | None, keyed: KeyedRequest | None,
              ctx: Context) -> Response:
    if body.channel:
        ctx.principal.ensure_channel(body.channel)
    _check_fulfilment_scope(ctx.principal, body.fulfilment)
    data = body.model_dump()
    key = None if keyed else _scoped_key(ctx.principal, idempotency_key)
    answer = ctx.db.run(lambda conn: _answered_order(conn, ctx, keyed, lambda: carts.checkout(
        conn, ctx.clock, cart_id, data, actor=ctx.principal.key_id, idempotency_key=key)))
    return _respond(keyed, answer)


# ---- orders ----------------------------------------------------------------------------------------------


@router.post("/orders", status_code=201, response_model=OrderOut)
async def create_order(body: OrderCreate, request: Request, idempotency_key: str | None = Header(default=None),
                       ctx: Context = Depends(requires(*SELLERS))) -> Response:
    """Direct orders (POS, marketplace, app) and wholesale drafts (`draft: true`)."""
    return await in_worker_thread(_create_order, body, idempotency_key, keyed_request(request.state), ctx)


_ORDER_JSON: TypeAdapter[OrderOut] = TypeAdapter(OrderOut)


def _create_order(body: OrderCreate, idempotency_key: str | None, keyed: KeyedRequest | None, ctx: Context
                  ) -> Response:
    """With an `Idempotency-Key`, the answer is kept in the order's own transaction (`keyed`); the order row
    carries the key only when nothing keeps the answer (no middleware in front)."""
    ctx.principal.ensure_channel(body.channel)
    _check_fulfilment_scope(ctx.principal, body.fulfilment)
    data = body.model_dump()
    key = None if keyed else _scoped_key(ctx.principal, idempotency_key)
    with remembering_sold_out(ctx, body.channel):
        if recently_sold_out(ctx, body.channel, [line.sku for line in body.lines]):
            with ctx.db.single_statement(read_only=True) as conn:
                earlier = earlier_answer(conn, keyed, ctx.clock.now()) if keyed else None
                if earlier is not None:
                    return _respond(keyed, earlier)
                planning.refuse_when_sold_out(conn, data, idempotency_key=key)
        answer = ctx.db.run(lambda conn: _answered_order(conn, ctx, keyed, lambda: orders.place_order(
            conn, ctx.clock, data, actor=ctx.principal.key_id, idempotency_key=key)))
    return _respond(keyed, answer)


def _answered_order(conn: Connection, ctx: Context, keyed: KeyedRequest | None,
                    place: Callable[[], dict[str, Any]]) -> Answer:
    """Inside the order's transaction: the key's earlier answer, or the new order (`place`) as the answer,
    kept with it when there is a key."""
    now = ctx.clock.now()
    if keyed is not None and (earlier := earlier_answer(conn, keyed, now)) is not None:
        return earlier
    body = _ORDER_JSON.dump_json(_ORDER_JSON.validate_python(_show(ctx.principal, place())), by_alias=True)
    return keep_answer(conn, keyed, now, 201, body) if keyed is not None else Answer(201, body)


def _respond(keyed: KeyedRequest | None, answer: Answer) -> Response:
    if keyed is not None:
        keyed.answered = True
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type,
                    headers=answer.headers)


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: str, ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        order = queries.get_order(conn, order_id)
    _check_order_scope(ctx.principal, order)
    return _show(ctx.principal, order)


@router.get("/orders/{order_id}/history", response_model=list[StatusChangeOut], response_model_by_alias=True)
def get_order_history(order_id: str, ctx: Context = Depends(requires(*READERS))) -> list[dict[str, Any]]:
    """Who moved the order from which status to which, and when (oldest first)."""
    with ctx.db.read() as conn:
        order = queries.get_order(conn, order_id)
        _check_order_scope(ctx.principal, order)
        return queries.status_history(conn, order["id"])


def _act(ctx: Context, order_id: str, action: Any) -> dict[str, Any]:
    def work(conn: Any) -> dict[str, Any]:
        _check_order_scope(ctx.principal, queries.get_order(conn, order_id))
        return action(conn)

    return _show(ctx.principal, ctx.db.run(work))


@router.post("/orders/{order_id}/cancel", response_model=OrderOut)
def cancel_order(order_id: str, ctx: Context = Depends(requires(*SELLERS))) -> dict[str, Any]:
    return _act(ctx, order_id, lambda conn: fulfilment.cancel_order(conn, ctx.clock, order_id,
                                                                    actor=ctx.principal.key_id))


@router.post("/orders/{order_id}/ready", response_model=OrderOut)
def mark_ready(order_id: str, ctx: Context = Depends(requires(Role.ASSOCIATE))) -> dict[str, Any]:
    def ready(conn: Any) -> dict[str, Any]:
        order = queries.get_order(conn, order_id)
        if order["pickup"]:
            ctx.principal.ensure_location(order["pickup"]["location"])
        return fulfilment.mark_ready(conn, ctx.clock, order_id, actor=ctx.principal.key_id)

    return _show(ctx.principal, ctx.db.run(ready))


@router.post("/orders/{order_id}/collect", response_model=OrderOut)
def collect(order_id: str, body: CollectIn, ctx: Context = Depends(requires(Role.ASSOCIATE))) -> dict[str, Any]:
    def hand_over(conn: Any) -> dict[str, Any]:
        order = queries.get_order(conn, order_id)
        if order["pickup"]:
            ctx.principal.ensure_location(order["pickup"]["location"])
        return fulfilment.collect(conn, ctx.clock, order_id, body.code, actor=ctx.principal.key_id)

    return _show(ctx.principal, ctx.db.run(hand_over))


@router.get("/orders/{order_id}/pickup/qr.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def pickup_qr(order_id: str, ctx: Context = Depends(requires(Role.ASSOCIATE))) -> Response:
    """The pickup code as a QR image, for the customer's phone or the counter scanner."""
    import segno

    with ctx.db.read() as conn:
        order = queries.get_order(conn, order_id)
    pickup = order["pickup"]
    if not pickup or not pickup["code"]:
        from omnihub.commerce.errors import not_a_pickup_order

        raise not_a_pickup_order(order_id)
    if not ctx.principal.is_admin:
        ctx.principal.ensure_location(pickup["location"])
    buffer = io.BytesIO()
    segno.make(f"omnihub:pickup:{order['number']}:{pickup['code']}", error="m").save(buffer, kind="png", scale=8)
    return Response(buffer.getvalue(), media_type="image/png")


@router.post("/orders/{order_id}/shipments", status_code=201, response_model=ShipmentOut)
def ship(order_id: str, body: ShipmentCreate, ctx: Context = Depends(requires(Role.ASSOCIATE))) -> dict[str, Any]:
    data = body.model_dump()
    if body.location:
        ctx.principal.ensure_location(body.location)
    elif ctx.principal.role is Role.ASSOCIATE:
        data["location"] = ctx.principal.location  # an associate ships its own store's part, never another's

    def work(conn: Any) -> dict[str, Any]:
        _check_order_scope(ctx.principal, queries.get_order(conn, order_id))
        return fulfilment.ship(conn, ctx.clock, order_id, data, actor=ctx.principal.key_id)

    return ctx.db.run(work)


@router.post("/orders/{order_id}/shipments/{shipment_id}/delivered", response_model=ShipmentOut)
def delivered(order_id: str, shipment_id: str, ctx: Context = Depends(requires(*SELLERS))) -> dict[str, Any]:
    def work(conn: Any) -> dict[str, Any]:
        _check_order_scope(ctx.principal, queries.get_order(conn, order_id))
        return fulfilment.mark_delivered(conn, ctx.clock, order_id, shipment_id, actor=ctx.principal.key_id)

    return ctx.db.run(work)


@router.post("/orders/{order_id}/payments", response_model=OrderOut)
def add_payment(order_id: str, body: PaymentCreate, ctx: Context = Depends(requires(*SELLERS))) -> dict[str, Any]:
    return _act(ctx, order_id, lambda conn: orders.add_payment(conn, ctx.clock, order_id, method=body.method,
                                                               amount=body.amount, actor=ctx.principal.key_id))


@router.put("/orders/{order_id}/lines", response_model=OrderOut)
def replace_draft_lines(order_id: str, body: DraftLines, ctx: Context = Depends(requires(*SELLERS))) -> dict[str, Any]:
    lines = [(line.sku, line.quantity) for line in body.lines]
    return _act(ctx, order_id, lambda conn: drafts.replace_draft_lines(conn, ctx.clock, order_id, lines,
                                                                       actor=ctx.principal.key_id))


@router.post("/orders/{order_id}/submit", response_model=OrderOut)
def submit_draft(order_id: str, body: DraftSubmit, ctx: Context = Depends(requires(*SELLERS))) -> dict[str, Any]:
    """Complete a draft, possibly in another channel than the one that started it."""
    if body.channel:
        ctx.principal.ensure_channel(body.channel)
    data = body.model_dump()

    def work(conn: Any) -> dict[str, Any]:
        order = queries.get_order(conn, order_id)
        if ctx.principal.role is Role.CHANNEL and order["customer_id"] is None:
            _check_order_scope(ctx.principal, order)
        return drafts.submit_draft(conn, ctx.clock, order_id, data, actor=ctx.principal.key_id)

    return _show(ctx.principal, ctx.db.run(work))


@router.get("/customers/{customer_id}/orders", response_model=Page[OrderOut])
def customer_orders(customer_id: str, limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
                    cursor: str | None = None, ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    """The customer's orders from every channel (merged profiles included), newest first."""
    from omnihub.customers import queries as customers

    with ctx.db.read() as conn:
        survivor = customers.resolve_id(conn, customer_id)
        if survivor is None:
            from omnihub.core.errors import not_found

            raise not_found("customer", customer_id)
        result = queries.orders_of_customer(conn, [survivor], limit=limit, cursor=cursor)
    if ctx.principal.role is Role.CHANNEL:
        result["items"] = [o for o in result["items"] if o["channel"] == ctx.principal.channel]
    return result


# ---- returns ---------------------------------------------------------------------------------------------


@router.post("/returns", status_code=201, response_model=ReturnOut)
def create_return(body: ReturnCreate, ctx: Context = Depends(requires(Role.ASSOCIATE))) -> dict[str, Any]:
    """Return anywhere: an online order can come back to any store."""
    ctx.principal.ensure_location(body.location)
    data = body.model_dump()
    return ctx.db.run(lambda conn: returns.create_return(conn, ctx.clock, data, actor=ctx.principal.key_id))


@router.get("/returns/{return_id}", response_model=ReturnOut)
def get_return(return_id: str, ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_return(conn, return_id)


# ---- fulfilment settings ---------------------------------------------------------------------------------


@router.post("/fulfilment/pickup-slots", status_code=201, response_model=SlotOut)
def create_slot(body: SlotCreate, ctx: Context = Depends(requires(Role.ASSOCIATE))) -> dict[str, Any]:
    ctx.principal.ensure_location(body.location)
    data = body.model_dump()
    with ctx.db.transaction() as conn:
        return fulfilment.create_slot(conn, ctx.clock, data)


@router.get("/fulfilment/pickup-slots", response_model=list[SlotOut])
def list_slots(location: str, ctx: Context = Depends(requires(*READERS))) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return queries.list_slots(conn, location)


@router.put("/fulfilment/capacity/{location}")
def set_capacity(location: str, body: CapacitySet, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return planning.set_capacity(conn, ctx.clock, location, body.daily_orders)
