"""The console's automations page: a marketer builds a rule with the form (a bad duration shows the field's message
and saves nothing), switches it off, and reads the run log with the reason a send was skipped."""

from __future__ import annotations

from tests.builders import channel, location, ok
from tests.conftest import make_key
from tests.integration.console.conftest import csrf_of, login, make_user

from omnihub.worker import Worker


def test_a_marketer_builds_a_rule_and_reads_why_a_send_was_skipped(
        admin, browser_for, db, clock, settings) -> None:
    location(admin, "sol")
    channel(admin, "store", kind="store", locations=["sol"])
    email, password = make_user(db, clock, "marketer")
    page = login(browser_for(), email, password)
    token = csrf_of(page.get("/automations").text)

    form = {"csrf_token": token, "name": "Bienvenida en tienda", "trigger": "store_visit", "wait": "in a bit",
            "channel": "email", "template": "order_thanks", "coupon_channels": "all", "active": "on"}
    refused = page.post("/automations", data=form)
    assert refused.status_code == 422 and "steps.0.wait" in refused.text
    assert "Bienvenida en tienda" not in page.get("/automations").text.split("<tbody>", 1)[1]

    made = page.post("/automations", data={**form, "wait": "PT30S"}, follow_redirects=False)
    assert made.status_code == 303
    [rule] = [r for r in ok(admin.get("/api/v1/automations", params={"limit": 100}))["items"]
              if r["name"] == "Bienvenida en tienda"]
    assert rule["active"] and rule["steps"][0] == {"wait": "PT30S"}

    store = {"Authorization": f"Bearer {make_key(db, clock, 'channel', channel='store')}"}
    ok(admin.post("/api/v1/events", headers=store, json=[{
        "type": "store_visit", "channel": "store", "at": clock.now().isoformat(),
        "identity": {"email": "noconsent@correo.es"}}]))
    worker = Worker(settings, db, clock)
    worker.drain(max_steps=20)
    clock.advance(seconds=31)
    worker.drain(max_steps=20)
    worker.close()

    log = page.get(f"/automations/{rule['id']}?outcome=skipped").text
    assert "no email_marketing consent" in log

    off = page.post(f"/automations/{rule['id']}/active", data={"csrf_token": token, "active": ""},
                    follow_redirects=False)
    assert off.status_code == 303
    assert ok(admin.get(f"/api/v1/automations/{rule['id']}"))["active"] is False
