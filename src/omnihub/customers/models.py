"""The customers room's tables.

Every row that belongs to a profile carries two ids: `customer_id` (the profile it belongs to now) and
`owner_id` (the profile it was first recorded for). A merge only rewrites `customer_id`; an unmerge moves
back the rows whose owner was absorbed by that merge. That keeps merges reversible without copying data.
"""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import BigId, JsonDoc, Money, Timestamp, metadata

CUSTOMER_STATUSES = ("active", "merged", "erased")

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=True),
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("merged_into", sa.String(40), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("erased_at", Timestamp, nullable=True),
    sa.CheckConstraint(f"status IN {CUSTOMER_STATUSES}", name="status_known"),
)

# One row per identifier; the unique `key` ("kind:namespace:value") is what makes two racing requests
# for the same person end up on one profile.
customer_identities = sa.Table(
    "customer_identities",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(420), nullable=False, unique=True),
    sa.Column("customer_id", sa.String(40), sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("owner_id", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("namespace", sa.String(64), nullable=False, default=""),
    sa.Column("value", sa.String(320), nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False, default=False),
    sa.Column("channel", sa.String(64), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_customer_identities_customer", "customer_id"),
)

# Merged ids keep resolving: merged_id -> the profile that absorbed it (always one hop: chains are
# compressed when a survivor is merged again).
customer_aliases = sa.Table(
    "customer_aliases",
    metadata,
    sa.Column("merged_id", sa.String(40), primary_key=True),
    sa.Column("survivor_id", sa.String(40), nullable=False),
    sa.Column("merge_id", sa.String(40), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_customer_aliases_survivor", "survivor_id"),
)

# The timeline: behavioural events plus entries other rooms add (purchases, returns, messages).
customer_events = sa.Table(
    "customer_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.String(40), nullable=False),
    sa.Column("owner_id", sa.String(40), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(64), nullable=True),
    sa.Column("occurred_at", Timestamp, nullable=False),
    sa.Column("source", sa.String(32), nullable=False, default="events"),
    sa.Column("properties", JsonDoc, nullable=False, default=dict),
    sa.Index("ix_customer_events_timeline", "customer_id", "occurred_at", "id"),
    # The 360 view's "last NPS answer" and support counts read one type of a person's events.
    sa.Index("ix_customer_events_type", "customer_id", "type", "occurred_at"),
)

# Consent is an append-only log; the current choice per purpose is the latest by `at` (then id).
customer_consents = sa.Table(
    "customer_consents",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.String(40), nullable=False),
    sa.Column("owner_id", sa.String(40), nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("channel", sa.String(64), nullable=True),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("proof", JsonDoc, nullable=True),
    sa.Column("recorded_at", Timestamp, nullable=False),
    sa.Index("ix_customer_consents_customer", "customer_id", "purpose"),
)

# Tags: manual ones (score NULL) and behavioural ones whose score is stored "as of" a fixed epoch so that
# adding to a decaying score is a plain SQL addition (see rules.decayed_score).
customer_tags = sa.Table(
    "customer_tags",
    metadata,
    sa.Column("customer_id", sa.String(40), primary_key=True),
    sa.Column("owner_id", sa.String(40), primary_key=True),
    sa.Column("tag", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(8), primary_key=True),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("updated_at", Timestamp, nullable=False),
)

# Aggregates per profile and channel, kept current by ingestion and record_purchase so the 360 view
# never scans the timeline.
customer_stats = sa.Table(
    "customer_stats",
    metadata,
    sa.Column("customer_id", sa.String(40), primary_key=True),
    sa.Column("owner_id", sa.String(40), primary_key=True),
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("events_count", sa.Integer, nullable=False, default=0),
    sa.Column("orders_count", sa.Integer, nullable=False, default=0),
    sa.Column("revenue", Money, nullable=False, default=0),
    sa.Column("first_order_at", Timestamp, nullable=True),
    sa.Column("last_order_at", Timestamp, nullable=True),
    sa.Column("last_seen_at", Timestamp, nullable=True),
)

customer_credit = sa.Table(
    "customer_credit",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.String(40), nullable=False),
    sa.Column("owner_id", sa.String(40), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("reason", sa.String(200), nullable=True),
    sa.Column("at", Timestamp, nullable=False),
    sa.Index("ix_customer_credit_customer", "customer_id"),
)

# Field-level merge audit, and the record an unmerge works from.
customer_merges = sa.Table(
    "customer_merges",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("survivor_id", sa.String(40), nullable=False),
    sa.Column("merged_id", sa.String(40), nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(40), nullable=True),
    sa.Column("absorbed_ids", JsonDoc, nullable=False),
    sa.Column("evidence", JsonDoc, nullable=False),
    sa.Column("fields", JsonDoc, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("undone_at", Timestamp, nullable=True),
    sa.Column("undone_by", sa.String(40), nullable=True),
    sa.Index("ix_customer_merges_survivor", "survivor_id"),
    sa.Index("ix_customer_merges_merged", "merged_id"),
)

SUGGESTION_STATUSES = ("open", "accepted", "rejected")

# A pair is proposed once: a rejection is a decision, not something to ask again.
merge_suggestions = sa.Table(
    "merge_suggestions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("customer_a", sa.String(40), nullable=False),
    sa.Column("customer_b", sa.String(40), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("evidence", JsonDoc, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="open"),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("decided_at", Timestamp, nullable=True),
    sa.Column("decided_by", sa.String(40), nullable=True),
    sa.Column("merge_id", sa.String(40), nullable=True),
    sa.UniqueConstraint("customer_a", "customer_b", name="uq_merge_suggestions_pair"),
    sa.Index("ix_merge_suggestions_status", "status", "id"),
    sa.CheckConstraint(f"status IN {SUGGESTION_STATUSES}", name="status_known"),
)

# Identifiers that never identify anyone: configured ones (a store's phone) keep their value for the
# list; erased ones keep only a hash, so the person cannot be rebuilt from what we kept.
identity_blocks = sa.Table(
    "identity_blocks",
    metadata,
    sa.Column("hash", sa.String(64), primary_key=True),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("namespace", sa.String(64), nullable=True),
    sa.Column("value", sa.String(320), nullable=True),
    sa.Column("note", sa.String(200), nullable=True),
    sa.Column("erasure_id", sa.String(40), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

customer_erasures = sa.Table(
    "customer_erasures",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("customer_id", sa.String(40), nullable=False, index=True),
    sa.Column("actor", sa.String(40), nullable=True),
    sa.Column("identities_blocked", sa.Integer, nullable=False),
    sa.Column("events_deleted", sa.Integer, nullable=False),
    sa.Column("at", Timestamp, nullable=False),
)
