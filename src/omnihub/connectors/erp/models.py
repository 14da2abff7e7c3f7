"""The ERP connector's tables: its one configuration, the stable customer numbers it gave, and every document
it owes the ERP (with the outcome of sending it)."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import BigId, JsonDoc, Timestamp, metadata

# One row (id 1): where the ERP is, its sealed token and the mapping (YAML as given, and parsed).
erp_config = sa.Table(
    "erp_config",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("endpoint", sa.String(500), nullable=False),
    sa.Column("token_sealed", sa.Text, nullable=False),
    sa.Column("mapping_yaml", sa.Text, nullable=False),
    sa.Column("mapping", JsonDoc, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

# The ERP's customer number of each hub customer: given once (prefix + sequence), kept for ever.
erp_customer_numbers = sa.Table(
    "erp_customer_numbers",
    metadata,
    sa.Column("customer_id", sa.String(40), primary_key=True),
    sa.Column("sequence", sa.BigInteger, nullable=False, unique=True),
    sa.Column("number", sa.String(64), nullable=False, unique=True),
)

# One row per document owed to the ERP: a contact upsert, an invoice or a credit note. `source` is the hub's
# billing document number (one ERP document of each kind per source: never recorded, so never sent, twice).
erp_documents = sa.Table(
    "erp_documents",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(40), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(500), nullable=True),
    sa.Column("facts", JsonDoc, nullable=False),  # what the hub knows, to map again when the mapping changes
    sa.Column("payload", JsonDoc, nullable=True),  # the body in the ERP's codes (None while held)
    sa.Column("document_date", sa.Date, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Timestamp, nullable=True),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("sent_at", Timestamp, nullable=True),
    sa.UniqueConstraint("kind", "source"),
    sa.CheckConstraint("kind IN ('contact', 'invoice', 'credit_note')", name="erp_kind_known"),
    sa.CheckConstraint("status IN ('pending', 'held', 'sending', 'sent', 'failed')", name="erp_status_known"),
    sa.Index("ix_erp_documents_due", "status", "next_attempt_at"),
    sa.Index("ix_erp_documents_date", "document_date"),
)

# One row per ERP line applied (stock count or movement, price): the ERP's reference and what it named, so a
# re-sent document changes nothing and another value under an applied reference is refused, not applied twice.
erp_inbound = sa.Table(
    "erp_inbound",
    metadata,
    sa.Column("kind", sa.String(8), primary_key=True),  # stock, price
    sa.Column("reference", sa.String(64), primary_key=True),
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("location", sa.String(64), primary_key=True),  # a price: "" (one channel) or its price list's channel
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("actor", sa.String(64), nullable=True),
    sa.Column("applied_at", Timestamp, nullable=False),
    sa.CheckConstraint("kind IN ('stock', 'price')", name="erp_inbound_kind_known"),
)
