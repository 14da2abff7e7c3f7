"""Customer routes: thin — parse, check scope, call the service or a query, return."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from pydantic import Field, TypeAdapter, ValidationError

from omnihub.core.clock import as_utc
from omnihub.core.errors import DomainError
from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page, refuse_nul
from omnihub.core.security import Role
from omnihub.customers import activity, errors, merging, privacy, queries, resolution, rules, writes
from omnihub.customers.schemas import (
    BlockIn,
    BlockOut,
    ConsentIn,
    ConsentOut,
    CustomerCreate,
    CustomerOut,
    CustomerSummaryOut,
    ErasureOut,
    EventIn,
    IngestOut,
    MergeIn,
    MergeOut,
    Purpose,
    SuggestionOut,
    TimelineItem,
)
from omnihub.deps import Context, Since, Until, requires

router = APIRouter(tags=["customers"])
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
TagPath = Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
READERS = (Role.AGENT, Role.MARKETER, Role.ASSOCIATE)

_batch = TypeAdapter(Annotated[list[EventIn], Field(max_length=activity.MAX_BATCH)])
# Inlined: the route reads its body itself, so FastAPI would not put EventIn among the components a `$ref`
# could point at (generated clients broke on the dangling reference).
_EVENT_SCHEMA = EventIn.model_json_schema()


def _parse_batch(raw: bytes) -> list[dict[str, Any]]:
    """Validate the whole batch before anything is stored; the first bad item is named by its index."""
    try:
        events = _batch.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "too_long" and not first["loc"]:
            raise errors.batch_too_large(int(first["ctx"].get("actual_length", 0)), activity.MAX_BATCH) from None
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise errors.invalid_event(where, f"{where}: {first['msg']}") from None
    except DomainError as exc:
        if exc.code == "invalid_text":  # found inside one event: look again over the batch, to name which
            refuse_nul(json.loads(raw))
        raise
    return [e.model_dump() for e in events]


@router.post("/events", response_model=IngestOut, openapi_extra={"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "array", "maxItems": activity.MAX_BATCH,
                                    "items": _EVENT_SCHEMA}}}}})
async def ingest_events(request: Request, ctx: Context = Depends(requires(Role.CHANNEL))) -> dict[str, Any]:
    raw = await request.body()

    def work() -> dict[str, Any]:
        events = _parse_batch(raw)
        for index, event in enumerate(events):
            ctx.principal.ensure_channel(event["channel"], field=f"{index}.channel")
        return writes.retrying(ctx.db, lambda conn: activity.ingest_events(
            conn, ctx.clock, events, actor=ctx.principal.key_id))

    return await run_in_threadpool(work)


@router.post("/customers", status_code=201, response_model=CustomerOut)
def create_customer(body: CustomerCreate, response: Response,
                    ctx: Context = Depends(requires(Role.CHANNEL))) -> dict[str, Any]:
    channel = body.channel or ctx.principal.channel
    if channel:
        ctx.principal.ensure_channel(channel)
    identities = ([i.model_dump(exclude_none=True) for i in body.identities] if isinstance(body.identities, list)
                  else body.identities.model_dump(exclude_none=True, exclude_defaults=False))

    def work(conn: Any) -> tuple[dict[str, Any], bool]:
        cid, created = resolution.create_customer(conn, ctx.clock, name=body.name, identities=identities,
                                                  channel=channel, actor=ctx.principal.key_id)
        return queries.customer_view(conn, ctx.clock, cid), created

    view, created = writes.retrying(ctx.db, work)
    response.status_code = 201 if created else 200
    return view


@router.get("/customers/lookup", response_model=CustomerOut)
def lookup_customer(email: str | None = None, phone: str | None = None, handle: str | None = None,
                    loyalty: str | None = None, network: str | None = None, channel: str | None = None,
                    ctx: Context = Depends(requires(Role.CHANNEL, *READERS))) -> dict[str, Any]:
    given = {k: v for k, v in (("email", email), ("phone", phone), ("handle", handle), ("loyalty", loyalty)) if v}
    if len(given) != 1:
        raise errors.lookup_needs_one()
    channel = channel or ctx.principal.channel
    if channel:
        ctx.principal.ensure_channel(channel)
    (kind, value), = given.items()
    with ctx.db.read() as conn:
        cid = queries.lookup(conn, {"kind": kind, "value": value, "network": network}, channel=channel)
        return queries.customer_view(conn, ctx.clock, cid)


@router.get("/customers", response_model=Page[CustomerSummaryOut])
def list_customers(q: str | None = Query(None, min_length=1, max_length=320,
                                         description="Any identifier (e-mail, phone, handle, loyalty, external id), "
                                                     "the profile id or part of the name."),
                   tag: str | None = Query(None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$"),
                   created_from: datetime | None = Since, created_to: datetime | None = Until,
                   limit: int = Limit, cursor: str | None = None,
                   ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    """Profiles newest first; merged-away profiles are found through their survivor."""
    with ctx.db.read() as conn:
        return queries.list_customers(conn, limit=limit, cursor=cursor, q=q, tag=tag, created_from=created_from,
                                      created_to=created_to)


@router.get("/customers/merge-suggestions", response_model=Page[SuggestionOut])
def list_suggestions(status: str | None = Query(None, pattern="^(open|accepted|rejected)$"),
                     customer: str | None = None, limit: int = Limit, cursor: str | None = None,
                     ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.list_suggestions(conn, status=status, customer=customer, limit=limit, cursor=cursor)


@router.post("/customers/merge-suggestions/{suggestion_id}/accept")
def accept_suggestion(suggestion_id: str, ctx: Context = Depends(requires())) -> dict[str, Any]:
    return writes.retrying(ctx.db, lambda conn: merging.accept_suggestion(
        conn, ctx.clock, suggestion_id, actor=ctx.principal.key_id))


@router.post("/customers/merge-suggestions/{suggestion_id}/reject", status_code=204)
def reject_suggestion(suggestion_id: str, ctx: Context = Depends(requires())) -> Response:
    with ctx.db.transaction() as conn:
        merging.reject_suggestion(conn, ctx.clock, suggestion_id, actor=ctx.principal.key_id)
    return Response(status_code=204)


@router.get("/customers/merges/{merge_id}", response_model=MergeOut)
def get_merge(merge_id: str, ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_merge(conn, merge_id)


@router.post("/customers/merges/{merge_id}/undo")
def undo_merge(merge_id: str, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return merging.undo_merge(conn, ctx.clock, merge_id, actor=ctx.principal.key_id)


@router.get("/customers/blocklist", response_model=Page[BlockOut])
def list_blocks(limit: int = Limit, cursor: str | None = None, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.list_blocks(conn, limit=limit, cursor=cursor)


@router.post("/customers/blocklist", status_code=201, response_model=BlockOut)
def add_block(body: BlockIn, ctx: Context = Depends(requires())) -> dict[str, Any]:
    raw = body.model_dump(include={"kind", "value", "network", "system"})
    with ctx.db.transaction() as conn:
        return privacy.add_block(conn, ctx.clock, raw, channel=body.channel, note=body.note)


@router.get("/customers/{customer_id}", response_model=CustomerOut)
def get_customer(customer_id: str, ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.customer_view(conn, ctx.clock, customer_id)


@router.get("/customers/{customer_id}/timeline", response_model=Page[TimelineItem])
def get_timeline(customer_id: str, type: str | None = None, channel: str | None = None,
                 limit: int = Limit, cursor: str | None = None,
                 ctx: Context = Depends(requires(*READERS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.timeline(conn, customer_id, limit=limit, cursor=cursor, type_=type, channel=channel)


@router.get("/customers/{customer_id}/export")
def export_customer(customer_id: str, ctx: Context = Depends(requires())) -> Any:
    with ctx.db.read() as conn:
        data = queries.export(conn, ctx.clock, customer_id)
    return _jsonable(data)


def _jsonable(data: Any) -> Any:
    """Money stays a decimal string in the export too."""
    return jsonable_encoder(data, custom_encoder={Decimal: lambda d: format(d, "f")})


@router.delete("/customers/{customer_id}", response_model=ErasureOut)
def erase_customer(customer_id: str, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return privacy.erase_customer(conn, ctx.clock, customer_id, actor=ctx.principal.key_id)


@router.post("/customers/{customer_id}/merge", status_code=201, response_model=MergeOut)
def merge_customers(customer_id: str, body: MergeIn, ctx: Context = Depends(requires())) -> dict[str, Any]:
    return writes.retrying(ctx.db, lambda conn: merging.merge_customers(
        conn, ctx.clock, customer_id, body.other, actor=ctx.principal.key_id))


@router.put("/customers/{customer_id}/consents/{purpose}", response_model=dict[str, ConsentOut],
            response_model_exclude_unset=True)
def put_consent(customer_id: str, purpose: Purpose, body: ConsentIn,
                ctx: Context = Depends(requires(Role.CHANNEL))) -> dict[str, Any]:
    channel = body.channel or ctx.principal.channel
    if channel:
        ctx.principal.ensure_channel(channel)
    with ctx.db.transaction() as conn:
        cid = privacy.record_consent(conn, ctx.clock, customer_id, purpose, granted=body.granted, channel=channel,
                                     at=body.at, proof=body.proof,
                                     max_ahead_seconds=ctx.settings.consent_clock_skew_seconds)
        current = queries.customer_consents_of(conn, cid)
    notice = rules.consent_notice(body.granted, as_utc(body.at) if body.at else ctx.clock.now(), current.get(purpose))
    if notice:  # a later-dated choice stands: never ignore a choice without saying so
        current[purpose] = {**current[purpose], "notice": notice}
    return current


@router.put("/customers/{customer_id}/tags/{tag}", status_code=204)
def put_tag(customer_id: str, tag: str = TagPath, ctx: Context = Depends(requires())) -> Response:
    with ctx.db.transaction() as conn:
        activity.set_tag(conn, ctx.clock, customer_id, tag)
    return Response(status_code=204)


@router.delete("/customers/{customer_id}/tags/{tag}", status_code=204)
def delete_tag(customer_id: str, tag: str = TagPath, ctx: Context = Depends(requires())) -> Response:
    with ctx.db.transaction() as conn:
        activity.remove_tag(conn, ctx.clock, customer_id, tag)
    return Response(status_code=204)
