"""The promotions room's tables.

A promotion's scope (channels, customers, customer tags, SKUs, categories) lives in `promotion_targets`, one
row per value, so "valid in channel X" is plain SQL on SQLite and PostgreSQL alike. Usage counters are only
ever moved by conditional UPDATEs (see service.py); the CHECK constraints back them.
"""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import Money, Timestamp, metadata

PROMOTION_KINDS = ("percent", "fixed", "free_shipping")
TARGET_DIMENSIONS = ("channel", "customer", "tag", "sku", "category")

promotions = sa.Table(
    "promotions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("code", sa.String(40), nullable=True, unique=True),  # upper-cased; NULL = automatic
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", Money, nullable=False),  # percent (0-100] or amount off; 0 for free shipping
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("min_subtotal", Money, nullable=True),
    sa.Column("starts_at", Timestamp, nullable=False),
    sa.Column("ends_at", Timestamp, nullable=True),
    sa.Column("usage_limit", sa.Integer, nullable=True),
    sa.Column("per_customer_limit", sa.Integer, nullable=True),
    sa.Column("used", sa.Integer, nullable=False, default=0),
    sa.Column("priority", sa.Integer, nullable=False, default=0),
    sa.Column("exclusive", sa.Boolean, nullable=False, default=False),
    sa.Column("stackable", sa.Boolean, nullable=False, default=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint(f"kind IN {PROMOTION_KINDS}", name="kind_known"),
    sa.CheckConstraint("value >= 0", name="value_not_negative"),
    sa.CheckConstraint("used >= 0", name="used_not_negative"),
    sa.CheckConstraint("usage_limit IS NULL OR used <= usage_limit", name="used_within_limit"),
    sa.CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name="window_ordered"),
    sa.Index("ix_promotions_automatic", "active", "starts_at"),
)

promotion_targets = sa.Table(
    "promotion_targets",
    metadata,
    sa.Column("promotion_id", sa.String(40), sa.ForeignKey("promotions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("dimension", sa.String(16), primary_key=True),
    sa.Column("value", sa.String(120), primary_key=True),
    sa.CheckConstraint(f"dimension IN {TARGET_DIMENSIONS}", name="dimension_known"),
    sa.Index("ix_promotion_targets_lookup", "dimension", "value"),
)

# One counter per (promotion, customer): `used` moves with a conditional UPDATE, never read-then-write.
promotion_customer_usage = sa.Table(
    "promotion_customer_usage",
    metadata,
    sa.Column("promotion_id", sa.String(40), sa.ForeignKey("promotions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("customer_id", sa.String(40), primary_key=True),
    sa.Column("used", sa.Integer, nullable=False, default=0),
    sa.CheckConstraint("used >= 0", name="used_not_negative"),
)

# Which order redeemed what, so a cancellation gives back exactly what it took (and only once).
promotion_redemptions = sa.Table(
    "promotion_redemptions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("promotion_id", sa.String(40), sa.ForeignKey("promotions.id"), nullable=False),
    sa.Column("order_id", sa.String(40), nullable=False),
    sa.Column("customer_id", sa.String(40), nullable=True),
    sa.Column("code", sa.String(40), nullable=True),
    sa.Column("amount", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("redeemed_at", Timestamp, nullable=False),
    sa.Column("released_at", Timestamp, nullable=True),
    sa.UniqueConstraint("order_id", "promotion_id", name="uq_promotion_redemptions_order_promotion"),
    sa.Index("ix_promotion_redemptions_promotion", "promotion_id"),
)
