"""Every console route by every role, generated from the app's routes: a route without a row here fails, and the
server refuses (403) what a role may not do whatever the menu shows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from tests.builders import location
from tests.integration.console.conftest import csrf_of, login, make_user

from omnihub.app import create_app
from omnihub.config import Settings
from omnihub.console import rules
from omnihub.console.web import ConsoleRoute

PUBLIC = None
ANY = "any"
# (method, path) → who may: a page of rules.PAGES (its roles), an action of rules.ACTIONS ("page:action"),
# ANY logged-in person, or PUBLIC.
TABLE: dict[tuple[str, str], str | None] = {
    ("GET", "/login"): PUBLIC, ("POST", "/login"): PUBLIC,
    ("GET", "/csat/{token}"): PUBLIC, ("POST", "/csat/{token}"): PUBLIC,  # the survey's token is the credential
    ("GET", "/"): ANY,
    ("POST", "/logout"): "profile",
    ("GET", "/profile"): "profile", ("POST", "/profile/password"): "profile",
    ("POST", "/profile/language"): "profile",
    ("GET", "/dashboard"): "dashboard",
    ("GET", "/orders"): "orders", ("GET", "/orders/{ref}"): "orders",
    ("POST", "/orders/{ref}/cancel"): "orders:order.cancel", ("POST", "/orders/{ref}/ready"): "orders:order.ready",
    ("POST", "/orders/{ref}/collect"): "orders:order.collect", ("POST", "/orders/{ref}/payments"): "orders:order.pay",
    ("POST", "/orders/{ref}/shipments"): "orders:order.ship",
    ("POST", "/orders/{ref}/shipments/{shipment_id}/delivered"): "orders:order.ship",
    ("GET", "/counter"): "counter", ("GET", "/counter/pickups"): "counter",
    ("POST", "/counter/pickups/{order_id}/ready"): "counter:order.ready",
    ("POST", "/counter/pickups/{order_id}/collect"): "counter:order.collect",
    ("POST", "/counter/returns"): "counter:return.create",
    ("GET", "/counter/sale"): "counter:sale.create", ("POST", "/counter/sale"): "counter:sale.create",
    ("GET", "/customers"): "customers", ("GET", "/customers/{customer_id}"): "customers",
    ("GET", "/customers/{customer_id}/export"): "customers:customer.export",
    ("POST", "/customers/{customer_id}/merge"): "customers:customer.merge",
    ("POST", "/customers/{customer_id}/merges/{merge_id}/undo"): "customers:customer.merge",
    ("POST", "/customers/{customer_id}/erase"): "customers:customer.erase",
    ("GET", "/inventory"): "inventory", ("GET", "/inventory/{location}/{sku}"): "inventory",
    ("POST", "/inventory/{location}/{sku}/movements"): "inventory:stock.move",
    ("GET", "/inventory/reconciliation"): "inventory",
    ("POST", "/inventory/reconciliation"): "inventory:stock.reconcile",
    ("GET", "/catalog"): "catalog",
    ("GET", "/automations"): "automations", ("GET", "/automations/{rule_id}"): "automations",
    ("GET", "/segments"): "segments", ("POST", "/segments"): "segments", ("POST", "/segments/count"): "segments",
    ("GET", "/segments/{segment_id}"): "segments", ("POST", "/segments/{segment_id}/recompute"): "segments",
    ("POST", "/segments/{segment_id}/delete"): "segments",
    ("GET", "/audiences"): "audiences", ("GET", "/audiences/{name}"): "audiences",
    ("POST", "/audiences/{name}/exports"): "audiences",
    ("GET", "/audiences/{name}/exports/{export_id}/{part}.csv"): "audiences",
    ("GET", "/campaigns"): "campaigns",
    ("POST", "/automations"): "automations:automation.edit",
    ("POST", "/automations/{rule_id}/active"): "automations:automation.edit",
    ("GET", "/webhooks"): "webhooks", ("GET", "/webhooks/{webhook_id}"): "webhooks",
    ("POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): "webhooks:webhook.redeliver",
    ("GET", "/inbox"): "inbox", ("GET", "/inbox/{conversation_id}"): "inbox",
    ("GET", "/inbox/{conversation_id}/thread"): "inbox",
    ("POST", "/inbox/{conversation_id}/reply"): "inbox:conversation.work",
    ("POST", "/inbox/{conversation_id}/notes"): "inbox:conversation.work",
    ("POST", "/inbox/{conversation_id}/assign"): "inbox:conversation.work",
    ("POST", "/inbox/{conversation_id}/snooze"): "inbox:conversation.work",
    ("POST", "/inbox/{conversation_id}/resolve"): "inbox:conversation.work",
    ("GET", "/reply-templates"): "reply-templates", ("GET", "/reply-templates/{code}"): "reply-templates",
    ("GET", "/reply-templates/new"): "reply-templates:template.edit",
    ("POST", "/reply-templates"): "reply-templates:template.edit",
    ("POST", "/reply-templates/{code}"): "reply-templates:template.edit",
    ("POST", "/reply-templates/{code}/delete"): "reply-templates:template.edit",
    ("GET", "/kb"): "kb", ("GET", "/kb/new"): "kb", ("POST", "/kb/new"): "kb", ("GET", "/kb/{article_id}"): "kb",
    ("POST", "/kb/{article_id}"): "kb", ("POST", "/kb/{article_id}/publish"): "kb",
    ("POST", "/kb/{article_id}/delete"): "kb:kb.delete",
    ("GET", "/connectors"): "connectors", ("GET", "/connectors/dead-letters"): "connectors",
    ("GET", "/connectors/dead-letters/{letter_id}"): "connectors",
    ("POST", "/connectors/dead-letters/{letter_id}/replay"): "connectors:connector.replay",
    ("GET", "/connectors/payment-notifications"): "connectors",
    ("GET", "/connectors/payment-notifications/{notification_id}"): "connectors",
    ("POST", "/connectors/payment-notifications/{notification_id}/retry"): "connectors:connector.replay",
    ("GET", "/imports"): "imports", ("GET", "/imports/jobs"): "imports", ("POST", "/imports"): "imports",
    ("GET", "/imports/{job_id}"): "imports", ("GET", "/imports/{job_id}/progress"): "imports",
    ("GET", "/imports/{job_id}/report.json"): "imports",
}


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every route with its full path, through included routers (FastAPI keeps those as lazy branches)."""
    for route in routes:
        if hasattr(route, "original_router"):
            inner = prefix + (getattr(route.include_context, "prefix", "") or "")
            yield from _walk(route.original_router.routes, inner)
        else:
            yield prefix + getattr(route, "path", ""), route


def console_routes() -> set[tuple[str, str]]:
    app = create_app(Settings(database_url="sqlite://", secret_key="test-secret-key"))
    return {(method, path) for path, route in _walk(app.routes) if isinstance(route, ConsoleRoute)
            for method in route.methods - {"HEAD"}}


def allowed(rule: str | None, role: str) -> bool:
    if rule in (PUBLIC, ANY):
        return True
    page, _, action = rule.partition(":")
    return rules.may_open(role, page) and (not action or rules.may(role, action))


def test_every_console_route_has_a_row_and_none_is_under_the_api() -> None:
    found = console_routes()
    assert found == set(TABLE), f"add rows for {found - set(TABLE)}; remove {set(TABLE) - found}"
    assert not [path for _, path in found if path.startswith("/api")]


@pytest.mark.parametrize("role", rules.ROLES)
def test_each_role_reaches_only_its_routes(admin, browser_for, db, clock, role) -> None:
    location(admin, "sol")
    email, password = make_user(db, clock, role, location="sol" if role == "associate" else None)
    client = login(browser_for(), email, password)
    token = csrf_of(client.get("/profile").text)
    routes = sorted(console_routes(), key=lambda r: r[1] == "/logout")  # log out last
    for method, path in routes:
        if TABLE[(method, path)] is PUBLIC:
            continue  # the login form has its own CSRF cookie (test_auth)
        url = re.sub(r"\{[^}]+\}", "nothing-here", path)
        if method == "GET":
            answer = client.get(url, follow_redirects=False)
        else:
            answer = client.post(url, data={"csrf_token": token}, follow_redirects=False)
        if allowed(TABLE[(method, path)], role):
            # allowed by role (a 403 may still come from scope: another store's stock is location_not_allowed)
            assert "role_not_allowed" not in answer.text, (method, path, role)
            assert answer.status_code < 500, (method, path, role)
        else:
            assert answer.status_code == 403, (method, path, role, answer.status_code)
            assert "role_not_allowed" in answer.text
