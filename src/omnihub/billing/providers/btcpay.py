"""BTCPay Server (crypto) through its Greenfield API: an invoice per payment, priced in the store currency (the
customer pays its equivalent in bitcoin at BTCPay's rate; the hub converts nothing), webhooks signed with
`BTCPay-Sig: sha256=<HMAC-SHA256(webhook secret, body)>`, refunds as BTCPay's refund pull payments, and the
invoices list for reconciliation. An underpaid invoice is not paid: the payment stays open with the reason."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from omnihub.billing.providers import Account, Notice, NotVerified, PaymentAsk, Started, register
from omnihub.billing.providers.http import json_call
from omnihub.core.outbound import OutboundGuard

API_BASE = "https://btcpay.example.invalid"  # a BTCPay Server is self-hosted: api_base is required


def _headers(account: Account) -> dict[str, str]:
    return {"Authorization": f"token {account.secrets['api_key']}"}


def _store(account: Account) -> str:
    return account.base(API_BASE) + f"/api/v1/stores/{quote(str(account.config['store_id']), safe='')}"


class BTCPayProvider:
    name = "btcpay"
    secret_fields = ("api_key", "webhook_secret")
    public_fields = ("store_id", "api_base", "redirect_url", "hold_minutes")
    required_fields = ("api_key", "webhook_secret", "store_id", "api_base")
    authorises = False

    def start(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> Started:
        body: dict[str, Any] = {"amount": str(ask.amount), "currency": ask.currency,
                                "metadata": {"orderId": ask.order_id, "paymentId": ask.payment_id}}
        if account.config.get("redirect_url"):
            body["checkout"] = {"redirectURL": account.config["redirect_url"]}
        invoice = json_call(guard, "POST", _store(account) + "/invoices", headers=_headers(account), payload=body,
                            what="btcpay create invoice")
        return Started(reference=str(invoice["id"]), next_action={"type": "redirect",
                                                                  "url": invoice.get("checkoutLink")})

    def capture(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> None:
        return None  # settled on chain: nothing to capture

    def cancel(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> None:
        """Mark the invoice invalid so nobody pays it after the hub gave up on it."""
        json_call(guard, "POST", _store(account) + f"/invoices/{quote(str(ask.reference), safe='')}/status",
                  headers=_headers(account), payload={"status": "Invalid"}, what="btcpay invalidate invoice")

    def refund(self, account: Account, ask: PaymentAsk, minor: int, refund_id: str, guard: OutboundGuard) -> str:
        """A refund pull payment for `minor` in the store currency (the customer claims it with an address)."""
        value = (ask.amount * minor / ask.minor).quantize(ask.amount) if ask.minor else ask.amount
        pull = json_call(guard, "POST", _store(account) + f"/invoices/{quote(str(ask.reference), safe='')}/refund",
                         headers=_headers(account), payload={
                             "name": f"Refund {refund_id}", "paymentMethod": "BTC", "refundVariant": "Custom",
                             "customAmount": str(value), "customCurrency": ask.currency},
                         what="btcpay refund")
        return str(pull["id"])

    return_parameter = "invoiceId"  # redirect_url with `{InvoiceId}`, which BTCPay fills in

    def confirm(self, account: Account, ask: PaymentAsk, guard: OutboundGuard) -> Notice:
        """The customer came back: the invoice as BTCPay has it now (`GET …/invoices/{id}`)."""
        invoice = json_call(guard, "GET", _store(account) + f"/invoices/{quote(str(ask.reference), safe='')}",
                            headers=_headers(account), what="btcpay read invoice")
        if (invoice.get("metadata") or {}).get("paymentId") != ask.payment_id:
            raise NotVerified("the BTCPay invoice is not this payment's")
        status = str(invoice.get("status"))
        common = {"event_id": f"return:{ask.reference}:{status}", "kind": f"return.{status}",
                  "payment_id": ask.payment_id, "reference": ask.reference}
        if status == "Settled":
            return Notice(outcome="captured", **common)
        if status in ("Expired", "Invalid"):
            underpaid = invoice.get("additionalStatus") == "PaidPartial"
            return Notice(outcome="failed", reason="btcpay: underpaid — the invoice expired partly paid" if underpaid
                          else f"btcpay: the invoice is {status.lower()}", **common)
        if invoice.get("additionalStatus") == "PaidPartial":
            return Notice(outcome="underpaid", reason=f"btcpay: underpaid — {invoice.get('amount')} "
                          f"{invoice.get('currency')} asked, less received", **common)
        return Notice(outcome="ignored", **common)

    def list_payments(self, account: Account, since: int, until: int, guard: OutboundGuard) -> list[dict[str, Any]]:
        invoices = json_call(guard, "GET", _store(account) + f"/invoices?startDate={since}&endDate={until}",
                             headers=_headers(account), what="btcpay list invoices")
        return [{"reference": i["id"], "status": i.get("status"), "currency": i.get("currency"),
                 "amount": i.get("amount"), "payment_id": (i.get("metadata") or {}).get("paymentId")}
                for i in invoices]

    def verify(self, raw: bytes, headers: Mapping[str, str], accounts: list[Account], guard: OutboundGuard
               ) -> Notice:
        given = headers.get("btcpay-sig", "")
        if not given.startswith("sha256="):
            raise NotVerified("no BTCPay-Sig header")
        for account in accounts:
            expected = "sha256=" + hmac.new(account.secrets["webhook_secret"].encode(), raw, hashlib.sha256).hexdigest()
            if hmac.compare_digest(given.encode(), expected.encode()):
                event = json.loads(raw)
                if str(event.get("storeId")) != str(account.config.get("store_id")):
                    continue
                return self._notice(account, event, guard)
        raise NotVerified("the BTCPay-Sig matches no configured webhook secret")

    def _notice(self, account: Account, event: dict[str, Any], guard: OutboundGuard) -> Notice:
        kind = str(event.get("type", ""))
        # Redeliveries of one delivery share its originalDeliveryId: the same event.
        delivery = event.get("originalDeliveryId") or event.get("deliveryId")
        event_id = str(delivery) if delivery else ""  # none: flow.verify names it by its body
        common = {"event_id": event_id, "kind": kind, "reference": str(event.get("invoiceId")),
                  "payment_id": (event.get("metadata") or {}).get("paymentId")}
        if kind == "InvoiceSettled":
            return Notice(outcome="captured", **common)
        if kind == "InvoiceExpired":
            reason = "btcpay: underpaid — the invoice expired partly paid" if event.get("partiallyPaid") else \
                "btcpay: the invoice expired unpaid"
            return Notice(outcome="failed", reason=reason, **common)
        if kind == "InvoiceInvalid":
            return Notice(outcome="failed", reason="btcpay: the invoice was marked invalid", **common)
        if kind in ("InvoiceReceivedPayment", "InvoiceProcessing"):
            invoice = json_call(guard, "GET", _store(account) + f"/invoices/{quote(common['reference'], safe='')}",
                                headers=_headers(account), what="btcpay read invoice")
            if invoice.get("additionalStatus") == "PaidPartial":
                return Notice(outcome="underpaid", reason=f"btcpay: underpaid — {invoice.get('amount')} "
                              f"{invoice.get('currency')} asked, less received", **common)
            return Notice(outcome="ignored", **common)
        return Notice(outcome="ignored", **common)


def unix(value: datetime) -> int:
    return int(value.astimezone(UTC).timestamp())


register(BTCPayProvider())
