"""Billing routes: thin — parse, call the service or a query, return. Payments and refunds themselves are
taken by the commerce room's order and return endpoints; this router serves the data behind them."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from omnihub.billing import errors, flow, gift_cards, notifications, provider_accounts, queries, returns, service
from omnihub.billing.notifications_api import router as notifications_router
from omnihub.billing.providers import provider_names
from omnihub.billing.schemas import (
    DocumentOut,
    GiftCardCode,
    GiftCardIn,
    GiftCardOut,
    GiftCardTopUp,
    NotificationAck,
    OrderPaymentsOut,
    PaymentListItemOut,
    PaymentMethodCreate,
    PaymentMethodOut,
    PaymentMethodUpdate,
    ProviderAccountIn,
    ProviderAccountOut,
    ReturnReceipt,
    TaxRateIn,
    TaxRateOut,
)
from omnihub.catalog import queries as catalog_queries
from omnihub.core.money import is_currency
from omnihub.core.outbound import OutboundGuard
from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.core.security import Role
from omnihub.deps import Context, Since, Until, context, requires

log = logging.getLogger("omnihub.billing.api")
router = APIRouter(tags=["billing"])
# The providers' notifications, matched before every other route (`Room.first_router`): they come in storms.
webhooks = APIRouter(tags=["billing"])
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
TaxClass = Path(pattern=r"^[a-z0-9_]{1,32}$")
Country = Path(pattern=r"^[A-Z]{2}$", description="ISO 3166 alpha-2")


@router.get("/payment-methods", response_model=Page[PaymentMethodOut])
def list_payment_methods(limit: int = Limit, cursor: str | None = None, active: bool | None = None,
                         ctx: Context = Depends(context)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.list_payment_methods(conn, limit=limit, cursor=cursor, active=active)


@router.post("/payment-methods", status_code=201, response_model=PaymentMethodOut)
def create_payment_method(body: PaymentMethodCreate, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.create_payment_method(conn, ctx.clock, body.model_dump())


@router.get("/payment-methods/{code}", response_model=PaymentMethodOut)
def get_payment_method(code: str, ctx: Context = Depends(context)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_payment_method(conn, code)


@router.patch("/payment-methods/{code}", response_model=PaymentMethodOut)
def update_payment_method(code: str, body: PaymentMethodUpdate, ctx: Context = Depends(requires())
                          ) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.update_payment_method(conn, ctx.clock, code, body.model_dump(exclude_unset=True))


@router.get("/tax-rates", response_model=Page[TaxRateOut])
def list_tax_rates(limit: int = Limit, cursor: str | None = None, country: str | None = None,
                   tax_class: str | None = None, ctx: Context = Depends(context)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.list_tax_rates(conn, limit=limit, cursor=cursor, country=country, tax_class=tax_class)


@router.put("/tax-rates/{tax_class}/{country}", response_model=TaxRateOut)
def set_tax_rate(body: TaxRateIn, tax_class: str = TaxClass, country: str = Country,
                 ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return service.set_tax_rate(conn, ctx.clock, tax_class, country, body.rate)


@router.get("/payments", response_model=OrderPaymentsOut | Page[PaymentListItemOut])
def payments(order: str | None = Query(None, min_length=1, max_length=40,
                                       description="One order's balance, payments and refunds (that shape)."),
             method: str | None = Query(None, max_length=64),
             customer: str | None = Query(None, max_length=40, description="A profile id (merged ids too)."),
             created_from: datetime | None = Since, created_to: datetime | None = Until,
             limit: int = Limit, cursor: str | None = None,
             ctx: Context = Depends(requires(Role.AGENT))) -> dict[str, Any]:
    """With `order=`: that order's balance, payments and refunds. Without: every payment, newest first, paged."""
    from omnihub.customers import queries as customers

    with ctx.db.read() as conn:
        if order is not None:
            return queries.payments_of(conn, order)
        customer_ids = customers.ids_of_person(conn, customer) if customer is not None else None
        return queries.list_payments(conn, limit=limit, cursor=cursor, method=method, customer_ids=customer_ids,
                                     created_from=created_from, created_to=created_to)


@router.get("/invoices", response_model=Page[DocumentOut])
def list_invoices(order: str | None = None, series: str | None = Query(None, max_length=32),
                  issued_from: datetime | None = Since, issued_to: datetime | None = Until,
                  limit: int = Limit, cursor: str | None = None,
                  ctx: Context = Depends(requires(Role.AGENT))) -> dict[str, Any]:
    """Invoices newest first, by order, series (`INV-WEB`…) and issue time."""
    with ctx.db.read() as conn:
        return queries.list_documents(conn, "invoice", limit=limit, cursor=cursor, order_id=order, series=series,
                                      issued_from=issued_from, issued_to=issued_to)


@router.get("/invoices/{number}", response_model=DocumentOut)
def get_invoice(number: str, ctx: Context = Depends(requires(Role.AGENT))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_document(conn, "invoice", number)


@router.get("/credit-notes", response_model=Page[DocumentOut])
def list_credit_notes(order: str | None = None, limit: int = Limit, cursor: str | None = None,
                      ctx: Context = Depends(requires(Role.AGENT))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.list_documents(conn, "credit_note", limit=limit, cursor=cursor, order_id=order)


@router.get("/credit-notes/{number}", response_model=DocumentOut)
def get_credit_note(number: str, ctx: Context = Depends(requires(Role.AGENT))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_document(conn, "credit_note", number)


# ---- gift cards (codes travel in bodies, never in URLs: URLs end up in logs) --------------------------------------


@router.post("/gift-cards", status_code=201, response_model=GiftCardOut)
def issue_gift_card(body: GiftCardIn, ctx: Context = Depends(requires(Role.ASSOCIATE))) -> dict[str, Any]:
    """A new card (admin, or an associate at the till). Its code is in this answer only."""
    if not is_currency(body.currency):
        raise errors.currency_unknown(body.currency)
    return ctx.db.run(lambda conn: gift_cards.issue(conn, ctx.clock, amount=body.amount, currency=body.currency,
                                                    expires_at=body.expires_at, customer_id=body.customer_id,
                                                    reference=f"issued by {ctx.principal.key_id}"))


@router.post("/gift-cards/balance", response_model=GiftCardOut)
def gift_card_balance(body: GiftCardCode, ctx: Context = Depends(requires(Role.ASSOCIATE, Role.CHANNEL, Role.AGENT))
                      ) -> dict[str, Any]:
    """What a card holds (every channel: the web shop, a till, an agent on the phone)."""
    with ctx.db.read() as conn:
        return gift_cards.balance(conn, ctx.clock, body.code)


@router.post("/gift-cards/top-ups", response_model=GiftCardOut)
def top_up_gift_card(body: GiftCardTopUp, ctx: Context = Depends(requires(Role.ASSOCIATE))) -> dict[str, Any]:
    return ctx.db.run(lambda conn: gift_cards.top_up(conn, ctx.clock, body.code, body.amount,
                                                     reference=f"top-up by {ctx.principal.key_id}"))


# ---- external payment providers ----------------------------------------------------------------------------------

MAX_NOTIFICATION_BYTES = 256 * 1024
ProviderName = Path(pattern=r"^[a-z][a-z0-9_]{1,31}$")


@router.put("/channels/{code}/payment-providers/{provider}", response_model=ProviderAccountOut)
def put_payment_provider(body: ProviderAccountIn, response: Response, code: str = Path(max_length=64),
                         provider: str = ProviderName, ctx: Context = Depends(requires())) -> dict[str, Any]:
    """A channel's account at a provider (admin). Secrets are sealed with OMNIHUB_SECRET_KEY and never shown."""
    with ctx.db.transaction() as conn:
        catalog_queries.get_channel(conn, code, field="code")
        out, created = provider_accounts.configure_provider(conn, ctx.clock, ctx.settings.secret_key, code, provider,
                                               body.model_dump(exclude_none=True),
                                               OutboundGuard(ctx.settings.outbound_allow))
    response.status_code = 201 if created else 200
    return out


@router.get("/channels/{code}/payment-providers/{provider}", response_model=ProviderAccountOut)
def get_payment_provider(code: str = Path(max_length=64), provider: str = ProviderName,
                         ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return provider_accounts.provider_account_out(conn, code, provider)


async def _provider_webhook(request: Request, provider: str) -> dict[str, Any]:
    size = request.headers.get("content-length")
    if size and size.isdigit() and int(size) > MAX_NOTIFICATION_BYTES:
        raise errors.notification_too_large(MAX_NOTIFICATION_BYTES)
    raw = await request.body()
    if len(raw) > MAX_NOTIFICATION_BYTES:
        raise errors.notification_too_large(MAX_NOTIFICATION_BYTES)
    headers = {k.lower(): v for k, v in request.headers.items()}
    state = request.app.state

    def work() -> dict[str, Any]:
        return notifications.accept(state.db, state.clock, secret_key=state.settings.secret_key,
                                    guard=OutboundGuard(state.settings.outbound_allow), name=provider, raw=raw,
                                    headers=headers)

    return await run_in_threadpool(work)


def _webhook_route(provider: str) -> None:
    """`POST /connectors/<provider>/webhooks`: one route per provider (a path parameter here would shadow the
    other rooms' connectors, e.g. Meta's)."""

    async def receive(request: Request) -> dict[str, Any]:
        return await _provider_webhook(request, provider)

    receive.__name__ = f"{provider}_webhook"
    webhooks.add_api_route(
        f"/connectors/{provider}/webhooks", receive, methods=["POST"], response_model=NotificationAck,
        summary=f"A {provider} notification",
        description=f"{provider}'s notification (no API key: its signature is checked against every channel's "
                    "account there). Verified, it is stored and answered `queued`; the worker applies it "
                    "moments later, exactly once. Forged or stale → 401 and nothing is stored; a repeat of a "
                    "stored event → `duplicate: true`, nothing stored again.")


MAX_RETURN_PARAMETERS = 16


async def _provider_return(request: Request, provider: str) -> dict[str, Any]:
    params = dict(request.query_params)
    if len(params) > MAX_RETURN_PARAMETERS:
        raise errors.return_not_verified(provider)
    state = request.app.state

    def work() -> dict[str, Any]:
        guard = OutboundGuard(state.settings.outbound_allow)
        answer = returns.confirm_return(state.db, state.clock, secret_key=state.settings.secret_key, guard=guard,
                                        name=provider, params=params)
        if answer["outcome"] == "approved" and not answer["duplicate"]:  # PayPal: authorise now, not at the worker
            try:
                flow.drive(state.db, state.clock, secret_key=state.settings.secret_key, guard=guard,
                           order_id=answer["order_id"])
            except Exception:  # committed already; the worker asks again
                log.exception("provider calls of order %s", answer["order_id"])
            with state.db.read() as conn:
                answer["status"] = flow.payment_status(conn, answer["payment_id"])
        return answer

    return await run_in_threadpool(work)


def _return_route(provider: str) -> None:
    """`GET /connectors/<provider>/return`: where the provider sends the customer back."""

    async def came_back(request: Request) -> dict[str, Any]:
        return await _provider_return(request, provider)

    came_back.__name__ = f"{provider}_return"
    router.add_api_route(
        f"/connectors/{provider}/return", came_back, methods=["GET"], response_model=ReturnReceipt,
        summary=f"The customer back from {provider}",
        description=f"The query {provider} adds to the return URL (no API key). The hub asks {provider} for the "
                    "payment's state (Redsys: checks the signed parameters) and applies it once, as the "
                    "notification would; a return naming no payment the provider backs → 401, nothing changes.")


for _name in ("stripe", "paypal", "redsys", "btcpay"):
    _webhook_route(_name)
    _return_route(_name)


router.include_router(notifications_router)  # GET /payment-notifications…: what the worker did with them

# The web app loads the providers as it starts, not at its first notification: that would import the `stripe`
# library (~0.4 s of CPU) in each server process while the first notifications of a storm wait.
provider_names()
