"""The authorization matrix: every route of the app x every caller, through HTTP.

The routes come from `app.routes` (not from a list kept by hand), so a route added without a row here makes
`test_every_route_has_a_row` FAIL and name the route. The callers are:

    admin            an admin key
    channel_own      a channel key of the resource's channel ("web")
    channel_other    a channel key of another channel ("market")
    associate_own    an associate key of the resource's store ("mad")
    associate_other  an associate key of another store ("bcn")
    agent, marketer  keys of those roles
    anonymous        no key at all

and the outcome classes are OK (2xx), DENIED (403 `role_not_allowed` / `channel_not_allowed` /
`location_not_allowed`), HIDDEN (404 `*_not_found`: out of scope reads as unknown) and NOAUTH (401).

The world (`World`) is one shop: a warehouse `wh` and stores `mad`, `bcn`; channels `web` (wh, mad, bcn),
`store` (a store channel: mad, bcn) and `market` (a marketplace: wh); products TEE, MUG and SCARF (SCARF is
stocked only at `mad`, so an order of it ships from there); a customer; and orders, carts, returns, drafts...
that belong to `web` and `mad`. "own" and "other" are always relative to that.

How to add a row (after `git merge main`, for each route the test names):

1. Add an entry to `ROWS` keyed exactly as the failure message spells it: `"METHOD /path/{param}"`.
2. `call`: a function `(world, caller) -> Call(path, json=..., params=...)` that fills the path with a REAL
   resource from the world. When the request changes what it touches (cancel, submit, delete...), make a
   fresh resource per call with the world's factories (`w.pickup_order()`, `w.draft()`, ...) so every
   allowed caller gets a real 2xx. Most rows ignore `caller`; use it only where the allowed request
   itself differs by caller (an associate sells at its counter, a channel key ships).
3. `expect`: the outcome per caller, usually `allow(ADMIN, CHANNEL_OWN, ..., hidden=(CHANNEL_OTHER,))`:
   callers listed are OK, `hidden` ones get 404, everyone else with a key gets 403 and `anonymous` 401.
   `public()` lets everyone in (anonymous too).
4. A list route also gets `leaks`: a function `(world, caller, page) -> [what it may not see]`, so a list
   that shows a channel key another channel's orders fails even though its answer is a 200.
5. Run `pytest tests/integration/security/test_authorization_matrix.py -k "<your route>"`. Denied and
   hidden callers are tried first, so a wrongly allowed write shows up as a failure, not as a changed world.

The full matrix runs on SQLite; `test_scoped_routes_on_postgres` runs the rows where scope decides (orders,
returns, carts, reservations, messages) on PostgreSQL too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from fastapi.testclient import TestClient
from tests.conftest import SECRET, _truncate_all
from tests.integration.service.meta import threaded

from omnihub.app import create_app
from omnihub.commerce import access
from omnihub.config import Settings
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.errors import NotFound
from omnihub.core.security import Principal, Role, create_api_key
from omnihub.worker import run_worker

ADMIN, CHANNEL_OWN, CHANNEL_OTHER = "admin", "channel_own", "channel_other"
ASSOCIATE_OWN, ASSOCIATE_OTHER, AGENT, MARKETER, ANONYMOUS = (
    "associate_own", "associate_other", "agent", "marketer", "anonymous")
CALLERS = (ADMIN, CHANNEL_OWN, CHANNEL_OTHER, ASSOCIATE_OWN, ASSOCIATE_OTHER, AGENT, MARKETER, ANONYMOUS)
KEYED = CALLERS[:-1]

OK, DENIED, HIDDEN, NOAUTH = "OK", "DENIED 403", "HIDDEN 404", "NOAUTH 401"

ADDRESS = {"line1": "Gran Via 1", "city": "Madrid", "postal_code": "28013", "country": "ES",
           "lat": 40.42, "lon": -3.70}
PRICES = {"TEE": "20.00", "MUG": "10.00", "SCARF": "30.00"}
AUTOMATION = {"name": "Carrito", "trigger": {"event": "cart.abandoned"}, "conditions": [],
              "steps": [{"action": "send", "channel": "email", "template": "abandoned_cart"}], "active": True}
META_SECRET, META_PAGE = "matrix-app-secret", "17841400000000001"
STRIPE_SECRET = "whsec_matrix"
REDSYS_KEY = "sq7HjrUOBfKmC576ILgskD5srU870gJ7"
# API routes a provider calls without a key: they are authenticated by what the request carries (Meta's verify
# token, the X-Hub-Signature-256 of the body), so every caller with a correct request gets in; a wrong one is
# refused (tests/integration/service/test_meta.py).
# Authenticated by what the request carries, not by a key: providers' signatures (Meta, Shopify, WooCommerce,
# Stripe, Redsys, PayPal, BTCPay) and the unguessable tokens of CSAT and automation links.
SIGNED_NOT_KEYED = {
    "GET /api/v1/connectors/meta/webhooks",
    "POST /api/v1/connectors/meta/webhooks",
    "GET /api/v1/csat/{token}",
    "POST /api/v1/csat/{token}",
    "POST /api/v1/connectors/shopify/{channel}/webhooks",
    "POST /api/v1/connectors/woocommerce/{channel}/webhooks",
    "GET /api/v1/automation/u/{token}",
    "POST /api/v1/automation/u/{token}",
    "GET /api/v1/automation/o/{token}.gif",
    "GET /api/v1/automation/c/{token}/{index}",
    "GET /api/v1/automation/nps/{token}",
    "POST /api/v1/automation/nps/{token}",
    "POST /api/v1/connectors/stripe/webhooks",
    "POST /api/v1/connectors/redsys/webhooks",
    "POST /api/v1/connectors/paypal/webhooks",
    "POST /api/v1/connectors/btcpay/webhooks",
    # The customer's return from a provider: verified with the provider (or Redsys' signature), never by a key.
    "GET /api/v1/connectors/stripe/return",
    "GET /api/v1/connectors/redsys/return",
    "GET /api/v1/connectors/paypal/return",
    "GET /api/v1/connectors/btcpay/return",
}
SHOPIFY_SECRET, WOO_SECRET = "matrix-shopify-secret", "matrix-woo-secret"


def allow(*allowed: str, hidden: tuple[str, ...] = ()) -> dict[str, str]:
    """Listed callers are OK, `hidden` ones get 404, every other key 403, no key 401."""
    return {c: OK if c in allowed else HIDDEN if c in hidden else NOAUTH if c == ANONYMOUS else DENIED
            for c in CALLERS}


def public() -> dict[str, str]:
    return dict.fromkeys(CALLERS, OK)


EVERY_KEY = KEYED
NOT_BACKED = dict.fromkeys(CALLERS, "401 return_not_verified")


@dataclass
class Call:
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    content: bytes | None = None  # a raw body (e-mail, a signed webhook) instead of JSON
    headers: dict[str, str] | None = None


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


IMPORT_MAPPING = "channel: web\nsystem: matrix\nentities:\n  product:\n    fields: {sku: SKU, name: Name}\n"


def _import_upload() -> Call:
    """A multipart upload (a one-row CSV and its mapping) for `POST /imports`."""
    boundary = "matrixboundary"
    parts = [("file", 'filename="p.csv"', "text/csv", f"SKU,Name\n{_unique('IMP')},Lamp\n"),
             ("mapping", "", "text/plain", IMPORT_MAPPING)]
    body = "".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"" + (f"; {extra}" if extra else "")
                   + f"\r\nContent-Type: {kind}\r\n\r\n{value}\r\n" for name, extra, kind, value in parts)
    body += f"--{boundary}--\r\n"
    return Call(f"{V1}/imports", content=body.encode(),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


def _import_job(w: Any) -> str:
    if "import" not in w.ids:
        call = _import_upload()
        w.ids["import"] = _ok(w.api.post(call.path, content=call.content, headers={**w.keys[ADMIN], **call.headers}),
                              202)["id"]
    return w.ids["import"]


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@dataclass
class World:
    """One shop, its keys and the resources the rows act on (all made through the public API)."""

    api: TestClient
    db: Database
    clock: ManualClock
    settings: Settings
    keys: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    # ---- setup -----------------------------------------------------------------------------------------------

    def key(self, role: str, **scope: str) -> dict[str, str]:
        with self.db.transaction() as conn:
            _, raw = create_api_key(conn, self.clock, SECRET, role=role, **scope)
        return {"Authorization": f"Bearer {raw}"}

    def post(self, path: str, body: Any, status: int = 201, headers: dict[str, str] | None = None) -> Any:
        return _ok(self.api.post(f"/api/v1{path}", json=body, headers=headers or self.keys[ADMIN]), status)

    def put(self, path: str, body: Any = None, status: int = 200) -> Any:
        return _ok(self.api.put(f"/api/v1{path}", json=body, headers=self.keys[ADMIN]), status)

    def build(self) -> World:
        self.keys = {ADMIN: self.key("admin"), CHANNEL_OWN: self.key("channel", channel="web"),
                     CHANNEL_OTHER: self.key("channel", channel="market"),
                     ASSOCIATE_OWN: self.key("associate", location="mad"),
                     ASSOCIATE_OTHER: self.key("associate", location="bcn"),
                     AGENT: self.key("agent"), MARKETER: self.key("marketer"), ANONYMOUS: {}}
        for code, kind, lat, lon, pickup in (("wh", "warehouse", 40.35, -3.70, False),
                                             ("mad", "store", 40.4168, -3.7038, True),
                                             ("bcn", "store", 41.3874, 2.1686, True)):
            self.post("/locations", {"code": code, "name": code.title(), "kind": kind, "lat": lat, "lon": lon,
                                     "pickup": pickup})
        for sku in PRICES:
            self.post("/products", {"sku": sku, "name": f"Product {sku}", "category": "apparel"})
        for code, kind, locations in (("web", "web", ["wh", "mad", "bcn"]), ("store", "store", ["mad", "bcn"]),
                                      ("market", "marketplace", ["wh"])):
            self.post("/channels", {"code": code, "name": code.title(), "kind": kind, "currency": "EUR",
                                    "country": "ES", "locations": locations, "stock_buffer": 0})
            self.put(f"/channels/{code}/prices", [{"sku": s, "amount": a} for s, a in PRICES.items()])
        for location, sku, units in (("wh", "TEE", 10_000), ("wh", "MUG", 10_000), ("mad", "TEE", 10_000),
                                     ("mad", "MUG", 10_000), ("mad", "SCARF", 10_000), ("bcn", "TEE", 10_000)):
            self.put(f"/stock/{location}/{sku}", {"on_hand": units})
        ids = self.ids
        ids["order"] = self.pickup_order()
        ids["customer"] = _ok(self.api.get(f"/api/v1/orders/{ids['order']}", headers=self.keys[ADMIN]))[
            "customer_id"]
        self.post("/orders", {  # the same customer buys on the marketplace too: another channel's order
            "channel": "market", "customer": {"email": "ana.garcia@correo.es"},
            "lines": [{"sku": "MUG", "quantity": 1}], "fulfilment": {"type": "ship", "address": ADDRESS},
            "payments": [{"method": "card", "amount": PRICES["MUG"]}]})
        ready = self.ready_order()
        ids["ready_order"] = ready["id"]
        ids["invoice"] = self.api.get(f"/api/v1/orders/{ids['order']}", headers=self.keys[ADMIN]).json()[
            "invoice_number"]
        ids["return"] = self.returned()
        ids["credit_note"] = self.api.get(f"/api/v1/returns/{ids['return']}", headers=self.keys[ADMIN]).json()[
            "credit_note"]
        ids["cart"] = self.cart()
        ids["draft"] = self.draft()
        ids["reservation"] = self.reservation()
        ids["merge"] = self.merge()
        ids["automation"] = self.automation()
        ids["segment"] = self.segment()
        ids["promotion"] = self.post("/promotions", {"code": _unique("P"), "kind": "percent", "value": "10"},
                                     headers=self.keys[MARKETER])["id"]
        ids["price_list"] = self.post("/price-lists", {"code": _unique("pl"), "name": "B2B", "currency": "EUR"})[
            "code"]
        ids["payment_method"] = self.post("/payment-methods", {"code": _unique("pm"), "name": "Voucher"})["code"]
        self.put("/tax-rates/standard/ES", {"rate": "21.00"})
        ids["webhook"], ids["delivery"] = self.dead_delivery()
        return self

    # ---- factories: a fresh resource in the `web` channel / at the `mad` store --------------------------------

    def automation(self) -> str:
        return str(self.post("/automations", AUTOMATION, headers=self.keys[MARKETER], status=201)["id"])

    def survey_token(self) -> str:
        """An NPS survey an automation sent (answered once per token: each call makes a new one)."""
        return self.automation_token(template="nps_survey", to=f"{_unique('nps')}@correo.es")

    def automation_token(self, template: str | None = None, to: str = "ana@correo.es") -> str:
        """A message an automation sent (its token opens the unsubscribe page, the pixel and its tracked link)."""
        from omnihub.automation.models import automation_messages

        token = _unique("tok")
        with self.db.transaction() as conn:
            conn.execute(automation_messages.insert(), dict(
                id=_unique("amsg"), rule_id=self.ids["automation"], run_id="run_x", customer_id=None,
                channel="email", purpose="email_marketing", to=to, subject="Hola", body="Hola",
                links=["http://testserver/healthz"], token=token, status="sent", attempts=1, template=template,
                created_at=self.clock.now()))
        return token

    def segment(self) -> str:
        rule = {"name": _unique("seg"), "conditions": [{"field": "customer.orders_count", "op": ">=", "value": 1}]}
        return str(self.post("/segments", rule, headers=self.keys[MARKETER], status=201)["id"])

    def audience(self) -> str:
        """An ad audience with one member (the audience step's table, written as that step would)."""
        from omnihub.automation.models import automation_audience_members

        name, customer = _unique("aud"), self.customer()
        with self.db.transaction() as conn:
            conn.execute(automation_audience_members.insert(), dict(audience=name, customer_id=customer,
                                                                    added_at=self.clock.now()))
        return name

    def audience_export(self) -> str:
        """The path of a recorded export of an audience (its adds file)."""
        name = self.audience()
        export = self.post(f"/audiences/{name}/exports", {"format": "meta"}, headers=self.keys[MARKETER], status=201)
        return f"/audiences/{name}/exports/{export['id']}/adds.csv"

    def consented_customer(self) -> str:
        """A customer who agreed to marketing e-mail (what a back-in-stock subscription needs)."""
        customer = self.customer()
        self.put(f"/customers/{customer}/consents/email_marketing", {"granted": True})
        return customer

    def customer(self) -> str:
        return str(self.post("/customers", {"name": "Ana", "identities": [
            {"kind": "email", "value": f"{_unique('ana')}@correo.es"}]}, status=201)["id"])

    def pickup_order(self, paid: str = PRICES["TEE"]) -> str:
        return str(self.post("/orders", {
            "channel": "web", "customer": {"email": "ana.garcia@correo.es", "phone": "+34 600 111 222"},
            "lines": [{"sku": "TEE", "quantity": 1}], "fulfilment": {"type": "pickup", "location": "mad"},
            "payments": [{"method": "card", "amount": paid}]})["id"])

    def ready_order(self) -> dict[str, Any]:
        """A pickup order ready at `mad`, with its code (an admin sees it)."""
        return self.post(f"/orders/{self.pickup_order()}/ready", None, status=200)  # type: ignore[no-any-return]

    def collected_order(self) -> str:
        ready = self.ready_order()
        self.post(f"/orders/{ready['id']}/collect", {"code": ready["pickup"]["code"]}, status=200)
        return str(ready["id"])

    def returned(self) -> str:
        return str(self.post("/returns", {"order": self.collected_order(), "lines": [{"sku": "TEE", "quantity": 1}],
                                          "location": "mad", "condition": "resellable"})["id"])

    def ship_order(self) -> str:
        """A web order shipped from `mad` (only `mad` stocks SCARF)."""
        return str(self.post("/orders", {
            "channel": "web", "customer": {"email": "ana.garcia@correo.es"}, "lines": [{"sku": "SCARF", "quantity": 1}],
            "fulfilment": {"type": "ship", "address": ADDRESS},
            "payments": [{"method": "card", "amount": PRICES["SCARF"]}]})["id"])

    def shipment(self) -> tuple[str, str]:
        order = self.ship_order()
        shipment = self.post(f"/orders/{order}/shipments", {"carrier": "seur", "tracking_number": _unique("T"),
                                                             "location": "mad"})
        return order, str(shipment["id"])

    def cart(self) -> str:
        cart = self.post("/carts", {"channel": "web", "identity": {"email": "lucia@correo.es"}},
                         headers=self.keys[CHANNEL_OWN])
        _ok(self.api.put(f"/api/v1/carts/{cart['id']}/lines", json=[{"sku": "MUG", "quantity": 1}],
                         headers=self.keys[CHANNEL_OWN]))
        return str(cart["id"])

    def draft(self) -> str:
        body = {"draft": True, "channel": "web", "customer": {"email": "b2b@norte.es"},
                "lines": [{"sku": "MUG", "quantity": 2}]}
        return str(self.post("/orders", body, headers=self.keys[CHANNEL_OWN])["id"])

    def reservation(self) -> str:
        return str(self.post("/reservations", {"channel": "web", "lines": [{"sku": "MUG", "quantity": 1}]})["id"])

    def merge(self) -> str:
        return str(self.post(f"/customers/{self.customer()}/merge", {"other": self.customer()})["id"])

    def suggestion(self) -> str:
        """Two profiles with different verified e-mails that one event ties together: a suggestion, not a merge."""
        phone, loyalty = f"6{uuid.uuid4().int % 10**8:08d}", _unique("L-")
        self.post("/customers", {"identities": [{"kind": "email", "value": f"{_unique('a')}@correo.es",
                                                 "verified": True}, {"kind": "phone", "value": phone}],
                                 "channel": "web"})
        self.post("/customers", {"identities": [{"kind": "email", "value": f"{_unique('b')}@correo.es",
                                                 "verified": True}, {"kind": "loyalty", "value": loyalty}],
                                 "channel": "web"})
        self.post("/events", [{"type": "store_visit", "channel": "web", "identity": {"phone": phone,
                                                                                     "loyalty": loyalty}}], 200)
        items = _ok(self.api.get("/api/v1/customers/merge-suggestions", params={"status": "open", "limit": 500},
                                 headers=self.keys[ADMIN]))["items"]
        return str(items[0]["id"])

    def dead_delivery(self) -> tuple[str, str]:
        hook = self.post("/webhooks", {"url": "https://omnihub-matrix.invalid/hook", "events": ["product.*"]})
        self.post("/products", {"sku": _unique("HOOK"), "name": "Hooked", "category": "apparel"})
        run_worker(self.settings.model_copy(update={"webhook_max_attempts": 1}), clock=self.clock, once=True,
                   db=self.db)
        items = _ok(self.api.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=self.keys[ADMIN]))["items"]
        assert items and items[0]["status"] == "dead", items
        return str(hook["id"]), str(items[0]["id"])

    def tagged(self) -> str:
        customer = self.customer()
        assert self.api.put(f"/api/v1/customers/{customer}/tags/vip", headers=self.keys[ADMIN]).status_code == 204
        return customer

    def webhook(self) -> str:
        return str(self.post("/webhooks", {"url": "https://hooks.example.com/gone", "events": ["order.*"]})["id"])

    # ---- service desk ---------------------------------------------------------------------------------------

    def meta(self) -> None:
        """An Instagram connection on the `web` channel (replies are only queued here: nothing is sent)."""
        if "meta" not in self.ids:
            self.put("/connectors/meta/web", {"app_secret": META_SECRET, "verify_token": "matrix-verify",
                                              "access_token": "EAAG-matrix", "page_id": META_PAGE,
                                              "api_base": "https://graph.omnihub-matrix.invalid/v21.0"}, status=201)
            self.ids["meta"] = True

    def gift_card(self) -> str:
        """A gift card's code (issued once per world)."""
        if "gift_card" not in self.ids:
            self.ids["gift_card"] = self.post("/gift-cards", {"amount": "50.00", "currency": "EUR"})["code"]
        return str(self.ids["gift_card"])

    def stripe(self) -> None:
        """A Stripe account on the `web` channel (an address that resolves nowhere: nothing is sent)."""
        if "stripe" not in self.ids:
            self.put("/channels/web/payment-providers/stripe", {
                "secret_key": "sk_test_matrix", "webhook_secret": STRIPE_SECRET,
                "api_base": "https://api.stripe-matrix.invalid"}, status=201)
            self.ids["stripe"] = True

    def stripe_event(self) -> Call:
        """A signed Stripe event the hub does not act on (recorded once, changes nothing)."""
        self.stripe()
        body = json.dumps({"id": _unique("evt_"), "object": "event", "type": "customer.created",
                           "data": {"object": {"id": "cus_1"}}}).encode()
        stamp = int(time.time())
        v1 = hmac.new(STRIPE_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        return Call(f"{V1}/connectors/stripe/webhooks", content=body,
                    headers={"Stripe-Signature": f"t={stamp},v1={v1}", "Content-Type": "application/json"})

    def payment_notification(self) -> str:
        """A stored (pending) Stripe notification's id."""
        if "payment_notification" not in self.ids:
            call = self.stripe_event()
            _ok(self.api.post(call.path, content=call.content, headers=call.headers), 200)
            stored = _ok(self.api.get(f"{V1}/payment-notifications", headers=self.keys[ADMIN]), 200)
            self.ids["payment_notification"] = stored["items"][0]["id"]
        return str(self.ids["payment_notification"])

    def redsys_notification(self) -> Call:
        """A signed Redsys notification about an order the hub never sent (recorded, changes nothing)."""
        if "redsys" not in self.ids:
            self.put("/channels/web/payment-providers/redsys", {
                "secret": REDSYS_KEY, "merchant_code": "999008881", "terminal": "1"}, status=201)
            self.ids["redsys"] = True
        from omnihub.billing.providers import redsys

        order = f"{uuid.uuid4().int % 10000:04d}{uuid.uuid4().hex[:8]}"
        encoded = redsys.encode_parameters({"Ds_Order": order, "Ds_MerchantCode": "999008881", "Ds_Response": "0000",
                                            "Ds_Amount": "100", "Ds_Currency": "978", "Ds_TransactionType": "0"})
        return Call(f"{V1}/connectors/redsys/webhooks", content=urlencode({
            "Ds_SignatureVersion": "HMAC_SHA256_V1", "Ds_MerchantParameters": encoded,
            "Ds_Signature": redsys.sign(REDSYS_KEY, order, encoded)}).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"})

    def paypal_event(self) -> Call:
        """A PayPal event the hub does not act on; PayPal's verification answered by a local receiver."""
        if "paypal" not in self.ids:
            from tests.provider_receiver import ProviderReceiver

            receiver = ProviderReceiver().start()
            receiver.route("POST", "/v1/oauth2/token", (200, {"access_token": "t", "expires_in": 900}))
            receiver.route("POST", "/v1/notifications/verify-webhook-signature",
                           (200, {"verification_status": "SUCCESS"}))
            self.put("/channels/web/payment-providers/paypal", {
                "client_id": "c", "client_secret": "s", "webhook_id": "WH1", "api_base": receiver.base}, status=201)
            self.ids["paypal"] = receiver
        body = json.dumps({"id": _unique("WH-"), "event_type": "CUSTOMER.DISPUTE.CREATED", "resource": {}}).encode()
        return Call(f"{V1}/connectors/paypal/webhooks", content=body, headers={
            "PAYPAL-AUTH-ALGO": "SHA256withRSA", "PAYPAL-CERT-URL": "https://api.paypal.com/v1/notifications/certs/C",
            "PAYPAL-TRANSMISSION-ID": "t1", "PAYPAL-TRANSMISSION-SIG": "sig", "PAYPAL-TRANSMISSION-TIME": "now",
            "Content-Type": "application/json"})

    def btcpay_event(self) -> Call:
        """A signed BTCPay event the hub does not act on."""
        if "btcpay" not in self.ids:
            self.put("/channels/web/payment-providers/btcpay", {
                "api_key": "k", "webhook_secret": STRIPE_SECRET, "store_id": "S1",
                "api_base": "https://btcpay-matrix.invalid"}, status=201)
            self.ids["btcpay"] = True
        body = json.dumps({"deliveryId": _unique("d"), "type": "InvoiceCreated", "storeId": "S1",
                           "invoiceId": "I1"}).encode()
        sig = "sha256=" + hmac.new(STRIPE_SECRET.encode(), body, hashlib.sha256).hexdigest()
        return Call(f"{V1}/connectors/btcpay/webhooks", content=body,
                    headers={"BTCPay-Sig": sig, "Content-Type": "application/json"})

    def instagram_dm(self) -> Call:
        """A signed Instagram message from a new person, as Meta posts it."""
        self.meta()
        body = json.dumps({"object": "instagram", "entry": [{"id": META_PAGE, "time": 1, "messaging": [{
            "sender": {"id": str(uuid.uuid4().int % 10**15)}, "recipient": {"id": META_PAGE},
            "timestamp": 1767603600000, "message": {"mid": _unique("mid."), "text": "Hola"}}]}]}).encode()
        signature = "sha256=" + hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()
        return Call(f"{V1}/connectors/meta/webhooks", content=body,
                    headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"})

    def conversation(self) -> str:
        """A new person's Instagram conversation (replies can go back there)."""
        call = self.instagram_dm()
        threaded(self.api, self.api.post(call.path, content=call.content, headers=call.headers))  # + the worker
        items = _ok(self.api.get("/api/v1/conversations", params={"limit": 1}, headers=self.keys[ADMIN]))["items"]
        return str(items[0]["id"])

    def email(self) -> Call:
        raw = (f"From: Ana <{_unique('ana')}@correo.es>\r\nTo: support@omnihub.local\r\n"
               f"Message-ID: <{_unique('m')}@correo.es>\r\nSubject: Hola\r\n\r\nHola\r\n").encode()
        return Call(f"{V1}/connectors/email/inbound", content=raw, headers={"Content-Type": "message/rfc822"})

    def emailed(self) -> tuple[str, str]:
        """An e-mailed conversation and its message (the original is kept)."""
        call = self.email()
        headers = {**self.keys[ADMIN], **(call.headers or {})}
        receipt = _ok(self.api.post(call.path, content=call.content, headers=headers), 201)
        return str(receipt["conversation_id"]), str(receipt["message_id"])

    def template(self) -> str:
        return str(self.post("/reply-templates", {"code": _unique("t"), "name": "T", "body": "Hola"})["code"])

    def article(self) -> str:
        return str(self.post("/kb/articles", {"language": "en", "title": "Returns", "body": "30 days."})["id"])
    def team(self, member: str | None = None) -> str:
        code = _unique("team")
        self.post("/teams", {"code": code, "name": "Equipo"})
        if member:
            self.put(f"/teams/{code}/members/{member}", status=201)
        return code

    def routing_rule(self) -> str:
        return str(self.post("/routing-rules", {"channel": "email", "team": self.team()})["id"])

    def survey(self) -> str:
        """A satisfaction survey of a resolved conversation (its token is the answer link's credential)."""
        from omnihub.service import csat, replies

        cid = self.conversation()
        _ok(self.api.post(f"/api/v1/conversations/{cid}/resolve", headers=self.keys[ADMIN]))
        with self.db.transaction() as conn:
            return str(csat.ask(conn, self.clock, cid, outlets=replies.Outlets(smtp=False, mailbox="s@x.es"),
                                link_base="", actor="matrix")["token"])
    # ---- shop connectors ------------------------------------------------------------------------------------

    def shop_connections(self) -> None:
        """Shopify and WooCommerce connections on `web` (their shops are never reached here: nothing is pushed)."""
        if "shops" not in self.ids:
            self.put("/connectors/shopify/web", {
                "shop_domain": "omnihub-matrix.myshopify.com", "webhook_secret": SHOPIFY_SECRET,
                "access_token": "shpat-matrix", "api_base": "https://omnihub-matrix.invalid",
                "default_location": "wh"}, status=201)
            self.put("/connectors/woocommerce/web", {
                "site_url": "https://woo.omnihub-matrix.invalid", "webhook_secret": WOO_SECRET,
                "consumer_key": "ck_matrix", "consumer_secret": "cs_matrix", "default_location": "wh"}, status=201)
            self.ids["shops"] = True

    def shopify_order(self, sku: str = "MUG") -> Call:
        """A signed orders/create from the shop (a new order each time)."""
        self.shop_connections()
        body = json.dumps({"id": uuid.uuid4().int % 10**12, "name": "#M1", "currency": "EUR",
                           "financial_status": "paid", "total_price": "10.00", "total_tax": "0.00",
                           "line_items": [{"sku": sku, "quantity": 1, "price": "10.00"}]}).encode()
        digest = base64.b64encode(hmac.new(SHOPIFY_SECRET.encode(), body, hashlib.sha256).digest()).decode()
        return Call(f"{V1}/connectors/shopify/web/webhooks", content=body, headers={
            "X-Shopify-Hmac-Sha256": digest, "X-Shopify-Topic": "orders/create",
            "X-Shopify-Webhook-Id": _unique("wh"), "Content-Type": "application/json"})

    def woo_order(self) -> Call:
        self.shop_connections()
        body = json.dumps({"id": uuid.uuid4().int % 10**9, "number": "M1", "status": "processing",
                           "currency": "EUR", "total": "10.00", "total_tax": "0.00",
                           "line_items": [{"sku": "MUG", "quantity": 1, "subtotal": "10.00", "total": "10.00",
                                           "total_tax": "0.00"}]}).encode()
        digest = base64.b64encode(hmac.new(WOO_SECRET.encode(), body, hashlib.sha256).digest()).decode()
        return Call(f"{V1}/connectors/woocommerce/web/webhooks", content=body, headers={
            "X-WC-Webhook-Signature": digest, "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Delivery-ID": _unique("d"), "Content-Type": "application/json"})

    def dead_letter(self) -> str:
        """An order of a SKU the hub does not sell: kept as a dead letter."""
        call = self.shopify_order(sku="NOT-SOLD-HERE")
        return str(_ok(self.api.post(call.path, content=call.content, headers=call.headers))["dead_letter"]["id"])


def _checkout(w: World, caller: str) -> Call:
    """Channel keys check out in their own channel (shipping); associates at their counter, in the store
    channel that sells there."""
    cart = w.cart()
    if caller.startswith("associate"):
        return Call(f"/api/v1/carts/{cart}/checkout", {
            "channel": "store", "fulfilment": {"type": "in_store", "location": "mad"},
            "payments": [{"method": "card", "amount": PRICES["MUG"]}]})
    return Call(f"/api/v1/carts/{cart}/checkout", {"fulfilment": {"type": "ship", "address": ADDRESS}})


def _new_order(w: World, caller: str) -> Call:
    if caller.startswith("associate"):  # a counter sale in the store channel, at `mad`
        return Call("/api/v1/orders", {"channel": "store", "lines": [{"sku": "MUG", "quantity": 1}],
                                       "fulfilment": {"type": "in_store", "location": "mad"},
                                       "payments": [{"method": "card", "amount": PRICES["MUG"]}]})
    return Call("/api/v1/orders", {"channel": "web", "lines": [{"sku": "MUG", "quantity": 1}],
                                   "fulfilment": {"type": "pickup", "location": "mad"},
                                   "payments": [{"method": "card", "amount": PRICES["MUG"]}]})


def _collect(w: World, caller: str) -> Call:
    ready = w.ready_order()
    return Call(f"/api/v1/orders/{ready['id']}/collect", {"code": ready["pickup"]["code"]})


Leak = Callable[[World, str, Any], list[str]]


@dataclass(frozen=True)
class Row:
    call: Callable[[World, str], Call]
    expect: dict[str, str]
    scoped: bool = False  # also run on PostgreSQL
    leaks: Leak | None = None  # for lists: what an allowed caller was shown that it may not see


def _erp_config() -> dict[str, str]:
    return {"endpoint": "https://erp.example.com/api", "token": "erp-token", "mapping": (
        "customer_prefix: C\nguest_customer: C0\narticles: {TEE: '1'}\ntax_codes: {21: G21}\n"
        "payment_methods: {card: TJ}\ndate_format: '%d/%m/%Y'\nseries: {invoice: FV, credit_note: FR}\n"
        "warehouses: {'01': wh}\ninbound: {stock: {article: A, warehouse: W, on_hand: N, reference: R}, "
        "prices: {article: A, price: P, reference: R, channel: web}}\n")}


def row(call: Callable[[World], Call] | Callable[[World, str], Call], expect: dict[str, str], *,
        scoped: bool = False, by_caller: bool = False, leaks: Leak | None = None) -> Row:
    if by_caller:
        return Row(call, expect, scoped, leaks)  # type: ignore[arg-type]
    return Row(lambda w, _caller: call(w), expect, scoped, leaks)  # type: ignore[call-arg]


PRINCIPALS = {ADMIN: Principal("k", Role.ADMIN), CHANNEL_OWN: Principal("k", Role.CHANNEL, channel="web"),
              CHANNEL_OTHER: Principal("k", Role.CHANNEL, channel="market"),
              ASSOCIATE_OWN: Principal("k", Role.ASSOCIATE, location="mad"),
              ASSOCIATE_OTHER: Principal("k", Role.ASSOCIATE, location="bcn"),
              AGENT: Principal("k", Role.AGENT), MARKETER: Principal("k", Role.MARKETER)}


def _order_leaks(w: World, caller: str, page: Any) -> list[str]:
    """Orders in a list the caller could not open one by one (commerce.access)."""
    return [f"order {o['id']} ({o['channel']})" for o in page["items"]
            if not access.can_see_order(PRINCIPALS[caller], o)]


def _channel_order_leaks(w: World, caller: str, page: Any) -> list[str]:
    """A customer's history: a channel key sees its own channel's orders in it; the others every channel's."""
    own = PRINCIPALS[caller].channel
    return [f"order {o['id']} ({o['channel']})" for o in page["items"] if own and o["channel"] != own]


def _return_leaks(w: World, caller: str, page: Any) -> list[str]:
    leaked = []
    for item in page["items"]:
        order = _ok(w.api.get(f"/api/v1/orders/{item['order']}", headers=w.keys[ADMIN]))
        try:
            access.check_return(PRINCIPALS[caller], item, order)
        except NotFound:
            leaked.append(f"return {item['id']} (order in {order['channel']}, taken at {item['location']})")
    return leaked


def _reservation_leaks(w: World, caller: str, page: Any) -> list[str]:
    own = PRINCIPALS[caller].channel
    return [f"reservation {r['id']} ({r['channel']})" for r in page["items"] if own and r["channel"] != own]


def I(name: str) -> Callable[[World], Any]:  # noqa: E743  (short: the world's id of a resource)
    return lambda w: w.ids[name]


V1 = "/api/v1"
SELLERS_OWN = allow(ADMIN, CHANNEL_OWN, ASSOCIATE_OWN, hidden=(CHANNEL_OTHER, ASSOCIATE_OTHER))
ORDER_READERS = allow(ADMIN, CHANNEL_OWN, ASSOCIATE_OWN, AGENT, hidden=(CHANNEL_OTHER, ASSOCIATE_OTHER))
CHANNEL_SCOPED = allow(ADMIN, CHANNEL_OWN, ASSOCIATE_OWN, ASSOCIATE_OTHER, AGENT, MARKETER)  # other channel: 403
CUSTOMER_READERS = allow(ADMIN, ASSOCIATE_OWN, ASSOCIATE_OTHER, AGENT, MARKETER)

ROWS: dict[str, Row] = {
    # ---- public -------------------------------------------------------------------------------------------
    "GET /healthz": row(lambda w: Call("/healthz"), public()),
    "GET /readyz": row(lambda w: Call("/readyz"), public()),
    "GET /openapi.json": row(lambda w: Call("/openapi.json"), public()),
    "GET /docs": row(lambda w: Call("/docs"), public()),
    "GET /docs/oauth2-redirect": row(lambda w: Call("/docs/oauth2-redirect"), public()),
    "GET /redoc": row(lambda w: Call("/redoc"), public()),
    # ---- catalog ------------------------------------------------------------------------------------------
    "POST /api/v1/products": row(lambda w: Call(f"{V1}/products", {"sku": _unique("S"), "name": "New",
                                                                    "category": "x"}), allow(ADMIN)),
    "PUT /api/v1/products/{sku}": row(lambda w: Call(f"{V1}/products/MUG", {"name": "Mug", "category": "apparel"}),
                                      allow(ADMIN)),
    "GET /api/v1/products": row(lambda w: Call(f"{V1}/products"), allow(*EVERY_KEY)),
    "GET /api/v1/products/{sku}": row(lambda w: Call(f"{V1}/products/TEE"), allow(*EVERY_KEY)),
    "POST /api/v1/channels": row(lambda w: Call(f"{V1}/channels", {"code": _unique("c"), "name": "C", "kind": "web",
                                                                    "currency": "EUR", "locations": ["wh"]}),
                                 allow(ADMIN)),
    "PATCH /api/v1/channels/{code}": row(lambda w: Call(f"{V1}/channels/web", {"name": "Web"}), allow(ADMIN)),
    "GET /api/v1/channels": row(lambda w: Call(f"{V1}/channels"), allow(*EVERY_KEY)),
    "GET /api/v1/channels/{code}": row(lambda w: Call(f"{V1}/channels/web"), CHANNEL_SCOPED),
    "GET /api/v1/channels/{code}/prices": row(lambda w: Call(f"{V1}/channels/web/prices"), CHANNEL_SCOPED),
    "PUT /api/v1/channels/{code}/prices": row(lambda w: Call(f"{V1}/channels/web/prices",
                                                             [{"sku": "TEE", "amount": PRICES["TEE"]}]), allow(ADMIN)),
    "POST /api/v1/price-lists": row(lambda w: Call(f"{V1}/price-lists", {"code": _unique("pl"), "name": "L",
                                                                          "currency": "EUR"}), allow(ADMIN)),
    "GET /api/v1/price-lists/{code}": row(lambda w: Call(f"{V1}/price-lists/{w.ids['price_list']}"),
                                          allow(ADMIN, AGENT)),
    "PUT /api/v1/price-lists/{code}/prices": row(lambda w: Call(f"{V1}/price-lists/{w.ids['price_list']}/prices",
                                                                [{"sku": "TEE", "amount": "12.00"}]), allow(ADMIN)),
    "PUT /api/v1/price-lists/{code}/customers/{customer_id}": row(
        lambda w: Call(f"{V1}/price-lists/{w.ids['price_list']}/customers/{w.ids['customer']}"), allow(ADMIN)),
    # ---- inventory ----------------------------------------------------------------------------------------
    "POST /api/v1/locations": row(lambda w: Call(f"{V1}/locations", {"code": _unique("l"), "name": "L",
                                                                      "kind": "store", "lat": 40.0, "lon": -3.0}),
                                  allow(ADMIN)),
    "GET /api/v1/locations": row(lambda w: Call(f"{V1}/locations"), allow(*EVERY_KEY)),
    "GET /api/v1/locations/{code}": row(lambda w: Call(f"{V1}/locations/mad"), allow(*EVERY_KEY)),
    "PUT /api/v1/stock/{location}/{sku}": row(lambda w: Call(f"{V1}/stock/mad/TEE", {"on_hand": 10_000}),
                                              allow(ADMIN, ASSOCIATE_OWN)),
    "GET /api/v1/stock/{sku}": row(lambda w: Call(f"{V1}/stock/TEE"), allow(*EVERY_KEY)),
    "GET /api/v1/stock/{location}/{sku}": row(lambda w: Call(f"{V1}/stock/mad/TEE"), allow(*EVERY_KEY)),
    "GET /api/v1/stock/{location}/{sku}/ledger": row(lambda w: Call(f"{V1}/stock/mad/TEE/ledger"),
                                                     allow(ADMIN, ASSOCIATE_OWN)),
    "POST /api/v1/stock/movements": row(lambda w: Call(f"{V1}/stock/movements", {"movements": [
        {"kind": "receipt", "location": "mad", "sku": "TEE", "quantity": 1}]}), allow(ADMIN, ASSOCIATE_OWN)),
    "PUT /api/v1/stock/{location}/{sku}/quotas/{channel}": row(
        lambda w: Call(f"{V1}/stock/mad/TEE/quotas/web", {"units": 0}), allow(ADMIN)),
    "GET /api/v1/availability/{sku}": row(lambda w: Call(f"{V1}/availability/TEE", params={"channel": "web"}),
                                          CHANNEL_SCOPED),
    "POST /api/v1/reservations": row(lambda w: Call(f"{V1}/reservations", {"channel": "web", "lines": [
        {"sku": "MUG", "quantity": 1}]}), allow(ADMIN, CHANNEL_OWN), scoped=True),
    "GET /api/v1/reservations/{reservation_id}": row(lambda w: Call(f"{V1}/reservations/{w.ids['reservation']}"),
                                                     allow(ADMIN, CHANNEL_OWN, hidden=(CHANNEL_OTHER,)), scoped=True),
    "DELETE /api/v1/reservations/{reservation_id}": row(lambda w: Call(f"{V1}/reservations/{w.reservation()}"),
                                                        allow(ADMIN, CHANNEL_OWN, hidden=(CHANNEL_OTHER,)),
                                                        scoped=True),
    "POST /api/v1/reservations/{reservation_id}/commit": row(
        lambda w: Call(f"{V1}/reservations/{w.reservation()}/commit"), allow(ADMIN, CHANNEL_OWN,
                                                                             hidden=(CHANNEL_OTHER,))),
    "GET /api/v1/reservations": row(lambda w: Call(f"{V1}/reservations", params={"limit": 500}),
                                    allow(ADMIN, CHANNEL_OWN, CHANNEL_OTHER), scoped=True, leaks=_reservation_leaks),
    "POST /api/v1/inventory/check": row(lambda w: Call(f"{V1}/inventory/check"), allow(ADMIN)),
    # ---- ERP connector (admin only) -----------------------------------------------------------------------
    "PUT /api/v1/connectors/erp": row(lambda w: Call(f"{V1}/connectors/erp", _erp_config()), allow(ADMIN)),
    "GET /api/v1/connectors/erp": row(lambda w: (w.put("/connectors/erp", _erp_config()),
                                                 Call(f"{V1}/connectors/erp"))[1], allow(ADMIN)),
    "GET /api/v1/connectors/erp/documents": row(lambda w: Call(f"{V1}/connectors/erp/documents",
                                                               params={"status": "held"}), allow(ADMIN)),
    "POST /api/v1/connectors/erp/stock": row(lambda w: (w.put("/connectors/erp", _erp_config()), Call(
        f"{V1}/connectors/erp/stock", [{"A": "1", "W": "01", "N": 5, "R": "REG-1"}]))[1], allow(ADMIN)),
    "POST /api/v1/connectors/erp/prices": row(lambda w: (w.put("/connectors/erp", _erp_config()), Call(
        f"{V1}/connectors/erp/prices", [{"A": "1", "P": PRICES["TEE"], "R": "T-1"}]))[1], allow(ADMIN)),
    # ---- webhooks (admin only) ----------------------------------------------------------------------------
    "POST /api/v1/webhooks": row(lambda w: Call(f"{V1}/webhooks", {"url": "https://hooks.example.com/in",
                                                                    "events": ["order.*"]}), allow(ADMIN)),
    "GET /api/v1/webhooks": row(lambda w: Call(f"{V1}/webhooks"), allow(ADMIN)),
    "GET /api/v1/webhooks/{webhook_id}": row(lambda w: Call(f"{V1}/webhooks/{w.ids['webhook']}"), allow(ADMIN)),
    "PATCH /api/v1/webhooks/{webhook_id}": row(lambda w: Call(f"{V1}/webhooks/{w.ids['webhook']}",
                                                              {"events": ["product.*"]}), allow(ADMIN)),
    "DELETE /api/v1/webhooks/{webhook_id}": row(lambda w: Call(f"{V1}/webhooks/{w.webhook()}"), allow(ADMIN)),
    "POST /api/v1/webhooks/{webhook_id}/rotate-secret": row(
        lambda w: Call(f"{V1}/webhooks/{w.ids['webhook']}/rotate-secret", {}), allow(ADMIN)),
    "POST /api/v1/webhooks/{webhook_id}/replay": row(
        lambda w: Call(f"{V1}/webhooks/{w.ids['webhook']}/replay", {"since": w.clock.now().isoformat()}),
        allow(ADMIN)),
    "GET /api/v1/webhooks/{webhook_id}/deliveries": row(lambda w: Call(f"{V1}/webhooks/{w.ids['webhook']}/deliveries"),
                                                        allow(ADMIN)),
    "POST /api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": row(
        lambda w: Call(f"{V1}/webhooks/{w.ids['webhook']}/deliveries/{w.ids['delivery']}/redeliver"), allow(ADMIN)),
    # ---- commerce: carts and orders -----------------------------------------------------------------------
    "POST /api/v1/carts": row(lambda w: Call(f"{V1}/carts", {"channel": "web"}), allow(ADMIN, CHANNEL_OWN)),
    # any channel opens and edits a cart started in another: the cart follows its customer (docs/commerce.md)
    "GET /api/v1/carts/{cart_id}": row(lambda w: Call(f"{V1}/carts/{w.ids['cart']}"),
                                       allow(ADMIN, CHANNEL_OWN, CHANNEL_OTHER, ASSOCIATE_OWN, ASSOCIATE_OTHER, AGENT)),
    "PUT /api/v1/carts/{cart_id}/lines": row(lambda w: Call(f"{V1}/carts/{w.ids['cart']}/lines",
                                                            [{"sku": "MUG", "quantity": 1}]),
                                             allow(ADMIN, CHANNEL_OWN, CHANNEL_OTHER, ASSOCIATE_OWN, ASSOCIATE_OTHER)),
    # ...but checks it out in a channel the key acts for (the other channel key sells in its own: allowed)
    "POST /api/v1/carts/{cart_id}/checkout": row(_checkout, allow(ADMIN, CHANNEL_OWN, CHANNEL_OTHER, ASSOCIATE_OWN),
                                                 scoped=True, by_caller=True),
    "POST /api/v1/orders": row(_new_order, allow(ADMIN, CHANNEL_OWN, ASSOCIATE_OWN), scoped=True, by_caller=True),
    # lists show each caller what it could open one by one, nothing more (checked item by item)
    "GET /api/v1/orders": row(lambda w: Call(f"{V1}/orders", params={"limit": 500}),
                              allow(ADMIN, CHANNEL_OWN, CHANNEL_OTHER, ASSOCIATE_OWN, ASSOCIATE_OTHER, AGENT),
                              scoped=True, leaks=_order_leaks),
    "GET /api/v1/pickups": row(lambda w: Call(f"{V1}/pickups", params={"limit": 500}),
                               allow(ADMIN, CHANNEL_OWN, CHANNEL_OTHER, ASSOCIATE_OWN, ASSOCIATE_OTHER, AGENT),
                               leaks=_order_leaks),
    "GET /api/v1/orders/{order_id}": row(lambda w: Call(f"{V1}/orders/{w.ids['order']}"), ORDER_READERS, scoped=True),
    "POST /api/v1/gift-cards": row(lambda w: Call(f"{V1}/gift-cards", {"amount": "10.00", "currency": "EUR"}),
                                   allow(ADMIN, ASSOCIATE_OWN, ASSOCIATE_OTHER)),
    "POST /api/v1/gift-cards/balance": row(lambda w: Call(f"{V1}/gift-cards/balance", {"code": w.gift_card()}),
                                           allow(ADMIN, CHANNEL_OWN, CHANNEL_OTHER, ASSOCIATE_OWN, ASSOCIATE_OTHER,
                                                 AGENT)),
    "POST /api/v1/gift-cards/top-ups": row(lambda w: Call(f"{V1}/gift-cards/top-ups", {
        "code": w.gift_card(), "amount": "1.00"}), allow(ADMIN, ASSOCIATE_OWN, ASSOCIATE_OTHER)),
    "GET /api/v1/orders/{order_id}/provider-payments": row(
        lambda w: Call(f"{V1}/orders/{w.ids['order']}/provider-payments"), ORDER_READERS),
    "PUT /api/v1/channels/{code}/payment-providers/{provider}": row(lambda w: Call(
        f"{V1}/channels/store/payment-providers/stripe", {"secret_key": "sk_test_m", "webhook_secret": "whsec_m"}),
        allow(ADMIN)),
    "GET /api/v1/channels/{code}/payment-providers/{provider}": row(
        lambda w: (w.stripe(), Call(f"{V1}/channels/web/payment-providers/stripe"))[1], allow(ADMIN)),
    "POST /api/v1/connectors/stripe/webhooks": row(lambda w: w.stripe_event(), public()),
    "GET /api/v1/payment-notifications": row(lambda w: Call(f"{V1}/payment-notifications"), allow(ADMIN)),
    "GET /api/v1/payment-notifications/{notification_id}": row(
        lambda w: Call(f"{V1}/payment-notifications/{w.payment_notification()}"), allow(ADMIN)),
    "POST /api/v1/payment-notifications/{notification_id}/retry": row(
        lambda w: Call(f"{V1}/payment-notifications/{w.payment_notification()}/retry"), allow(ADMIN)),
    "POST /api/v1/connectors/paypal/webhooks": row(lambda w: w.paypal_event(), public()),
    "POST /api/v1/connectors/redsys/webhooks": row(lambda w: w.redsys_notification(), public()),
    "POST /api/v1/connectors/btcpay/webhooks": row(lambda w: w.btcpay_event(), public()),
    # A return naming no payment the provider backs: refused for everybody alike — a key grants nothing here.
    "GET /api/v1/connectors/stripe/return": row(lambda w: Call(
        f"{V1}/connectors/stripe/return", params={"payment_intent": "pi_matrix_unknown"}), NOT_BACKED),
    "GET /api/v1/connectors/paypal/return": row(lambda w: Call(
        f"{V1}/connectors/paypal/return", params={"token": "5O1MATRIX", "PayerID": "P1"}), NOT_BACKED),
    "GET /api/v1/connectors/btcpay/return": row(lambda w: Call(
        f"{V1}/connectors/btcpay/return", params={"invoiceId": "InvMatrix"}), NOT_BACKED),
    "GET /api/v1/connectors/redsys/return": row(lambda w: Call(
        f"{V1}/connectors/redsys/return", params=dict(parse_qsl(w.redsys_notification().content.decode()))),
        NOT_BACKED),
    "GET /api/v1/orders/{order_id}/history": row(lambda w: Call(f"{V1}/orders/{w.ids['order']}/history"),
                                                 ORDER_READERS),
    "POST /api/v1/orders/{order_id}/cancel": row(lambda w: Call(f"{V1}/orders/{w.pickup_order()}/cancel"),
                                                 SELLERS_OWN, scoped=True),
    "POST /api/v1/orders/{order_id}/ready": row(lambda w: Call(f"{V1}/orders/{w.pickup_order()}/ready"),
                                                allow(ADMIN, ASSOCIATE_OWN)),
    "POST /api/v1/orders/{order_id}/collect": row(_collect, allow(ADMIN, ASSOCIATE_OWN), scoped=True, by_caller=True),
    "DELETE /api/v1/orders/{order_id}/pickup/lock": row(
        lambda w: Call(f"{V1}/orders/{w.ids['ready_order']}/pickup/lock"), allow(ADMIN)),
    "GET /api/v1/orders/{order_id}/pickup/qr.png": row(
        lambda w: Call(f"{V1}/orders/{w.ids['ready_order']}/pickup/qr.png"), allow(ADMIN, ASSOCIATE_OWN)),
    "POST /api/v1/orders/{order_id}/shipments": row(
        lambda w: Call(f"{V1}/orders/{w.ship_order()}/shipments", {"carrier": "seur", "tracking_number": "T1",
                                                                  "location": "mad"}), allow(ADMIN, ASSOCIATE_OWN)),
    "POST /api/v1/orders/{order_id}/shipments/{shipment_id}/delivered": row(
        lambda w: Call("{}/orders/{}/shipments/{}/delivered".format(V1, *w.shipment())), SELLERS_OWN),
    "POST /api/v1/orders/{order_id}/payments": row(
        lambda w: Call(f"{V1}/orders/{w.pickup_order(paid='5.00')}/payments", {"method": "card", "amount": "5.00"}),
        SELLERS_OWN),
    # a draft holds no stock and has no store yet: its channel's key (and admin) edit and submit it
    "PUT /api/v1/orders/{order_id}/lines": row(lambda w: Call(f"{V1}/orders/{w.ids['draft']}/lines", {
        "lines": [{"sku": "MUG", "quantity": 2}]}), allow(ADMIN, CHANNEL_OWN, hidden=(CHANNEL_OTHER, ASSOCIATE_OWN,
                                                                                       ASSOCIATE_OTHER))),
    "POST /api/v1/orders/{order_id}/submit": row(lambda w: Call(f"{V1}/orders/{w.draft()}/submit", {
        "fulfilment": {"type": "ship", "address": ADDRESS}}),
        allow(ADMIN, CHANNEL_OWN, hidden=(CHANNEL_OTHER, ASSOCIATE_OWN, ASSOCIATE_OTHER)), scoped=True),
    # a customer's history across channels: a channel key gets only its own channel's orders in it
    "GET /api/v1/customers/{customer_id}/orders": row(
        lambda w: Call(f"{V1}/customers/{w.ids['customer']}/orders"),
        allow(ADMIN, CHANNEL_OWN, CHANNEL_OTHER, ASSOCIATE_OWN, ASSOCIATE_OTHER, AGENT), leaks=_channel_order_leaks),
    # ---- commerce: returns and fulfilment settings --------------------------------------------------------
    "POST /api/v1/returns": row(lambda w: Call(f"{V1}/returns", {
        "order": w.collected_order(), "lines": [{"sku": "TEE", "quantity": 1}], "location": "mad",
        "condition": "resellable"}), allow(ADMIN, ASSOCIATE_OWN)),
    "GET /api/v1/returns": row(lambda w: Call(f"{V1}/returns", params={"limit": 500}),
                               allow(ADMIN, CHANNEL_OWN, CHANNEL_OTHER, ASSOCIATE_OWN, ASSOCIATE_OTHER, AGENT),
                               scoped=True, leaks=_return_leaks),
    "GET /api/v1/returns/{return_id}": row(lambda w: Call(f"{V1}/returns/{w.ids['return']}"), ORDER_READERS,
                                           scoped=True),
    "POST /api/v1/fulfilment/pickup-slots": row(lambda w: Call(f"{V1}/fulfilment/pickup-slots", {
        "location": "mad", "starts_at": "2030-01-01T10:00:00+01:00", "ends_at": "2030-01-01T12:00:00+01:00",
        "capacity": 5}), allow(ADMIN, ASSOCIATE_OWN)),
    "GET /api/v1/fulfilment/pickup-slots": row(lambda w: Call(f"{V1}/fulfilment/pickup-slots",
                                                              params={"location": "mad"}),
                                               allow(ADMIN, CHANNEL_OWN, CHANNEL_OTHER, ASSOCIATE_OWN, ASSOCIATE_OTHER,
                                                     AGENT)),
    "PUT /api/v1/fulfilment/capacity/{location}": row(lambda w: Call(f"{V1}/fulfilment/capacity/mad",
                                                                     {"daily_orders": 10_000}), allow(ADMIN)),
    # ---- customers ----------------------------------------------------------------------------------------
    "POST /api/v1/events": row(lambda w: Call(f"{V1}/events", [{"type": "product_viewed", "channel": "web",
                                                                 "identity": {"email": "lucia@correo.es"}}]),
                               allow(ADMIN, CHANNEL_OWN)),
    "GET /api/v1/customers": row(lambda w: Call(f"{V1}/customers"), CUSTOMER_READERS),
    "POST /api/v1/customers": row(lambda w: Call(f"{V1}/customers", {"channel": "web", "identities": [
        {"kind": "email", "value": f"{_unique('c')}@correo.es"}]}), allow(ADMIN, CHANNEL_OWN)),
    "GET /api/v1/customers/lookup": row(lambda w: Call(f"{V1}/customers/lookup",
                                                       params={"email": "ana.garcia@correo.es"}), allow(*EVERY_KEY)),
    "GET /api/v1/customers/merge-suggestions": row(lambda w: Call(f"{V1}/customers/merge-suggestions"),
                                                   CUSTOMER_READERS),
    "POST /api/v1/customers/merge-suggestions/{suggestion_id}/accept": row(
        lambda w: Call(f"{V1}/customers/merge-suggestions/{w.suggestion()}/accept"), allow(ADMIN)),
    "POST /api/v1/customers/merge-suggestions/{suggestion_id}/reject": row(
        lambda w: Call(f"{V1}/customers/merge-suggestions/{w.suggestion()}/reject"), allow(ADMIN)),
    "GET /api/v1/customers/merges/{merge_id}": row(lambda w: Call(f"{V1}/customers/merges/{w.ids['merge']}"),
                                                   CUSTOMER_READERS),
    "POST /api/v1/customers/merges/{merge_id}/undo": row(lambda w: Call(f"{V1}/customers/merges/{w.merge()}/undo"),
                                                         allow(ADMIN)),
    "GET /api/v1/customers/blocklist": row(lambda w: Call(f"{V1}/customers/blocklist"), allow(ADMIN)),
    "POST /api/v1/customers/blocklist": row(lambda w: Call(f"{V1}/customers/blocklist", {
        "kind": "email", "value": f"{_unique('spam')}@correo.es"}), allow(ADMIN)),
    "GET /api/v1/customers/{customer_id}": row(lambda w: Call(f"{V1}/customers/{w.ids['customer']}"),
                                               CUSTOMER_READERS),
    "GET /api/v1/customers/{customer_id}/timeline": row(lambda w: Call(f"{V1}/customers/{w.ids['customer']}/timeline"),
                                                        CUSTOMER_READERS),
    "GET /api/v1/customers/{customer_id}/export": row(lambda w: Call(f"{V1}/customers/{w.ids['customer']}/export"),
                                                      allow(ADMIN)),
    "DELETE /api/v1/customers/{customer_id}": row(lambda w: Call(f"{V1}/customers/{w.customer()}"), allow(ADMIN)),
    "POST /api/v1/customers/{customer_id}/merge": row(lambda w: Call(f"{V1}/customers/{w.customer()}/merge",
                                                                     {"other": w.customer()}), allow(ADMIN)),
    # a consent is recorded in the caller's own channel (the other channel key records it in its own)
    "PUT /api/v1/customers/{customer_id}/consents/{purpose}": row(
        lambda w: Call(f"{V1}/customers/{w.ids['customer']}/consents/email_marketing", {"granted": True}),
        allow(ADMIN, CHANNEL_OWN, CHANNEL_OTHER)),
    "PUT /api/v1/customers/{customer_id}/tags/{tag}": row(
        lambda w: Call(f"{V1}/customers/{w.ids['customer']}/tags/vip"), allow(ADMIN)),
    "DELETE /api/v1/customers/{customer_id}/tags/{tag}": row(
        lambda w: Call(f"{V1}/customers/{w.tagged()}/tags/vip"), allow(ADMIN)),
    # ---- promotions ---------------------------------------------------------------------------------------
    "POST /api/v1/promotions": row(lambda w: Call(f"{V1}/promotions", {"code": _unique("P"), "kind": "percent",
                                                                        "value": "5"}), allow(ADMIN, MARKETER)),
    "GET /api/v1/promotions": row(lambda w: Call(f"{V1}/promotions"), allow(*EVERY_KEY)),
    "POST /api/v1/promotions/evaluate": row(lambda w: Call(f"{V1}/promotions/evaluate", {
        "channel": "web", "lines": [{"sku": "TEE", "category": "apparel", "quantity": 1, "unit_price": "20.00"}]}),
        CHANNEL_SCOPED),
    "GET /api/v1/promotions/{promotion_id}": row(lambda w: Call(f"{V1}/promotions/{w.ids['promotion']}"),
                                                 allow(*EVERY_KEY)),
    "PATCH /api/v1/promotions/{promotion_id}": row(lambda w: Call(f"{V1}/promotions/{w.ids['promotion']}",
                                                                  {"name": "Spring"}), allow(ADMIN, MARKETER)),
    # ---- billing ------------------------------------------------------------------------------------------
    "GET /api/v1/payment-methods": row(lambda w: Call(f"{V1}/payment-methods"), allow(*EVERY_KEY)),
    "POST /api/v1/payment-methods": row(lambda w: Call(f"{V1}/payment-methods", {"code": _unique("pm"),
                                                                                  "name": "Cheque"}), allow(ADMIN)),
    "GET /api/v1/payment-methods/{code}": row(lambda w: Call(f"{V1}/payment-methods/card"), allow(*EVERY_KEY)),
    "PATCH /api/v1/payment-methods/{code}": row(lambda w: Call(f"{V1}/payment-methods/{w.ids['payment_method']}",
                                                               {"name": "Voucher"}), allow(ADMIN)),
    "GET /api/v1/tax-rates": row(lambda w: Call(f"{V1}/tax-rates"), allow(*EVERY_KEY)),
    "PUT /api/v1/tax-rates/{tax_class}/{country}": row(lambda w: Call(f"{V1}/tax-rates/standard/ES", {"rate": "21.00"}),
                                                       allow(ADMIN)),
    "GET /api/v1/payments": row(lambda w: Call(f"{V1}/payments", params={"order": w.ids["order"]}),
                                allow(ADMIN, AGENT)),
    "GET /api/v1/invoices": row(lambda w: Call(f"{V1}/invoices"), allow(ADMIN, AGENT)),
    "GET /api/v1/invoices/{number}": row(lambda w: Call(f"{V1}/invoices/{w.ids['invoice']}"), allow(ADMIN, AGENT)),
    "GET /api/v1/credit-notes": row(lambda w: Call(f"{V1}/credit-notes"), allow(ADMIN, AGENT)),
    "GET /api/v1/credit-notes/{number}": row(lambda w: Call(f"{V1}/credit-notes/{w.ids['credit_note']}"),
                                             allow(ADMIN, AGENT)),
    # ---- imports (docs/imports.md): admin only --------------------------------------------------------------
    "POST /api/v1/imports": row(lambda w: _import_upload(), allow(ADMIN)),
    "GET /api/v1/imports/{job_id}": row(lambda w: Call(f"{V1}/imports/{_import_job(w)}"), allow(ADMIN)),
    # ---- automation: marketers and admins; the links inside messages are public (the token is the key) -------
    "POST /api/v1/automations": row(lambda w: Call(f"{V1}/automations", AUTOMATION), allow(ADMIN, MARKETER)),
    "GET /api/v1/automations": row(lambda w: Call(f"{V1}/automations"), allow(ADMIN, MARKETER)),
    "GET /api/v1/automations/{rule_id}": row(lambda w: Call(f"{V1}/automations/{w.ids['automation']}"),
                                             allow(ADMIN, MARKETER)),
    "PATCH /api/v1/automations/{rule_id}": row(lambda w: Call(f"{V1}/automations/{w.ids['automation']}",
                                                              {"active": False}), allow(ADMIN, MARKETER)),
    "DELETE /api/v1/automations/{rule_id}": row(lambda w: Call(f"{V1}/automations/{w.automation()}"),
                                                allow(ADMIN, MARKETER)),
    "GET /api/v1/automations/{rule_id}/log": row(lambda w: Call(f"{V1}/automations/{w.ids['automation']}/log"),
                                                 allow(ADMIN, MARKETER)),
    "GET /api/v1/automations/{rule_id}/runs": row(lambda w: Call(f"{V1}/automations/{w.ids['automation']}/runs"),
                                                  allow(ADMIN, MARKETER)),
    "GET /api/v1/automations/{rule_id}/messages": row(
        lambda w: Call(f"{V1}/automations/{w.ids['automation']}/messages"), allow(ADMIN, MARKETER)),
    "GET /api/v1/automations/{rule_id}/results": row(
        lambda w: Call(f"{V1}/automations/{w.ids['automation']}/results"), allow(ADMIN, MARKETER)),
    "GET /api/v1/automation/u/{token}": row(lambda w: Call(f"{V1}/automation/u/{w.automation_token()}"), public()),
    "POST /api/v1/automation/u/{token}": row(lambda w: Call(f"{V1}/automation/u/{w.automation_token()}",
                                                            content=b"List-Unsubscribe=One-Click"), public()),
    "GET /api/v1/automation/nps/{token}": row(lambda w: Call(f"{V1}/automation/nps/{w.survey_token()}"),
                                              public()),
    "POST /api/v1/automation/nps/{token}": row(lambda w: Call(f"{V1}/automation/nps/{w.survey_token()}",
                                                              {"score": 9}), public()),
    "GET /api/v1/automation/o/{token}.gif": row(lambda w: Call(f"{V1}/automation/o/{w.automation_token()}.gif"),
                                                public()),
    "GET /api/v1/automation/c/{token}/{index}": row(lambda w: Call(f"{V1}/automation/c/{w.automation_token()}/0"),
                                                    public()),
    "GET /api/v1/products/{sku}/related": row(lambda w: Call(f"{V1}/products/TEE/related", params={"channel": "web"}),
                                              allow(*EVERY_KEY, hidden=()) | {CHANNEL_OTHER: DENIED}),
    "GET /api/v1/customers/{customer_id}/recommendations": row(
        lambda w: Call(f"{V1}/customers/{w.customer()}/recommendations", params={"channel": "web"}),
        allow(ADMIN, CHANNEL_OWN, ASSOCIATE_OWN, ASSOCIATE_OTHER, AGENT, MARKETER)),
    "POST /api/v1/segments": row(lambda w: Call(f"{V1}/segments", {"name": "VIP", "conditions": [
        {"field": "customer.tags", "op": "contains", "value": "vip"}]}), allow(ADMIN, MARKETER)),
    "GET /api/v1/segments": row(lambda w: Call(f"{V1}/segments"), allow(ADMIN, MARKETER)),
    "GET /api/v1/segments/{segment_id}": row(lambda w: Call(f"{V1}/segments/{w.ids['segment']}"),
                                             allow(ADMIN, MARKETER)),
    "POST /api/v1/segments/{segment_id}/recompute": row(
        lambda w: Call(f"{V1}/segments/{w.ids['segment']}/recompute"), allow(ADMIN, MARKETER)),
    "GET /api/v1/segments/{segment_id}/members": row(lambda w: Call(f"{V1}/segments/{w.ids['segment']}/members"),
                                                     allow(ADMIN, MARKETER)),
    "DELETE /api/v1/segments/{segment_id}": row(lambda w: Call(f"{V1}/segments/{w.segment()}"),
                                                allow(ADMIN, MARKETER)),
    "GET /api/v1/audiences": row(lambda w: Call(f"{V1}/audiences"), allow(ADMIN, MARKETER)),
    "POST /api/v1/audiences/{name}/exports": row(lambda w: Call(f"{V1}/audiences/{w.audience()}/exports",
                                                                {"format": "meta"}), allow(ADMIN, MARKETER)),
    "GET /api/v1/audiences/{name}/exports": row(lambda w: Call(f"{V1}/audiences/{w.audience()}/exports"),
                                                allow(ADMIN, MARKETER)),
    "POST /api/v1/segments/preview": row(lambda w: Call(f"{V1}/segments/preview", {"name": "VIP", "conditions": [
        {"field": "customer.tags", "op": "contains", "value": "vip"}]}), allow(ADMIN, MARKETER)),
    "GET /api/v1/audiences/{name}/exports/{export_id}/{part}.csv": row(
        lambda w: Call(f"{V1}{w.audience_export()}"), allow(ADMIN, MARKETER)),
    "POST /api/v1/products/{sku}/back-in-stock": row(
        lambda w: Call(f"{V1}/products/TEE/back-in-stock", {"customer_id": w.consented_customer(), "channel": "web"}),
        allow(ADMIN, CHANNEL_OWN, ASSOCIATE_OWN, ASSOCIATE_OTHER, AGENT, MARKETER)),
    # ---- messaging ----------------------------------------------------------------------------------------
    "GET /api/v1/outbox/messages": row(lambda w: Call(f"{V1}/outbox/messages"), allow(ADMIN, AGENT, MARKETER),
                                       scoped=True),
    # ---- analytics: a channel key reads its own channel, an associate its own store (docs/analytics.md) -----
    "GET /api/v1/analytics/summary": row(lambda w: Call(f"{V1}/analytics/summary",
                                                        params={"channel": "web", "location": "mad"}),
                                         allow(ADMIN, CHANNEL_OWN, ASSOCIATE_OWN, MARKETER)),
    "GET /api/v1/analytics/timeseries": row(lambda w: Call(f"{V1}/analytics/timeseries",
                                                           params={"channel": "web", "location": "mad"}),
                                            allow(ADMIN, CHANNEL_OWN, ASSOCIATE_OWN, MARKETER)),
    "GET /api/v1/analytics/cohorts": row(lambda w: Call(f"{V1}/analytics/cohorts", params={"channel": "web"}),
                                         allow(ADMIN, CHANNEL_OWN, MARKETER)),
    "GET /api/v1/analytics/channels": row(lambda w: Call(f"{V1}/analytics/channels", params={"channel": "web"}),
                                          allow(ADMIN, CHANNEL_OWN, MARKETER)),
    "GET /api/v1/analytics/omnichannel": row(lambda w: Call(f"{V1}/analytics/omnichannel"), allow(ADMIN, MARKETER)),
    "GET /api/v1/analytics/clv": row(lambda w: Call(f"{V1}/analytics/clv"), allow(ADMIN, MARKETER)),
    "GET /api/v1/analytics/inventory": row(lambda w: Call(f"{V1}/analytics/inventory", params={"location": "mad"}),
                                           allow(ADMIN, ASSOCIATE_OWN, MARKETER)),
    "GET /api/v1/analytics/nps": row(lambda w: Call(f"{V1}/analytics/nps",
                                                    params={"channel": "web", "location": "mad"}),
                                     allow(ADMIN, CHANNEL_OWN, ASSOCIATE_OWN, MARKETER)),
    # ---- service desk -------------------------------------------------------------------------------------
    "POST /api/v1/messages": row(lambda w: Call(f"{V1}/messages", {
        "channel": "webchat", "identity": {"email": f"{_unique('chat')}@correo.es"}, "text": "Hola",
        "sales_channel": "web"}), allow(ADMIN, CHANNEL_OWN, AGENT), scoped=True),
    "POST /api/v1/connectors/email/inbound": row(lambda w: w.email(), allow(ADMIN, CHANNEL_OWN, CHANNEL_OTHER)),
    "GET /api/v1/connectors/meta/webhooks": row(lambda w: (w.meta(), Call(f"{V1}/connectors/meta/webhooks", params={
        "hub.mode": "subscribe", "hub.verify_token": "matrix-verify", "hub.challenge": "42"}))[1], public()),
    "POST /api/v1/connectors/meta/webhooks": row(lambda w: w.instagram_dm(), public()),
    "PUT /api/v1/connectors/meta/{channel}": row(lambda w: Call(f"{V1}/connectors/meta/store", {
        "app_secret": "s", "verify_token": "v", "access_token": "t", "phone_number_id": "1065400000"}),
        allow(ADMIN)),
    "GET /api/v1/connectors/meta/{channel}": row(lambda w: (w.meta(), Call(f"{V1}/connectors/meta/web"))[1],
                                                 allow(ADMIN)),
    # ---- shop connectors (admin; the shops' webhooks carry no key, they are signed) ---------------------------
    "PUT /api/v1/connectors/shopify/{channel}": row(lambda w: Call(f"{V1}/connectors/shopify/store", {
        "shop_domain": "other.myshopify.com", "webhook_secret": "s", "access_token": "t", "default_location": "mad"}),
        allow(ADMIN)),
    "GET /api/v1/connectors/shopify/{channel}": row(
        lambda w: (w.shop_connections(), Call(f"{V1}/connectors/shopify/web"))[1], allow(ADMIN)),
    "POST /api/v1/connectors/shopify/{channel}/webhooks": row(lambda w: w.shopify_order(), public()),
    "PUT /api/v1/connectors/woocommerce/{channel}": row(lambda w: Call(f"{V1}/connectors/woocommerce/store", {
        "site_url": "https://other.omnihub-matrix.invalid", "webhook_secret": "s", "consumer_key": "k",
        "consumer_secret": "c", "default_location": "mad"}), allow(ADMIN)),
    "GET /api/v1/connectors/woocommerce/{channel}": row(
        lambda w: (w.shop_connections(), Call(f"{V1}/connectors/woocommerce/web"))[1], allow(ADMIN)),
    "POST /api/v1/connectors/woocommerce/{channel}/webhooks": row(lambda w: w.woo_order(), public()),
    "GET /api/v1/connectors": row(lambda w: (w.shop_connections(), Call(f"{V1}/connectors"))[1], allow(ADMIN)),
    "GET /api/v1/connectors/{connector}/{channel}/pushes": row(
        lambda w: (w.shop_connections(), Call(f"{V1}/connectors/shopify/web/pushes"))[1], allow(ADMIN)),
    "GET /api/v1/connectors/dead-letters": row(lambda w: Call(f"{V1}/connectors/dead-letters"), allow(ADMIN)),
    "GET /api/v1/connectors/dead-letters/{letter_id}": row(
        lambda w: Call(f"{V1}/connectors/dead-letters/{w.dead_letter()}"), allow(ADMIN)),
    "POST /api/v1/connectors/dead-letters/{letter_id}/replay": row(
        lambda w: Call(f"{V1}/connectors/dead-letters/{w.dead_letter()}/replay"), allow(ADMIN)),
    "GET /api/v1/conversations": row(lambda w: Call(f"{V1}/conversations"), allow(ADMIN, AGENT), scoped=True),
    "GET /api/v1/conversations/{conversation_id}": row(lambda w: Call(f"{V1}/conversations/{w.conversation()}"),
                                                       allow(ADMIN, AGENT), scoped=True),
    "GET /api/v1/conversations/{conversation_id}/messages/{message_id}/original": row(
        lambda w: Call("{}/conversations/{}/messages/{}/original".format(V1, *w.emailed())), allow(ADMIN, AGENT)),
    "POST /api/v1/conversations/{conversation_id}/assign": row(
        lambda w: Call(f"{V1}/conversations/{w.conversation()}/assign", {"assignee": "me"}), allow(ADMIN, AGENT)),
    "POST /api/v1/conversations/{conversation_id}/snooze": row(
        lambda w: Call(f"{V1}/conversations/{w.conversation()}/snooze", {"until": "2026-02-01T00:00:00Z"}),
        allow(ADMIN, AGENT)),
    "POST /api/v1/conversations/{conversation_id}/resolve": row(
        lambda w: Call(f"{V1}/conversations/{w.conversation()}/resolve"), allow(ADMIN, AGENT)),
    "POST /api/v1/conversations/{conversation_id}/notes": row(
        lambda w: Call(f"{V1}/conversations/{w.conversation()}/notes", {"text": "nota"}), allow(ADMIN, AGENT)),
    "POST /api/v1/conversations/{conversation_id}/reply": row(
        lambda w: Call(f"{V1}/conversations/{w.conversation()}/reply", {"text": "Hola"}), allow(ADMIN, AGENT),
        scoped=True),
    "GET /api/v1/sla-policies": row(lambda w: Call(f"{V1}/sla-policies"), allow(ADMIN, AGENT)),
    "PUT /api/v1/sla-policies/{priority}": row(lambda w: Call(f"{V1}/sla-policies/high", {
        "first_response_minutes": 60, "resolution_minutes": 480}), allow(ADMIN)),
    "GET /api/v1/routing-rules": row(lambda w: Call(f"{V1}/routing-rules"), allow(ADMIN, AGENT)),
    "POST /api/v1/routing-rules": row(lambda w: Call(f"{V1}/routing-rules", {"team": w.team()}), allow(ADMIN)),
    "PUT /api/v1/routing-rules/{rule_id}": row(lambda w: Call(f"{V1}/routing-rules/{w.routing_rule()}", {
        "channel": "sms", "team": w.team()}), allow(ADMIN)),
    "DELETE /api/v1/routing-rules/{rule_id}": row(lambda w: Call(f"{V1}/routing-rules/{w.routing_rule()}"),
                                                  allow(ADMIN)),
    "GET /api/v1/teams": row(lambda w: Call(f"{V1}/teams"), allow(ADMIN, AGENT)),
    "POST /api/v1/teams": row(lambda w: Call(f"{V1}/teams", {"code": _unique("t"), "name": "T"}), allow(ADMIN)),
    "GET /api/v1/teams/{code}": row(lambda w: Call(f"{V1}/teams/{w.team()}"), allow(ADMIN, AGENT)),
    "PUT /api/v1/teams/{code}": row(lambda w: Call(f"{V1}/teams/{w.team()}", {"name": "T2"}), allow(ADMIN)),
    "DELETE /api/v1/teams/{code}": row(lambda w: Call(f"{V1}/teams/{w.team()}"), allow(ADMIN)),
    "PUT /api/v1/teams/{code}/members/{agent}": row(lambda w: Call(f"{V1}/teams/{w.team()}/members/user:matrix"),
                                                    allow(ADMIN)),
    "DELETE /api/v1/teams/{code}/members/{agent}": row(
        lambda w: Call(f"{V1}/teams/{w.team('user:matrix')}/members/user:matrix"), allow(ADMIN)),
    "GET /api/v1/agents": row(lambda w: Call(f"{V1}/agents"), allow(ADMIN, AGENT)),
    "PUT /api/v1/agents/{agent}/availability": row(lambda w: Call(f"{V1}/agents/me/availability",
                                                                  {"available": True}), allow(ADMIN, AGENT)),
    "POST /api/v1/conversations/{conversation_id}/tags": row(
        lambda w: Call(f"{V1}/conversations/{w.conversation()}/tags", {"add": ["vip"]}), allow(ADMIN, AGENT)),
    "GET /api/v1/csat/{token}": row(lambda w: Call(f"{V1}/csat/{w.survey()}"), public()),
    "POST /api/v1/csat/{token}": row(lambda w: Call(f"{V1}/csat/{w.survey()}", {"score": 5}), public()),
    "GET /api/v1/analytics/service": row(lambda w: Call(f"{V1}/analytics/service"), allow(ADMIN, MARKETER)),
    "GET /api/v1/reply-templates": row(lambda w: Call(f"{V1}/reply-templates"), allow(ADMIN, AGENT)),
    "POST /api/v1/reply-templates": row(lambda w: Call(f"{V1}/reply-templates", {
        "code": _unique("t"), "name": "T", "body": "Hola {{ customer.first_name }}"}), allow(ADMIN)),
    "GET /api/v1/reply-templates/{code}": row(lambda w: Call(f"{V1}/reply-templates/{w.template()}"),
                                              allow(ADMIN, AGENT)),
    "PUT /api/v1/reply-templates/{code}": row(lambda w: Call(f"{V1}/reply-templates/{w.template()}", {
        "name": "T2", "body": "Hola"}), allow(ADMIN)),
    "DELETE /api/v1/reply-templates/{code}": row(lambda w: Call(f"{V1}/reply-templates/{w.template()}"),
                                                 allow(ADMIN)),
    # ---- knowledge base (service desk) ----------------------------------------------------------------------
    "GET /api/v1/kb/articles": row(lambda w: Call(f"{V1}/kb/articles"), allow(ADMIN, AGENT)),
    "POST /api/v1/kb/articles": row(lambda w: Call(f"{V1}/kb/articles", {
        "language": "es", "title": "Envíos", "body": "El envío cuesta 4,95 €."}), allow(ADMIN, AGENT)),
    "GET /api/v1/kb/articles/{article_id}": row(lambda w: Call(f"{V1}/kb/articles/{w.article()}"),
                                                allow(ADMIN, AGENT)),
    "PATCH /api/v1/kb/articles/{article_id}": row(lambda w: Call(f"{V1}/kb/articles/{w.article()}",
                                                                 {"published": True}), allow(ADMIN, AGENT)),
    "DELETE /api/v1/kb/articles/{article_id}": row(lambda w: Call(f"{V1}/kb/articles/{w.article()}"),
                                                   allow(ADMIN)),
    "GET /api/v1/kb/search": row(lambda w: Call(f"{V1}/kb/search", params={"q": "envío"}), allow(ADMIN, AGENT)),
}


# ---- the routes ---------------------------------------------------------------------------------------------


def _flatten(routes: Any) -> Iterator[Any]:
    for route in routes:
        nested = getattr(route, "effective_route_contexts", None)  # FastAPI ≥ 0.120 keeps included routers lazy
        if callable(nested):
            yield from nested()
        elif getattr(route, "routes", None) is not None and not hasattr(route, "methods"):
            yield from _flatten(route.routes)
        else:
            yield route


def app_routes(app: Any) -> dict[str, Any]:
    """Every operation the app serves, as "METHOD /path" → the route (HEAD goes with GET). The console's pages
    log people in with sessions, not keys: their own matrix, also generated from the app's routes, is
    tests/integration/console/test_roles.py."""
    from omnihub.console.web import ConsoleRoute

    found = {}
    for route in _flatten(app.routes):
        if isinstance(getattr(route, "original_route", route), ConsoleRoute):
            continue
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                found[f"{method} {route.path}"] = route
    return found


def _app_for_listing() -> Any:
    return create_app(Settings(database_url="sqlite:///:memory:", secret_key=SECRET))


ROUTES = sorted(app_routes(_app_for_listing()))


def test_every_route_has_a_row() -> None:
    missing = [r for r in ROUTES if r not in ROWS]
    stale = [r for r in ROWS if r not in ROUTES]
    assert not missing, ("These routes have no row in the authorization matrix; add one to ROWS in "
                         f"{__file__} (see its docstring): {missing}")
    assert not stale, f"These rows name routes the app no longer has; remove them: {stale}"


# ---- the world ----------------------------------------------------------------------------------------------


def _make_world(url: str) -> Iterator[World]:
    clock = ManualClock()
    # 127.0.0.1 reachable: PayPal's webhook check is answered by a local provider receiver (`paypal_event`).
    settings = Settings(database_url=url, secret_key=SECRET, api_key_cache_seconds=0, outbound_allow="127.0.0.1/32")
    db = Database(url, pool_size=10)
    app = create_app(settings, db=db, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield World(client, db, clock, settings).build()
    db.dispose()


@pytest.fixture(scope="module")
def sqlite_world(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[World]:
    path = tmp_path_factory.mktemp("matrix") / "omnihub.db"
    shutil.copy(sqlite_template, path)
    yield from _make_world(f"sqlite:///{path}")


@pytest.fixture(scope="module")
def postgres_world(pg_database: str) -> Iterator[World]:
    _truncate_all(pg_database)
    yield from _make_world(pg_database)


# ---- the check ----------------------------------------------------------------------------------------------

DENIAL_CODES = {"role_not_allowed", "channel_not_allowed", "location_not_allowed"}
AUTH_CODES = {"missing_api_key", "invalid_api_key"}


def _path_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")


def _outcome(response: Any) -> str:
    """The class of an answer; anything unexpected is spelled out so the failure says what happened."""
    status = response.status_code
    if 200 <= status < 300:
        return OK
    problem = response.json() if response.headers.get("content-type", "").startswith("application/") else {}
    code = problem.get("code") if isinstance(problem, dict) else None
    if status == 403 and code in DENIAL_CODES:
        return DENIED
    if status == 404 and isinstance(code, str) and code.endswith("_not_found") and code != "route_not_found":
        return HIDDEN
    if status == 401 and code in AUTH_CODES:
        return NOAUTH
    return f"{status} {code or response.text[:200]}"


def _check(world: World, route: str) -> list[str]:
    method, template = route.split(" ", 1)
    spec = ROWS[route]
    # denied and hidden callers first: a wrongly allowed write must not change what the others then see
    order = sorted(CALLERS, key=lambda c: spec.expect[c] == OK)
    wrong = []
    for caller in order:
        call = spec.call(world, caller)
        assert _path_regex(template).match(call.path), f"{route}: the row built {call.path}, not this route"
        response = world.api.request(method, call.path, json=call.json, params=call.params, content=call.content,
                                     headers={**world.keys[caller], **(call.headers or {})})
        got = _outcome(response)
        if got != spec.expect[caller]:
            wrong.append(f"{caller}: expected {spec.expect[caller]}, got {got}")
        elif got == OK and spec.leaks is not None and caller != ANONYMOUS:
            wrong += [f"{caller}: was shown {leak}" for leak in spec.leaks(world, caller, response.json())]
    return wrong


@pytest.mark.parametrize("route", ROUTES)
def test_route_is_scoped_to_its_callers(sqlite_world: World, route: str) -> None:
    if route not in ROWS:
        pytest.fail(f"no row for {route}: add one to ROWS (see the module docstring)")
    wrong = _check(sqlite_world, route)
    assert not wrong, f"{route}:\n  " + "\n  ".join(wrong)


@pytest.mark.postgres
@pytest.mark.parametrize("route", sorted(r for r, spec in ROWS.items() if spec.scoped))
def test_scoped_routes_on_postgres(postgres_world: World, route: str) -> None:
    wrong = _check(postgres_world, route)
    assert not wrong, f"{route}:\n  " + "\n  ".join(wrong)


def test_the_matrix_covers_every_caller_on_every_row() -> None:
    incomplete = [r for r, spec in ROWS.items() if set(spec.expect) != set(CALLERS)]
    assert not incomplete, incomplete
    # and the matrix is not trivially permissive: most API routes refuse somebody
    refusing = sum(1 for spec in ROWS.values() if any(v != OK for v in spec.expect.values()))
    keyed_api = [r for r in ROWS if "/api/v1/" in r and r not in SIGNED_NOT_KEYED]
    assert refusing >= len(keyed_api), "every API route must refuse at least anonymous"

