"""Payments through external providers: each channel's provider accounts (secrets sealed), the payments an
order waits for at a provider, every verified notification once, and the refunds owed through a provider's
API; gift cards with balances (the `gift_card` method now spends them); the ECB's reference rates for reporting. Seeds the provider payment methods (stripe, redsys, redsys_bizum, btcpay).

Revision ID: 0025_payments
Revises: 0006_billing
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0025_payments"
down_revision = "0006_billing"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
MONEY = sa.Numeric(precision=18, scale=4)
TS = sa.DateTime(timezone=True)
STATUSES = ("pending", "started", "authorized", "captured", "failed", "expired", "cancelled", "refunded")
METHODS = [("paypal_checkout", "PayPal (Orders v2)", "paypal"), ("stripe", "Card (Stripe)", "stripe"), ("redsys", "Card (Redsys)", "redsys"),
           ("redsys_bizum", "Bizum (Redsys)", "redsys"), ("btcpay", "Bitcoin (BTCPay Server)", "btcpay")]


def upgrade() -> None:
    op.create_table(
        "payment_providers",
        sa.Column("channel_code", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("channel_code", "provider", name=op.f("pk_payment_providers")),
    )
    op.create_table(
        "provider_payments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("channel_code", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("captured", MONEY, server_default="0", nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("next_action", JSON, nullable=True),
        sa.Column("details", JSON, nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=True),
        sa.Column("action_due_at", TS, nullable=True),
        sa.Column("action_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_provider_payments_amount_positive")),
        sa.CheckConstraint(f"status IN {STATUSES}", name=op.f("ck_provider_payments_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_payments")),
    )
    op.create_index("ix_provider_payments_order_id", "provider_payments", ["order_id"])
    op.create_index("ix_provider_payments_action", "provider_payments", ["action", "action_due_at"])
    op.create_index("ix_provider_payments_status_expiry", "provider_payments", ["status", "expires_at"])
    op.create_index("ix_provider_payments_reference", "provider_payments", ["provider", "reference"])
    op.create_table(
        "provider_events",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("provider", "event_id", name=op.f("pk_provider_events")),
    )
    op.create_table(
        "provider_refunds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider_payment_id", sa.String(length=40), nullable=False),
        sa.Column("refund_leg_id", sa.String(length=40), nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_provider_refunds_amount_positive")),
        sa.ForeignKeyConstraint(["provider_payment_id"], ["provider_payments.id"],
                                name=op.f("fk_provider_refunds_provider_payment_id_provider_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_refunds")),
    )
    op.create_index("ix_provider_refunds_status", "provider_refunds", ["status", "due_at"])
    op.create_table(
        "gift_cards",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("last4", sa.String(length=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("balance", MONEY, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_gift_cards_balance_not_negative")),
        sa.CheckConstraint("status IN ('active', 'expired')", name=op.f("ck_gift_cards_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_cards")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_gift_cards_code_hash")),
    )
    op.create_table(
        "gift_card_ledger",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("card_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("balance", MONEY, nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["gift_cards.id"], name=op.f("fk_gift_card_ledger_card_id_gift_cards")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_gift_card_ledger")),
    )
    op.create_index("ix_gift_card_ledger_card", "gift_card_ledger", ["card_id", "seq"])
    op.create_table(
        "exchange_rates",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("rate", sa.Numeric(precision=18, scale=8), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.CheckConstraint("rate > 0", name=op.f("ck_exchange_rates_rate_positive")),
        sa.PrimaryKeyConstraint("day", "currency", name=op.f("pk_exchange_rates")),
    )
    op.execute(sa.text("UPDATE payment_methods SET gateway = 'gift_card' WHERE code = 'gift_card'"))
    methods = sa.table("payment_methods", sa.column("code", sa.String), sa.column("name", sa.String),
                       sa.column("gateway", sa.String), sa.column("active", sa.Boolean))
    op.bulk_insert(methods, [{"code": c, "name": n, "gateway": g, "active": True} for c, n, g in METHODS])


def downgrade() -> None:
    op.execute(sa.text("UPDATE payment_methods SET gateway = 'manual' WHERE code = 'gift_card'"))
    op.drop_table("exchange_rates")
    op.drop_table("gift_card_ledger")
    op.drop_table("gift_cards")
    op.execute(sa.text("DELETE FROM payment_methods WHERE code IN ('paypal_checkout', 'stripe', 'redsys', 'redsys_bizum', 'btcpay')"))
    op.drop_table("provider_refunds")
    op.drop_table("provider_events")
    op.drop_table("provider_payments")
    op.drop_table("payment_providers")
