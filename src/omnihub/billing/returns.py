"""The customer's return from the provider (Stripe's return_url with `payment_intent`, PayPal's with `token`,
Redsys' URLOK with its signed parameters, BTCPay's redirect with the invoice id), verified server-side: the hub
asks the provider what the payment's state is (or checks Redsys' signature) and applies it exactly as the
notification would — through `flow.receive`, so whichever of the two arrives first moves the payment and the
other changes nothing. A redirect naming no payment of ours, or one the provider does not back, changes nothing.

Nothing is asked of a provider with a transaction open: the payment and its account are read first, the provider
asked, then the answer applied in a new transaction."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa

from omnihub.billing import errors, flow, provider_accounts
from omnihub.billing.models import provider_payments
from omnihub.billing.provider_accounts import provider_named
from omnihub.billing.providers import NotVerified, ProviderFailed
from omnihub.core.clock import Clock
from omnihub.core.db import Database
from omnihub.core.outbound import OutboundGuard

log = logging.getLogger("omnihub.billing.returns")
PP = provider_payments.c
MAX_PARAMETER = 4096


def confirm_return(db: Database, clock: Clock, *, secret_key: str, guard: OutboundGuard, name: str,
                   params: Mapping[str, str]) -> dict[str, Any]:
    """Verify the return with the provider and apply what it says. Returns the receipt and the order id."""
    provider = provider_named(name)
    if any(len(v) > MAX_PARAMETER for v in params.values()):
        raise errors.return_not_verified(name)
    field = getattr(provider, "return_parameter", None)
    try:
        if field is None:  # signed parameters (Redsys): the signature is the proof
            with db.read() as conn:
                accounts = provider_accounts.accounts_of(conn, secret_key, name)
            body = urlencode(dict(params)).encode()
            notice = provider.verify(body, {"content-type": "application/x-www-form-urlencoded"}, accounts, guard)
        else:
            reference = params.get(field)
            if not reference:
                raise errors.return_unreadable(name, field)
            with db.read() as conn:
                row = conn.execute(sa.select(provider_payments).where(PP.provider == name,
                                                                      PP.reference == reference)).first()
                if row is None:
                    raise errors.return_not_verified(name)
                account = provider_accounts.account_for(conn, secret_key, row.channel_code, name)
            notice = provider.confirm(account, flow.ask_for(row), guard)  # type: ignore[attr-defined]
    except NotVerified as exc:
        log.warning("%s return refused: %s", name, exc)
        raise errors.return_not_verified(name) from None
    except ProviderFailed as exc:
        log.warning("%s return not confirmed: %s", name, exc)
        if exc.permanent:  # the provider does not know it (or refuses our key): not backed
            raise errors.return_not_verified(name) from None
        raise errors.return_not_confirmed(name) from None
    except (ValueError, KeyError, TypeError):
        raise errors.return_unreadable(name, "Ds_MerchantParameters") from None
    receipt = db.run(lambda conn: flow.receive(conn, clock, name, notice))
    if receipt.payment_id is None:  # signed, but about no payment of ours: recorded, nothing moved
        raise errors.return_not_verified(name)
    with db.read() as conn:
        order_id = conn.execute(sa.select(PP.order_id).where(PP.id == receipt.payment_id)).scalar_one()
    return {**receipt.out(), "order_id": order_id}
