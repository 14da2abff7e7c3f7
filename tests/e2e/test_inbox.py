"""The service desk in a real browser: an agent finds a conversation that came in through the API, opens it,
answers with a template (the worker sends it to the local SMTP server), and a new message from the customer
appears without reloading. Accessibility checked on each page; screenshots of the new pages."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import PRICES, Shop, check_accessibility, log_in, screenshot

pytestmark = pytest.mark.slow


def _ok(answer) -> dict:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def test_an_agent_answers_with_a_template_and_sees_the_customers_next_message_live(new_page, shop: Shop) -> None:
    _ok(shop.api.put("/api/v1/reply-templates/seguimiento", json={
        "name": "Seguimiento del pedido", "subject": "Tu pedido {{ order.number }}",
        "body": "Hola {{ customer.first_name }}, tu pedido {{ order.number }} ya está en camino."}))
    first = _ok(shop.api.post("/api/v1/messages", json={
        "channel": "email", "identity": {"email": "marina@correo.es"}, "name": "Marina López",
        "subject": "Mi pedido", "text": "Hola, ¿dónde está mi pedido? Quiero un reembolso si no llega."}))
    cid = first["conversation_id"]
    order = shop.order({"channel": "web", "customer": {"email": "marina@correo.es"},
                        "lines": [{"sku": "MUG", "quantity": 1}],
                        "fulfilment": {"type": "pickup", "location": "sol"},
                        "payments": [{"method": "card", "amount": PRICES["MUG"]}]})

    page = new_page()
    log_in(page, shop, "agent")
    assert page.url == shop.url + "/inbox"
    page.get_by_role("link", name="Unassigned").click()
    row = page.locator(f'tr[data-conversation="{cid}"]')
    assert "refund asked" in row.inner_text() and "E-mail" in row.inner_text()
    check_accessibility(page)
    screenshot(page, "inbox")

    row.get_by_role("link", name="Marina López").click()
    assert page.get_by_role("heading", level=1).inner_text().startswith("Marina López")
    assert order["number"] in page.locator(".desk-customer").inner_text()
    page.get_by_role("button", name="Assign to me").click()
    assert page.get_by_role("status").inner_text() == "Assignment saved."
    page.get_by_label("Template", exact=True).select_option("seguimiento")
    page.get_by_label("Send on", exact=True).select_option("email")
    page.get_by_role("button", name="Send reply").click()
    assert page.get_by_role("status").inner_text().startswith("Reply queued")
    expected = f"Hola Marina, tu pedido {order['number']} ya está en camino."
    reply = page.locator(".msg.d-out").last
    assert expected in reply.inner_text() and "agent@tienda.es" in reply.inner_text()

    subprocess.run([sys.executable, "-m", "omnihub.cli", "worker", "--once"], env=shop.env, check=True,
                   timeout=120, capture_output=True)
    # The local SMTP server records the message in its own thread: give it a moment, then it must be there once.
    deadline = time.monotonic() + 30
    while not [m for m in shop.mailbox.messages if m["To"] == "marina@correo.es"] and time.monotonic() < deadline:
        time.sleep(0.2)
    [mail] = [m for m in shop.mailbox.messages if m["To"] == "marina@correo.es"]
    assert mail["Subject"] == f"Tu pedido {order['number']}" and expected in mail.get_content()
    page.locator(".msg.d-out .status.s-sent").last.wait_for()  # the thread refreshes itself: now sent

    _ok(shop.api.post("/api/v1/messages", json={"channel": "email", "identity": {"email": "marina@correo.es"},
                                                "text": "¡Gracias! ¿Me enviáis también la factura?"}))
    assert "waiting for the customer" in page.locator("#thread .facts-line").inner_text()
    page.locator(".msg.d-in", has_text="¿Me enviáis también la factura?").wait_for()  # no reload
    assert "Status: open" in page.locator("#thread .facts-line").inner_text()  # the state follows it live
    check_accessibility(page)
    screenshot(page, "inbox-thread")


def test_the_templates_editor_creates_a_template_and_the_inbox_speaks_spanish(new_page, shop: Shop) -> None:
    page = new_page()
    log_in(page, shop, "admin")
    page.goto("/reply-templates/new")
    page.get_by_label("Code", exact=True).fill("recogida")
    page.get_by_label("Name", exact=True).fill("Recogida lista")
    page.get_by_label("Text", exact=True).fill("Hola {{ customer.first_name }}, tu pedido te espera.")
    page.get_by_role("button", name="Create template").click()
    assert page.get_by_role("status").inner_text() == "Template created."
    check_accessibility(page)
    screenshot(page, "reply-template-edit")

    spanish = new_page(locale="es-ES", width=768, height=1024)  # a tablet, in Spanish
    log_in(spanish, shop, "agent")
    assert spanish.get_by_role("link", name="Sin asignar").is_visible()
    spanish.goto("/reply-templates")
    assert spanish.locator('tr[data-template="recogida"]').is_visible()
    check_accessibility(spanish)
    screenshot(spanish, "reply-templates-es")
