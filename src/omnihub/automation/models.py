"""The automation room's tables: rules, their runs (one per rule, subject and trigger), the run log, the messages
they sent (with their tracking token), the coupons they issued, conversions, audiences and the cart-scan marks."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import BigId, JsonDoc, Money, Timestamp, metadata

RUN_STATUSES = ("waiting", "done", "stopped", "failed")

automation_rules = sa.Table(
    "automation_rules",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("trigger", JsonDoc, nullable=False),  # {"event": "cart.abandoned"} or {"schedule": "P1D"}
    sa.Column("trigger_type", sa.String(64), nullable=True, index=True),  # the outbox type it listens to
    sa.Column("conditions", JsonDoc, nullable=False),
    sa.Column("steps", JsonDoc, nullable=False),
    sa.Column("options", JsonDoc, nullable=False),  # goal, attribution window, quiet hours, caps
    sa.Column("active", sa.Boolean, nullable=False, default=False),
    sa.Column("recipe", sa.String(40), nullable=True, unique=True),  # built-in recipes keep their key
    sa.Column("last_scheduled_at", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

# One run per (rule, subject, trigger): the unique key is what makes a redelivered event start nothing new.
automation_runs = sa.Table(
    "automation_runs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("rule_id", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(80), nullable=False),  # a cart id or a customer id
    sa.Column("trigger_key", sa.String(120), nullable=False),  # the event id, or cart@idle-since
    sa.Column("customer_id", sa.String(40), nullable=True, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("step", sa.Integer, nullable=False, default=0),
    sa.Column("due_at", Timestamp, nullable=True),
    sa.Column("context", JsonDoc, nullable=False),  # the trigger's data and what the steps produced (a coupon)
    sa.Column("reason", sa.String(200), nullable=True),  # why it stopped
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("rule_id", "subject", "trigger_key", name="uq_automation_runs_once"),
    sa.Index("ix_automation_runs_due", "status", "due_at"),
    sa.CheckConstraint(f"status IN {RUN_STATUSES}", name="status_known"),
)

# What each step did: sent, skipped (with its reason), deferred, issued a coupon, tagged... the run log.
automation_log = sa.Table(
    "automation_log",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("rule_id", sa.String(40), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False, index=True),
    sa.Column("customer_id", sa.String(40), nullable=True),
    sa.Column("step", sa.Integer, nullable=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # started, done, sent, skipped, deferred, stopped, failed
    sa.Column("reason", sa.String(300), nullable=True),
    sa.Column("detail", JsonDoc, nullable=True),
    sa.Column("at", Timestamp, nullable=False),
    sa.Index("ix_automation_log_rule", "rule_id", "id"),
)

automation_messages = sa.Table(
    "automation_messages",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("rule_id", sa.String(40), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.Column("customer_id", sa.String(40), nullable=True),
    sa.Column("channel", sa.String(16), nullable=False),  # email, sms, whatsapp
    sa.Column("purpose", sa.String(32), nullable=False),  # the consent purpose it needed
    sa.Column("to", sa.String(320), nullable=False),
    sa.Column("subject", sa.String(300), nullable=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("html", sa.Text, nullable=True),
    sa.Column("links", JsonDoc, nullable=False),  # tracked links, by position
    sa.Column("token", sa.String(64), nullable=False, unique=True),  # unsubscribe, pixel and click links
    sa.Column("template", sa.String(64), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # queued, sent, failed
    sa.Column("provider", sa.String(16), nullable=True),  # smtp, sms, log
    sa.Column("provider_id", sa.String(120), nullable=True),
    sa.Column("error", sa.String(500), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("sent_at", Timestamp, nullable=True),
    sa.Column("opened_at", Timestamp, nullable=True),
    sa.Column("clicked_at", Timestamp, nullable=True),
    sa.Column("unsubscribed_at", Timestamp, nullable=True),
    sa.Column("nps_score", sa.Integer, nullable=True),  # the answer to an NPS survey this message asked
    sa.Index("ix_automation_messages_queue", "status", "created_at"),
    sa.Index("ix_automation_messages_customer", "customer_id", "created_at"),
    sa.Index("ix_automation_messages_rule", "rule_id"),
)

automation_coupons = sa.Table(
    "automation_coupons",
    metadata,
    sa.Column("code", sa.String(40), primary_key=True),
    sa.Column("promotion_id", sa.String(40), nullable=False),
    sa.Column("rule_id", sa.String(40), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.Column("customer_id", sa.String(40), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

# One conversion per order: the last message (or the coupon it used) within the rule's window gets the credit.
automation_conversions = sa.Table(
    "automation_conversions",
    metadata,
    sa.Column("order_id", sa.String(40), primary_key=True),
    sa.Column("rule_id", sa.String(40), nullable=False, index=True),
    sa.Column("message_id", sa.String(40), nullable=True),
    sa.Column("customer_id", sa.String(40), nullable=True),
    sa.Column("channel", sa.String(64), nullable=True),
    sa.Column("revenue", Money, nullable=False),
    sa.Column("currency", sa.String(3), nullable=True),
    sa.Column("via", sa.String(16), nullable=False),  # coupon, last_touch
    sa.Column("at", Timestamp, nullable=False),
)

automation_audience_members = sa.Table(
    "automation_audience_members",
    metadata,
    sa.Column("audience", sa.String(64), primary_key=True),
    sa.Column("customer_id", sa.String(40), primary_key=True),
    sa.Column("added_at", Timestamp, nullable=False),
    sa.Column("rule_id", sa.String(40), nullable=True),
)

# How far each channel's abandoned-cart scan has looked: carts whose idle threshold passed in (previous, now] are
# announced, so each idle period is announced once without a mark on every cart.
automation_cart_scans = sa.Table(
    "automation_cart_scans",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("scanned_until", Timestamp, nullable=False),
    sa.Column("scanned_id", sa.String(40), nullable=False, default=""),  # the last cart at that instant
)

# The last abandoned cart of each person: what "a store check-in within N days of abandoning" reads.
automation_abandoned = sa.Table(
    "automation_abandoned",
    metadata,
    sa.Column("customer_id", sa.String(40), primary_key=True),
    sa.Column("cart_id", sa.String(40), nullable=False),
    sa.Column("at", Timestamp, nullable=False),
)

# Each export of an audience: who was in it (consented) then, so the next delta export sends adds and removes.
automation_audience_exports = sa.Table(
    "automation_audience_exports",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("audience", sa.String(64), nullable=False),
    sa.Column("format", sa.String(16), nullable=False),  # meta, google
    sa.Column("mode", sa.String(8), nullable=False),  # full, delta
    sa.Column("customer_ids", JsonDoc, nullable=False),
    sa.Column("added", sa.Integer, nullable=False),
    sa.Column("removed", sa.Integer, nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Index("ix_automation_audience_exports_last", "audience", "format", "at"),
)

# Segments: conditions over the 360 facts; members kept by the recompute job (segment.entered / segment.left).
automation_segments = sa.Table(
    "automation_segments",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("conditions", JsonDoc, nullable=False),
    sa.Column("computed_at", Timestamp, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

automation_segment_members = sa.Table(
    "automation_segment_members",
    metadata,
    sa.Column("segment_id", sa.String(40), primary_key=True),
    sa.Column("customer_id", sa.String(40), primary_key=True),
    sa.Column("since", Timestamp, nullable=False),
)

# Back-in-stock subscriptions: a person asked to hear when a SKU is available again in a channel. The first
# availability change from 0 to more in that channel fires each open subscription once (`stock.back`).
automation_stock_subscriptions = sa.Table(
    "automation_stock_subscriptions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.String(40), nullable=False),
    sa.Column("notify_by", sa.String(16), nullable=False),  # email, sms, whatsapp: the consent it needed
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("fired_at", Timestamp, nullable=True),
    sa.Index("ix_automation_stock_subscriptions_open", "channel", "sku", "fired_at"),
    sa.Index("ix_automation_stock_subscriptions_customer", "customer_id"),
)

# Predicted 12-month CLV per person and currency, copied from the analytics room's models (its `clv` report) by the
# `automation.predictions` job, so that segments can compile `customer.predicted_clv` to SQL. One snapshot: the job
# replaces every row at once; `as_of` is the day the models were fitted for.
automation_predictions = sa.Table(
    "automation_predictions",
    metadata,
    sa.Column("customer_id", sa.String(40), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("predicted_clv", Money, nullable=False),
    sa.Column("probability_alive", sa.Float, nullable=True),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("computed_at", Timestamp, nullable=False),
)
