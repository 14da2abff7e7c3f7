"""The customer's satisfaction page: the link in the CSAT question (`OMNIHUB_SERVICE_CSAT_LINK_BASE` pointing at
`https://<hub>/csat/`) opens a small page in Spanish or English where the customer picks 1-5, may add a comment
and sends it once. No login: the survey's unguessable token is the only credential, and it answers once (the
service room refuses a second answer)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from omnihub.console.rules import LOCALES
from omnihub.console.web import ConsoleRoute, render
from omnihub.core.errors import Conflict
from omnihub.service import csat, desk_queries

router = APIRouter(route_class=ConsoleRoute)
Token = Path(pattern=r"^[0-9a-f]{32}$")
MAX_COMMENT = 2000  # the API's limit (service.desk_schemas.CsatIn)
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}  # the token is in the URL


def _locale(lang: str | None) -> str | None:
    return lang if lang in LOCALES else None


def _page(request: Request, token: str, lang: str | None, *, status: int = 200, **context: object) -> Response:
    with request.app.state.db.read() as conn:
        survey = desk_queries.survey(conn, token)
    return render(request, "csat/answer.html", {"token": token, "survey": survey, "lang": _locale(lang),
                                                **context}, status=status, locale=_locale(lang), headers=NO_STORE)


@router.get("/csat/{token}")
def csat_page(request: Request, token: str = Token, lang: str | None = None) -> Response:
    return _page(request, token, lang)


@router.post("/csat/{token}")
async def csat_answer(request: Request, token: str = Token, lang: str | None = None) -> Response:
    form = await request.form()
    raw_score, comment = str(form.get("score") or ""), str(form.get("comment") or "").strip()
    score = int(raw_score) if raw_score in ("1", "2", "3", "4", "5") else None
    if score is None or len(comment) > MAX_COMMENT:
        return _page(request, token, lang, status=422, error="score" if score is None else "comment",
                     comment=comment[:MAX_COMMENT])
    state = request.app.state
    try:
        with state.db.transaction() as conn:
            csat.answer(conn, state.clock, token, score, comment or None, via="link")
    except Conflict:  # answered already (the link is single-use): the page says so
        return _page(request, token, lang, status=409)
    return _page(request, token, lang, thanks=True)
