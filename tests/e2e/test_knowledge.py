"""The knowledge-base editor in a real browser: an agent writes an article, publishes it (the bot's search finds it
at once), and an edit over someone else's newer save is refused with the API's problem, overwriting nothing; the
page in Spanish; an associate cannot open it."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Shop, check_accessibility, log_in, screenshot

pytestmark = pytest.mark.slow


def test_an_agent_writes_publishes_and_edits_an_article(new_page, shop: Shop) -> None:
    page = new_page()
    log_in(page, shop, "agent")
    page.locator('nav a[href="/kb"]').click()
    page.get_by_role("link", name="New article").click()
    page.get_by_label("Language").select_option("es")
    page.get_by_label("Title").fill("Gastos de envío a Canarias")
    page.get_by_label("Text").fill("Los envíos a Canarias cuestan 12,95 € y tardan de 5 a 8 días laborables.")
    page.get_by_label("Keywords").fill("envío, portes, Canarias")
    page.get_by_role("button", name="Create").click()

    assert page.get_by_role("status").inner_text() == "Article created."
    article_id = page.url.split("/kb/")[1].split("?")[0]
    assert page.get_by_role("button", name="Delete").count() == 0  # agents withdraw; only admins delete
    check_accessibility(page)
    page.get_by_role("button", name="Publish").click()
    assert page.get_by_role("status").inner_text() == "Article published: the bot may answer with it."
    found = shop.api.get("/api/v1/kb/search", params={"q": "¿Cuánto cuesta el envío a Canarias?"}).json()
    assert found["decision"] == "answer_article" and found["hits"][0]["id"] == article_id
    screenshot(page, "knowledge-article")

    # Someone saves the article meanwhile: this form's edit is refused and changes nothing.
    changed = shop.api.patch(f"/api/v1/kb/articles/{article_id}", json={"title": "Envíos a Canarias"})
    assert changed.status_code == 200, changed.text
    page.get_by_label("Title").fill("Mi título")
    page.get_by_role("button", name="Save").click()
    assert "article_changed" in page.get_by_role("alert").inner_text()
    assert shop.api.get(f"/api/v1/kb/articles/{article_id}").json()["title"] == "Envíos a Canarias"

    page.goto("/kb?language=es")
    assert page.get_by_role("link", name="Envíos a Canarias").is_visible()
    check_accessibility(page)
    screenshot(page, "knowledge-base")


def test_the_editor_speaks_spanish_an_admin_deletes_and_associates_are_kept_out(new_page, shop: Shop) -> None:
    page = new_page(locale="es-ES")
    log_in(page, shop, "admin")
    page.goto("/kb/new")
    assert page.get_by_role("heading", name="Nuevo artículo").is_visible()
    page.get_by_role("button", name="Crear").click()  # nothing typed: the browser keeps it (required fields)
    assert page.url.endswith("/kb/new")
    check_accessibility(page)

    created = shop.api.post("/api/v1/kb/articles", json={"language": "es", "title": "Horario de Sol",
                                                         "body": "De 10:00 a 21:00."})
    assert created.status_code == 201, created.text
    page.goto(f"/kb/{created.json()['id']}")
    page.get_by_label("Borrar este artículo para siempre").check()
    page.get_by_role("button", name="Borrar", exact=True).click()
    assert page.get_by_role("status").inner_text() == "Artículo borrado."
    assert shop.api.get(f"/api/v1/kb/articles/{created.json()['id']}").status_code == 404

    other = new_page()
    log_in(other, shop, "associate")
    assert other.locator('nav a[href="/kb"]').count() == 0
    assert other.goto("/kb").status == 403
