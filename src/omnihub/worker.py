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

from omnihub.bootstrap import House, bootstrap
from omnihub.config import Settings, get_settings, secret_problem
from omnihub.connectors.webhooks.sender import WebhookSender
from omnihub.core.clock import Clock, SystemClock
from omnihub.core.db import Database, is_unavailable
from omnihub.core.events import EventHandler, dispatch_pending, lock_positions, purge_dispatched
from omnihub.core.rooms import Job

log = logging.getLogger("omnihub.worker")

DISPATCH_BATCH = 500
PURGE_BATCH = 5000
# Per loop: at most this many dispatch batches / send rounds before the other jobs get their turn.
MAX_BATCHES_PER_STEP = 20


@dataclass
class WorkerStats:
    """What the worker has done so far (handed to the `progress` callback after every step). `jobs`: the work
    each room job did, by job name (for a check such as `inventory.reconcile`: what it found)."""

    steps: int = 0
    dispatched: int = 0
    sent: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    purged: int = 0
    jobs: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    last_error: str | None = None
    started: float = field(default_factory=time.monotonic)


class DatabaseWatch:
    """While the database cannot be reached the worker waits longer and longer between tries (up to
    MAX_WAIT seconds) and says so once: one line when it goes, one when it is back — not a traceback a try.
    Shared by the worker's threads."""

    MAX_WAIT = 30.0

    def __init__(self, base_wait: float) -> None:
        self.base_wait = max(0.01, base_wait)
        self.failures = 0
        self.down_since: float | None = None
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> float | None:
        """How long to wait before trying again, when `exc` says the database is unreachable; else None."""
        if not is_unavailable(exc):
            return None
        with self._lock:
            self.failures += 1
            if self.down_since is None:
                self.down_since = time.monotonic()
                orig = getattr(exc, "orig", None) or exc
                log.warning("database unavailable (%s: %s); retrying with backoff up to %gs", type(orig).__name__,
                            (str(orig).splitlines() or [""])[0][:200], self.MAX_WAIT)
            return min(self.MAX_WAIT, self.base_wait * 2.0 ** min(self.failures - 1, 16))

    def succeeded(self) -> None:
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is not None:
                log.warning("database reachable again after %.0fs", time.monotonic() - self.down_since)
                self.down_since = None
                self.failures = 0


def default_handlers(clock: Clock, settings: Settings) -> list[EventHandler]:
    """The rooms' event handlers (`omnihub.bootstrap`): projections first (they may emit follow-up events,
    dispatched in the next batch), then the outlets, the webhook fan-out last."""
    return bootstrap().event_handlers(clock, settings)


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
        house: House | None = None,
    ) -> None:
        house = house or bootstrap()
        self.settings = settings
        self.db = db
        self.clock = clock
        self.handlers = list(handlers) if handlers is not None else house.event_handlers(clock, settings)
        self.jobs = house.jobs(settings)
        self.sender = WebhookSender(db, clock, settings, concurrency=concurrency, batch_size=batch_size,
                                    lease_seconds=lease_seconds)
        self.stats = WorkerStats()
        self._last_run: dict[str, datetime] = {}
        self._last_purge: datetime | None = None
        self._last_key_purge: datetime | None = None
        # Set by the running loop: paced jobs then poll at most once per worker_pace_seconds (wall time) while they
        # find no backlog. drain() and tests run every job on every step.
        self.paced = False
        self._paced_at: dict[str, float] = {}
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

    def send_replies(self) -> int:
        """Agents' replies to customers go out through their channel's provider (SMTP, the Graph API). Not a room
        job: the claim commits before anything is sent and the outcome is recorded after (service.outbound)."""
        from omnihub.messaging.sms import sms_provider
        from omnihub.service.outbound import send_due

        settings = self.settings
        return send_due(self.db, self.clock, secret_key=settings.secret_key, smtp_url=settings.smtp_url,
                        mailbox=settings.support_email, max_attempts=settings.service_send_max_attempts,
                        backoff=settings.service_send_backoff_seconds,
                        timeout=settings.service_send_timeout_seconds, outbound_allow=settings.outbound_allow,
                        sms=sms_provider(settings))

    def run_imports(self) -> int:
        """A queued file import (`POST /imports`), if any. Not a room job: the claim commits first, then the
        import commits batch by batch so its progress can be read while it runs (connectors.imports.jobs)."""
        from omnihub.connectors.imports.jobs import run_queued

        if self._resting("imports"):
            return 0
        done = run_queued(self.db, self.clock)
        self._rested("imports", backlog=bool(done))
        return done

    def send_erp(self) -> int:
        """Documents owed to the ERP go out through its JSON API. Not a room job: the claim commits before
        anything is sent and the outcome is recorded after (connectors.erp.sender)."""
        from omnihub.connectors.erp.sender import send_due

        if self._resting("erp"):
            return 0
        done = send_due(self.db, self.clock, secret_key=self.settings.secret_key,
                        outbound_allow=self.settings.outbound_allow)
        self._rested("erp", backlog=bool(done))
        return done

    def drive_payments(self) -> int:
        """Calls to payment providers (start, capture, void, refund): not a room job, because nothing may be asked
        of a provider with a transaction open — the claim commits first and each answer is recorded after
        (billing.flow.drive)."""
        from omnihub.billing.flow import drive
        from omnihub.core.outbound import OutboundGuard

        return drive(self.db, self.clock, secret_key=self.settings.secret_key,
                     guard=OutboundGuard(self.settings.outbound_allow))

    def _resting(self, name: str) -> bool:
        """True while a paced poller found nothing to catch up on less than worker_pace_seconds ago."""
        pace = self.settings.worker_pace_seconds
        return self.paced and pace > 0 and time.monotonic() - self._paced_at.get(name, float("-inf")) < pace

    def _rested(self, name: str, *, backlog: bool) -> None:
        """Start a paced poller's rest, unless it left a backlog (then it goes again on the next step)."""
        if backlog:
            self._paced_at.pop(name, None)
        else:
            self._paced_at[name] = time.monotonic()

    def run_job(self, job: Job, *, force: bool = False) -> int:
        """One room job: skipped until due when it runs every N seconds (by the injected clock), or while a paced
        job rests; a run that did a full batch goes again, up to the step limit. Returns what it did (or found)."""
        if job.paced and not force and self._resting(job.name):
            return 0
        now = self.clock.now()
        if job.every is not None and not force:
            last = self._last_run.get(job.name)
            if last is not None and (now - last).total_seconds() < job.every(self.settings):
                return 0
        total = 0
        backlog = False
        for _ in range((job.runs or MAX_BATCHES_PER_STEP) if job.batch else 1):
            if job.transaction:
                with self.db.transaction() as conn:
                    done = job.run(conn, self.clock, self.settings)
            else:
                done = job.run(self.db, self.clock, self.settings)
            total += done
            backlog = bool(job.batch) and done >= (job.batch or 0)
            if not backlog:
                break
        if job.paced:
            self._rested(job.name, backlog=backlog)
        self._last_run[job.name] = now
        self.stats.jobs[job.name] = self.stats.jobs.get(job.name, 0) + total
        if total:
            log.info("%s: %d", job.name, total)
        return total

    def run_jobs(self) -> int:
        """Every room job that is due; returns the work done (checks do not count)."""
        work = 0
        for job in self.jobs:
            done = self.run_job(job)
            work += done if job.counts_as_work else 0
        return work

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

    def purge_idempotency_keys(self, *, force: bool = False) -> int:
        """Every outbox_purge_every_seconds: forget Idempotency-Keys (and the answers kept with them) recorded
        longer than idempotency_retention_hours ago, in batches."""
        from omnihub.core.idempotency import purge_expired

        retention = self.settings.idempotency_retention_hours
        now = self.clock.now()
        due = self._last_key_purge is None or (
            (now - self._last_key_purge).total_seconds() >= self.settings.outbox_purge_every_seconds)
        if retention <= 0 or not (force or due):
            return 0
        total = 0
        for _ in range(MAX_BATCHES_PER_STEP):
            with self.db.transaction() as conn:
                n = purge_expired(conn, before=now - timedelta(hours=retention), limit=PURGE_BATCH)
            total += n
            if n < PURGE_BATCH:
                self._last_key_purge = now
                break
        if total:
            log.info("purged %d idempotency keys older than %g hours", total, retention)
        return total

    def step(self) -> int:
        """One pass over every job. Returns how much work was done (0 = idle)."""
        work = self.dispatch()
        if not self.sending_in_background:
            work += self.send_webhooks()
        work += self.run_jobs()
        work += self.send_replies()
        work += self.run_imports()
        work += self.send_erp()
        work += self.drive_payments()
        self.purge_outbox()
        self.purge_idempotency_keys()
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


def _send_until_stopped(worker: Worker, stop: threading.Event, watch: DatabaseWatch) -> None:
    while not stop.is_set():
        try:
            sent = worker.send_webhooks()
            watch.succeeded()
        except Exception as exc:  # keep sending after a database hiccup
            wait = watch.failed(exc)
            if wait is None:
                log.exception("webhook sending failed; retrying")
            sent = 0
            stop.wait(1.0 if wait is None else wait)
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
        watch = DatabaseWatch(settings.worker_poll_seconds * 10)
        sender = threading.Thread(target=_send_until_stopped, args=(worker, stop, watch), name="webhook-sender",
                                  daemon=True)
        worker.sending_in_background = True
        worker.paced = True
        sender.start()
        with _stop_on_signals(stop):
            while not stop.is_set():
                try:
                    work = worker.step()
                    watch.succeeded()
                except Exception as exc:  # a database hiccup must not end the worker; log, wait, retry
                    worker.stats.errors += 1
                    worker.stats.last_error = f"{type(exc).__name__}: {exc}"[:500]
                    wait = watch.failed(exc)
                    if wait is None:
                        log.exception("worker step failed; retrying")
                    work = 0
                    stop.wait(min(5.0, settings.worker_poll_seconds * 10) if wait is None else wait)
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
    parser.add_argument("--demo", action="store_true", help=argparse.SUPPRESS)  # `omnihub demo`'s own worker
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    if not args.demo:
        problem = secret_problem(settings.secret_key)
        if problem:
            raise SystemExit(problem)
    run_worker(settings, once=args.once, concurrency=args.concurrency, batch_size=args.batch_size,
               lease_seconds=args.lease_seconds)


if __name__ == "__main__":
    main()
