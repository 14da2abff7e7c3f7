"""Connector hub routes (admin only): connections with their health and push queue, dead letters and replay."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from starlette.concurrency import run_in_threadpool

from omnihub.connectors.hub import queries, service
from omnihub.connectors.hub.schemas import ConnectionHealthOut, Connector, DeadLetterOut, PushOut
from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.deps import Context, requires

router = APIRouter(tags=["connectors"])
LetterId = Path(max_length=40)


@router.get("/connectors", response_model=list[ConnectionHealthOut])
def list_connections(ctx: Context = Depends(requires())) -> list[dict[str, Any]]:
    """Every shop connection with its health: last success, last error, push lag, what is stuck."""
    with ctx.db.read() as conn:
        return queries.connections(conn, ctx.clock)


@router.get("/connectors/{connector}/{channel}/pushes", response_model=list[PushOut])
def list_pushes(connector: Connector, channel: str = Path(max_length=64),
                ctx: Context = Depends(requires())) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return queries.pushes(conn, connector, channel)


@router.get("/connectors/dead-letters", response_model=Page[DeadLetterOut])
def list_dead_letters(connector: Connector | None = None, channel: str | None = Query(None, max_length=64),
                      status: str | None = Query(None, pattern="^(open|replayed)$"),
                      limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
                      cursor: str | None = Query(None, max_length=500),
                      ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.dead_letters(conn, connector=connector, channel=channel, status=status, limit=limit,
                                    cursor=cursor)


@router.get("/connectors/dead-letters/{letter_id}", response_model=DeadLetterOut)
def get_dead_letter(letter_id: str = LetterId, ctx: Context = Depends(requires())) -> dict[str, Any]:
    """The payload as it came and why it could not be mapped."""
    with ctx.db.read() as conn:
        return queries.dead_letter(conn, letter_id)


@router.post("/connectors/dead-letters/{letter_id}/replay", response_model=DeadLetterOut)
async def replay_dead_letter(letter_id: str = LetterId, ctx: Context = Depends(requires())) -> dict[str, Any]:
    """Apply it again, after the mapping was fixed. Idempotent: replayed once, it answers with that result."""
    return await run_in_threadpool(service.replay, ctx.db, ctx.clock, ctx.settings.secret_key, letter_id)
