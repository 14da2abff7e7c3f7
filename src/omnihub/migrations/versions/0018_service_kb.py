"""Service desk: the knowledge base the bot answers from, and the bot's handoffs to people.

Revision ID: 0018_service_kb
Revises: 0017_service
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018_service_kb"
down_revision = "0017_service"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kb_articles",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("keywords", JSON, nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
    )
    op.create_index(op.f("ix_kb_articles_language"), "kb_articles", ["language"])
    op.create_table(
        "bot_handoffs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("open_for", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_handoffs")),
        sa.UniqueConstraint("open_for", name=op.f("uq_bot_handoffs_open_for")),
    )
    op.create_index(op.f("ix_bot_handoffs_conversation_id"), "bot_handoffs", ["conversation_id"])


def downgrade() -> None:
    op.drop_index("ix_bot_handoffs_conversation_id", table_name="bot_handoffs")
    op.drop_table("bot_handoffs")
    op.drop_index("ix_kb_articles_language", table_name="kb_articles")
    op.drop_table("kb_articles")
