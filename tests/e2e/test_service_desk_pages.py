"""The service desk's newer pages in a real browser: the dashboard's service-times card and the customer's CSAT
page (Spanish, one answer, no login). Accessibility checked on each; screenshots of both."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from omnihub.service.models import csat_surveys
from tests.e2e.conftest import Shop, check_accessibility, log_in, screenshot

pytestmark = pytest.mark.slow


def _ok(answer) -> dict:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def test_the_dashboard_shows_service_times_per_channel(new_page, shop: Shop) -> None:
    for who, channel in (("julia@correo.es", "webchat"), ("+34612999001", "phone")):
        hints = {"email": who} if "@" in who else {"phone": who}
        cid = _ok(shop.api.post("/api/v1/messages", json={"channel": channel, "identity": hints,
                                                          "text": "Hola, tengo una duda"}))["conversation_id"]
        _ok(shop.api.post(f"/api/v1/conversations/{cid}/resolve"))
    expected = {g["key"]: g["conversations"] for g in _ok(shop.api.get("/api/v1/analytics/service"))["groups"]}
    page = new_page()
    log_in(page, shop, "marketer")
    today = datetime.now(UTC).date().isoformat()  # a period of its own: the dashboard caches figures per period
    page.goto(f"/dashboard?created_from={today}&created_to={today}")
    card = page.get_by_role("region", name="Service times")
    assert card.is_visible()
    for channel in ("webchat", "phone"):
        row = card.locator(f'tr[data-channel="{channel}"]')
        assert row.locator("td").first.inner_text() == str(expected[channel])
    assert card.locator('tr[data-channel="phone"] th').inner_text() == "Phone"
    check_accessibility(page)
    card.scroll_into_view_if_needed()
    screenshot(page, "dashboard-service")


def test_a_customer_answers_the_satisfaction_survey_once_in_spanish(new_page, shop: Shop) -> None:
    receipt = _ok(shop.api.post("/api/v1/messages", json={
        "channel": "webchat", "identity": {"email": "bea@correo.es"}, "text": "Gracias por todo"}))
    _ok(shop.api.post(f"/api/v1/conversations/{receipt['conversation_id']}/resolve"))
    # The server asks for CSAT only with OMNIHUB_SERVICE_CSAT on (off for the shared e2e server): the survey a
    # resolution would open is put in place directly, as a fixture row (no events, nothing else touched).
    token = secrets.token_hex(16)
    engine = sa.create_engine(shop.env["OMNIHUB_DATABASE_URL"])
    try:
        with engine.begin() as conn:
            conn.execute(csat_surveys.insert().values(
                token=token, conversation_id=receipt["conversation_id"], customer_id=receipt["customer_id"],
                asked_at=datetime.now(UTC)))
    finally:
        engine.dispose()
    page = new_page(locale="es-ES", width=420, height=760)
    page.goto(f"/csat/{token}")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.get_by_role("heading", level=1).inner_text() == "¿Qué tal te atendimos?"
    check_accessibility(page)
    screenshot(page, "csat-es")
    page.get_by_label("4 · Bien").check()
    page.get_by_label("¿Algo que quieras contarnos? (opcional)").fill("Rápidos y amables")
    page.get_by_role("button", name="Enviar").click()
    assert page.get_by_role("status").inner_text().startswith("¡Gracias!")
    check_accessibility(page)
    page.goto(f"/csat/{token}")
    assert page.get_by_role("status").inner_text().startswith("Esta encuesta ya se ha respondido")
    assert page.locator("form").count() == 0
    survey = _ok(shop.api.get(f"/api/v1/csat/{token}"))
    assert survey["answered"] is True and survey["score"] == 4
