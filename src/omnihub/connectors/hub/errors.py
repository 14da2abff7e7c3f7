"""The connector hub's errors, each with a stable code."""

from __future__ import annotations

from omnihub.core.errors import NotFound, Unauthorized, ValidationFailed


def connection_not_found(kind: str, channel: str) -> NotFound:
    return NotFound("connection_not_found", f"No {kind} connection for channel '{channel}'.", field="channel",
                    kind=kind, channel=channel)


def dead_letter_not_found(letter_id: str) -> NotFound:
    return NotFound("dead_letter_not_found", f"No dead letter '{letter_id}'.", field="id", dead_letter=letter_id)


def bad_signature(header: str) -> Unauthorized:
    return Unauthorized("invalid_signature", f"{header} is missing or does not match the webhook secret of this "
                        "channel's connection.", field=header)


def invalid_config(field: str, detail: str) -> ValidationFailed:
    return ValidationFailed("connector_invalid", detail, field=field)


def unknown_location(field: str, code: str) -> ValidationFailed:
    return ValidationFailed("location_not_found", f"No location '{code}' in the hub.", field=field, location=code)


def too_large(limit: int) -> ValidationFailed:
    return ValidationFailed("payload_too_large", f"The webhook body is larger than {limit} bytes.", field="body",
                            limit=limit)
