"""Commerce routes: carts, orders, fulfilment, returns. Thin: parse, check scope, call, return."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import TypeAdapter
from sqlalchemy.engine import Connection

from omnihub.billing import flow as billing_flow
from omnihub.billing.schemas import OrderProviderPaymentsOut
from omnihub.catalog import queries as catalog_queries
from omnihub.commerce import access, carts, drafts, fulfilment, orders, pickup_guard, planning, queries, returns
from omnihub.commerce.pickup_guard import PickupPolicy
from omnihub.commerce.rules import STATUSES
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
from omnihub.core.errors import DomainError
from omnihub.core.idempotency import Answer, KeyedRequest, earlier_answer, keep_answer, keyed_request
from omnihub.core.outbound import OutboundGuard
from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.core.security import Principal, Role
from omnihub.deps import Context, Since, Until, in_worker_thread, recently_sold_out, remembering_sold_out, requires

log = logging.getLogger("omnihub.commerce.api")
router = APIRouter(tags=["commerce"])
SELLERS = (Role.CHANNEL, Role.ASSOCIATE)
READERS = (Role.CHANNEL, Role.ASSOCIATE, Role.AGENT)


def _scoped_key(principal: Principal, header: str | None) -> str | None:
    return f"{principal.key_id}:{header[:80]}" if header else None


def _check_order_scope(principal: Principal, order: dict[str, Any]) -> None:
    """A channel key sees its own channel's orders; an associate those of its store (commerce.access)."""
    access.check_order(principal, order)


def _show(principal: Principal, order: dict[str, Any]) -> dict[str, Any]:
    """The pickup code is for admins and the associates of that store only."""
    return access.show(principal, order)


def _check_sells_in(ctx: Context, channel: str, *, field: str = "channel") -> None:
    """A channel key sells in its own channel; an associate in the store channels selling from its location
    (only then is the channel read: from memory, see core.reference)."""
    if access.needs_channel_check(ctx.principal):
        with ctx.db.read() as conn:
            found = catalog_queries.get_channel(conn, channel, field=field)
        access.check_sells_in(ctx.principal, found, field=field)
    else:
        ctx.principal.ensure_channel(channel, field=field)


def _check_fulfilment_scope(principal: Principal, fulfilment: Any) -> None:
    if principal.role is Role.ASSOCIATE and fulfilment is not None and fulfilment.type != "ship":
        principal.ensure_location(fulfilment.location or "", field="fulfilment.location")


# ---- carts -----------------------------------------------------------------------------------------------


@router.post("/carts", status_code=201, response_model=CartOut)
def create_cart(body: CartCreate, ctx: Context = Depends(requires(*SELLERS))) -> dict[str, Any]:
    _check_sells_in(ctx, body.channel)
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
        _check_sells_in(ctx, channel)
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
    _check_fulfilment_scope(ctx.principal, body.fulfilment)
    data = body.model_dump()
    if not ctx.principal.is_admin:  # the sale happens in a channel the key acts for (commerce.access)
        cart_channel = None
        if body.channel is None and ctx.principal.role is Role.ASSOCIATE:
            with ctx.db.read() as conn:
                cart_channel = queries.cart_row(conn, cart_id)["channel_code"]
        data["channel"] = access.checkout_channel(ctx.principal, body.channel, cart_channel)
        _check_sells_in(ctx, data["channel"])
    key = None if keyed else _scoped_key(ctx.principal, idempotency_key)
    answer = ctx.db.run(lambda conn: _answered_order(conn, ctx, keyed, lambda: carts.checkout(
        conn, ctx.clock, cart_id, data, actor=ctx.principal.key_id, idempotency_key=key)))
    _start_payments(ctx, answer)
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
    _check_sells_in(ctx, body.channel)
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
    _start_payments(ctx, answer)
    return _respond(keyed, answer)


def _start_payments(ctx: Context, answer: Answer) -> None:
    """After the order's commit (never inside it): start what it waits for at providers. A provider that does
    not answer now is asked again by the worker; what it answers is read at `/orders/{id}/provider-payments`."""
    if answer.status != 201 or b'"awaiting_payment"' not in answer.body:
        return
    _drive_payments(ctx, json.loads(answer.body)["id"])


def _drive_payments(ctx: Context, order_id: str) -> None:
    """After commit: what the order's payments owe a provider now (start, capture). Never fails the answer:
    the change is committed, and the worker asks again whatever is left."""
    try:
        billing_flow.drive(ctx.db, ctx.clock, secret_key=ctx.settings.secret_key,
                           guard=OutboundGuard(ctx.settings.outbound_allow), order_id=order_id)
    except Exception:
        log.exception("provider calls of order %s", order_id)


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


OrderStatus = Query(None, pattern="^(" + "|".join(STATUSES) + ")$")
PickupStatus = Query(None, pattern="^(awaiting_stock|preparing|ready|collected|expired)$")
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def _channel_in_scope(principal: Principal, channel: str | None) -> str | None:
    """A channel key lists its own channel's records (asking for another is 403); others what they ask for."""
    if principal.role is Role.CHANNEL:
        principal.ensure_channel(channel or principal.channel or "")
        return principal.channel
    return channel


def _location_in_scope(principal: Principal, location: str | None) -> str | None:
    """An associate lists its own location's records (asking for another is 403); others what they ask for."""
    if principal.role is Role.ASSOCIATE:
        principal.ensure_location(location or principal.location or "")
        return principal.location
    return location


@router.get("/orders", response_model=Page[OrderOut])
def list_orders(channel: str | None = None, status: str | None = OrderStatus, location: str | None = None,
                customer: str | None = Query(None, description="A profile id (a merged-away id finds its survivor)."),
                created_from: datetime | None = Since, created_to: datetime | None = Until,
                q: str | None = Query(None, min_length=1, max_length=320,
                                      description="An order number or id, or the customer's e-mail (or any "
                                                  "identifier of theirs)."),
                limit: int = Limit, cursor: str | None = None,
                ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    """Orders newest first. Channel keys see their channel's orders, associates those their store holds
    stock for or hands over; the pickup code as for one order."""
    from omnihub.customers import queries as customers

    channel = _channel_in_scope(ctx.principal, channel)
    location = _location_in_scope(ctx.principal, location)
    with ctx.db.read() as conn:
        customer_ids = customers.ids_of_person(conn, customer) if customer is not None else None
        result = queries.list_orders(conn, limit=limit, cursor=cursor, channel=channel, status=status,
                                     location=location, customer_ids=customer_ids, created_from=created_from,
                                     created_to=created_to, q=q)
    return {**result, "items": [_show(ctx.principal, o) for o in result["items"]]}


@router.get("/pickups", response_model=Page[OrderOut])
def list_pickups(location: str | None = Query(None, description="Required for nobody: an associate's key "
                                                                 "already names its store."),
                 status: str | None = PickupStatus, channel: str | None = None,
                 created_from: datetime | None = Since, created_to: datetime | None = Until,
                 limit: int = Limit, cursor: str | None = None,
                 ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    """Click & collect orders newest first, by pickup store and pickup status (`ready`: waiting at the counter)."""
    channel = _channel_in_scope(ctx.principal, channel)
    location = _location_in_scope(ctx.principal, location)
    with ctx.db.read() as conn:
        result = queries.list_orders(conn, limit=limit, cursor=cursor, channel=channel, pickup_location=location,
                                     pickup_status=status, pickups_only=True, created_from=created_from,
                                     created_to=created_to)
    return {**result, "items": [_show(ctx.principal, o) for o in result["items"]]}


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: str, ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        order = queries.get_order(conn, order_id)
    _check_order_scope(ctx.principal, order)
    return _show(ctx.principal, order)


@router.get("/orders/{order_id}/provider-payments", response_model=OrderProviderPaymentsOut)
def get_provider_payments(order_id: str, ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    """What the order waits for or took at external providers, and what the front end does next (Stripe's
    client_secret, Redsys' form, BTCPay's checkout link); refunds owed or sent through them."""
    with ctx.db.read() as conn:
        order = queries.get_order(conn, order_id)
        _check_order_scope(ctx.principal, order)
        return {"order_id": order_id, "payments": billing_flow.payments_for_order(conn, order_id),
                "refunds": billing_flow.refunds_for_order(conn, order_id)}


@router.get("/orders/{order_id}/history", response_model=list[StatusChangeOut], response_model_by_alias=True)
def get_order_history(order_id: str, ctx: Context = Depends(requires(*READERS))) -> list[dict[str, Any]]:
    """Who moved the order from which status to which, and when (oldest first)."""
    with ctx.db.read() as conn:
        order = queries.get_order(conn, order_id)
        _check_order_scope(ctx.principal, order)
        return queries.status_history(conn, order["id"])


def _order_in_scope(conn: Connection, principal: Principal, reference: str) -> dict[str, Any]:
    """The order the caller named (by id or number) if its scope lets it see it. Use cases get its id."""
    order = queries.get_order(conn, reference)
    _check_order_scope(principal, order)
    return order


def _act(ctx: Context, order_id: str, action: Callable[[Connection, str], dict[str, Any]]) -> dict[str, Any]:
    """Run `action(conn, id)` on the order named by `order_id` (its id or its number) in one transaction."""
    def work(conn: Connection) -> dict[str, Any]:
        return action(conn, _order_in_scope(conn, ctx.principal, order_id)["id"])

    return _show(ctx.principal, ctx.db.run(work))


@router.post("/orders/{order_id}/cancel", response_model=OrderOut)
def cancel_order(order_id: str, ctx: Context = Depends(requires(*SELLERS))) -> dict[str, Any]:
    return _act(ctx, order_id, lambda conn, oid: fulfilment.cancel_order(conn, ctx.clock, oid,
                                                                      actor=ctx.principal.key_id))


@router.post("/orders/{order_id}/ready", response_model=OrderOut)
def mark_ready(order_id: str, ctx: Context = Depends(requires(Role.ASSOCIATE))) -> dict[str, Any]:
    def ready(conn: Any) -> dict[str, Any]:
        order = queries.get_order(conn, order_id)
        if order["pickup"]:
            ctx.principal.ensure_location(order["pickup"]["location"])
        return fulfilment.mark_ready(conn, ctx.clock, order["id"], actor=ctx.principal.key_id)

    return _show(ctx.principal, ctx.db.run(ready))


@router.post("/orders/{order_id}/collect", response_model=OrderOut)
def collect(order_id: str, body: CollectIn, ctx: Context = Depends(requires(Role.ASSOCIATE))) -> dict[str, Any]:
    """Hand over against the pickup code. Each try is counted first, in its own transaction; too many wrong
    codes lock the order's collection for a while (commerce.pickup_guard)."""
    policy = PickupPolicy(ctx.settings.pickup_max_wrong_codes, ctx.settings.pickup_lock_seconds)

    def claim(conn: Any) -> tuple[str, pickup_guard.Attempt]:
        order = queries.get_order(conn, order_id)
        if order["pickup"]:
            ctx.principal.ensure_location(order["pickup"]["location"])
        return order["id"], pickup_guard.claim_attempt(conn, ctx.clock, order["id"], policy)

    found, attempt = ctx.db.run(claim, effect=False)  # bookkeeping: a keyed request's key goes with hand_over

    def hand_over(conn: Any) -> dict[str, Any]:
        try:
            done = fulfilment.collect(conn, ctx.clock, found, body.code, actor=ctx.principal.key_id)
        except DomainError as exc:
            if exc.code == "wrong_pickup_code":
                raise pickup_guard.wrong_code(found, attempt, policy) from None
            raise
        pickup_guard.reset(conn, found)
        return done

    handed = ctx.db.run(hand_over)
    _drive_payments(ctx, handed["id"])  # authorised at a provider: captured at the hand-over
    return _show(ctx.principal, handed)


@router.delete("/orders/{order_id}/pickup/lock", response_model=OrderOut)
def unlock_pickup(order_id: str, ctx: Context = Depends(requires())) -> dict[str, Any]:
    """Lift a pickup lock set by too many wrong codes (admin only: e.g. once the customer has been reached)."""
    def unlock(conn: Any) -> dict[str, Any]:
        order = queries.get_order(conn, order_id)
        pickup_guard.reset(conn, order["id"])
        return queries.get_order(conn, order["id"])

    return _show(ctx.principal, ctx.db.run(unlock))


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

    def work(conn: Connection) -> dict[str, Any]:
        oid = _order_in_scope(conn, ctx.principal, order_id)["id"]
        return fulfilment.ship(conn, ctx.clock, oid, data, actor=ctx.principal.key_id)

    shipment = ctx.db.run(work)
    _drive_payments(ctx, shipment["order_id"])  # authorised at a provider: captured now the goods left
    return shipment


@router.post("/orders/{order_id}/shipments/{shipment_id}/delivered", response_model=ShipmentOut)
def delivered(order_id: str, shipment_id: str, ctx: Context = Depends(requires(*SELLERS))) -> dict[str, Any]:
    def work(conn: Connection) -> dict[str, Any]:
        oid = _order_in_scope(conn, ctx.principal, order_id)["id"]
        return fulfilment.mark_delivered(conn, ctx.clock, oid, shipment_id, actor=ctx.principal.key_id)

    return ctx.db.run(work)


@router.post("/orders/{order_id}/payments", response_model=OrderOut)
def add_payment(order_id: str, body: PaymentCreate, ctx: Context = Depends(requires(*SELLERS))) -> dict[str, Any]:
    return _act(ctx, order_id, lambda conn, oid: orders.add_payment(conn, ctx.clock, oid, method=body.method,
                                                                     amount=body.amount, actor=ctx.principal.key_id))


@router.put("/orders/{order_id}/lines", response_model=OrderOut)
def replace_draft_lines(order_id: str, body: DraftLines, ctx: Context = Depends(requires(*SELLERS))) -> dict[str, Any]:
    lines = [(line.sku, line.quantity) for line in body.lines]
    return _act(ctx, order_id, lambda conn, oid: drafts.replace_draft_lines(conn, ctx.clock, oid, lines,
                                                                             actor=ctx.principal.key_id))


@router.post("/orders/{order_id}/submit", response_model=OrderOut)
def submit_draft(order_id: str, body: DraftSubmit, ctx: Context = Depends(requires(*SELLERS))) -> dict[str, Any]:
    """Complete a draft, possibly in another channel than the one that started it."""
    _check_fulfilment_scope(ctx.principal, body.fulfilment)
    data = body.model_dump()

    def work(conn: Any) -> dict[str, Any]:
        order = queries.get_order(conn, order_id)
        _check_order_scope(ctx.principal, order)  # a draft is its channel's, whoever its customer is
        access.check_sells_in(ctx.principal, catalog_queries.get_channel(conn, body.channel or order["channel"],
                                                                         field="channel"))
        return drafts.submit_draft(conn, ctx.clock, order["id"], data, actor=ctx.principal.key_id)

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
        channel = ctx.principal.channel if ctx.principal.role is Role.CHANNEL else None
        result = queries.orders_of_customer(conn, [survivor], limit=limit, cursor=cursor, channel=channel)
    return {**result, "items": [_show(ctx.principal, o) for o in result["items"]]}


# ---- returns ---------------------------------------------------------------------------------------------


@router.post("/returns", status_code=201, response_model=ReturnOut)
def create_return(body: ReturnCreate, ctx: Context = Depends(requires(Role.ASSOCIATE))) -> dict[str, Any]:
    """Return anywhere: an online order can come back to any store."""
    ctx.principal.ensure_location(body.location)
    if body.exchange is not None:  # the exchange is a sale: in a channel the associate sells in
        channel = body.exchange.channel
        if channel is None and ctx.principal.role is Role.ASSOCIATE:
            with ctx.db.read() as conn:
                channel = queries.get_order(conn, body.order)["channel"]  # the default: the order's channel
        if channel:
            _check_sells_in(ctx, channel, field="exchange.channel")
    data = body.model_dump()
    return ctx.db.run(lambda conn: returns.create_return(conn, ctx.clock, data, actor=ctx.principal.key_id))


@router.get("/returns", response_model=Page[ReturnOut])
def list_returns(order: str | None = Query(None, description="The order's id or number."),
                 location: str | None = None, channel: str | None = None,
                 condition: str | None = Query(None, pattern="^(resellable|damaged)$"),
                 created_from: datetime | None = Since, created_to: datetime | None = Until,
                 limit: int = Limit, cursor: str | None = None,
                 ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    """Returns newest first. Channel keys see returns of their channel's orders, associates those taken at
    their store."""
    channel = _channel_in_scope(ctx.principal, channel)
    location = _location_in_scope(ctx.principal, location)
    with ctx.db.read() as conn:
        return queries.list_returns(conn, limit=limit, cursor=cursor, channel=channel, location=location,
                                    order=order, condition=condition, created_from=created_from,
                                    created_to=created_to)


@router.get("/returns/{return_id}", response_model=ReturnOut)
def get_return(return_id: str, ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        returned = queries.get_return(conn, return_id)
        if ctx.principal.role in (Role.CHANNEL, Role.ASSOCIATE):
            access.check_return(ctx.principal, returned, queries.get_order(conn, returned["order"]))
    return returned


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
