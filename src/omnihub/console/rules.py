"""Pure console logic: who sees which page, passwords, session life, login throttling. No I/O."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

ROLES = ("admin", "associate", "agent", "marketer")
LOCALES = ("en", "es")

# Each page of the console and the roles that may open it (admin opens everything). The menu is built from
# this table and every route checks it: a hidden link is not a permission.
PAGES: dict[str, tuple[str, ...]] = {
    "dashboard": ("admin", "marketer"),
    "orders": ("admin", "associate", "agent"),
    "counter": ("admin", "associate"),
    "customers": ("admin", "associate", "agent", "marketer"),
    "inventory": ("admin", "associate"),
    "catalog": ("admin", "agent", "marketer"),
    "webhooks": ("admin",),
    "inbox": ("admin", "agent"),
    "reply-templates": ("admin", "agent"),
    "kb": ("admin", "agent"),  # the knowledge base the service bot answers from
    "connectors": ("admin",),
    "imports": ("admin",),  # an import writes customers, products, stock and orders across every channel
    "automations": ("admin", "marketer"),
    "segments": ("admin", "marketer"),
    "audiences": ("admin", "marketer"),
    "campaigns": ("admin", "marketer"),  # campaign results: per rule sent, opened, clicked, converted, revenue
    "profile": ROLES,
}
MENU_ORDER = ("dashboard", "counter", "inbox", "orders", "customers", "inventory", "catalog", "automations",
              "segments", "audiences", "campaigns",
              "reply-templates", "kb", "webhooks", "connectors", "imports")

# What each role may do, beyond opening a page.
ACTIONS: dict[str, tuple[str, ...]] = {
    "order.cancel": ("admin", "associate"),
    "order.ready": ("admin", "associate"),
    "order.collect": ("admin", "associate"),
    "order.ship": ("admin", "associate"),
    "order.pay": ("admin", "associate"),
    "return.create": ("admin", "associate"),
    "stock.move": ("admin", "associate"),
    "stock.reconcile": ("admin",),
    "sale.create": ("admin", "associate"),
    "customer.merge": ("admin",),
    "customer.export": ("admin",),
    "customer.erase": ("admin",),
    "webhook.redeliver": ("admin",),
    "conversation.work": ("admin", "agent"),  # reply, note, assign, snooze, resolve
    "template.edit": ("admin",),  # the API lets only admins write reply templates
    "kb.delete": ("admin",),
    "connector.replay": ("admin",),
    "automation.edit": ("admin", "marketer"),
    "segment.edit": ("admin", "marketer"),  # create, recompute, delete
    "audience.export": ("admin", "marketer"),
}


def N_(message: str) -> str:
    """Marks a text for the catalogue (babel.cfg extracts this module); the template translates it."""
    return message


@dataclass(frozen=True)
class Queue:
    """An inbox tab: its key in the URL, its label, and the conversation filters it stands for. `"me"` as the
    assignee is the logged-in person."""

    key: str
    label: str
    params: tuple[tuple[str, str], ...]


# The inbox's tabs, in order: one line each (any filter of the service room's conversation list).
QUEUES: tuple[Queue, ...] = (
    Queue("mine", N_("Mine"), (("assignee", "me"), ("status", "open"))),
    Queue("unassigned", N_("Unassigned"), (("assignee", "none"), ("status", "open"))),
    Queue("teams", N_("My teams"), (("teams", "mine"), ("status", "open"))),  # the teams the person belongs to
    Queue("open", N_("All open"), (("status", "open"),)),
    Queue("breaching", N_("Breaching soon"), (("breaching", "soon"),)),  # an SLA due within 30 minutes
    Queue("breached", N_("SLA breached"), (("breaching", "breached"),)),
    Queue("pending", N_("Waiting for the customer"), (("status", "pending"),)),
    Queue("snoozed", N_("Snoozed"), (("status", "snoozed"),)),
    Queue("resolved", N_("Resolved"), (("status", "resolved"),)),
)


def queue(key: str) -> Queue:
    """The tab a URL names; an unknown key is the first tab."""
    return next((q for q in QUEUES if q.key == key), QUEUES[0])

PASSWORD_MIN = 10
PASSWORD_MAX = 200
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def may_open(role: str, page: str) -> bool:
    return role == "admin" or role in PAGES.get(page, ())


def may(role: str, action: str) -> bool:
    return role == "admin" or role in ACTIONS.get(action, ())


def menu(role: str) -> list[str]:
    return [page for page in MENU_ORDER if may_open(role, page)]


def home_page(role: str) -> str:
    """Where a person lands after logging in: the counter for associates, the inbox for agents."""
    return {"associate": "counter", "agent": "inbox", "marketer": "dashboard"}.get(role, "dashboard")


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


def email_problem(email: str) -> str | None:
    if len(email) > 254 or not _EMAIL.match(email):
        return "Enter an e-mail address like name@shop.es."
    return None


def password_problem(password: str) -> str | None:
    if len(password) < PASSWORD_MIN:
        return f"Use at least {PASSWORD_MIN} characters."
    if len(password) > PASSWORD_MAX:
        return f"Use at most {PASSWORD_MAX} characters."
    if "\x00" in password:
        return "The password contains a character that cannot be used."
    return None


def generate_password() -> str:
    """A random password to hand to a new person (about 120 bits), to be changed on the profile page."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True)
class SessionPolicy:
    lifetime: timedelta  # absolute, from login
    idle: timedelta  # since the last request
    touch_every: timedelta = timedelta(seconds=60)  # how stale last_seen may get before a request writes it


def session_alive(policy: SessionPolicy, now: datetime, *, last_seen_at: datetime, expires_at: datetime,
                  ended_at: datetime | None) -> bool:
    return ended_at is None and now < expires_at and now < last_seen_at + policy.idle


def needs_touch(policy: SessionPolicy, now: datetime, last_seen_at: datetime) -> bool:
    return now - last_seen_at >= policy.touch_every


@dataclass(frozen=True)
class Throttle:
    window: timedelta
    per_email: int
    per_address: int


def throttled_until(throttle: Throttle, *, email_failures: list[datetime], address_failures: list[datetime]
                    ) -> datetime | None:
    """When login may be tried again, or None if it may be tried now. Failures are those inside the window,
    oldest first; the limit lifts when the oldest counted one leaves the window."""
    until: datetime | None = None
    for failures, limit in ((email_failures, throttle.per_email), (address_failures, throttle.per_address)):
        if len(failures) >= limit:
            lift = failures[len(failures) - limit] + throttle.window
            until = lift if until is None or lift > until else until
    return until


def order_actions(status: str, *, pickup_status: str | None, is_pickup: bool, has_open_lines: bool) -> list[str]:
    """The actions an order's state allows (the state machine in commerce.rules decides; this only offers)."""
    actions = []
    if status in ("draft", "pending_payment", "paid", "ready_for_pickup"):
        actions.append("order.cancel")
    if status == "pending_payment":
        actions.append("order.pay")
    if is_pickup and status == "paid" and pickup_status == "preparing":
        actions.append("order.ready")
    if is_pickup and status == "ready_for_pickup":
        actions.append("order.collect")
    if not is_pickup and status in ("paid", "partially_shipped") and has_open_lines:
        actions.append("order.ship")
    if status in ("shipped", "delivered", "collected", "partially_returned"):
        actions.append("return.create")
    return actions


# The segment builder's facts (path, label) and operators; the API takes every fact of docs/automation.md.
SEGMENT_FACTS = (
    ("customer.lifetime_value", N_("Lifetime value")),
    ("customer.predicted_clv", N_("Predicted value, next 12 months")),
    ("customer.orders_count", N_("Orders")),
    ("customer.orders_last_days.30", N_("Orders in the last 30 days")),
    ("customer.orders_last_days.90", N_("Orders in the last 90 days")),
    ("customer.orders_last_days.365", N_("Orders in the last 365 days")),
    ("customer.days_since_last_order", N_("Days since the last order")),
    ("customer.channels_count", N_("Channels used")),
    ("customer.channels", N_("Channel used")),
    ("customer.categories_bought", N_("Bought the category")),
    ("customer.tags", N_("Tag")),
    ("customer.stores_visited", N_("Visited the store")),
    ("customer.days_since_store_visit", N_("Days since a store visit")),
    ("customer.consents", N_("Consent")),
    ("customer.country", N_("Country")),
    ("customer.has_email", N_("Has an e-mail address")),
    ("customer.has_phone", N_("Has a phone number")),
)
SEGMENT_OPERATORS = ((">=", "≥"), (">", ">"), ("==", "="), ("!=", "≠"), ("<=", "≤"), ("<", "<"),
                     ("contains", N_("includes")), ("not_contains", N_("does not include")),
                     ("in", N_("is one of")), ("exists", N_("is known")), ("not_exists", N_("is unknown")))


def compact_duration(seconds: float | None) -> str:
    """A service time as people read it on a dashboard: "45 s", "12 min", "3 h 05 min", "2 d 4 h" ("—": none)."""
    if seconds is None:
        return "—"
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes = round(total / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    hours = round(minutes / 60)
    return f"{hours // 24} d {hours % 24} h"
