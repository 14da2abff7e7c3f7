"""Shopify's formats, pure: its webhook payloads (REST Admin API resources) into the hub's shapes, and the GraphQL
Admin API request that sets inventory. No I/O; anything the hub cannot read raises `Unmappable`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from omnihub.connectors.hub.rules import Unmappable, money, sold_at, split

API_VERSION = "2025-01"
ORDER_TOPICS = ("orders/create", "orders/updated", "orders/paid", "orders/cancelled")
TOPICS = (*ORDER_TOPICS, "refunds/create", "customers/create", "customers/update", "checkouts/create",
          "checkouts/update", "inventory_levels/update", "products/create", "products/update")
PAID = ("paid", "partially_refunded", "refunded")
SYSTEM = "shopify"

INVENTORY_SET_QUANTITIES = """mutation inventorySetQuantities($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup { reason changes { name delta } }
    userErrors { field message code }
  }
}"""


def location_for(order: dict[str, Any], config: dict[str, Any]) -> str:
    """The hub location a sale takes its stock from: the mapped Shopify location it was sold at (POS), else the
    connection's default location."""
    mapped: dict[str, str] = config.get("locations") or {}
    shop_location = order.get("location_id")
    if shop_location not in (None, ""):
        code = mapped.get(str(shop_location))
        if code is None:
            raise Unmappable("unmapped_location", f"Shopify location {shop_location} is not mapped to a hub "
                                                  "location (PUT the connection with it in `locations`).")
        return code
    if not config.get("default_location"):
        raise Unmappable("unmapped_location", "The order names no location and the connection has no "
                                              "default_location.")
    return str(config["default_location"])


def identity_hints(order: dict[str, Any]) -> list[dict[str, Any]]:
    """Who bought: Shopify's customer id (an external identity), then e-mail and phone."""
    customer = order.get("customer") if isinstance(order.get("customer"), dict) else {}
    hints: list[dict[str, Any]] = []
    if customer.get("id") not in (None, ""):
        hints.append({"kind": "external", "system": SYSTEM, "value": str(customer["id"])})
    email = order.get("email") or order.get("contact_email") or customer.get("email")
    if email:
        hints.append({"kind": "email", "value": str(email)})
    address = customer.get("default_address") if isinstance(customer.get("default_address"), dict) else {}
    phone = order.get("phone") or customer.get("phone") or address.get("phone")
    if phone:
        hints.append({"kind": "phone", "value": str(phone)})
    return hints


def order_lines(order: dict[str, Any]) -> list[dict[str, Any]]:
    """The line items as Shopify states them: sku (may be empty), variant id, quantity, price, discount, tax."""
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
        taxes = item.get("tax_lines") if isinstance(item.get("tax_lines"), list) else []
        allocations = item.get("discount_allocations") if isinstance(item.get("discount_allocations"), list) else []
        lines.append({
            "sku": str(item.get("sku") or "").strip(), "variant_id": item.get("variant_id"),
            "name": str(item.get("name") or item.get("title") or "")[:300], "quantity": quantity,
            "unit_price": money(item.get("price"), f"line_items[{index}].price"),
            "discount": sum((money(a.get("amount"), f"line_items[{index}].discount_allocations")
                             for a in allocations if isinstance(a, dict)), Decimal(0)),
            "tax": (sum((money(t.get("price"), f"line_items[{index}].tax_lines") for t in taxes if isinstance(t, dict)),
                        Decimal(0)) if taxes else None),
            "tax_rate": (Decimal(str(taxes[0].get("rate") or 0)) * 100 if taxes and isinstance(taxes[0], dict)
                         else None)})
    return lines


def hub_order(order: dict[str, Any], lines: list[dict[str, Any]], *, channel: str, location: str) -> dict[str, Any]:
    """The order as commerce records it: Shopify's own amounts, never priced again. `lines` carry their hub SKU.
    Where Shopify gives tax per order only, it is shared over the lines by their amount (to the cent)."""
    taxes_included = bool(order.get("taxes_included"))
    total_tax = money(order.get("total_tax"), "total_tax")
    shipping_lines = order.get("shipping_lines") if isinstance(order.get("shipping_lines"), list) else []
    shipping = sum((money(s.get("price"), "shipping_lines.price") for s in shipping_lines if isinstance(s, dict)),
                   Decimal(0))
    shipping_tax = sum((money(t.get("price"), "shipping_lines.tax_lines") for s in shipping_lines
                        if isinstance(s, dict) for t in (s.get("tax_lines") or []) if isinstance(t, dict)), Decimal(0))
    order_taxes = order.get("tax_lines") if isinstance(order.get("tax_lines"), list) else []
    order_rate = (Decimal(str(order_taxes[0].get("rate") or 0)) * 100
                  if len(order_taxes) == 1 and isinstance(order_taxes[0], dict) else Decimal(0))
    nets = [line["unit_price"] * line["quantity"] - line["discount"] for line in lines]
    shared = split(total_tax - shipping_tax, nets) if any(line["tax"] is None for line in lines) else []
    out_lines = []
    for index, line in enumerate(lines):
        tax = line["tax"] if line["tax"] is not None else shared[index]
        rate = line["tax_rate"] if line["tax_rate"] is not None else order_rate
        out_lines.append({"sku": line["sku"], "name": line["name"], "quantity": line["quantity"],
                          "unit_price": line["unit_price"], "discount": line["discount"], "tax_rate": rate,
                          "tax": tax, "total": nets[index] + (Decimal(0) if taxes_included else tax),
                          "location": location})
    gross = sum((line["unit_price"] * line["quantity"] for line in lines), Decimal(0))
    subtotal = money(order.get("total_line_items_price"), "total_line_items_price") if order.get(
        "total_line_items_price") not in (None, "") else gross
    codes = order.get("discount_codes") if isinstance(order.get("discount_codes"), list) else []
    return {
        "channel": channel,
        "external": {"system": SYSTEM, "id": str(order["id"]), "number": order.get("name") or order.get("order_number"),
                     "financial_status": order.get("financial_status"), "created_at": order.get("created_at")},
        "created_at": sold_at(order.get("created_at"), "created_at", naive_is_utc=False),
        "currency": str(order.get("currency") or "USD")[:3].upper(),
        "prices_include_tax": taxes_included,
        "payment_status": "paid" if order.get("financial_status") in PAID else "unpaid",
        "cancelled": bool(order.get("cancelled_at")),
        "totals": {"subtotal": subtotal, "discount": money(order.get("total_discounts"), "total_discounts"),
                   "shipping": shipping, "tax": total_tax, "total": money(order.get("total_price"), "total_price")},
        "promotions": [{"code": str(c.get("code")), "amount": str(money(c.get("amount"), "discount_codes.amount"))}
                       for c in codes if isinstance(c, dict)],
        "lines": out_lines,
        "hints": identity_hints(order),
    }


def refund_items(refund: dict[str, Any]) -> tuple[list[tuple[str, int]], Decimal]:
    """What a refund put back on the shelf `(sku, quantity)` and the amount refunded. Lines are restocked when
    the refund says so (`restock`, or a line's `restock_type` of return or cancel)."""
    restock_all = refund.get("restock") is True
    items = []
    for entry in refund.get("refund_line_items") or []:
        if not isinstance(entry, dict):
            continue
        line = entry.get("line_item") if isinstance(entry.get("line_item"), dict) else {}
        restocked = restock_all or entry.get("restock_type") in ("return", "cancel")
        quantity = entry.get("quantity")
        if restocked and isinstance(quantity, int) and quantity > 0 and line.get("sku"):
            items.append((str(line["sku"]), quantity))
    amount = sum((money(t.get("amount"), "transactions.amount") for t in refund.get("transactions") or []
                  if isinstance(t, dict) and t.get("kind") == "refund" and t.get("status", "success") == "success"),
                 Decimal(0))
    return items, amount


def product_items(product: dict[str, Any]) -> list[dict[str, Any]]:
    """The variants of a product as the hub keeps them: SKU → Shopify product, variant and inventory item ids."""
    variants = product.get("variants")
    if not isinstance(variants, list):
        raise Unmappable("bad_shape", "The product has no variants list.")
    return [{"sku": str(v["sku"]).strip(), "product_id": str(product.get("id") or v.get("product_id") or ""),
             "variant_id": str(v.get("id") or ""), "inventory_item_id": str(v.get("inventory_item_id") or "") or None}
            for v in variants if isinstance(v, dict) and str(v.get("sku") or "").strip()]


def inventory_request(inventory_item_id: str, quantities: dict[str, int], reference: str) -> dict[str, Any]:
    """The GraphQL `inventorySetQuantities` request setting `available` at each Shopify location: absolute
    figures (the hub is the system of record), so `ignoreCompareQuantity` — no compare-and-set against the
    shop's own count."""
    return {"query": INVENTORY_SET_QUANTITIES, "variables": {"input": {
        "name": "available", "reason": "correction", "referenceDocumentUri": reference,
        "ignoreCompareQuantity": True,
        "quantities": [{"inventoryItemId": f"gid://shopify/InventoryItem/{inventory_item_id}",
                        "locationId": f"gid://shopify/Location/{location}", "quantity": quantity}
                       for location, quantity in sorted(quantities.items())]}}}


def inventory_errors(answer: Any) -> tuple[str | None, bool]:
    """(what went wrong, whether retrying may help) from a GraphQL answer; (None, False) when it applied."""
    if not isinstance(answer, dict):
        return "Shopify answered without a JSON document", True
    if answer.get("errors"):
        errors = answer["errors"] if isinstance(answer["errors"], list) else [answer["errors"]]
        throttled = any(isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
                        for e in errors)
        first = errors[0].get("message") if isinstance(errors[0], dict) else str(errors[0])
        return f"GraphQL error: {first}"[:500], throttled
    result = ((answer.get("data") or {}).get("inventorySetQuantities") or {})
    user_errors = result.get("userErrors") or []
    if user_errors:
        first = user_errors[0]
        return f"userErrors: {first.get('field')}: {first.get('message')}"[:500], False
    if "inventoryAdjustmentGroup" not in result:
        return "Shopify answered without inventorySetQuantities", True
    return None, False
