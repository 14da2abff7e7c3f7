"""The connectors pages: a shop's health and its oversold orders, dead letters with their payload and reason,
replayed from the console once the mapping is fixed."""

from __future__ import annotations

import re

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


def test_the_erps_health_is_on_the_connectors_page(admin, browser_for, db, clock, settings) -> None:
    from omnihub.worker import run_worker

    email, password = make_user(db, clock, "admin")
    console = login(browser_for(), email, password)
    assert "No ERP is configured." in console.get("/connectors").text
    shop_world(admin, on_hand={"IPOD2008GREEN": 5, "IPOD2008RED": 5, "IPOD2008BLACK": 5})
    connect_shopify(admin, "https://omnihub-console-test.invalid")
    ok(admin.put("/api/v1/connectors/erp", json={"endpoint": "https://erp.invalid/api", "token": "t", "mapping": (
        "customer_prefix: C\nguest_customer: C0\narticles: {IPOD2008GREEN: '1', IPOD2008RED: '2', "
        "IPOD2008BLACK: '3'}\ntax_codes: {6: R6}\npayment_methods: {card: TJ}\ndate_format: '%d/%m/%Y'\n"
        "series: {invoice: FV, credit_note: FR}\n")}))
    ok(post_shopify(admin, order_payload(), "orders/create"))
    run_worker(settings, clock=clock, once=True, db=db)

    page = console.get("/connectors").text
    table = page[page.index("ERP connection and its health"):page.index("Oversold")]
    assert "s-error" in table and "contact SHOP-000001: ERP refused by the outbound guard" in table  # .invalid
    counts = re.findall(r'<td class="num">(\d+)</td>', table)
    assert counts == ["0", "0", "1", "0", "1"]  # lag, pending, held (the invoice: no code for shopify), sent, failed
