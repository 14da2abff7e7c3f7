"""The NPS survey: an automation e-mails the link after an order; the answer (by the link's form or as JSON) is
`nps_answered` on the customer's timeline with the order's channel and store, once."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.builders import ok, problem
from tests.integration.automation.test_rules_and_guards import person
from tests.provider_receiver import Mailbox


def test_the_survey_link_records_one_answer_about_the_store(shop: TestClient, mailbox: Mailbox, work,
                                                             associate) -> None:
    ok(shop.post("/api/v1/automations", json={
        "name": "NPS", "trigger": {"event": "order.created"}, "conditions": [],
        "steps": [{"action": "send", "channel": "email", "template": "nps_survey"}], "active": True}), 201)
    customer = person(shop, "nps@correo.es", "+34600000021", "email_marketing")
    ok(shop.post("/api/v1/orders", headers=associate("bcn"), json={
        "channel": "store", "customer": {"email": "nps@correo.es"}, "lines": [{"sku": "MUG", "quantity": 1}],
        "fulfilment": {"type": "in_store", "location": "bcn"}, "payments": [{"method": "cash", "amount": "11.00"}]}),
        201)
    work()
    [mail] = mailbox.messages
    link = next(w for w in mail.get_body(("plain",)).get_content().split() if "/automation/nps/" in w)
    path = link.removeprefix("http://hub.test")
    assert 'name="score" value="10"' in shop.get(path).text

    problem(shop.post(path, json={"score": 11}), 422, "invalid_score")
    assert ok(shop.post(path, json={"score": 9}))["location"] == "bcn"
    problem(shop.post(path, data={"score": "3"}), 409, "already_answered")
    [answer] = ok(shop.get(f"/api/v1/customers/{customer}/timeline", params={"type": "nps_answered"}))["items"]
    assert (answer["channel"], answer["properties"]["score"], answer["properties"]["location"]) == ("store", 9, "bcn")
