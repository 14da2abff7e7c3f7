"""The provider payment state machine, pure: statuses only move forward, whatever order notices come in."""

from __future__ import annotations

import pytest

from omnihub.billing.rules import provider_step

STATUSES = ("pending", "started", "authorized", "captured", "failed", "expired", "cancelled", "refunded")


@pytest.mark.parametrize("status", ["pending", "started"])
def test_an_open_payment_takes_every_verdict(status: str) -> None:
    assert provider_step(status, "authorized") == "pay"
    assert provider_step(status, "captured") == "pay"
    assert provider_step(status, "captured", short=True) == "short"
    assert provider_step(status, "failed") == "fail"
    assert provider_step(status, "approved") == "authorize"
    assert provider_step(status, "underpaid") == "note"


def test_money_is_recorded_only_from_an_open_payment() -> None:
    """Twice, or after a capture: recorded once (the first `pay`)."""
    assert [s for s in STATUSES if provider_step(s, "authorized") == "pay"] == ["pending", "started"]
    assert [s for s in STATUSES if provider_step(s, "captured") == "pay"] == ["pending", "started"]
    assert provider_step("authorized", "captured") == "capture"
    assert provider_step("captured", "captured") == "unchanged"
    assert provider_step("authorized", "authorized") == "unchanged"


def test_a_failure_after_the_success_changes_nothing() -> None:
    for status in ("authorized", "captured", "refunded", "failed", "expired", "cancelled"):
        assert provider_step(status, "failed") == "unchanged"
        assert provider_step(status, "approved") == "unchanged"
        assert provider_step(status, "underpaid") == "unchanged"


@pytest.mark.parametrize("status", ["failed", "expired", "cancelled"])
def test_money_after_the_hub_gave_up_is_given_back(status: str) -> None:
    assert provider_step(status, "authorized") == "late"
    assert provider_step(status, "captured") == "late"


def test_other_events_are_noted_or_ignored() -> None:
    assert provider_step("captured", "refunded") == "refunded"
    assert provider_step("started", "ignored") == "ignored"
