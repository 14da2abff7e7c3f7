"""The service room's errors, each with a stable code."""

from __future__ import annotations

from omnihub.core.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed


def conversation_not_found(conversation_id: str) -> NotFound:
    return NotFound("conversation_not_found", f"No conversation '{conversation_id}'.", field="id",
                    conversation_id=conversation_id)


def template_not_found(code: str, field: str = "code") -> NotFound:
    return NotFound("template_not_found", f"No reply template '{code}'.", field=field, template=code)


def template_exists(code: str) -> Conflict:
    return Conflict("template_exists", f"A reply template '{code}' exists already.", field="code", template=code)


def template_problem(code: str, detail: str, field: str) -> ValidationFailed:
    return ValidationFailed(code, detail, field=field)


def no_identity(field: str) -> ValidationFailed:
    return ValidationFailed("identity_required", "The message needs at least one usable identity of its sender.",
                            field=field)


def invalid_snooze(detail: str) -> ValidationFailed:
    return ValidationFailed("invalid_snooze", detail, field="until")


def conversation_resolved(conversation_id: str) -> Conflict:
    return Conflict("conversation_resolved", "The conversation is resolved already.", field="id",
                    conversation_id=conversation_id)


def conversation_merged(conversation_id: str, into: str) -> Conflict:
    return Conflict("conversation_merged", f"The conversation was merged into '{into}'.", field="id",
                    conversation_id=conversation_id, merged_into=into)


def channel_unreachable(channel: str | None) -> Conflict:
    return Conflict("channel_unreachable",
                    f"The customer cannot be reached on '{channel}': they never wrote from it and their profile "
                    "has no address for it." if channel else "The customer has not written from any channel "
                    "a reply can go out on; pick one they have.",
                    field="channel", channel=channel)


def channel_not_configured(channel: str) -> Conflict:
    return Conflict("channel_not_configured", f"No connection sends on '{channel}': configure it first "
                    "(PUT /connectors/meta/{channel} or OMNIHUB_SMTP_URL).", field="channel", channel=channel)


def whatsapp_window_closed(last_inbound_at: str | None) -> Conflict:
    return Conflict("whatsapp_window_closed",
                    "More than 24 hours have passed since the customer last wrote on WhatsApp: only an approved "
                    "template may be sent now (use a reply template that names its WhatsApp template).",
                    field="template", last_inbound_at=last_inbound_at)


def template_not_for_whatsapp(code: str) -> Conflict:
    return Conflict("template_not_approved",
                    f"Reply template '{code}' names no approved WhatsApp template, and the 24-hour window is closed.",
                    field="template", template=code)


def text_or_template() -> ValidationFailed:
    return ValidationFailed("text_or_template", "Send either text or a template (with its variables).",
                            field="text")


def connector_invalid(field: str, detail: str) -> ValidationFailed:
    return ValidationFailed("invalid_connector", detail, field=field)


def account_taken(account_id: str, channel: str) -> Conflict:
    return Conflict("meta_account_in_use", f"Account '{account_id}' is connected to channel '{channel}' already.",
                    field="phone_number_id", channel=channel)


def bad_signature() -> Unauthorized:
    return Unauthorized("invalid_signature", "X-Hub-Signature-256 is missing or does not match the app secret of "
                        "the account this payload is for.", field="X-Hub-Signature-256")


def bad_verify_token() -> Forbidden:
    return Forbidden("invalid_verify_token", "hub.verify_token matches no configured connection.",
                        field="hub.verify_token")


def invalid_email(detail: str, field: str = "body") -> ValidationFailed:
    return ValidationFailed("invalid_email", detail, field=field)


def too_large(limit: int) -> ValidationFailed:
    return ValidationFailed("body_too_large", f"The body is larger than {limit} bytes.", field="body", limit=limit)


def message_not_found(message_id: str) -> NotFound:
    return NotFound("message_not_found", f"No message '{message_id}' with an original in this conversation.",
                    field="message_id", message_id=message_id)


def connection_not_found(channel: str) -> NotFound:
    return NotFound("connection_not_found", f"No Meta connection for channel '{channel}'.", field="channel",
                    channel=channel)


def not_an_email(field: str = "Content-Type") -> ValidationFailed:
    return ValidationFailed("unsupported_media_type", "Send the raw message as Content-Type: message/rfc822.",
                            field=field)


def article_not_found(article_id: str) -> NotFound:
    return NotFound("article_not_found", f"No knowledge-base article '{article_id}'.", field="id",
                    article_id=article_id)


def article_changed(article_id: str, revision: int) -> Conflict:
    return Conflict("article_changed", f"Article '{article_id}' was changed meanwhile (now revision {revision}); "
                    "reload it and edit again.", field="revision", article_id=article_id, revision=revision)
# ---- SLAs, teams, agents, CSAT ----------------------------------------------------------------------------------


def invalid_policy(detail: str) -> ValidationFailed:
    return ValidationFailed("invalid_sla_policy", detail, field="first_response_minutes")


def team_not_found(code: str, field: str = "code") -> NotFound:
    return NotFound("team_not_found", f"No team '{code}'.", field=field, team=code)


def team_exists(code: str) -> Conflict:
    return Conflict("team_exists", f"A team '{code}' exists already.", field="code", team=code)


def member_not_found(code: str, agent: str) -> NotFound:
    return NotFound("member_not_found", f"'{agent}' is not a member of team '{code}'.", field="agent", agent=agent)


def unknown_agent(agent: str, field: str = "agent") -> ValidationFailed:
    return ValidationFailed("unknown_agent", f"'{agent}' is not an agent: an agent is an API key id (key_…) of an "
                            "agent or admin key, or a console user as user:<id>.", field=field, agent=agent)


def not_your_availability(agent: str) -> Forbidden:
    return Forbidden("not_your_availability", "An agent sets only their own availability ('me').", field="agent",
                     agent=agent)


def no_agent_available(team: str) -> Conflict:
    return Conflict("no_agent_available", f"No member of team '{team}' is available: nobody to assign to.",
                    field="team", team=team)


def auto_needs_team() -> ValidationFailed:
    return ValidationFailed("team_required", "Automatic assignment picks among a team's available agents: name the "
                            "team (or give the conversation one first).", field="team")


def survey_not_found() -> NotFound:
    return NotFound("survey_not_found", "No satisfaction survey for this link.", field="token")


def survey_answered() -> Conflict:
    return Conflict("survey_answered", "This survey was answered already.", field="token")


def sms_too_long(limit: int) -> ValidationFailed:
    return ValidationFailed("sms_too_long", f"An SMS reply is at most {limit} characters.", field="text", limit=limit)


def invalid_routing_rule(field: str, detail: str) -> ValidationFailed:
    return ValidationFailed("invalid_routing_rule", detail, field=field)


def routing_rule_not_found(rule_id: str) -> NotFound:
    return NotFound("routing_rule_not_found", f"No routing rule '{rule_id}'.", field="id", rule_id=rule_id)
