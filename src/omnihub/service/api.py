"""Service desk routes: thin — parse, check scope, call the service or a query, return.

Who may do what: admin everything; agent keys work the inbox (list, read with the customer's 360 view and orders,
reply, assign, snooze, resolve, notes), log messages (a phone call) and read templates; channel keys post their
channel's inbound messages and raw e-mail; Meta's webhooks carry no key and are authenticated by the verify
token and the app secret's signature. Connections and templates are configured by admins."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import TypeAdapter
from sqlalchemy.engine import Connection
from starlette.concurrency import run_in_threadpool

from omnihub.core.http import read_limited_body
from omnihub.core.idempotency import Answer, earlier_answer, keep_answer, keyed_request
from omnihub.core.outbound import OutboundGuard
from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.core.security import Role
from omnihub.customers.writes import retrying
from omnihub.deps import Context, in_worker_thread, requires
from omnihub.service import channels, csat, desk_api, errors, ingest, queries, replies, rules, service, teams
from omnihub.service.kb_api import router as kb_router
from omnihub.service.schemas import (
    AssignIn,
    ConversationDetail,
    ConversationOut,
    MessageIn,
    MessageReceipt,
    MetaConnectionIn,
    MetaConnectionOut,
    NoteIn,
    ReplyIn,
    ReplyOut,
    SnoozeIn,
    Status,
    TemplateBody,
    TemplateIn,
    TemplateOut,
    WebhookReceipt,
)

router = APIRouter(tags=["service"])
# Meta's webhook, matched before every other route (`Room.first_router`): it comes in storms, and reaching it
# through the rooms' routers in order costs CPU on every request.
webhooks = APIRouter(tags=["service"])
router.include_router(kb_router)  # the knowledge base (kb_api.py)
AGENTS = (Role.AGENT,)
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
ConversationId = Path(max_length=40)
MAX_EMAIL_BYTES = 10 * 1024 * 1024  # the app's body limit (OMNIHUB_MAX_BODY_BYTES, 4 MB) usually refuses first
MAX_WEBHOOK_BYTES = 1024 * 1024
_REPLY_JSON: TypeAdapter[ReplyOut] = TypeAdapter(ReplyOut)


def _window(ctx: Context) -> timedelta:
    return timedelta(hours=ctx.settings.service_reopen_hours)


def _outlets(ctx: Context) -> replies.Outlets:
    return replies.outlets_of(ctx.settings)


async def _body(request: Request, limit: int) -> bytes:
    """The raw body, refused past `limit` bytes without reading it all."""
    return await read_limited_body(request, limit, errors.too_large)


def _receive(ctx: Context, inbound: service.Inbound) -> dict[str, Any]:
    return retrying(ctx.db, lambda conn: service.receive(
        conn, ctx.clock, inbound, reopen_window=_window(ctx), actor=ctx.principal.key_id,
        high_value_from=ctx.settings.service_high_value_from))


def _answer(receipt: dict[str, Any], response: Response) -> dict[str, Any]:
    response.status_code = 200 if receipt["duplicate"] else 201
    return receipt


# ---- inbound ----------------------------------------------------------------------------------------------------


@router.post("/messages", status_code=201, response_model=MessageReceipt,
             responses={200: {"model": MessageReceipt, "description": "A repeat: the first result."}})
def post_message(body: MessageIn, response: Response,
                 ctx: Context = Depends(requires(Role.AGENT, Role.CHANNEL))) -> dict[str, Any]:
    sales_channel = body.sales_channel or ctx.principal.channel
    if sales_channel:
        ctx.principal.ensure_channel(sales_channel, field="sales_channel")
    inbound = service.Inbound(
        channel=body.channel, identity=body.identity, text=body.text,
        attachments=[a.model_dump(exclude_none=True) for a in body.attachments], external_id=body.external_id,
        thread=body.thread, at=body.at, name=body.name,
        address=body.address or rules.address_from(body.channel, body.identity), subject=body.subject,
        sales_channel=sales_channel)
    return _answer(_receive(ctx, inbound), response)


@router.post("/connectors/email/inbound", status_code=201, response_model=MessageReceipt,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "message/rfc822": {"schema": {"type": "string", "format": "binary"}}}}})
async def email_inbound(request: Request, response: Response,
                        ctx: Context = Depends(requires(Role.CHANNEL))) -> dict[str, Any]:
    """A raw RFC 822 message, as a mail server's pipe delivers it (an admin or channel key)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "message/rfc822":
        raise errors.not_an_email()
    raw = await _body(request, MAX_EMAIL_BYTES)

    def work() -> dict[str, Any]:
        inbound = channels.parse_email(raw, ctx.settings.support_email, sales_channel=ctx.principal.channel)
        return _receive(ctx, inbound)

    return _answer(await run_in_threadpool(work), response)


# ---- Meta -------------------------------------------------------------------------------------------------------


@webhooks.get("/connectors/meta/webhooks", response_class=PlainTextResponse)
def meta_handshake(request: Request, mode: str | None = Query(None, alias="hub.mode", max_length=32),
                   token: str | None = Query(None, alias="hub.verify_token", max_length=200),
                   challenge: str = Query("", alias="hub.challenge", max_length=200)) -> PlainTextResponse:
    """Meta's verification request: the challenge back when the verify token is one of ours (no API key)."""
    state = request.app.state
    with state.db.read() as conn:
        channels.verify_handshake(conn, state.settings.secret_key, mode, token)
    return PlainTextResponse(challenge)


@webhooks.post("/connectors/meta/webhooks", response_model=WebhookReceipt)
async def meta_webhook(request: Request,
                       signature: str | None = Header(None, alias="X-Hub-Signature-256", max_length=200)
                       ) -> dict[str, str]:
    """WhatsApp Cloud API and Instagram Messaging notifications, signed with the app secret (no API key). The
    signed payload is stored as it came and answered at once; the worker threads it (service/ingest.py)."""
    raw = await _body(request, MAX_WEBHOOK_BYTES)
    state = request.app.state
    payload_id = await run_in_threadpool(ingest.accept_meta, state.db, state.clock, state.settings.secret_key, raw,
                                         signature)
    return {"id": payload_id, "status": "accepted"}


@router.put("/connectors/meta/{channel}", response_model=MetaConnectionOut)
def put_meta(body: MetaConnectionIn, response: Response, channel: str = Path(max_length=64),
             ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        out, created = channels.configure_meta(conn, ctx.clock, ctx.settings.secret_key, channel, body.model_dump(),
                                               OutboundGuard(ctx.settings.outbound_allow))
    response.status_code = 201 if created else 200
    return out


@router.get("/connectors/meta/{channel}", response_model=MetaConnectionOut)
def get_meta(channel: str = Path(max_length=64), ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return channels.get_connection(conn, channel)


# ---- conversations ----------------------------------------------------------------------------------------------


@router.get("/conversations", response_model=Page[ConversationOut])
def list_conversations(limit: int = Limit, cursor: str | None = Query(None, max_length=500),
                       customer: str | None = Query(None, max_length=40), status: Status | None = None,
                       assignee: str | None = Query(None, max_length=200,
                                                    description="An agent, `me`, or `none` (unassigned)."),
                       channel: str | None = Query(None, max_length=16),
                       priority: str | None = Query(None, max_length=16), q: str | None = Query(None, max_length=200),
                       team: str | None = Query(None, max_length=64, description="A team's code, or `none`."),
                       tag: str | None = Query(None, max_length=64),
                       breaching: Literal["soon", "breached"] | None = Query(
                           None, description="`breached`: past a due time not met; `soon`: a due time within "
                                             "`within_minutes`."),
                       within_minutes: int = Query(30, ge=1, le=1440),
                       ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    if assignee == "me":
        assignee = ctx.principal.key_id
    with ctx.db.read() as conn:
        return queries.list_conversations(conn, limit=limit, cursor=cursor, customer=customer, status=status,
                                          assignee=assignee, channel=channel, priority=priority, q=q, team=team,
                                          tag=tag, breaching=breaching, now=ctx.clock.now(),
                                          soon_minutes=within_minutes)


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
def get_conversation(conversation_id: str = ConversationId,
                     ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.conversation_detail(conn, ctx.clock, conversation_id)


@router.get("/conversations/{conversation_id}/messages/{message_id}/original",
            response_class=PlainTextResponse)
def get_original(conversation_id: str = ConversationId, message_id: str = Path(max_length=40),
                 ctx: Context = Depends(requires(*AGENTS))) -> Response:
    """An e-mail as it arrived, before trimming."""
    with ctx.db.read() as conn:
        return Response(queries.original_of(conn, conversation_id, message_id), media_type="message/rfc822")


def _detail_after(ctx: Context, conversation_id: str) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.conversation_detail(conn, ctx.clock, conversation_id)


@router.post("/conversations/{conversation_id}/assign", response_model=ConversationDetail)
def assign(body: AssignIn, conversation_id: str = ConversationId,
           ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    assignee = ctx.principal.key_id if body.assignee == "me" else body.assignee
    with ctx.db.transaction() as conn:
        if "team" in body.model_fields_set or assignee == "auto":
            team = body.team if "team" in body.model_fields_set else None
            teams.assign(conn, ctx.clock, conversation_id, team=team, assignee=assignee,
                         keep_team="team" not in body.model_fields_set, actor=ctx.principal.key_id)
        else:
            service.assign(conn, ctx.clock, conversation_id, assignee, actor=ctx.principal.key_id)
    return _detail_after(ctx, conversation_id)


@router.post("/conversations/{conversation_id}/snooze", response_model=ConversationDetail)
def snooze(body: SnoozeIn, conversation_id: str = ConversationId,
           ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        service.snooze(conn, ctx.clock, conversation_id, body.until, actor=ctx.principal.key_id)
    return _detail_after(ctx, conversation_id)


@router.post("/conversations/{conversation_id}/resolve", response_model=ConversationDetail)
def resolve(conversation_id: str = ConversationId, ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        service.resolve(conn, ctx.clock, conversation_id, actor=ctx.principal.key_id)
        if ctx.settings.service_csat:
            csat.ask(conn, ctx.clock, service.current(conn, conversation_id).id, outlets=_outlets(ctx),
                     link_base=ctx.settings.service_csat_link_base, actor=ctx.principal.key_id)
    return _detail_after(ctx, conversation_id)


@router.post("/conversations/{conversation_id}/notes", status_code=201, response_model=ConversationDetail)
def add_note(body: NoteIn, conversation_id: str = ConversationId,
             ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        service.add_note(conn, ctx.clock, conversation_id, body.text, actor=ctx.principal.key_id)
    return _detail_after(ctx, conversation_id)


@router.post("/conversations/{conversation_id}/reply", status_code=202, response_model=ReplyOut)
async def reply(body: ReplyIn, request: Request, conversation_id: str = ConversationId,
                ctx: Context = Depends(requires(*AGENTS))) -> Response:
    """Queued in this request's transaction and sent by the worker (202): a provider failure is retried. With an
    `Idempotency-Key` the answer is kept in that same transaction, so a retried request never queues twice."""
    keyed = keyed_request(request.state)

    def work(conn: Connection) -> Answer:
        now = ctx.clock.now()
        if keyed is not None and (earlier := earlier_answer(conn, keyed, now)) is not None:
            return earlier
        out = replies.reply(conn, ctx.clock, conversation_id, text=body.text, template=body.template,
                            variables=body.variables, channel=body.channel, actor=ctx.principal.key_id,
                            outlets=_outlets(ctx))
        data = _REPLY_JSON.dump_json(_REPLY_JSON.validate_python(out))
        return keep_answer(conn, keyed, now, 202, data) if keyed is not None else Answer(202, data)

    answer = await in_worker_thread(ctx.db.run, work)
    if keyed is not None:
        keyed.answered = True
    return Response(answer.body, status_code=answer.status, media_type=answer.content_type, headers=answer.headers)


# ---- templates --------------------------------------------------------------------------------------------------


@router.get("/reply-templates", response_model=Page[TemplateOut])
def list_templates(limit: int = Limit, cursor: str | None = Query(None, max_length=500),
                   ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.list_templates(conn, limit=limit, cursor=cursor)


@router.get("/reply-templates/{code}", response_model=TemplateOut)
def get_template(code: str = Path(max_length=64), ctx: Context = Depends(requires(*AGENTS))) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_template(conn, code)


@router.post("/reply-templates", status_code=201, response_model=TemplateOut)
def create_template(body: TemplateIn, ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        replies.create_template(conn, ctx.clock, body.model_dump())
        return queries.get_template(conn, body.code)


@router.put("/reply-templates/{code}", response_model=TemplateOut)
def put_template(body: TemplateBody, response: Response,
                 code: str = Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$"),
                 ctx: Context = Depends(requires())) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        created = replies.replace_template(conn, ctx.clock, code, body.model_dump())
        response.status_code = 201 if created else 200
        return queries.get_template(conn, code)


@router.delete("/reply-templates/{code}", status_code=204)
def delete_template(code: str = Path(max_length=64), ctx: Context = Depends(requires())) -> Response:
    with ctx.db.transaction() as conn:
        replies.delete_template(conn, code)
    return Response(status_code=204)



# The desk's organisation (SLA policies, teams, agents, tags, CSAT): its own module, mounted here.
router.include_router(desk_api.router)
