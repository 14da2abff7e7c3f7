"""Connector hub: shop connections (Shopify, WooCommerce) with sealed secrets and health, webhook receipts, the
shop's ids for the hub's SKUs, dead letters and the per-SKU stock push queue.

Revision ID: 0022_connectors
Revises: 0012_reference_version
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0022_connectors"
down_revision = "0012_reference_version"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "connector_connections",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("secrets", JSON, nullable=False),
        sa.Column("last_success_at", TS, nullable=True),
        sa.Column("last_error_at", TS, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("received", sa.Integer(), server_default="0", nullable=False),
        sa.Column("pushed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("kind", "channel", name=op.f("pk_connector_connections")),
    )
    op.create_table(
        "connector_receipts",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.String(length=120), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("kind", "channel", "delivery_id", name=op.f("pk_connector_receipts")),
    )
    op.create_index(op.f("ix_connector_receipts_received_at"), "connector_receipts", ["received_at"])
    op.create_table(
        "connector_items",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=True),
        sa.Column("variant_id", sa.String(length=64), nullable=True),
        sa.Column("inventory_item_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("kind", "channel", "sku", name=op.f("pk_connector_items")),
    )
    op.create_table(
        "connector_dead_letters",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.String(length=120), nullable=True),
        sa.Column("external_id", sa.String(length=64), nullable=True),
        sa.Column("payload", JSON, nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("result", JSON, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("replayed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connector_dead_letters")),
    )
    op.create_index("ix_connector_dead_letters_kind", "connector_dead_letters", ["kind", "status", "created_at"])
    op.create_table(
        "connector_pushes",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("pushed", JSON, nullable=True),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("pushed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("kind", "channel", "sku", name=op.f("pk_connector_pushes")),
    )
    op.create_index("ix_connector_pushes_status_due", "connector_pushes", ["status", "due_at"])


def downgrade() -> None:
    op.drop_table("connector_pushes")
    op.drop_table("connector_dead_letters")
    op.drop_table("connector_items")
    op.drop_index(op.f("ix_connector_receipts_received_at"), table_name="connector_receipts")
    op.drop_table("connector_receipts")
    op.drop_table("connector_connections")
