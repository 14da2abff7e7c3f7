"""The automation room's errors, each with a stable code (problem+json through app.py)."""

from __future__ import annotations

from omnihub.core.errors import NotFound, ValidationFailed


def invalid_rule(field: str, detail: str) -> ValidationFailed:
    return ValidationFailed("invalid_automation", detail, field=field)


def rule_not_found(rule_id: str) -> NotFound:
    return NotFound("automation_not_found", f"No automation '{rule_id}'.", id=rule_id)


def token_not_found() -> NotFound:
    return NotFound("link_not_found", "This link is not known (or the message was erased).")
