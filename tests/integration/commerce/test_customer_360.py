"""The 360 view gathers what other rooms know: purchases, carriers, promotions, NPS, support contacts."""

from fastapi.testclient import TestClient
from tests.builders import ok

from omnihub.core.clock import ManualClock

ADDRESS = {"line1": "Passeig de Gracia 1", "city": "Barcelona", "postal_code": "08007", "country": "ES",
           "lat": 41.39, "lon": 2.17}


def test_the_360_view_shows_stores_carriers_promotions_nps_and_support(shop: TestClient, associate,
                                                                      clock: ManualClock) -> None:
    who = {"email": "jordi.puig@correo.es"}
    customer = ok(shop.post("/api/v1/customers", json={"identities": who}), 201)
    ok(shop.post("/api/v1/promotions", json={"code": "JORDI5", "kind": "percent", "value": "5",
                                             "customer_ids": [customer["id"]]}), 201)
    for _ in range(2):
        ok(shop.post("/api/v1/orders", json={"channel": "store", "customer": who, "lines": [
            {"sku": "MUG", "quantity": 1}], "fulfilment": {"type": "in_store", "location": "bcn"},
            "payments": [{"method": "cash", "amount": "11.00"}]}), 201)
    shipped = ok(shop.post("/api/v1/orders", json={"channel": "web", "customer": who, "promotion_codes": ["JORDI5"],
                                                   "lines": [{"sku": "TEE-M", "quantity": 1}],
                                                   "fulfilment": {"type": "ship", "address": ADDRESS},
                                                   "payments": [{"method": "card", "amount": "19.00"}]}), 201)
    location = shipped["lines"][0]["location"]
    ok(shop.post(f"/api/v1/orders/{shipped['id']}/shipments", json={
        "carrier": "seur", "tracking_number": "SEUR-1", "location": location}), 201)
    ok(shop.post("/api/v1/events", json=[
        {"type": "survey_answered", "channel": "web", "at": clock.now().isoformat(), "identity": who,
         "properties": {"nps": 9}},
        {"type": "message_received", "channel": "web", "at": clock.now().isoformat(), "identity": who,
         "properties": {"text": "where is my order?"}},
        {"type": "ticket_opened", "channel": "web", "at": clock.now().isoformat(), "identity": who,
         "properties": {"ticket": "T-1"}}]))

    view = ok(shop.get(f"/api/v1/customers/{customer['id']}"))

    assert view["purchases"]["preferred_store"] == "bcn"
    assert view["purchases"]["carriers_used"] == ["seur"]
    assert view["purchases"]["promotions_redeemed"] == ["JORDI5"]
    assert len(view["purchases"]["promotions_received"]) == 1
    assert view["last_nps"]["score"] == 9
    assert (view["support"]["contacts"], view["support"]["open_problems"]) == (2, 1)
    assert view["stats"]["orders_count"] == 3
    assert sorted(view["stats"]["channels"]) == ["store", "web"]
