"""The webhooks page: a subscription's dead letters are listed and redelivered from the console."""

from __future__ import annotations

from tests.builders import ok, product
from tests.integration.console.conftest import csrf_of, login, make_user
from tests.webhook_receiver import Receiver

from omnihub.worker import run_worker


def test_a_dead_delivery_is_listed_and_redelivered_from_the_console(admin, browser_for, db, clock, settings) -> None:
    rx = Receiver(status=503).start()
    try:
        hook = ok(admin.post("/api/v1/webhooks", json={"url": rx.url, "events": ["product.created"]}), 201)
        product(admin, "SKU-1")
        for _ in range(4):
            run_worker(settings.model_copy(update={"webhook_max_attempts": 2}), clock=clock, once=True, db=db)
            clock.advance(hours=2)
        [dead] = ok(admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params={"status": "dead"}))["items"]
        email, password = make_user(db, clock, "admin")
        console = login(browser_for(), email, password)

        listing = console.get("/webhooks")
        page = console.get(f"/webhooks/{hook['id']}", params={"status": "dead"})
        redelivered = console.post(f"/webhooks/{hook['id']}/deliveries/{dead['id']}/redeliver",
                                   data={"csrf_token": csrf_of(page.text), "status": "dead"}, follow_redirects=False)
        pending = ok(admin.get(f"/api/v1/webhooks/{hook['id']}/deliveries", params={"status": "pending"}))["items"]
        again = console.post(f"/webhooks/{hook['id']}/deliveries/{dead['id']}/redeliver",
                             data={"csrf_token": csrf_of(page.text)})
    finally:
        rx.stop()

    assert rx.url in listing.text and f'href="/webhooks/{hook["id"]}?status=dead">1</a>' in listing.text
    assert "product.created" in page.text and "503" in page.text
    assert redelivered.status_code == 303
    assert redelivered.headers["location"] == f"/webhooks/{hook['id']}?done=redeliver"
    assert [d["id"] for d in pending] == [dead["id"]]
    assert again.status_code == 409  # already pending: the API's refusal, shown on the page
