"""Signed HTTP delivery: claim due deliveries, send them concurrently with no transaction open, record results.

At least once: a delivery is marked delivered only after a 2xx. A worker that dies between sending and
recording leaves its claims leased; they are sent again when the lease runs out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from omnihub.config import Settings
from omnihub.connectors.webhooks import service
from omnihub.connectors.webhooks.service import AttemptResult, ClaimedDelivery
from omnihub.core.clock import Clock
from omnihub.core.db import Database
from omnihub.core.security import sign

log = logging.getLogger("omnihub.webhooks")

USER_AGENT = "omnihub-webhooks/1"


def request_headers(delivery: ClaimedDelivery, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers every delivery carries; the signature covers `<unix time>.<body>`."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Omnihub-Event": delivery.event_type,
        "X-Omnihub-Event-Id": delivery.event_id,
        "X-Omnihub-Delivery": delivery.id,
        "X-Omnihub-Signature": sign(delivery.secret, body, timestamp),
    }


@dataclass
class SenderStats:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    rounds: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


class WebhookSender:
    """Sends due deliveries in rounds: claim (short transaction), POST concurrently, record (short transaction)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        *,
        concurrency: int = 64,
        batch_size: int = 500,
        lease_seconds: float | None = None,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.concurrency = max(1, concurrency)
        self.batch_size = max(1, batch_size)
        # Long enough for a whole round at the worst (every request times out), so a live worker's claims
        # are not taken over; short enough that a crashed worker's claims come back soon.
        waves = -(-self.batch_size // self.concurrency)
        self.lease_seconds = lease_seconds or settings.webhook_timeout_seconds * waves + 30.0
        self.rand = rand
        self.stats = SenderStats()
        self._client = httpx.Client(
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
        )
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="webhook-send")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _send(self, delivery: ClaimedDelivery) -> AttemptResult:
        body = delivery.payload.encode()
        attempted_at = self.clock.now()
        try:
            response = self._client.post(delivery.url, content=body, headers=request_headers(delivery, body))
            error = None if response.is_success else f"HTTP {response.status_code}: {response.text[:200]}"
            return AttemptResult(delivery, response.status_code, error, attempted_at)
        except httpx.HTTPError as exc:
            return AttemptResult(delivery, None, f"{type(exc).__name__}: {exc}"[:500], attempted_at)
        except Exception as exc:  # never let one bad URL kill the round; it is recorded as a failure
            log.exception("unexpected error sending delivery %s", delivery.id)
            return AttemptResult(delivery, None, f"{type(exc).__name__}: {exc}"[:500], attempted_at)

    def run_round(self) -> int:
        """Send one batch of due deliveries. Returns how many were attempted (0 = nothing due)."""
        with self.db.transaction() as conn:
            claimed = service.claim_due(conn, self.clock, limit=self.batch_size, lease_seconds=self.lease_seconds)
        if not claimed:
            return 0
        results = list(self._pool.map(self._send, claimed))
        with self.db.transaction() as conn:
            counts = service.record_results(
                conn, self.clock, results, max_attempts=self.settings.webhook_max_attempts,
                base_backoff=self.settings.webhook_backoff_seconds, rand=self.rand,
            )
        self.stats.rounds += 1
        self.stats.sent += len(results)
        self.stats.delivered += counts["delivered"]
        self.stats.failed += counts["pending"]
        self.stats.dead += counts["dead"]
        if counts["dead"]:
            log.warning("%d webhook deliveries are dead after %d attempts", counts["dead"],
                        self.settings.webhook_max_attempts)
        log.debug("webhook round: %d sent, %s", len(results), counts)
        return len(results)
