"""Shipping is taxed like the goods it carries: its tax and rate are kept on the order.

Revision ID: 0010_shipping_tax
Revises: 0004_commerce
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_shipping_tax"
down_revision = "0004_commerce"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Orders placed before this revision carried untaxed shipping: they keep 0 (what was charged and invoiced).
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("shipping_tax", sa.Numeric(precision=18, scale=4), server_default="0",
                                   nullable=False))
        batch.add_column(sa.Column("shipping_tax_rate", sa.Numeric(precision=7, scale=4), server_default="0",
                                   nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("shipping_tax_rate")
        batch.drop_column("shipping_tax")
