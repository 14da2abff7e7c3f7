"""The dashboard and the console's home: KPI cards with the change against the previous period, revenue by
channel and by store over time (each chart with its table), the cohort retention heat map, stock-outs and the
service desk's times per channel (first response and resolution, median and p90) —
all from the analytics room's functions, called directly (the same figures its JSON endpoints give). Where the
analytics room is not installed the page says so instead of showing invented numbers."""

from __future__ import annotations

import importlib
import json
import logging
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from omnihub.catalog import queries as catalog
from omnihub.console import rules
from omnihub.console.web import ConsoleRoute, Viewer, current_viewer, page, problem_of, redirect, render
from omnihub.core.errors import DomainError, ValidationFailed

router = APIRouter(route_class=ConsoleRoute)
log = logging.getLogger(__name__)
KPIS = ("revenue", "orders", "average_order_value", "customers", "repeat_rate", "omnichannel_share")


def _analytics() -> Any:
    """The analytics room's read functions, or None where the room is not part of this installation."""
    try:
        return importlib.import_module("omnihub.analytics.queries")
    except ModuleNotFoundError:
        return None


def _products() -> Any:
    return importlib.import_module("omnihub.analytics.products")


def _service_times() -> Any:
    """The service desk's times (GET /analytics/service): first response and resolution per channel."""
    return importlib.import_module("omnihub.analytics.service_times")


@router.get("/")
def home(viewer: Viewer = Depends(current_viewer)) -> Response:
    return redirect(f"/{rules.home_page(viewer.role)}")


def _day(raw: str, field: str) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.combine(date.fromisoformat(raw), datetime.min.time(), UTC)
    except ValueError:
        raise ValidationFailed("invalid_date", "Use a date like 2026-12-03.", field=field) from None


def _change(now: Any, before: Any) -> str | None:
    """The relative change of a figure against the previous period, as a signed percentage (None: no base)."""
    try:
        current, previous = Decimal(str(now)), Decimal(str(before))
    except (InvalidOperation, TypeError, ValueError):
        return None
    if previous == 0:
        return None
    return f"{(current - previous) / previous * 100:+.1f} %"


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _chart(series: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """One chart's data (labels and a dataset per channel or store, per currency) for console.js and the table
    behind it."""
    labels = sorted({p["period"] for s in series for p in s["points"]})
    datasets = []
    for s in series:
        values = {p["period"]: str(p["value"]) for p in s["points"]}
        name = s.get(key) or "—"
        datasets.append({"label": f"{name} ({s['currency']})" if s.get("currency") else name,
                         "data": [values.get(label, "0") for label in labels]})
    return {"labels": labels, "datasets": datasets}


def _figures(analytics: Any, db: Any, now: datetime, start: datetime | None, end: datetime | None,
             channel: str | None) -> dict[str, Any]:
    summary = analytics.summary(db, start=start, end=end, channel=channel, now=now)
    begin, finish = _when(summary["from"]), _when(summary["to"])
    previous = analytics.summary(db, start=begin - (finish - begin), end=begin, channel=channel, now=now)
    before = {item["currency"]: item for item in previous["items"]}
    cards = [{"currency": item["currency"], "figures": {
        k: {"value": item[k], "change": _change(item[k], before.get(item["currency"], {}).get(k))} for k in KPIS}}
        for item in summary["items"]]
    by = "day" if finish - begin <= timedelta(days=62) else "week" if finish - begin <= timedelta(days=366) else "month"
    by_channel = analytics.timeseries(db, metric="revenue", by=by, split="channel", start=begin, end=finish,
                                      channel=channel, now=now)
    by_store = analytics.timeseries(db, metric="revenue", by=by, split="location", start=begin, end=finish,
                                    channel=channel, now=now)
    cohorts = analytics.cohorts(db, period="month", end=finish, channel=channel, now=now)
    stock = analytics.inventory(db, start=begin, end=finish, now=now)
    outs = sorted((i for i in stock["items"] if i["stock_out_days"]), key=lambda i: -i["stock_out_days"])[:10]
    top = _products().top_products(db, start=begin, end=finish, channel=channel, limit=10, now=now)["items"]
    service = _service_times().service_times(db, by="channel", start=begin, end=finish, now=now)
    return {"from": begin, "to": finish, "cards": cards, "by": by, "as_of": now,
            "charts": {"channel": _chart(by_channel["series"], "channel"),
                       "store": _chart(by_store["series"], "location"),
                       "products": _bars(top, "units"),
                       "stock_outs": {"labels": [f"{i['sku']} · {i['location']}" for i in outs],
                                      "datasets": [{"label": "days", "data": [str(i["stock_out_days"]) for i in outs]}],
                                      "type": "bar"}},
            "cohorts": cohorts["cohorts"][-12:], "stock_outs": outs, "top_products": top,
            "service": {"groups": service["groups"], "total": service["total"]}}


def _bars(items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """A bar chart of the top products' units (one bar per product and currency)."""
    return {"labels": [f"{i['sku']} ({i['currency']})" for i in items],
            "datasets": [{"label": key, "data": [str(i[key]) for i in items]}], "type": "bar"}


class FigureCache:
    """The dashboard's figures per (period, channel), at most `max_age` seconds old by the app's clock. A stale
    entry is still served while one background thread recomputes it, so only the first view of a period waits
    for the analytics queries (each of which reads the whole operational database)."""

    def __init__(self) -> None:
        self.entries: dict[Any, tuple[datetime, dict[str, Any]]] = {}
        self.refreshing: set[Any] = set()
        self.lock = threading.Lock()


def _cached_figures(request: Request, analytics: Any, start: datetime | None, end: datetime | None,
                    channel: str | None) -> dict[str, Any]:
    state = request.app.state
    max_age = timedelta(seconds=state.settings.console_dashboard_max_age_seconds)

    def compute() -> dict[str, Any]:
        return _figures(analytics, state.db, state.clock.now(), start, end, channel)

    if not max_age:
        return compute()
    cache: FigureCache | None = getattr(state, "dashboard_cache", None)
    if cache is None:
        cache = state.dashboard_cache = FigureCache()
    key = (start, end, channel)
    now = state.clock.now()
    found = cache.entries.get(key)
    if found is None:
        figures = compute()
        with cache.lock:
            cache.entries[key] = (now, figures)
            if len(cache.entries) > 200:  # many periods looked at: forget the oldest
                del cache.entries[min(cache.entries, key=lambda k: cache.entries[k][0])]
        return figures
    at, figures = found
    if now - at > max_age:
        with cache.lock:
            start_refresh = key not in cache.refreshing
            cache.refreshing.add(key)
        if start_refresh:
            def refresh() -> None:
                try:
                    fresh = compute()
                    with cache.lock:
                        cache.entries[key] = (state.clock.now(), fresh)
                except Exception as exc:  # the figures shown stay the last good ones; the reason is logged
                    log.warning("dashboard refresh failed: %s", exc)
                finally:
                    with cache.lock:
                        cache.refreshing.discard(key)

            threading.Thread(target=refresh, name="dashboard-refresh", daemon=True).start()
    return figures | {"as_of": at}


@router.get("/dashboard")
def dashboard(request: Request, created_from: str = "", created_to: str = "", channel: str = "",
              viewer: Viewer = Depends(page("dashboard"))) -> Response:
    state = request.app.state
    analytics = _analytics()
    filters = {"created_from": created_from, "created_to": created_to, "channel": channel}
    with state.db.read() as conn:
        channels = catalog.list_channels(conn, limit=500, cursor=None)["items"]
    figures, problem = None, None
    if analytics is not None:
        try:
            start, end = _day(created_from, "created_from"), _day(created_to, "created_to")
            figures = _cached_figures(request, analytics, start, end + timedelta(days=1) if end else None,
                                      channel or None)
        except DomainError as exc:
            problem = problem_of(exc)
    charts_json = json.dumps(figures["charts"]) if figures else "{}"
    return render(request, "dashboard.html", {
        "installed": analytics is not None, "figures": figures, "problem": problem, "filters": filters,
        "channels": channels, "charts_json": charts_json}, status=problem["status"] if problem else 200)
