"""Log in, log out, the profile (password and language)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from omnihub.console import errors, rules, service
from omnihub.console.web import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    ConsoleRoute,
    Viewer,
    client_address,
    new_login_csrf,
    optional_viewer,
    page,
    posted,
    problem_of,
    redirect,
    render,
    session_policy,
    set_cookie,
    unsigned,
)
from omnihub.core.errors import DomainError

router = APIRouter(route_class=ConsoleRoute)


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no //host): an open redirect would make the login page a lure."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target[:500]
    return None


def _login_page(request: Request, *, status: int = 200, problem: dict | None = None, email: str = "",
                next_: str | None = None) -> Response:
    token = new_login_csrf()
    response = render(request, "login.html", {"login_csrf": token, "problem": problem, "email": email,
                                              "next": _safe_next(next_) or ""}, status=status)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None,
               viewer: Viewer | None = Depends(optional_viewer)) -> Response:
    if viewer is not None:
        return redirect(_safe_next(next) or f"/{rules.home_page(viewer.role)}")
    return _login_page(request, next_=next)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    email = str(form.get("email") or "")[:300]
    password = str(form.get("password") or "")[:1000]
    next_ = str(form.get("next") or "")
    state = request.app.state
    expected = unsigned(state.settings.secret_key, request.cookies.get(LOGIN_CSRF_COOKIE))
    sent = str(form.get("csrf_token") or "")
    if expected is None or not sent or sent != expected:
        return _login_page(request, status=403, problem=problem_of(errors.csrf_failed()), email=email, next_=next_)
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_login, request, email, password, next_)


def _login(request: Request, email: str, password: str, next_: str) -> Response:
    state = request.app.state
    s = state.settings
    throttle = rules.Throttle(window=timedelta(minutes=s.console_login_window_minutes),
                              per_email=s.console_login_max_per_email, per_address=s.console_login_max_per_address)
    with state.db.transaction() as conn:
        outcome = service.check_login(conn, state.clock, throttle, email=email, password=password,
                                      address=client_address(request))
    if outcome.throttled_until is not None:
        wait = max(1, int((outcome.throttled_until - state.clock.now()).total_seconds()))
        problem = problem_of(errors.Throttled(outcome.throttled_until)) | {"status": 429, "retry_after": wait}
        response = _login_page(request, status=429, problem=problem, email=email, next_=next_)
        response.headers["Retry-After"] = str(wait)
        return response
    if outcome.user is None:
        return _login_page(request, status=401, problem=problem_of(errors.invalid_credentials()), email=email,
                           next_=next_)
    policy = session_policy(request)
    with state.db.transaction() as conn:
        token, _ = service.start_session(conn, state.clock, policy, s.secret_key, user_id=outcome.user["id"],
                                         address=client_address(request))
    response = redirect(_safe_next(next_) or f"/{rules.home_page(outcome.user['role'])}")
    set_cookie(request, response, SESSION_COOKIE, token, max_age=int(policy.lifetime.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, form: dict[str, str] = Depends(posted("profile")),
           viewer: Viewer = Depends(page("profile"))) -> Response:
    state = request.app.state
    with state.db.transaction() as conn:
        service.end_session(conn, state.clock, viewer.session_id)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/profile")
def profile(request: Request, done: str | None = None, viewer: Viewer = Depends(page("profile"))) -> Response:
    return render(request, "profile.html", {"done": done, "problem": None, "locales": rules.LOCALES})


@router.post("/profile/password")
def change_password(request: Request, form: dict[str, str] = Depends(posted("profile")),
                    viewer: Viewer = Depends(page("profile"))) -> Response:
    state = request.app.state
    try:
        with state.db.transaction() as conn:
            service.change_password(conn, state.clock, viewer.user_id, current=form.get("current_password", ""),
                                    new=form.get("new_password", ""), confirm=form.get("confirm_password", ""),
                                    keep_session=viewer.session_id)
    except DomainError as exc:
        return render(request, "profile.html", {"problem": problem_of(exc), "done": None, "locales": rules.LOCALES},
                      status=problem_of(exc)["status"])
    return redirect("/profile?done=password")


@router.post("/profile/language")
def change_language(request: Request, form: dict[str, str] = Depends(posted("profile")),
                    viewer: Viewer = Depends(page("profile"))) -> Response:
    locale = form.get("locale") or None
    state = request.app.state
    try:
        with state.db.transaction() as conn:
            service.set_locale(conn, viewer.user_id, locale)
    except DomainError as exc:
        return render(request, "profile.html", {"problem": problem_of(exc), "done": None, "locales": rules.LOCALES},
                      status=problem_of(exc)["status"])
    return redirect("/profile?done=language")
