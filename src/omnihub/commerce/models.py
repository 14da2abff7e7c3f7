"""The commerce room's tables."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import JsonDoc, Money, Timestamp, metadata

carts = sa.Table(
    "carts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("channel_code", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(40), nullable=True, index=True),
    sa.Column("origin_customer_id", sa.String(40), nullable=True),  # before any merge: unmerge gives it back
    sa.Column("identity", JsonDoc, nullable=False),  # the hints it was opened with
    sa.Column("status", sa.String(16), nullable=False),  # open, checked_out, abandoned
    sa.Column("hold_reservation_id", sa.String(40), nullable=True),
    sa.Column("order_id", sa.String(40), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    # The abandoned-cart scan (commerce.queries.idle_carts): open carts of a known customer, by when last touched.
    sa.Index("ix_carts_idle", "channel_code", "updated_at", "id",
             postgresql_where=sa.text("status = 'open' AND customer_id IS NOT NULL"),
             sqlite_where=sa.text("status = 'open' AND customer_id IS NOT NULL")),
)

cart_lines = sa.Table(
    "cart_lines",
    metadata,
    sa.Column("cart_id", sa.String(40), sa.ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", Money, nullable=False),  # as shown in the cart's current channel
    sa.Column("position", sa.Integer, nullable=False),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
)

def _where(condition: str) -> dict[str, sa.TextClause]:
    """A partial index's condition, on both databases."""
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("number", sa.String(40), nullable=False, unique=True),
    sa.Column("channel_code", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(40), nullable=True, index=True),
    sa.Column("origin_customer_id", sa.String(40), nullable=True),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("payment_status", sa.String(24), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("subtotal", Money, nullable=False),
    sa.Column("discount", Money, nullable=False),
    sa.Column("shipping", Money, nullable=False),
    sa.Column("tax", Money, nullable=False),  # the lines' tax plus shipping_tax
    sa.Column("total", Money, nullable=False),
    sa.Column("prices_include_tax", sa.Boolean, nullable=False),
    # The delivery charge's own tax and rate (a percentage): it follows the goods, at their highest rate.
    sa.Column("shipping_tax", Money, nullable=False, server_default="0"),
    sa.Column("shipping_tax_rate", sa.Numeric(7, 4), nullable=False, server_default="0"),
    sa.Column("fulfilment", JsonDoc, nullable=False),  # {type, location?, address?, slot?}
    sa.Column("sourcing", JsonDoc, nullable=False),  # why these locations (the decision, explained)
    sa.Column("promotions", JsonDoc, nullable=False),
    sa.Column("reservation_id", sa.String(40), nullable=True),
    sa.Column("price_list", sa.String(64), nullable=True),
    sa.Column("pickup_location", sa.String(64), nullable=True),
    sa.Column("pickup_code", sa.String(12), nullable=True),
    sa.Column("pickup_status", sa.String(16), nullable=True),  # awaiting_stock, preparing, ready, collected, expired
    sa.Column("pickup_expires_at", Timestamp, nullable=True),
    sa.Column("pickup_slot_id", sa.String(40), nullable=True),
    # Pickup codes tried since the last unlock, and until when collection is locked (commerce.pickup_guard).
    sa.Column("pickup_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("pickup_locked_until", Timestamp, nullable=True),
    sa.Column("promised_at", Timestamp, nullable=True),
    sa.Column("invoice_number", sa.String(40), nullable=True),
    sa.Column("cart_id", sa.String(40), nullable=True),
    sa.Column("idempotency_key", sa.String(120), nullable=True),  # unique where set (ux_orders_idempotency_key)
    # Identifiers the buyer gave that identify no one (block-listed placeholders, an erased person's): {kind: value}
    sa.Column("contact", JsonDoc, nullable=True),
    # An order a shop (Shopify, WooCommerce) sold itself: its id there (unique per channel: a webhook sent twice
    # records one order) and what the shop said — its number, system, stock it had not got (`oversold`).
    sa.Column("external_id", sa.String(64), nullable=True),
    sa.Column("external", JsonDoc, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    # Indexes on optional values hold only the rows that have one (most orders have none; migration 0044)
    sa.Index("ix_orders_status_pickup", "status", "pickup_expires_at", **_where("pickup_expires_at IS NOT NULL")),
    sa.Index("ux_orders_channel_external", "channel_code", "external_id", unique=True,
             **_where("external_id IS NOT NULL")),
    sa.Index("ux_orders_idempotency_key", "idempotency_key", unique=True, **_where("idempotency_key IS NOT NULL")),
)

order_lines = sa.Table(
    "order_lines",
    metadata,
    sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), primary_key=True),
    sa.Column("line_no", sa.Integer, primary_key=True),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("category", sa.String(120), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price", Money, nullable=False),
    sa.Column("discount", Money, nullable=False),
    sa.Column("tax_rate", sa.Numeric(7, 4), nullable=False),
    sa.Column("tax", Money, nullable=False),
    sa.Column("total", Money, nullable=False),  # what the customer pays for this line, tax included
    sa.Column("location_code", sa.String(64), nullable=True),  # null only while a draft
    sa.Column("fulfilled", sa.Integer, nullable=False, server_default="0"),
    sa.Column("returned", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    sa.CheckConstraint("fulfilled >= 0 AND fulfilled <= quantity", name="fulfilled_within_quantity"),
    sa.CheckConstraint("returned >= 0 AND returned <= fulfilled", name="returned_within_fulfilled"),
)

order_history = sa.Table(
    "order_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("from_status", sa.String(24), nullable=True),
    sa.Column("to_status", sa.String(24), nullable=False),
    sa.Column("actor", sa.String(64), nullable=True),
    sa.Column("note", sa.String(300), nullable=True),
    sa.Column("at", Timestamp, nullable=False),
)

order_sequences = sa.Table(
    "order_sequences",
    metadata,
    sa.Column("channel_code", sa.String(64), primary_key=True),
    sa.Column("next_number", sa.Integer, nullable=False),
)

shipments = sa.Table(
    "shipments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("location_code", sa.String(64), nullable=False),
    sa.Column("carrier", sa.String(64), nullable=False),
    sa.Column("tracking_number", sa.String(120), nullable=False),
    sa.Column("lines", JsonDoc, nullable=False),  # [{line_no, sku, quantity}]
    sa.Column("status", sa.String(16), nullable=False),  # shipped, delivered
    sa.Column("shipped_at", Timestamp, nullable=False),
    sa.Column("delivered_at", Timestamp, nullable=True),
)

returns = sa.Table(
    "returns",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("order_id", sa.String(40), sa.ForeignKey("orders.id"), nullable=False, index=True),
    sa.Column("location_code", sa.String(64), nullable=False),
    sa.Column("condition", sa.String(16), nullable=False),
    sa.Column("lines", JsonDoc, nullable=False),  # [{line_no, sku, quantity, amount}]
    sa.Column("refund_amount", Money, nullable=False),
    sa.Column("refund_method", sa.String(32), nullable=False),
    sa.Column("credit_note_number", sa.String(40), nullable=True),
    sa.Column("exchange_order_id", sa.String(40), nullable=True),
    sa.Column("actor", sa.String(64), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

pickup_slots = sa.Table(
    "pickup_slots",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("location_code", sa.String(64), nullable=False, index=True),
    sa.Column("starts_at", Timestamp, nullable=False),
    sa.Column("ends_at", Timestamp, nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("booked", sa.Integer, nullable=False, server_default="0"),
    sa.CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
)

# Per-location daily order capacity (ship-from-store must not swamp a small shop) and its daily counter.
fulfilment_capacity = sa.Table(
    "fulfilment_capacity",
    metadata,
    sa.Column("location_code", sa.String(64), primary_key=True),
    sa.Column("daily_orders", sa.Integer, nullable=False),
)

fulfilment_load = sa.Table(
    "fulfilment_load",
    metadata,
    sa.Column("location_code", sa.String(64), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("orders", sa.Integer, nullable=False),
)
