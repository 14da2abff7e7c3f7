"""The ERP connector's tables: erp_config, erp_customer_numbers, erp_documents."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0030_erp"
down_revision = "0012_reference_version"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = sa.DateTime(timezone=True)
BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "erp_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=500), nullable=False),
        sa.Column("token_sealed", sa.Text(), nullable=False),
        sa.Column("mapping_yaml", sa.Text(), nullable=False),
        sa.Column("mapping", JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erp_config")),
    )
    op.create_table(
        "erp_customer_numbers",
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_erp_customer_numbers")),
        sa.UniqueConstraint("sequence", name=op.f("uq_erp_customer_numbers_sequence")),
        sa.UniqueConstraint("number", name=op.f("uq_erp_customer_numbers_number")),
    )
    op.create_table(
        "erp_documents",
        sa.Column("seq", BIG, autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("facts", JSON, nullable=False),
        sa.Column("payload", JSON, nullable=True),
        sa.Column("document_date", sa.Date(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_erp_documents")),
        sa.UniqueConstraint("id", name=op.f("uq_erp_documents_id")),
        sa.UniqueConstraint("kind", "source", name=op.f("uq_erp_documents_kind")),
        sa.CheckConstraint("kind IN ('contact', 'invoice', 'credit_note')", name=op.f("ck_erp_documents_erp_kind_known")),
        sa.CheckConstraint("status IN ('pending', 'held', 'sending', 'sent', 'failed')", name=op.f("ck_erp_documents_erp_status_known")),
    )
    op.create_index("ix_erp_documents_due", "erp_documents", ["status", "next_attempt_at"])
    op.create_index("ix_erp_documents_date", "erp_documents", ["document_date"])


def downgrade() -> None:
    op.drop_table("erp_documents")
    op.drop_table("erp_customer_numbers")
    op.drop_table("erp_config")
