"""Reconciliation: what a provider's own records say (its list API) against what the hub recorded, for one
channel's account over a time window. Differences are reported, never fixed silently:

- `missing_in_hub`: the provider has a payment the hub never started (or no longer knows);
- `missing_at_provider`: the hub started a payment the provider does not list;
- `status_differs`: money taken at the provider while the hub thinks it is not (or the reverse).

Stripe, BTCPay and PayPal list by dates (PayPal's Transaction Search names our payment id in `custom_field`, so
its records are matched by that); Redsys has no list by dates here: each of the hub's orders in the window is
asked for (`look_up`), so it finds what differs or is missing there, never what the hub lacks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from omnihub.billing import provider_accounts
from omnihub.billing.models import provider_payments
from omnihub.billing.providers import provider_for
from omnihub.core.db import Database
from omnihub.core.outbound import OutboundGuard

PP = provider_payments.c
TAKEN_AT_PROVIDER = {"succeeded", "requires_capture", "Settled", "COMPLETED", "APPROVED"}
TAKEN_IN_HUB = {"authorized", "captured", "refunded"}


def reconcile(db: Database, *, secret_key: str, guard: OutboundGuard, provider: str, channel: str,
              since: datetime, until: datetime) -> dict[str, Any]:
    """Compare; the provider is asked outside any transaction."""
    implementation = provider_for(provider)
    if implementation is None:
        raise ValueError(f"no payment provider '{provider}'")
    with db.read() as conn:
        account = provider_accounts.account_for(conn, secret_key, channel, provider)
        ours = {r.reference: r for r in conn.execute(sa.select(provider_payments).where(
            PP.provider == provider, PP.channel_code == channel, PP.reference.is_not(None),
            PP.created_at >= since, PP.created_at < until))}
    look_up = getattr(implementation, "look_up", None)
    if look_up is not None:
        listed = look_up(account, sorted(ours), guard)
    else:
        listed = implementation.list_payments(account, int(since.timestamp()), int(until.timestamp()), guard)
    by_payment = {r.id: reference for reference, r in ours.items()}
    theirs: dict[str, dict[str, Any]] = {}
    for record in listed:  # a record naming our payment id is that payment, whatever the provider calls it
        theirs[by_payment.get(record.get("payment_id") or "", record["reference"])] = record
    report: dict[str, Any] = {"provider": provider, "channel": channel, "from": since.isoformat(),
                              "to": until.isoformat(), "hub": len(ours), "provider_count": len(theirs),
                              "missing_in_hub": [], "missing_at_provider": [], "status_differs": []}
    for reference, record in sorted(theirs.items()):
        row = ours.get(reference)
        if row is None:
            report["missing_in_hub"].append(record)
            continue
        taken_there = record["taken"] if "taken" in record else record.get("status") in TAKEN_AT_PROVIDER
        if taken_there != (row.status in TAKEN_IN_HUB):
            report["status_differs"].append({"reference": reference, "hub": row.status,
                                             "provider": record.get("status"), "payment_id": row.id,
                                             "order_id": row.order_id})
    for reference, row in sorted(ours.items()):
        if reference not in theirs:
            report["missing_at_provider"].append({"reference": reference, "payment_id": row.id,
                                                  "order_id": row.order_id, "hub": row.status})
    report["clean"] = not (report["missing_in_hub"] or report["missing_at_provider"] or report["status_differs"])
    return report
