"""The state of one `receive_many` batch: what it reads once for all its messages, and the writes it keeps until
the flush, so that a batch of N messages costs a few statements rather than a few per message.

Each conversation the batch touches is held in memory with all its columns, as the batch leaves it (the live
ones are read — and locked — together at the start); each message changes that copy and records which columns
it wrote. The flush then inserts the conversations the batch opened, the messages, and writes each other
conversation once with the columns its messages changed, exactly the values the same messages received one by
one would have left."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from omnihub.core.bulk import copy_rows
from omnihub.core.clock import Clock
from omnihub.core.db import PerEngine
from omnihub.core.events import emit_many
from omnihub.customers import activity as customer_activity
from omnihub.service import errors, rules, sla, sla_rules
from omnihub.service.models import conversation_messages, conversations

C = conversations.c
# The batch's senders' live conversations, locked in id order (one array parameter on PostgreSQL).
_LIVE = PerEngine(lambda in_: sa.select(conversations).where(in_(C.active_for, "b_customers")).order_by(C.id)
                  .with_for_update())
_EMPTY = {column.key: None for column in conversations.columns}


@dataclass
class Batch:
    """What `receive_many` reads once per batch instead of once per message, and the writes it does at the end."""

    live: dict[str, rules.Candidate | None] = field(default_factory=dict)  # by customer; absent: not read yet
    resolved: dict[str, Any] = field(default_factory=dict)
    commerce: dict[str, tuple[list[dict[str, Any]], Any]] = field(default_factory=dict)  # orders, lifetime value
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    timeline: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (customer id, entry), in order
    messages: list[dict[str, Any]] = field(default_factory=list)
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # conversation id -> its columns, as left now
    opened: dict[str, dict[str, Any]] = field(default_factory=dict)  # opened here, not inserted yet: its insert
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)  # conversation id -> columns written since
    _policies: dict[str, sla_rules.Policy] | None = None

    def read_live(self, conn: Connection, customer_ids: list[str]) -> None:
        """The customers' live conversations, all columns, locked until the batch's transaction ends (PostgreSQL:
        nobody changes them between this read and the flush; in id order, so two workers never deadlock here)."""
        for row in conn.execute(_LIVE(conn), {"b_customers": customer_ids}):
            self.live[row.active_for] = rules.Candidate(row.id, row.status)
            self.rows[row.id] = dict(row._mapping)

    def row(self, conn: Connection, conversation_id: str) -> dict[str, Any]:
        """The conversation's columns as this batch left them (read, and locked, the first time)."""
        if conversation_id not in self.rows:
            found = conn.execute(sa.select(conversations).where(C.id == conversation_id).with_for_update()).first()
            if found is None:
                raise errors.conversation_not_found(conversation_id)
            self.rows[conversation_id] = dict(found._mapping)
        return self.rows[conversation_id]

    def reopened(self, row: Any) -> None:
        """Written outside the batch (a reopen's conditional update), which returned the row as it left it."""
        self.rows[row.id] = dict(row._mapping)

    def open(self, values: dict[str, Any]) -> None:
        """A conversation opened by this batch: inserted at the flush, with every change its messages made."""
        self.opened[values["id"]] = dict(values)
        self.rows[values["id"]] = {**_EMPTY, **values}

    def change(self, conversation_id: str, values: dict[str, Any]) -> None:
        self.rows[conversation_id].update(values)
        if conversation_id in self.opened:
            self.opened[conversation_id].update(values)
        else:
            self.changed.setdefault(conversation_id, {}).update(values)

    def policies(self, conn: Connection) -> dict[str, sla_rules.Policy]:
        if self._policies is None:
            self._policies = sla.stored_policies(conn)
        return self._policies

    def flush(self, conn: Connection, clock: Clock) -> None:
        """The writes kept so far, a few statements in all. A message stored twice (a race) or a conversation
        opened twice fails here: the caller takes the batch apart."""
        for group in by_columns(list(self.opened.values())):  # COPY too: every column is given
            columns = list(group[0])
            copy_rows(conn, conversations, columns, [[row[c] for c in columns] for row in group])
        self.opened = {}
        if self.messages:  # COPY on PostgreSQL: a multi-row INSERT costs the client more than the rows
            columns = list(self.messages[0])
            copy_rows(conn, conversation_messages, columns, [[m[c] for c in columns] for m in self.messages])
            self.messages = []
        for group in by_columns([{"id": cid, **values} for cid, values in self.changed.items()]):
            columns = [k for k in group[0] if k != "id"]
            conn.execute(conversations.update().where(C.id == sa.bindparam("b_id")).values(
                {k: sa.bindparam(f"b_{k}") for k in columns}), [{f"b_{k}": v for k, v in g.items()} for g in group])
        self.changed = {}
        if self.events:
            emit_many(conn, clock, self.events)
            self.events = []
        customer_activity.add_timeline_entries_many(conn, clock, self.timeline, source="service")
        self.timeline = []


def by_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by the columns they name (one executemany each), first seen first."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return list(groups.values())
