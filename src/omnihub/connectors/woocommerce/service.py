"""WooCommerce's topics applied to the hub: orders recorded through commerce (its amounts, stock taken at the
connection's location, oversold flagged), customers resolved through the identity graph, products teaching
the hub WooCommerce's ids for its SKUs; and the hub's stock told back as the product's `stock_quantity`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog_queries
from omnihub.commerce import external as commerce_external
from omnihub.connectors.hub import errors as hub_errors
from omnihub.connectors.hub import service as hub
from omnihub.connectors.hub.rules import Unmappable
from omnihub.connectors.woocommerce import rules
from omnihub.core.clock import Clock
from omnihub.core.events import Event
from omnihub.inventory import queries as inventory_queries

KIND = "woocommerce"
ACTOR = "woocommerce"


def apply(conn: Connection, clock: Clock, link: hub.Link, topic: str, payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise Unmappable("bad_shape", f"A {topic} body is one JSON object.")
    if topic in ("order.created", "order.updated", "order.restored"):
        return _order(conn, clock, link, payload)
    if topic.startswith("customer."):
        if topic == "customer.deleted":
            return {"ignored": True, "detail": "a customer deleted in the shop stays in the hub"}
        channel = catalog_queries.get_channel(conn, link.channel, field="channel")
        customer_id, _ = commerce_external.identify(conn, clock, rules.identity_hints(payload), channel, ACTOR)
        return {"customer_id": customer_id, "detail": "customer resolved"}
    if topic in ("product.created", "product.updated"):
        items = rules.product_items(payload)
        known = catalog_queries.existing_skus(conn, [i["sku"] for i in items])
        kept = [i for i in items if i["sku"] in known]
        hub.remember_items(conn, clock, KIND, link.channel, kept)
        hub.enqueue_push(conn, clock, KIND, link.channel, [i["sku"] for i in kept])
        return {"detail": f"{len(kept)} SKUs mapped"}
    return {"ignored": True, "detail": f"topic {topic!r} is not one the hub subscribes to"}


def _order(conn: Connection, clock: Clock, link: hub.Link, order: dict[str, Any]) -> dict[str, Any]:
    if order.get("id") in (None, ""):
        raise Unmappable("bad_shape", "The order has no id.")
    external_id = str(order["id"])
    status = str(order.get("status") or "")
    if commerce_external.find_external_order(conn, link.channel, external_id) is None:
        location = link.config.get("default_location")
        if not location:
            raise Unmappable("unmapped_location", "The connection has no default_location.")
        lines = rules.order_lines(order)
        for line in lines:
            if not line["sku"]:
                variant = line.get("variation_id") or None
                found = (hub.sku_of_variant(conn, KIND, link.channel, str(variant)) if variant else None)
                line["sku"] = found or ""
        unknown = sorted({ln["sku"] or f"product {ln.get('product_id')}" for ln in lines if not ln["sku"]}
                         | ({ln["sku"] for ln in lines if ln["sku"]}
                            - catalog_queries.existing_skus(conn, [ln["sku"] for ln in lines])))
        if unknown:
            raise Unmappable("unknown_sku", f"No product in the hub for {', '.join(unknown)} (create it in the "
                                            "catalog, then replay).")
        data = rules.hub_order(order, lines, channel=link.channel, location=str(location))
        recorded, created = commerce_external.record_external_order(conn, clock, data, actor=ACTOR)
        if created:
            return {"order_id": recorded["id"], "detail": "recorded"}
    updated = commerce_external.update_external_order(
        conn, clock, link.channel, external_id, paid=status in rules.PAID_STATUSES,
        cancelled=status in rules.CANCELLED_STATUSES, actor=ACTOR)
    return {"order_id": updated["id"] if updated else None, "detail": "updated"}


def wants(link: hub.Link, event: Event) -> bool:
    """One figure per product: the channel's availability."""
    return event.type == "availability.changed" and event.data.get("channel") == link.channel


def quantities(conn: Connection, link: hub.Link, sku: str) -> dict[str, Any] | None:
    known = hub.item(conn, KIND, link.channel, sku)
    if known is None or not known["product_id"]:
        return None
    available = inventory_queries.availability(conn, sku, link.channel)["available"]
    return {"product_id": known["product_id"], "variation_id": known["variant_id"],
            "stock_quantity": max(0, int(available))}


def configure(conn: Connection, clock: Clock, secret_key: str, channel: str, data: dict[str, Any],
              guard: Any) -> tuple[dict[str, Any], bool]:
    hub.check_locations(conn, data.get("default_location"), {})
    site_url = hub.check_api_base(data["site_url"], guard, field="site_url")
    if site_url.startswith("http://") and not data.get("allow_http"):
        raise hub_errors.invalid_config("site_url", "WooCommerce's Basic authentication needs https (set "
                                                    "allow_http only for a local test shop).")
    config = {"site_url": site_url, "default_location": data.get("default_location"),
              "allow_http": bool(data.get("allow_http"))}
    return hub.configure(conn, clock, secret_key, kind=KIND, channel=channel, config=config,
                         secrets={"webhook_secret": data["webhook_secret"], "consumer_key": data["consumer_key"],
                                  "consumer_secret": data["consumer_secret"]})


def plugin() -> hub.ConnectorPlugin:
    from omnihub.connectors.woocommerce.client import send

    return hub.ConnectorPlugin(kind=KIND, apply=apply, quantities=quantities, send=send, wants=wants)
