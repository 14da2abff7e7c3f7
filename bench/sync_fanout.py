"""Benchmark: stock changes fanned out as signed webhooks to many receivers, through a running server + worker.

    export OMNIHUB_OUTBOUND_ALLOW=127.0.0.1    # the receivers below are local: let the hub reach them
    omnihub serve &  omnihub worker &          # same OMNIHUB_DATABASE_URL (PostgreSQL for real numbers)
    python bench/sync_fanout.py --url http://127.0.0.1:8000 --key ADMIN_KEY --receivers 20 --rate 200 --seconds 30

It starts --receivers local HTTP receivers (raw asyncio servers on 127.0.0.1, keep-alive, answering 200),
subscribes each to `availability.changed` (the issue's set-up; `--events both` adds `stock.changed`), with
`--batch` events per POST (1 = one request per event), then drives --rate stock changes per second for
--seconds through `PUT /api/v1/stock/{location}/{sku}`. Each change is a distinct on-hand figure, so
receivers recognise it: every change must reach every receiver (as its own `availability.changed`, or as
its `stock.changed` with `--events both`); every receiver must have received the same events; the last
availability each receiver saw per (channel, SKU) must equal what the API reports at the end. Prints
delivery throughput, requests, latency to receipt (p50/p99/max) from the stock change's commit (the PUT's
answer; this includes the availability projection) and from the event's `occurred_at`, duplicates
(at-least-once makes some possible) and anything missing. The subscriptions it made are deactivated at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CLIENT_ERRORS, LeanClient

console = Console()
LOCATION = "bench-fanout-s1"
CHANNEL = "bench-fanout-web"


@dataclass
class Inbox:
    """What one receiver got: changes seen, duplicates, latencies, last availability per (channel, SKU)."""

    changes: set[tuple[str, int]] = field(default_factory=set)  # (sku, on_hand) of stock.changed
    events: set[str] = field(default_factory=set)
    duplicates: int = 0
    received: int = 0
    requests: int = 0
    available: set[tuple[str, int]] = field(default_factory=set)  # (sku, available) of availability.changed
    latencies: list[float] = field(default_factory=list)  # event occurred_at → receipt
    arrived: dict[tuple[str, str, int], float] = field(default_factory=dict)  # first receipt of each change's proof
    availability: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # → (occurred_at, n)


class Receivers:
    """N raw asyncio HTTP/1.1 servers on one event-loop thread: cheap enough to take thousands of POSTs/s."""

    def __init__(self, count: int) -> None:
        self.inboxes = [Inbox() for _ in range(count)]
        self.ports: list[int] = []
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(10)

    def total_received(self) -> int:
        return sum(i.received for i in self.inboxes)

    def _record(self, inbox: Inbox, body: bytes, now: float) -> None:
        document = json.loads(body)
        with self.lock:
            inbox.requests += 1
        for envelope in document.get("events", [document]):
            self._record_event(inbox, envelope, now)

    def _record_event(self, inbox: Inbox, envelope: dict, now: float) -> None:
        occurred = datetime.fromisoformat(envelope["occurred_at"]).timestamp()
        data = envelope["data"]
        with self.lock:
            inbox.received += 1
            if envelope["id"] in inbox.events:
                inbox.duplicates += 1
                return
            inbox.events.add(envelope["id"])
            inbox.latencies.append(now - occurred)
            if envelope["type"] == "stock.changed" and data.get("location") == LOCATION:
                inbox.changes.add((data["sku"], int(data["on_hand"])))
                inbox.arrived.setdefault(("stock", data["sku"], int(data["on_hand"])), now)
            elif envelope["type"] == "availability.changed" and data.get("channel") == CHANNEL:
                inbox.available.add((data["sku"], int(data["available"])))
                inbox.arrived.setdefault(("availability", data["sku"], int(data["available"])), now)
                key = (data["channel"], data["sku"])
                seen = inbox.availability.get(key)
                if seen is None or seen[0] <= envelope["occurred_at"]:
                    inbox.availability[key] = (envelope["occurred_at"], int(data["available"]))

    async def _serve(self, inbox: Inbox, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                body = await reader.readexactly(length) if length else b""
                self._record(inbox, body, time.time())
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            for inbox in self.inboxes:
                server = await asyncio.start_server(
                    lambda r, w, inbox=inbox: self._serve(inbox, r, w), "127.0.0.1", 0, backlog=1024)
                self.ports.append(server.sockets[0].getsockname()[1])
            self._ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()


def ensure(response: httpx.Response, *allowed: int) -> None:
    if response.status_code not in allowed:
        raise SystemExit(f"{response.request.method} {response.request.url} → {response.status_code}: {response.text}")


def setup(api: httpx.Client, skus: list[str]) -> None:
    """Idempotent: a second run reuses the location, products and channel."""
    ensure(api.post("/api/v1/locations", json={"code": LOCATION, "name": "Bench fan-out store", "kind": "store",
                                               "lat": 40.42, "lon": -3.70, "pickup": True}), 201, 409)
    for sku in skus:
        ensure(api.post("/api/v1/products", json={"sku": sku, "name": f"Bench {sku}", "category": "bench"}),
               201, 409)
    ensure(api.post("/api/v1/channels", json={"code": CHANNEL, "name": "Bench fan-out web", "kind": "web",
                                              "currency": "EUR", "country": "ES", "locations": [LOCATION],
                                              "stock_buffer": 0}), 201, 409)
    # Availability is published only where a product is priced (docs/api.md).
    ensure(api.put(f"/api/v1/channels/{CHANNEL}/prices", json=[{"sku": sku, "amount": "10.00"} for sku in skus]), 200)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True, help="an admin API key")
    parser.add_argument("--receivers", type=int, default=20)
    parser.add_argument("--rate", type=float, default=200.0, help="stock changes per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--skus", type=int, default=200, help="distinct SKUs the changes rotate over")
    parser.add_argument("--drivers", type=int, default=32, help="concurrent HTTP clients driving changes")
    parser.add_argument("--events", choices=["availability", "both"], default="availability",
                        help="availability.changed only (the issue), or stock.changed as well")
    parser.add_argument("--batch", type=int, default=1, help="webhook batch_size: events per POST")
    parser.add_argument("--drain-seconds", type=float, default=120.0,
                        help="how long to wait after the drive for deliveries to arrive")
    args = parser.parse_args()

    headers = {"Authorization": f"Bearer {args.key}"}
    api = httpx.Client(base_url=args.url, headers=headers, timeout=30,
                       limits=httpx.Limits(max_connections=args.drivers + 4))
    run = f"{int(time.time()) % 1_000_000:06d}"
    skus = [f"BENCH-FAN-{i:04d}" for i in range(args.skus)]
    console.print(f"setting up {args.skus} SKUs, location {LOCATION}, channel {CHANNEL} …")
    setup(api, skus)

    receivers = Receivers(args.receivers)
    events = ["availability.changed"] + (["stock.changed"] if args.events == "both" else [])
    # What proves a change arrived: its own stock.changed, or (availability only) the availability it made.
    def seen(inbox: Inbox) -> set[tuple[str, int]]:
        return inbox.changes if args.events == "both" else inbox.available

    hooks = []
    for port in receivers.ports:
        response = api.post("/api/v1/webhooks", json={"url": f"http://127.0.0.1:{port}/hook/{run}",
                                                      "events": events, "batch_size": args.batch})
        ensure(response, 201)
        hooks.append(response.json()["id"])
    console.print(f"{len(hooks)} receivers subscribed on ports {receivers.ports[0]}…{receivers.ports[-1]}")

    total = int(args.rate * args.seconds)
    # Distinct, run-specific on_hand values: every PUT is a real change, recognisable at the receivers.
    base = 1_000 + (int(run) % 1000) * 10_000
    changes = [(skus[i % len(skus)], base + i // len(skus)) for i in range(total)]
    counter = itertools.count()
    done: list[tuple[str, int]] = []
    answered: dict[tuple[str, int], float] = {}  # when the PUT that made each change answered (after commit)
    failures: list[str] = []
    done_lock = threading.Lock()
    start = time.monotonic() + 0.5

    def drive() -> None:
        with LeanClient(args.url, headers, timeout=30) as http:  # one keep-alive connection per driver
            while True:
                i = next(counter)
                if i >= total:
                    return
                drive_one(http, i)

    def drive_one(http: LeanClient, i: int) -> None:
        delay = start + i / args.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sku, on_hand = changes[i]
        try:
            response = http.request("PUT", f"/api/v1/stock/{LOCATION}/{sku}", json.dumps({"on_hand": on_hand}))
            ok = response.status_code == 200
            error = None if ok else f"{response.status_code} {response.content[:200].decode(errors='replace')}"
        except CLIENT_ERRORS as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
        answered_at = time.time()
        with done_lock:
            if ok:
                done.append((sku, on_hand))
                answered[(sku, on_hand)] = answered_at
            else:
                failures.append(error or "?")

    expected_deliveries = total * args.receivers
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        drive_task = progress.add_task("stock changes sent", total=total)
        recv_task = progress.add_task("changes seen at receivers", total=expected_deliveries)
        pool = ThreadPoolExecutor(max_workers=args.drivers)
        futures = [pool.submit(drive) for _ in range(args.drivers)]
        while not all(f.done() for f in futures):
            progress.update(drive_task, completed=len(done) + len(failures))
            with receivers.lock:
                progress.update(recv_task, completed=sum(len(seen(i)) for i in receivers.inboxes))
            time.sleep(0.2)
        for f in futures:
            f.result()
        drive_end = time.monotonic()
        progress.update(drive_task, completed=len(done) + len(failures))
        expected_deliveries = len(done) * args.receivers
        progress.update(recv_task, total=expected_deliveries)
        deadline = time.monotonic() + args.drain_seconds
        accepted = set(done)
        while time.monotonic() < deadline:
            with receivers.lock:
                got = sum(len(seen(i) & accepted) for i in receivers.inboxes)
            progress.update(recv_task, completed=got)
            if got >= expected_deliveries:
                break
            time.sleep(0.2)
        settle = time.monotonic()
        time.sleep(2.0)  # let the last availability.changed events land
    elapsed = settle - start

    wanted = set(done)
    finals: dict[str, int] = {}
    for sku in skus:
        response = api.get(f"/api/v1/availability/{sku}", params={"channel": CHANNEL})
        if response.status_code == 200:
            finals[sku] = int(response.json()["available"])
    for hook in hooks:
        api.delete(f"/api/v1/webhooks/{hook}")

    with receivers.lock:
        latencies = [x for i in receivers.inboxes for x in i.latencies]
        # End to end: from the PUT's answer (its commit) to the receiver, through the availability projection.
        proof = "stock" if args.events == "both" else "availability"
        end_to_end = [at - answered[(sku, n)] for i in receivers.inboxes
                      for (kind, sku, n), at in i.arrived.items() if kind == proof and (sku, n) in answered]
        seen_anywhere = set().union(*(seen(i) for i in receivers.inboxes)) & wanted
        missing = sum(len(seen_anywhere - seen(i)) for i in receivers.inboxes)
        # availability.changed reports the figure when the projector runs: two changes of one SKU in the
        # same dispatch batch publish once, with the later figure. stock.changed has one event per change.
        unpublished = len(wanted - seen_anywhere)
        union = set().union(*(i.events for i in receivers.inboxes))
        uneven = sum(len(union - i.events) for i in receivers.inboxes)
        requests = sum(i.requests for i in receivers.inboxes)
        duplicates = sum(i.duplicates for i in receivers.inboxes)
        received = receivers.total_received()
        stale = sum(1 for inbox in receivers.inboxes for sku, n in finals.items()
                    if inbox.availability.get((CHANNEL, sku), ("", None))[1] != n)

    table = Table(title=f"webhook fan-out: {args.receivers} receivers, {args.rate:g} changes/s for {args.seconds:g}s")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("stock changes accepted / failed", f"{len(done)} / {len(failures)}")
    table.add_row("drive rate achieved", f"{len(done) / max(1e-9, drive_end - start):.0f} changes/s")
    table.add_row("subscribed to / events per POST", f"{', '.join(events)} / {args.batch}")
    table.add_row("events received (incl. duplicates) / POSTs", f"{received} / {requests}")
    table.add_row("delivery throughput (drive start → last change seen)", f"{received / elapsed:.0f} events/s")
    for label, values in (("stock change committed → receipt", end_to_end),
                          ("event occurred_at → receipt", latencies)):
        table.add_row(f"latency {label} p50 / p99 / max",
                      f"{percentile(values, 0.50) * 1000:.0f} / {percentile(values, 0.99) * 1000:.0f} / "
                      f"{max(values, default=float('nan')) * 1000:.0f} ms")
    table.add_row("duplicate deliveries", f"{duplicates}")
    table.add_row("changes missing at some receiver (seen at another)", f"{missing}")
    table.add_row("changes no receiver saw" + (" (superseded before publication)" if args.events != "both" else ""),
                  f"{unpublished}")
    table.add_row("events some receiver got and another did not", f"{uneven}")
    table.add_row("(receiver, SKU) whose last availability ≠ API", f"{stale}")
    console.print(table)
    if failures:
        console.print(f"first failure: {failures[0]}")
    complete = (missing == 0 and not failures and stale == 0 and uneven == 0
                and (unpublished == 0 or args.events != "both"))
    console.print("[bold green]every change reached every receiver[/]" if complete
                  else "[bold red]NOT every change reached every receiver[/]")
    sys.exit(0 if complete else 1)


if __name__ == "__main__":
    main()
