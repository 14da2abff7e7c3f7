"""The console's web plumbing: the logged-in viewer, role checks, CSRF, rendering, and errors as pages."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from omnihub.console import errors, i18n, queries, rules, service
from omnihub.core.errors import DomainError, ErrorKind
from omnihub.core.security import Principal, Role

TEMPLATES = Path(__file__).parent / "templates"
SESSION_COOKIE = "omnihub_session"
LOGIN_CSRF_COOKIE = "omnihub_login_csrf"
STATUS_BY_KIND = {ErrorKind.VALIDATION: 422, ErrorKind.NOT_FOUND: 404, ErrorKind.CONFLICT: 409,
                  ErrorKind.UNAUTHORIZED: 401, ErrorKind.FORBIDDEN: 403, ErrorKind.TOO_MANY_REQUESTS: 429}
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Viewer:
    """The person behind a request, from their live session."""

    user_id: str
    email: str
    role: str
    location: str | None
    locale: str
    chosen_locale: str | None
    session_id: str
    csrf: str

    @property
    def principal(self) -> Principal:
        """The same principal the API's keys give, so the rooms' scope checks apply unchanged."""
        return Principal(key_id=f"user:{self.user_id}", role=Role(self.role), location=self.location)

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"

    def may(self, action: str) -> bool:
        return rules.may(self.role, action)

    def require(self, action: str) -> None:
        if not rules.may(self.role, action):
            raise errors.action_not_allowed(action, self.role)


# ---- cookies ---------------------------------------------------------------------------------------------


def _sign(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), f"cookie:{value}".encode(), hashlib.sha256).hexdigest()[:32]


def signed(secret: str, value: str) -> str:
    return f"{value}.{_sign(secret, value)}"


def unsigned(secret: str, cookie: str | None) -> str | None:
    """The value of a signed cookie, or None when it is missing or was not signed by us."""
    if not cookie or "." not in cookie or len(cookie) > 200:
        return None
    value, _, signature = cookie.rpartition(".")
    return value if hmac.compare_digest(signature, _sign(secret, value)) else None


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None) -> None:
    response.set_cookie(name, signed(request.app.state.settings.secret_key, value), max_age=max_age, path="/",
                        httponly=True, samesite="lax", secure=request.app.state.settings.console_secure_cookies)


def session_policy(request: Request) -> rules.SessionPolicy:
    s = request.app.state.settings
    return rules.SessionPolicy(lifetime=timedelta(hours=s.console_session_hours),
                               idle=timedelta(minutes=s.console_idle_minutes))


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ---- the viewer ------------------------------------------------------------------------------------------


def optional_viewer(request: Request) -> Viewer | None:
    """The live session's viewer, or None. Sync: FastAPI runs it in the thread pool (it reads the database)."""
    if hasattr(request.state, "viewer"):
        return request.state.viewer  # type: ignore[no-any-return]
    state = request.app.state
    token = unsigned(state.settings.secret_key, request.cookies.get(SESSION_COOKIE))
    found = None
    if token is not None:
        with state.db.read() as conn:
            found = queries.session_by_token_hash(conn, service.token_hash(state.settings.secret_key, token))
    viewer = None
    now = state.clock.now()
    policy = session_policy(request)
    if found and found["disabled_at"] is None and rules.session_alive(
            policy, now, last_seen_at=found["last_seen_at"], expires_at=found["expires_at"],
            ended_at=found["ended_at"]):
        if rules.needs_touch(policy, now, found["last_seen_at"]):
            with state.db.transaction() as conn:
                service.touch_session(conn, state.clock, found["id"])
        viewer = Viewer(user_id=found["user_id"], email=found["email"], role=found["role"],
                        location=found["location"], locale=found["locale"] or i18n.negotiate(
                            request.headers.get("accept-language")), chosen_locale=found["locale"],
                        session_id=found["id"], csrf=found["csrf_token"])
    request.state.viewer = viewer
    return viewer


def current_viewer(viewer: Viewer | None = Depends(optional_viewer)) -> Viewer:
    if viewer is None:
        raise errors.LoginRequired()
    return viewer


def page(name: str) -> Callable[..., Viewer]:
    """A dependency: the viewer, if their role may open this page (403 otherwise, whatever the menu shows)."""

    def _check(viewer: Viewer = Depends(current_viewer)) -> Viewer:
        if not rules.may_open(viewer.role, name):
            raise errors.page_not_allowed(name, viewer.role)
        return viewer

    return _check


def posted(name: str) -> Callable[..., Coroutine[Any, Any, dict[str, str]]]:
    """A dependency for a form POST on a page: role check, then the CSRF token compared with the session's."""

    async def _form(request: Request, viewer: Viewer = Depends(page(name))) -> dict[str, str]:
        form = await request.form()
        sent = str(form.get("csrf_token") or request.headers.get("x-csrf-token") or "")
        if not hmac.compare_digest(sent.encode(), viewer.csrf.encode()):
            raise errors.csrf_failed()
        return {key: str(value) for key, value in form.items() if isinstance(value, str) and key != "csrf_token"}

    return _form


# ---- rendering -------------------------------------------------------------------------------------------


@cache
def environment(locale: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
                      auto_reload=False)  # templates ship with the package: no stat per render
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["quote"] = quote
    return env


def render(request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200,
           viewer: Viewer | None = None, headers: dict[str, str] | None = None,
           locale: str | None = None) -> HTMLResponse:
    """`locale` forces a language (a public page's `?lang=`); else the viewer's, else the browser's."""
    viewer = viewer if viewer is not None else getattr(request.state, "viewer", None)
    locale = locale or (viewer.locale if viewer else i18n.negotiate(request.headers.get("accept-language")))
    settings = request.app.state.settings
    body = environment(locale).get_template(template).render(
        request=request, viewer=viewer, locale=locale, fmt=i18n.Formatter(locale, settings.console_timezone),
        menu=rules.menu(viewer.role) if viewer else [], csrf=viewer.csrf if viewer else "",
        may=(lambda action: viewer.may(action)) if viewer else (lambda action: False), **(context or {}))
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def field_path(loc: tuple[Any, ...]) -> str:
    """The same field names the API's validation problems give (app.install_error_handlers)."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) if parts else str(loc[-1] if loc else "")


def problem_of(exc: Exception) -> dict[str, Any]:
    """A form's error as the API's problem details: code, detail, field (and the per-field messages)."""
    if isinstance(exc, DomainError):
        return {"code": exc.code, "detail": exc.detail, "field": exc.field, "status": STATUS_BY_KIND.get(exc.kind, 503),
                "fields": {exc.field: exc.detail, exc.field.rsplit(".", 1)[-1]: exc.detail} if exc.field else {}}
    if isinstance(exc, ValidationError | RequestValidationError):
        items = [(field_path(tuple(e.get("loc", ()))), e.get("msg", "")) for e in exc.errors()]
        first = items[0] if items else ("", "Invalid request.")
        fields = dict(reversed(items))
        fields |= {path.rsplit(".", 1)[-1]: message for path, message in reversed(items)}
        return {"code": "validation_error", "detail": f"{first[0]}: {first[1]}", "field": first[0], "status": 422,
                "fields": fields}
    raise exc


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


class ConsoleRoute(APIRoute):
    """Console routes answer in HTML: no session → the login page; a refusal or a missing thing → an error page
    with the same code and message the API's problem details carry."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except errors.LoginRequired:
                target = "/login?next=" + quote(request.url.path + (f"?{request.url.query}" if request.url.query
                                                                    else ""), safe="")
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": target})
                return redirect(target)
            except (DomainError, RequestValidationError) as exc:
                problem = problem_of(exc)
                return render(request, "error.html", {"problem": problem}, status=problem["status"])

        return route
