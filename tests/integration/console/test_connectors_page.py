"""The connectors pages: a shop's health and its oversold orders, dead letters with their payload and reason,
replayed from the console once the mapping is fixed."""

from __future__ import annotations

from tests.builders import ok, product
from tests.integration.connectors.shops import connect_shopify, order_payload, post_shopify, shop_world
from tests.integration.console.conftest import csrf_of, login, make_user


def test_health_oversold_and_a_dead_letter_replayed_from_the_console(admin, browser_for, db, clock) -> None:
    shop_world(admin, on_hand={"IPOD2008GREEN": 1, "IPOD2008RED": 1}, skus=("IPOD2008GREEN", "IPOD2008RED"))
    connect_shopify(admin, "https://omnihub-console-test.invalid")
    letter = ok(post_shopify(admin, order_payload(), "orders/create"))["dead_letter"]  # IPOD2008BLACK unknown
    email, password = make_user(db, clock, "admin")
    console = login(browser_for(), email, password)

    health = console.get("/connectors")
    listing = console.get("/connectors/dead-letters", params={"connector": "shopify"})
    detail = console.get(f"/connectors/dead-letters/{letter['id']}")
    failed = console.post(f"/connectors/dead-letters/{letter['id']}/replay", data={"csrf_token": csrf_of(detail.text)},
                          follow_redirects=False)
    product(admin, "IPOD2008BLACK", category="music")
    replayed = console.post(f"/connectors/dead-letters/{letter['id']}/replay",
                            data={"csrf_token": csrf_of(detail.text)}, follow_redirects=False)
    after = console.get(f"/connectors/dead-letters/{letter['id']}", params={"done": "replay"})
    oversold = console.get("/connectors")
    replayed_letter = ok(admin.get(f"/api/v1/connectors/dead-letters/{letter['id']}"))
    order_page = console.get(f"/orders/{replayed_letter['result']['order_id']}")
    forged = console.post(f"/connectors/dead-letters/{letter['id']}/replay", data={"csrf_token": "nope"})

    assert "shopify" in health.text and "IPOD2008BLACK" in health.text  # the last error names it
    assert letter["id"] in listing.text and "unknown_sku" not in listing.text and "IPOD2008BLACK" in listing.text
    assert "&#34;sku&#34;: &#34;IPOD2008BLACK&#34;" in detail.text or '"sku": "IPOD2008BLACK"' in detail.text
    assert failed.status_code == 303 and replayed.status_code == 303
    assert "Replayed." in after.text and "/orders/ord_" in after.text
    assert "Nothing oversold." not in oversold.text and "IPOD2008BLACK @ nyc: \u22121" in oversold.text
    assert forged.status_code == 403
    assert order_page.status_code == 200 and "shopify #1001" in order_page.text
    assert "IPOD2008BLACK @ nyc" in order_page.text
