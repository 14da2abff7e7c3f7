"""Pure service-desk logic: which conversation a message joins, e-mail trimming and reply tokens, the WhatsApp
window, the reply channel, Meta payloads to messages, retry backoff, template rendering. No I/O, no session."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

CHANNELS = ("instagram", "facebook", "whatsapp", "webchat", "email", "sms", "phone")
STATUSES = ("open", "pending", "snoozed", "resolved")
LIVE = ("open", "pending", "snoozed")
MAX_SMS_CHARS = 1600  # one SMS body at most (Twilio's limit; messaging.sms.MAX_SMS_CHARS)
WHATSAPP_WINDOW = timedelta(hours=24)  # Meta's customer-service window: free-form replies only inside it
# Channels a reply can go out on, and the identity that reaches the person there when they never wrote from it.
SENDABLE = ("email", "whatsapp", "instagram", "facebook", "sms")


# ---- which conversation ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    id: str
    status: str
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class Placement:
    """`join` a live conversation, `reopen` a resolved one, or `open` a new one."""

    action: str
    conversation_id: str | None = None


def place_message(*, live: Candidate | None, thread: Candidate | None, last_resolved: Candidate | None,
                  now: datetime, reopen_window: timedelta) -> Placement:
    """One live conversation per person: a message joins it, whatever channel or thread it names. Without one,
    a thread reference reopens the conversation it names (an explicit reply, whatever its age); otherwise the
    last resolved conversation reopens when it was resolved within the window, and a new one opens after."""
    if live is not None:
        return Placement("join", live.id)
    if thread is not None:
        return Placement("join", thread.id) if thread.status in LIVE else Placement("reopen", thread.id)
    if (last_resolved is not None and last_resolved.resolved_at is not None
            and now - last_resolved.resolved_at <= reopen_window):
        return Placement("reopen", last_resolved.id)
    return Placement("open")


def status_after_inbound(status: str) -> str:
    """A customer writing wakes a snoozed conversation and puts a pending one (waiting for them) back to open."""
    return "open" if status in ("pending", "snoozed", "resolved") else status


def check_snooze(until: datetime, now: datetime) -> str | None:
    """The reason a snooze time is refused, or None."""
    if until.tzinfo is None:
        return "until needs a time zone (e.g. 2026-01-05T09:00:00Z)."
    if until <= now:
        return "until must be in the future."
    if until - now > timedelta(days=365):
        return "until must be within a year."
    return None


# ---- replies ----------------------------------------------------------------------------------------------------


def whatsapp_window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    return last_inbound_at is not None and now - last_inbound_at < WHATSAPP_WINDOW


def reply_channel(requested: str | None, last_inbound_channel: str | None, reachable: Iterable[str]) -> str | None:
    """The channel a reply goes out on: the one asked for, else the one the customer last wrote from; None when
    the customer cannot be reached there."""
    channel = requested or last_inbound_channel
    return channel if channel in set(reachable) else None


def backoff_seconds(attempt: int, base: float) -> float:
    """Exponential, capped at an hour: attempt 1 waits `base`, then twice, four times..."""
    return float(min(3600.0, base * (2 ** max(0, attempt - 1))))


def whatsapp_to(address: str) -> str:
    """WhatsApp's `to`: the number's digits with country code, no '+'."""
    return re.sub(r"\D", "", address)


# ---- e-mail ----------------------------------------------------------------------------------------------------

_QUOTE_HEADERS = (
    re.compile(r"^\s*On\b.+\bwrote:\s*$", re.I),
    re.compile(r"^\s*El\b.+\bescribi[óo]:\s*$", re.I),
    re.compile(r"^\s*Le\b.+\ba écrit\s*:\s*$", re.I),
    re.compile(r"^\s*-{2,}\s*(Original Message|Mensaje original|Forwarded message|Mensaje reenviado)\s*-{2,}", re.I),
    re.compile(r"^\s*_{10,}\s*$"),  # Outlook's rule above the quoted headers
)
_SIGNATURE = (
    re.compile(r"^-- ?$"),
    re.compile(r"^\s*(Sent from my|Enviado desde mi|Get Outlook for|Obtener Outlook para)\b", re.I),
)
_OUTLOOK_FROM = re.compile(r"^\s*(From|De)\s*:\s*\S", re.I)
_OUTLOOK_NEXT = re.compile(r"^\s*(Sent|Date|Enviado|Fecha|To|Para)\s*:", re.I)


def trim_email(text: str) -> str:
    """The new part of an e-mail: quoted history (`On … wrote:`, `El … escribió:`, Outlook headers, `>` lines)
    and the signature cut off. Never returns nothing when there was something: a message that is all quote is
    kept whole."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        joined = f"{line} {lines[i + 1]}" if i + 1 < len(lines) else line  # "On …\n… wrote:" wraps
        if any(p.match(line) or p.match(joined) for p in _QUOTE_HEADERS):
            cut = i
            break
        if _OUTLOOK_FROM.match(line) and any(_OUTLOOK_NEXT.match(n) for n in lines[i + 1:i + 4]):
            cut = i
            break
        if any(p.match(line) for p in _SIGNATURE):
            cut = i
            break
        if line.startswith(">") and all(not n.strip() or n.startswith(">") for n in lines[i:]):
            cut = i
            break
    kept = "\n".join(lines[:cut]).strip()
    return kept or text.strip()


def reply_token(addresses: Iterable[str], mailbox: str) -> str | None:
    """The token in `local+token@domain` when `local@domain` is the support mailbox."""
    local, _, domain = mailbox.lower().partition("@")
    pattern = re.compile(rf"^{re.escape(local)}\+([a-z0-9]{{8,32}})@{re.escape(domain)}$")
    for address in addresses:
        found = pattern.match(address.strip().lower())
        if found:
            return found.group(1)
    return None


def message_ids(header: str | None) -> list[str]:
    """`<a@b> <c@d>` (In-Reply-To, References) to ['a@b', 'c@d'], newest last as sent."""
    return re.findall(r"<([^<>\s]+)>", header or "")


# ---- Meta payloads ---------------------------------------------------------------------------------------------


@dataclass
class MetaMessage:
    kind: str  # whatsapp, instagram, facebook (Messenger): the hub channel
    account_id: str
    external_id: str
    sender: str
    at: datetime
    text: str
    attachments: list[dict[str, Any]] = field(default_factory=list)
    name: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True)
class MetaStatus:
    kind: str
    account_id: str
    provider_message_id: str
    status: str  # sent, delivered, read, failed
    error: str | None = None


_WA_MEDIA = ("image", "video", "audio", "document", "sticker")


def _epoch(value: Any, *, millis: bool = False) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value) / (1000 if millis else 1), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _text(value: Any, limit: int = 10_000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _whatsapp(payload: Mapping[str, Any], now: datetime) -> tuple[list[MetaMessage], list[MetaStatus]]:
    messages: list[MetaMessage] = []
    statuses: list[MetaStatus] = []
    for entry in _list(payload.get("entry")):
        for change in _list(entry.get("changes")):
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict) or change.get("field") != "messages":
                continue
            account = str(_dict(value.get("metadata")).get("phone_number_id") or "")
            names = {str(c.get("wa_id")): _dict(c.get("profile")).get("name")
                     for c in _list(value.get("contacts"))}
            for m in _list(value.get("messages")):
                kind = m.get("type") if isinstance(m.get("type"), str) else "unsupported"
                if not _id(m.get("id")) or not _id(m.get("from")) or kind in ("reaction", "unsupported", "system"):
                    continue
                body = m.get(kind) if isinstance(m.get(kind), dict) else {}
                text, attachments = "", []
                if kind == "text":
                    text = _text(body.get("body"))
                elif kind in _WA_MEDIA:
                    text = _text(body.get("caption"))
                    attachments.append({"type": kind, **{k: body[k] for k in ("id", "mime_type", "sha256", "filename")
                                                          if isinstance(body.get(k), str)}})
                elif kind == "button":
                    text = _text(body.get("text"))
                elif kind == "interactive":
                    reply = _dict(body.get("button_reply") or body.get("list_reply"))
                    text = _text(reply.get("title"))
                elif kind == "location":
                    where = f"{body.get('latitude')},{body.get('longitude')}"
                    text = _text(body.get("name") or body.get("address")) or where
                    attachments.append({"type": "location", "latitude": body.get("latitude"),
                                        "longitude": body.get("longitude")})
                else:
                    attachments.append({"type": str(kind)})
                sender = str(m["from"])
                messages.append(MetaMessage(
                    "whatsapp", account, str(m["id"]), sender, _epoch(m.get("timestamp")) or now, text, attachments,
                    name=names.get(sender) if isinstance(names.get(sender), str) else None,
                    reply_to=_id(_dict(m.get("context")).get("id"))))
            for s in _list(value.get("statuses")):
                if _id(s.get("id")) and s.get("status") in ("sent", "delivered", "read", "failed"):
                    errors = _list(s.get("errors"))
                    error = (errors[0].get("title") or errors[0].get("message")) if errors else None
                    statuses.append(MetaStatus("whatsapp", account, str(s["id"]), s["status"],
                                               str(error)[:500] if error else None))
    return messages, statuses


def _messaging(kind: str, payload: Mapping[str, Any], now: datetime) -> tuple[list[MetaMessage], list[MetaStatus]]:
    """Instagram Messaging and Messenger share Meta's `entry[].messaging[]` events: `message` (text, attachments
    `{type, payload: {url}}`, `reply_to`), `postback` (a button tapped: its title is what the person said),
    `read` by message id (Instagram) and `delivery.mids`. Echoes of our own sends and deletions are skipped."""
    messages: list[MetaMessage] = []
    statuses: list[MetaStatus] = []
    for entry in _list(payload.get("entry")):
        account = str(entry.get("id") or "")
        for event in _list(entry.get("messaging")):
            sender = str(_dict(event.get("sender")).get("id") or "")
            at = _epoch(event.get("timestamp"), millis=True) or now
            message = event.get("message")
            if isinstance(message, dict) and _id(message.get("mid")) and _id(sender) and not message.get("is_echo"):
                if message.get("is_deleted"):
                    continue
                attachments = [{"type": str(a.get("type")), **({"url": a["payload"]["url"]}
                                                               if isinstance(a.get("payload"), dict)
                                                               and isinstance(a["payload"].get("url"), str) else {})}
                               for a in _list(message.get("attachments"))]
                messages.append(MetaMessage(
                    kind, account, str(message["mid"]), sender, at, _text(message.get("text")), attachments,
                    reply_to=_id(_dict(message.get("reply_to")).get("mid"))))
            postback = event.get("postback")
            if isinstance(postback, dict) and _id(postback.get("mid")) and _id(sender):
                text = _text(postback.get("title")) or _text(postback.get("payload"))
                if text:
                    messages.append(MetaMessage(kind, account, str(postback["mid"]), sender, at, text))
            read = event.get("read")
            if isinstance(read, dict) and _id(read.get("mid")):
                statuses.append(MetaStatus(kind, account, str(read["mid"]), "read"))
            delivery = event.get("delivery")
            if isinstance(delivery, dict):
                mids = delivery.get("mids") if isinstance(delivery.get("mids"), list) else []
                statuses += [MetaStatus(kind, account, mid, "delivered") for mid in mids if _id(mid)]
    return messages, statuses


def _instagram(payload: Mapping[str, Any], now: datetime) -> tuple[list[MetaMessage], list[MetaStatus]]:
    return _messaging("instagram", payload, now)


def _messenger(payload: Mapping[str, Any], now: datetime) -> tuple[list[MetaMessage], list[MetaStatus]]:
    """Facebook Messenger (`object: page`): `entry[].id` is the Page, senders are page-scoped ids (PSIDs).
    Messenger's read receipts name a time (`read.watermark`), not a message: they are not applied."""
    return _messaging("facebook", payload, now)


def _id(value: Any) -> str | None:
    """A provider id as we store it; anything longer than the column is not an id Meta sends."""
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    return text if 0 < len(text) <= 300 else None


def _list(value: Any) -> list[Any]:
    """The objects of a JSON array (anything else in it, or a non-array, is skipped)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_meta(payload: Any, now: datetime) -> tuple[str, list[MetaMessage], list[MetaStatus]]:
    """A webhook body as Meta documents it → (kind, messages, statuses). Unknown objects give nothing."""
    if not isinstance(payload, dict):
        return "", [], []
    if payload.get("object") == "whatsapp_business_account":
        return "whatsapp", *_whatsapp(payload, now)
    if payload.get("object") == "instagram":
        return "instagram", *_instagram(payload, now)
    if payload.get("object") == "page":
        return "facebook", *_messenger(payload, now)
    return "", [], []


def meta_accounts(payload: Any) -> set[str]:
    """The account ids (phone number ids, Instagram account ids, Facebook Page ids) a payload speaks for: they
    pick the connection whose app secret must have signed it."""
    if not isinstance(payload, dict):
        return set()
    found: set[str] = set()
    for entry in _list(payload.get("entry")):
        if payload.get("object") in ("instagram", "page") and entry.get("id"):
            found.add(str(entry["id"]))
        for change in _list(entry.get("changes")):
            phone_id = _dict(_dict(change.get("value")).get("metadata")).get("phone_number_id")
            if phone_id:
                found.add(str(phone_id))
    return found


def status_rank(status: str) -> int:
    """Statuses only move forward (Meta may deliver `delivered` after `read`)."""
    return {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "read": 4}.get(status, -1)


# ---- templates -----------------------------------------------------------------------------------------------

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class TemplateProblem(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def check_template(source: str) -> None:
    try:
        _env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem("invalid_template", f"line {exc.lineno}: {exc.message}") from None


def render(source: str, variables: Mapping[str, Any]) -> str:
    """Rendered in Jinja's sandbox with StrictUndefined: a missing variable is an error, never a blank."""
    try:
        return _env.from_string(source).render(**variables)
    except UndefinedError as exc:
        raise TemplateProblem("template_variable_missing", str(exc.message)) from None
    except SecurityError as exc:
        raise TemplateProblem("template_not_allowed", str(exc)) from None
    except TemplateSyntaxError as exc:
        raise TemplateProblem("invalid_template", f"line {exc.lineno}: {exc.message}") from None


def first_name(name: str | None) -> str | None:
    parts = (name or "").split()
    return parts[0] if parts else None


def template_context(customer: Mapping[str, Any], order: Mapping[str, Any] | None,
                     variables: Mapping[str, Any]) -> dict[str, Any]:
    """What a template sees: `customer` (name, first_name when known), `order` (the one named, else the latest)
    and the caller's variables on top. Unknown values stay absent, so StrictUndefined reports them."""
    person = {k: v for k, v in (("id", customer.get("id")), ("name", customer.get("name")),
                                ("first_name", first_name(customer.get("name")))) if v is not None}
    context: dict[str, Any] = {"customer": person}
    if order is not None:
        context["order"] = {k: v for k, v in order.items() if v is not None}
    for key, value in variables.items():
        if isinstance(value, dict) and isinstance(context.get(key), dict):
            context[key] = {**context[key], **value}
        else:
            context[key] = value
    return context


def check_variables(variables: Mapping[str, Any], names: Sequence[str] = ()) -> None:
    """Keys are plain identifiers (no dunder tricks reach the sandbox by name)."""
    for key in [*variables, *names]:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", str(key)) or str(key).startswith("_"):
            raise TemplateProblem("invalid_variables", f"'{key}' is not a variable name.")


def _hint_list(hints: Any) -> list[Mapping[str, Any]]:
    if isinstance(hints, list):
        return [h for h in hints if isinstance(h, dict)]
    if not isinstance(hints, dict):
        return []
    if "kind" in hints:
        return [hints]
    return [{"kind": k, "value": hints[k], "network": hints.get("network")}
            for k in ("email", "phone", "handle") if hints.get(k)]


def address_from(channel: str, hints: Any) -> str | None:
    """Where a reply reaches the sender on `channel`, read from their identity hints when the message does not
    say: the e-mail for e-mail, the phone for WhatsApp/SMS, the account id or handle for Instagram/Facebook."""
    for hint in _hint_list(hints):
        kind, value = hint.get("kind"), hint.get("value")
        if not isinstance(value, str | int) or isinstance(value, bool):
            continue
        if ((channel == "email" and kind == "email")
                or (channel in ("whatsapp", "sms", "phone") and (kind == "phone" or (
                    kind == "handle" and hint.get("network") == "whatsapp")))
                or (channel in ("instagram", "facebook") and (
                    (kind == "external" and hint.get("system") == channel)
                    or (kind == "handle" and hint.get("network") == channel)))):
            return str(value).strip()
    return None


# ---- priority ----------------------------------------------------------------------------------------------------

PRIORITIES = ("normal", "high", "urgent")
_LATE_STATUSES = ("paid", "partially_shipped", "shipped")  # promised and not yet delivered or collected
_COMPLAINT = (
    # Spanish
    "queja", "quejarme", "me quejo", "reclamacion", "reclamar", "hoja de reclamaciones", "denuncia", "denunciar",
    "estafa", "timo", "verguenza", "inaceptable", "indignado", "indignada", "pesimo", "pesima", "harto", "harta",
    "abogado", "nunca mas", "fatal servicio", "lamentable",
    # English
    "complaint", "complain", "unacceptable", "scam", "fraud", "disgusted", "disgusting", "terrible", "awful",
    "worst", "ridiculous", "lawyer", "never again", "furious", "outraged", "appalling",
)
_REFUND = ("reembolso", "reembolsar", "reembolsen", "devolver el dinero", "devolucion del dinero",
           "devuelvan el dinero", "devolvais el dinero", "mi dinero", "refund", "money back", "chargeback")


@functools.lru_cache(maxsize=4096)  # the refund and complaint words, here and on the bot's turn: one text
def _plain(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.cache
def _word_patterns(words: tuple[str, ...]) -> tuple[re.Pattern[str], list[tuple[str, re.Pattern[str]]]]:
    """One pattern that finds whether any of the words is there, and one per word: compiled once."""
    each = [(w, re.compile(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])")) for w in words]
    return re.compile("|".join(p.pattern for _, p in each)), each


def _words_in(text: str, words: Sequence[str]) -> list[str]:
    plain = _plain(text)
    if not any(w in plain for w in words):  # most messages: none of the words occurs at all (no regex scan)
        return []
    anyone, each = _word_patterns(tuple(words))
    if anyone.search(plain) is None:  # only inside longer words
        return []
    return [w for w, pattern in each if pattern.search(plain)]


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def priority_reasons(orders: Sequence[Mapping[str, Any]], text: str, now: datetime,
                     *, recent: timedelta = timedelta(days=30), lifetime_value: Decimal | None = None,
                     high_value_from: Decimal | None = None) -> list[dict[str, Any]]:
    """Why this conversation matters more than others, each reason naming its rule and the fact behind it:
    an order late against its promise, a pickup that expired, a refund asked for, complaint words, a customer
    whose lifetime value reaches `high_value_from` (the shop's threshold; no threshold, no such rule)."""
    reasons: list[dict[str, Any]] = []
    if high_value_from is not None and lifetime_value is not None and lifetime_value >= high_value_from:
        reasons.append({"rule": "high_value",
                        "why": f"A high-value customer: lifetime value {lifetime_value} (from {high_value_from})."})
    for order in orders:
        promised = _when(order.get("promised_at"))
        number = order.get("number")
        if order.get("status") in _LATE_STATUSES and promised is not None and promised < now:
            reasons.append({"rule": "late_order", "order": number,
                            "why": f"Order {number} was promised for {promised.date().isoformat()} and is still "
                                   f"'{order.get('status')}'."})
        pickup = order.get("pickup") or {}
        updated = _when(order.get("updated_at"))
        if pickup.get("status") == "expired" and (updated is None or now - updated <= recent):
            reasons.append({"rule": "pickup_expired", "order": number,
                            "why": f"The pickup of order {number} expired uncollected."})
    refund = _words_in(text, _REFUND)
    if refund:
        reasons.append({"rule": "refund_asked", "why": f"The customer asks for a refund ('{refund[0]}')."})
    complaint = _words_in(text, _COMPLAINT)
    if complaint:
        reasons.append({"rule": "complaint", "why": f"Complaint words: {', '.join(complaint[:3])}."})
    return reasons


def merge_reasons(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A conversation keeps every reason it was given, once per rule and order."""
    merged: dict[tuple[Any, Any], dict[str, Any]] = {}
    for reason in [*old, *new]:
        merged.setdefault((reason.get("rule"), reason.get("order")), dict(reason))
    return list(merged.values())


def priority_of(reasons: Sequence[Mapping[str, Any]]) -> str:
    """No reason: normal; one kind of reason: high; two or more kinds (a late order and a complaint): urgent."""
    kinds = {r.get("rule") for r in reasons}
    return "normal" if not kinds else "high" if len(kinds) == 1 else "urgent"


def is_complaint(reasons: Sequence[Mapping[str, Any]]) -> bool:
    return any(r.get("rule") == "complaint" for r in reasons)
