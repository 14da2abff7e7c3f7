"""What a room tells the house about itself: its router, how it joins other rooms, its event handlers and its
background jobs. Each room declares one `ROOM` in its `room.py`; `omnihub.bootstrap` reads them all and every
process (API, worker, CLI, demo, tests) gets the same wiring from there.

Core only defines the shapes; it knows no room."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omnihub.core.clock import Clock
from omnihub.core.events import EventHandler

if TYPE_CHECKING:
    from omnihub.config import Settings


@dataclass(frozen=True)
class Job:
    """Background work a room gives the worker: `run(conn, clock, settings)` in one short transaction, returning
    how much it did (0: nothing due). With `batch`, a run that did `batch` or more goes again in the same step
    (up to the worker's limit), so a backlog drains without starving the other jobs. With `every`, the job runs
    only when that many seconds (read from the settings) passed since its last run, by the injected clock. With
    `paced`, the running loop (not `drain`) polls it at most once per `worker_pace_seconds` of wall time."""

    name: str
    run: Callable[[Any, Clock, Settings], int]  # (Connection, …); with transaction=False (Database, …)
    batch: int | None = None
    every: Callable[[Settings], float] | None = None
    enabled: Callable[[Settings], bool] = lambda _settings: True
    counts_as_work: bool = True  # False for checks (reconciliation): their findings do not keep the loop busy
    # Looks for things that fall due with time (expiries, SLA clocks, idle carts): in the running loop it polls at
    # most once per `worker_pace_seconds` of wall time while it finds no backlog, not on every 0.2 s step.
    paced: bool = False
    # False: `run(db, clock, settings)` opens its own transactions — for a job whose long read (a model fit) must
    # hold no transaction while it runs (on SQLite one would hold the write lock, stopping every other writer).
    transaction: bool = True
    # With `batch`: at most this many runs in one worker step (None: the worker's limit). A job whose runs make
    # events for the dispatcher keeps it low, so the step's dispatch comes round before its backlog grows.
    runs: int | None = None


@dataclass(frozen=True)
class Room:
    """One room as the house sees it.

    `router`: "module:attribute" of its FastAPI router, imported only by the web app (the worker and the CLI
    never load the web layer). `first_router`: likewise, for routes the app matches before every room's router —
    a webhook that arrives in storms, at an exact path no other route matches (the app tries its routes in order:
    the hundredth costs ~0.3 ms of CPU to reach). `wire`: registers the room's listeners at other rooms'
    extension points (merge and erasure participants, 360-view sections, event rewrite listeners); must be
    idempotent. `handlers`: its event handlers for the worker's dispatcher, placed by `handler_order`
    (projections low, outlets high: the webhook fan-out takes the positions lock, so it goes last). `jobs`: its
    background jobs."""

    name: str
    router: str | None = None
    first_router: str | None = None
    wire: Callable[[], None] | None = None
    handlers: Callable[[Clock, Settings], Sequence[EventHandler]] | None = None
    handler_order: int = 100
    jobs: Sequence[Job] = field(default_factory=tuple)
