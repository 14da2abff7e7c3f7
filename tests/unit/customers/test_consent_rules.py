from datetime import UTC, datetime, timedelta

from omnihub.customers import rules

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_a_choice_may_be_dated_a_little_ahead_but_not_more() -> None:
    assert not rules.dated_in_the_future(NOW + timedelta(seconds=300), NOW, 300)
    assert rules.dated_in_the_future(NOW + timedelta(seconds=301), NOW, 300)
    assert rules.dated_in_the_future(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), NOW, 300)
    assert not rules.dated_in_the_future(NOW - timedelta(days=400), NOW, 0)


def test_a_notice_only_when_the_recorded_choice_does_not_count() -> None:
    standing = {"granted": True, "at": NOW}
    assert rules.consent_notice(True, NOW - timedelta(days=1), standing) is None
    assert rules.consent_notice(False, NOW, None) is None
    notice = rules.consent_notice(False, NOW - timedelta(days=1), standing)
    assert notice is not None and "opt-out" in notice and "opt-in dated 2026-01-05T09:00:00+00:00" in notice
