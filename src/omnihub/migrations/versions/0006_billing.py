"""Billing: payment methods, tax rates, order balances, payments, refunds, document series, invoices and
credit notes. Seeds the default payment methods and the Spanish VAT rates.

Revision ID: 0006_billing
Revises: 0001_foundation
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_billing"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
MONEY = sa.Numeric(precision=18, scale=4)

DEFAULT_METHODS = [
    ("card", "Card", "manual"),
    ("paypal", "PayPal", "manual"),
    ("bizum", "Bizum", "manual"),
    ("cash", "Cash", "manual"),
    ("store_credit", "Store credit", "store_credit"),
    ("gift_card", "Gift card", "manual"),
    ("bank_transfer", "Bank transfer", "manual"),
    ("crypto", "Crypto", "manual"),
]
DEFAULT_RATES = [("standard", "ES", "21"), ("reduced", "ES", "10"), ("super_reduced", "ES", "4"), ("zero", "ES", "0")]


def upgrade() -> None:
    methods = op.create_table(
        "payment_methods",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("gateway", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_payment_methods")),
    )
    rates = op.create_table(
        "tax_rates",
        sa.Column("tax_class", sa.String(length=32), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("rate", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.CheckConstraint("rate >= 0 AND rate <= 100", name=op.f("ck_tax_rates_rate_is_percent")),
        sa.PrimaryKeyConstraint("tax_class", "country", name=op.f("pk_tax_rates")),
    )
    op.create_table(
        "order_balances",
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total", MONEY, nullable=False),
        sa.Column("paid", MONEY, nullable=False),
        sa.Column("refunded", MONEY, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('paid', 'partially_paid', 'unpaid')",
                           name=op.f("ck_order_balances_status_known")),
        sa.CheckConstraint("paid >= 0 AND paid <= total", name=op.f("ck_order_balances_paid_within_total")),
        sa.CheckConstraint("refunded >= 0 AND refunded <= paid", name=op.f("ck_order_balances_refunded_within_paid")),
        sa.CheckConstraint("total >= 0", name=op.f("ck_order_balances_total_not_negative")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_balances")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=40), nullable=True),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("gateway", sa.String(length=32), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("refunded", MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payments_amount_positive")),
        sa.CheckConstraint("refunded >= 0 AND refunded <= amount", name=op.f("ck_payments_refunded_within_amount")),
        sa.ForeignKeyConstraint(["method"], ["payment_methods.code"], name=op.f("fk_payments_method_payment_methods")),
        sa.ForeignKeyConstraint(["order_id"], ["order_balances.order_id"],
                                name=op.f("fk_payments_order_id_order_balances")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("order_id", "position", name=op.f("uq_payments_order_id")),
    )
    op.create_table(
        "refunds",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("refund_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("return_id", sa.String(length=40), nullable=True),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("gateway", sa.String(length=32), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(["method"], ["payment_methods.code"], name=op.f("fk_refunds_method_payment_methods")),
        sa.ForeignKeyConstraint(["order_id"], ["order_balances.order_id"],
                                name=op.f("fk_refunds_order_id_order_balances")),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_refunds")),
        sa.UniqueConstraint("id", name=op.f("uq_refunds_id")),
    )
    op.create_index("ix_refunds_order", "refunds", ["order_id", "seq"], unique=False)
    op.create_table(
        "document_series",
        sa.Column("series", sa.String(length=32), nullable=False),
        sa.Column("next_number", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("next_number >= 1", name=op.f("ck_document_series_next_number_positive")),
        sa.PrimaryKeyConstraint("series", name=op.f("pk_document_series")),
    )
    op.create_table(
        "billing_documents",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=48), nullable=False),
        sa.Column("series", sa.String(length=32), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("return_id", sa.String(length=40), nullable=True),
        sa.Column("invoice_number", sa.String(length=48), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("lines", JSON, nullable=False),
        sa.Column("totals", JSON, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('invoice', 'credit_note')", name=op.f("ck_billing_documents_kind_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_documents")),
        sa.UniqueConstraint("kind", "source_id", name=op.f("uq_billing_documents_kind")),
        sa.UniqueConstraint("number", name=op.f("uq_billing_documents_number")),
        sa.UniqueConstraint("series", "sequence", name=op.f("uq_billing_documents_series")),
    )
    op.create_index("ix_billing_documents_order", "billing_documents", ["order_id", "kind"], unique=False)

    op.bulk_insert(methods, [{"code": c, "name": n, "gateway": g, "active": True} for c, n, g in DEFAULT_METHODS])
    op.bulk_insert(rates, [{"tax_class": t, "country": c, "rate": r} for t, c, r in DEFAULT_RATES])


def downgrade() -> None:
    op.drop_index("ix_billing_documents_order", table_name="billing_documents")
    op.drop_table("billing_documents")
    op.drop_table("document_series")
    op.drop_index("ix_refunds_order", table_name="refunds")
    op.drop_table("refunds")
    op.drop_table("payments")
    op.drop_table("order_balances")
    op.drop_table("tax_rates")
    op.drop_table("payment_methods")
