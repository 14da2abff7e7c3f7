"""Rules through the API (validation names the bad field; recipes installed inactive) and the guards before every
send: support hold, frequency cap, unsubscribe; tracked opens and clicks; tags, audiences and webhooks."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key
from tests.integration.automation.conftest import consent
from tests.provider_receiver import Mailbox, ProviderReceiver

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database

VISIT_MAIL = {"name": "Gracias por venir", "trigger": {"event": "store_visit"}, "conditions": [],
              "steps": [{"action": "send", "channel": "email", "template": "order_thanks",
                         "text": "Hola{name}, mira esto: {link}", "url": "https://shop.example/novedades"}],
              "active": True}


def person(api: TestClient, email: str, phone: str, *purposes: str) -> str:
    customer = ok(api.post("/api/v1/customers", json={"name": "Ana", "identities": [
        {"kind": "email", "value": email}, {"kind": "phone", "value": phone}]}), 201)["id"]
    for purpose in purposes:
        consent(api, customer, purpose)
    return customer


def visit(api: TestClient, db: Database, clock: ManualClock, phone: str) -> None:
    store = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='store')}"}
    ok(api.post("/api/v1/events", headers=store, json=[{
        "type": "store_visit", "channel": "store", "at": clock.now().isoformat(), "identity": {"phone": phone}}]))


def reasons(api: TestClient, rule_id: str) -> list[str]:
    return [e["reason"] for e in ok(api.get(f"/api/v1/automations/{rule_id}/log",
                                            params={"outcome": "skipped"}))["items"]]


def test_rules_are_validated_naming_the_bad_field_and_recipes_come_switched_off(shop: TestClient) -> None:
    refused = problem(shop.post("/api/v1/automations", json={**VISIT_MAIL, "steps": [
        {"action": "send", "channel": "pigeon", "template": "order_thanks"}]}), 422, "invalid_automation")
    assert refused["field"] == "steps.0.channel"
    assert problem(shop.post("/api/v1/automations", json={**VISIT_MAIL, "trigger": {"event": "moon.full"}}),
                   422, "invalid_automation")["field"] == "trigger.event"
    assert problem(shop.post("/api/v1/automations", json={**VISIT_MAIL, "colour": "red"}), 422,
                   "validation_error")["status"] == 422

    rule = ok(shop.post("/api/v1/automations", json=VISIT_MAIL), 201)
    assert problem(shop.patch(f"/api/v1/automations/{rule['id']}", json={"steps": [{"wait": "tomorrow"}]}),
                   422, "invalid_automation")["field"] == "steps.0.wait"
    assert ok(shop.patch(f"/api/v1/automations/{rule['id']}", json={"active": False}))["active"] is False
    assert ok(shop.get(f"/api/v1/automations/{rule['id']}"))["steps"] == VISIT_MAIL["steps"]

    recipes = [r for r in ok(shop.get("/api/v1/automations", params={"limit": 100}))["items"] if r["recipe"]]
    assert {r["recipe"] for r in recipes} >= {"abandoned_cart", "store_checkin_offer", "pickup_reminder",
                                              "post_purchase_nps", "win_back"}
    assert not any(r["active"] for r in recipes)

    assert shop.delete(f"/api/v1/automations/{rule['id']}").status_code == 204
    problem(shop.get(f"/api/v1/automations/{rule['id']}"), 404, "automation_not_found")

    assert problem(shop.patch("/api/v1/channels/app", json={"cart_abandoned_after": "4 hours"}), 422,
                   "validation_error")
    assert ok(shop.patch("/api/v1/channels/app", json={"cart_abandoned_after": "PT90S"}))[
        "cart_abandoned_after"] == "PT1M30S"
    assert ok(shop.patch("/api/v1/channels/app", json={"cart_abandoned_after": None}))["cart_abandoned_after"] is None


def test_sends_skip_a_person_on_support_hold_over_the_cap_or_unsubscribed_and_say_why(
        shop: TestClient, db: Database, clock: ManualClock, mailbox: Mailbox, work) -> None:
    rule = ok(shop.post("/api/v1/automations", json={
        **VISIT_MAIL, "options": {"frequency_cap": {"max": 1, "per": "P1D"}}}), 201)
    angry = person(shop, "angry@correo.es", "+34600000001", "email_marketing")
    ok(shop.post("/api/v1/messages", json={"channel": "webchat", "identity": {"email": "angry@correo.es"},
                                           "text": "Esto es una vergüenza, quiero poner una queja"}), 201)
    person(shop, "happy@correo.es", "+34600000002", "email_marketing")

    visit(shop, db, clock, "+34600000001")
    visit(shop, db, clock, "+34600000002")
    work()
    assert [m["To"] for m in mailbox.messages] == ["happy@correo.es"]
    assert reasons(shop, rule["id"]) == ["support_hold: the customer has an open complaint with the service desk"]
    skipped = ok(shop.get(f"/api/v1/automations/{rule['id']}/log", params={"outcome": "skipped"}))["items"]
    assert skipped[0]["customer_id"] == angry

    clock.advance(hours=2)
    visit(shop, db, clock, "+34600000002")  # a second visit the same day: over the cap
    work()
    assert len(mailbox.messages) == 1
    assert reasons(shop, rule["id"])[0] == "frequency_cap: 1 marketing messages in the last 24 hours"

    # She follows the tracked link (recorded, then redirected to the page) and the pixel loads; then she leaves.
    text = mailbox.messages[0].get_body(("plain",)).get_content()
    link = next(w for w in text.split() if "/automation/c/" in w).removeprefix("http://hub.test")
    html = mailbox.messages[0].get_body(("html",)).get_content()
    assert "/automation/o/" in html
    pixel = html.split('<img src="http://hub.test', 1)[1].split('"', 1)[0]
    assert shop.get(pixel).headers["content-type"] == "image/gif"
    moved = shop.get(link, follow_redirects=False)
    assert (moved.status_code, moved.headers["location"]) == (302, "https://shop.example/novedades")
    problem(shop.get(link[:-1] + "7", follow_redirects=False), 404, "link_not_found")  # no open redirect
    results = ok(shop.get(f"/api/v1/automations/{rule['id']}/results"))
    assert (results["sent"], results["opened"], results["clicked"], results["skipped"]) == (1, 1, 1, 2)

    unsubscribe = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Unsubscribe: "))
    assert shop.post(unsubscribe.removeprefix("http://hub.test")).status_code == 200
    clock.advance(days=2)
    visit(shop, db, clock, "+34600000002")
    work()
    assert len(mailbox.messages) == 1
    assert reasons(shop, rule["id"])[0] == "unsubscribed from email_marketing"
    assert ok(shop.get(f"/api/v1/automations/{rule['id']}/results"))["unsubscribed"] == 1


def test_tags_audiences_and_webhooks_run_in_order_after_a_wait(
        shop: TestClient, db: Database, clock: ManualClock, work) -> None:
    hook = ProviderReceiver().start().route("POST", "/hooks/visit", (200, {"ok": True}))
    try:
        rule = ok(shop.post("/api/v1/automations", json={
            "name": "Visitantes", "trigger": {"event": "store_visit"},
            "conditions": [{"field": "customer.has_email", "op": "==", "value": True}],
            "steps": [{"action": "tag", "tag": "store-visitor"}, {"wait": "PT30S"},
                      {"action": "audience", "audience": "retargeting"},
                      {"action": "webhook", "url": f"{hook.base}/hooks/visit"},
                      {"action": "untag", "tag": "store-visitor"}], "active": True}), 201)
        customer = person(shop, "tag@correo.es", "+34600000003")
        visit(shop, db, clock, "+34600000003")
        work()
        assert "store-visitor" in {t["tag"] for t in ok(shop.get(f"/api/v1/customers/{customer}"))["tags"]}
        assert hook.calls == []  # still waiting: time has not moved
        clock.advance(seconds=31)
        work()
        [call] = hook.calls
        assert call.json["customer_id"] == customer and call.json["trigger"] == "customer.store_visit"
        assert "store-visitor" not in {t["tag"] for t in ok(shop.get(f"/api/v1/customers/{customer}"))["tags"]}
        [run] = ok(shop.get(f"/api/v1/automations/{rule['id']}/runs"))["items"]
        assert (run["status"], run["step"]) == ("done", 5)
        done = [(e["action"], e["outcome"]) for e in reversed(ok(shop.get(
            f"/api/v1/automations/{rule['id']}/log"))["items"])]
        assert done == [("trigger", "started"), ("tag", "done"), ("wait", "waiting"), ("audience", "done"),
                        ("webhook", "done"), ("untag", "done"), ("run", "done")]
    finally:
        hook.stop()


def test_the_win_back_recipe_reaches_a_lapsed_customer_once_with_a_coupon(
        shop: TestClient, clock: ManualClock, mailbox: Mailbox, work) -> None:
    order = ok(shop.post("/api/v1/orders", json={
        "channel": "web", "customer": {"email": "lapsed@correo.es", "phone": "+34600000009"},
        "lines": [{"sku": "TEE-M", "quantity": 1}], "fulfilment": {"type": "pickup", "location": "mad"},
        "payments": [{"method": "card", "amount": "20.00"}]}), 201)
    consent(shop, order["customer_id"], "email_marketing")
    [recipe] = [r for r in ok(shop.get("/api/v1/automations", params={"limit": 100}))["items"]
                if r["recipe"] == "win_back"]
    ok(shop.patch(f"/api/v1/automations/{recipe['id']}", json={"active": True}))
    work()
    assert mailbox.messages == []  # bought today: not lapsed

    clock.advance(days=91)
    work()
    [mail] = mailbox.messages
    body = mail.get_body(("plain",)).get_content()
    assert mail["To"] == "lapsed@correo.es" and "15% off: AU-" in body
    clock.advance(days=1, minutes=1)
    work()
    assert len(mailbox.messages) == 1  # the same lapse is not chased every day


def test_an_erased_customer_leaves_no_address_or_text_in_automation_messages_and_audiences(
        shop: TestClient, db: Database, clock: ManualClock, mailbox: Mailbox, work) -> None:
    rule = ok(shop.post("/api/v1/automations", json={**VISIT_MAIL, "steps": [
        *VISIT_MAIL["steps"], {"action": "audience", "audience": "retargeting"}]}), 201)
    customer = person(shop, "erase.me@correo.es", "+34600000031", "email_marketing")
    visit(shop, db, clock, "+34600000031")
    work()
    assert len(mailbox.messages) == 1
    ok(shop.delete(f"/api/v1/customers/{customer}"))
    [message] = ok(shop.get(f"/api/v1/automations/{rule['id']}/messages"))["items"]
    assert (message["to"], message["body"]) == ("erased", "")
    assert ok(shop.get("/api/v1/audiences")) == []


def test_a_personal_offer_is_scoped_to_the_persons_interests(shop: TestClient, db: Database, clock: ManualClock,
                                                            work) -> None:
    rule = ok(shop.post("/api/v1/automations", json={
        "name": "Oferta personal", "trigger": {"event": "store_visit"}, "conditions": [],
        "steps": [{"action": "coupon", "kind": "percent", "value": "15", "categories": "interests"}],
        "active": True}), 201)
    app = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='app')}"}
    ok(shop.post("/api/v1/events", headers=app, json=[{
        "type": "product_viewed", "channel": "app", "at": clock.now().isoformat(),
        "identity": {"phone": "+34600000051"}, "properties": {"sku": "TEE-M", "category": "apparel"}}]))
    visit(shop, db, clock, "+34600000051")
    visit(shop, db, clock, "+34600000052")  # nobody knows what this one likes
    work()
    [issued] = [e for e in ok(shop.get(f"/api/v1/automations/{rule['id']}/log"))["items"] if e["action"] == "coupon"
                and e["outcome"] == "done"]
    promotion = ok(shop.get(f"/api/v1/promotions/{issued['detail']['promotion_id']}"))
    assert promotion["categories"] == ["apparel"] and promotion["usage_limit"] == 1
    assert "no interests known for this customer" in reasons(shop, rule["id"])
