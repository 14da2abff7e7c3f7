"""The dashboard shows the analytics room's figures: the same numbers its JSON endpoints give."""

from __future__ import annotations

import re

import pytest
from tests.builders import ok
from tests.integration.console.conftest import login, make_user, pickup_order

pytest.importorskip("omnihub.analytics.queries", reason="the analytics room is not part of this installation")


def test_the_dashboard_cards_equal_the_apis_summary(shop, browser_for, db, clock) -> None:
    first = pickup_order(shop, "sol", "ana@correo.es")
    pickup_order(shop, "bcn", "pere@correo.es", "+34 699 000 111")
    pickup_order(shop, "sol", "ana@correo.es")
    ok(shop.post(f"/api/v1/orders/{first['id']}/cancel"))
    clock.advance(hours=1)
    email, password = make_user(db, clock, "marketer")
    marketer = login(browser_for(), email, password)

    page = marketer.get("/dashboard")
    summary = ok(shop.get("/api/v1/analytics/summary"))

    assert page.status_code == 200, page.text[:500]
    (item,) = summary["items"]
    cards = page.text[page.text.index('id="kpis-EUR"'):]
    value = re.search(r'data-kpi="revenue">.*?class="kpi-value">([^<]+)<', cards, re.S).group(1)
    orders = re.search(r'data-kpi="orders">.*?class="kpi-value">([^<]+)<', cards, re.S).group(1)
    assert value == f"€{float(item['revenue']):,.2f}" and orders == str(item["orders"])
    assert 'data-chart="channel"' in page.text and "Revenue by store" in page.text
    assert '"labels"' in page.text  # the charts' data, drawn by console.js


def test_a_bad_period_on_the_dashboard_shows_the_fields_message(shop, browser_for, db, clock) -> None:
    email, password = make_user(db, clock, "admin")
    admin = login(browser_for(), email, password)

    page = admin.get("/dashboard", params={"created_from": "someday"})

    assert page.status_code == 422 and "Use a date like 2026-12-03." in page.text
