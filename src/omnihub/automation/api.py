"""`/automations` (marketers and admins): rules, their runs, run log (with skip reasons), messages and results.
`/automation/u|o|c/{token}`: the public links inside messages (unsubscribe, open pixel, tracked links)."""

from __future__ import annotations

import base64
from html import escape
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from omnihub.automation import audiences, queries, ranking, recommendations, rulebook, segments, stock, tracking
from omnihub.automation.schemas import (
    AudienceOut,
    AutomationIn,
    AutomationOut,
    AutomationPatch,
    BackInStockIn,
    BackInStockOut,
    ExportIn,
    ExportOut,
    ExportSummaryOut,
    LogEntryOut,
    MemberOut,
    MessageOut,
    ResultsOut,
    RunOut,
    SegmentIn,
    SegmentOut,
    SegmentPreviewOut,
    SuggestionOut,
)
from omnihub.core.errors import ValidationFailed
from omnihub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT
from omnihub.core.schemas import Page
from omnihub.core.security import Role
from omnihub.deps import Context, context, requires

router = APIRouter(tags=["automation"])
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
MARKETING = requires(Role.MARKETER)
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@router.post("/automations", status_code=201, response_model=AutomationOut)
def create_automation(body: AutomationIn, ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return rulebook.create_rule(conn, ctx.clock, body.model_dump())


@router.get("/automations", response_model=Page[AutomationOut])
def list_automations(limit: int = Limit, cursor: str | None = None, active: bool | None = None,
                     ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.list_rules(conn, limit=limit, cursor=cursor, active=active)


@router.get("/automations/{rule_id}", response_model=AutomationOut)
def get_automation(rule_id: str, ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.get_rule(conn, rule_id)


@router.patch("/automations/{rule_id}", response_model=AutomationOut)
def update_automation(rule_id: str, body: AutomationPatch, ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    with ctx.db.transaction() as conn:
        return rulebook.update_rule(conn, ctx.clock, rule_id, body.model_dump(exclude_unset=True))


@router.delete("/automations/{rule_id}", status_code=204)
def delete_automation(rule_id: str, ctx: Context = Depends(MARKETING)) -> Response:
    with ctx.db.transaction() as conn:
        rulebook.delete_rule(conn, ctx.clock, rule_id)
    return Response(status_code=204)


@router.get("/automations/{rule_id}/log", response_model=Page[LogEntryOut])
def automation_log(rule_id: str, limit: int = Limit, cursor: str | None = None, customer: str | None = None,
                   outcome: str | None = Query(None, pattern="^(started|sent|skipped|deferred|done|stopped|failed|"
                                               "waiting)$"),
                   ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    """What every run did, newest first — a skipped send says why (no consent, support hold, frequency cap…)."""
    with ctx.db.read() as conn:
        return queries.run_log(conn, rule_id, limit=limit, cursor=cursor, customer_id=customer, outcome=outcome)


@router.get("/automations/{rule_id}/runs", response_model=Page[RunOut])
def automation_runs(rule_id: str, limit: int = Limit, cursor: str | None = None,
                    ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.runs_of(conn, rule_id, limit=limit, cursor=cursor)


@router.get("/automations/{rule_id}/messages", response_model=Page[MessageOut])
def automation_messages(rule_id: str, limit: int = Limit, cursor: str | None = None,
                        ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queries.messages_of(conn, rule_id, limit=limit, cursor=cursor)


@router.get("/automations/{rule_id}/results", response_model=ResultsOut)
def automation_results(rule_id: str, ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    """Sent, opened (pixel), clicked (tracked links), converted (last touch or its coupon) and revenue."""
    with ctx.db.read() as conn:
        return queries.results(conn, rule_id)


# ---- public links in messages (the token is the key) -------------------------------------------------------------


@router.get("/automation/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    """A page with one button: reading the link (mail scanners do) changes nothing; the POST unsubscribes."""
    with request.app.state.db.read() as conn:
        queries.message_by_token(conn, token)
    safe = escape(token, quote=True)
    return HTMLResponse(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head><body>"
        f"<form method=\"post\" action=\"{safe}\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
        "value=\"One-Click\"><button type=\"submit\">Unsubscribe / Darse de baja</button></form></body></html>")


@router.post("/automation/u/{token}")
def unsubscribe(token: str, request: Request) -> HTMLResponse:
    """RFC 8058 one-click: the mail client POSTs `List-Unsubscribe=One-Click`; the consent is withdrawn."""
    state = request.app.state
    with state.db.transaction() as conn:
        done = tracking.unsubscribe(conn, state.clock, token)
    return HTMLResponse(f"<!doctype html><html lang=\"en\"><body><p>Unsubscribed ({escape(done['purpose'])}).</p>"
                        "</body></html>")


@router.get("/automation/o/{token}.gif")
def open_pixel(token: str, request: Request) -> Response:
    state = request.app.state
    with state.db.transaction() as conn:
        tracking.opened(conn, state.clock, token)
    return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})


@router.get("/automation/c/{token}/{index}")
def click(token: str, index: int, request: Request) -> RedirectResponse:
    state = request.app.state
    with state.db.transaction() as conn:
        target = tracking.clicked(conn, state.clock, token, index)
    return RedirectResponse(target, status_code=302)


# ---- ad audiences -------------------------------------------------------------------------------------------------

AudienceName = Path(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")


@router.get("/audiences", response_model=list[AudienceOut])
def list_audiences(ctx: Context = Depends(MARKETING)) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return audiences.list_audiences(conn)


@router.post("/audiences/{name}/exports", status_code=201, response_model=ExportOut)
def export_audience(body: ExportIn, name: str = AudienceName, ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    """Hashed identifiers of the members who consented to `ads_audiences`, in full or as adds and removes since the
    last export in that format."""
    with ctx.db.transaction() as conn:
        return audiences.export(conn, ctx.clock, name, body.format, body.mode)


@router.get("/audiences/{name}/exports", response_model=list[ExportSummaryOut])
def audience_exports(name: str = AudienceName, ctx: Context = Depends(MARKETING)) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return audiences.history(conn, name)


@router.get("/audiences/{name}/exports/{export_id}/{part}.csv")
def audience_export_file(name: str = AudienceName, export_id: str = Path(max_length=40),
                         part: str = Path(pattern="^(adds|removes)$"), ctx: Context = Depends(MARKETING)) -> Response:
    """A past export again, as the file the ad platform takes (its adds or its removes, hashed)."""
    with ctx.db.read() as conn:
        body = audiences.export_file(conn, name, export_id, part)
    return Response(body, media_type="text/csv", headers={
        "Content-Disposition": f"attachment; filename=\"{name}-{export_id}-{part}.csv\"", "Cache-Control": "no-store"})


# ---- recommendations ----------------------------------------------------------------------------------------------

Count = Query(10, ge=1, le=50)


def _channel_of(ctx: Context, channel: str | None) -> str:
    chosen = channel or ctx.principal.channel
    if chosen is None:
        raise ValidationFailed("channel_required", "Say which channel: ?channel=CODE.", field="channel")
    ctx.principal.ensure_channel(chosen)
    return chosen


@router.get("/products/{sku}/related", response_model=list[SuggestionOut])
def related_products(sku: str, channel: str | None = Query(None, max_length=64), limit: int = Count,
                     ctx: Context = Depends(context)) -> list[dict[str, Any]]:
    """Bought together with this product (item-to-item co-purchase), available now in the channel."""
    chosen = _channel_of(ctx, channel)
    with ctx.db.read() as conn:
        return recommendations.related(conn, sku, chosen, limit)


@router.get("/customers/{customer_id}/recommendations", response_model=list[SuggestionOut])
def customer_recommendations(customer_id: str, channel: str | None = Query(None, max_length=64), limit: int = Count,
                             include_owned: bool = Query(ranking.INCLUDE_OWNED, description=(
                                 "Offer again what the person bought before (marked buy_again); false leaves it out")),
                             ctx: Context = Depends(requires(Role.MARKETER, Role.AGENT, Role.ASSOCIATE, Role.CHANNEL))
                             ) -> list[dict[str, Any]]:
    """What to offer this person: co-purchases of what they bought, their interests, what they buy again, best
    sellers — only what is available in the channel."""
    chosen = _channel_of(ctx, channel)
    with ctx.db.read() as conn:
        return recommendations.for_customer(conn, ctx.clock, customer_id, chosen, limit, include_owned)


# ---- NPS survey (the link in the survey message; the token is the key) -------------------------------------------


@router.get("/automation/nps/{token}", response_class=HTMLResponse)
def nps_page(token: str, request: Request) -> HTMLResponse:
    with request.app.state.db.read() as conn:
        queries.message_by_token(conn, token)
    safe = escape(token, quote=True)
    choices = "".join(f"<label><input type=\"radio\" name=\"score\" value=\"{n}\" required> {n}</label> "
                      for n in range(11))
    return HTMLResponse(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>How did we do?</title></head><body>"
        f"<form method=\"post\" action=\"{safe}\"><fieldset><legend>How likely are you to recommend us to a friend? "
        f"(0-10)</legend>{choices}</fieldset><button type=\"submit\">Send</button></form></body></html>")


@router.post("/automation/nps/{token}")
async def nps_answer(token: str, request: Request) -> Any:
    """The answer, by the page's form (`score=9`) or as JSON (`{"score": 9}`)."""
    raw = (await request.body())[:1000]
    score: Any = None
    if request.headers.get("content-type", "").startswith("application/json"):
        import json

        try:
            score = json.loads(raw or b"{}").get("score")
        except (ValueError, AttributeError):
            score = None
    else:
        from urllib.parse import parse_qs

        score = (parse_qs(raw.decode("utf-8", "replace")).get("score") or [None])[0]
    try:
        value = int(score)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValidationFailed("invalid_score", "The score is a whole number from 0 to 10.", field="score") from None
    state = request.app.state
    with state.db.transaction() as conn:
        answer = tracking.answer_nps(conn, state.clock, token, value)
    if request.headers.get("content-type", "").startswith("application/json"):
        return answer
    return HTMLResponse("<!doctype html><html lang=\"en\"><body><p>Thank you!</p></body></html>")


# ---- segments -----------------------------------------------------------------------------------------------------


@router.post("/segments", status_code=201, response_model=SegmentOut)
def create_segment(body: SegmentIn, ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    """Computed at once: the answer has the member count."""
    with ctx.db.transaction() as conn:
        return segments.create_segment(conn, ctx.clock, body.model_dump())


@router.get("/segments", response_model=list[SegmentOut])
def list_segments(ctx: Context = Depends(MARKETING)) -> list[dict[str, Any]]:
    with ctx.db.read() as conn:
        return segments.list_segments(conn)


@router.post("/segments/preview", response_model=SegmentPreviewOut)
def preview_segment(body: SegmentIn, ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    """The live count of a rule being written: how many people match now (nothing is stored or announced)."""
    with ctx.db.read() as conn:
        return segments.preview(conn, ctx.clock, body.model_dump())


@router.get("/segments/{segment_id}", response_model=SegmentOut)
def get_segment(segment_id: str, ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return segments.get_segment(conn, segment_id)


@router.post("/segments/{segment_id}/recompute", response_model=SegmentOut)
def recompute_segment(segment_id: str, ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    """The live count: members recomputed now (entered/left announced)."""
    with ctx.db.transaction() as conn:
        segments.get_segment(conn, segment_id)
        segments.recompute(conn, ctx.clock, segment_id)
        return segments.get_segment(conn, segment_id)


@router.get("/segments/{segment_id}/members", response_model=Page[MemberOut])
def segment_members(segment_id: str, limit: int = Limit, cursor: str | None = None,
                    ctx: Context = Depends(MARKETING)) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return segments.members(conn, segment_id, limit=limit, cursor=cursor)


@router.delete("/segments/{segment_id}", status_code=204)
def delete_segment(segment_id: str, ctx: Context = Depends(MARKETING)) -> Response:
    with ctx.db.transaction() as conn:
        segments.delete_segment(conn, segment_id)
    return Response(status_code=204)


# ---- back in stock ------------------------------------------------------------------------------------------------


@router.post("/products/{sku}/back-in-stock", status_code=201, response_model=BackInStockOut)
def back_in_stock(body: BackInStockIn, response: Response, sku: str = Path(max_length=64),
                  ctx: Context = Depends(requires(Role.MARKETER, Role.AGENT, Role.ASSOCIATE, Role.CHANNEL))
                  ) -> dict[str, Any]:
    """A customer asks to hear when the SKU is available again in a channel (consent for `notify_by` needed). Asked
    again while open, the same subscription answers (200). It fires once: `stock.back`, then it is spent."""
    chosen = _channel_of(ctx, body.channel)
    with ctx.db.transaction() as conn:
        found, created = stock.subscribe(conn, ctx.clock, sku, chosen, customer_id=body.customer_id,
                                         identity=body.identity.model_dump(exclude_none=True) if body.identity
                                         else None, notify_by=body.notify_by)
    if not created:
        response.status_code = 200
    return found
