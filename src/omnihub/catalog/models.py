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
