"""Webhook signing secrets are stored sealed (Fernet under OMNIHUB_SECRET_KEY): the columns widen to hold the
token. Secrets stored in clear before this are sealed by the worker (`webhooks.seal_plain_secrets`), which holds
the key; a migration must not guess it.

Revision ID: 0027_webhook_secrets_sealed
Revises: 0011_webhook_secret_rotation
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0027_webhook_secrets_sealed"
down_revision = "0011_webhook_secret_rotation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.alter_column("secret", type_=sa.String(length=512), existing_nullable=False)
        batch.alter_column("previous_secret", type_=sa.String(length=512), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions") as batch:
        batch.alter_column("previous_secret", type_=sa.String(length=200), existing_nullable=True)
        batch.alter_column("secret", type_=sa.String(length=200), existing_nullable=False)
