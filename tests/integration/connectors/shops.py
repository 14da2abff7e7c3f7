"""Shared pieces of the shop connector tests: the real Shopify payloads (../shared/datasets/shopify), signing as
Shopify and WooCommerce do, and a world with the dataset's products."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from tests.builders import channel, location, ok, product, stock

DATASET = Path(__file__).resolve().parents[4] / "shared" / "datasets" / "shopify"
if not DATASET.exists():
    DATASET = Path("/work/shared/datasets/shopify")
SHOPIFY_SECRET = "shpss_test_client_secret"
SHOPIFY_TOKEN = "shpat_test_access_token"
SHOP = "omnihub-test.myshopify.com"
FIFTH_AVENUE = "487838322"  # a location id of the dataset's locations.json
GRAPHQL = "/admin/api/2025-01/graphql.json"
SKUS = ("IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK")
WOO_SECRET = "woo-webhook-secret"


def dataset(name: str) -> Any:
    return json.loads((DATASET / name).read_text())


def order_payload() -> dict[str, Any]:
    """Shopify's `orders/create` body: the order resource itself (order.json's `order`)."""
    return copy.deepcopy(dataset("order.json")["order"])


def product_payload() -> dict[str, Any]:
    """A `products/update` body for the order's product, derived from products.json: its variants are the
    order's (SKU, variant id), each with its inventory item (inventory_levels.json's ids are the variants')."""
    product_doc = copy.deepcopy(dataset("products.json")[0])
    order = order_payload()
    template = product_doc["variants"][0]
    product_doc["id"] = order["line_items"][0]["product_id"]
    product_doc["variants"] = [{**template, "id": line["variant_id"], "sku": line["sku"],
                                "product_id": line["product_id"], "inventory_item_id": line["variant_id"],
                                "title": line["variant_title"]} for line in order["line_items"]]
    return product_doc


def shopify_headers(body: bytes, topic: str, *, secret: str = SHOPIFY_SECRET, webhook_id: str | None = None
                    ) -> dict[str, str]:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"X-Shopify-Hmac-Sha256": digest, "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": SHOP,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()), "Content-Type": "application/json"}


def post_shopify(api: TestClient, payload: Any, topic: str, *, channel_code: str = "shop", **options: Any) -> Any:
    body = json.dumps(payload).encode()
    return api.post(f"/api/v1/connectors/shopify/{channel_code}/webhooks", content=body,
                    headers=shopify_headers(body, topic, **options))


def woo_headers(body: bytes, topic: str, *, secret: str = WOO_SECRET, delivery: str | None = None
                ) -> dict[str, str]:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {"X-WC-Webhook-Signature": digest, "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": topic.split(".")[0],
            "X-WC-Webhook-Delivery-ID": delivery or str(uuid.uuid4()), "Content-Type": "application/json"}


def shop_world(api: TestClient, *, on_hand: dict[str, int], skus: tuple[str, ...] = SKUS) -> None:
    """A warehouse `nyc` (Shopify's Fifth Avenue location), the channel `shop` selling from it, the products."""
    location(api, "nyc", kind="warehouse", pickup=False)
    channel(api, "shop", locations=["nyc"], currency="USD", country="US")
    for sku in skus:
        product(api, sku, category="music", name=f"iPod Nano {sku[8:].lower()}")
        ok(api.put("/api/v1/channels/shop/prices", json=[{"sku": sku, "amount": "199.00"}]))
        if on_hand.get(sku):
            stock(api, "nyc", sku, on_hand[sku])


def connect_shopify(api: TestClient, api_base: str, **extra: Any) -> dict[str, Any]:
    return ok(api.put("/api/v1/connectors/shopify/shop", json={
        "shop_domain": SHOP, "webhook_secret": SHOPIFY_SECRET, "access_token": SHOPIFY_TOKEN, "api_base": api_base,
        "default_location": "nyc", "locations": {FIFTH_AVENUE: "nyc"}, **extra}), 201)


def graphql_ok(_call: Any) -> tuple[int, dict[str, Any]]:
    """Shopify's answer to inventorySetQuantities when it applied."""
    return 200, {"data": {"inventorySetQuantities": {
        "inventoryAdjustmentGroup": {"reason": "correction", "changes": [{"name": "available", "delta": 0}]},
        "userErrors": []}}}
