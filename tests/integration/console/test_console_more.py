"""The 360 page's admin actions (merge, unmerge, export, erase with confirmation), the inventory's availability
per channel and reconciliation findings, the dashboard's top products, and a shipment marked delivered from the
order page."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from tests.builders import ok
from tests.integration.console.conftest import csrf_of, login, make_user, pickup_order


def _as(browser_for, db, clock, role: str, location: str | None = None):
    email, password = make_user(db, clock, role, location=location)
    return login(browser_for(), email, password)


def _two_people(shop) -> tuple[str, str]:
    a = ok(shop.post("/api/v1/customers", json={"identities": [{"kind": "email", "value": "ana@correo.es"}]}), 201)
    b = ok(shop.post("/api/v1/customers", json={"identities": [{"kind": "phone", "value": "+34 611 222 333"}]}), 201)
    return a["id"], b["id"]


def test_admin_merges_then_unmerges_on_the_360_page(shop, browser_for, db, clock) -> None:
    ana, other = _two_people(shop)
    admin = _as(browser_for, db, clock, "admin")
    page = admin.get(f"/customers/{ana}")
    token = csrf_of(page.text)

    merged = admin.post(f"/customers/{ana}/merge", data={"csrf_token": token, "other": "611 222 333"},
                        follow_redirects=False)
    assert merged.status_code == 303, merged.text[:500]
    view = admin.get(merged.headers["location"])
    assert "+34611222333" in view.text.replace(" ", "") and ok(shop.get(f"/api/v1/customers/{other}"))["id"] == ana
    merge_id = re.search(r'data-merge="([^"]+)"', view.text).group(1)

    undone = admin.post(f"/customers/{ana}/merges/{merge_id}/undo", data={"csrf_token": token},
                        follow_redirects=False)
    assert undone.status_code == 303
    assert ok(shop.get(f"/api/v1/customers/{other}"))["id"] == other  # the absorbed profile is back
    assert "undone" in admin.get(f"/customers/{ana}").text
    again = admin.post(f"/customers/{ana}/merges/{merge_id}/undo", data={"csrf_token": token})
    assert again.status_code == 409 and "merge_not_undoable" in again.text


def test_merge_refusals_change_nothing(shop, browser_for, db, clock) -> None:
    ana, other = _two_people(shop)
    admin = _as(browser_for, db, clock, "admin")
    agent = _as(browser_for, db, clock, "agent")
    token = csrf_of(admin.get(f"/customers/{ana}").text)

    nobody = admin.post(f"/customers/{ana}/merge", data={"csrf_token": token, "other": "nadie@correo.es"})
    no_csrf = admin.post(f"/customers/{ana}/merge", data={"other": other})
    by_agent = agent.post(f"/customers/{ana}/merge", data={"csrf_token": csrf_of(agent.get("/profile").text),
                                                          "other": other})

    assert nobody.status_code == 422 and "customer_not_found" in nobody.text
    assert no_csrf.status_code == 403 and "csrf_failed" in no_csrf.text
    assert by_agent.status_code == 403 and "role_not_allowed" in by_agent.text
    assert "Merge another profile" not in agent.get(f"/customers/{ana}").text
    assert ok(shop.get(f"/api/v1/customers/{other}"))["id"] == other


def test_admin_downloads_the_apis_export_and_erases_only_after_typing_the_id(shop, browser_for, db, clock) -> None:
    ana, _ = _two_people(shop)
    admin = _as(browser_for, db, clock, "admin")
    associate = _as(browser_for, db, clock, "associate", "sol")
    token = csrf_of(admin.get(f"/customers/{ana}").text)

    export = admin.get(f"/customers/{ana}/export")
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    assert json.loads(export.text) == ok(shop.get(f"/api/v1/customers/{ana}/export")) | {
        "exported_at": json.loads(export.text)["exported_at"]}
    assert associate.get(f"/customers/{ana}/export").status_code == 403

    wrong = admin.post(f"/customers/{ana}/erase", data={"csrf_token": token, "confirm": "yes"})
    assert wrong.status_code == 422 and "confirmation_required" in wrong.text
    assert ok(shop.get(f"/api/v1/customers/{ana}"))["status"] == "active"

    erased = admin.post(f"/customers/{ana}/erase", data={"csrf_token": token, "confirm": ana}, follow_redirects=False)
    assert erased.status_code == 303
    assert ok(shop.get(f"/api/v1/customers/{ana}"))["status"] == "erased"
    assert "ana@correo.es" not in admin.get(erased.headers["location"]).text


def test_the_ledger_shows_availability_per_channel_as_the_api_gives_it(shop, browser_for, db, clock) -> None:
    sol = _as(browser_for, db, clock, "associate", "sol")
    page = sol.get("/inventory/sol/TEE-M")
    for code in ("web", "app"):
        api = ok(shop.get("/api/v1/availability/TEE-M", params={"channel": code}))
        row = re.search(rf'<tr data-channel="{code}">.*?</tr>', page.text, re.S).group(0)
        cells = re.findall(r'<td class="num">([^<]*)</td>', row)
        here = next(loc["available"] for loc in api["locations"] if loc["code"] == "sol")
        assert cells == [str(api["available"]), str(here)], (code, cells, api)


def test_reconciliation_shows_the_checks_findings_and_only_admin_runs_it(shop, browser_for, db, clock) -> None:
    admin = _as(browser_for, db, clock, "admin")
    associate = _as(browser_for, db, clock, "associate", "sol")
    assert "No drift found" in admin.get("/inventory/reconciliation").text
    with db.transaction() as conn:  # a level that no longer agrees with its ledger
        conn.execute(sa.text("UPDATE stock_levels SET on_hand = on_hand + 3 WHERE location_code = 'bcn'"))

    refused = associate.post("/inventory/reconciliation", data={"csrf_token": csrf_of(associate.get("/profile").text)})
    assert refused.status_code == 403
    ran = admin.post("/inventory/reconciliation", data={"csrf_token": csrf_of(admin.get("/profile").text)},
                     follow_redirects=False)
    assert ran.status_code == 303
    page = admin.get(ran.headers["location"])
    assert "Check done: 1 findings." in page.text
    row = re.search(r'<tr class="drift">.*?</tr>', page.text, re.S).group(0)
    assert ">bcn<" in row and "TEE-M" in row and ">5<" in row and ">8<" in row
    assert "No drift found" in associate.get("/inventory/reconciliation").text  # another store's drift


def test_the_dashboard_lists_top_products_with_their_table(shop, browser_for, db, clock) -> None:
    pytest.importorskip("omnihub.analytics.queries")
    pickup_order(shop, "sol")
    ok(shop.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": "pere@correo.es"}, "lines": [{"sku": "TEE-M", "quantity": 2}],
        "fulfilment": {"type": "pickup", "location": "bcn"}, "payments": [{"method": "card", "amount": "40.00"}]}),
        201)
    clock.advance(hours=1)
    admin = _as(browser_for, db, clock, "admin")
    page = admin.get("/dashboard")
    assert page.status_code == 200, page.text[:300]
    table = page.text[page.text.index('id="top-products"'):]
    row = re.search(r"<tr><td>TEE-M</td>.*?</tr>", table, re.S).group(0)
    assert re.findall(r'<td class="num">([^<]*)</td>', row) == ["3", "2", "€60.00"]
    assert 'data-chart="products"' in page.text and 'data-chart="stock_outs"' in page.text


def test_a_shipment_is_marked_delivered_from_the_order_page(shop, browser_for, db, clock) -> None:
    order = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": "ana@correo.es"}, "lines": [{"sku": "TEE-M", "quantity": 1}],
        "fulfilment": {"type": "ship", "address": {"line1": "Calle Mayor 1", "city": "Madrid", "postal_code": "28013",
                                                   "country": "ES"}},
        "payments": [{"method": "card", "amount": "20.00"}]}), 201)
    admin = _as(browser_for, db, clock, "admin")
    agent = _as(browser_for, db, clock, "agent")
    location = order["lines"][0]["location"]
    shipment = ok(shop.post(f"/api/v1/orders/{order['id']}/shipments", json={
        "carrier": "SEUR", "tracking_number": "T-1", "location": location}), 201)
    page = admin.get(f"/orders/{order['id']}")
    assert f"/shipments/{shipment['id']}/delivered" in page.text

    by_agent = agent.post(f"/orders/{order['id']}/shipments/{shipment['id']}/delivered",
                          data={"csrf_token": csrf_of(agent.get("/profile").text)})
    done = admin.post(f"/orders/{order['id']}/shipments/{shipment['id']}/delivered",
                      data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)

    assert by_agent.status_code == 403
    assert done.status_code == 303
    assert ok(shop.get(f"/api/v1/orders/{order['id']}"))["status"] == "delivered"


def test_the_dashboard_keeps_its_figures_for_a_while_and_refreshes_them_in_the_background(
        shop, browser_for, db, clock, settings) -> None:
    pytest.importorskip("omnihub.analytics.queries")
    import threading

    pickup_order(shop, "sol")
    clock.advance(hours=1)
    admin = _as(browser_for, db, clock, "admin")

    def orders_card() -> str:
        page = admin.get("/dashboard", params={"created_from": "2020-01-01"})
        cards = page.text[page.text.index('id="kpis-EUR"'):]
        return re.search(r'data-kpi="orders">.*?class="kpi-value">([^<]+)<', cards, re.S).group(1)

    assert orders_card() == "1"
    pickup_order(shop, "bcn", "pere@correo.es", "+34 699 000 111")
    assert orders_card() == "1"  # within max_age: the kept figures
    clock.advance(seconds=settings.console_dashboard_max_age_seconds + 1)
    assert orders_card() == "1"  # stale: still shown while the refresh runs
    for thread in [t for t in threading.enumerate() if t.name == "dashboard-refresh"]:
        thread.join(timeout=60)
    assert orders_card() == "2"
