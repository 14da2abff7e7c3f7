"""What an order or cart costs in a channel for a customer: price list or channel price, promotions, tax per
line, shipping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

from omnihub.billing import service as billing
from omnihub.catalog import queries as catalog
from omnihub.catalog.errors import product_not_found
from omnihub.commerce import errors, rules
from omnihub.core.clock import Clock
from omnihub.customers import queries as customers_queries
from omnihub.promotions import service as promotions
from omnihub.promotions.rules import Basket, BasketLine


def customer_tags(conn: Connection, clock: Clock, customer_id: str | None) -> frozenset[str]:
    if customer_id is None:
        return frozenset()
    return frozenset(customers_queries.customer_tag_names(conn, customer_id, clock.now()))


@dataclass(frozen=True)
class PricedLine:
    sku: str
    name: str
    category: str
    quantity: int
    unit_price: Decimal
    discount: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True)
class Pricing:
    currency: str
    prices_include_tax: bool
    lines: list[PricedLine]
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal  # lines and shipping
    total: Decimal
    promotions: list[dict[str, Any]]
    discounts: Any
    price_list: str | None
    shipping_tax: Decimal = Decimal(0)
    shipping_tax_rate: Decimal = Decimal(0)  # a percentage, like the lines' rates


def price_lines(conn: Connection, clock: Clock, *, channel: dict[str, Any], customer_id: str | None,
                lines: Sequence[tuple[str, int]], codes: Sequence[str], fulfilment_type: str,
                country: str | None) -> Pricing:
    """The price of these lines in this channel for this customer: price list or channel price, promotions,
    tax per line, shipping. The same inputs give the same price in every channel a promotion is valid in."""
    currency = channel["currency"]
    skus = [sku for sku, _ in lines]
    facts = catalog.pricing_facts(conn, channel["code"], customer_id, skus)
    info, price_list, listed, channel_prices = facts.products, facts.price_list, facts.listed, facts.channel_prices
    for index, sku in enumerate(skus):
        if sku not in info:
            raise product_not_found(sku, field=f"lines.{index}.sku")
    units: list[Decimal] = []
    for index, (sku, quantity) in enumerate(lines):
        if sku in listed:
            amount, minimum = listed[sku]
            if quantity < minimum:
                raise errors.below_minimum_quantity(sku, minimum, index)
            units.append(amount)
        elif sku in channel_prices:
            units.append(channel_prices[sku])
        else:
            raise errors.price_missing(sku, channel["code"], index)
    shipping = Decimal(channel["shipping_fee"]) if fulfilment_type == "ship" else Decimal(0)
    basket = Basket(channel=channel["code"], currency=currency, customer_id=customer_id,
                    customer_tags=frozenset(),
                    lines=tuple(BasketLine(sku, info[sku]["category"], q, u) for (sku, q), u in zip(lines, units,
                                                                                                 strict=True)),
                    shipping=shipping, now=clock.now(), codes=tuple(codes))
    discounts = promotions.price_basket(conn, clock, basket,
                                        customer_tags=lambda: customer_tags(conn, clock, customer_id))
    rates = billing.tax_rates_for(conn, country or channel["country"] or "ES",
                                  {info[sku]["tax_class"] for sku in skus})
    priced = []
    for (sku, quantity), unit in zip(lines, units, strict=True):
        discount = rules.quantize(discounts.lines.get(sku, Decimal(0)), currency)
        rate = rates[info[sku]["tax_class"]] * 100  # billing gives a fraction (0.21); lines keep the percent (21)
        amounts = rules.line_amounts(unit, quantity, discount, rate, channel["prices_include_tax"], currency)
        priced.append(PricedLine(sku, info[sku]["name"], info[sku]["category"], quantity, unit, discount, rate,
                                 amounts.tax, amounts.gross))
    shipping_discount = min(shipping, discounts.shipping)
    shipping_rate, carriage = rules.shipping_amounts(shipping, shipping_discount, [p.tax_rate for p in priced],
                                                     channel["prices_include_tax"], currency)
    subtotal = sum((p.unit_price * p.quantity for p in priced), Decimal(0))
    discount_total = sum((p.discount for p in priced), Decimal(0)) + shipping_discount
    tax = sum((p.tax for p in priced), Decimal(0)) + carriage.tax
    total = sum((p.total for p in priced), Decimal(0)) + carriage.gross
    applied = [{"promotion_id": a.promotion_id, "code": a.code, "kind": a.kind, "amount": str(a.amount)}
               for a in discounts.applied]
    return Pricing(currency, channel["prices_include_tax"], priced, rules.quantize(subtotal, currency),
                   rules.quantize(discount_total, currency), rules.quantize(shipping, currency),
                   rules.quantize(tax, currency), rules.quantize(total, currency), applied, discounts, price_list,
                   shipping_tax=carriage.tax, shipping_tax_rate=shipping_rate)

