"""Payment notifications under a duplicate storm: N web orders paid by Stripe wait `awaiting_payment`; then every
order's signed `payment_intent.amount_capturable_updated` notification is sent 3 times, shuffled, by C client
threads at once. Reports notifications/s and latency. The webhook stores the verified notification and answers;
the worker's job applies the stored ones (billing/notifications.py): the script waits until every one is
applied (older schemas apply in the request: nothing to wait for), then checks the database: every order paid
exactly once (one billing payment, one `paid` step in its history) — 0 double captures — and, once the worker's
job has numbered the queued invoices, one invoice each. With `--server-pid` (the server's and the worker's),
it reports their CPU per notification: the storm alone, through every notification applied, and with the
invoicing that follows.

The server must be able to reach this script's Stripe stand-in (tests/provider_receiver.py), which answers the
PaymentIntents the hub creates after each order's commit: start it with OMNIHUB_OUTBOUND_ALLOW=127.0.0.1.

    .venv/bin/python bench/payment_notifications.py --url $URL --key $KEY --db-url $DBURL --orders 1000 --clients 16
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.provider_receiver import Call, ProviderReceiver

from common import CLIENT_ERRORS, LeanClient, call, git_revision, machine, percentile, postgres_version, run_clients

SECRET = "whsec_bench_secret"


def stripe_stand_in() -> ProviderReceiver:
    receiver = ProviderReceiver().start()
    counter = iter(range(1, 10**9))

    def create(c: Call) -> tuple[int, Any]:
        n = next(counter)
        form = c.form
        return 200, {"id": f"pi_b{n:07d}", "object": "payment_intent", "amount": int(form["amount"]),
                     "currency": form["currency"], "client_secret": f"pi_b{n:07d}_secret",
                     "status": "requires_payment_method", "metadata": {"payment_id": form["metadata[payment_id]"]}}

    receiver.route("POST", "/v1/payment_intents", create)
    return receiver


def server_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of the given processes and their children (uvicorn's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    seen: set[int] = set()
    todo, total = list(pids), 0.0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    return total


def signed(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(event).encode()
    t = int(time.time())
    v1 = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={t},v1={v1}", "Content-Type": "application/json"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--server-pid", type=int, action="append", default=[],
                        help="the server's (and worker's) process ids: their CPU per notification is reported")
    args = parser.parse_args()

    receiver = stripe_stand_in()
    tag = uuid.uuid4().hex[:6]
    channel, sku = f"pay{tag}", f"PAY-{tag}".upper()
    api = httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.key}"}, timeout=60)
    call(api, "POST", "/api/v1/locations", json={"code": f"wh{tag}", "name": "Bench DC", "kind": "warehouse",
                                                  "lat": 40.3, "lon": -3.7, "pickup": False})
    call(api, "POST", "/api/v1/products", json={"sku": sku, "name": "Bench tee", "category": "apparel"})
    call(api, "POST", "/api/v1/channels", json={"code": channel, "name": "Bench web", "kind": "web",
                                                 "currency": "EUR", "country": "ES", "locations": [f"wh{tag}"]})
    call(api, "PUT", f"/api/v1/channels/{channel}/prices", json=[{"sku": sku, "amount": "20.00"}])
    call(api, "PUT", f"/api/v1/stock/wh{tag}/{sku}", json={"on_hand": args.orders + 10})
    call(api, "PUT", f"/api/v1/channels/{channel}/payment-providers/stripe", json={
        "secret_key": "sk_test_bench", "webhook_secret": SECRET, "api_base": receiver.base})

    print(f"placing {args.orders} orders paid by Stripe ...", file=sys.stderr)
    payments: list[tuple[str, str, str]] = []  # (order, payment, intent)
    for _ in range(args.orders):
        order = call(api, "POST", "/api/v1/orders", json={
            "channel": channel, "lines": [{"sku": sku, "quantity": 1}],
            "fulfilment": {"type": "ship", "address": {"country": "ES", "city": "Madrid", "postal_code": "28001",
                                                       "line1": "Calle Mayor 1"}},
            "payments": [{"method": "stripe", "amount": "20.00"}]})
        [payment] = call(api, "GET", f"/api/v1/orders/{order['id']}/provider-payments")["payments"]
        payments.append((order["id"], payment["id"], payment["reference"]))

    notifications = []
    for order_id, payment_id, intent in payments:
        intent_object = {"id": intent, "object": "payment_intent", "amount": 2000, "status": "requires_capture",
                         "amount_capturable": 2000, "metadata": {"payment_id": payment_id, "order_id": order_id}}
        event = {"id": f"evt_{uuid.uuid4().hex}", "object": "event",
                 "type": "payment_intent.amount_capturable_updated", "data": {"object": intent_object}}
        notifications.extend([signed(event)] * args.copies)
    random.Random(7).shuffle(notifications)
    queue = list(enumerate(notifications))
    lock = threading.Lock()
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    start = threading.Event()
    ready = threading.Barrier(args.clients, action=start.set)

    def client() -> None:
        mine: list[float] = []
        seen: dict[str, int] = {}
        with LeanClient(args.url) as lean:
            ready.wait()
            while True:
                with lock:
                    if not queue:
                        break
                    _, (body, headers) = queue.pop()
                t0 = time.perf_counter()
                try:
                    answer = lean.post("/api/v1/connectors/stripe/webhooks", body, headers)
                    key = str(answer.status_code) if answer.status_code != 200 else (
                        "duplicate" if answer.json()["duplicate"] else "accepted")
                except CLIENT_ERRORS as exc:
                    key = type(exc).__name__
                mine.append(time.perf_counter() - t0)
                seen[key] = seen.get(key, 0) + 1
        with lock:
            latencies.extend(mine)
            for k, v in seen.items():
                outcomes[k] = outcomes.get(k, 0) + v

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    cpu_before = server_cpu(args.server_pid)
    wall, load_cpu = run_clients(threads, start)
    cpu_storm = server_cpu(args.server_pid) - cpu_before
    receiver.stop()

    import psycopg

    ids = [p[0] for p in payments]
    event_ids = sorted({json.loads(body)["id"] for body, _ in notifications})
    with psycopg.connect(args.db_url, autocommit=True) as conn:
        # Stored by the webhook, applied by the worker's job: wait until none of ours is pending.
        deadline, t_apply = time.monotonic() + 300, time.perf_counter()
        inbox = conn.execute("SELECT to_regclass('provider_notifications')").fetchone()[0] is not None
        while inbox and time.monotonic() < deadline and conn.execute(
                "SELECT count(*) FROM provider_notifications WHERE status = 'pending' AND event_id = ANY(%s)",
                (event_ids,)).fetchone()[0]:
            time.sleep(0.05)
        applied_after = time.perf_counter() - t_apply
        cpu_applied = server_cpu(args.server_pid) - cpu_before
        failed = conn.execute("SELECT count(*) FROM provider_notifications WHERE status <> 'done' AND "
                              "event_id = ANY(%s)", (event_ids,)).fetchone()[0] if inbox else 0
        recorded = conn.execute("SELECT order_id, count(*) FROM payments WHERE order_id = ANY(%s) GROUP BY order_id",
                                (ids,)).fetchall()
        paid_steps = conn.execute("SELECT order_id, count(*) FROM order_history WHERE to_status = 'paid' AND "
                                  "order_id = ANY(%s) GROUP BY order_id", (ids,)).fetchall()
        statuses = conn.execute("SELECT status, count(*) FROM orders WHERE id = ANY(%s) GROUP BY status",
                                (ids,)).fetchall()
        # The invoices are numbered by the worker's job, in batches: wait for the queue to drain.
        deadline, t_queue = time.monotonic() + 120, time.perf_counter()
        queued = conn.execute("SELECT to_regclass('invoices_due')").fetchone()[0] is not None  # older schemas: none
        while queued and time.monotonic() < deadline and conn.execute(
                "SELECT count(*) FROM invoices_due WHERE order_id = ANY(%s)", (ids,)).fetchone()[0]:
            time.sleep(0.2)
        drained = time.perf_counter() - t_queue
        invoices = conn.execute("SELECT order_id, count(*) FROM billing_documents WHERE kind = 'invoice' AND "
                                "order_id = ANY(%s) GROUP BY order_id", (ids,)).fetchall()
    cpu_total = server_cpu(args.server_pid) - cpu_before
    double = sum(1 for _, n in recorded if n > 1) + sum(1 for _, n in paid_steps if n > 1)
    latencies.sort()
    total = len(notifications)
    print(json.dumps({
        "notifications": total, "orders": args.orders, "copies": args.copies, "clients": args.clients,
        "seconds": round(wall, 2), "notifications_per_s": round(total / wall, 1),
        "all_applied_after_s": round(applied_after, 2),
        "applied_notifications_per_s": round(total / (wall + applied_after), 1), "not_applied": failed,
        "p50_ms": round(percentile(latencies, 50) * 1000, 1), "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "outcomes": outcomes, "orders_by_status": dict(statuses), "orders_paid_once": len(paid_steps),
        "double_captures": double, "invoices": sum(n for _, n in invoices),
        "double_invoices": sum(1 for _, n in invoices if n > 1), "invoice_queue_drained_after_s": round(drained, 2),
        "server_cpu_ms_per_notification_storm": round(cpu_storm * 1000 / total, 2) if args.server_pid else None,
        "server_cpu_ms_per_notification": round(cpu_applied * 1000 / total, 2) if args.server_pid else None,
        "server_cpu_ms_per_notification_with_invoicing": round(cpu_total * 1000 / total, 2) if args.server_pid
        else None, "load_average": os.getloadavg(), "load_generator_cores": round(load_cpu, 2), "machine": machine(),
        "database": postgres_version(args.db_url), "commit": git_revision()}, indent=2))


if __name__ == "__main__":
    main()
