"""A segment's conditions compiled to one SQL query (SQLAlchemy Core): the ids of the active profiles that match.
It reads the customers room's and commerce's tables only through the selectables their `selections` modules
give, and the automation room's own (the last abandoned cart, the predicted CLV copied from analytics). The
semantics are those of the rules' facts: a missing figure fails an ordering (`>`), passes `!=`; lifetime value
and order counts are 0 without orders; a person with no predicted CLV has no figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
import sqlalchemy as sa

from omnihub.automation import predictions, segment_rules
from omnihub.automation.models import automation_abandoned
from omnihub.commerce import selections as orders_sql
from omnihub.customers import selections as people

_COMPARE = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}
# days_since X > v  <=>  X < now - v: the comparison turns round when it moves onto the instant.
_TURNED = {">": "<", ">=": "<=", "<": ">", "<=": ">="}


class _Compiler:
    """One compilation: the joins the conditions need are added once, whatever their number."""

    def __init__(self, now: datetime, only: Sequence[str] | None = None) -> None:
        self.now = now
        self.only = list(only) if only is not None else None
        self.profile = people.profile_id_column()
        self.stats: sa.Subquery | None = None
        self.visits: sa.Subquery | None = None
        self.recent: dict[int, sa.Subquery] = {}
        self.predicted: sa.Subquery | None = None

    def _stats(self) -> sa.Subquery:
        if self.stats is None:
            self.stats = people.stats_per_profile(self.only)
        return self.stats

    def _number(self, fact: str, days: int | None) -> sa.ColumnElement[Any]:
        if fact == "orders_last_days":
            assert days is not None
            if days not in self.recent:
                self.recent[days] = orders_sql.orders_since(self.now - timedelta(days=days), self.only).alias(
                    f"recent_{days}")
            return sa.func.coalesce(self.recent[days].c.orders, 0)
        if fact == "predicted_clv":  # no prediction is no figure (not 0): it fails every ordering
            if self.predicted is None:
                self.predicted = predictions.per_profile()
            return self.predicted.c.predicted_clv
        return sa.func.coalesce(self._stats().c[fact], 0)

    def _instant(self, fact: str) -> sa.ColumnElement[Any]:
        if fact == "days_since_last_order":
            return self._stats().c.last_order_at
        if fact == "days_since_store_visit":
            if self.visits is None:
                self.visits = people.last_visit_per_profile(self.only)
            return self.visits.c.last_visit_at
        return (sa.select(automation_abandoned.c.at).where(automation_abandoned.c.customer_id == self.profile)
                .scalar_subquery())

    def _only(self, query: sa.Select) -> sa.Select:
        """The event path: a membership subquery restricted to the touched people (not a scan of all)."""
        return query if self.only is None else query.where(query.selected_columns[0].in_(self.only))

    def _members(self, fact: str, value: str | None) -> sa.Select:
        if fact == "tags":
            return people.with_tag(str(value), self.now)
        if fact == "consents":
            return people.with_consent(str(value))
        if fact == "channels":
            return people.with_channel(str(value))
        if fact == "categories_bought":
            return orders_sql.bought_category(str(value))
        return people.visits(channel=value)  # stores_visited (None: any store)

    def condition(self, cond: Mapping[str, Any]) -> sa.ColumnElement[bool]:
        if "any" in cond:
            return sa.or_(*(self.condition(c) for c in cond["any"]))
        fact, kind, days = segment_rules.field_kind(cond["field"]) or ("", "", None)
        op, value = cond["op"], cond.get("value")
        if kind == "number":
            figure = self._number(fact, days)
            held = _COMPARE[op](figure, segment_rules.number(value))
            return sa.or_(figure.is_(None), held) if op == "!=" and fact == "predicted_clv" else held
        if kind == "days":
            instant = self._instant(fact)
            if op in ("exists", "not_exists"):
                return instant.is_not(None) if op == "exists" else instant.is_(None)
            bound = self.now - timedelta(days=float(segment_rules.number(value) or 0))
            return _COMPARE[_TURNED[op]](instant, bound)  # NULL (never) fails every ordering
        if kind == "set":
            member = self.profile.in_(self._only(
                self._members(fact, None if op in ("exists", "not_exists") else value)))
            return member if op in ("contains", "exists") else ~member
        if kind == "bool":
            holds = self.profile.in_(self._only(people.with_identity("email" if fact == "has_email" else "phone")))
            return holds if (op == "==") == bool(value) else ~holds
        return self._country(op, value)

    def _country(self, op: str, value: Any) -> sa.ColumnElement[bool]:
        """The country of the latest phone number, by its calling code (countries sharing one, as the +1 of the
        United States and Canada, are told apart by the number plan only in Python: here they match together)."""
        if op in ("exists", "not_exists"):
            holds = self.profile.in_(self._only(people.with_identity("phone")))
            return holds if op == "exists" else ~holds
        regions = value if op in ("in", "not_in") else [value]
        prefixes = sorted({p for p in (_calling_code(r) for r in regions) if p})
        holds = self.profile.in_(self._only(people.with_latest_phone_like(prefixes)))
        return holds if op in ("==", "in") else ~holds

    def query(self, conditions: Sequence[Mapping[str, Any]]) -> sa.Select:
        where = [self.condition(c) for c in conditions]
        query = people.active_profiles()
        if self.stats is not None:
            query = query.outerjoin(self.stats, self.stats.c.customer_id == self.profile)
        if self.visits is not None:
            query = query.outerjoin(self.visits, self.visits.c.customer_id == self.profile)
        for recent in self.recent.values():
            query = query.outerjoin(recent, recent.c.customer_id == self.profile)
        if self.predicted is not None:
            query = query.outerjoin(self.predicted, self.predicted.c.customer_id == self.profile)
        if self.only is not None:
            query = query.where(self.profile.in_(self.only))
        return query.where(*where)


def _calling_code(region: str) -> str | None:
    code = phonenumbers.country_code_for_region(region)
    return f"+{code}" if code else None


def compile_segment(conditions: Sequence[Mapping[str, Any]], now: datetime, only: Sequence[str] | None = None
                    ) -> sa.Select:
    """SELECT the ids of the active profiles matching every condition (an `any` group: one of its own); `only`:
    among these profiles (the event path), with the aggregates restricted to them too."""
    return _Compiler(now, only).query(conditions)
