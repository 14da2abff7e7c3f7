"""The automations page in a real browser: a marketer builds a rule with the form (a bad wait shows the field's
message), sees it in the list and opens its run log; the page is accessible and has its screenshot."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Shop, check_accessibility, log_in, screenshot

pytestmark = pytest.mark.slow


def test_a_marketer_builds_an_automation_and_opens_its_run_log(new_page, shop: Shop) -> None:
    page = new_page()
    log_in(page, shop, "marketer")
    page.goto("/automations")
    assert page.locator("#automations").inner_text().count("recipe") >= 5  # the built-in recipes, switched off

    page.get_by_label("Name").fill("Visita a tienda")
    page.get_by_label("When").select_option("store_visit")
    page.get_by_label("Wait first (ISO 8601, optional)").fill("tomorrow")
    page.get_by_label("Send by").select_option("sms")
    page.get_by_label("Message").select_option("store_offer")
    page.get_by_role("button", name="Create automation").click()
    assert "steps.0.wait" in page.get_by_role("alert").inner_text()

    page.get_by_label("Wait first (ISO 8601, optional)").fill("PT1H")
    page.get_by_label("Active").check()
    page.get_by_role("button", name="Create automation").click()
    assert page.get_by_role("status").inner_text() == "Automation created."
    check_accessibility(page)
    screenshot(page, "automations")

    page.get_by_role("link", name="Visita a tienda").click()
    assert page.get_by_role("heading", name="Run log").is_visible()
    assert "Nothing has run yet." in page.locator("#run-log").inner_text()
    check_accessibility(page)
    screenshot(page, "automation-run-log")
