"""The dashboard's service-times card (first response and resolution per channel, median and p90) shows the same
figures as `GET /analytics/service`; the CSAT link page answers a survey once, in Spanish or English."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from tests.builders import ok
from tests.integration.console.conftest import login, make_user

from omnihub.console.rules import compact_duration
from omnihub.core.clock import ManualClock
from omnihub.core.db import Database
from omnihub.service import csat, replies

pytest.importorskip("omnihub.analytics.service_times", reason="the analytics room is not part of this installation")


def _row(html: str, channel: str) -> list[str]:
    row = re.search(rf'<tr[^>]*data-channel="{channel}">(.*?)</tr>', html, re.S)
    assert row, html[html.find('id="service-times"'):][:2000]
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.S)]


def test_the_service_times_card_equals_the_analytics_api(admin: TestClient, browser_for, db: Database,
                                                         clock: ManualClock) -> None:
    quick = ok(admin.post("/api/v1/messages", json={"channel": "webchat", "identity": {"email": "ana@correo.es"},
                                                    "text": "Hola"}), 201)["conversation_id"]
    slow = ok(admin.post("/api/v1/messages", json={"channel": "webchat", "identity": {"email": "eva@correo.es"},
                                                   "text": "Buenas"}), 201)["conversation_id"]
    ok(admin.post("/api/v1/messages", json={"channel": "phone", "identity": {"phone": "+34612000111"},
                                            "text": "Llamada"}), 201)
    clock.advance(minutes=30)
    ok(admin.post(f"/api/v1/conversations/{quick}/resolve"))
    clock.advance(hours=2, minutes=30)
    ok(admin.post(f"/api/v1/conversations/{slow}/resolve"))
    email, password = make_user(db, clock, "marketer")
    page = login(browser_for(), email, password).get("/dashboard", headers={"Accept-Language": "es"})
    assert page.status_code == 200, page.text[:500]
    assert "Tiempos de atención" in page.text

    api = {g["key"]: g for g in ok(admin.get("/api/v1/analytics/service"))["groups"]}
    web = _row(page.text, "webchat")
    assert web[0] == "Chat web" and web[1] == str(api["webchat"]["conversations"]) == "2"
    assert web[2] == "—"  # nobody replied: no first response recorded
    assert web[5] == compact_duration(api["webchat"]["resolution"]["median_seconds"]) == "1 h 45 min"
    assert web[6] == compact_duration(api["webchat"]["resolution"]["p90_seconds"]) == "2 h 45 min"
    phone = _row(page.text, "phone")
    assert phone[0] == "Teléfono" and phone[1] == "1" and phone[5] == "—"
    total = _row(page.text, "all")
    assert total[0] == "Todos los canales" and total[1] == "3"


def test_compact_durations() -> None:
    assert [compact_duration(s) for s in (None, 0, 59.4, 90, 3599, 3600, 11100, 172800, 190800)] == [
        "—", "0 s", "59 s", "2 min", "1 h 00 min", "1 h 00 min", "3 h 05 min", "2 d 0 h", "2 d 5 h"]


def _survey(db: Database, clock: ManualClock, admin: TestClient) -> str:
    cid = ok(admin.post("/api/v1/messages", json={"channel": "webchat", "identity": {"email": "rosa@correo.es"},
                                                  "text": "Hola"}), 201)["conversation_id"]
    ok(admin.post(f"/api/v1/conversations/{cid}/resolve"))
    with db.transaction() as conn:
        return str(csat.ask(conn, clock, cid, outlets=replies.Outlets(smtp=False, mailbox="s@x.es"),
                            link_base="", actor="test")["token"])


def test_the_csat_link_page_takes_one_answer(admin: TestClient, browser_for, db: Database,
                                             clock: ManualClock) -> None:
    token = _survey(db, clock, admin)
    customer = browser_for()  # no login: the token is the credential
    page = customer.get(f"/csat/{token}", headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert page.status_code == 200 and "¿Qué tal te atendimos?" in page.text and 'lang="es"' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "How did we do?" in customer.get(f"/csat/{token}?lang=en").text
    bad = customer.post(f"/csat/{token}?lang=en", data={"score": "9", "comment": "hm"})
    assert bad.status_code == 422 and "Pick a score from 1 to 5." in bad.text
    assert ok(admin.get(f"/api/v1/csat/{token}"))["answered"] is False  # nothing stored
    done = customer.post(f"/csat/{token}", data={"score": "4", "comment": " Rápidos y amables "},
                         headers={"Accept-Language": "es"})
    assert done.status_code == 200 and 'id="csat-thanks"' in done.text and "¡Gracias!" in done.text
    again = customer.post(f"/csat/{token}", data={"score": "1"})
    assert again.status_code == 409 and 'id="csat-answered"' in again.text
    survey = ok(admin.get(f"/api/v1/csat/{token}"))
    assert survey["answered"] is True and survey["score"] == 4
    assert customer.get(f"/csat/{'0' * 32}").status_code == 404
    assert customer.get("/csat/not-a-token").status_code in (404, 422)
