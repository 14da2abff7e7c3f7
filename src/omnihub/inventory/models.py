"""The inventory room's tables. The CHECK constraints are the last line of defence against oversell."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import BigId, Timestamp, metadata

locations = sa.Table(
    "locations",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("pickup", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.CheckConstraint("kind IN ('warehouse', 'store')", name="kind_known"),
)

stock_levels = sa.Table(
    "stock_levels",
    metadata,
    sa.Column("location_code", sa.String(64), sa.ForeignKey("locations.code"), primary_key=True),
    sa.Column("sku", sa.String(64), sa.ForeignKey("products.sku"), primary_key=True),
    sa.Column("on_hand", sa.Integer, nullable=False, default=0),
    sa.Column("reserved", sa.Integer, nullable=False, default=0),
    sa.Column("safety_stock", sa.Integer, nullable=False, default=0),
    # Units ring-fenced for particular channels (sum of stock_quotas.units), kept on the row so that one
    # conditional UPDATE of this row decides every claim on it.
    sa.Column("ring_fenced", sa.Integer, nullable=False, default=0),
    # Returned damaged: physically here, never sellable (not part of on_hand).
    sa.Column("quarantined", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
    sa.CheckConstraint("reserved >= 0", name="reserved_not_negative"),
    sa.CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
    sa.CheckConstraint("safety_stock >= 0", name="safety_stock_not_negative"),
    sa.CheckConstraint("ring_fenced >= 0", name="ring_fenced_not_negative"),
    sa.CheckConstraint("quarantined >= 0", name="quarantined_not_negative"),
    sa.Index("ix_stock_levels_sku", "sku"),
)

stock_ledger = sa.Table(
    "stock_ledger",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("location_code", sa.String(64), nullable=False),
    sa.Column("sku", sa.String(64), nullable=False),
    # receipt, sale, return, adjustment, count, transfer_out, transfer_in, reservation, release
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("on_hand_delta", sa.Integer, nullable=False, default=0),
    sa.Column("reserved_delta", sa.Integer, nullable=False, default=0),
    sa.Column("quarantined_delta", sa.Integer, nullable=False, server_default="0"),
    sa.Column("on_hand_after", sa.Integer, nullable=False),
    sa.Column("reserved_after", sa.Integer, nullable=False),
    sa.Column("reference", sa.String(64), nullable=True),  # reservation, transfer or order id
    sa.Column("actor", sa.String(64), nullable=True),  # API key id, or "worker"
    sa.Column("reason", sa.String(300), nullable=True),
    sa.Column("at", Timestamp, nullable=False),
    sa.Index("ix_stock_ledger_level", "location_code", "sku", "id"),
)

stock_quotas = sa.Table(
    "stock_quotas",
    metadata,
    sa.Column("location_code", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("channel_code", sa.String(64), sa.ForeignKey("channels.code"), primary_key=True),
    sa.Column("units", sa.Integer, nullable=False),  # still ring-fenced for the channel
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.ForeignKeyConstraint(["location_code", "sku"], ["stock_levels.location_code", "stock_levels.sku"]),
    sa.CheckConstraint("units >= 0", name="units_not_negative"),
)

reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("channel_code", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # active, released, expired, committed
    sa.Column("reference", sa.String(64), nullable=True),
    sa.Column("actor", sa.String(64), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("closed_at", Timestamp, nullable=True),
    sa.Index("ix_reservations_active_expiry", "expires_at",
             postgresql_where=sa.text("status = 'active'"), sqlite_where=sa.text("status = 'active'")),
)

reservation_lines = sa.Table(
    "reservation_lines",
    metadata,
    sa.Column("reservation_id", sa.String(40), sa.ForeignKey("reservations.id"), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("location_code", sa.String(64), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    # Units of this line already sold (shipped or collected): what is still held is quantity - fulfilled.
    sa.Column("fulfilled", sa.Integer, nullable=False, server_default="0"),
    sa.Column("quota_consumed", sa.Integer, nullable=False, default=0),
    sa.CheckConstraint("quantity > 0", name="quantity_positive"),
    sa.CheckConstraint("fulfilled >= 0 AND fulfilled <= quantity", name="fulfilled_within_quantity"),
    sa.Index("ix_reservation_lines_level", "location_code", "sku"),
)

# The availability last published to each channel: the projector emits `availability.changed` only when
# the live figure differs from this one, after the change has committed (see docs/architecture.md).
channel_availability = sa.Table(
    "channel_availability",
    metadata,
    sa.Column("channel_code", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("available", sa.Integer, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)
