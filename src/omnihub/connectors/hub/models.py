"""The connector hub's tables: shop connections (sealed secrets, health), webhook receipts (a delivery seen twice
counts once), the shop's ids for the hub's SKUs, dead letters and the queue of stock pushes (one row per SKU,
so changes coalesce)."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import JsonDoc, Timestamp, metadata

connector_connections = sa.Table(
    "connector_connections",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),  # shopify, woocommerce
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("config", JsonDoc, nullable=False),  # what may be shown: shop domain, api base, location map…
    sa.Column("secrets", JsonDoc, nullable=False),  # {name: sealed token}: never shown
    sa.Column("last_success_at", Timestamp, nullable=True),
    sa.Column("last_error_at", Timestamp, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("received", sa.Integer, nullable=False, server_default="0"),
    sa.Column("pushed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

connector_receipts = sa.Table(
    "connector_receipts",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("delivery_id", sa.String(120), primary_key=True),  # X-Shopify-Webhook-Id, X-WC-Webhook-Delivery-ID
    sa.Column("topic", sa.String(64), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # applied, ignored, dead_letter
    sa.Column("received_at", Timestamp, nullable=False, index=True),
)

connector_items = sa.Table(
    "connector_items",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("product_id", sa.String(64), nullable=True),
    sa.Column("variant_id", sa.String(64), nullable=True),
    sa.Column("inventory_item_id", sa.String(64), nullable=True),
    sa.Column("updated_at", Timestamp, nullable=False),
)

connector_dead_letters = sa.Table(
    "connector_dead_letters",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("topic", sa.String(64), nullable=False),
    sa.Column("delivery_id", sa.String(120), nullable=True),
    sa.Column("external_id", sa.String(64), nullable=True),
    sa.Column("payload", JsonDoc, nullable=True),  # the parsed body, or {"raw": text} when it was not JSON
    sa.Column("reason", sa.String(1000), nullable=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open, replayed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("result", JsonDoc, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("replayed_at", Timestamp, nullable=True),
    sa.Index("ix_connector_dead_letters_kind", "kind", "status", "created_at"),
)

connector_pushes = sa.Table(
    "connector_pushes",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # pending, pushed, failed, unmapped
    sa.Column("due_at", Timestamp, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("pushed", JsonDoc, nullable=True),  # the quantities last sent
    sa.Column("changed_at", Timestamp, nullable=False),  # the oldest change not yet pushed (lag)
    sa.Column("pushed_at", Timestamp, nullable=True),
    sa.Index("ix_connector_pushes_status_due", "status", "due_at"),
)
