"""Outbox handler that publishes every event to NATS JetStream as `omnihub.<type>`.

handle() is called synchronously inside the dispatcher's transaction, while nats-py is asyncio: the client
lives on its own event-loop thread and handle() waits for the JetStream acks. If NATS is unreachable,
handle() raises, the dispatch transaction rolls back and the events are tried again later. Each message
carries `Nats-Msg-Id: <event id>`, so JetStream drops the copies a redelivery produces.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
from collections.abc import Sequence
from typing import Any

import nats
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError
from sqlalchemy.engine import Connection

from omnihub.core.events import Event

log = logging.getLogger("omnihub.nats")

STREAM = "OMNIHUB"
SUBJECT_PREFIX = "omnihub"


class NatsUnavailable(RuntimeError):
    """Publishing failed; the dispatcher's transaction rolls back and the events stay pending."""


def subject_for(event_type: str, prefix: str = SUBJECT_PREFIX) -> str:
    return f"{prefix}.{event_type}"


class NatsPublisher:
    """An EventHandler; create one per worker process and close() it on the way out."""

    name = "nats"

    def __init__(self, url: str, *, stream: str = STREAM, prefix: str = SUBJECT_PREFIX,
                 timeout_seconds: float = 10.0) -> None:
        self.url = url
        self.stream = stream
        self.prefix = prefix
        self.timeout = timeout_seconds
        self.published = 0
        self.duplicates = 0  # messages JetStream recognised by Nats-Msg-Id and did not store again
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats-publisher", daemon=True)
        self._thread.start()
        self._nc: Any = None
        self._js: Any = None

    def _run(self, coro: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self.timeout * 3)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise NatsUnavailable(f"NATS at {self.url} did not answer in {self.timeout * 3:.0f}s") from None
        except NatsUnavailable:
            raise
        except Exception as exc:
            raise NatsUnavailable(f"publishing to NATS at {self.url} failed: {type(exc).__name__}: {exc}") from exc

    async def _connect(self) -> Any:
        if self._js is not None and self._nc is not None and self._nc.is_connected:
            return self._js
        self._nc = await nats.connect(self.url, connect_timeout=self.timeout, max_reconnect_attempts=3,
                                      allow_reconnect=True, name="omnihub-worker")
        self._js = self._nc.jetstream(timeout=self.timeout)
        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            await self._js.add_stream(StreamConfig(name=self.stream, subjects=[f"{self.prefix}.>"]))
            log.info("created JetStream stream %s for %s.>", self.stream, self.prefix)
        return self._js

    async def _publish(self, events: Sequence[Event]) -> tuple[int, int]:
        js = await self._connect()
        acks = await asyncio.gather(*(
            js.publish(
                subject_for(e.type, self.prefix),
                json.dumps(e.envelope(), separators=(",", ":"), ensure_ascii=False, default=str).encode(),
                headers={"Nats-Msg-Id": e.id},
            )
            for e in events
        ))
        return len(acks), sum(1 for a in acks if getattr(a, "duplicate", False))

    def connect(self) -> None:
        """Connect now (and create the stream if missing) rather than on the first batch."""
        self._run(self._connect())

    def handle(self, conn: Connection, events: Sequence[Event]) -> None:
        if not events:
            return
        published, duplicates = self._run(self._publish(events))
        self.published += published
        self.duplicates += duplicates

    async def _close(self) -> None:
        if self._nc is not None:
            try:
                await self._nc.drain()
            except Exception:  # closing a broken connection must not mask the real error
                log.debug("NATS drain failed", exc_info=True)
        self._nc = self._js = None

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._run(self._close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()
