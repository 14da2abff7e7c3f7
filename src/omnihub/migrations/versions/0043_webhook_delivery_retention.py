"""The delivery log forgets deliveries that arrived after a retention (`webhooks.purge_delivered`): an index on
when they arrived, for those rows only, so the purge reads the old ones without scanning the log.

Revision ID: 0043_webhook_delivery_retention
Revises: 0027_webhook_secrets_sealed
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0043_webhook_delivery_retention"
down_revision = "0027_webhook_secrets_sealed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_webhook_deliveries_delivered", "webhook_deliveries", ["delivered_at"],
                    postgresql_where=sa.text("status = 'delivered'"), sqlite_where=sa.text("status = 'delivered'"))


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_delivered", table_name="webhook_deliveries")
