"""Runs: the event handler that starts them (one per rule, subject and trigger — a redelivered event starts
nothing), and the job that moves them through their steps by the injected clock, stopping when the goal happened.
Every send passes the guards first (consent, support hold, address, frequency cap, quiet hours); a skipped send is
logged with its reason."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from omnihub.automation import attribution, facts, queries, rules
from omnihub.automation.models import (
    automation_audience_members,
    automation_coupons,
    automation_log,
    automation_messages,
    automation_runs,
)
from omnihub.catalog import queries as catalog_queries
from omnihub.commerce import queries as commerce_queries
from omnihub.config import Settings
from omnihub.core.clock import Clock, as_utc
from omnihub.core.db import new_id
from omnihub.core.durations import parse_duration
from omnihub.core.errors import DomainError
from omnihub.core.events import Event
from omnihub.customers import activity as customer_activity
from omnihub.customers import queries as customers_queries
from omnihub.customers.privacy import can_contact
from omnihub.promotions import service as promotions_service

RUN, MSG = automation_runs.c, automation_messages.c
BATCH = 200


def insert_ignore(conn: Connection, table: sa.Table) -> Any:
    return (postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
            ).on_conflict_do_nothing()


def log(conn: Connection, clock: Clock, run: dict[str, Any], action: str, outcome: str, reason: str | None = None,
        *, step: int | None = None, detail: dict[str, Any] | None = None) -> None:
    conn.execute(automation_log.insert(), dict(rule_id=run["rule_id"], run_id=run["id"], customer_id=run["customer_id"],
                                               step=step, action=action, outcome=outcome,
                                               reason=reason[:300] if reason else None, detail=detail, at=clock.now()))


# ---- starting runs ------------------------------------------------------------------------------------------------


def _subject(conn: Connection, event: Event) -> tuple[str | None, str | None, str]:
    """(subject, customer, trigger key) of an event."""
    data = event.data
    if event.type == "cart.abandoned":
        return data["id"], data.get("customer_id"), f"{data['id']}@{data.get('idle_since', '')}"
    customer = data.get("customer_id")
    if customer is None and event.type.startswith("order.") and data.get("id"):
        try:
            customer = commerce_queries.get_order(conn, data["id"], show_pickup_code=False).get("customer_id")
        except DomainError:
            customer = None
    return customer, customer, event.id


def start_run(conn: Connection, clock: Clock, rule: dict[str, Any], event: Event) -> int:
    subject, customer, key = _subject(conn, event)
    if subject is None:
        return 0
    cart = event.data if event.type == "cart.abandoned" else None
    known = facts.facts(conn, clock, customer, event.data, cart)
    ok, _why = rules.matches(rule["conditions"], known)
    if not ok:
        return 0
    now = clock.now()
    run = {"id": new_id("run"), "rule_id": rule["id"], "subject": subject, "trigger_key": key[:120],
           "customer_id": known["customer"].get("id") or customer, "status": "waiting", "step": 0, "due_at": now,
           "context": {"event": event.type, "event_id": event.id, "data": event.data}, "created_at": now,
           "updated_at": now}
    inserted = conn.execute(insert_ignore(conn, automation_runs).values(**run)).rowcount
    if inserted:
        log(conn, clock, run, "trigger", "started", f"{event.type} {event.id}")
    return inserted


# ---- moving runs --------------------------------------------------------------------------------------------------


def advance(conn: Connection, clock: Clock, settings: Settings, limit: int = BATCH) -> int:
    """Worker job: every waiting run whose time came goes on until its next wait, its end or a stop."""
    now = clock.now()
    query = (sa.select(automation_runs).where(RUN.status == "waiting", RUN.due_at <= now)
             .order_by(RUN.due_at, RUN.id).limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = [dict(r._mapping) for r in conn.execute(query)]
    rules_cache: dict[str, dict[str, Any] | None] = {}
    for run in rows:
        if run["rule_id"] not in rules_cache:
            try:
                rules_cache[run["rule_id"]] = queries.get_rule(conn, run["rule_id"])
            except DomainError:
                rules_cache[run["rule_id"]] = None
        _advance_one(conn, clock, settings, run, rules_cache[run["rule_id"]])
    return len(rows)


def _finish(conn: Connection, clock: Clock, run: dict[str, Any], status: str, reason: str | None = None, **values: Any
            ) -> None:
    conn.execute(automation_runs.update().where(RUN.id == run["id"]).values(
        status=status, reason=reason, updated_at=clock.now(), context=run["context"], **values))
    log(conn, clock, run, "run", status, reason)


def _goal_reached(conn: Connection, run: dict[str, Any]) -> str | None:
    """A cart run stops once the cart is bought (or touched again: a new idle period makes a new run)."""
    if run["context"].get("event") != "cart.abandoned":
        return None
    try:
        cart = commerce_queries.cart_row(conn, run["subject"])
    except DomainError:
        return "the cart is gone"
    if cart["status"] != "open":
        return f"goal reached: the cart was {'bought' if cart['status'] == 'checked_out' else cart['status']}"
    idle_since = run["context"]["data"].get("idle_since")
    if idle_since and as_utc(cart["updated_at"]).isoformat() != idle_since:
        return "the customer came back to the cart"
    return None


def _advance_one(conn: Connection, clock: Clock, settings: Settings, run: dict[str, Any],
                 rule: dict[str, Any] | None) -> None:
    if rule is None or not rule["active"]:
        _finish(conn, clock, run, "stopped", "the rule was switched off or deleted")
        return
    steps = rule["steps"]
    step = run["step"]
    while step < len(steps):
        goal = _goal_reached(conn, run)
        if goal:
            _finish(conn, clock, run, "stopped", goal, step=step)
            return
        current = steps[step]
        if "wait" in current:
            due = clock.now() + timedelta(seconds=parse_duration(current["wait"]))
            conn.execute(automation_runs.update().where(RUN.id == run["id"]).values(
                step=step + 1, due_at=due, updated_at=clock.now(), context=run["context"]))
            log(conn, clock, run, "wait", "waiting", f"until {due.isoformat()}", step=step)
            return
        try:
            deferred = ACTIONS[current["action"]](conn, clock, settings, rule, run, current, step)
        except DomainError as exc:
            log(conn, clock, run, current["action"], "failed", f"{exc.code}: {exc.detail}", step=step)
            deferred = None
        if deferred is not None:
            conn.execute(automation_runs.update().where(RUN.id == run["id"]).values(
                step=step, due_at=deferred, updated_at=clock.now(), context=run["context"]))
            return
        step += 1
    _finish(conn, clock, run, "done", step=step, due_at=None)


# ---- actions ------------------------------------------------------------------------------------------------------


def _guard(conn: Connection, clock: Clock, settings: Settings, rule: dict[str, Any], run: dict[str, Any],
           step: dict[str, Any], channel: str) -> tuple[str | None, datetime | None, str | None]:
    """(skip reason, defer until, address): the checks every send passes, in order."""
    cid = run["customer_id"]
    if not cid or customers_queries.resolve_id(conn, cid) is None:
        return "no identified customer", None, None
    purpose = rules.PURPOSE[channel]
    transactional = bool(step.get("transactional"))
    if not transactional and not can_contact(conn, cid, purpose):
        consent = customers_queries.customer_consents_of(conn, customers_queries.resolve_id(conn, cid) or cid
                                                         ).get(purpose)
        if consent and (consent.get("proof") or {}).get("source") == "unsubscribe":
            return f"unsubscribed from {purpose}", None, None
        return f"no {purpose} consent", None, None
    from omnihub.service.queries import on_support_hold

    if not transactional and on_support_hold(conn, cid):
        return "support_hold: the customer has an open complaint with the service desk", None, None
    address = customers_queries.contacts(conn, cid).get("email" if channel == "email" else "sms")
    if not address:
        return f"no {'e-mail address' if channel == 'email' else 'phone number'} on the profile", None, None
    options = rule["options"]
    cap = rules.frequency_cap(options)
    if cap and not transactional:
        since = clock.now() - timedelta(seconds=cap[1])
        count = conn.execute(sa.select(sa.func.count()).where(
            MSG.customer_id == run["customer_id"], MSG.purpose != "transactional", MSG.created_at >= since,
            MSG.status != "failed")).scalar() or 0
        if count >= cap[0]:
            return f"frequency_cap: {count} marketing messages in the last {cap[1] // 3600} hours", None, None
    _, zones = facts.phone_facts(customers_queries.contacts(conn, cid).get("sms"))
    zone = rules.zone_for(zones, settings.automation_timezone)
    until = rules.quiet_until(clock.now(), zone, rules.quiet_hours(options))
    if until is not None:
        return None, until, address
    return None, None, address


def _values(conn: Connection, clock: Clock, run: dict[str, Any], customer: str | None) -> dict[str, Any]:
    data = run["context"].get("data") or {}
    name = customers_queries.customer_view(conn, clock, customer).get("name") if customer else None
    values: dict[str, Any] = {"name": f" {name}" if name else "", "order": data.get("number") or data.get("id"),
                              "location": (data.get("pickup") or {}).get("location") or data.get("location")}
    if data.get("sku"):  # stock.back: the product that is available again
        values["product"] = data.get("name") or data["sku"]
    if run["context"].get("event") == "cart.abandoned":
        values["items"] = rules.cart_items(data.get("lines", []), data.get("currency"))
        values["total"] = f"{data.get('subtotal')} {data.get('currency') or ''}".strip()
    values.update(run["context"].get("coupon") or {})
    return values


def _send(conn: Connection, clock: Clock, settings: Settings, rule: dict[str, Any], run: dict[str, Any],
          step: dict[str, Any], index: int) -> datetime | None:
    channel = step["channel"]
    skip, until, address = _guard(conn, clock, settings, rule, run, step, channel)
    if skip:
        log(conn, clock, run, "send", "skipped", skip, step=index, detail={"channel": channel})
        return None
    if until is not None:
        log(conn, clock, run, "send", "deferred", f"quiet hours until {until.isoformat()}", step=index)
        return until
    token = secrets.token_urlsafe(24)
    base = settings.public_url.rstrip("/") + "/api/v1/automation"
    values = _values(conn, clock, run, run["customer_id"])
    links = []
    if step.get("url"):
        links.append(step["url"].format_map(rules._Safe(cart_id=run["subject"], **{
            k: v for k, v in values.items() if isinstance(v, str)})))
        values["link"] = f"{base}/c/{token}/0"
    if step["template"] == "nps_survey":
        values["link"] = f"{base}/nps/{token}"
    subject, text = rules.render(step["template"], values, text=step.get("text"), subject=step.get("subject"))
    html = None
    transactional = bool(step.get("transactional"))
    if channel == "email":
        if not transactional:
            text += f"\n\nUnsubscribe: {base}/u/{token}\n"
        html = ("<html><body><pre style=\"font-family:sans-serif\">" + escape(text) + "</pre>"
                + (f"<p><a href=\"{escape(values['link'])}\">{escape(values['link'])}</a></p>" if links else "")
                + (f"<p><a href=\"{base}/u/{token}\">Unsubscribe</a></p>" if not transactional else "")
                + f"<img src=\"{base}/o/{token}.gif\" width=\"1\" height=\"1\" alt=\"\"></body></html>")
    elif channel == "sms" and not transactional:
        text += f" Stop: {base}/u/{token}"
    message_id = new_id("amsg")
    conn.execute(automation_messages.insert(), dict(
        id=message_id, rule_id=rule["id"], run_id=run["id"], customer_id=run["customer_id"], channel=channel,
        purpose="transactional" if transactional else rules.PURPOSE[channel], to=address, subject=subject,
        body=text, html=html, links=links, token=token, template=step["template"], status="queued",
        attempts=0, created_at=clock.now()))
    customer_activity.add_timeline_entries(conn, clock, run["customer_id"], [{
        "type": "automation_message", "channel": None,
        "properties": {"rule_id": rule["id"], "message_id": message_id, "channel": channel,
                       "template": step["template"]}}], source="automation")
    log(conn, clock, run, "send", "sent", f"{channel} to {address}", step=index,
        detail={"message_id": message_id, "channel": channel})
    return None


def _coupon_channels(conn: Connection, wanted: Any) -> list[str]:
    if isinstance(wanted, list):
        return list(wanted)
    if wanted == "all":
        return []
    every = catalog_queries.list_channels(conn, limit=500, cursor=None)["items"]
    stores = [c["code"] for c in every if c["kind"] == "store"]
    return stores if wanted == "store" else [c["code"] for c in every if c["kind"] != "store"]


def _coupon(conn: Connection, clock: Clock, settings: Settings, rule: dict[str, Any], run: dict[str, Any],
            step: dict[str, Any], index: int) -> None:
    """A personal, single-use code with an expiry, valid where the rule says (store channels for a store offer)."""
    if run["context"].get("coupon"):
        return None  # issued before a deferral: never twice
    customer = run["customer_id"]
    if not customer:
        log(conn, clock, run, "coupon", "skipped", "no identified customer", step=index)
        return None
    code = "AU-" + secrets.token_hex(4).upper()
    ends = clock.now() + timedelta(seconds=parse_duration(step.get("valid_for", "P7D")))
    channels = _coupon_channels(conn, step.get("channels", "all"))
    categories = step.get("categories") or []
    if categories == "interests":  # a personal offer on what they care about: their top interest tags
        interests = [t for t in customers_queries.customer_view(conn, clock, customer)["tags"] if t["source"] == "auto"]
        categories = [t["tag"] for t in interests[:3]]
        if not categories:
            log(conn, clock, run, "coupon", "skipped", "no interests known for this customer", step=index)
            return None
    promotion = promotions_service.create_promotion(conn, clock, {
        "code": code, "name": f"{rule['name']} ({customer})"[:200], "kind": step["kind"],
        "value": None if step["kind"] == "free_shipping" else Decimal(str(step["value"])),
        "currency": step.get("currency"), "channels": channels, "customer_ids": [customer],
        "categories": categories, "ends_at": ends, "usage_limit": 1, "per_customer_limit": 1,
        "priority": 0, "exclusive": False, "stackable": False, "active": True})
    conn.execute(automation_coupons.insert(), dict(code=code, promotion_id=promotion["id"], rule_id=rule["id"],
                                                   run_id=run["id"], customer_id=customer, created_at=clock.now()))
    discount = f"{step['value']}%" if step["kind"] == "percent" else (
        f"{step.get('value')} {step.get('currency')}" if step["kind"] == "fixed" else "free shipping")
    run["context"]["coupon"] = {"coupon": code, "discount": discount, "expires": ends.date().isoformat(),
                                "coupon_channels": channels}
    log(conn, clock, run, "coupon", "done", f"issued {code}", step=index,
        detail={"code": code, "promotion_id": promotion["id"], "channels": channels, "ends_at": ends.isoformat()})
    return None


def _tag(conn: Connection, clock: Clock, settings: Settings, rule: dict[str, Any], run: dict[str, Any],
         step: dict[str, Any], index: int) -> None:
    if not run["customer_id"]:
        log(conn, clock, run, step["action"], "skipped", "no identified customer", step=index)
        return None
    if step["action"] == "tag":
        customer_activity.set_tag(conn, clock, run["customer_id"], step["tag"])
    elif step["tag"] in customers_queries.customer_tag_names(conn, run["customer_id"], clock.now()):
        customer_activity.remove_tag(conn, clock, run["customer_id"], step["tag"])
    log(conn, clock, run, step["action"], "done", step["tag"], step=index)
    return None


def _audience(conn: Connection, clock: Clock, settings: Settings, rule: dict[str, Any], run: dict[str, Any],
              step: dict[str, Any], index: int) -> None:
    if not run["customer_id"]:
        log(conn, clock, run, "audience", "skipped", "no identified customer", step=index)
        return None
    conn.execute(insert_ignore(conn, automation_audience_members).values(
        audience=step["audience"], customer_id=run["customer_id"], added_at=clock.now(), rule_id=rule["id"]))
    log(conn, clock, run, "audience", "done", step["audience"], step=index)
    return None


def _webhook(conn: Connection, clock: Clock, settings: Settings, rule: dict[str, Any], run: dict[str, Any],
             step: dict[str, Any], index: int) -> None:
    """POST the run's trigger to a URL through the outbound guard (no private networks unless allowed)."""
    from urllib.parse import urlsplit

    from omnihub.core.outbound import OutboundGuard, OutboundRefused

    url = urlsplit(step["url"])
    body = json.dumps({"rule_id": rule["id"], "run_id": run["id"], "customer_id": run["customer_id"],
                       "trigger": run["context"].get("event"), "data": run["context"].get("data")}, default=str)
    try:
        connection = OutboundGuard(settings.outbound_allow or "").connection(url.scheme, url.hostname or "", url.port,
                                                                          timeout=5.0)
        try:
            connection.request("POST", (url.path or "/") + (f"?{url.query}" if url.query else ""), body=body.encode(),
                               headers={"Content-Type": "application/json"})
            status = connection.getresponse().status
        finally:
            connection.close()
    except (OutboundRefused, OSError) as exc:
        log(conn, clock, run, "webhook", "failed", f"{type(exc).__name__}: {exc}"[:300], step=index)
        return None
    log(conn, clock, run, "webhook", "done" if status < 300 else "failed", f"HTTP {status}", step=index)
    return None


def _conversation(conn: Connection, clock: Clock, settings: Settings, rule: dict[str, Any], run: dict[str, Any],
                  step: dict[str, Any], index: int) -> None:
    """Ask an agent to reach the person: their service conversation (opened if none is live) gets an internal note
    naming the rule. Once per run: a deferral or a retry never adds a second note."""
    from omnihub.service.proactive import open_with_note

    if run["context"].get("conversation"):
        return None
    if not run["customer_id"]:
        log(conn, clock, run, "conversation", "skipped", "no identified customer", step=index)
        return None
    why = step.get("note") or f"triggered by {run['context'].get('event')}"
    note = f"Automation “{rule['name']}” ({rule['id']}): {why}"
    with conn.begin_nested():
        done = open_with_note(conn, clock, run["customer_id"], note[:4000], actor=f"automation:{rule['id']}")
    run["context"]["conversation"] = done["conversation_id"]
    log(conn, clock, run, "conversation", "done", ("opened " if done["opened"] else "noted on ")
        + done["conversation_id"], step=index, detail=done)
    return None


ACTIONS = {"send": _send, "coupon": _coupon, "tag": _tag, "untag": _tag, "audience": _audience,
           "webhook": _webhook, "conversation": _conversation}


class AutomationHandler:
    """The dispatcher hands it every batch: new runs for active rules, and orders credited to messages."""

    name = "automation"

    def __init__(self, clock: Clock, settings: Settings) -> None:
        self.clock = clock
        self.settings = settings

    def handle(self, conn: Connection, events: Sequence[Event]) -> None:
        """One event that cannot start its runs (a profile erased meanwhile) is skipped, in its own savepoint:
        it must never hold up the outbox for everyone else."""
        if not events:
            return
        for event in events:
            if event.type == "order.created":
                try:
                    with conn.begin_nested():
                        attribution.credit_order(conn, self.clock, event.data)
                except DomainError:
                    pass
        wanted = sorted({e.type for e in events})
        by_type: dict[str, list[dict[str, Any]]] = {}
        for rule in queries.active_rules_for(conn, wanted):
            by_type.setdefault(rule["trigger_type"], []).append(rule)
        for event in events:
            for rule in by_type.get(event.type, ()):
                try:
                    with conn.begin_nested():
                        start_run(conn, self.clock, rule, event)
                except DomainError:
                    continue


def erasure_participant() -> Any:
    """An erased person: their messages lose address and text (queued ones are never sent), their runs stop and
    they leave every audience."""

    class _Participant:
        def on_erase(self, conn: Connection, customer_ids: Sequence[str]) -> None:
            ids = list(customer_ids)
            conn.execute(automation_messages.update().where(MSG.customer_id.in_(ids), MSG.status == "queued")
                         .values(status="failed", error="customer erased before sending"))
            conn.execute(automation_messages.update().where(MSG.customer_id.in_(ids))
                         .values(to="erased", subject=None, body="", html=None))
            conn.execute(automation_runs.update().where(RUN.customer_id.in_(ids), RUN.status == "waiting")
                         .values(status="stopped", reason="customer erased", context={}))
            conn.execute(automation_audience_members.delete().where(
                automation_audience_members.c.customer_id.in_(ids)))

    return _Participant()
