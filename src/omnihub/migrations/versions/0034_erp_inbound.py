"""The ERP connector's inbound lines: erp_inbound (stock and price updates applied, by the ERP's reference)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0034_erp_inbound"
down_revision = "0030_erp"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "erp_inbound",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("applied_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("kind", "reference", "sku", "location", name=op.f("pk_erp_inbound")),
        sa.CheckConstraint("kind IN ('stock', 'price')", name=op.f("ck_erp_inbound_erp_inbound_kind_known")),
    )


def downgrade() -> None:
    op.drop_table("erp_inbound")
