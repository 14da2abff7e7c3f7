"""The segments, audiences and campaign-results pages in a real browser: a marketer writes a rule and sees the
live count change as they type, creates the segment and reads its members; the pages are accessible and have
their screenshots."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Shop, check_accessibility, log_in, screenshot

pytestmark = pytest.mark.slow


def test_a_marketer_builds_a_segment_with_a_live_count(new_page, shop: Shop) -> None:
    shop.order({"channel": "web", "customer": {"email": "segmento@correo.es"}, "lines": [{"sku": "MUG", "quantity": 1}],
                "fulfilment": {"type": "pickup", "location": "sol"}})
    page = new_page()
    log_in(page, shop, "marketer")
    page.goto("/segments")
    page.get_by_label("Name").fill("Compradores de hogar")
    page.locator("#f-field-0").select_option("customer.categories_bought")
    page.locator("#f-op-0").select_option("contains")
    page.locator("#f-value-0").fill("home")
    page.locator("#f-value-0").press("Tab")  # a change: htmx asks for the live count
    live = page.locator("#live-count #count")
    live.wait_for()
    assert live.inner_text().startswith("Matching now:") and not live.inner_text().startswith("Matching now: 0")
    page.locator("#f-value-0").fill("garden")
    page.locator("#f-value-0").press("Tab")
    page.wait_for_function("() => document.querySelector('#live-count').innerText.startsWith('Matching now: 0')")
    check_accessibility(page)
    screenshot(page, "segments")

    page.locator("#f-value-0").fill("home")
    page.get_by_role("button", name="Create segment").click()
    assert page.get_by_role("status").inner_text() == "Segment created."
    assert int(page.locator("#members-count").inner_text()) >= 1
    check_accessibility(page)
    screenshot(page, "segment-members")

    page.goto("/audiences")
    assert page.get_by_role("heading", name="Audiences").is_visible()
    check_accessibility(page)
    page.goto("/campaigns")
    assert "Abandoned cart e-mail" in page.locator("#campaigns").inner_text()
    check_accessibility(page)
    screenshot(page, "campaign-results")
