"""The billing room's errors, each with a stable code."""

from __future__ import annotations

from decimal import Decimal

from omnihub.core.errors import Conflict, NotFound, Unauthorized, Unavailable, ValidationFailed


def payment_method_unknown(code: str, field: str) -> ValidationFailed:
    return ValidationFailed("payment_method_unknown", f"No active payment method '{code}'.", field=field,
                            method=code)


def payment_method_not_found(code: str) -> NotFound:
    return NotFound("payment_method_not_found", f"No payment method '{code}'.", method=code)


def payment_method_exists(code: str) -> Conflict:
    return Conflict("payment_method_exists", f"A payment method '{code}' already exists.", field="code", method=code)


def payment_method_reserved(code: str) -> ValidationFailed:
    return ValidationFailed("payment_method_reserved", f"'{code}' is a reserved word, not a method code.",
                            field="code", method=code)


def gateway_unknown(name: str, known: list[str]) -> ValidationFailed:
    return ValidationFailed("gateway_unknown", f"No gateway '{name}'. Known: {', '.join(known)}.", field="gateway",
                            gateway=name)


def customer_required(field: str) -> ValidationFailed:
    return ValidationFailed("customer_required", "Store credit needs a known customer.", field=field)


def amount_not_positive(field: str) -> ValidationFailed:
    return ValidationFailed("invalid_amount", "A payment amount must be greater than zero.", field=field)


def payment_exceeds_total(total: Decimal, paid: Decimal, requested: Decimal, currency: str,
                          field: str = "payments") -> ValidationFailed:
    return ValidationFailed(
        "payment_exceeds_total",
        f"Paying {requested} {currency} would exceed the order total {total} ({paid} already paid).",
        field=field, total=str(total), paid=str(paid), requested=str(requested), currency=currency,
    )


def currency_mismatch(expected: str, got: str, field: str = "currency") -> ValidationFailed:
    return ValidationFailed("currency_mismatch", f"This order is billed in {expected}, not {got}.", field=field,
                            expected=expected, got=got)


def refund_exceeds_paid(refundable: Decimal, requested: Decimal) -> ValidationFailed:
    return ValidationFailed(
        "refund_exceeds_paid", f"Only {refundable} can still be refunded; {requested} was requested.",
        field="amount", refundable=str(refundable), requested=str(requested),
    )


def tax_rate_missing(tax_class: str, country: str | None, field: str = "lines") -> ValidationFailed:
    return ValidationFailed(
        "tax_rate_missing", f"No tax rate for class '{tax_class}' in country '{country}'.", field=field,
        tax_class=tax_class, country=country,
    )


def invalid_tax_rate(field: str = "rate") -> ValidationFailed:
    return ValidationFailed("invalid_tax_rate", "A tax rate is a percentage from 0 to 100 with at most 4 decimals.",
                            field=field)


def invalid_series(series: str) -> ValidationFailed:
    return ValidationFailed(
        "invalid_series", "A series is 1-32 letters, digits, '-' or '_' (e.g. 'INV-2026').", field="series",
        series=series,
    )


def invoice_not_found(number: str) -> NotFound:
    return NotFound("invoice_not_found", f"No invoice '{number}'.", number=number)


def credit_note_not_found(number: str) -> NotFound:
    return NotFound("credit_note_not_found", f"No credit note '{number}'.", number=number)


def invalid_cursor() -> ValidationFailed:
    return ValidationFailed("invalid_cursor", "The cursor is not one this API issued.", field="cursor")


# ---- external providers (billing.flow) -------------------------------------------------------------------------


def provider_unknown(name: str, known: list[str]) -> NotFound:
    return NotFound("payment_provider_unknown", f"No payment provider '{name}'. Known: {', '.join(known)}.",
                    provider=name)


def provider_field_missing(provider: str, name: str) -> ValidationFailed:
    return ValidationFailed("provider_field_missing", f"{provider} needs '{name}'.", field=name, provider=provider)


def provider_field_unknown(provider: str, name: str) -> ValidationFailed:
    return ValidationFailed("provider_field_unknown", f"{provider} takes no '{name}'.", field=name, provider=provider)


def provider_not_configured(provider: str, channel: str) -> ValidationFailed:
    return ValidationFailed("provider_not_configured",
                            f"Channel '{channel}' has no {provider} account (PUT /channels/{channel}/payment-providers/"
                            f"{provider}).", field="payments", provider=provider, channel=channel)


def provider_url_refused(reason: str) -> ValidationFailed:
    return ValidationFailed("provider_url_refused", reason, field="api_base")


def notification_not_verified(provider: str) -> Unauthorized:
    return Unauthorized("notification_not_verified",
                        f"The {provider} notification's signature does not check out; nothing was changed.",
                        provider=provider)


def notification_unreadable(provider: str) -> ValidationFailed:
    return ValidationFailed("notification_unreadable", f"The {provider} notification could not be read.",
                            provider=provider)


def payment_not_async(method: str, field: str) -> ValidationFailed:
    return ValidationFailed("payment_method_not_here",
                            f"'{method}' is paid at an external provider: not at a counter sale.", field=field,
                            method=method)



def notification_too_large(limit: int) -> ValidationFailed:
    return ValidationFailed("notification_too_large", f"A notification is at most {limit} bytes.")


def currency_unknown(code: str) -> ValidationFailed:
    return ValidationFailed("currency_unknown", f"'{code}' is not a currency in use.", field="currency")


def return_not_verified(provider: str) -> Unauthorized:
    return Unauthorized("return_not_verified",
                        f"The return from {provider} names no payment the provider backs; nothing was changed.",
                        provider=provider)


def return_unreadable(provider: str, field: str) -> ValidationFailed:
    return ValidationFailed("return_unreadable", f"The return from {provider} lacks '{field}'.", field=field,
                            provider=provider)


def return_not_confirmed(provider: str) -> Unavailable:
    return Unavailable("return_not_confirmed",
                       f"{provider} could not be asked about the payment now; the notification will tell.",
                       provider=provider)


def notification_not_found(notification_id: str) -> NotFound:
    return NotFound("notification_not_found", f"No stored provider notification '{notification_id}'.",
                    notification=notification_id)


def notification_applied(notification_id: str) -> Conflict:
    return Conflict("notification_applied", f"Notification '{notification_id}' was applied already: there is nothing "
                    "to retry.", notification=notification_id)
