"""Catalog use cases: the only code that writes products, channels and prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from omnihub.catalog import errors, queries, rules
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
from omnihub.core.clock import Clock
from omnihub.core.db import upsert
from omnihub.core.durations import parse_duration
from omnihub.core.events import emit, emit_many
from omnihub.core.money import parse_amount


def _check_barcode(conn: Connection, sku: str, barcode: str | None) -> None:
    if barcode is None:
        return
    owner = conn.execute(sa.select(products.c.sku).where(products.c.barcode == barcode)).scalar()
    if owner is not None and owner != sku:
        raise errors.barcode_taken(barcode, owner)


def create_product(conn: Connection, clock: Clock, data: dict[str, Any]) -> dict[str, Any]:
    sku = data["sku"]
    if conn.execute(sa.select(products.c.sku).where(products.c.sku == sku)).first():
        raise errors.product_exists(sku)
    _check_barcode(conn, sku, data.get("barcode"))
    now = clock.now()
    try:
        with conn.begin_nested():
            conn.execute(
                products.insert(), dict(
                    sku=sku,
                    name=data["name"],
                    category=data["category"],
                    barcode=data.get("barcode"),
                    group_code=data.get("group"),
                    attributes=data.get("attributes") or {},
                    tax_class=data.get("tax_class") or "standard",
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError:  # a concurrent create of the same SKU won the race
        raise errors.product_exists(sku) from None
    product = queries.get_product(conn, sku)
    emit(conn, clock, "product.created", {"sku": sku, "name": data["name"], "category": data["category"]})
    return product


def create_products(conn: Connection, clock: Clock, rows: list[dict[str, Any]]) -> list[str]:
    """Create many products at once (imports): the SKUs not in the catalog yet, one insert and one batch of
    `product.created` events; SKUs already there are left as they are. Rows with a barcode go one by one
    (`create_product` checks the barcode is free). Returns the SKUs created."""
    existing = queries.existing_skus(conn, [row["sku"] for row in rows])
    fresh, seen = [], set()
    created: list[str] = []
    for row in rows:
        if row["sku"] in existing or row["sku"] in seen:
            continue
        seen.add(row["sku"])
        if row.get("barcode"):
            create_product(conn, clock, row)
            created.append(row["sku"])
        else:
            fresh.append(row)
    if fresh:
        now = clock.now()
        conn.execute(products.insert(), [dict(
            sku=row["sku"], name=row["name"], category=row["category"], barcode=None, group_code=row.get("group"),
            attributes=row.get("attributes") or {}, tax_class=row.get("tax_class") or "standard", created_at=now,
            updated_at=now) for row in fresh])
        emit_many(conn, clock, [("product.created", {"sku": row["sku"], "name": row["name"],
                                                     "category": row["category"]}) for row in fresh])
        created += [row["sku"] for row in fresh]
    return created


def replace_product(conn: Connection, clock: Clock, sku: str, data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """PUT semantics: create or replace. Returns (product, created)."""
    exists = conn.execute(sa.select(products.c.sku).where(products.c.sku == sku)).first() is not None
    if not exists:
        return create_product(conn, clock, {**data, "sku": sku}), True
    _check_barcode(conn, sku, data.get("barcode"))
    conn.execute(
        products.update()
        .where(products.c.sku == sku)
        .values(
            name=data["name"],
            category=data["category"],
            barcode=data.get("barcode"),
            group_code=data.get("group"),
            attributes=data.get("attributes") or {},
            tax_class=data.get("tax_class") or "standard",
            updated_at=clock.now(),
        )
    )
    emit(conn, clock, "product.updated", {"sku": sku, "name": data["name"], "category": data["category"]})
    return queries.get_product(conn, sku), False


def _set_locations(conn: Connection, code: str, locations: list[str]) -> None:
    if len(set(locations)) != len(locations):
        raise errors.duplicate_location()
    conn.execute(channel_locations.delete().where(channel_locations.c.channel_code == code))
    if locations:
        try:
            with conn.begin_nested():
                conn.execute(
                    channel_locations.insert(),
                    [{"channel_code": code, "location_code": loc, "position": i} for i, loc in enumerate(locations)],
                )
        except IntegrityError:
            raise errors.unknown_locations(locations) from None


def create_channel(conn: Connection, clock: Clock, data: dict[str, Any]) -> dict[str, Any]:
    code = data["code"]
    reference.changed(conn)
    if conn.execute(sa.select(channels.c.code).where(channels.c.code == code)).first():
        raise errors.channel_exists(code)
    now = clock.now()
    conn.execute(
        channels.insert(), dict(
            code=code,
            name=data["name"],
            kind=data["kind"],
            currency=data["currency"],
            country=data.get("country"),
            stock_buffer=data.get("stock_buffer", 0),
            prices_include_tax=data.get("prices_include_tax", True),
            shipping_fee=parse_amount(data.get("shipping_fee", 0), data["currency"], field="shipping_fee"),
            cart_hold_minutes=data.get("cart_hold_minutes", 0),
            cart_abandoned_after=(parse_duration(data["cart_abandoned_after"])
                                  if data.get("cart_abandoned_after") else None),
            created_at=now,
            updated_at=now,
        )
    )
    _set_locations(conn, code, data.get("locations") or [])
    channel = queries.get_channel(conn, code)
    emit(conn, clock, "channel.created", _event_shape(channel))
    return channel


def update_channel(conn: Connection, clock: Clock, code: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change name, country, buffer or fulfilling locations. Availability moves with them (callers re-publish)."""
    current = queries.get_channel(conn, code)
    reference.changed(conn)
    editable = ("name", "country", "stock_buffer", "prices_include_tax", "shipping_fee", "cart_hold_minutes")
    values = {k: v for k, v in changes.items() if k in editable and v is not None}
    if "cart_abandoned_after" in changes:  # null switches the abandoned-cart scan off for the channel
        after = changes["cart_abandoned_after"]
        values["cart_abandoned_after"] = parse_duration(after) if after is not None else None
    if "shipping_fee" in values:
        values["shipping_fee"] = parse_amount(values["shipping_fee"], current["currency"], field="shipping_fee")
    if values:
        conn.execute(channels.update().where(channels.c.code == code).values(**values, updated_at=clock.now()))
    if changes.get("locations") is not None:
        _set_locations(conn, code, changes["locations"])
    channel = queries.get_channel(conn, code)
    emit(conn, clock, "channel.updated", _event_shape(channel))
    return channel


def set_prices(conn: Connection, clock: Clock, code: str, prices: list[tuple[str, Decimal]]) -> list[dict[str, Any]]:
    """Set a channel's prices for the given SKUs, all or nothing."""
    channel = queries.get_channel(conn, code)
    normalised = rules.normalise_price_list(prices, channel["currency"])
    unknown = rules.missing([sku for sku, _ in normalised], queries.existing_skus(conn, [s for s, _ in normalised]))
    if unknown:
        index = [sku for sku, _ in normalised].index(unknown[0])
        raise errors.product_not_found(unknown[0], field=f"{index}.sku")
    now = clock.now()
    upsert(
        conn,
        channel_prices,
        [{"channel_code": code, "sku": sku, "amount": amount, "updated_at": now} for sku, amount in normalised],
        keys=["channel_code", "sku"],
        update=["amount", "updated_at"],
    )
    result = [{"sku": sku, "amount": amount, "currency": channel["currency"]} for sku, amount in normalised]
    emit(conn, clock, "price.changed", {"channel": code, "prices": [
        {"sku": p["sku"], "amount": str(p["amount"]), "currency": p["currency"]} for p in result]})
    return result


def _event_shape(channel: dict[str, Any]) -> dict[str, Any]:
    return {**channel, "shipping_fee": str(channel["shipping_fee"])}


def create_price_list(conn: Connection, clock: Clock, data: dict[str, Any]) -> dict[str, Any]:
    code = data["code"]
    if conn.execute(sa.select(price_lists.c.code).where(price_lists.c.code == code)).first():
        raise errors.price_list_exists(code)
    conn.execute(price_lists.insert(), dict(code=code, name=data["name"], currency=data["currency"],
                                             created_at=clock.now()))
    return queries.get_price_list(conn, code)


def set_price_list_prices(conn: Connection, clock: Clock, code: str, prices: list[dict[str, Any]]
                          ) -> dict[str, Any]:
    """Customer-specific prices with minimum quantities, all or nothing."""
    price_list = queries.get_price_list(conn, code)
    normalised = rules.normalise_price_list([(p["sku"], p["amount"]) for p in prices], price_list["currency"])
    unknown = rules.missing([sku for sku, _ in normalised], queries.existing_skus(conn, [s for s, _ in normalised]))
    if unknown:
        raise errors.product_not_found(unknown[0], field=f"{[s for s, _ in normalised].index(unknown[0])}.sku")
    upsert(conn, price_list_prices, [
        {"price_list": code, "sku": sku, "amount": amount, "min_quantity": p.get("min_quantity", 1)}
        for (sku, amount), p in zip(normalised, prices, strict=True)
    ], keys=["price_list", "sku"], update=["amount", "min_quantity"])
    emit(conn, clock, "price_list.changed", {"price_list": code, "skus": [s for s, _ in normalised]})
    return queries.get_price_list(conn, code)


def assign_price_list(conn: Connection, clock: Clock, code: str, customer_id: str) -> dict[str, Any]:
    """A customer buys from one price list; assigning another replaces it."""
    queries.get_price_list(conn, code)
    upsert(conn, price_list_customers, [{"customer_id": customer_id, "price_list": code}],
           keys=["customer_id"], update=["price_list"])
    return queries.get_price_list(conn, code)
