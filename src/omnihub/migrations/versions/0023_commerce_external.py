"""Orders a shop sold itself (Shopify, WooCommerce): their id in the shop, unique per channel, and what the shop
said about them (number, system, units the hub did not have).

Revision ID: 0023_commerce_external
Revises: 0013_order_contact (the orders table's branch)
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0023_commerce_external"
down_revision = "0013_order_contact"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("external_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("external", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                                   nullable=True))
        batch.create_unique_constraint("uq_orders_channel_code", ["channel_code", "external_id"])


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint("uq_orders_channel_code", type_="unique")
        batch.drop_column("external")
        batch.drop_column("external_id")
