"""FastAPI dependencies shared by every router: the database, the clock and the calling principal."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from omnihub.config import Settings
from omnihub.core.clock import Clock
from omnihub.core.db import Database
from omnihub.core.errors import Conflict
from omnihub.core.hints import RecentKeys
from omnihub.core.security import Principal, Role


@dataclass(frozen=True)
class Context:
    db: Database
    clock: Clock
    settings: Settings
    principal: Principal
    sold_out: RecentKeys


async def principal(request: Request) -> Principal:
    """Async, like every dependency here: a sync one costs a thread-pool hop per request. Only a key not seen
    recently goes to the database, in the pool."""
    header = request.headers.get("authorization", "")
    raw = header[7:].strip() if header[:7].lower() == "bearer " else None
    state = request.app.state
    hit = state.authenticator.cached(raw)
    if hit is not None:
        return hit
    client = request.client.host if request.client else None
    return await run_in_threadpool(state.authenticator.authenticate, state.db.read, raw, client)


async def context(request: Request, who: Principal = Depends(principal)) -> Context:
    state = request.app.state
    return Context(db=state.db, clock=state.clock, settings=state.settings, principal=who, sold_out=state.sold_out)


def requires(*roles: Role):  # type: ignore[no-untyped-def]
    """A dependency that admits admin plus the given roles."""

    async def _check(ctx: Context = Depends(context)) -> Context:
        ctx.principal.require(*roles)
        return ctx

    return _check


ANY_ROLE = tuple(Role)

# The time window of every list (`?from=&to=`, docs/contract.md): from inclusive, to exclusive.
Since = Query(None, alias="from", description="At or after this time (ISO 8601; without a zone: UTC).")
Until = Query(None, alias="to", description="Before this time (ISO 8601; without a zone: UTC).")


@contextmanager
def remembering_sold_out(ctx: Context, channel: str) -> Iterator[None]:
    """Note the (channel, SKU) of an `insufficient_stock` answer, so the next attempts at it take the cheap
    look before the write transaction (see app.state.sold_out)."""
    try:
        yield
    except Conflict as exc:
        if exc.code == "insufficient_stock" and exc.data.get("sku"):
            ctx.sold_out.add((channel, exc.data["sku"]))
        raise


def recently_sold_out(ctx: Context, channel: str, skus: Iterable[str]) -> bool:
    return ctx.sold_out.any_of([(channel, sku) for sku in skus])


T = TypeVar("T")


async def in_worker_thread(work: Callable[..., T], *args: Any) -> T:
    """A hot route's blocking work, run in the thread pool from an `async def` route. FastAPI validates and
    serialises a sync route's response in the pool too — a second hop per request, which under load costs
    about what a query does; from an async route it does that on the event loop."""
    return await run_in_threadpool(work, *args)
