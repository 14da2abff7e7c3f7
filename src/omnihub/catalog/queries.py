"""Read side of the catalog, for the API, other rooms and analytics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import errors
from omnihub.catalog.models import (
    channel_locations,
    channel_prices,
    channels,
    price_list_customers,
    price_list_prices,
    price_lists,
    products,
)
from omnihub.core import reference
from omnihub.core.db import PerEngine
from omnihub.core.money import format_amount
from omnihub.core.pagination import decode_cursor, page


def _product(row: Any) -> dict[str, Any]:
    return {
        "sku": row.sku,
        "name": row.name,
        "category": row.category,
        "barcode": row.barcode,
        "group": row.group_code,
        "attributes": row.attributes or {},
        "tax_class": row.tax_class,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def get_product(conn: Connection, sku: str) -> dict[str, Any]:
    row = conn.execute(sa.select(products).where(products.c.sku == sku)).first()
    if row is None:
        raise errors.product_not_found(sku)
    return _product(row)


def get_products(conn: Connection, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Several products in one read, by SKU; a SKU that is not in the catalog is simply absent."""
    wanted = sorted(set(skus))
    if not wanted:
        return {}
    return {row.sku: _product(row) for row in conn.execute(sa.select(products).where(products.c.sku.in_(wanted)))}


def list_products(
    conn: Connection, *, limit: int, cursor: str | None, category: str | None = None, group: str | None = None
) -> dict[str, Any]:
    query = sa.select(products).order_by(products.c.sku).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(products.c.sku > str(after))
    if category:
        query = query.where(products.c.category == category)
    if group:
        query = query.where(products.c.group_code == group)
    return page([_product(r) for r in conn.execute(query)], limit, key=lambda p: p["sku"])


def existing_skus(conn: Connection, skus: Iterable[str]) -> set[str]:
    wanted = list(set(skus))
    if not wanted:
        return set()
    return set(conn.execute(sa.select(products.c.sku).where(products.c.sku.in_(wanted))).scalars())


def priced(conn: Connection, channel_codes: Iterable[str], skus: Iterable[str]) -> set[tuple[str, str]]:
    """The (channel, SKU) pairs among these that have a price: a product is only sold — and only available —
    where it is priced."""
    codes, wanted = sorted(set(channel_codes)), sorted(set(skus))
    found: set[tuple[str, str]] = set()
    for start in range(0, len(wanted), 500):
        found.update((c, s) for c, s in conn.execute(
            sa.select(channel_prices.c.channel_code, channel_prices.c.sku)
            .where(channel_prices.c.channel_code.in_(codes), channel_prices.c.sku.in_(wanted[start : start + 500]))))
    return found


def _locations_by_channel(conn: Connection, codes: list[str]) -> dict[str, list[str]]:
    rows = conn.execute(
        sa.select(channel_locations.c.channel_code, channel_locations.c.location_code)
        .where(channel_locations.c.channel_code.in_(codes))
        .order_by(channel_locations.c.channel_code, channel_locations.c.position)
    )
    result: dict[str, list[str]] = {code: [] for code in codes}
    for channel_code, location_code in rows:
        result[channel_code].append(location_code)
    return result


def _channel(row: Any, locations: list[str]) -> dict[str, Any]:
    return {
        "code": row.code,
        "name": row.name,
        "kind": row.kind,
        "currency": row.currency,
        "country": row.country,
        "locations": locations,
        "stock_buffer": row.stock_buffer,
        "prices_include_tax": row.prices_include_tax,
        "shipping_fee": Decimal(format_amount(row.shipping_fee, row.currency)),
        "cart_hold_minutes": row.cart_hold_minutes,
        "cart_abandoned_after": row.cart_abandoned_after,
    }


# Every channel with its fulfilling locations, in order: what the hot paths (reservations, orders) keep in memory.
_ALL_CHANNELS = (
    sa.select(channels, channel_locations.c.location_code)
    .select_from(channels.outerjoin(channel_locations, channel_locations.c.channel_code == channels.c.code))
    .order_by(channels.c.code, channel_locations.c.position)
)


def _all_channels(conn: Connection) -> dict[str, dict[str, Any]]:
    found: dict[str, tuple[Any, list[str]]] = {}
    for row in conn.execute(_ALL_CHANNELS):
        locations = found.setdefault(row.code, (row, []))[1]
        if row.location_code is not None:
            locations.append(row.location_code)
    return {code: _channel(row, locations) for code, (row, locations) in found.items()}


def get_channel(conn: Connection, code: str, *, field: str | None = None) -> dict[str, Any]:
    """The channel with its fulfilling locations — from memory while reference data is unchanged
    (`omnihub.core.reference`): every order and reservation reads one."""
    channel = reference.cached(conn, "catalog.channels", _all_channels).get(code)
    if channel is None:
        raise errors.channel_not_found(code, field=field)
    return {**channel, "locations": list(channel["locations"])}


def list_channels(conn: Connection, *, limit: int, cursor: str | None) -> dict[str, Any]:
    query = sa.select(channels).order_by(channels.c.code).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(channels.c.code > str(after))
    rows = list(conn.execute(query))
    locations = _locations_by_channel(conn, [r.code for r in rows])
    return page([_channel(r, locations[r.code]) for r in rows], limit, key=lambda c: c["code"])


def channels_fulfilled_by(conn: Connection, location_codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Every channel that any of these locations fulfils, with its full location list and buffer (the
    availability projector asks for every batch of stock changes): from the channels kept in memory."""
    wanted = set(location_codes)
    if not wanted:
        return {}
    known = reference.cached(conn, "catalog.channels", _all_channels)
    return {code: {**channel, "locations": list(channel["locations"])} for code, channel in known.items()
            if wanted.intersection(channel["locations"])}


def channel_prices_page(conn: Connection, code: str, *, limit: int, cursor: str | None) -> dict[str, Any]:
    channel = get_channel(conn, code)
    query = (
        sa.select(channel_prices.c.sku, channel_prices.c.amount)
        .where(channel_prices.c.channel_code == code)
        .order_by(channel_prices.c.sku)
        .limit(limit + 1)
    )
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(channel_prices.c.sku > str(after))
    currency = channel["currency"]
    items = [{"sku": sku, "amount": Decimal(format_amount(amount, currency)), "currency": currency}
             for sku, amount in conn.execute(query)]
    return page(items, limit, key=lambda p: p["sku"])


@dataclass(frozen=True)
class PricingFacts:
    """What pricing needs of the catalog for some SKUs in one channel for one customer."""

    products: dict[str, dict[str, Any]]  # sku -> name, category, tax_class (existing SKUs only)
    channel_prices: dict[str, Decimal]  # sku -> the channel's price, where it has one
    price_list: str | None  # the customer's price list
    listed: dict[str, tuple[Decimal, int]]  # sku -> (amount, minimum quantity) on that list


_PLC, _PLP, _CP = price_list_customers.c, price_list_prices.c, channel_prices.c
# Built once: every order and cart change prices its lines with this one read.
_PRICING_FACTS = PerEngine(lambda in_: (
    sa.select(products.c.sku, products.c.name, products.c.category, products.c.tax_class,
              _CP.amount.label("channel_amount"), _PLC.price_list, _PLP.amount.label("list_amount"),
              _PLP.min_quantity)
    .select_from(
        products
        .outerjoin(channel_prices, sa.and_(_CP.sku == products.c.sku, _CP.channel_code == sa.bindparam("b_channel")))
        .outerjoin(price_list_customers, _PLC.customer_id == sa.bindparam("b_customer", type_=sa.String))
        .outerjoin(price_list_prices, sa.and_(_PLP.price_list == _PLC.price_list, _PLP.sku == products.c.sku)))
    .where(in_(products.c.sku, "b_skus"))
))


def pricing_facts(conn: Connection, channel_code: str, customer_id: str | None, skus: Iterable[str]
                  ) -> PricingFacts:
    """Products, channel prices and the customer's price list for these SKUs, in one read."""
    found: dict[str, dict[str, Any]] = {}
    prices: dict[str, Decimal] = {}
    listed: dict[str, tuple[Decimal, int]] = {}
    price_list = None
    for r in conn.execute(_PRICING_FACTS(conn), {"b_channel": channel_code, "b_customer": customer_id,
                                           "b_skus": list(set(skus))}):
        found[r.sku] = {"name": r.name, "category": r.category, "tax_class": r.tax_class}
        if r.channel_amount is not None:
            prices[r.sku] = Decimal(r.channel_amount)
        if r.list_amount is not None:
            listed[r.sku] = (Decimal(r.list_amount), r.min_quantity)
        price_list = price_list or r.price_list
    return PricingFacts(found, prices, price_list, listed)


def get_price_list(conn: Connection, code: str) -> dict[str, Any]:
    row = conn.execute(sa.select(price_lists).where(price_lists.c.code == code)).first()
    if row is None:
        raise errors.price_list_not_found(code)
    prices = conn.execute(sa.select(price_list_prices).where(price_list_prices.c.price_list == code)
                          .order_by(price_list_prices.c.sku))
    customers = conn.execute(sa.select(price_list_customers.c.customer_id)
                             .where(price_list_customers.c.price_list == code)
                             .order_by(price_list_customers.c.customer_id)).scalars()
    return {"code": row.code, "name": row.name, "currency": row.currency,
            "prices": [{"sku": p.sku, "amount": Decimal(format_amount(p.amount, row.currency)),
                        "min_quantity": p.min_quantity} for p in prices],
            "customers": list(customers)}
