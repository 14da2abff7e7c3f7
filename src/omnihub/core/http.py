"""ASGI guards around the whole API: the request-size limit (before anything reads a byte), and the last
word on errors nobody handled — so a client always gets a problem+json answer on a connection that stays
open, never a dropped connection.

Pure ASGI (no BaseHTTPMiddleware): they pass bodies through untouched and cost a function call per request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnihub.core.db import is_unavailable

log = logging.getLogger("omnihub")

PROBLEM_BASE = "https://omnihub.dev/problems/"
RETRY_AFTER_SECONDS = 5


def problem_message(status: int, code: str, detail: str, *, field: str | None = None, title: str = "Error",
                    headers: dict[str, str] | None = None) -> tuple[Message, Message]:
    """The two ASGI messages of an `application/problem+json` answer."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": title, "status": status, "code": code,
                            "detail": detail}
    if field is not None:
        body["field"] = field
    raw = json.dumps(body).encode()
    head = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(raw)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())]
    return ({"type": "http.response.start", "status": status, "headers": head},
            {"type": "http.response.body", "body": raw, "more_body": False})


class BodyTooLarge(Exception):
    """Raised from `receive` once a request body passes the limit; the middleware answers 413."""


async def read_limited_body(request: Request, limit: int, too_large: Callable[[int], Exception]) -> bytes:
    """The raw body (what a provider signed), refused with `too_large(limit)` past `limit` bytes without
    reading it all: for routes that take a smaller body than the app-wide OMNIHUB_MAX_BODY_BYTES."""
    size = request.headers.get("content-length")
    if size and size.isdigit() and int(size) > limit:
        raise too_large(limit)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class BodyLimitMiddleware:
    """Outermost: a request whose Content-Length, or whose streamed bytes, pass `max_bytes` is answered 413
    before authentication, idempotency or any parsing has buffered it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0:
                    await self._refuse(send, 400, "invalid_content_length", "Content-Length is not a number.")
                    return
                if declared > self.max_bytes:
                    await self._too_large(send)
                    return
        seen = 0
        started = too_large = False

        async def counted_receive() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_large = True
                    raise BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if too_large:  # whatever the app made of the refused read (FastAPI: a 400), the answer is 413
                if not started:
                    started = True
                    await self._too_large(send)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if not started:
                await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        await self._refuse(send, 413, "request_too_large",
                           f"The request body is larger than {self.max_bytes} bytes (OMNIHUB_MAX_BODY_BYTES).")

    @staticmethod
    async def _refuse(send: Send, status: int, code: str, detail: str) -> None:
        # Connection: close: the client may still be sending the body we will not read.
        for message in problem_message(status, code, detail, field="body", title="Request refused",
                                       headers={"connection": "close"}):
            await send(message)


class ErrorGuardMiddleware:
    """Turns what escaped every handler into a problem answer instead of an exception for the server (which
    would drop the keep-alive connection after its own 500):

    - the database unreachable → 503 `database_unavailable` with Retry-After;
    - a constraint the database enforced that a concurrent request broke first → 409 `conflict`;
    - a value the database could not store (out of range, NUL) → 422 `invalid_value`;
    - anything else → a logged 500 `internal_error`.

    Each of these rolled its transaction back, so the answer says truthfully that nothing changed. Text with
    NUL in the path or query is refused here too (PostgreSQL could not even compare it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"").lower():
            for message in problem_message(422, "invalid_text", "The URL may not contain NUL (%00).",
                                           field="path", title="Invalid request"):
                await send(message)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except BodyTooLarge:
            raise
        except Exception as exc:
            answer = answer_for(exc)
            if started:  # the answer is half sent: nothing sensible can follow it
                log.exception("error after the response started", exc_info=exc)
                return
            for message in answer:
                await send(message)


def answer_for(exc: Exception) -> tuple[Message, Message]:
    if is_unavailable(exc):
        log.warning("database unavailable: %s", _one_line(exc))
        return problem_message(503, "database_unavailable",
                               "The database cannot be reached; nothing was changed. Try again shortly.",
                               title="Service unavailable", headers={"retry-after": str(RETRY_AFTER_SECONDS)})
    if _is_busy(exc):  # a SQLite file another writer held past the busy timeout (and the retries)
        log.warning("database busy: %s", _one_line(exc))
        return problem_message(503, "database_busy", "Another write held the database too long; nothing was "
                               "changed. Try again shortly.", title="Service unavailable",
                               headers={"retry-after": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, sa.exc.IntegrityError):
        log.info("constraint refused a write: %s", _one_line(exc))
        return problem_message(409, "conflict", "A concurrent change got there first; nothing was changed. "
                               "Read the resource again and retry if it still applies.", title="Conflict")
    if isinstance(exc, sa.exc.DataError):
        log.info("value refused by the database: %s", _one_line(exc))
        return problem_message(422, "invalid_value", "A value is out of the range the hub can store; nothing "
                               "was changed.", title="Invalid request")
    log.exception("unhandled error", exc_info=exc)
    return problem_message(500, "internal_error", "Something went wrong on our side; nothing was changed.",
                           title="Internal error")


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sa.exc.OperationalError) and "database is locked" in str(exc.orig or exc).lower()


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return f"{type(orig).__name__}: {str(orig).splitlines()[0] if str(orig) else ''}"[:300]
