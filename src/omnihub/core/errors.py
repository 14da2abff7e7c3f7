"""Domain errors: a stable code, a message, the offending field and data. Mapped to HTTP in app.py only."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorKind(StrEnum):
    VALIDATION = "validation"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"
    TOO_MANY_REQUESTS = "too_many_requests"


class DomainError(Exception):
    kind: ErrorKind = ErrorKind.VALIDATION

    def __init__(self, code: str, detail: str, *, field: str | None = None, **data: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.field = field
        self.data = data


class ValidationFailed(DomainError):
    kind = ErrorKind.VALIDATION


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND


class Conflict(DomainError):
    kind = ErrorKind.CONFLICT


class Unauthorized(DomainError):
    kind = ErrorKind.UNAUTHORIZED


class Forbidden(DomainError):
    kind = ErrorKind.FORBIDDEN


class Unavailable(DomainError):
    """A dependency the request needs is not there (HTTP 503); retrying later may work."""

    kind = ErrorKind.UNAVAILABLE


class TooManyRequests(DomainError):
    """Slow down: `retry_after` (whole seconds) becomes the answer's Retry-After header."""

    kind = ErrorKind.TOO_MANY_REQUESTS


def not_found(resource: str, key: str, *, field: str | None = None) -> NotFound:
    return NotFound(f"{resource}_not_found", f"No {resource} '{key}'.", field=field, **{resource: key})
