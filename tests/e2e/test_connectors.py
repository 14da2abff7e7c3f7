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


def _stripe_event(shop: Shop, secret: str, event_id: str) -> None:
    """A signed Stripe event the hub records and does not act on (stored, then applied by the worker)."""
    import time

    body = json.dumps({"id": event_id, "object": "event", "type": "customer.created",
                       "data": {"object": {"id": "cus_e2e"}}}).encode()
    stamp = int(time.time())
    v1 = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    answer = _ok(shop.api.post("/api/v1/connectors/stripe/webhooks", content=body, headers={
        "Stripe-Signature": f"t={stamp},v1={v1}", "Content-Type": "application/json"}))
    assert answer["outcome"] == "queued"


def test_payment_notifications_listed_by_status_and_opened(new_page, shop: Shop) -> None:
    import subprocess
    import sys

    whsec = "whsec_e2e_console"
    _ok(shop.api.post("/api/v1/channels", json={"code": "stripe-e2e", "name": "Stripe shop", "kind": "web",
                                                "currency": "EUR", "country": "ES", "locations": ["wh"]}))
    _ok(shop.api.put("/api/v1/channels/stripe-e2e/payment-providers/stripe", json={
        "secret_key": "sk_test_e2e", "webhook_secret": whsec, "api_base": "https://api.stripe-e2e.invalid"}))
    _stripe_event(shop, whsec, "evt_e2e_console_1")
    subprocess.run([sys.executable, "-m", "omnihub.cli", "worker", "--once"], env=shop.env, capture_output=True,
                   timeout=120, check=True)  # applies it

    page = new_page()
    log_in(page, shop, "admin")
    page.goto("/connectors")
    page.get_by_role("link", name="Payment notifications").click()
    assert page.get_by_role("heading", name="Payment notifications").is_visible()
    assert "No payment notifications." in page.get_by_role("table").inner_text()  # none failed: the default
    page.get_by_label("Status").select_option("done")
    page.get_by_role("button", name="Filter").click()
    table = page.get_by_role("table").inner_text()
    assert "evt_e2e_console_1" in table and "applied" in table and "stripe" in table
    check_accessibility(page)
    screenshot(page, "payment-notifications")

    page.get_by_role("link").filter(has_text=":").first.click()  # the newest, by its date
    assert page.get_by_role("heading", name="Payment notification").is_visible()
    assert "evt_e2e_console_1" in page.locator("pre.payload").inner_text()
    assert page.get_by_role("button", name="Retry").count() == 0  # applied: nothing to retry
    check_accessibility(page)

    spanish = new_page(locale="es-ES")
    log_in(spanish, shop, "admin")
    spanish.goto("/connectors/payment-notifications?status=done")
    assert spanish.get_by_role("heading", name="Notificaciones de pago").is_visible()
    assert "aplicada" in spanish.get_by_role("table").inner_text()
