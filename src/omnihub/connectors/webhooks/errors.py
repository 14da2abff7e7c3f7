"""The webhooks room's errors, each with a stable code."""

from __future__ import annotations

from omnihub.core.errors import Conflict, NotFound, ValidationFailed


def invalid_url(url: str, reason: str) -> ValidationFailed:
    """The URL itself is not echoed: it may carry credentials."""
    return ValidationFailed("invalid_webhook_url", reason, field="url")


def url_not_allowed(reason: str) -> ValidationFailed:
    return ValidationFailed("webhook_url_not_allowed", f"The URL's host is not one the hub may reach: {reason}.",
                            field="url")


def invalid_event_pattern(pattern: str, index: int, reason: str) -> ValidationFailed:
    return ValidationFailed("invalid_event_type", reason, field=f"events.{index}", event=pattern[:100])


def webhook_not_found(webhook_id: str) -> NotFound:
    return NotFound("webhook_not_found", f"No webhook '{webhook_id}'.", webhook=webhook_id)


def delivery_not_found(webhook_id: str, delivery_id: str) -> NotFound:
    return NotFound("delivery_not_found", f"Webhook '{webhook_id}' has no delivery '{delivery_id}'.",
                    webhook=webhook_id, delivery=delivery_id)


def delivery_pending(delivery_id: str) -> Conflict:
    return Conflict("delivery_pending", f"Delivery '{delivery_id}' is still pending; it will be sent (again).",
                    delivery=delivery_id)


def webhook_inactive(webhook_id: str) -> Conflict:
    return Conflict("webhook_inactive", f"Webhook '{webhook_id}' is deactivated; nothing is sent to it.",
                    webhook=webhook_id)


def nothing_to_update() -> ValidationFailed:
    return ValidationFailed("nothing_to_update", "Send at least one of url, events, batch_size.", field="body")


def secret_unchanged() -> ValidationFailed:
    return ValidationFailed("secret_unchanged", "The new secret must differ from the current one.", field="secret")
