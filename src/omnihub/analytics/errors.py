"""The analytics room's coded errors."""

from __future__ import annotations

from omnihub.core.errors import Unavailable, ValidationFailed


def unavailable(reason: str) -> Unavailable:
    """DuckDB could not load its extensions or attach the database: say so (503), never answer from a slower
    path behind the caller's back."""
    return Unavailable("analytics_unavailable", f"Analytics cannot read the database: {reason}", reason=reason)


def invalid_period(detail: str, field: str = "from") -> ValidationFailed:
    return ValidationFailed("invalid_period", detail, field=field)


def invalid_choice(field: str, value: str, allowed: tuple[str, ...]) -> ValidationFailed:
    return ValidationFailed(f"invalid_{field}", f"'{value}' is not one of: {', '.join(allowed)}.", field=field,
                            allowed=list(allowed))
