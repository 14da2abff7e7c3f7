"""The service room's tables: conversations, their messages (in, out and internal notes), Meta connections,
reply templates; SLA policies, teams, agents' availability, tags and CSAT surveys."""

from __future__ import annotations

import sqlalchemy as sa

from omnihub.core.db import JsonDoc, Timestamp, metadata

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("customer_id", sa.String(40), nullable=False, index=True),  # the profile it belongs to now
    sa.Column("owner_id", sa.String(40), nullable=False),  # the profile it was opened for (unmerge)
    # = customer_id while the conversation is not resolved (nor merged away): one live conversation per person,
    # kept by the unique key rather than by read-then-write.
    sa.Column("active_for", sa.String(40), nullable=True, unique=True),
    sa.Column("status", sa.String(16), nullable=False),  # open, pending, snoozed, resolved, merged
    sa.Column("snoozed_until", Timestamp, nullable=True),
    sa.Column("assignee", sa.String(200), nullable=True),
    sa.Column("priority", sa.String(16), nullable=False),
    sa.Column("priority_reasons", JsonDoc, nullable=False),
    sa.Column("reply_token", sa.String(32), nullable=False, unique=True),
    sa.Column("last_channel", sa.String(16), nullable=True),
    sa.Column("last_message_at", Timestamp, nullable=False),
    sa.Column("first_response_at", Timestamp, nullable=True),
    sa.Column("resolved_at", Timestamp, nullable=True),
    sa.Column("merged_into", sa.String(40), nullable=True, index=True),
    sa.Column("status_before_merge", sa.String(16), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    # Teams and SLAs (migration 0019_service_desk; service/teams.py, service/sla.py).
    sa.Column("team_id", sa.String(64), nullable=True),
    sa.Column("sla_started_at", Timestamp, nullable=True),  # when the current cycle opened (open or reopen)
    sa.Column("first_response_due_at", Timestamp, nullable=True),
    sa.Column("resolution_due_at", Timestamp, nullable=True),
    sa.Column("first_response_breached_at", Timestamp, nullable=True),
    sa.Column("resolution_breached_at", Timestamp, nullable=True),
    sa.Column("first_response_seconds", sa.Integer, nullable=True),
    sa.Column("resolution_seconds", sa.Integer, nullable=True),
    sa.Column("sla_check_at", Timestamp, nullable=True, index=True),  # the next unmet, unbreached due time
    # Next response and the paused clock (migration 0032_service_routing; service/sla_rules.py).
    sa.Column("next_response_started_at", Timestamp, nullable=True),  # a customer message awaiting an agent
    sa.Column("next_response_due_at", Timestamp, nullable=True),
    sa.Column("next_response_breached_at", Timestamp, nullable=True),
    sa.Column("paused_at", Timestamp, nullable=True),  # pending (waiting on the customer) since
    sa.Column("paused_seconds", sa.Integer, nullable=True),  # paused in all, since the conversation opened
    sa.Column("resolution_paused_base", sa.Integer, nullable=True),  # paused_seconds when the cycle started
    sa.Column("next_response_paused_base", sa.Integer, nullable=True),  # … when the awaited message came
    sa.Index("ix_conversations_last_message", "last_message_at", "id"),
    # The team's and the agent's queues, newest first from their own index (migration 0041_service_queue_indexes).
    sa.Index("ix_conversations_team_queue", "team_id", "last_message_at", "id"),
    sa.Index("ix_conversations_assignee_queue", "assignee", "last_message_at", "id"),
)

conversation_messages = sa.Table(
    "conversation_messages",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("conversation_id", sa.String(40), nullable=False, index=True),
    sa.Column("origin_conversation_id", sa.String(40), nullable=False),  # where it was stored first (unmerge)
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),  # in, out, note
    sa.Column("author", sa.String(200), nullable=True),  # customer id, API key id, or "bot"
    sa.Column("text", sa.Text, nullable=False),  # for e-mail: the new part, quotes and signature trimmed
    sa.Column("subject", sa.String(300), nullable=True),
    sa.Column("original", sa.Text, nullable=True),  # e-mail: the whole message as received
    sa.Column("attachments", JsonDoc, nullable=False),
    sa.Column("external_id", sa.String(300), nullable=True),
    sa.Column("address", sa.String(320), nullable=True),  # the customer's address on that channel
    sa.Column("email_message_id", sa.String(300), nullable=True, index=True),
    sa.Column("status", sa.String(16), nullable=False),  # received, queued, sending, sent, delivered, read, failed
    sa.Column("error", sa.String(500), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Timestamp, nullable=True),
    sa.Column("provider_message_id", sa.String(300), nullable=True, index=True),
    sa.Column("template", sa.String(64), nullable=True),
    sa.Column("payload", JsonDoc, nullable=True),  # what an outbound message sends (address, connector, template)
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("channel", "external_id", name="uq_conversation_messages_channel_external"),
    sa.Index("ix_conversation_messages_outbox", "status", "next_attempt_at"),
)

meta_connectors = sa.Table(
    "meta_connectors",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),  # the hub channel the connection serves
    sa.Column("kind", sa.String(16), nullable=False),  # whatsapp, instagram
    sa.Column("account_id", sa.String(64), nullable=False, unique=True),  # phone_number_id or page/IG account id
    sa.Column("app_secret", sa.Text, nullable=False),  # Fernet tokens: never stored or returned in clear
    sa.Column("verify_token", sa.Text, nullable=False),
    sa.Column("access_token", sa.Text, nullable=False),
    sa.Column("api_base", sa.String(300), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

reply_templates = sa.Table(
    "reply_templates",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("subject", sa.String(300), nullable=True),
    sa.Column("whatsapp_name", sa.String(200), nullable=True),  # the approved template at Meta, if any
    sa.Column("whatsapp_language", sa.String(16), nullable=True),
    sa.Column("whatsapp_parameters", JsonDoc, nullable=False),  # body parameters, each a template expression
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)


# ---- SLAs, teams, agents, tags, CSAT (migration 0019_service_desk) ------------------------------------------

sla_policies = sa.Table(  # per priority; a priority without a row uses sla_rules.DEFAULT_POLICIES
    "sla_policies",
    metadata,
    sa.Column("priority", sa.String(16), primary_key=True),
    sa.Column("first_response_minutes", sa.Integer, nullable=False),
    sa.Column("resolution_minutes", sa.Integer, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("next_response_minutes", sa.Integer, nullable=True),  # None: the priority's default (0032)
)

service_routing_rules = sa.Table(  # first match (by position) routes a conversation to a team (service/routing.py)
    "service_routing_rules",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("channel", sa.String(16), nullable=True),  # each condition: None matches anything
    sa.Column("reason", sa.String(40), nullable=True),  # a priority rule (late_order, complaint, …)
    sa.Column("tag", sa.String(64), nullable=True),
    sa.Column("language", sa.String(8), nullable=True),  # es, en
    sa.Column("team", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_service_routing_rules_position", "position", "id"),
)

service_teams = sa.Table(
    "service_teams",
    metadata,
    sa.Column("code", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("rr_counter", sa.BigInteger, nullable=False),  # round robin: bumped (row-locked) per auto-assignment
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

service_team_members = sa.Table(
    "service_team_members",
    metadata,
    sa.Column("team_code", sa.String(64), primary_key=True),
    sa.Column("agent", sa.String(200), primary_key=True),  # a principal id: an API key id or user:<console user>
    sa.Column("last_assigned", sa.BigInteger, nullable=False),  # the team's counter when last given a conversation
    sa.Column("added_at", Timestamp, nullable=False),
)

service_agents = sa.Table(  # availability per agent (a principal id); no row: not available
    "service_agents",
    metadata,
    sa.Column("agent", sa.String(200), primary_key=True),
    sa.Column("available", sa.Boolean, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

conversation_tags = sa.Table(
    "conversation_tags",
    metadata,
    sa.Column("conversation_id", sa.String(40), primary_key=True),
    sa.Column("tag", sa.String(64), primary_key=True),
    sa.Column("added_at", Timestamp, nullable=False),
    sa.Index("ix_conversation_tags_tag", "tag"),
)

csat_surveys = sa.Table(
    "csat_surveys",
    metadata,
    sa.Column("token", sa.String(64), primary_key=True),  # the answer link's secret (also in the ask message)
    sa.Column("conversation_id", sa.String(40), nullable=False, index=True),
    sa.Column("customer_id", sa.String(40), nullable=False, index=True),
    sa.Column("channel", sa.String(16), nullable=True),  # where it was asked (None: not sendable, link only)
    sa.Column("message_id", sa.String(40), nullable=True),
    sa.Column("asked_at", Timestamp, nullable=False),
    sa.Column("score", sa.Integer, nullable=True),
    sa.Column("comment", sa.Text, nullable=True),
    sa.Column("answered_at", Timestamp, nullable=True),
    sa.Column("answered_via", sa.String(8), nullable=True),  # link, reply
)


# ---- knowledge base and the bot (migration 0018_service_kb) ----------------------------------------------------

kb_articles = sa.Table(
    "kb_articles",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("language", sa.String(8), nullable=False, index=True),  # es, en
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("keywords", JsonDoc, nullable=False),  # words customers use that the text may not
    sa.Column("published", sa.Boolean, nullable=False),  # only published articles answer customers
    sa.Column("revision", sa.Integer, nullable=False),  # +1 per change: the bot's index notices edits
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("updated_by", sa.String(200), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

bot_handoffs = sa.Table(
    "bot_handoffs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("conversation_id", sa.String(40), nullable=False, index=True),
    sa.Column("message_id", sa.String(40), nullable=False),  # the customer's message it handed off on
    sa.Column("reason", sa.String(40), nullable=False),  # asked_for_person, complaint, low_confidence, …
    sa.Column("detail", JsonDoc, nullable=False),  # e.g. the best article and its confidence
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("closed_at", Timestamp, nullable=True),  # the conversation was resolved: the bot is first line again
    # one open handoff per conversation, kept by the unique key: = conversation_id while open
    sa.Column("open_for", sa.String(40), nullable=True, unique=True),
)


# ---- Meta webhooks as received, before they are threaded (migration 0031_service_inbound; service/ingest.py) ---

inbound_payloads = sa.Table(
    "service_inbound_payloads",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("source", sa.String(16), nullable=False),  # meta
    sa.Column("body", sa.LargeBinary, nullable=False),  # the raw signed body, exactly as its signature covers it
    sa.Column("status", sa.String(8), nullable=False),  # pending, done, failed (gave up: kept with its error)
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Timestamp, nullable=False),
    sa.Column("error", sa.String(500), nullable=True),  # the last failure, kept for people to read
    sa.Column("result", JsonDoc, nullable=True),  # what it gave: received, duplicates, statuses, ignored
    sa.Column("received_at", Timestamp, nullable=False),
    sa.Column("processed_at", Timestamp, nullable=True),
    sa.Index("ix_service_inbound_payloads_due", "status", "next_attempt_at"),
)
