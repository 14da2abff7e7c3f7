"""Promotions: codes and automatic promotions, their scope, per-customer usage counters and redemptions.

Revision ID: 0005_promotions
Revises: 0001_foundation
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_promotions"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "promotions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("min_subtotal", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("usage_limit", sa.Integer(), nullable=True),
        sa.Column("per_customer_limit", sa.Integer(), nullable=True),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("exclusive", sa.Boolean(), nullable=False),
        sa.Column("stackable", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('percent', 'fixed', 'free_shipping')", name=op.f("ck_promotions_kind_known")),
        sa.CheckConstraint("ends_at IS NULL OR ends_at > starts_at", name=op.f("ck_promotions_window_ordered")),
        sa.CheckConstraint("usage_limit IS NULL OR used <= usage_limit", name=op.f("ck_promotions_used_within_limit")),
        sa.CheckConstraint("used >= 0", name=op.f("ck_promotions_used_not_negative")),
        sa.CheckConstraint("value >= 0", name=op.f("ck_promotions_value_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotions")),
        sa.UniqueConstraint("code", name=op.f("uq_promotions_code")),
    )
    op.create_index("ix_promotions_automatic", "promotions", ["active", "starts_at"], unique=False)
    op.create_table(
        "promotion_targets",
        sa.Column("promotion_id", sa.String(length=40), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=120), nullable=False),
        sa.CheckConstraint("dimension IN ('channel', 'customer', 'tag', 'sku', 'category')",
                           name=op.f("ck_promotion_targets_dimension_known")),
        sa.ForeignKeyConstraint(["promotion_id"], ["promotions.id"],
                                name=op.f("fk_promotion_targets_promotion_id_promotions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("promotion_id", "dimension", "value", name=op.f("pk_promotion_targets")),
    )
    op.create_index("ix_promotion_targets_lookup", "promotion_targets", ["dimension", "value"], unique=False)
    op.create_table(
        "promotion_customer_usage",
        sa.Column("promotion_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.CheckConstraint("used >= 0", name=op.f("ck_promotion_customer_usage_used_not_negative")),
        sa.ForeignKeyConstraint(["promotion_id"], ["promotions.id"],
                                name=op.f("fk_promotion_customer_usage_promotion_id_promotions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("promotion_id", "customer_id", name=op.f("pk_promotion_customer_usage")),
    )
    op.create_table(
        "promotion_redemptions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("promotion_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["promotion_id"], ["promotions.id"],
                                name=op.f("fk_promotion_redemptions_promotion_id_promotions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_redemptions")),
        sa.UniqueConstraint("order_id", "promotion_id", name="uq_promotion_redemptions_order_promotion"),
    )
    op.create_index("ix_promotion_redemptions_promotion", "promotion_redemptions", ["promotion_id"], unique=False)


def downgrade() -> None:
    op.drop_table("promotion_redemptions")
    op.drop_table("promotion_customer_usage")
    op.drop_table("promotion_targets")
    op.drop_table("promotions")
