"""Build the FastAPI app: routers, error handlers (the one place errors become HTTP), middleware."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from omnihub import __version__
from omnihub.bootstrap import bootstrap
from omnihub.config import Settings, get_settings
from omnihub.core.clock import Clock, SystemClock
from omnihub.core.db import Database
from omnihub.core.errors import DomainError, ErrorKind
from omnihub.core.hints import RecentKeys
from omnihub.core.http import RETRY_AFTER_SECONDS, BodyLimitMiddleware, ErrorGuardMiddleware
from omnihub.core.idempotency import IdempotencyMiddleware
from omnihub.core.security import KeyAuthenticator
from omnihub.core.throttle import AuthThrottle

log = logging.getLogger("omnihub")

PROBLEM_BASE = "https://omnihub.dev/problems/"
STATUS_BY_KIND = {
    ErrorKind.VALIDATION: 422,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.TOO_MANY_REQUESTS: 429,
}
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 415: "Unsupported media type", 422: "Invalid request", 429: "Too many requests",
          500: "Internal error", 503: "Service unavailable"}


def problem(status: int, code: str, detail: str, field: str | None = None,
            extra: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if field is not None:
        body["field"] = field
    for key, value in (extra or {}).items():
        body.setdefault(key, value)  # the standard members always win
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    retry_after = body.get("retry_after")
    if isinstance(retry_after, int) and retry_after >= 0:  # a refusal that says when to come back (429, 409)
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers or None)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) if parts else str(loc[-1] if loc else "")


def _body_not_json(request: Request, exc: RequestValidationError) -> JSONResponse | None:
    """Say in words what is wrong with a body that is not JSON, instead of what pydantic makes of it: a body
    sent without a JSON content type (FastAPI then hands over raw bytes: "Input should be a valid dictionary")
    is 415; JSON that does not parse is 422 with the line and column where it breaks (not `"field": "26"`)."""
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid" and len(loc) == 2 and loc[0] == "body" and isinstance(loc[1], int):
            document = exc.body if isinstance(exc.body, str) else ""
            position = loc[1]
            line = document.count("\n", 0, position) + 1
            column = position - (document.rfind("\n", 0, position) + 1) + 1
            reason = (error.get("ctx") or {}).get("error", "not valid JSON")
            message = f"JSON invalid at line {line} column {column}: {reason}."
            return problem(422, "json_invalid", f"The body is not valid JSON. {message}", "body",
                           {"line": line, "column": column,
                            "errors": [{"field": "body", "message": message, "type": "json_invalid"}]})
    if isinstance(exc.body, bytes | bytearray) and exc.body:
        content_type = request.headers.get("content-type") or "none"
        return problem(415, "unsupported_media_type",
                       f"Expected a JSON body with Content-Type: application/json (got {content_type[:100]}).",
                       "content-type")
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return problem(STATUS_BY_KIND[exc.kind], exc.code, exc.detail, exc.field, exc.data)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if (said := _body_not_json(request, exc)) is not None:
            return said
        errors = [
            {"field": _field_path(tuple(e.get("loc", ()))), "message": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": None, "message": "Invalid request."}
        return problem(422, "validation_error", f"{first['field']}: {first['message']}", first["field"],
                       {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "route_not_found", 405: "method_not_allowed", 400: "bad_request"}
        return problem(exc.status_code, codes.get(exc.status_code, f"http_{exc.status_code}"), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem(500, "internal_error", "Something went wrong on our side; nothing was changed.")


def _link_operations(app: FastAPI) -> None:
    """The published schema carries OpenAPI links from creating operations to those using their ids."""
    from omnihub.openapi_links import add_links

    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(plain())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None, *, db: Database | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    db = db or Database(settings.database_url, pool_size=settings.db_pool_size)
    clock = clock or SystemClock()

    app = FastAPI(
        title="omnihub",
        version=__version__,
        description="One catalog, one inventory, one order flow, one customer, across every channel.",
        openapi_url="/openapi.json",
        docs_url=None,  # /docs and /redoc come from omnihub.docs_ui, with assets from the package (no CDN)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.clock = clock
    throttle = AuthThrottle(db, clock, limit=settings.auth_failure_limit,
                            window_seconds=settings.auth_failure_window_seconds,
                            block_seconds=settings.auth_block_seconds)
    app.state.authenticator = KeyAuthenticator(settings.secret_key, settings.api_key_cache_seconds, throttle)
    # (channel, SKU) pairs this process recently refused as sold out: only those get the cheap look before
    # the write transaction, so ordinary sales pay nothing for the sell-out path.
    app.state.sold_out = RecentKeys(ttl_seconds=10)
    install_error_handlers(app)
    # Order creation and replies to customers keep their Idempotency-Key answer in their own transaction
    # (commerce.api, service.api)
    app.add_middleware(IdempotencyMiddleware, db=db, clock=clock,
                       answered_by_route=[r"/api/v1/orders", r"/api/v1/carts/[^/]+/checkout",
                                          r"/api/v1/conversations/[^/]+/reply"])
    # Outside everything above: unhandled errors become problem answers on a connection that stays open
    # (the database down: 503), and the body limit refuses an oversized request before anyone buffers it.
    app.add_middleware(ErrorGuardMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)

    from omnihub.api import include_routers
    from omnihub.docs_ui import install_docs

    include_routers(app, bootstrap())
    _link_operations(app)
    install_docs(app)

    from omnihub.console.routes import install as install_console

    install_console(app)  # the browser pages at /, /login, /orders, … (never under /api/v1)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers. Says nothing about the database (that is /readyz)."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        """Readiness: the database answers a query. 503 `database_unavailable` otherwise."""
        from starlette.concurrency import run_in_threadpool

        try:
            await run_in_threadpool(db.ping)
        except Exception as exc:
            answer = problem(503, "database_unavailable",
                             f"The database cannot be reached ({type(exc).__name__}).")
            answer.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return answer
        return JSONResponse({"status": "ready", "version": __version__})

    return app
