"""The connector hub's use cases: shop connections (sealed secrets), signed webhooks in (once per delivery, an
unmappable one kept as a dead letter), dead-letter replay, the shop's ids for the hub's SKUs, and stock pushes
out (one queue row per SKU, so a burst of changes is one push).

Each shop is a plugin (`ConnectorPlugin`, registered by its room's `wire`, as Netflix Dispatch registers its
plugins): how its webhooks are signed and what each topic does, and how a SKU's stock is told to it. The hub
owns what every connector shares: connections, receipts, dead letters, the push queue and its retries."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.catalog import queries as catalog_queries
from omnihub.connectors.hub import errors, rules
from omnihub.connectors.hub.models import (
    connector_connections,
    connector_dead_letters,
    connector_items,
    connector_pushes,
    connector_receipts,
)
from omnihub.connectors.hub.rules import Unmappable
from omnihub.core.clock import Clock
from omnihub.core.db import Database, dialect_insert, new_id, upsert
from omnihub.core.errors import DomainError
from omnihub.core.events import Event, emit
from omnihub.core.jsonable import jsonable
from omnihub.core.outbound import OutboundGuard
from omnihub.core.secretbox import seal, unseal
from omnihub.inventory import queries as inventory_queries

CC = connector_connections.c
DL = connector_dead_letters.c
CI = connector_items.c
CP = connector_pushes.c
CR = connector_receipts.c
_PURPOSE = "connectors.secrets"
PUSH_BATCH = 50


@dataclass(frozen=True)
class Link:
    """One channel's connection to a shop, secrets unsealed (never logged: see __repr__)."""

    kind: str
    channel: str
    config: dict[str, Any]
    secrets: dict[str, str]

    def __repr__(self) -> str:
        return f"Link(kind={self.kind!r}, channel={self.channel!r})"


class PushFailed(Exception):
    """A stock push that did not land. `permanent`: retrying cannot fix it (bad credentials, unknown item)."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent


@dataclass(frozen=True)
class ConnectorPlugin:
    """What a shop connector gives the hub.

    `apply(conn, clock, link, topic, payload)`: one webhook's effect, in the caller's transaction; raises
    `Unmappable` (or a DomainError) when it cannot be mapped. `quantities(conn, link, sku)`: what to tell the
    shop about the SKU, or None when the shop's id for it is not known. `send(link, sku, quantities, guard)`:
    tell it (raises PushFailed). `wants(link, event)`: whether a committed event changes what it was told."""

    kind: str
    apply: Callable[[Connection, Clock, Link, str, Any], dict[str, Any]]
    quantities: Callable[[Connection, Link, str], dict[str, Any] | None]
    send: Callable[[Link, str, dict[str, Any], OutboundGuard], None]
    wants: Callable[[Link, Event], bool]


_PLUGINS: dict[str, ConnectorPlugin] = {}


def register_connector(plugin: ConnectorPlugin) -> None:
    """Called from a connector room's `wire` (idempotent)."""
    _PLUGINS[plugin.kind] = plugin


def plugin(kind: str) -> ConnectorPlugin:
    return _PLUGINS[kind]


# ---- connections ----------------------------------------------------------------------------------------------


def connection_out(row: Any, sealed: Sequence[str]) -> dict[str, Any]:
    """A connection as the API shows it: which secrets are set, never their values."""
    return {"kind": row.kind, "channel": row.channel, **row.config, "secrets_set": sorted(sealed),
            "created_at": row.created_at, "updated_at": row.updated_at}


def check_locations(conn: Connection, default: str | None, mapped: dict[str, str]) -> None:
    """Every location a connection names must exist in the hub (a typo would dead-letter every order)."""
    wanted = {code: f"locations.{key}" for key, code in mapped.items()}
    if default:
        wanted[default] = "default_location"
    known = inventory_queries.existing_location_codes(conn, list(wanted))
    for code, field in sorted(wanted.items()):
        if code not in known:
            raise errors.unknown_location(field, code)


def configure(conn: Connection, clock: Clock, secret_key: str, *, kind: str, channel: str, config: dict[str, Any],
              secrets: dict[str, str]) -> tuple[dict[str, Any], bool]:
    """Create or replace the channel's connection to a shop; secrets sealed with core.secretbox."""
    catalog_queries.get_channel(conn, channel, field="channel")
    now = clock.now()
    values = {"config": jsonable(config), "updated_at": now,
              "secrets": {name: seal(secret_key, _PURPOSE, value) for name, value in secrets.items()}}
    key = (CC.kind == kind, CC.channel == channel)
    created = not conn.execute(connector_connections.update().where(*key).values(**values)).rowcount
    if created:
        conn.execute(connector_connections.insert(), dict(kind=kind, channel=channel, created_at=now, **values))
    emit(conn, clock, "connector.configured", {"connector": kind, "channel": channel})
    row = conn.execute(sa.select(connector_connections).where(*key)).one()
    return connection_out(row, secrets), created


def get_connection(conn: Connection, kind: str, channel: str) -> dict[str, Any]:
    row = conn.execute(sa.select(connector_connections).where(CC.kind == kind, CC.channel == channel)).first()
    if row is None:
        raise errors.connection_not_found(kind, channel)
    return connection_out(row, list(row.secrets))


def load_link(conn: Connection, secret_key: str, kind: str, channel: str) -> Link | None:
    row = conn.execute(sa.select(connector_connections).where(CC.kind == kind, CC.channel == channel)).first()
    if row is None:
        return None
    return Link(kind, channel, dict(row.config),
                {name: unseal(secret_key, _PURPOSE, value) for name, value in row.secrets.items()})


def _touch(conn: Connection, clock: Clock, kind: str, channel: str, *, error: str | None = None,
           received: int = 0, pushed: int = 0) -> None:
    now = clock.now()
    values: dict[str, Any] = ({"last_error_at": now, "last_error": error[:500]} if error is not None
                              else {"last_success_at": now})
    if received:
        values["received"] = CC.received + received
    if pushed:
        values["pushed"] = CC.pushed + pushed
    conn.execute(connector_connections.update().where(CC.kind == kind, CC.channel == channel).values(**values))


# ---- the shop's ids for the hub's SKUs -------------------------------------------------------------------------


def remember_items(conn: Connection, clock: Clock, kind: str, channel: str, items: Sequence[dict[str, Any]]) -> int:
    """`[{sku, product_id, variant_id, inventory_item_id}]` as the shop named them (products/create|update)."""
    rows = [{"kind": kind, "channel": channel, "sku": i["sku"], "product_id": i.get("product_id"),
             "variant_id": i.get("variant_id"), "inventory_item_id": i.get("inventory_item_id"),
             "updated_at": clock.now()} for i in items]
    upsert(conn, connector_items, rows, keys=["kind", "channel", "sku"],
           update=["product_id", "variant_id", "inventory_item_id", "updated_at"])
    return len(rows)


def item(conn: Connection, kind: str, channel: str, sku: str) -> dict[str, Any] | None:
    row = conn.execute(sa.select(connector_items).where(CI.kind == kind, CI.channel == channel, CI.sku == sku)).first()
    return dict(row._mapping) if row else None


def sku_of_variant(conn: Connection, kind: str, channel: str, variant_id: str) -> str | None:
    return conn.execute(sa.select(CI.sku).where(CI.kind == kind, CI.channel == channel,
                                                CI.variant_id == variant_id)).scalar()


def sku_of_inventory_item(conn: Connection, kind: str, channel: str, inventory_item_id: str) -> str | None:
    return conn.execute(sa.select(CI.sku).where(CI.kind == kind, CI.channel == channel,
                                                CI.inventory_item_id == inventory_item_id)).scalar()


# ---- webhooks in -----------------------------------------------------------------------------------------------


def authenticate(db: Database, secret_key: str, *, kind: str, channel: str, raw: bytes, signature: str | None,
                 header: str) -> Link:
    """The connection this body was signed for, or 401: checked before anything is parsed or stored."""
    with db.read() as conn:
        link = load_link(conn, secret_key, kind, channel)
    if link is None or not rules.signature_matches(link.secrets.get("webhook_secret", ""), raw, signature):
        raise errors.bad_signature(header)
    return link


def receive(db: Database, clock: Clock, link: Link, *, topic: str, delivery_id: str | None, raw: bytes
            ) -> dict[str, Any]:
    """One authenticated webhook: applied once per delivery id (a redelivery answers `duplicate`), or kept as a
    dead letter when it cannot be mapped. Never raises for the payload's content."""
    try:
        payload: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        payload = None

    def apply(conn: Connection) -> dict[str, Any]:
        if delivery_id and _seen(conn, link, delivery_id):
            return {"outcome": "duplicate", "duplicate": True}
        if not isinstance(payload, dict | list):
            raise Unmappable("bad_shape", "The body is not a JSON document.")
        result = _PLUGINS[link.kind].apply(conn, clock, link, topic, payload)
        outcome = "ignored" if result.get("ignored") else "applied"
        _receipt(conn, clock, link, delivery_id, topic, outcome)
        _touch(conn, clock, link.kind, link.channel, received=1)
        return {"outcome": outcome, "duplicate": False, **result}

    try:
        return db.run(apply)
    except (Unmappable, DomainError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
        code, reason = _why(exc)
        stored = payload if isinstance(payload, dict | list) else {"raw": raw[:65536].decode("utf-8", "replace")}

        def keep(conn: Connection) -> dict[str, Any]:
            if delivery_id and _seen(conn, link, delivery_id):
                return {"outcome": "duplicate", "duplicate": True}
            letter = _dead_letter(conn, clock, link, topic=topic, delivery_id=delivery_id, payload=stored,
                                  code=code, reason=reason)
            _receipt(conn, clock, link, delivery_id, topic, "dead_letter")
            _touch(conn, clock, link.kind, link.channel, error=f"{topic}: {reason}", received=1)
            return {"outcome": "dead_letter", "duplicate": False, "dead_letter": letter}

        return db.run(keep)


def _why(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, Unmappable):
        return exc.code, exc.reason
    if isinstance(exc, DomainError):
        return exc.code, exc.detail
    return "bad_shape", f"The payload does not have the shape this topic documents ({type(exc).__name__}: {exc})"[:1000]


def _seen(conn: Connection, link: Link, delivery_id: str) -> bool:
    return conn.execute(sa.select(CR.outcome).where(CR.kind == link.kind, CR.channel == link.channel,
                                                    CR.delivery_id == delivery_id)).first() is not None


def _receipt(conn: Connection, clock: Clock, link: Link, delivery_id: str | None, topic: str, outcome: str) -> None:
    if delivery_id:  # a concurrent twin's insert makes this one fail and retry: it then finds the receipt
        conn.execute(connector_receipts.insert(), dict(kind=link.kind, channel=link.channel, delivery_id=delivery_id,
                                                       topic=topic[:64], outcome=outcome, received_at=clock.now()))


# ---- dead letters ----------------------------------------------------------------------------------------------


def _dead_letter(conn: Connection, clock: Clock, link: Link, *, topic: str, delivery_id: str | None, payload: Any,
                 code: str, reason: str) -> dict[str, Any]:
    external_id = payload.get("id") if isinstance(payload, dict) else None
    row = dict(id=new_id("dl"), kind=link.kind, channel=link.channel, topic=topic[:64], delivery_id=delivery_id,
               external_id=None if external_id is None else str(external_id)[:64], payload=jsonable(payload),
               reason=reason[:1000], code=code[:64], status="open", attempts=0, result=None,
               created_at=clock.now(), replayed_at=None)
    conn.execute(connector_dead_letters.insert(), row)
    emit(conn, clock, "connector.dead_lettered", {k: row[k] for k in ("id", "kind", "channel", "topic", "code",
                                                                      "reason", "external_id")})
    return {k: row[k] for k in ("id", "code", "reason")}


def replay(db: Database, clock: Clock, secret_key: str, letter_id: str) -> dict[str, Any]:
    """Apply a dead letter again (after the mapping was fixed). Idempotent: a replayed letter answers with the
    result it had; one that still cannot be mapped stays open with the new reason."""
    from omnihub.connectors.hub.queries import dead_letter

    def attempt(conn: Connection) -> dict[str, Any]:
        row = conn.execute(_locked(conn, sa.select(connector_dead_letters).where(DL.id == letter_id))).first()
        if row is None:
            raise errors.dead_letter_not_found(letter_id)
        if row.status == "replayed":
            return dead_letter(conn, letter_id)
        link = load_link(conn, secret_key, row.kind, row.channel)
        if link is None:
            raise errors.connection_not_found(row.kind, row.channel)
        result = _PLUGINS[row.kind].apply(conn, clock, link, row.topic, row.payload)
        conn.execute(connector_dead_letters.update().where(DL.id == letter_id, DL.status == "open").values(
            status="replayed", attempts=DL.attempts + 1, result=jsonable(result), replayed_at=clock.now()))
        _touch(conn, clock, row.kind, row.channel)
        emit(conn, clock, "connector.replayed", {"id": letter_id, "kind": row.kind, "channel": row.channel,
                                                 "topic": row.topic})
        return dead_letter(conn, letter_id)

    try:
        return db.run(attempt)
    except (Unmappable, KeyError, TypeError, ValueError, ArithmeticError) as exc:
        failure: Exception = exc
    except DomainError as exc:
        if exc.code in ("dead_letter_not_found", "connection_not_found"):
            raise
        failure = exc
    code, reason = _why(failure)

    def still_open(conn: Connection) -> dict[str, Any]:
        conn.execute(connector_dead_letters.update().where(DL.id == letter_id, DL.status == "open").values(
            attempts=DL.attempts + 1, code=code[:64], reason=reason[:1000]))
        return dead_letter(conn, letter_id)

    return db.run(still_open)


def _locked(conn: Connection, query: sa.Select) -> sa.Select:
    return query.with_for_update() if conn.dialect.name == "postgresql" else query


# ---- stock out -------------------------------------------------------------------------------------------------


def enqueue_push(conn: Connection, clock: Clock, kind: str, channel: str, skus: Sequence[str]) -> None:
    """Mark SKUs as changed for a connection: one row per SKU, so ten changes before the push are one push. A row
    already pending keeps its due time (and its backoff) and the time of its oldest change (the lag)."""
    now = clock.now()
    for sku in sorted(set(skus)):
        key = (CP.kind == kind, CP.channel == channel, CP.sku == sku)
        if conn.execute(connector_pushes.update().where(*key, CP.status != "pending").values(
                status="pending", due_at=now, attempts=0, changed_at=now)).rowcount:
            continue
        conn.execute(dialect_insert(conn)(connector_pushes).values(
            kind=kind, channel=channel, sku=sku, status="pending", due_at=now, attempts=0, changed_at=now,
        ).on_conflict_do_nothing())


class PushEnqueuer:
    """Event handler: a committed stock or availability change of a SKU a connection tells its shop about
    becomes (or refreshes) that SKU's push row. Runs in the dispatcher's transaction, after the change."""

    name = "connectors.push"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def handle(self, conn: Connection, events: Sequence[Event]) -> None:
        relevant = [e for e in events if e.type in ("stock.changed", "availability.changed")]
        if not relevant or not _PLUGINS:
            return
        rows = conn.execute(sa.select(CC.kind, CC.channel, CC.config)).all()
        for row in rows:
            connector = _PLUGINS.get(row.kind)
            if connector is None:
                continue
            link = Link(row.kind, row.channel, dict(row.config), {})
            skus = [e.data["sku"] for e in relevant if connector.wants(link, e)]
            if skus:
                enqueue_push(conn, self.clock, row.kind, row.channel, skus)


def push_due(conn: Connection, clock: Clock, secret_key: str, guard: OutboundGuard, *, limit: int = PUSH_BATCH
             ) -> int:
    """Tell the shops about the SKUs due (the worker's `connectors.push_stock` job). A failure waits longer each
    time and is given up (`failed`, visible on the connection's health) after PUSH_MAX_ATTEMPTS."""
    now = clock.now()
    query = (sa.select(CP.kind, CP.channel, CP.sku, CP.attempts).where(CP.status == "pending", CP.due_at <= now)
             .order_by(CP.due_at).limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    due = conn.execute(query).all()
    links: dict[tuple[str, str], Link | None] = {}
    for row in due:
        key = (row.kind, row.channel)
        if key not in links:
            links[key] = load_link(conn, secret_key, row.kind, row.channel)
        link, where = links[key], (CP.kind == row.kind, CP.channel == row.channel, CP.sku == row.sku)
        connector = _PLUGINS.get(row.kind)
        if link is None or connector is None:
            conn.execute(connector_pushes.delete().where(*where))
            continue
        quantities = connector.quantities(conn, link, row.sku)
        if quantities is None:
            conn.execute(connector_pushes.update().where(*where).values(
                status="unmapped", last_error=f"the {row.kind} id of this SKU is not known yet (products/create or "
                                              "products/update teaches it)"))
            continue
        try:
            connector.send(link, row.sku, quantities, guard)
        except PushFailed as exc:
            attempts = row.attempts + 1
            gave_up = exc.permanent or attempts >= rules.PUSH_MAX_ATTEMPTS
            conn.execute(connector_pushes.update().where(*where).values(
                status="failed" if gave_up else "pending", attempts=attempts, last_error=exc.detail[:500],
                due_at=now + rules.push_delay(attempts)))
            _touch(conn, clock, row.kind, row.channel, error=f"push {row.sku}: {exc.detail}")
            continue
        conn.execute(connector_pushes.update().where(*where).values(
            status="pushed", attempts=0, last_error=None, pushed=jsonable(quantities), pushed_at=now))
        _touch(conn, clock, row.kind, row.channel, pushed=1)
    return len(due)


def check_api_base(url: str, guard: OutboundGuard, field: str = "api_base") -> str:
    """A shop's base URL: http(s) with a host, no credentials, query or fragment (secrets travel in headers);
    never a loopback, private or link-local address unless OMNIHUB_OUTBOUND_ALLOW lets it."""
    from urllib.parse import urlparse

    from omnihub.core.outbound import OutboundRefused

    parsed = urlparse(url)
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise errors.invalid_config(field, f"{field} must be an http(s) URL with a host.")
    if parsed.username or parsed.password or parsed.fragment or parsed.query:
        raise errors.invalid_config(field, f"{field} takes no credentials, query or fragment.")
    try:
        guard.check_url(url)
    except OutboundRefused as exc:
        raise errors.invalid_config(field, str(exc)) from None
    return url.rstrip("/")
