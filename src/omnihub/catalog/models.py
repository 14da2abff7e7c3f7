"""The catalog's tables."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import JsonDoc, Money, Timestamp, metadata

CHANNEL_KINDS = ("web", "app", "store", "marketplace", "social", "wholesale")

products = sa.Table(
    "products",
    metadata,
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("category", sa.String(120), nullable=False),
    sa.Column("barcode", sa.String(64), nullable=True, unique=True),
    sa.Column("group_code", sa.String(64), nullable=True, index=True),
    sa.Column("attributes", JsonDoc, nullable=False, default=dict),
    sa.Column("tax_class", sa.String(32), nullable=False, server_default="standard"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_products_category", "category", "sku"),
)

channels = sa.Table(
    "channels",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("country", sa.String(2), nullable=True),
    sa.Column("stock_buffer", sa.Integer, nullable=False, default=0),
    sa.Column("prices_include_tax", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("shipping_fee", Money, nullable=False, server_default="0"),
    # Minutes a cart's lines hold stock while the customer shops (0: no hold).
    sa.Column("cart_hold_minutes", sa.Integer, nullable=False, server_default="0"),
    # Seconds a cart with a known customer and items stays untouched before it counts as abandoned (NULL: never;
    # the automation room's scan emits `cart.abandoned`).
    sa.Column("cart_abandoned_after", sa.Integer, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("stock_buffer >= 0", name="stock_buffer_not_negative"),
    sa.CheckConstraint(f"kind IN {CHANNEL_KINDS}", name="kind_known"),
)

# Which locations fulfil a channel. The location codes belong to the inventory room; the foreign key
# keeps them honest without the catalog importing inventory code.
channel_locations = sa.Table(
    "channel_locations",
    metadata,
    sa.Column("channel_code", sa.String(64), sa.ForeignKey("channels.code", ondelete="CASCADE"), primary_key=True),
    sa.Column("location_code", sa.String(64), sa.ForeignKey("locations.code"), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False, default=0),
    sa.Index("ix_channel_locations_location", "location_code"),
)

channel_prices = sa.Table(
    "channel_prices",
    metadata,
    sa.Column("channel_code", sa.String(64), sa.ForeignKey("channels.code", ondelete="CASCADE"), primary_key=True),
    sa.Column("sku", sa.String(64), sa.ForeignKey("products.sku"), primary_key=True),
    sa.Column("amount", Money, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
)

# Customer-specific price lists (wholesale): a price per SKU with a minimum order quantity.
price_lists = sa.Table(
    "price_lists",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

price_list_prices = sa.Table(
    "price_list_prices",
    metadata,
    sa.Column("price_list", sa.String(64), sa.ForeignKey("price_lists.code", ondelete="CASCADE"), primary_key=True),
    sa.Column("sku", sa.String(64), sa.ForeignKey("products.sku"), primary_key=True),
    sa.Column("amount", Money, nullable=False),
    sa.Column("min_quantity", sa.Integer, nullable=False, server_default="1"),
    sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
    sa.CheckConstraint("min_quantity >= 1", name="min_quantity_positive"),
)

# Which customers buy from which price list (customer ids belong to the customers room).
price_list_customers = sa.Table(
    "price_list_customers",
    metadata,
    sa.Column("customer_id", sa.String(40), primary_key=True),
    sa.Column("price_list", sa.String(64), sa.ForeignKey("price_lists.code", ondelete="CASCADE"), nullable=False),
)
