"""WooCommerce's formats, pure: its webhook payloads (REST API v3 resources) into the hub's shapes, and the
product update that sets its stock. No I/O; anything the hub cannot read raises `Unmappable`."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from omnihub.connectors.hub.rules import Unmappable, money, sold_at

SYSTEM = "woocommerce"
PAID_STATUSES = ("processing", "completed")
CANCELLED_STATUSES = ("cancelled", "refunded", "failed", "trash")
PING = re.compile(rb"^webhook_id=[0-9]{1,20}$")


def is_ping(body: bytes) -> bool:
    """WooCommerce's ping when a webhook is saved: a form body `webhook_id=N`, no topic."""
    return bool(PING.match(body.strip()))


def identity_hints(order: dict[str, Any]) -> list[dict[str, Any]]:
    billing = order.get("billing") if isinstance(order.get("billing"), dict) else {}
    hints: list[dict[str, Any]] = []
    customer_id = order.get("customer_id") if "customer_id" in order else order.get("id")
    if customer_id not in (None, "", 0, "0"):
        hints.append({"kind": "external", "system": SYSTEM, "value": str(customer_id)})
    email = billing.get("email") or order.get("email")
    if email:
        hints.append({"kind": "email", "value": str(email)})
    if billing.get("phone"):
        hints.append({"kind": "phone", "value": str(billing["phone"])})
    return hints


def order_lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    items = order.get("line_items")
    if not isinstance(items, list) or not items:
        raise Unmappable("bad_shape", "The order has no line_items.")
    lines = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise Unmappable("bad_shape", f"line_items[{index}] is not an object.")
        quantity = item.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            raise Unmappable("bad_shape", f"line_items[{index}].quantity must be a positive integer.")
        subtotal = money(item.get("subtotal"), f"line_items[{index}].subtotal")  # before discounts, tax excluded
        total = money(item.get("total"), f"line_items[{index}].total")  # after discounts, tax excluded
        lines.append({"sku": str(item.get("sku") or "").strip(), "product_id": item.get("product_id"),
                      "variation_id": item.get("variation_id"), "name": str(item.get("name") or "")[:300],
                      "quantity": quantity, "unit_price": (subtotal / quantity).quantize(Decimal("0.0001")),
                      "discount": subtotal - total, "net": total,
                      "tax": money(item.get("total_tax"), f"line_items[{index}].total_tax")})
    return lines


def hub_order(order: dict[str, Any], lines: list[dict[str, Any]], *, channel: str, location: str) -> dict[str, Any]:
    """WooCommerce's amounts as it states them: line totals exclude tax (`total` + `total_tax`)."""
    nets = [line["net"] for line in lines]
    out_lines = []
    for index, line in enumerate(lines):
        rate = (line["tax"] / nets[index] * 100).quantize(Decimal("0.0001")) if nets[index] else Decimal(0)
        out_lines.append({"sku": line["sku"], "name": line["name"], "quantity": line["quantity"],
                          "unit_price": line["unit_price"], "discount": line["discount"], "tax_rate": rate,
                          "tax": line["tax"], "total": line["net"] + line["tax"], "location": location})
    status = str(order.get("status") or "")
    shipping = money(order.get("shipping_total"), "shipping_total")
    discount = money(order.get("discount_total"), "discount_total")
    return {
        "channel": channel,
        "external": {"system": SYSTEM, "id": str(order["id"]), "number": str(order.get("number") or order["id"]),
                     "status": status, "created_at": order.get("date_created_gmt") or order.get("date_created")},
        "created_at": sold_at(order.get("date_created_gmt"), "date_created_gmt", naive_is_utc=True),
        "currency": str(order.get("currency") or "EUR")[:3].upper(),
        "prices_include_tax": bool(order.get("prices_include_tax")),
        "payment_status": "paid" if status in PAID_STATUSES or order.get("date_paid") else "unpaid",
        "cancelled": status in CANCELLED_STATUSES,
        "totals": {"subtotal": sum((ln["unit_price"] * ln["quantity"] for ln in lines), Decimal(0)),
                   "discount": discount, "shipping": shipping,
                   "tax": money(order.get("total_tax"), "total_tax"), "total": money(order.get("total"), "total")},
        "promotions": [{"code": str(c.get("code")), "amount": str(money(c.get("discount"), "coupon_lines"))}
                       for c in order.get("coupon_lines") or [] if isinstance(c, dict)],
        "lines": out_lines,
        "hints": identity_hints(order),
    }


def product_items(product: dict[str, Any]) -> list[dict[str, Any]]:
    """A product (or variation) as the hub keeps it: SKU → WooCommerce product id (and parent for a variation)."""
    sku = str(product.get("sku") or "").strip()
    if product.get("id") in (None, ""):
        raise Unmappable("bad_shape", "The product has no id.")
    if not sku:
        return []
    parent = product.get("parent_id")
    if parent not in (None, "", 0):
        return [{"sku": sku, "product_id": str(parent), "variant_id": str(product["id"])}]
    return [{"sku": sku, "product_id": str(product["id"]), "variant_id": None}]


def stock_request(product_id: str, variation_id: str | None, quantity: int) -> tuple[str, dict[str, Any]]:
    """`PUT /wp-json/wc/v3/products/{id}` (or its variation) setting `stock_quantity`, stock managed."""
    path = (f"/wp-json/wc/v3/products/{product_id}/variations/{variation_id}" if variation_id
            else f"/wp-json/wc/v3/products/{product_id}")
    return path, {"manage_stock": True, "stock_quantity": quantity}

