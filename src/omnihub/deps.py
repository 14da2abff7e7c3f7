"""FastAPI dependencies shared by every router: the database, the clock and the calling principal."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.db import Database
from omnihub.core.security import Principal, Role


@dataclass(frozen=True)
class Context:
    db: Database
    clock: Clock
    settings: Settings
    principal: Principal


async def principal(request: Request) -> Principal:
    """Async, like every dependency here: a sync one costs a thread-pool hop per request. Only a key not seen
    recently goes to the database, in the pool."""
    header = request.headers.get("authorization", "")
    raw = header[7:].strip() if header[:7].lower() == "bearer " else None
    state = request.app.state
    hit = state.authenticator.cached(raw)
    if hit is not None:
        return hit
    return await run_in_threadpool(state.authenticator.authenticate, state.db.read, raw)


async def context(request: Request, who: Principal = Depends(principal)) -> Context:
    state = request.app.state
    return Context(db=state.db, clock=state.clock, settings=state.settings, principal=who)


def requires(*roles: Role):  # type: ignore[no-untyped-def]
    """A dependency that admits admin plus the given roles."""

    async def _check(ctx: Context = Depends(context)) -> Context:
        ctx.principal.require(*roles)
        return ctx

    return _check


ANY_ROLE = tuple(Role)
