"""The same figures as the analytics room, computed independently: plain Python over the raw rows read with
SQLAlchemy (no DuckDB, no code shared with omnihub.analytics). Answers have the API's JSON shape."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import sqlalchemy as sa
from scipy import special

from omnihub.core.db import Database

SOLD = {"paid", "ready_for_pickup", "partially_shipped", "shipped", "delivered", "collected", "partially_returned",
        "returned"}
CENT = Decimal("0.01")


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _q(value: Decimal, places: str = "0.01") -> str:
    return str(Decimal(value).quantize(Decimal(places), rounding=ROUND_HALF_EVEN))


def _ratio(a: Any, b: Any, places: str = "0.0001") -> str | None:
    return None if not b else _q(Decimal(a) / Decimal(b), places)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


class Rows:
    """Everything the figures are made of, read once."""

    def __init__(self, db: Database) -> None:
        with db.engine.connect() as conn:
            def rows(sql: str) -> list[dict[str, Any]]:
                return [dict(r._mapping) for r in conn.execute(sa.text(sql))]

            self.orders = rows("SELECT id, channel_code, customer_id, status, currency, total, created_at, "
                               "pickup_location, cart_id FROM orders")
            self.lines = rows("SELECT order_id, line_no, quantity, returned, location_code FROM order_lines")
            self.returns = rows("SELECT order_id, refund_amount FROM returns")
            self.aliases = {r["merged_id"]: r["survivor_id"] for r in rows("SELECT * FROM customer_aliases")}
            self.carts = {r["id"]: r["channel_code"] for r in rows("SELECT id, channel_code FROM carts")}
            self.events = rows("SELECT customer_id, type, channel, occurred_at, source, properties "
                               "FROM customer_events")
            self.ledger = rows("SELECT id, location_code, sku, kind, on_hand_delta, on_hand_after, at "
                               "FROM stock_ledger ORDER BY id")
            self.levels = rows("SELECT location_code, sku, on_hand FROM stock_levels")
        self.sales = self._sales()

    def person(self, customer_id: str | None) -> str | None:
        return self.aliases.get(customer_id, customer_id) if customer_id else None

    def _sales(self) -> list[dict[str, Any]]:
        refunded: dict[str, Decimal] = defaultdict(Decimal)
        for r in self.returns:
            refunded[r["order_id"]] += Decimal(r["refund_amount"]).quantize(Decimal("0.0001"))
        lines: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for line in self.lines:
            lines[line["order_id"]].append(line)
        out = []
        for o in self.orders:
            if o["status"] not in SOLD:
                continue
            mine = sorted(lines[o["id"]], key=lambda x: x["line_no"])
            out.append({"id": o["id"], "channel": o["channel_code"], "currency": o["currency"],
                        "customer": self.person(o["customer_id"]), "at": _utc(o["created_at"]),
                        "revenue": Decimal(o["total"]).quantize(Decimal("0.0001")) - refunded[o["id"]],
                        "units": sum(x["quantity"] - x["returned"] for x in mine),
                        "location": o["pickup_location"] or (mine[0]["location_code"] if mine else None),
                        "cart_channel": self.carts.get(o["cart_id"]) if o["cart_id"] else None})
        return out

    # ---- the figures ------------------------------------------------------------------------------------------

    def summary(self, start: datetime, end: datetime, channel: str | None = None, location: str | None = None,
                currency: str | None = None) -> dict[str, Any]:
        history: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for s in self.sales:
            if s["customer"] and s["at"] < end:
                history[s["customer"]].append(s)
        chosen = [s for s in self.sales if start <= s["at"] < end and (not channel or s["channel"] == channel)
                  and (not location or s["location"] == location) and (not currency or s["currency"] == currency)]
        items = []
        for cur in sorted({s["currency"] for s in chosen}):
            mine = [s for s in chosen if s["currency"] == cur]
            revenue = sum((s["revenue"] for s in mine), Decimal(0))
            people = {s["customer"] for s in mine if s["customer"]}
            new = sum(1 for p in people if min(h["at"] for h in history[p]) >= start)
            repeat = sum(1 for p in people if len(history[p]) >= 2)
            omni = sum(1 for p in people if len({h["channel"] for h in history[p]}) >= 2)
            items.append({"currency": cur, "orders": len(mine), "revenue": _q(revenue),
                          "units": sum(s["units"] for s in mine), "customers": len(people), "new_customers": new,
                          "average_order_value": _q(revenue / len(mine)), "repeat_customers": repeat,
                          "repeat_rate": _ratio(repeat, len(people)), "omnichannel_customers": omni,
                          "omnichannel_share": _ratio(omni, len(people))})
        return {"from": _iso(start), "to": _iso(end), "channel": channel, "location": location, "items": items}

    def timeseries(self, metric: str, by: str, start: datetime, end: datetime, split: str | None = None
                   ) -> list[dict[str, Any]]:
        def bucket(day: date) -> date:
            if by == "week":
                return day - timedelta(days=day.weekday())
            if by == "month":
                return day.replace(day=1)
            if by == "year":
                return day.replace(month=1, day=1)
            return day

        axis = []
        day = start.date()
        while day < end.date() or (day == end.date() and end > datetime.combine(day, datetime.min.time(), UTC)):
            if bucket(day) not in axis:
                axis.append(bucket(day))
            day += timedelta(days=1)
        groups: dict[tuple[Any, Any], dict[date, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for s in self.sales:
            if start <= s["at"] < end:
                cur = s["currency"] if metric == "revenue" else None
                groups[(cur, s[split] if split else None)][bucket(s["at"].date())].append(s)
        series = []
        for (cur, key), per in sorted(groups.items(), key=lambda g: (str(g[0][0]), str(g[0][1]))):
            points = []
            for b in axis:
                mine = per.get(b, [])
                if metric == "revenue":
                    value: Any = _q(sum((s["revenue"] for s in mine), Decimal(0)))
                elif metric == "orders":
                    value = len(mine)
                elif metric == "units":
                    value = sum(s["units"] for s in mine)
                else:
                    value = len({s["customer"] for s in mine if s["customer"]})
                points.append({"period": b.strftime("%Y-%m") if by == "month" else b.strftime("%Y")
                               if by == "year" else b.isoformat(), "value": value})
            series.append({"currency": cur, "channel": key if split == "channel" else None,
                           "location": key if split == "location" else None, "points": points})
        return series

    def cohorts(self, by: str, end: datetime) -> list[dict[str, Any]]:
        def period(moment: datetime) -> tuple[int, int]:
            return (moment.year, moment.month if by == "month" else 1)

        def offset(a: tuple[int, int], b: tuple[int, int]) -> int:
            return (b[0] - a[0]) * 12 + b[1] - a[1] if by == "month" else b[0] - a[0]

        active: dict[str, set[tuple[int, int]]] = defaultdict(set)
        for s in self.sales:
            if s["customer"] and s["at"] < end:
                active[s["customer"]].add(period(s["at"]))
        last = period(end - timedelta(microseconds=1))
        cohorts: dict[tuple[int, int], list[set[tuple[int, int]]]] = defaultdict(list)
        for periods in active.values():
            cohorts[min(periods)].append(periods)
        out = []
        for first in sorted(cohorts):
            members = cohorts[first]
            size = len(members)
            rows = []
            for k in range(offset(first, last) + 1):
                n = sum(1 for m in members if any(offset(first, p) == k for p in m))
                rows.append({"offset": k, "customers": n, "share": _ratio(n, size)})
            label = f"{first[0]:04d}-{first[1]:02d}" if by == "month" else f"{first[0]:04d}"
            out.append({"cohort": label, "size": size, "periods": rows})
        return out

    def sessions(self, start: datetime, end: datetime) -> dict[str, int]:
        visits: dict[tuple[str, str], list[datetime]] = defaultdict(list)
        for ev in self.events:
            if ev["source"] == "events" and ev["channel"] and ev["type"] not in (
                    "nps_answered", "survey_answered", "message_opened", "message_clicked"):
                visits[(self.person(ev["customer_id"]), ev["channel"])].append(_utc(ev["occurred_at"]))
        counts: dict[str, int] = defaultdict(int)
        for (_, chan), times in visits.items():
            previous = None
            for moment in sorted(t for t in times if t < end):
                if (previous is None or moment - previous > timedelta(minutes=30)) and moment >= start:
                    counts[chan] += 1
                previous = moment
        return counts

    def channels(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        sessions = self.sessions(start, end)
        groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for s in self.sales:
            if start <= s["at"] < end:
                groups[(s["channel"], s["currency"])].append(s)
        out = []
        for (chan, cur), mine in sorted(groups.items()):
            revenue = sum((s["revenue"] for s in mine), Decimal(0))
            elsewhere = sum(1 for s in mine if s["cart_channel"] and s["cart_channel"] != chan)
            out.append({"channel": chan, "currency": cur, "orders": len(mine), "revenue": _q(revenue),
                        "average_order_value": _q(revenue / len(mine)),
                        "customers": len({s["customer"] for s in mine if s["customer"]}),
                        "sessions": sessions.get(chan, 0), "conversion": _ratio(len(mine), sessions.get(chan, 0)),
                        "started_elsewhere": elsewhere, "started_elsewhere_share": _ratio(elsewhere, len(mine))})
        return out

    def omnichannel(self, end: datetime) -> list[dict[str, Any]]:
        mine = [s for s in self.sales if s["customer"] and s["at"] < end]
        used: dict[str, set[str]] = defaultdict(set)
        for s in mine:
            used[s["customer"]].add(s["channel"])
        out = []
        for cur in sorted({s["currency"] for s in mine}):
            item: dict[str, Any] = {"currency": cur}
            for name, test in (("one_channel", lambda n: n == 1), ("two_or_more_channels", lambda n: n >= 2)):
                group = [s for s in mine if s["currency"] == cur and test(len(used[s["customer"]]))]
                people = {s["customer"] for s in group}
                spend = sum((s["revenue"] for s in group), Decimal(0))
                item[name] = {"customers": len(people), "orders": len(group),
                              "spend": _q(spend) if group else None,
                              "average_order_value": _q(spend / len(group)) if group else None,
                              "spend_per_customer": _q(spend / len(people)) if people else None,
                              "orders_per_customer": _ratio(len(group), len(people), "0.01")}
            out.append(item)
        return out

    def clv_inputs(self, as_of: date) -> dict[tuple[str, str], dict[str, Any]]:
        per: dict[tuple[str, str], dict[date, list[Decimal]]] = defaultdict(lambda: defaultdict(list))
        cutoff = datetime.combine(as_of, datetime.min.time(), UTC)
        for s in self.sales:
            if s["customer"] and s["at"] < cutoff:
                per[(s["currency"], s["customer"])][s["at"].date()].append(s["revenue"])
        out = {}
        for key, days in per.items():
            ordered = sorted(days)
            values = [sum(days[d], Decimal(0)) for d in ordered]
            x = len(ordered) - 1
            out[key] = {"x": x, "t_x": (ordered[-1] - ordered[0]).days / 7, "T": (as_of - ordered[0]).days / 7,
                        "m": float(sum(values[1:], Decimal(0)) / x) if x else 0.0,
                        "historic": _q(sum(values, Decimal(0))), "orders": sum(len(v) for v in days.values()),
                        "first": ordered[0].isoformat(), "last": ordered[-1].isoformat()}
        return out

    def inventory(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        days = (end - start).total_seconds() / 86400
        per: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in self.ledger:
            per[(row["location_code"], row["sku"])].append({**row, "at": _utc(row["at"])})
        out = []
        for level in sorted(self.levels, key=lambda r: (r["sku"], r["location_code"])):
            rows = [r for r in per[(level["location_code"], level["sku"])] if r["at"] < end]
            unit_days = out_days = 0.0
            sold = 0
            for i, row in enumerate(rows):
                valid_to = rows[i + 1]["at"] if i + 1 < len(rows) else end
                seg = (min(valid_to, end) - max(row["at"], start)).total_seconds() / 86400
                if seg > 0:
                    unit_days += row["on_hand_after"] * seg
                    if row["on_hand_after"] == 0:
                        out_days += seg
                if row["kind"] == "sale" and row["at"] >= start:
                    sold -= row["on_hand_delta"]
            average = unit_days / days
            rate = sold / days
            out.append({"sku": level["sku"], "location": level["location_code"], "on_hand": level["on_hand"],
                        "sold": sold, "average_on_hand": round(average, 2),
                        "turnover": round(sold / average, 4) if average else None,
                        "days_of_cover": round(level["on_hand"] / rate, 1) if rate else None,
                        "stock_out_days": round(out_days, 2)})
        return out

    def nps(self, start: datetime, end: datetime) -> dict[str, Any]:
        def score(counts: list[int]) -> dict[str, Any]:
            n = sum(counts)
            value = float(_q(Decimal(100 * (counts[0] - counts[2])) / n, "0.1")) if n else None
            return {"responses": n, "promoters": counts[0], "passives": counts[1], "detractors": counts[2],
                    "nps": value}

        overall = [0, 0, 0]
        chans: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        stores: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for ev in self.events:
            props = ev["properties"] if isinstance(ev["properties"], dict) else json.loads(ev["properties"])
            if ev["type"] != "nps_answered" or not start <= _utc(ev["occurred_at"]) < end:
                continue
            s = props.get("score")
            kind = 0 if s >= 9 else 1 if s >= 7 else 2
            for bucket in (overall, chans[ev["channel"]], *([stores[props["location"]]] if props.get("location")
                                                              else [])):
                bucket[kind] += 1
        return {"from": _iso(start), "to": _iso(end), "overall": score(overall),
                "channels": [{"channel": k, **score(v)} for k, v in sorted(chans.items())],
                "locations": [{"location": k, **score(v)} for k, v in sorted(stores.items())]}


def expected_purchases(params: dict[str, float], t: float, x: float, t_x: float, T: float) -> float:
    """BG/NBD E[Y(t) | x, t_x, T] written out again (Fader, Hardie & Lee 2005, eq. 10)."""
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    top = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x)
                                         * special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t)))
    bottom = 1 + (a / (b + x - 1)) * ((alpha + T) / (alpha + t_x)) ** (r + x) if x > 0 else 1
    return float(top / bottom)


def expected_spend(params: dict[str, float], x: float, m: float) -> float:
    p, q, g = params["p"], params["q"], params["gamma"]
    return (q - 1) / (p * x + q - 1) * (p * g / (q - 1)) + (p * x) / (p * x + q - 1) * m
