"""The console's coded errors (rendered as HTML pages or form messages; the same shape as the API's problems)."""

from __future__ import annotations

from datetime import datetime

from omnihub.core.errors import Conflict, DomainError, Forbidden, NotFound, Unauthorized, ValidationFailed


class LoginRequired(Unauthorized):
    """No live session: the browser is sent to /login."""

    def __init__(self) -> None:
        super().__init__("login_required", "Log in to continue.")


class Throttled(DomainError):
    """Too many failed logins for this e-mail or from this address."""

    def __init__(self, until: datetime) -> None:
        super().__init__("login_throttled", "Too many failed logins. Try again later.", field="email",
                         retry_at=until.isoformat())
        self.until = until


def invalid_credentials() -> Unauthorized:
    return Unauthorized("invalid_credentials", "The e-mail or the password is wrong.", field="password")


def csrf_failed() -> Forbidden:
    return Forbidden("csrf_failed", "The form expired or did not come from this site. Reload the page and try again.",
                     field="csrf_token")


def page_not_allowed(page: str, role: str) -> Forbidden:
    return Forbidden("role_not_allowed", f"The role '{role}' cannot open this page.", page=page, role=role)


def action_not_allowed(action: str, role: str) -> Forbidden:
    return Forbidden("role_not_allowed", f"The role '{role}' cannot do this.", action=action, role=role)


def user_exists(email: str) -> Conflict:
    return Conflict("user_exists", f"A user with the e-mail '{email}' exists.", field="email", email=email)


def user_not_found(ref: str) -> NotFound:
    return NotFound("user_not_found", f"No user '{ref}'.", user=ref)


def invalid(code: str, detail: str, field: str) -> ValidationFailed:
    return ValidationFailed(code, detail, field=field)
