"""Stripe through its official library: PaymentIntents with manual capture (authorise at checkout, capture on
shipment or pickup), refunds, the PaymentIntents list for reconciliation, and webhooks verified with the
library's `Stripe-Signature` check (HMAC-SHA256 over `timestamp.payload`, 5 minutes' tolerance).

The library's HTTP goes through the hub's SSRF guard (`_GuardedHttp`), and `api_base` points it elsewhere
(the local provider receiver in tests)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import stripe

from omnihub.billing.providers import (
    Account,
    Notice,
    NotVerified,
    PaymentAsk,
    ProviderFailed,
    Started,
    register,
)
from omnihub.billing.providers.http import call
from omnihub.core.outbound import OutboundGuard

API_BASE = "https://api.stripe.com"
TOLERANCE_SECONDS = 300


class _GuardedHttp(stripe.HTTPClient):
    """The library's requests, sent through the hub's guard (only addresses the hub may reach)."""

    name = "omnihub-guarded"

    def __init__(self, guard: OutboundGuard) -> None:
        super().__init__()
        self._guard = guard

    def request(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None,
                **_: Any) -> tuple[str, int, Mapping[str, str]]:
        body = post_data.encode() if isinstance(post_data, str) else post_data
        try:
            status, answer_headers, raw = call(self._guard, method.upper(), url, headers=headers or {}, body=body)
        except ProviderFailed as exc:
            raise stripe.APIConnectionError(str(exc)) from None
        return raw.decode(), status, answer_headers

    def request_stream(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None,
                       **_: Any) -> Any:
        raise NotImplementedError("streaming is not used")

    def close(self) -> None:
        return None


def _client(account: Account, guard: OutboundGuard) -> stripe.StripeClient:
    return stripe.StripeClient(account.secrets["secret_key"], base_addresses={"api": account.base(API_BASE)},
                               http_client=_GuardedHttp(guard), max_network_retries=0)


def _failed(exc: stripe.StripeError, what: str) -> ProviderFailed:
    status = exc.http_status or 0
    return ProviderFailed(f"stripe {what}: {exc.user_message or exc}", permanent=400 <= status < 500)


class StripeProvider:
    name = "stripe"
    secret_fields = ("secret_key", "webhook_secret")
    public_fields = ("api_base", "publishable_key", "hold_minutes")
    required_fields = ("secret_key", "webhook_secret")
    authorises = True

    def start(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> Started:
        try:
            intent = _client(account, guard).v1.payment_intents.create(params={
                "amount": ask.minor, "currency": ask.currency.lower(), "capture_method": "manual",
                "automatic_payment_methods": {"enabled": True},
                "metadata": {"payment_id": ask.payment_id, "order_id": ask.order_id}},
                options={"idempotency_key": f"start-{ask.payment_id}"})
        except stripe.StripeError as exc:
            raise _failed(exc, "create PaymentIntent") from None
        return Started(reference=intent.id, next_action={"type": "stripe_client_secret",
                                                         "client_secret": intent.client_secret,
                                                         "publishable_key": account.config.get("publishable_key")})

    def capture(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> None:
        try:
            _client(account, guard).v1.payment_intents.capture(
                str(ask.reference), params={"amount_to_capture": ask.to_capture},
                options={"idempotency_key": f"capture-{ask.payment_id}"})
        except stripe.StripeError as exc:
            raise _failed(exc, "capture") from None

    def cancel(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> None:
        try:
            _client(account, guard).v1.payment_intents.cancel(
                str(ask.reference), params={"cancellation_reason": "abandoned"},
                options={"idempotency_key": f"cancel-{ask.payment_id}"})
        except stripe.StripeError as exc:
            raise _failed(exc, "cancel") from None

    def refund(self, account: Account, ask: PaymentAsk, minor: int, refund_id: str, guard: OutboundGuard) -> str:
        try:
            refund = _client(account, guard).v1.refunds.create(
                params={"payment_intent": str(ask.reference), "amount": minor,
                        "metadata": {"refund_id": refund_id}},
                options={"idempotency_key": f"refund-{refund_id}"})
        except stripe.StripeError as exc:
            raise _failed(exc, "refund") from None
        return str(refund.id)

    return_parameter = "payment_intent"  # Stripe appends it to the return_url

    def confirm(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> Notice:
        """The customer came back: the PaymentIntent as Stripe has it now (`GET /v1/payment_intents/{id}`)."""
        try:
            intent = _client(account, guard).v1.payment_intents.retrieve(str(ask.reference))
        except stripe.StripeError as exc:
            raise _failed(exc, "retrieve PaymentIntent") from None
        if (intent.metadata or {}).get("payment_id") != ask.payment_id:
            raise NotVerified("the PaymentIntent is not this payment's")
        status = str(intent.status)
        common = {"event_id": f"return:{ask.reference}:{status}", "kind": f"return.{status}",
                  "payment_id": ask.payment_id, "reference": ask.reference}
        if status == "requires_capture":
            return Notice(outcome="authorized", amount_minor=getattr(intent, "amount_capturable", None), **common)
        if status == "succeeded":
            return Notice(outcome="captured", amount_minor=getattr(intent, "amount_received", None), **common)
        if status == "canceled":
            why = getattr(intent, "cancellation_reason", None)
            return Notice(outcome="failed", reason=f"stripe: canceled ({why})", **common)
        return Notice(outcome="ignored", **common)  # still requires a payment method or an action: not yet

    def list_payments(self, account: Account, since: int, until: int, guard: OutboundGuard) -> list[dict[str, Any]]:
        """Every PaymentIntent created in [since, until] (Unix seconds), page by page."""
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"created": {"gte": since, "lte": until}, "limit": 100}
        client = _client(account, guard)
        while True:
            try:
                page = client.v1.payment_intents.list(params=params)
            except stripe.StripeError as exc:
                raise _failed(exc, "list PaymentIntents") from None
            for intent in page.data:
                out.append({"reference": intent.id, "status": intent.status, "currency": intent.currency.upper(),
                            "amount_minor": intent.amount_received or intent.amount_capturable or 0,
                            "payment_id": (intent.metadata or {}).get("payment_id")})
            if not page.has_more or not page.data:
                return out
            params = {**params, "starting_after": page.data[-1].id}

    def verify(self, raw: bytes, headers: Mapping[str, str], accounts: list[Account], guard: OutboundGuard
               ) -> Notice:
        signature = headers.get("stripe-signature")
        if not signature:
            raise NotVerified("no Stripe-Signature header")
        payload = raw.decode("utf-8", errors="replace")
        for account in accounts:
            try:
                stripe.WebhookSignature.verify_header(payload, signature, account.secrets["webhook_secret"],
                                                      TOLERANCE_SECONDS)
            except stripe.SignatureVerificationError:
                continue
            return parse_event(json.loads(payload))
        raise NotVerified("the Stripe-Signature matches no configured webhook secret (or is too old)")


def parse_event(event: dict[str, Any]) -> Notice:
    """A Stripe event, in the hub's words."""
    kind = str(event.get("type", ""))
    obj = ((event.get("data") or {}).get("object")) or {}
    event_id = str(event.get("id", ""))
    metadata = obj.get("metadata") or {}
    if kind.startswith("payment_intent."):
        common = {"event_id": event_id, "kind": kind, "payment_id": metadata.get("payment_id"),
                  "reference": obj.get("id")}
        if kind == "payment_intent.amount_capturable_updated" or (
                kind == "payment_intent.succeeded" and obj.get("status") == "requires_capture"):
            return Notice(outcome="authorized", amount_minor=obj.get("amount_capturable"), **common)
        if kind == "payment_intent.succeeded":
            return Notice(outcome="captured", amount_minor=obj.get("amount_received"), **common)
        if kind == "payment_intent.payment_failed":
            error = obj.get("last_payment_error") or {}
            return Notice(outcome="failed", reason=f"stripe: {error.get('message') or error.get('code') or 'failed'}",
                          **common)
        if kind == "payment_intent.canceled":
            return Notice(outcome="failed", reason=f"stripe: canceled ({obj.get('cancellation_reason')})", **common)
        return Notice(outcome="ignored", **common)
    if kind == "charge.refunded":
        return Notice(event_id=event_id, kind=kind, outcome="refunded", reference=obj.get("payment_intent"),
                      payment_id=metadata.get("payment_id"), amount_minor=obj.get("amount_refunded"))
    return Notice(event_id=event_id, kind=kind, outcome="ignored")


register(StripeProvider())
