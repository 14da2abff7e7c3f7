import json
from datetime import UTC, datetime, timedelta

import pytest

from omnihub.connectors.webhooks import rules
from omnihub.connectors.webhooks.rules import DeliveryStatus
from omnihub.core.errors import ValidationFailed

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("*", "stock.changed", True),
        ("*", "order.ready_for_pickup", True),
        ("stock.*", "stock.changed", True),
        ("stock.*", "stock.level.changed", True),
        ("stock.*", "stocks.changed", False),
        ("stock.*", "stock", False),
        ("stock.*", "availability.changed", False),
        ("order.created", "order.created", True),
        ("order.created", "order.created_again", False),
        ("order.created", "order.cancelled", False),
    ],
)
def test_pattern_matching(pattern: str, event_type: str, expected: bool) -> None:
    assert rules.matches(pattern, event_type) is expected


def test_a_subscription_wants_an_event_when_any_pattern_matches() -> None:
    assert rules.wants(["order.created", "stock.*"], "stock.changed") is True
    assert rules.wants(["order.created", "stock.*"], "order.paid") is False


def test_patterns_are_deduplicated_in_order() -> None:
    assert rules.normalise_patterns(["stock.*", "order.created", "stock.*"]) == ["stock.*", "order.created"]


@pytest.mark.parametrize(
    ("patterns", "field"),
    [
        ([], "events.0"),
        (["Stock.changed"], "events.0"),
        (["order.created", "stock.*.x"], "events.1"),
        (["**"], "events.0"),
        ([""], "events.0"),
        (["stock."], "events.0"),
        (["stock changed"], "events.0"),
        (["*.changed"], "events.0"),
    ],
)
def test_bad_patterns_name_the_offending_entry(patterns: list[str], field: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        rules.normalise_patterns(patterns)
    assert exc.value.code == "invalid_event_type"
    assert exc.value.field == field


@pytest.mark.parametrize("url", ["https://example.com/hooks", "http://127.0.0.1:8080/x?y=1"])
def test_http_urls_are_accepted(url: str) -> None:
    assert rules.validate_url(url) == url


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "example.com/hook", "https:///nohost", "http://exa mple.com", "http://h:0/",
            "http://h:99999/", "javascript:alert(1)", "https://" + "a" * 2000 + ".com"],
)
def test_other_urls_are_rejected(url: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        rules.validate_url(url)
    assert exc.value.code == "invalid_webhook_url"
    assert exc.value.field == "url"


def test_backoff_doubles_from_the_base() -> None:
    no_jitter = [rules.backoff_seconds(n, 2.0, rand=lambda: 0.0) for n in range(1, 6)]
    assert no_jitter == [2.0, 4.0, 8.0, 16.0, 32.0]


def test_backoff_is_capped_even_after_very_many_attempts() -> None:
    assert rules.backoff_seconds(10_000, 2.0, cap=3600.0, rand=lambda: 0.0) == 3600.0


def test_jitter_only_adds_a_little() -> None:
    assert rules.backoff_seconds(3, 2.0, rand=lambda: 1.0) == pytest.approx(8.0 * (1 + rules.JITTER))


def test_success_delivers() -> None:
    outcome = rules.after_attempt(0, 204, NOW, max_attempts=3, base_backoff=2.0)

    assert outcome == rules.AttemptOutcome(DeliveryStatus.DELIVERED, 1, None, NOW)


@pytest.mark.parametrize("code", [None, 301, 400, 500, 503])
def test_failure_schedules_a_retry_with_backoff(code: int | None) -> None:
    outcome = rules.after_attempt(1, code, NOW, max_attempts=3, base_backoff=2.0, rand=lambda: 0.0)

    assert outcome.status is DeliveryStatus.PENDING
    assert outcome.attempts == 2
    assert outcome.next_attempt_at == NOW + timedelta(seconds=4)
    assert outcome.delivered_at is None


def test_the_last_allowed_failure_is_dead() -> None:
    outcome = rules.after_attempt(2, 500, NOW, max_attempts=3, base_backoff=2.0)

    assert outcome == rules.AttemptOutcome(DeliveryStatus.DEAD, 3, None, None)


def test_only_finished_deliveries_can_be_redelivered() -> None:
    rules.check_redeliverable("dlv_1", "dead")
    rules.check_redeliverable("dlv_1", "delivered")
    with pytest.raises(Exception) as exc:
        rules.check_redeliverable("dlv_1", "pending")
    assert getattr(exc.value, "code", None) == "delivery_pending"


def test_a_batching_webhook_is_one_task_of_ordered_posts_and_single_events_are_a_task_each() -> None:
    items = [("a", 1, 3), ("b", 1, 1), ("a", 2, 3), ("a", 3, 3), ("b", 2, 1), ("a", 4, 3)]

    tasks = rules.plan_sends(items, lambda i: i[0], lambda i: i[2])

    assert tasks == [
        [[("a", 1, 3), ("a", 2, 3), ("a", 3, 3)], [("a", 4, 3)]],
        [[("b", 1, 1)]],
        [[("b", 2, 1)]],
    ]


def test_a_post_never_carries_more_than_the_maximum_batch() -> None:
    items = [("a", n, 5000) for n in range(rules.MAX_BATCH_SIZE + 1)]

    [posts] = rules.plan_sends(items, lambda i: i[0], lambda i: i[2])

    assert [len(p) for p in posts] == [rules.MAX_BATCH_SIZE, 1]
    assert rules.plan_sends([], lambda i: i, lambda i: 1) == []


def test_batch_body_embeds_each_envelope_unchanged() -> None:
    envelopes = ['{"id":"evt_1","type":"x","occurred_at":"t","data":{"a":"é"}}', '{"id":"evt_2"}']

    body = rules.batch_body(envelopes)

    assert body == '{"events":[' + envelopes[0] + "," + envelopes[1] + "]}"
    assert [e["id"] for e in json.loads(body)["events"]] == ["evt_1", "evt_2"]


def test_only_batching_subscriptions_are_streamed() -> None:
    assert [rules.is_streamed(n) for n in (1, 2, 1000)] == [False, True, True]


def test_type_filter_turns_patterns_into_exact_types_and_prefixes() -> None:
    assert rules.type_filter(["order.created", "stock.*", "order_line.ready_for_pickup"]) == rules.TypeFilter(
        False, ("order.created", "order_line.ready_for_pickup"), ("stock.",))
    assert rules.type_filter(["stock.*", "*"]).everything


@pytest.mark.parametrize(
    ("cursor", "upto", "batch_size", "positions", "end"),
    [
        (10, 50, 3, [12, 15, 20], 20),  # a full batch: more may follow, stop after its last event
        (10, 50, 3, [12, 15, 20, 31], 20),  # more read than fit: the cursor stops at the batch's last
        (10, 50, 3, [12, 15], 50),  # not full: nothing else it wants up to the head
        (10, 50, 3, [], 50),  # nothing it wants at all: skip the stretch
        (50, 40, 3, [], 50),  # never backwards
    ],
)
def test_stream_end_is_where_the_cursor_goes_after_a_delivered_batch(
    cursor: int, upto: int, batch_size: int, positions: list[int], end: int
) -> None:
    assert rules.stream_end(cursor, upto, batch_size, positions) == end
