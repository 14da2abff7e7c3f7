"""The background worker: dispatch the outbox, send webhooks, expire reservations, check inventory.

Stateless over the database like the API, so several can run at once (on PostgreSQL they skip each
other's rows). Every step is at least once: a worker killed at any point loses nothing, it only repeats
work the next worker (or its own restart) picks up.

Run it with `omnihub worker`, or `python -m omnihub.worker` (which also takes tuning flags).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from omnihub.config import Settings, get_settings
from omnihub.connectors.webhooks.sender import WebhookSender
from omnihub.connectors.webhooks.service import WebhookFanout
from omnihub.core.clock import Clock, SystemClock
from omnihub.core.db import Database
from omnihub.core.events import EventHandler, dispatch_pending, lock_positions, purge_dispatched

log = logging.getLogger("omnihub.worker")

DISPATCH_BATCH = 500
PURGE_BATCH = 5000
# Per loop: at most this many dispatch batches / send rounds before the other jobs get their turn.
MAX_BATCHES_PER_STEP = 20


@dataclass
class WorkerStats:
    """What the worker has done so far (handed to the `progress` callback after every step)."""

    steps: int = 0
    dispatched: int = 0
    sent: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    reconciled: int = 0
    drifts: int = 0
    purged: int = 0
    errors: int = 0
    last_error: str | None = None
    started: float = field(default_factory=time.monotonic)


def default_handlers(clock: Clock, settings: Settings) -> list[EventHandler]:
    """Projections first (they may emit follow-up events, dispatched in the next batch), then the outlets."""
    from omnihub.inventory.availability import AvailabilityProjector

    handlers: list[EventHandler] = [AvailabilityProjector(clock)]
    if settings.nats_url:
        from omnihub.connectors.nats.publisher import NatsPublisher

        handlers.append(NatsPublisher(settings.nats_url))
    # Last: it takes the outbox positions lock, held until the dispatch commits (keep that stretch short).
    handlers.append(WebhookFanout(clock))
    return handlers


class Worker:
    """One worker's jobs, each a short transaction, callable one by one (tests) or in a loop (run)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        clock: Clock,
        *,
        handlers: Sequence[EventHandler] | None = None,
        concurrency: int = 16,
        batch_size: int = 500,
        lease_seconds: float | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.handlers = list(handlers) if handlers is not None else default_handlers(clock, settings)
        self.sender = WebhookSender(db, clock, settings, concurrency=concurrency, batch_size=batch_size,
                                    lease_seconds=lease_seconds)
        self.stats = WorkerStats()
        self._last_reconcile: datetime | None = None
        self._last_purge: datetime | None = None
        # In the long-running loop webhooks are sent from their own thread, so a slow receiver never holds
        # up dispatching (and the availability projection) for everyone else.
        self.sending_in_background = False

    def close(self) -> None:
        self.sender.close()
        for handler in self.handlers:
            close = getattr(handler, "close", None)
            if callable(close):
                close()

    def dispatch(self, *, max_batches: int = MAX_BATCHES_PER_STEP) -> int:
        """Hand new outbox events to every handler; an event is marked dispatched only if all of them ran."""
        total = 0
        for _ in range(max_batches):
            with self.db.transaction() as conn:
                n = dispatch_pending(conn, self.clock, self.handlers, limit=DISPATCH_BATCH)
            total += n
            if n < DISPATCH_BATCH:
                break
        self.stats.dispatched += total
        return total

    def send_webhooks(self, *, max_rounds: int = MAX_BATCHES_PER_STEP) -> int:
        total = 0
        before = (self.sender.stats.delivered, self.sender.stats.failed, self.sender.stats.dead)
        for _ in range(max_rounds):
            n = self.sender.run_round()
            total += n
            if not n:
                break
        s = self.sender.stats
        self.stats.sent += total
        self.stats.delivered += s.delivered - before[0]
        self.stats.retried += s.failed - before[1]
        self.stats.dead += s.dead - before[2]
        return total

    def release_expired(self) -> int:
        from omnihub.inventory.reservations import release_expired_reservations

        total = 0
        for _ in range(MAX_BATCHES_PER_STEP):
            with self.db.transaction() as conn:
                n = release_expired_reservations(conn, self.clock, limit=500)
            total += n
            if n < 500:
                break
        if total:
            log.info("released %d expired reservations", total)
        self.stats.released += total
        return total

    def expire_pickups(self) -> int:
        """Click & collect orders nobody collected in time release their stock and are refunded."""
        from omnihub.commerce.fulfilment import expire_uncollected

        with self.db.transaction() as conn:
            expired = expire_uncollected(conn, self.clock)
        if expired:
            log.info("expired %d uncollected pickup orders", expired)
        return expired

    def send_email(self) -> int:
        """Queued e-mail goes out by SMTP when OMNIHUB_SMTP_URL is set (otherwise messages are logged as sent)."""
        if not self.settings.smtp_url:
            return 0
        from omnihub.messaging.service import send_queued_email

        with self.db.transaction() as conn:
            return send_queued_email(conn, self.clock, self.settings.smtp_url)

    def send_replies(self) -> int:
        """Agents' replies to customers go out through their channel's provider (SMTP, the Graph API)."""
        from omnihub.service.outbound import send_due

        settings = self.settings
        return send_due(self.db, self.clock, secret_key=settings.secret_key, smtp_url=settings.smtp_url,
                        mailbox=settings.support_email, max_attempts=settings.service_send_max_attempts,
                        backoff=settings.service_send_backoff_seconds,
                        timeout=settings.service_send_timeout_seconds)

    def wake_snoozed(self) -> int:
        from omnihub.service.service import wake_snoozed

        with self.db.transaction() as conn:
            return wake_snoozed(conn, self.clock)

    def reconcile(self, *, force: bool = False) -> list[dict[str, Any]] | None:
        """Every reconcile_every_seconds (by the injected clock): compare stock with its ledger, report drift."""
        now = self.clock.now()
        due = self._last_reconcile is None or (
            (now - self._last_reconcile).total_seconds() >= self.settings.reconcile_every_seconds
        )
        if not (force or due):
            return None
        from omnihub.inventory.stock import check_inventory

        with self.db.transaction() as conn:
            drifts = check_inventory(conn, self.clock)
        self._last_reconcile = now
        self.stats.reconciled += 1
        self.stats.drifts += len(drifts)
        for drift in drifts:
            log.warning("inventory drift: %s", drift)
        return drifts

    def purge_outbox(self, *, force: bool = False) -> int:
        """Every outbox_purge_every_seconds: delete events dispatched longer than the retention ago, in batches,
        except what a webhook stream still has to send."""
        retention = self.settings.outbox_retention_days
        now = self.clock.now()
        due = self._last_purge is None or (
            (now - self._last_purge).total_seconds() >= self.settings.outbox_purge_every_seconds)
        if retention <= 0 or not (force or due):
            return 0
        from omnihub.connectors.webhooks.queries import lowest_stream_cursor

        total = 0
        for _ in range(MAX_BATCHES_PER_STEP):
            with self.db.transaction() as conn:
                lock_positions(conn)  # no replay moves a cursor back between our read of it and the delete
                n = purge_dispatched(conn, before=now - timedelta(days=retention),
                                     keep_after=lowest_stream_cursor(conn), limit=PURGE_BATCH)
            total += n
            if n < PURGE_BATCH:
                self._last_purge = now  # caught up; a backlog is worked off over the next steps
                break
        if total:
            log.info("purged %d dispatched outbox events older than %g days", total, retention)
        self.stats.purged += total
        return total

    def step(self) -> int:
        """One pass over every job. Returns how much work was done (0 = idle)."""
        work = self.dispatch()
        if not self.sending_in_background:
            work += self.send_webhooks()
        work += self.release_expired()
        work += self.expire_pickups()
        work += self.send_email()
        work += self.send_replies()
        work += self.wake_snoozed()
        self.reconcile()
        self.purge_outbox()
        if work:  # new events (availability, expiries) may now be waiting: hand them on promptly
            work += self.dispatch()
        self.stats.steps += 1
        return work

    def drain(self, *, max_steps: int = 1000) -> None:
        """Run steps until nothing is left to do now (deliveries waiting for a later retry do not count)."""
        for _ in range(max_steps):
            if not self.step():
                return


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT finish the current step and exit cleanly (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _handler(signum: int, _frame: Any) -> None:
        log.info("received %s, stopping after the current step", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _send_until_stopped(worker: Worker, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            sent = worker.send_webhooks()
        except Exception:  # keep sending after a database hiccup
            log.exception("webhook sending failed; retrying")
            sent = 0
            stop.wait(1.0)
        if not sent:
            stop.wait(worker.settings.worker_poll_seconds)


def run_worker(
    settings: Settings,
    *,
    clock: Clock | None = None,
    once: bool = False,
    stop: threading.Event | None = None,
    progress: Callable[[WorkerStats], None] | None = None,
    db: Database | None = None,
    handlers: Sequence[EventHandler] | None = None,
    concurrency: int = 16,
    batch_size: int = 500,
    lease_seconds: float | None = None,
) -> WorkerStats:
    """Loop over the worker's jobs until `stop` is set or a signal arrives; `once` drains and returns."""
    clock = clock or SystemClock()
    own_db = db is None
    database = db or Database(settings.database_url, pool_size=max(4, settings.db_pool_size // 4))
    stop = stop or threading.Event()
    worker = Worker(settings, database, clock, handlers=handlers, concurrency=concurrency,
                    batch_size=batch_size, lease_seconds=lease_seconds)
    log.info("worker started (%s)", "once" if once else f"polling every {settings.worker_poll_seconds}s")
    try:
        if once:
            worker.drain()
            if progress:
                progress(worker.stats)
            return worker.stats
        sender = threading.Thread(target=_send_until_stopped, args=(worker, stop), name="webhook-sender",
                                  daemon=True)
        worker.sending_in_background = True
        sender.start()
        with _stop_on_signals(stop):
            while not stop.is_set():
                try:
                    work = worker.step()
                except Exception as exc:  # a database hiccup must not end the worker; log, wait, retry
                    worker.stats.errors += 1
                    worker.stats.last_error = f"{type(exc).__name__}: {exc}"
                    log.exception("worker step failed; retrying")
                    work = 0
                    stop.wait(min(5.0, settings.worker_poll_seconds * 10))
                if progress:
                    progress(worker.stats)
                if not work:
                    stop.wait(settings.worker_poll_seconds)
        sender.join(timeout=60)  # let the round in flight record its results
        return worker.stats
    finally:
        worker.close()
        if own_db:
            database.dispose()
        log.info("worker stopped: %s", worker.stats)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m omnihub.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="drain what is due now, then exit")
    parser.add_argument("--concurrency", type=int, default=16, help="webhook requests in flight")
    parser.add_argument("--batch-size", type=int, default=500, help="webhook deliveries claimed per round")
    parser.add_argument("--lease-seconds", type=float, default=None,
                        help="how long a claim lasts before another worker may take it over")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker(get_settings(), once=args.once, concurrency=args.concurrency, batch_size=args.batch_size,
               lease_seconds=args.lease_seconds)


if __name__ == "__main__":
    main()
