"""The billing room's tables. Order, return and customer ids belong to other rooms: kept as plain ids."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import BigId, JsonDoc, Money, Timestamp, metadata

PAYMENT_STATUSES = ("paid", "partially_paid", "unpaid")
DOCUMENT_KINDS = ("invoice", "credit_note")

payment_methods = sa.Table(
    "payment_methods",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("gateway", sa.String(32), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
)

# Rates are percentages (21.0000 = 21 %), one per tax class and country.
tax_rates = sa.Table(
    "tax_rates",
    metadata,
    sa.Column("tax_class", sa.String(32), primary_key=True),
    sa.Column("country", sa.String(2), primary_key=True),
    sa.Column("rate", sa.Numeric(7, 4), nullable=False),
    sa.CheckConstraint("rate >= 0 AND rate <= 100", name="rate_is_percent"),
)

# One row per order that money was taken for: the row every payment and refund of the order locks first.
order_balances = sa.Table(
    "order_balances",
    metadata,
    sa.Column("order_id", sa.String(40), primary_key=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("total", Money, nullable=False),
    sa.Column("paid", Money, nullable=False),
    sa.Column("refunded", Money, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("total >= 0", name="total_not_negative"),
    sa.CheckConstraint("paid >= 0 AND paid <= total", name="paid_within_total"),
    sa.CheckConstraint("refunded >= 0 AND refunded <= paid", name="refunded_within_paid"),
    sa.CheckConstraint(f"status IN {PAYMENT_STATUSES}", name="status_known"),
)

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("order_id", sa.String(40), sa.ForeignKey("order_balances.order_id"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),  # 0, 1, 2… in the order they were taken
    sa.Column("customer_id", sa.String(40), nullable=True),
    sa.Column("method", sa.String(64), sa.ForeignKey("payment_methods.code"), nullable=False),
    sa.Column("gateway", sa.String(32), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("refunded", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reference", sa.String(200), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("order_id", "position"),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.CheckConstraint("refunded >= 0 AND refunded <= amount", name="refunded_within_amount"),
)

# One row per payment a refund gave money back against (a refund over a split tender has several).
refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),  # recording order
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("refund_id", sa.String(40), nullable=False),
    sa.Column("order_id", sa.String(40), sa.ForeignKey("order_balances.order_id"), nullable=False),
    sa.Column("payment_id", sa.String(40), sa.ForeignKey("payments.id"), nullable=False),
    sa.Column("return_id", sa.String(40), nullable=True),
    sa.Column("method", sa.String(64), sa.ForeignKey("payment_methods.code"), nullable=False),
    sa.Column("gateway", sa.String(32), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("reference", sa.String(200), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.Index("ix_refunds_order", "order_id", "seq"),
)

# The next number of each document series, advanced in the transaction that issues the document: a
# rolled-back issue gives its number back, so numbers have no gaps.
document_series = sa.Table(
    "document_series",
    metadata,
    sa.Column("series", sa.String(32), primary_key=True),
    sa.Column("next_number", sa.BigInteger, nullable=False),
    sa.CheckConstraint("next_number >= 1", name="next_number_positive"),
)

# Invoices and credit notes. `source_id` is the order (invoice) or the return (credit note): one each.
billing_documents = sa.Table(
    "billing_documents",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("number", sa.String(48), nullable=False, unique=True),
    sa.Column("series", sa.String(32), nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("source_id", sa.String(40), nullable=False),
    sa.Column("order_id", sa.String(40), nullable=False),
    sa.Column("return_id", sa.String(40), nullable=True),
    sa.Column("invoice_number", sa.String(48), nullable=True),  # the invoice a credit note corrects
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("lines", JsonDoc, nullable=False),
    sa.Column("totals", JsonDoc, nullable=False),
    sa.Column("issued_at", Timestamp, nullable=False),
    sa.UniqueConstraint("kind", "source_id"),
    sa.UniqueConstraint("series", "sequence"),
    sa.CheckConstraint(f"kind IN {DOCUMENT_KINDS}", name="kind_known"),
    sa.Index("ix_billing_documents_order", "order_id", "kind"),
)

# ---- external payment providers (billing.flow) ------------------------------------------------------------------

PROVIDER_PAYMENT_STATUSES = ("pending", "started", "authorized", "captured", "failed", "expired", "cancelled",
                             "refunded")

# A channel's account at a provider: public settings in `config`, the secrets sealed (core.secretbox) in `sealed`.
payment_providers = sa.Table(
    "payment_providers",
    metadata,
    sa.Column("channel_code", sa.String(64), primary_key=True),
    sa.Column("provider", sa.String(32), primary_key=True),
    sa.Column("config", JsonDoc, nullable=False),
    sa.Column("sealed", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

# One payment an order waits for at a provider. `action` is what the hub still has to ask the provider
# (start, capture, cancel) — done after commit by the driver, never inside an order's transaction.
provider_payments = sa.Table(
    "provider_payments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("order_id", sa.String(40), nullable=False, index=True),
    sa.Column("channel_code", sa.String(64), nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("method", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(40), nullable=True),
    sa.Column("amount", Money, nullable=False),
    sa.Column("captured", Money, nullable=False, server_default="0"),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reference", sa.String(200), nullable=True),
    sa.Column("next_action", JsonDoc, nullable=True),
    sa.Column("details", JsonDoc, nullable=True),  # the provider's further ids (PayPal's authorization, capture)
    sa.Column("reason", sa.String(300), nullable=True),
    sa.Column("action", sa.String(16), nullable=True),
    sa.Column("action_due_at", Timestamp, nullable=True),
    sa.Column("action_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("payment_id", sa.String(40), nullable=True),  # the billing payment recorded when authorised
    sa.Column("expires_at", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.CheckConstraint(f"status IN {PROVIDER_PAYMENT_STATUSES}", name="status_known"),
    sa.Index("ix_provider_payments_action", "action", "action_due_at"),
    sa.Index("ix_provider_payments_status_expiry", "status", "expires_at"),
    sa.Index("ix_provider_payments_reference", "provider", "reference"),
)

# Every verified notification once: (provider, event id) is the key a repeat collides with.
# Orders paid by a provider's notification whose invoice is still to be numbered: the notification only queues it
# (no lock on the series row in its transaction), and a worker job numbers them in batches — one series lock
# for many invoices. Billing's table; commerce queues and drains it through billing.service.
invoices_due = sa.Table(
    "invoices_due",
    metadata,
    sa.Column("order_id", sa.String(40), primary_key=True),
    sa.Column("queued_at", Timestamp, nullable=False),
    sa.Index("ix_invoices_due_queued_at", "queued_at"),
)

provider_events = sa.Table(
    "provider_events",
    metadata,
    sa.Column("provider", sa.String(32), primary_key=True),
    sa.Column("event_id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("payment_id", sa.String(40), nullable=True),
    sa.Column("outcome", sa.String(64), nullable=False),
    sa.Column("received_at", Timestamp, nullable=False),
)

# A provider's verified notification, stored by the webhook before its 200 and applied by the worker
# (`billing.apply_notifications`): one row per (provider, event id), so a repeat is answered at once and never
# stored twice. `notice` is the notification in the hub's words (`providers.Notice`); `result`, what applying
# it did. Applied rows are purged after a week (`provider_events` keeps the record of what was applied).
provider_notifications = sa.Table(
    "provider_notifications",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("event_id", sa.String(200), nullable=False),
    sa.Column("notice", JsonDoc, nullable=False),
    sa.Column("status", sa.String(8), nullable=False),  # pending, done, failed
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Timestamp, nullable=False),
    sa.Column("error", sa.String(500), nullable=True),
    sa.Column("result", JsonDoc, nullable=True),
    sa.Column("received_at", Timestamp, nullable=False),
    sa.Column("processed_at", Timestamp, nullable=True),
    sa.UniqueConstraint("provider", "event_id", name="uq_provider_notifications_event"),
    sa.Index("ix_provider_notifications_due", "status", "next_attempt_at"),
)

# A refund leg owed through a provider's refund API: recorded with the refund, sent after commit.
provider_refunds = sa.Table(
    "provider_refunds",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("provider_payment_id", sa.String(40), sa.ForeignKey("provider_payments.id"), nullable=False),
    sa.Column("refund_leg_id", sa.String(40), nullable=True),
    sa.Column("amount", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending, sent, failed
    sa.Column("reference", sa.String(200), nullable=True),
    sa.Column("reason", sa.String(300), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("due_at", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
    sa.Index("ix_provider_refunds_status", "status", "due_at"),
)

# ---- gift cards (billing.gift_cards) ------------------------------------------------------------------------------

GIFT_CARD_STATUSES = ("active", "expired")

# A card is found by the SHA-256 of its code (80 random bits: a hash is enough); the code itself is shown once,
# when the card is issued. `last4` lets people tell their cards apart.
gift_cards = sa.Table(
    "gift_cards",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("last4", sa.String(4), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("balance", Money, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("customer_id", sa.String(40), nullable=True),
    sa.Column("expires_at", Timestamp, nullable=True),
    sa.Column("issued_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint("balance >= 0", name="balance_not_negative"),
    sa.CheckConstraint(f"status IN {GIFT_CARD_STATUSES}", name="status_known"),
)

gift_card_ledger = sa.Table(
    "gift_card_ledger",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("card_id", sa.String(40), sa.ForeignKey("gift_cards.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # issue, top_up, redeem, refund, expire
    sa.Column("amount", Money, nullable=False),  # signed: what the balance moved by
    sa.Column("balance", Money, nullable=False),  # after the move
    sa.Column("reference", sa.String(200), nullable=True),
    sa.Column("at", Timestamp, nullable=False),
    sa.Index("ix_gift_card_ledger_card", "card_id", "seq"),
)

# Reference exchange rates (the ECB's daily euro rates), for reporting in a base currency only: nothing is ever
# converted at checkout. `rate`: units of `currency` per 1 EUR on `day`.
exchange_rates = sa.Table(
    "exchange_rates",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("rate", sa.Numeric(18, 8), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.CheckConstraint("rate > 0", name="rate_positive"),
)
