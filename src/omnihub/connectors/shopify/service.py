"""Shopify's topics applied to the hub: orders recorded through commerce (the shop's amounts, its stock taken
at the mapped location, oversold flagged), refunds restocked, customers resolved through the identity graph,
abandoned checkouts kept as the customer's cart, products teaching the hub Shopify's ids for its SKUs. Each
call runs in the caller's transaction; what cannot be mapped raises `Unmappable` (a dead letter)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog_queries
from omnihub.commerce import external as commerce_external
from omnihub.connectors.hub import errors as hub_errors
from omnihub.connectors.hub import service as hub
from omnihub.connectors.hub.rules import Unmappable
from omnihub.connectors.shopify import rules
from omnihub.core.clock import Clock
from omnihub.core.errors import NotFound
from omnihub.core.events import Event
from omnihub.inventory import queries as inventory_queries

KIND = "shopify"
ACTOR = "shopify"


def apply(conn: Connection, clock: Clock, link: hub.Link, topic: str, payload: Any) -> dict[str, Any]:
    """One webhook's effect."""
    if not isinstance(payload, dict):
        raise Unmappable("bad_shape", f"A {topic} body is one JSON object.")
    if topic in rules.ORDER_TOPICS:
        return _order(conn, clock, link, topic, payload)
    if topic == "refunds/create":
        return _refund(conn, clock, link, payload)
    if topic in ("customers/create", "customers/update"):
        return _customer(conn, clock, link, payload)
    if topic in ("checkouts/create", "checkouts/update"):
        return _checkout(conn, clock, link, payload)
    if topic in ("products/create", "products/update"):
        return _product(conn, clock, link, payload)
    if topic == "inventory_levels/update":
        return _inventory_level(conn, clock, link, payload)
    return {"ignored": True, "detail": f"topic {topic!r} is not one the hub subscribes to"}


def _hub_skus(conn: Connection, link: hub.Link, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each line's hub SKU: Shopify's own SKU, or the one products/create taught for its variant. A line the hub
    does not sell is unmappable: recording the order without it would lose part of a real sale."""
    for line in lines:
        if not line["sku"] and line.get("variant_id") not in (None, ""):
            line["sku"] = hub.sku_of_variant(conn, KIND, link.channel, str(line["variant_id"])) or ""
    missing = sorted({line["sku"] or f"variant {line.get('variant_id')}" for line in lines
                      if not line["sku"]} | ({line["sku"] for line in lines if line["sku"]}
                                            - catalog_queries.existing_skus(conn, [ln["sku"] for ln in lines])))
    if missing:
        raise Unmappable("unknown_sku", f"No product in the hub for {', '.join(missing)} (create it in the catalog, "
                                        "then replay).")
    return lines


def _order(conn: Connection, clock: Clock, link: hub.Link, topic: str, order: dict[str, Any]) -> dict[str, Any]:
    if order.get("id") in (None, ""):
        raise Unmappable("bad_shape", "The order has no id.")
    external_id = str(order["id"])
    paid = order.get("financial_status") in rules.PAID
    cancelled = topic == "orders/cancelled" or bool(order.get("cancelled_at"))
    if commerce_external.find_external_order(conn, link.channel, external_id) is None:
        location = rules.location_for(order, link.config)
        lines = _hub_skus(conn, link, rules.order_lines(order))
        data = rules.hub_order(order, lines, channel=link.channel, location=location)
        data["cancelled"] = cancelled
        recorded, created = commerce_external.record_external_order(conn, clock, data, actor=ACTOR)
        if created:
            return {"order_id": recorded["id"], "detail": "recorded"}
    updated = commerce_external.update_external_order(conn, clock, link.channel, external_id, paid=paid,
                                                      cancelled=cancelled, actor=ACTOR)
    return {"order_id": updated["id"] if updated else None, "detail": "updated"}


def _refund(conn: Connection, clock: Clock, link: hub.Link, refund: dict[str, Any]) -> dict[str, Any]:
    if refund.get("order_id") in (None, "") or refund.get("id") in (None, ""):
        raise Unmappable("bad_shape", "The refund names no order_id or id.")
    items, amount = rules.refund_items(refund)
    order = commerce_external.restock_external_refund(conn, clock, link.channel, str(refund["order_id"]), items,
                                                      refund_id=str(refund["id"]), amount=amount, actor=ACTOR)
    if order is None:
        raise Unmappable("order_not_found", f"Shopify order {refund['order_id']} is not recorded in the hub "
                                            "(replay its orders/create first).")
    return {"order_id": order["id"], "detail": "refund recorded"}


def _customer(conn: Connection, clock: Clock, link: hub.Link, customer: dict[str, Any]) -> dict[str, Any]:
    if customer.get("id") in (None, ""):
        raise Unmappable("bad_shape", "The customer has no id.")
    channel = catalog_queries.get_channel(conn, link.channel, field="channel")
    hints = rules.identity_hints({"customer": customer, "email": customer.get("email"),
                                  "phone": customer.get("phone")})
    customer_id, _ = commerce_external.identify(conn, clock, hints, channel, ACTOR)
    return {"customer_id": customer_id, "detail": "customer resolved"}


def _checkout(conn: Connection, clock: Clock, link: hub.Link, checkout: dict[str, Any]) -> dict[str, Any]:
    """An abandoned checkout is the customer's cart: kept as an open cart at Shopify's prices (visible on the 360
    view); a completed one is an order, which orders/create records."""
    if checkout.get("completed_at"):
        return {"ignored": True, "detail": "completed checkout: its order is recorded by orders/create"}
    token = str(checkout.get("token") or checkout.get("cart_token") or checkout.get("id") or "")
    if not token:
        raise Unmappable("bad_shape", "The checkout has no token.")
    lines = _hub_skus(conn, link, rules.order_lines(checkout))
    merged: dict[str, Any] = {}
    for line in lines:
        merged.setdefault(line["sku"], [0, line["unit_price"]])[0] += line["quantity"]
    cart = commerce_external.record_external_cart(
        conn, clock, channel=link.channel, system=KIND, token=token[:120], hints=rules.identity_hints(checkout),
        lines=[(sku, quantity, price) for sku, (quantity, price) in merged.items()], actor=ACTOR)
    return {"cart_id": cart["id"], "customer_id": cart["customer_id"], "detail": "cart kept"}


def _product(conn: Connection, clock: Clock, link: hub.Link, product: dict[str, Any]) -> dict[str, Any]:
    items = rules.product_items(product)
    known = catalog_queries.existing_skus(conn, [i["sku"] for i in items])
    kept = [i for i in items if i["sku"] in known]
    hub.remember_items(conn, clock, KIND, link.channel, kept)
    hub.enqueue_push(conn, clock, KIND, link.channel, [i["sku"] for i in kept])  # tell the shop the hub's figure
    unknown = sorted(i["sku"] for i in items if i["sku"] not in known)
    return {"detail": f"{len(kept)} SKUs mapped" + (f"; not in the hub: {', '.join(unknown)}" if unknown else "")}


def _inventory_level(conn: Connection, clock: Clock, link: hub.Link, level: dict[str, Any]) -> dict[str, Any]:
    """Shopify's own count moved (someone edited it there). The hub is the stock's system of record: its count is
    not taken; the hub's figure is pushed back so the shop shows what the hub can sell."""
    item_id = str(level.get("inventory_item_id") or "")
    sku = hub.sku_of_inventory_item(conn, KIND, link.channel, item_id) if item_id else None
    if sku is None:
        return {"ignored": True, "detail": f"inventory item {item_id or '?'} is not a SKU the hub tells Shopify about"}
    hub.enqueue_push(conn, clock, KIND, link.channel, [sku])
    return {"detail": f"{sku}: the hub's figure will be pushed back"}


# ---- stock out -------------------------------------------------------------------------------------------------


def wants(link: hub.Link, event: Event) -> bool:
    """Per-location figures: any stock change at a mapped location."""
    return event.type == "stock.changed" and event.data.get("location") in (link.config.get("locations") or {}
                                                                            ).values()


def quantities(conn: Connection, link: hub.Link, sku: str) -> dict[str, Any] | None:
    """What Shopify should show as `available` at each mapped location: the hub's free units there."""
    known = hub.item(conn, KIND, link.channel, sku)
    if known is None or not known["inventory_item_id"]:
        return None
    levels = {}
    for shop_location, code in sorted((link.config.get("locations") or {}).items()):
        try:
            levels[shop_location] = max(0, int(inventory_queries.level(conn, code, sku)["available"]))
        except NotFound:  # no level there yet: nothing to sell from it
            levels[shop_location] = 0
    return {"inventory_item_id": known["inventory_item_id"], "locations": levels}


def configure(conn: Connection, clock: Clock, secret_key: str, channel: str, data: dict[str, Any],
              guard: Any) -> tuple[dict[str, Any], bool]:
    """Create or replace the channel's Shopify connection."""
    locations = {str(k): v for k, v in (data.get("locations") or {}).items()}
    for key in locations:
        if not key.isdigit() or len(key) > 20:
            raise hub_errors.invalid_config(f"locations.{key}", "A Shopify location id is a number (its REST id).")
    hub.check_locations(conn, data.get("default_location"), locations)
    api_base = hub.check_api_base(data["api_base"], guard) if data.get("api_base") else None
    config = {"shop_domain": data["shop_domain"], "api_base": api_base,
              "default_location": data.get("default_location"), "locations": locations}
    return hub.configure(conn, clock, secret_key, kind=KIND, channel=channel, config=config,
                         secrets={"webhook_secret": data["webhook_secret"], "access_token": data["access_token"]})


def plugin() -> hub.ConnectorPlugin:
    from omnihub.connectors.shopify.client import send

    return hub.ConnectorPlugin(kind=KIND, apply=apply, quantities=quantities, send=send, wants=wants)
