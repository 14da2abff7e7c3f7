"""The worker's threading step alone: CPU per message of `service.ingest_meta` (`ingest.drain` → `receive_many`),
in this process, without HTTP, the dispatcher or other load.

    python bench/inbox_drain.py --conversations 20000 --messages 100000 --batches 20
    python bench/inbox_drain.py --batches 10 --profile 25        # and the 25 costliest functions (cProfile)

It makes a PostgreSQL database (`--db`, dropped and re-created), generates the desk's data as bench/inbox.py does
(customers with phones, conversations in every status, messages), configures a WhatsApp connection, then for each
of `--batches` rounds stores `ingest.BATCH` signed payloads (`accept_meta`, as the webhook does; not measured) and
threads them with one `drain` (measured): 70 % of the senders are existing customers (they join, wake or reopen
their conversation), 30 % new numbers (a profile and a conversation are opened). It prints the Python process's
CPU ms per message (`time.process_time`), the PostgreSQL backend's CPU ms per message (from /proc) and the wall
ms per message, with the load average.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

import psycopg
import sqlalchemy as sa
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inbox import APP_SECRET, NEW_PHONE_BASE, PHONE_NUMBER_ID, SECRET, generate, webhook
from omnihub.app import create_app
from omnihub.config import Settings
from omnihub.core.clock import SystemClock
from omnihub.core.db import Database
from omnihub.core.migrate import upgrade
from omnihub.core.security import create_api_key
from omnihub.service import ingest
from omnihub.worker import Worker

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def backend_cpu(pid: int) -> float:
    """utime + stime of a PostgreSQL backend, from /proc (same host)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--per-payload", type=int, default=1)
    parser.add_argument("--high-value-from", type=Decimal, default=None)
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions (cProfile)")
    parser.add_argument("--reads", type=int, default=0,
                        help="then N agent list requests and N thread opens in-process (CPU ms each; with "
                             "--profile, their costliest functions too)")
    parser.add_argument("--dispatch", action="store_true",
                        help="also hand each drain's events to the worker's event handlers (`Worker.dispatch`: "
                             "routing, bot, media, automations, webhooks fan-out…), measured apart")
    parser.add_argument("--db", default="inbox_drain_bench")
    args = parser.parse_args()

    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + args.db
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {args.db}")
    try:
        run(args, url)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")


def run(args: argparse.Namespace, url: str) -> None:
    db_url = url.replace("postgresql://", "postgresql+psycopg://")
    upgrade(db_url)
    took = generate(url, args.conversations, args.messages)
    print(f"generated {args.conversations:,} conversations / {args.messages:,} messages in {took:.1f} s")
    settings = Settings(database_url=db_url, secret_key=SECRET, service_high_value_from=args.high_value_from)
    db = Database(db_url, pool_size=1)
    clock = SystemClock()
    with db.transaction() as conn:
        _, admin = create_api_key(conn, clock, SECRET, role="admin")
    app = create_app(settings, db=db, clock=clock)
    with TestClient(app) as api:
        api.headers["Authorization"] = f"Bearer {admin}"
        for method, path, body in (
                ("POST", "/api/v1/locations", {"code": "wh", "name": "Warehouse", "kind": "warehouse", "lat": 40.35,
                                               "lon": -3.7, "pickup": False}),
                ("POST", "/api/v1/channels", {"code": "wa", "name": "WhatsApp", "kind": "social", "currency": "EUR",
                                              "country": "ES", "locations": ["wh"], "stock_buffer": 0}),
                ("PUT", "/api/v1/connectors/meta/wa", {"app_secret": APP_SECRET, "verify_token": "bench",
                                                       "access_token": "EAAG-bench",
                                                       "phone_number_id": PHONE_NUMBER_ID})):
            answer = api.request(method, path, json=body)
            assert answer.status_code < 300, answer.text
    rng = random.Random(16)
    counter = iter(range(10**9))
    profiler = cProfile.Profile() if args.profile else None
    cpu = backend = wall = 0.0
    dispatch_cpu = dispatch_backend = 0.0
    dispatched = 0
    worker = Worker(settings, db, clock) if args.dispatch else None
    dispatch_profiler = cProfile.Profile() if args.profile and worker else None
    if worker:
        worker.dispatch(max_batches=10**6)  # the set-up's events
    threaded = 0
    load = [os.getloadavg()[0]]
    for _ in range(args.batches):
        for _ in range(ingest.BATCH):
            senders = []
            for _ in range(args.per_payload):
                n = next(counter)
                wa_id = (str(34_600_000_000 + rng.randint(1, args.conversations)) if rng.random() < 0.7
                         else str(NEW_PHONE_BASE + rng.randint(1, 10**7)))
                senders.append((wa_id, f"wamid.BENCH{n:012d}"))
            body, headers = webhook(senders, "¿Dónde está mi pedido? Lo necesito ya")
            ingest.accept_meta(db, clock, SECRET, body, headers["X-Hub-Signature-256"])
        with db.transaction() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            b0, c0, w0 = backend_cpu(pid), time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            took_payloads = ingest.drain(conn, clock, settings)
            if profiler:
                profiler.disable()
            c1, w1 = time.process_time(), time.perf_counter()
        b1 = backend_cpu(pid)  # after the commit
        assert took_payloads == ingest.BATCH
        cpu += c1 - c0
        backend += b1 - b0
        wall += w1 - w0
        threaded += ingest.BATCH * args.per_payload
        if worker:
            with db.transaction() as conn:
                pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            b0, c0 = backend_cpu(pid), time.process_time()
            if dispatch_profiler:
                dispatch_profiler.enable()
            dispatched += worker.dispatch(max_batches=10**6)
            if dispatch_profiler:
                dispatch_profiler.disable()
            dispatch_cpu += time.process_time() - c0
            dispatch_backend += backend_cpu(pid) - b0  # pool_size=1: the same backend
    load.append(os.getloadavg()[0])
    print(json.dumps({
        "messages": threaded, "per_payload": args.per_payload, "batches": args.batches,
        "worker_cpu_ms_per_message": round(cpu * 1000 / threaded, 3),
        "postgres_backend_cpu_ms_per_message": round(backend * 1000 / threaded, 3),
        "wall_ms_per_message": round(wall * 1000 / threaded, 3),
        **({"events_dispatched": dispatched,
            "dispatch_cpu_ms_per_message": round(dispatch_cpu * 1000 / threaded, 3),
            "dispatch_postgres_cpu_ms_per_message": round(dispatch_backend * 1000 / threaded, 3)} if worker else {}),
        "load_average_start_end": [round(x, 2) for x in load]}, indent=2))
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.profile)
        print(out.getvalue())
    if dispatch_profiler:
        out = io.StringIO()
        pstats.Stats(dispatch_profiler, stream=out).sort_stats("cumulative").print_stats(args.profile)
        print("dispatch:", out.getvalue())
    if args.reads:
        reads(app, db, admin, args.reads, args.profile)
    db.dispose()


QUEUES = ["/api/v1/conversations?status=open&limit=25", "/api/v1/conversations?assignee=none&limit=25",
          "/api/v1/conversations?team=returns&status=open&limit=25", "/api/v1/conversations?breaching=soon&limit=25"]


def reads(app: object, db: Database, admin: str, n: int, top: int) -> None:
    """What an agent's list and thread cost in the server process: through the HTTP stack in-process (no network;
    CPU of all threads), then split in this thread into the query function and the response model's validation
    and dump (FastAPI's `response_model`), with cProfile of each when asked."""
    from omnihub.core.schemas import Page
    from omnihub.service import queries
    from omnihub.service.schemas import ConversationDetail, ConversationOut

    clock = SystemClock()
    with TestClient(app) as api:  # type: ignore[arg-type]
        api.headers["Authorization"] = f"Bearer {admin}"
        ids = [item["id"] for q in QUEUES for item in api.get(q).json()["items"]]
        for label, paths in (("list", [QUEUES[i % len(QUEUES)] for i in range(n)]),
                             ("thread", [f"/api/v1/conversations/{ids[i % len(ids)]}" for i in range(n)])):
            c0, w0 = time.process_time(), time.perf_counter()
            for path in paths:
                assert api.get(path).status_code == 200
            c1, w1 = time.process_time(), time.perf_counter()
            print(f"HTTP {label}: {n} requests, {(c1 - c0) * 1000 / n:.2f} ms CPU and {(w1 - w0) * 1000 / n:.2f} ms "
                  f"wall each (load {os.getloadavg()[0]:.1f})")
    filters = [{"status": "open"}, {"assignee": "none"}, {"team": "returns", "status": "open"},
               {"breaching": "soon", "now": clock.now()}]
    steps = (
        ("list query", lambda conn, i: queries.list_conversations(conn, limit=25, cursor=None, **filters[i % 4])),
        ("thread query", lambda conn, i: queries.conversation_detail(conn, clock, ids[i % len(ids)])),
    )
    for label, step in steps:
        with db.read() as conn:
            results = []
            profiler = cProfile.Profile() if top else None
            c0 = time.process_time()
            if profiler:
                profiler.enable()
            for i in range(n):
                results.append(step(conn, i))
            if profiler:
                profiler.disable()
            c1 = time.process_time()
        model = Page[ConversationOut] if label.startswith("list") else ConversationDetail
        c2 = time.process_time()
        for result in results:
            json.dumps(model.model_validate(result).model_dump(mode="json"))
        c3 = time.process_time()
        print(f"{label}: {(c1 - c0) * 1000 / n:.2f} ms CPU each; its response model validate + dump + json: "
              f"{(c3 - c2) * 1000 / n:.2f} ms")
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
            print(out.getvalue())


if __name__ == "__main__":
    main()
