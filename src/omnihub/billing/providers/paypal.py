"""PayPal Checkout through the Orders v2 API, as PayPal documents it:

- an OAuth 2.0 access token from `POST /v1/oauth2/token` (client credentials, HTTP Basic);
- `POST /v2/checkout/orders` with `intent: AUTHORIZE` — the buyer approves at the `payer-action` link;
- on `CHECKOUT.ORDER.APPROVED` the hub authorises (`POST /v2/checkout/orders/{id}/authorize`, after commit);
  the goods leaving capture it (`POST /v2/payments/authorizations/{id}/capture`); refunds go through
  `POST /v2/payments/captures/{id}/refund`; every write carries `PayPal-Request-Id` (idempotent);
- webhooks are verified by asking PayPal (`POST /v1/notifications/verify-webhook-signature` with the
  transmission headers, the account's `webhook_id` and the event): `verification_status: SUCCESS` or refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from omnihub.billing.providers import Account, Notice, NotVerified, PaymentAsk, ProviderFailed, Started, register
from omnihub.billing.providers.http import call, json_call
from omnihub.core.outbound import OutboundGuard

API_BASE = "https://api-m.paypal.com"
TRANSMISSION_HEADERS = ("paypal-auth-algo", "paypal-cert-url", "paypal-transmission-id", "paypal-transmission-sig",
                        "paypal-transmission-time")


def token(account: Account, guard: OutboundGuard) -> str:
    """A client-credentials access token (asked for each use: a provider call is rare next to its cost)."""
    basic = base64.b64encode(f"{account.secrets['client_id']}:{account.secrets['client_secret']}".encode()).decode()
    status, _, raw = call(guard, "POST", account.base(API_BASE) + "/v1/oauth2/token", headers={
        "Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json"}, body=b"grant_type=client_credentials")
    if status != 200:
        raise ProviderFailed(f"paypal token: HTTP {status}", permanent=400 <= status < 500)
    return str(json.loads(raw)["access_token"])


def _api(account: Account, guard: OutboundGuard, method: str, path: str, payload: Any = None, *,
         request_id: str | None = None, what: str) -> Any:
    headers = {"Authorization": f"Bearer {token(account, guard)}", "Prefer": "return=representation"}
    if request_id:
        headers["PayPal-Request-Id"] = request_id
    return json_call(guard, method, account.base(API_BASE) + path, headers=headers, payload=payload, what=what)


class PayPalProvider:
    name = "paypal"
    secret_fields = ("client_id", "client_secret")
    public_fields = ("webhook_id", "api_base", "url_ok", "url_ko", "hold_minutes")
    required_fields = ("client_id", "client_secret", "webhook_id")
    authorises = True

    def start(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> Started:
        unit: dict[str, Any] = {"reference_id": ask.order_id, "custom_id": ask.payment_id,
                                "amount": {"currency_code": ask.currency, "value": str(ask.amount)}}
        body: dict[str, Any] = {"intent": "AUTHORIZE", "purchase_units": [unit]}
        if account.config.get("url_ok"):
            body["payment_source"] = {"paypal": {"experience_context": {
                "return_url": account.config["url_ok"], "cancel_url": account.config.get("url_ko") or
                account.config["url_ok"], "user_action": "PAY_NOW"}}}
        order = _api(account, guard, "POST", "/v2/checkout/orders", body, request_id=f"start-{ask.payment_id}",
                     what="paypal create order")
        link = next((x["href"] for x in order.get("links", []) if x.get("rel") in ("payer-action", "approve")), None)
        return Started(reference=str(order["id"]), next_action={"type": "redirect", "url": link})

    def authorize(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> dict[str, Any]:
        order = _api(account, guard, "POST", f"/v2/checkout/orders/{ask.reference}/authorize", {},
                     request_id=f"authorize-{ask.payment_id}", what="paypal authorize")
        try:
            authorization = order["purchase_units"][0]["payments"]["authorizations"][0]
        except (KeyError, IndexError, TypeError):
            raise ProviderFailed("paypal authorize: no authorization in the answer", permanent=True) from None
        if authorization.get("status") not in ("CREATED", "CAPTURED", "PENDING"):
            raise ProviderFailed(f"paypal authorize: {authorization.get('status')}", permanent=True)
        return {"authorization_id": authorization["id"]}

    def capture(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> dict[str, Any]:
        authorization = ask.details.get("authorization_id")
        if not authorization:
            raise ProviderFailed("paypal capture: the payment has no authorization yet", permanent=False)
        # final_capture: PayPal voids what is left of the authorisation (refunds released it before the capture).
        value = (ask.amount * ask.to_capture / ask.minor).quantize(ask.amount) if ask.minor else ask.amount
        captured = _api(account, guard, "POST", f"/v2/payments/authorizations/{authorization}/capture", {
            "amount": {"currency_code": ask.currency, "value": str(value)}, "final_capture": True},
            request_id=f"capture-{ask.payment_id}", what="paypal capture")
        return {"capture_id": captured["id"]}

    def cancel(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> None:
        authorization = ask.details.get("authorization_id")
        if authorization:  # an order never approved simply lapses at PayPal
            _api(account, guard, "POST", f"/v2/payments/authorizations/{authorization}/void", None,
                 request_id=f"void-{ask.payment_id}", what="paypal void")

    def refund(self, account: Account, ask: PaymentAsk, minor: int, refund_id: str, guard: OutboundGuard) -> str:
        capture = ask.details.get("capture_id")
        if not capture:
            raise ProviderFailed("paypal refund: nothing captured yet", permanent=False)
        value = (ask.amount * minor / ask.minor).quantize(ask.amount) if ask.minor else ask.amount
        refund = _api(account, guard, "POST", f"/v2/payments/captures/{capture}/refund", {
            "amount": {"currency_code": ask.currency, "value": str(value)}, "note_to_payer": "Refund"},
            request_id=f"refund-{refund_id}", what="paypal refund")
        return str(refund["id"])

    return_parameter = "token"  # PayPal sends the buyer back to return_url with ?token=<order id>&PayerID=…

    def confirm(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> Notice:
        """The buyer came back: the order as PayPal has it now (`GET /v2/checkout/orders/{id}`). APPROVED is what
        `CHECKOUT.ORDER.APPROVED` says (the hub authorises, after commit)."""
        order = _api(account, guard, "GET", f"/v2/checkout/orders/{ask.reference}", what="paypal show order")
        units = order.get("purchase_units") or [{}]
        if units[0].get("custom_id") != ask.payment_id:
            raise NotVerified("the PayPal order is not this payment's")
        status = str(order.get("status"))
        common = {"event_id": f"return:{ask.reference}:{status}", "kind": f"return.{status}",
                  "payment_id": ask.payment_id, "reference": ask.reference}
        if status == "APPROVED":
            return Notice(outcome="approved", **common)
        if status == "VOIDED":
            return Notice(outcome="failed", reason="paypal: the order was voided", **common)
        return Notice(outcome="ignored", **common)

    def list_payments(self, account: Account, since: int, until: int, guard: OutboundGuard) -> list[dict[str, Any]]:
        """The account's transactions in [since, until] from the Transaction Search API
        (`GET /v1/reporting/transactions`, OAuth scope `.../reporting/search/read`): windows of at most 31 days
        (PayPal's limit), 500 a page, every page. Each payment of ours is the transactions whose `custom_field`
        is our payment id (the order's `custom_id`); refunds (negative amounts) are left out."""
        out: dict[str, dict[str, Any]] = {}
        bearer = {"Authorization": f"Bearer {token(account, guard)}"}
        for start, end in _windows(since, until):
            page = 1
            while True:
                query = urlencode({"start_date": _iso(start), "end_date": _iso(end), "fields": "transaction_info",
                                   "page_size": PAGE_SIZE, "page": page})
                answer = json_call(guard, "GET", account.base(API_BASE) + f"/v1/reporting/transactions?{query}",
                                   headers=bearer, what="paypal transaction search")
                for detail in answer.get("transaction_details") or []:
                    record = _transaction(detail.get("transaction_info") or {})
                    if record is not None:
                        key = record["payment_id"] or record["transaction_id"]
                        out[key] = _stronger(out.get(key), record)
                if page >= int(answer.get("total_pages") or 1):
                    break
                page += 1
        return list(out.values())

    def verify(self, raw: bytes, headers: Mapping[str, str], accounts: list[Account], guard: OutboundGuard
               ) -> Notice:
        if any(not headers.get(h) for h in TRANSMISSION_HEADERS):
            raise NotVerified("PayPal transmission headers missing")
        event = json.loads(raw)
        for account in accounts:
            answer = _api(account, guard, "POST", "/v1/notifications/verify-webhook-signature", {
                "auth_algo": headers["paypal-auth-algo"], "cert_url": headers["paypal-cert-url"],
                "transmission_id": headers["paypal-transmission-id"],
                "transmission_sig": headers["paypal-transmission-sig"],
                "transmission_time": headers["paypal-transmission-time"],
                "webhook_id": account.config["webhook_id"], "webhook_event": event}, what="paypal verify webhook")
            if answer.get("verification_status") == "SUCCESS":
                return parse_event(event)
        raise NotVerified("PayPal did not confirm the webhook's signature")


PAGE_SIZE = 500
WINDOW = 31 * 24 * 3600  # the Transaction Search API answers at most 31 days at a time
# transaction_status: S completed, P pending, D denied, V reversed (refunded to the sender).
STATUS_RANK = {"S": 3, "V": 2, "P": 1, "D": 0}


def _windows(since: int, until: int) -> list[tuple[int, int]]:
    out, start = [], since
    while start < until:
        out.append((start, min(until, start + WINDOW)))
        start += WINDOW
    return out or [(since, until)]


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S-0000")


def _transaction(info: dict[str, Any]) -> dict[str, Any] | None:
    amount = info.get("transaction_amount") or {}
    value = str(amount.get("value") or "0")
    if value.startswith("-"):
        return None  # a refund or a fee: not a payment
    status = str(info.get("transaction_status") or "")
    return {"reference": info.get("paypal_reference_id") or info.get("transaction_id"),
            "transaction_id": info.get("transaction_id"), "status": status, "taken": status == "S",
            "currency": amount.get("currency_code"), "amount": value,
            "payment_id": info.get("custom_field") or None}


def _stronger(held: dict[str, Any] | None, record: dict[str, Any]) -> dict[str, Any]:
    """An authorization and its capture are two transactions of one payment: keep what says most."""
    if held is None or STATUS_RANK.get(record["status"], -1) > STATUS_RANK.get(held["status"], -1):
        return record
    return held


def parse_event(event: dict[str, Any]) -> Notice:
    kind = str(event.get("event_type", ""))
    resource = event.get("resource") or {}
    event_id = str(event["id"]) if event.get("id") else ""  # none: flow.verify names it by its body
    related = ((resource.get("supplementary_data") or {}).get("related_ids") or {})
    order_id = related.get("order_id")
    if kind == "CHECKOUT.ORDER.APPROVED":
        units = resource.get("purchase_units") or [{}]
        return Notice(event_id=event_id, kind=kind, outcome="approved", reference=resource.get("id"),
                      payment_id=units[0].get("custom_id"))
    common = {"event_id": event_id, "kind": kind, "reference": order_id, "payment_id": resource.get("custom_id")}
    if kind == "PAYMENT.AUTHORIZATION.CREATED":
        return Notice(outcome="authorized", **common)
    if kind == "PAYMENT.CAPTURE.COMPLETED":
        return Notice(outcome="captured", **common)
    if kind in ("PAYMENT.CAPTURE.DENIED", "PAYMENT.AUTHORIZATION.VOIDED", "CHECKOUT.PAYMENT-APPROVAL.REVERSED"):
        return Notice(outcome="failed", reason=f"paypal: {kind}", **common)
    if kind == "PAYMENT.CAPTURE.REFUNDED":
        return Notice(outcome="refunded", **common)
    return Notice(outcome="ignored", **common)


register(PayPalProvider())
