"""Journey 5 end to end through HTTP, time moved by the test clock: an app cart left idle brings one e-mail (its
items, a working unsubscribe link, RFC 8058 headers); the customer's store check-in brings one SMS with a single-use
coupon valid only in store channels; the counter order with it is credited to the rule; a customer without
marketing consent gets nothing and the log says why; a redelivered event sends nothing twice."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.conftest import make_key
from tests.integration.automation.conftest import consent
from tests.provider_receiver import Mailbox, ProviderReceiver

from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.core.events import outbox

CART_RULE = {"name": "Carrito", "trigger": {"event": "cart.abandoned"}, "conditions": [],
             "steps": [{"action": "send", "channel": "email", "template": "abandoned_cart"}], "active": True}
STORE_RULE = {"name": "Oferta en tienda", "trigger": {"event": "store_visit"},
              "conditions": [{"field": "customer.days_since_cart_abandoned", "op": "<=", "value": 7}],
              "steps": [{"action": "coupon", "kind": "percent", "value": "10", "valid_for": "P7D",
                         "channels": "store"},
                        {"action": "send", "channel": "sms", "template": "store_offer"}], "active": True}


def app_cart(shop: TestClient, db: Database, clock: ManualClock, email: str, phone: str) -> dict:
    app = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='app')}"}
    cart = ok(shop.post("/api/v1/carts", headers=app, json={
        "channel": "app", "identity": {"email": email, "phone": phone}}), 201)
    ok(shop.put(f"/api/v1/carts/{cart['id']}/lines", headers=app, json=[{"sku": "TEE-M", "quantity": 2},
                                                                       {"sku": "MUG", "quantity": 1}]))
    return cart


def store_visit(shop: TestClient, db: Database, clock: ManualClock, phone: str) -> None:
    store = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='store')}"}
    ok(shop.post("/api/v1/events", headers=store, json=[{
        "type": "store_visit", "channel": "store", "at": clock.now().isoformat(), "identity": {"phone": phone},
        "properties": {"location": "mad"}}]))


def redeliver_all(db: Database, types: tuple[str, ...]) -> None:
    """The outbox hands these events over again (a dispatcher that died before recording them)."""
    with db.transaction() as conn:
        conn.execute(outbox.update().where(outbox.c.type.in_(types)).values(dispatched_at=None, position=None))


def test_journey_5_abandoned_cart_store_visit_coupon_and_attribution(
        shop: TestClient, db: Database, clock: ManualClock, mailbox: Mailbox, twilio: ProviderReceiver, work,
        associate) -> None:
    cart_rule = ok(shop.post("/api/v1/automations", json=CART_RULE), 201)
    store_rule = ok(shop.post("/api/v1/automations", json=STORE_RULE), 201)
    ok(shop.patch("/api/v1/channels/app", json={"cart_abandoned_after": "PT4H"}))
    cart = app_cart(shop, db, clock, "lucia.mora@correo.es", "+34611222333")
    customer = cart["customer_id"]
    consent(shop, customer, "email_marketing")
    consent(shop, customer, "sms")

    clock.advance(hours=3, minutes=59)
    work()
    assert mailbox.messages == []  # not idle long enough yet

    clock.advance(minutes=2)
    work()
    [mail] = mailbox.messages
    assert mail["To"] == "lucia.mora@correo.es"
    text = mail.get_body(("plain",)).get_content()
    assert "2 x Organic Tee M" in text and "1 x Stoneware Mug" in text and "51.00 EUR" in text
    unsubscribe = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Unsubscribe: "))
    assert mail["List-Unsubscribe"].strip() == f"<{unsubscribe}>"  # folded: long
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe.startswith("http://hub.test/api/v1/automation/u/")

    # Redelivered: the cart.abandoned event and a second scan of the same idle period send nothing more.
    redeliver_all(db, ("cart.abandoned",))
    clock.advance(hours=1)
    work()
    assert len(mailbox.messages) == 1

    # She checks in at the Madrid store: one SMS with a personal code valid only in store channels.
    store_visit(shop, db, clock, "+34611222333")
    work()
    [sms] = twilio.calls
    assert sms.form["To"] == "+34611222333" and sms.form["From"] == "+34910000000"
    code = next(word for word in sms.form["Body"].split() if word.startswith("AU-"))
    promotion = ok(shop.get("/api/v1/promotions", params={"limit": 200}))["items"]
    [coupon] = [p for p in promotion if p["code"] == code]
    assert coupon["usage_limit"] == 1 and coupon["channels"] == ["store"] and coupon["customer_ids"] == [customer]
    assert coupon["ends_at"] is not None
    redeliver_all(db, ("customer.store_visit",))
    work()
    assert len(twilio.calls) == 1  # the redelivered check-in starts nothing

    # The code does not work online; at the counter it does, and the sale is credited to the store rule.
    app = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='app')}"}
    problem(shop.post(f"/api/v1/carts/{cart['id']}/checkout", headers=app, json={
        "fulfilment": {"type": "pickup", "location": "mad"}, "promotion_codes": [code]}),
        422, "invalid_promotion_code")
    order = ok(shop.post(f"/api/v1/carts/{cart['id']}/checkout", headers=associate("bcn"), json={
        "channel": "store", "fulfilment": {"type": "in_store", "location": "bcn"}, "promotion_codes": [code],
        "payments": [{"method": "card", "amount": "45.90"}]}), 201)
    assert order["totals"]["total"] == "45.90"
    work()
    results = ok(shop.get(f"/api/v1/automations/{store_rule['id']}/results"))
    assert (results["sent"], results["converted"], results["revenue"]) == (1, 1, {"EUR": "45.90"})
    assert ok(shop.get(f"/api/v1/automations/{cart_rule['id']}/results"))["converted"] == 0

    # One-click unsubscribe (RFC 8058): the link's GET changes nothing, the POST withdraws the consent.
    path = unsubscribe.removeprefix("http://hub.test")
    assert "Unsubscribe" in shop.get(path).text
    assert ok(shop.get(f"/api/v1/customers/{customer}"))["consents"]["email_marketing"]["granted"] is True
    assert shop.post(path, content="List-Unsubscribe=One-Click",
                     headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 200
    assert ok(shop.get(f"/api/v1/customers/{customer}"))["consents"]["email_marketing"]["granted"] is False


def test_without_consent_nothing_is_sent_and_the_log_says_why(
        shop: TestClient, db: Database, clock: ManualClock, mailbox: Mailbox, work) -> None:
    rule = ok(shop.post("/api/v1/automations", json=CART_RULE), 201)
    ok(shop.patch("/api/v1/channels/app", json={"cart_abandoned_after": "PT30M"}))
    cart = app_cart(shop, db, clock, "pablo@correo.es", "+34622333444")  # never opted in

    clock.advance(minutes=31)
    work()

    assert mailbox.messages == []
    log = ok(shop.get(f"/api/v1/automations/{rule['id']}/log"))["items"]
    [skipped] = [e for e in log if e["outcome"] == "skipped"]
    assert (skipped["customer_id"], skipped["action"], skipped["reason"]) == (
        cart["customer_id"], "send", "no email_marketing consent")
    assert ok(shop.get(f"/api/v1/automations/{rule['id']}/results"))["skipped"] == 1


def test_a_bought_cart_is_not_chased_and_quiet_hours_wait_for_the_morning(
        shop: TestClient, db: Database, clock: ManualClock, mailbox: Mailbox, work) -> None:
    rule = ok(shop.post("/api/v1/automations", json={**CART_RULE, "steps": [
        {"wait": "PT2H"}, {"action": "send", "channel": "email", "template": "abandoned_cart"}]}), 201)
    ok(shop.patch("/api/v1/channels/app", json={"cart_abandoned_after": "PT1H"}))
    bought = app_cart(shop, db, clock, "ana@correo.es", "+34633444555")
    consent(shop, bought["customer_id"], "email_marketing")
    clock.advance(hours=1, seconds=1)
    work()  # abandoned: the run waits two hours
    app = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='app')}"}
    ok(shop.post(f"/api/v1/carts/{bought['id']}/checkout", headers=app, json={
        "fulfilment": {"type": "pickup", "location": "mad"}}), 201)
    clock.advance(hours=2)
    work()
    assert mailbox.messages == []
    stops = [e["reason"] for e in ok(shop.get(f"/api/v1/automations/{rule['id']}/log"))["items"]
             if e["outcome"] == "stopped"]
    assert stops == ["goal reached: the cart was bought"]

    # 20:30 in Madrid (19:30 UTC): the cart idles past 21:00, the e-mail waits until 09:00 local time.
    clock.advance(hours=19.5 - clock.now().hour - clock.now().minute / 60 + 24)
    late = app_cart(shop, db, clock, "eva@correo.es", "+34644555666")
    consent(shop, late["customer_id"], "email_marketing")
    clock.advance(hours=3, seconds=1)  # 23:30 local: idle, waited, due — but quiet
    work()
    assert mailbox.messages == []
    clock.advance(hours=9)  # 08:30 local
    work()
    assert mailbox.messages == []
    clock.advance(minutes=31)  # 09:01 local
    work()
    assert [m["To"] for m in mailbox.messages] == ["eva@correo.es"]


def test_the_scan_announces_each_idle_cart_once_across_batches_even_at_one_instant(
        shop: TestClient, db: Database, clock: ManualClock) -> None:
    import sqlalchemy as sa

    from omnihub.automation.carts import scan

    ok(shop.patch("/api/v1/channels/app", json={"cart_abandoned_after": "PT1M"}))
    carts = {app_cart(shop, db, clock, f"c{i}@correo.es", f"+3460000010{i}")["id"] for i in range(3)}
    clock.advance(minutes=2)
    with db.transaction() as conn:
        done = [scan(conn, clock, limit=2) for _ in range(3)]
    assert done == [2, 1, 0]
    with db.read() as conn:
        announced = [data["id"] for data in conn.execute(
            sa.select(outbox.c.data).where(outbox.c.type == "cart.abandoned")).scalars()]
    assert sorted(announced) == sorted(carts)
    clock.advance(hours=5)
    with db.transaction() as conn:
        assert scan(conn, clock) == 0  # still idle, but this idle period was announced
