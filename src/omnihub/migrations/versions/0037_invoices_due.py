"""Invoices due: orders paid by a provider's notification wait here for their number, issued by a worker job in
batches (one lock on the series row for many invoices) instead of in the notification's transaction.

Revision ID: 0037_invoices_due
Revises: 0025_payments
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0037_invoices_due"
down_revision = "0025_payments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoices_due",
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_invoices_due")),
    )
    op.create_index("ix_invoices_due_queued_at", "invoices_due", ["queued_at"])


def downgrade() -> None:
    op.drop_index("ix_invoices_due_queued_at", table_name="invoices_due")
    op.drop_table("invoices_due")
