"""The service desk's inbox: queues of conversations (tabs from `rules.QUEUES`) with filters, and one conversation
with its thread across channels, the customer's 360 panel, and the agent's actions (reply with a template and a
channel, note, assign, snooze, resolve). The thread refreshes itself: the page polls a small fragment that answers
204 while nothing changed."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from omnihub.commerce import queries as commerce
from omnihub.console import queries as console_queries
from omnihub.console import rules
from omnihub.console.web import ConsoleRoute, Viewer, page, posted, problem_of, redirect, render
from omnihub.core.errors import DomainError, ValidationFailed
from omnihub.core.pagination import decode_cursor
from omnihub.customers import queries as customers
from omnihub.service import desk_queries, replies, service
from omnihub.service import queries as service_queries
from omnihub.service import rules as service_rules
from omnihub.service.schemas import NoteIn, ReplyIn

router = APIRouter(route_class=ConsoleRoute)
PAGE_SIZE = 50
TEMPLATES_OFFERED = 200
RETURNED = ("partially_returned", "returned")


# ---- the list ---------------------------------------------------------------------------------------------------


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise ValidationFailed(f"invalid_{field}", f"Choose one of: {', '.join(allowed)}.", field=field)
    return value


def _agents(conn: Any) -> list[dict[str, Any]]:
    """The people a conversation can be assigned to: the console's agents and admins (live accounts)."""
    return [u for u in console_queries.list_users(conn) if u["role"] in ("agent", "admin") and not u["disabled"]]


def _who(agents: list[dict[str, Any]]) -> dict[str, str]:
    """Assignee/author ids (`user:<id>`, as the API's principal names them) → the person's e-mail."""
    return {f"user:{u['id']}": u["email"] for u in agents}


@router.get("/inbox")
def inbox(request: Request, queue: str = "mine", channel: str = "", priority: str = "", q: str = "",
          cursor: str = "", viewer: Viewer = Depends(page("inbox"))) -> Response:
    tab = rules.queue(queue)
    filters = {"queue": tab.key, "channel": channel, "priority": priority, "q": q}
    wanted = {name: viewer.actor if value == "me" else value for name, value in tab.params}
    problem = None
    result: dict[str, Any] = {"items": [], "next_cursor": None}
    names: dict[str, str | None] = {}
    with request.app.state.db.read() as conn:
        who = _who(_agents(conn))
        if wanted.get("teams") == "mine":
            wanted["teams"] = desk_queries.teams_of(conn, viewer.actor)
        try:
            decode_cursor(cursor or None)
            result = service_queries.list_conversations(
                conn, limit=PAGE_SIZE, cursor=cursor or None, channel=_choice(channel, service_rules.CHANNELS,
                                                                              "channel"),
                priority=_choice(priority, service_rules.PRIORITIES, "priority"), q=q.strip()[:200] or None,
                now=request.app.state.clock.now(), **wanted)
            names = customers.names_of(conn, [c["customer_id"] for c in result["items"]])
        except DomainError as exc:
            problem = problem_of(exc)
    return render(request, "inbox/list.html", {
        "queues": rules.QUEUES, "tab": tab, "filters": filters, "conversations": result["items"],
        "next_cursor": result["next_cursor"], "names": names, "who": who, "problem": problem,
        "channels": service_rules.CHANNELS, "priorities": service_rules.PRIORITIES},
        status=problem["status"] if problem else 200)


# ---- one conversation -------------------------------------------------------------------------------------------


def _version(thread: dict[str, Any]) -> str:
    """Changes when a message arrives, is sent or fails, or the conversation's state moves."""
    parts = [thread["status"], thread["assignee"] or "", thread["updated_at"].isoformat()]
    parts += [f"{m['id']}:{m['status']}" for m in thread["messages"]]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _reply_channels(conn: Any, conv: dict[str, Any]) -> list[str]:
    """Where a reply can go: the sendable channels the customer wrote from, and e-mail / WhatsApp when the profile
    has an address or phone for them (the API re-checks and says why when it cannot)."""
    contacts = customers.contacts(conn, conv["customer_id"])
    have = set(conv["channels"]) | ({"email"} if contacts.get("email") else set()) | (
        {"whatsapp"} if contacts.get("sms") else set())
    return [c for c in service_rules.SENDABLE if c in have]


def _returns(conn: Any, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for order in orders:
        if order["status"] in RETURNED:
            for item in commerce.list_returns(conn, limit=20, cursor=None, order=order["id"])["items"]:
                found.append({**item, "order_number": order["number"]})
    return found


def _detail(request: Request, viewer: Viewer, conversation_id: str, *, problem: dict[str, Any] | None = None,
            done: str | None = None, form: dict[str, str] | None = None) -> Response:
    state = request.app.state
    with state.db.read() as conn:
        conv = service_queries.conversation_detail(conn, state.clock, conversation_id)
        if conv["id"] != conversation_id and problem is None:
            return redirect(f"/inbox/{quote(conv['id'])}")
        agents = _agents(conn)
        templates = service_queries.list_templates(conn, limit=TEMPLATES_OFFERED, cursor=None)["items"]
        returns = _returns(conn, conv["orders"])
        channels = _reply_channels(conn, conv)
    last_in = next((m["channel"] for m in reversed(conv["messages"]) if m["direction"] == "in"), None)
    return render(request, "inbox/thread.html", {
        "conv": conv, "c": conv["customer"], "orders": conv["orders"], "returns": returns, "agents": agents,
        "who": _who(agents), "templates": templates, "reply_channels": channels,
        "default_channel": last_in if last_in in channels else "", "version": _version(conv),
        "problem": problem, "done": done, "form": form or {}}, status=problem["status"] if problem else 200)


@router.get("/inbox/{conversation_id}")
def conversation(request: Request, conversation_id: str, done: str | None = None,
                 viewer: Viewer = Depends(page("inbox"))) -> Response:
    return _detail(request, viewer, conversation_id, done=done)


@router.get("/inbox/{conversation_id}/thread")
def thread_fragment(request: Request, conversation_id: str, v: str = "",
                    viewer: Viewer = Depends(page("inbox"))) -> Response:
    """What the page polls: 204 while nothing changed, else the thread (one indexed read, no 360 view)."""
    with request.app.state.db.read() as conn:
        thread = service_queries.thread_of(conn, conversation_id)
        who = _who(_agents(conn))
    version = _version(thread)
    if v == version:
        return Response(status_code=204)
    return render(request, "inbox/_thread.html", {"conv": thread, "who": who, "version": version})


# ---- the agent's actions ----------------------------------------------------------------------------------------


def _act(request: Request, viewer: Viewer, conversation_id: str, action: str, work: Callable[[Any], Any],
         form: dict[str, str]) -> Response:
    """One action in one transaction; a refusal re-renders the conversation with the API's problem (code and
    message) beside the form, and changes nothing."""
    viewer.require("conversation.work")
    try:
        request.app.state.db.run(work)
    except (DomainError, ValidationError) as exc:
        return _detail(request, viewer, conversation_id, problem=problem_of(exc) | {"action": action}, form=form)
    return redirect(f"/inbox/{quote(conversation_id)}?done={action}")


def _variables(form: dict[str, str]) -> dict[str, Any]:
    """The form's template variables: `order` (a number or id: which order the template speaks of) and
    `name=value` lines, where a dotted name (`order.tracking_url`) fills a field of an object."""
    variables: dict[str, Any] = {}
    for number, line in enumerate(form.get("variables", "").splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValidationFailed("invalid_variables", f"Line {number}: write name=value.", field="variables")
        head, _, tail = name.strip().partition(".")
        if tail:
            target = variables.setdefault(head, {})
            if not isinstance(target, dict):
                raise ValidationFailed("invalid_variables", f"Line {number}: '{head}' is already a value.",
                                       field="variables")
            target[tail] = value.strip()
        else:
            variables[head] = value.strip()
    if form.get("order", "").strip() and not isinstance(variables.get("order"), dict):
        variables["order"] = form["order"].strip()
    return variables


@router.post("/inbox/{conversation_id}/reply")
def reply(request: Request, conversation_id: str, form: dict[str, str] = Depends(posted("inbox")),
          viewer: Viewer = Depends(page("inbox"))) -> Response:
    state = request.app.state
    outlets = replies.outlets_of(state.settings)

    def work(conn: Any) -> Any:
        template = form.get("template", "").strip() or None
        body = ReplyIn.model_validate({
            "text": None if template else (form.get("text", "").strip() or None), "template": template,
            "variables": _variables(form) if template else {}, "channel": form.get("channel") or None})
        if not body.text and not body.template:
            raise ValidationFailed("text_or_template", "Write a reply or choose a template.", field="text")
        return replies.reply(conn, state.clock, conversation_id, text=body.text, template=body.template,
                             variables=body.variables, channel=body.channel, actor=viewer.actor, outlets=outlets)

    return _act(request, viewer, conversation_id, "reply", work, form)


@router.post("/inbox/{conversation_id}/notes")
def note(request: Request, conversation_id: str, form: dict[str, str] = Depends(posted("inbox")),
         viewer: Viewer = Depends(page("inbox"))) -> Response:
    clock = request.app.state.clock

    def work(conn: Any) -> Any:
        body = NoteIn.model_validate({"text": form.get("note", "").strip()})
        return service.add_note(conn, clock, conversation_id, body.text, actor=viewer.actor)

    return _act(request, viewer, conversation_id, "note", work, form)


@router.post("/inbox/{conversation_id}/assign")
def assign(request: Request, conversation_id: str, form: dict[str, str] = Depends(posted("inbox")),
           viewer: Viewer = Depends(page("inbox"))) -> Response:
    state = request.app.state
    chosen = form.get("assignee", "")

    def work(conn: Any) -> Any:
        if chosen == "me":
            assignee: str | None = viewer.actor
        elif not chosen:
            assignee = None
        elif chosen in _who(_agents(conn)):
            assignee = chosen
        else:
            raise ValidationFailed("invalid_assignee", "Choose an agent from the list.", field="assignee")
        return service.assign(conn, state.clock, conversation_id, assignee, actor=viewer.actor)

    return _act(request, viewer, conversation_id, "assign", work, form)


def _local_time(raw: str, timezone: str) -> datetime:
    """A `datetime-local` value, in the console's time zone."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationFailed("invalid_until", "Give a date and time like 2026-12-04 09:00.", field="until") from None
    return value.replace(tzinfo=ZoneInfo(timezone)) if value.tzinfo is None else value


@router.post("/inbox/{conversation_id}/snooze")
def snooze(request: Request, conversation_id: str, form: dict[str, str] = Depends(posted("inbox")),
           viewer: Viewer = Depends(page("inbox"))) -> Response:
    state = request.app.state

    def work(conn: Any) -> Any:
        until = _local_time(form.get("until", ""), state.settings.console_timezone)
        return service.snooze(conn, state.clock, conversation_id, until, actor=viewer.actor)

    return _act(request, viewer, conversation_id, "snooze", work, form)


@router.post("/inbox/{conversation_id}/resolve")
def resolve(request: Request, conversation_id: str, form: dict[str, str] = Depends(posted("inbox")),
            viewer: Viewer = Depends(page("inbox"))) -> Response:
    clock = request.app.state.clock
    return _act(request, viewer, conversation_id, "resolve",
                lambda conn: service.resolve(conn, clock, conversation_id, actor=viewer.actor), form)
