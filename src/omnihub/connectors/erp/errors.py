"""The ERP connector's errors, each with a stable code."""

from __future__ import annotations

from omnihub.core.errors import NotFound, ValidationFailed


def invalid_mapping(key: str, message: str) -> ValidationFailed:
    return ValidationFailed("invalid_erp_mapping", f"The ERP mapping is not valid: {key}: {message}.",
                            field=f"mapping.{key}", key=key)


def endpoint_not_allowed(reason: str) -> ValidationFailed:
    """The URL itself is not echoed: it may carry credentials."""
    return ValidationFailed("erp_endpoint_not_allowed", f"The ERP endpoint is not one the hub may reach: {reason}.",
                            field="endpoint")


def not_configured() -> NotFound:
    return NotFound("erp_not_configured", "No ERP is configured: PUT /api/v1/connectors/erp first.")


def inbound_not_mapped(kind: str) -> ValidationFailed:
    return ValidationFailed("erp_inbound_not_mapped",
                            f"The ERP mapping has no `inbound.{kind}` section naming the ERP's fields.",
                            field=f"mapping.inbound.{kind}", kind=kind)
