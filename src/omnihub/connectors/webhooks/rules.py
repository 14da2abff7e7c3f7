"""Pure webhook logic: which events a subscription wants, when to retry, what an attempt leads to. No I/O."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar
from urllib.parse import urlsplit

from omnihub.connectors.webhooks import errors

MAX_PATTERNS = 50
MAX_URL_LENGTH = 2000
# A delivery never waits longer than this between attempts, however many have failed.
MAX_BACKOFF_SECONDS = 3600.0
# Up to this fraction is added at random, so receivers that failed together are not retried in lockstep.
JITTER = 0.1
# Events one POST may carry for a batching subscription (the table's check constraint says the same).
MAX_BATCH_SIZE = 1000
# How long a rotated-out secret keeps signing beside the new one, unless the rotation says otherwise.
DEFAULT_SECRET_GRACE_SECONDS = 24 * 3600
MAX_SECRET_GRACE_SECONDS = 7 * 24 * 3600

_SEGMENT = r"[a-z][a-z0-9_]*"
_PATTERN = re.compile(rf"^(\*|{_SEGMENT}(\.{_SEGMENT})*(\.\*)?)$")


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt, or in flight under a worker's lease
    DELIVERED = "delivered"  # the receiver answered 2xx
    DEAD = "dead"  # every attempt failed; stays in the log until redelivered


def validate_url(url: str) -> str:
    """Only absolute http(s) URLs with a host: anything else could never be delivered."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise errors.invalid_url(url, f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError:
        raise errors.invalid_url(url, "The URL cannot be parsed.") from None
    if parts.scheme not in ("http", "https"):
        raise errors.invalid_url(url, "The URL must start with http:// or https://.")
    if not parts.hostname:
        raise errors.invalid_url(url, "The URL has no host.")
    if port == 0:
        raise errors.invalid_url(url, "The URL's port must be between 1 and 65535.")
    if any(c.isspace() for c in url):
        raise errors.invalid_url(url, "The URL contains whitespace.")
    if "@" in parts.netloc:
        raise errors.invalid_url(url, "The URL may not carry credentials (user:password@); the receiver checks "
                                      "the X-Omnihub-Signature instead.")
    return url


def normalise_patterns(patterns: Sequence[str]) -> list[str]:
    """Validate event-type patterns (`order.created`, `stock.*`, `*`) and drop repeats, keeping order."""
    if not patterns:
        raise errors.invalid_event_pattern("", 0, "Subscribe to at least one event type (or '*').")
    if len(patterns) > MAX_PATTERNS:
        raise errors.invalid_event_pattern("", MAX_PATTERNS, f"At most {MAX_PATTERNS} event types.")
    for index, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or len(pattern) > 64 or not _PATTERN.match(pattern):
            raise errors.invalid_event_pattern(
                str(pattern), index,
                "Use an event type like 'order.created', a prefix wildcard like 'stock.*', or '*'.",
            )
    return list(dict.fromkeys(patterns))


def matches(pattern: str, event_type: str) -> bool:
    """`*` matches everything; `stock.*` matches `stock.changed` (any depth below `stock.`)."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def wants(patterns: Sequence[str], event_type: str) -> bool:
    return any(matches(p, event_type) for p in patterns)


def backoff_seconds(
    attempts: int,
    base: float,
    *,
    cap: float = MAX_BACKOFF_SECONDS,
    jitter: float = JITTER,
    rand: Callable[[], float] = random.random,
) -> float:
    """Wait before the next try after `attempts` failures: base * 2**(attempts-1), capped, plus a little jitter."""
    if attempts < 1:
        return 0.0
    exponent = min(attempts - 1, 62)  # beyond this the cap wins anyway; avoids float overflow
    delay = min(cap, base * 2.0**exponent)
    return delay * (1.0 + jitter * rand())


def is_success(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


@dataclass(frozen=True)
class AttemptOutcome:
    """What an attempt turns a delivery into."""

    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None


def after_attempt(
    attempts_before: int,
    status_code: int | None,
    now: datetime,
    *,
    max_attempts: int,
    base_backoff: float,
    rand: Callable[[], float] = random.random,
) -> AttemptOutcome:
    """2xx delivers; any other answer (or none) retries with backoff, and the last allowed failure is dead."""
    attempts = attempts_before + 1
    if is_success(status_code):
        return AttemptOutcome(DeliveryStatus.DELIVERED, attempts, None, now)
    if attempts >= max_attempts:
        return AttemptOutcome(DeliveryStatus.DEAD, attempts, None, None)
    delay = backoff_seconds(attempts, base_backoff, rand=rand)
    return AttemptOutcome(DeliveryStatus.PENDING, attempts, now + timedelta(seconds=delay), None)


def check_redeliverable(delivery_id: str, status: str) -> None:
    """Only finished deliveries (delivered or dead) are re-sent; a pending one is already on its way."""
    if status == DeliveryStatus.PENDING:
        raise errors.delivery_pending(delivery_id)


T = TypeVar("T")


def plan_sends(items: Sequence[T], webhook_of: Callable[[T], Hashable],
               batch_size_of: Callable[[T], int]) -> list[list[list[T]]]:
    """How a round goes out: a list of tasks (run concurrently), each a list of POSTs (sent in order), each a
    list of items. A one-event webhook's items are a task each; a batching webhook's items, in the order
    given and cut into runs of at most its batch size, are one task, so its batches arrive in order. A POST
    never mixes webhooks (each has its own URL and secret)."""
    by_webhook: dict[Hashable, list[T]] = {}
    for item in items:
        by_webhook.setdefault(webhook_of(item), []).append(item)
    tasks: list[list[list[T]]] = []
    for run in by_webhook.values():
        size = max(1, min(MAX_BATCH_SIZE, batch_size_of(run[0])))
        if size == 1:
            tasks.extend([[item]] for item in run)
        else:
            tasks.append([run[start : start + size] for start in range(0, len(run), size)])
    return tasks


def batch_body(envelopes: Sequence[str]) -> str:
    """The body a batching subscription receives: `{"events": [envelope, ...]}`, each envelope byte-for-byte
    what a single delivery of that event would carry."""
    return '{"events":[' + ",".join(envelopes) + "]}"


def is_streamed(batch_size: int) -> bool:
    """A batching subscription keeps a cursor over the event stream; a one-event one gets a row per event."""
    return batch_size > 1


@dataclass(frozen=True)
class TypeFilter:
    """Patterns as a query can use them: exact types and type prefixes; `everything` needs no filter."""

    everything: bool
    types: tuple[str, ...]
    prefixes: tuple[str, ...]


def type_filter(patterns: Sequence[str]) -> TypeFilter:
    if "*" in patterns:
        return TypeFilter(True, (), ())
    types = tuple(p for p in patterns if not p.endswith(".*"))
    prefixes = tuple(p[:-1] for p in patterns if p.endswith(".*"))  # "stock.*" -> "stock."
    return TypeFilter(False, types, prefixes)


def stream_end(cursor: int, upto: int, batch_size: int, positions: Sequence[int]) -> int:
    """Where a stream's cursor goes once the batch read after `cursor` is delivered: past the last event when
    the batch is full (more may follow), else to `upto` (nothing it wants lies in between)."""
    if len(positions) >= batch_size:
        return positions[batch_size - 1]
    return max(cursor, upto)
