"""Service desk: conversations (one live per customer), their messages, Meta connections, reply templates.

Revision ID: 0017_service
Revises: 0012_reference_version
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017_service"
down_revision = "0012_reference_version"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("owner_id", sa.String(length=40), nullable=False),
        sa.Column("active_for", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("snoozed_until", TS, nullable=True),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("priority_reasons", JSON, nullable=False),
        sa.Column("reply_token", sa.String(length=32), nullable=False),
        sa.Column("last_channel", sa.String(length=16), nullable=True),
        sa.Column("last_message_at", TS, nullable=False),
        sa.Column("first_response_at", TS, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("merged_into", sa.String(length=40), nullable=True),
        sa.Column("status_before_merge", sa.String(length=16), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("active_for", name=op.f("uq_conversations_active_for")),
        sa.UniqueConstraint("reply_token", name=op.f("uq_conversations_reply_token")),
    )
    op.create_index("ix_conversations_customer_id", "conversations", ["customer_id"])
    op.create_index("ix_conversations_assignee", "conversations", ["assignee"])
    op.create_index("ix_conversations_merged_into", "conversations", ["merged_into"])
    op.create_index("ix_conversations_last_message", "conversations", ["last_message_at", "id"])

    op.create_table(
        "conversation_messages",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("origin_conversation_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("original", sa.Text(), nullable=True),
        sa.Column("attachments", JSON, nullable=False),
        sa.Column("external_id", sa.String(length=300), nullable=True),
        sa.Column("address", sa.String(length=320), nullable=True),
        sa.Column("email_message_id", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("provider_message_id", sa.String(length=300), nullable=True),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("payload", JSON, nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_messages")),
        sa.UniqueConstraint("channel", "external_id", name="uq_conversation_messages_channel_external"),
    )
    op.create_index("ix_conversation_messages_conversation_id", "conversation_messages", ["conversation_id"])
    op.create_index("ix_conversation_messages_email_message_id", "conversation_messages", ["email_message_id"])
    op.create_index("ix_conversation_messages_provider_message_id", "conversation_messages",
                    ["provider_message_id"])
    op.create_index("ix_conversation_messages_outbox", "conversation_messages", ["status", "next_attempt_at"])

    op.create_table(
        "meta_connectors",
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("app_secret", sa.Text(), nullable=False),
        sa.Column("verify_token", sa.Text(), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("api_base", sa.String(length=300), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_meta_connectors")),
        sa.UniqueConstraint("account_id", name=op.f("uq_meta_connectors_account_id")),
    )

    op.create_table(
        "reply_templates",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("whatsapp_name", sa.String(length=200), nullable=True),
        sa.Column("whatsapp_language", sa.String(length=16), nullable=True),
        sa.Column("whatsapp_parameters", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_reply_templates")),
    )


def downgrade() -> None:
    for table in ("reply_templates", "meta_connectors", "conversation_messages", "conversations"):
        op.drop_table(table)
