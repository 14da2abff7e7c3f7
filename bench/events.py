"""Benchmark: behavioural event ingestion and the 360 view, through the HTTP API of a running server.

    omnihub serve --workers 2   # against PostgreSQL (OMNIHUB_DATABASE_URL)
    python bench/events.py --url http://127.0.0.1:8000 --key ADMIN_KEY --events 1000000 --people 100000

Every person browses the app anonymously (device id), identifies on the web with a verified e-mail and
shows up at a store with e-mail + phone: identities overlap across channels and resolve to one profile.
A share of people (--merge-share) first appear at the store with their phone alone, so their e-mail
profile and phone profile exist separately and the linking event merges them. One "heavy" person gets
--heavy-events timeline events; the 360 view of that profile is then timed (p50/p99).

Prints events/s, merges performed (as reported by the API) and the latency percentiles. Batches are
generated before the clock starts, so the figure is the server's, not the generator's.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

CHANNELS = (("bench-app", "app"), ("bench-web", "web"), ("bench-store", "store"))
CATEGORIES = ("shoes", "running", "outdoor", "kids", "bags", "watches", "home", "beauty")
START = datetime(2026, 1, 1, tzinfo=UTC)


def person_events(i: int, count: int, merging: bool, rng: random.Random, run: str,
                  phone_offset: int) -> list[dict[str, Any]]:
    """One person's journey, in order: anonymous app → verified e-mail on the web → phone at the store."""
    device = {"anonymous_id": f"{run}-dev-{i}"}
    email = {"email": f"p{i}.{run}@bench.omnihub.io", "verified": True}
    phone = {"phone": f"+346{(phone_offset + i) % 10**8:08d}"}
    steps: list[tuple[str, str, dict[str, Any]]] = []
    if merging:
        steps.append(("store_visit", "bench-store", phone))
    steps += [("page_viewed", "bench-app", device), ("product_viewed", "bench-app", device),
              ("identified", "bench-web", {**device, **email}), ("product_viewed", "bench-web", email),
              ("cart_updated", "bench-web", email), ("store_visit", "bench-store", {**email, **phone})]
    while len(steps) < count:
        steps.append(rng.choice([("product_viewed", "bench-web", email), ("searched", "bench-app", device),
                                 ("message_opened", "bench-web", email), ("page_viewed", "bench-app", device),
                                 ("survey_answered", "bench-store", phone)]))
    steps = steps[:count] if not merging else steps[:max(count, 7)]
    at = START + timedelta(minutes=i % 50_000)
    events = []
    for n, (type_, channel, identity) in enumerate(steps):
        events.append({"type": type_, "channel": channel, "at": (at + timedelta(minutes=n)).isoformat(),
                       "identity": identity, "properties": {"category": rng.choice(CATEGORIES), "n": n}})
    return events


def stream(events: int, people: int, heavy: int, merge_share: float, seed: int, run: str,
           phone_offset: int = 0) -> list[dict[str, Any]]:
    """All events, interleaved across people while keeping each person's own order."""
    rng = random.Random(seed)
    regular = events - heavy
    per_person = [regular // people + (1 if i < regular % people else 0) for i in range(people)]
    journeys = [person_events(i, per_person[i], rng.random() < merge_share, rng, run, phone_offset)
                for i in range(people)]
    order = list(range(people))
    rng.shuffle(order)
    result: list[dict[str, Any]] = []
    longest = max(len(j) for j in journeys)
    for step in range(longest):
        result.extend(journeys[i][step] for i in order if step < len(journeys[i]))
    heavy_identity = {"email": f"heavy.{run}@bench.omnihub.io", "verified": True}
    spacing = max(1, len(result) // heavy) if heavy else 0
    mixed: list[dict[str, Any]] = []
    sent = 0
    for n, item in enumerate(result):
        if heavy and sent < heavy and n % spacing == 0:
            mixed.append({"type": "product_viewed", "channel": "bench-web",
                          "at": (START + timedelta(seconds=sent)).isoformat(), "identity": heavy_identity,
                          "properties": {"category": CATEGORIES[sent % len(CATEGORIES)], "n": sent}})
            sent += 1
        mixed.append(item)
    return mixed[:events]


def batches(events: list[dict[str, Any]], size: int) -> Iterator[bytes]:
    for start in range(0, len(events), size):
        yield json.dumps(events[start:start + size]).encode()


def ensure_channels(client: httpx.Client) -> None:
    for code, kind in CHANNELS:
        response = client.post("/api/v1/channels", json={"code": code, "name": code, "kind": kind,
                                                         "currency": "EUR", "country": "ES"})
        if response.status_code not in (201, 409):
            sys.exit(f"cannot create channel {code}: {response.status_code} {response.text}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True, help="an admin API key")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--heavy-events", type=int, default=10_000, help="timeline size of the timed profile")
    parser.add_argument("--merge-share", type=float, default=0.05, help="people whose fragments get merged")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--reads", type=int, default=1000, help="GET /customers/{id} samples")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.heavy_events >= args.events:
        sys.exit("--heavy-events must be smaller than --events")

    # Fresh identities on every run (e-mails by run id, phones by offset), so repeated runs against the same
    # database measure the same work instead of colliding with the previous run's people.
    run = f"r{int(time.time())}"
    phone_offset = (int(time.time()) % 900) * max(args.people, 100_000)
    headers = {"Authorization": f"Bearer {args.key}"}
    with httpx.Client(base_url=args.url, headers=headers, timeout=120) as client:
        ensure_channels(client)

    print(f"generating {args.events:,} events for {args.people:,} people…", flush=True)
    events = stream(args.events, args.people, args.heavy_events, args.merge_share, args.seed, run, phone_offset)
    bodies = list(batches(events, args.batch))
    del events

    totals = {"accepted": 0, "merges": 0, "customers_created": 0, "suggestions": 0, "ignored": 0}
    lock = threading.Lock()
    local = threading.local()
    latencies: list[float] = []

    def post(body: bytes) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=args.url, headers={**headers, "Content-Type": "application/json"},
                                        timeout=300)
        started = time.perf_counter()
        response = local.client.post("/api/v1/events", content=body)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"POST /events: {response.status_code} {response.text[:500]}")
        result = response.json()
        with lock:
            latencies.append(elapsed)
            for key in totals:
                totals[key] += result[key]

    print(f"ingesting {len(bodies):,} batches of {args.batch} with {args.concurrency} connections…", flush=True)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        for future in [pool.submit(post, body) for body in bodies]:
            future.result()
    elapsed = time.perf_counter() - started

    with httpx.Client(base_url=args.url, headers=headers, timeout=60) as client:
        heavy = client.get("/api/v1/customers/lookup", params={"email": f"heavy.{run}@bench.omnihub.io"})
        heavy.raise_for_status()
        heavy_id = heavy.json()["id"]
        timeline_total = heavy.json()["stats"]["events_count"]
        for _ in range(20):  # warm-up
            client.get(f"/api/v1/customers/{heavy_id}").raise_for_status()
        reads = []
        for _ in range(args.reads):
            t0 = time.perf_counter()
            client.get(f"/api/v1/customers/{heavy_id}").raise_for_status()
            reads.append((time.perf_counter() - t0) * 1000)

    print()
    rate = totals["accepted"] / elapsed
    print(f"events ingested      {totals['accepted']:,} in {elapsed:.1f} s  ->  {rate:,.0f} events/s")
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    print(f"batch latency        p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    print(f"profiles created     {totals['customers_created']:,}")
    print(f"merges performed     {totals['merges']:,}")
    print(f"merge suggestions    {totals['suggestions']:,}")
    print(f"ignored (blocked)    {totals['ignored']:,}")
    print(f"360 view             profile {heavy_id} with {timeline_total:,} timeline events")
    print(f"GET /customers/{{id}}  p50 {statistics.median(reads):.1f} ms, p99 {percentile(reads, 99):.1f} ms "
          f"over {len(reads)} requests")


if __name__ == "__main__":
    main()
