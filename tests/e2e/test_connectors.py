"""Browser test of the Connectors pages: a shop's health and its oversold order, a dead letter opened with its
payload and reason, replayed with the button once the product exists; accessible, in English and Spanish."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from tests.e2e.conftest import Shop, check_accessibility, log_in, screenshot

SECRET = "e2e-shopify-secret"


def _ok(answer: Any) -> Any:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def _webhook(shop: Shop, order_id: int, sku: str, quantity: int) -> dict[str, Any]:
    body = json.dumps({"id": order_id, "name": f"#{order_id}", "currency": "EUR", "financial_status": "paid",
                       "email": "bob.norman@hostmail.com", "total_price": "30.00", "total_tax": "0.00",
                       "line_items": [{"sku": sku, "quantity": quantity, "price": "10.00",
                                       "name": "iPod Nano"}]}).encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return _ok(shop.api.post("/api/v1/connectors/shopify/shopify-e2e/webhooks", content=body, headers={
        "X-Shopify-Hmac-Sha256": digest, "X-Shopify-Topic": "orders/create", "Content-Type": "application/json",
        "X-Shopify-Webhook-Id": f"e2e-{order_id}"}))


def test_connector_health_oversold_and_a_dead_letter_replayed_from_the_page(new_page, shop: Shop) -> None:
    _ok(shop.api.post("/api/v1/channels", json={"code": "shopify-e2e", "name": "Shopify", "kind": "web",
                                                "currency": "EUR", "country": "ES", "locations": ["wh"]}))
    _ok(shop.api.post("/api/v1/products", json={"sku": "E2E-IPOD", "name": "iPod Nano", "category": "music"}))
    _ok(shop.api.put("/api/v1/stock/wh/E2E-IPOD", json={"on_hand": 1}))
    _ok(shop.api.put("/api/v1/connectors/shopify/shopify-e2e", json={
        "shop_domain": "omnihub-e2e.myshopify.com", "webhook_secret": SECRET, "access_token": "shpat_e2e",
        "api_base": "https://omnihub-e2e.invalid", "default_location": "wh"}))
    assert _webhook(shop, 9001, "E2E-IPOD", 3)["outcome"] == "applied"  # 1 on hand: oversold by 2
    letter = _webhook(shop, 9002, "E2E-NANO", 1)["dead_letter"]

    page = new_page()
    log_in(page, shop, "admin")
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Connectors").click()
    assert page.get_by_role("heading", name="Connectors").is_visible()
    assert "E2E-IPOD @ wh: \u22122" in page.get_by_role("table", name="Oversold orders").inner_text()
    check_accessibility(page)
    screenshot(page, "connectors")

    page.get_by_role("link", name="Dead letters").first.click()
    page.get_by_role("link").filter(has_text=":").first.click()  # the newest letter, by its date
    assert "E2E-NANO" in page.locator("pre.payload").inner_text()
    assert page.url.endswith(letter["id"])
    check_accessibility(page)
    screenshot(page, "dead-letter")
    page.get_by_role("button", name="Replay").click()
    assert page.get_by_role("status").inner_text() == "Still cannot be mapped: see the reason."

    _ok(shop.api.post("/api/v1/products", json={"sku": "E2E-NANO", "name": "iPod Nano 2", "category": "music"}))
    page.get_by_role("button", name="Replay").click()
    assert page.get_by_role("status").inner_text() == "Replayed."
    assert page.get_by_role("button", name="Replay").count() == 0

    spanish = new_page(locale="es-ES")
    log_in(spanish, shop, "admin")
    spanish.goto("/connectors")
    assert spanish.get_by_role("heading", name="Conectores").is_visible()
