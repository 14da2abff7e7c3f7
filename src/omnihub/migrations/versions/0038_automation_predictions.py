"""Automation: predicted CLV per person and currency, copied from analytics for segments (`customer.predicted_clv`).

Revision ID: 0038_automation_predictions
Revises: 0035_automation_stock
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0038_automation_predictions"
down_revision = "0035_automation_stock"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "automation_predictions",
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("predicted_clv", sa.Numeric(18, 4), nullable=False),
        sa.Column("probability_alive", sa.Float(), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "currency", name=op.f("pk_automation_predictions")),
    )


def downgrade() -> None:
    op.drop_table("automation_predictions")
