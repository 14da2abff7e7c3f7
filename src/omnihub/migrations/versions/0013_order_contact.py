"""An order's contact: identifiers the buyer gave that cannot identify anyone (block-listed placeholders such as
no@email.com, or an erased person's): kept on the order, ignored for identity.

Revision ID: 0013_order_contact
Revises: 0010_shipping_tax (the orders table's branch)
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013_order_contact"
down_revision = "0010_shipping_tax"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("contact", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("contact")
