"""A sale at the counter that starts from the customer's open cart: the associate finds the customer by phone
(as typed) or e-mail, sees the cart they left in any channel (the app, the web), and sells it in the store's
own channel with an in-store offer — a store-only promotion code from the promotions room, priced by the same
function every channel prices with. The cart's checkout (commerce.carts.checkout) does the work: prices and
stock are checked again, the units leave the shelf and the order is handed over in one transaction."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog
from omnihub.commerce import carts
from omnihub.commerce import queries as commerce
from omnihub.commerce.pricing import price_lines
from omnihub.commerce.schemas import CheckoutIn
from omnihub.console.routes.counter import _store
from omnihub.console.routes.lookup import find_customer
from omnihub.console.web import ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError, NotFound, ValidationFailed
from omnihub.customers import queries as customers
from omnihub.inventory import queries as inventory
from omnihub.promotions import queries as promotions

router = APIRouter(route_class=ConsoleRoute)
# What a customer pays with at a till (billing's default methods that need no gateway round trip).
COUNTER_METHODS = ("card", "cash", "bizum")


def store_channels(conn: Connection, store: str) -> list[dict[str, Any]]:
    """The store channels that sell from this store's shelves (the till's channel)."""
    return [c for c in catalog.list_channels(conn, limit=500, cursor=None)["items"]
            if c["kind"] == "store" and store in (c.get("locations") or [])]


def in_store_offers(conn: Connection, now: Any, channel: str) -> list[dict[str, Any]]:
    """Promotions with a code, running now, valid in this channel and only in store channels: the offers an
    associate may give at the counter (an offer valid online too is not an in-store offer)."""
    stores = {c["code"] for c in catalog.list_channels(conn, limit=500, cursor=None)["items"] if c["kind"] == "store"}
    found = promotions.list_promotions(conn, now, limit=100, cursor=None, active=True, channel=channel)["items"]
    return [p for p in found if p["code"] and p["channels"] and set(p["channels"]) <= stores]


def _preview(conn: Connection, clock: Any, cart: dict[str, Any], channel: dict[str, Any], offer: str) -> Any:
    return price_lines(conn, clock, channel=channel, customer_id=cart["customer_id"],
                       lines=[(line["sku"], line["quantity"]) for line in cart["lines"]],
                       codes=[offer] if offer else [], fulfilment_type="in_store", country=None)


def _sale_page(request: Request, viewer: Viewer, store: str | None, *, q: str = "", channel_code: str = "",
               offer: str = "", method: str = "card", problem: dict[str, Any] | None = None) -> Response:
    state = request.app.state
    context: dict[str, Any] = {"store": store, "q": q, "offer": offer, "method": method, "methods": COUNTER_METHODS,
                               "customer": None, "cart": None, "pricing": None, "offers": [], "channels": [],
                               "channel": None, "problem": problem}
    status = problem["status"] if problem else 200
    with state.db.read() as conn:
        if viewer.role == "admin":
            context["stores"] = [loc for loc in inventory.list_locations(conn, limit=500, cursor=None)["items"]
                                 if loc["kind"] == "store"]
        if not store:
            return render(request, "counter/sale.html", context, status=status)
        chans = store_channels(conn, store)
        context["channels"] = chans
        channel = next((c for c in chans if c["code"] == channel_code), chans[0] if chans else None)
        context["channel"] = channel
        if channel is None:
            context["problem"] = problem or problem_of(NotFound(
                "no_store_channel", f"No store channel sells from '{store}': add one in Catalog & channels.",
                field="channel"))
            return render(request, "counter/sale.html", context, status=status if problem else 409)
        context["offers"] = in_store_offers(conn, state.clock.now(), channel["code"])
        if not q.strip():
            return render(request, "counter/sale.html", context, status=status)
        found = find_customer(conn, state.clock, q)
        if found is None:
            context["problem"] = problem or problem_of(NotFound(
                "customer_not_found", "No customer has this phone or e-mail.", field="q"))
            return render(request, "counter/sale.html", context, status=status if problem else 404)
        context["customer"] = customers.customer_view(conn, state.clock, found)
        cart = commerce.open_cart_of(conn, found)
        context["cart"] = cart
        if cart:
            try:
                context["pricing"] = _preview(conn, state.clock, cart, channel, offer.strip().upper())
            except DomainError as exc:
                if not problem:
                    context["problem"] = problem_of(exc) | {"action": "sale.offer"}
                    status = context["problem"]["status"]
                if offer:  # show the cart at its price without the refused offer
                    context["offer"] = ""
                    with contextlib.suppress(DomainError):
                        context["pricing"] = _preview(conn, state.clock, cart, channel, "")
    return render(request, "counter/sale.html", context, status=status)


@router.get("/counter/sale")
def sale(request: Request, q: str = "", location: str | None = None, channel: str = "", offer: str = "",
         method: str = "card", viewer: Viewer = Depends(page("counter"))) -> Response:
    """Find the customer, show their open cart priced at this store with the chosen offer."""
    viewer.require("sale.create")
    store = _store(request, viewer, location)
    return _sale_page(request, viewer, store, q=q[:200], channel_code=channel, offer=offer[:40], method=method)


@router.post("/counter/sale")
def sell(request: Request, location: str | None = None, form: dict[str, str] = Depends(posted("counter")),
         viewer: Viewer = Depends(page("counter"))) -> Response:
    """Check the cart out in the store's channel, handed over at once, paid in full with the chosen method, at
    the total the associate saw (a price that moved since is refused with the API's `total_changed`)."""
    viewer.require("sale.create")
    store = _store(request, viewer, location)
    state = request.app.state
    q, offer, method = form.get("q", ""), form.get("offer", "").strip().upper(), form.get("method", "")
    channel_code = form.get("channel", "")
    try:
        if not store:
            raise ValidationFailed("location_required", "Pick the store first.", field="location")
        with state.db.read() as conn:
            chans = {c["code"]: c for c in store_channels(conn, store)}
            cart = commerce.get_cart(conn, form.get("cart", ""))
        if channel_code not in chans:  # only a till of this store: never the web's or another store's channel
            raise ValidationFailed("channel_not_at_store", f"Channel '{channel_code}' does not sell from '{store}'.",
                                   field="channel")
        if method not in COUNTER_METHODS:
            raise ValidationFailed("invalid_payment_method", "Choose card, cash or Bizum.", field="method")
        total = form.get("expected_total", "")
        body = CheckoutIn.model_validate({
            "channel": channel_code, "fulfilment": {"type": "in_store", "location": store},
            "payments": [{"method": method, "amount": total}], "promotion_codes": [offer] if offer else [],
            "expected_total": total, "accept_price_changes": True})
        data = body.model_dump()
        order = state.db.run(lambda conn: carts.checkout(conn, state.clock, cart["id"], data, actor=viewer.actor))
    except (DomainError, ValidationError) as exc:
        problem = problem_of(exc) | {"action": "sale.create"}
        return _sale_page(request, viewer, store, q=q, channel_code=channel_code, offer=offer, method=method,
                          problem=problem)
    suffix = f"&location={quote(store)}" if viewer.role == "admin" and store else ""
    return redirect(f"/counter?done=sale:{quote(order['number'])}{suffix}")

