"""The service desk under load: signed Meta webhooks ingested while agents list their queues and open threads.

    python bench/inbox.py --conversations 200000 --messages 1000000 --seconds 60     # the goal's scale
    python bench/inbox.py --conversations 20000 --messages 100000 --seconds 20       # a quick run

One run does everything: (1) makes a PostgreSQL database (default `omnihub_bench_inbox`, dropped and re-created),
migrates it and generates N customers (each with a phone identity), N conversations (open, pending, snoozed,
resolved; assigned or not; in teams; with SLA due times) and M messages inside PostgreSQL in bulk
(`INSERT … SELECT … FROM generate_series`); (2) starts `omnihub serve --workers 2` and `--drainers` `omnihub worker`
processes on `--port` (default 19010) and configures a WhatsApp connection; (3) for `--seconds`, `--hooks` threads
post WhatsApp Cloud API webhooks exactly as Meta sends them, signed with `X-Hub-Signature-256`, with
`--per-payload` messages each (70 % from generated customers' phones — they join their conversation —, 30 % from
new numbers), while `--agents` threads loop over the inbox: the open queue, the unassigned queue, the team's
queue, "breaching soon", and one thread opened from the list (each as fast as it is answered, or `--agent-rate`
cycles per second in all: a fixed demand, so that faster reads do not add load). Then it waits (up to `--settle` s)
for the worker to thread what was accepted.

Ingestion is two steps (docs/service-desk.md): the webhook stores the signed payload and answers; the worker
threads it. So it prints both: **accepted** messages/s (in payloads answered 200 during the load) with webhook
p50/p99, and **drained** messages/s (messages threaded into their conversations per second, sampled from the
database while the worker runs, and the time until the backlog was gone), list and thread p50/p99, CPU seconds
per message of the API processes, of the worker processes and of the bench database's PostgreSQL backends (all
from /proc; the backends found in `pg_stat_activity` once a second, the sampler's own left out) and their total
per threaded message (API + workers + PostgreSQL: what the host spends on a message), the host's load average,
errors, and checks that every message accepted is stored exactly once.

Several messages per payload: Meta aggregates event notifications and may send up to 1,000 updates in one
request, with no guarantee of batching ("Event notifications are aggregated and sent in a batch with a maximum of
1000 updates. However batching cannot be guaranteed", Graph API Webhooks, Getting Started,
https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications); a WhatsApp
`value.messages` is an array (https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components).
`--per-payload N` puts N messages (each its own sender and `wamid`) in one change's `messages` array.

Offered load: by default the hook threads post as fast as they are answered (closed loop: the webhook's
capacity). `--rate N` offers N messages/s in all (open loop: each thread posts on its own schedule, N / hooks
messages/s, and catches up without pausing when it falls behind), so the goal can be read as "sustains N msg/s
offered with the worker's backlog bounded": then look at drained messages/s during the load, the backlog (accepted,
not threaded) when the load ends and how long it took to go. The events the worker still had to hand to its
handlers (bot, routing, automations: the outbox not dispatched yet) are printed too, at the end of the load and at
the end.

Goal (issue 16): ≥ 1,000 messages/s with webhook p99 < 100 ms, while agents' lists and threads answer at
p99 < 100 ms, at 200,000 conversations / 1,000,000 messages.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CLIENT_ERRORS, LeanClient, machine, percentile, postgres_version, run_clients

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PORT = 19010  # overridden by --port
SECRET = "bench-inbox-secret-key"
APP_SECRET = "bench-meta-app-secret"
PHONE_NUMBER_ID = "106540352242922"
NEW_PHONE_BASE = 34_700_000_000


# ---- data ------------------------------------------------------------------------------------------------------


def generate(url: str, conversations: int, messages: int) -> float:
    """Customers, identities, conversations and messages made by PostgreSQL itself. Returns seconds taken."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        run = conn.execute
        run("SELECT setseed(0.16)")
        run(f"""INSERT INTO customers (id, name, status, created_at, updated_at)
                SELECT 'cus_b' || lpad(i::text, 9, '0'), 'Cliente ' || i, 'active', now() - interval '400 days',
                       now() - interval '400 days' FROM generate_series(1, {conversations}) i""")
        run(f"""INSERT INTO customer_identities (key, customer_id, owner_id, kind, namespace, value, verified,
                                                 created_at)
                SELECT 'phone::+' || (34600000000 + i), c, c, 'phone', '', '+' || (34600000000 + i), true,
                       now() - interval '400 days'
                FROM (SELECT i, 'cus_b' || lpad(i::text, 9, '0') AS c FROM generate_series(1, {conversations}) i) x""")
        run(f"""
        INSERT INTO conversations (id, customer_id, owner_id, active_for, status, snoozed_until, assignee, priority,
                                   priority_reasons, reply_token, last_channel, last_message_at, first_response_at,
                                   resolved_at, created_at, updated_at, team_id, sla_started_at,
                                   first_response_due_at, resolution_due_at, first_response_seconds,
                                   resolution_seconds, first_response_breached_at, resolution_breached_at)
        SELECT 'cnv_b' || lpad(i::text, 9, '0'), c, c, CASE WHEN st <> 'resolved' THEN c END, st,
               CASE WHEN st = 'snoozed' THEN now() + interval '2 days' END,
               CASE WHEN r2 < 0.6 THEN 'key_agent' || (i % 20) END, pr, '[]', md5(i::text), ch,
               created + interval '30 minutes', CASE WHEN r3 < 0.8 THEN created + interval '20 minutes' END,
               CASE WHEN st = 'resolved' THEN created + interval '5 hours' END, created, created,
               CASE WHEN r2 < 0.5 THEN (ARRAY['returns', 'orders', 'vip'])[1 + (i % 3)] END, created,
               created + interval '4 hours', created + interval '24 hours',
               CASE WHEN r3 < 0.8 THEN 1200 END, CASE WHEN st = 'resolved' THEN 18000 END,
               CASE WHEN st <> 'resolved' AND r3 >= 0.8 AND created < now() - interval '4 hours' THEN now() END,
               CASE WHEN st <> 'resolved' AND created < now() - interval '24 hours' THEN now() END
        FROM (SELECT i, 'cus_b' || lpad(i::text, 9, '0') AS c, r2, r3,
                     CASE WHEN r1 < 0.30 THEN 'open' WHEN r1 < 0.40 THEN 'pending' WHEN r1 < 0.45 THEN 'snoozed'
                          ELSE 'resolved' END AS st,
                     (ARRAY['normal', 'normal', 'normal', 'high', 'urgent'])[1 + floor(random() * 5)::int] AS pr,
                     (ARRAY['whatsapp', 'instagram', 'email', 'webchat'])[1 + floor(random() * 4)::int] AS ch,
                     date_trunc('second', now() - power(random(), 3) * interval '90 days') AS created
              FROM (SELECT i, random() AS r1, random() AS r2, random() AS r3
                    FROM generate_series(1, {conversations}) i) a) b""")
        run(f"""
        INSERT INTO conversation_messages (id, conversation_id, origin_conversation_id, channel, direction, author,
                                           text, attachments, status, attempts, at, updated_at)
        SELECT 'cmsg_b' || lpad(j::text, 10, '0'), cnv, cnv, c.last_channel, d,
               CASE WHEN d = 'in' THEN c.customer_id ELSE 'key_agent1' END,
               CASE WHEN d = 'in' THEN 'Hola, ¿dónde está mi pedido ' || j || '?' ELSE 'Sale hoy, gracias.' END,
               '[]', CASE WHEN d = 'in' THEN 'received' ELSE 'sent' END, 0,
               c.created_at + (j % 7) * interval '3 minutes', c.created_at
        FROM (SELECT j, 'cnv_b' || lpad((1 + (j % {conversations}))::text, 9, '0') AS cnv,
                     CASE WHEN (j / {conversations}) % 2 = 0 THEN 'in' ELSE 'out' END AS d
              FROM generate_series(0, {messages} - 1) j) m
        JOIN conversations c ON c.id = m.cnv""")
        run("""UPDATE conversations SET sla_check_at = LEAST(
                 CASE WHEN first_response_at IS NULL AND first_response_breached_at IS NULL
                      THEN first_response_due_at END,
                 CASE WHEN resolution_breached_at IS NULL THEN resolution_due_at END)
               WHERE status <> 'resolved'""")
        run("""INSERT INTO service_teams (code, name, rr_counter, created_at, updated_at)
               VALUES ('returns', 'Returns', 0, now(), now()), ('orders', 'Orders', 0, now(), now()),
                      ('vip', 'VIP', 0, now(), now())""")
        run("ANALYZE")
    return time.perf_counter() - started


# ---- the hub ---------------------------------------------------------------------------------------------------


def start(url: str, workers: int, drainers: int) -> tuple[list[subprocess.Popen[bytes]], str, list[str]]:
    env = {**os.environ, "OMNIHUB_DATABASE_URL": url, "OMNIHUB_SECRET_KEY": SECRET}
    omnihub = str(Path(sys.executable).parent / "omnihub")

    def key(role: str) -> str:
        return subprocess.run([omnihub, "apikey", "create", "--role", role], env=env, check=True,
                              capture_output=True, text=True).stdout.strip().splitlines()[-1]

    admin, agents = key("admin"), [key("agent") for _ in range(4)]
    log = open(os.devnull, "wb")  # noqa: SIM115 - lives as long as the processes
    procs = [subprocess.Popen([omnihub, "serve", "--port", str(PORT), "--workers", str(workers)], env=env,
                              stdout=log, stderr=log)]
    procs += [subprocess.Popen([omnihub, "worker"], env=env, stdout=log, stderr=log) for _ in range(drainers)]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/healthz", timeout=1).status_code == 200:
                return procs, admin, agents
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    for p in procs:
        p.terminate()
    raise RuntimeError("the server did not come up")


def configure(admin: str) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{PORT}/api/v1",
                      headers={"Authorization": f"Bearer {admin}"}, timeout=30) as api:
        for method, path, body in (
                ("POST", "/locations", {"code": "wh", "name": "Warehouse", "kind": "warehouse", "lat": 40.35,
                                        "lon": -3.7, "pickup": False}),
                ("POST", "/channels", {"code": "wa", "name": "WhatsApp", "kind": "social", "currency": "EUR",
                                       "country": "ES", "locations": ["wh"], "stock_buffer": 0}),
                ("PUT", "/connectors/meta/wa", {"app_secret": APP_SECRET, "verify_token": "bench",
                                                "access_token": "EAAG-bench", "phone_number_id": PHONE_NUMBER_ID})):
            answer = api.request(method, path, json=body)
            if answer.status_code >= 300:
                raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")


def webhook(senders: list[tuple[str, str]], text: str) -> tuple[bytes, dict[str, str]]:
    """One WhatsApp Cloud API notification as Meta documents it — one message per (wa_id, wamid) — and its
    signature."""
    now = str(int(time.time()))
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
                  "contacts": [{"profile": {"name": "Cliente"}, "wa_id": wa_id} for wa_id, _ in senders],
                  "messages": [{"from": wa_id, "id": wamid, "timestamp": now, "type": "text",
                                "text": {"body": text}} for wa_id, wamid in senders]},
        "field": "messages"}]}]}).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": signature, "Content-Type": "application/json"}


# ---- load ------------------------------------------------------------------------------------------------------


def main() -> None:
    global PORT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--hooks", type=int, default=12, help="webhook client threads")
    parser.add_argument("--agents", type=int, default=4, help="agent client threads")
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--drainers", type=int, default=1, help="`omnihub worker` processes threading payloads")
    parser.add_argument("--per-payload", type=int, default=1, help="messages per webhook payload")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="messages/s offered across the hook threads (open loop); 0: as fast as answered")
    parser.add_argument("--agent-rate", type=float, default=0.0,
                        help="agents' cycles (a list, then a thread) per second in all; 0: each as fast as answered")
    parser.add_argument("--settle", type=float, default=120.0, help="seconds to wait for the backlog afterwards")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--db", default="omnihub_bench_inbox")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    PORT = args.port
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + args.db
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {args.db}")
    env = {**os.environ, "OMNIHUB_DATABASE_URL": url, "OMNIHUB_SECRET_KEY": SECRET}
    subprocess.run([str(Path(sys.executable).parent / "omnihub"), "migrate"], env=env, check=True,
                   capture_output=True)
    took = generate(url, args.conversations, args.messages)
    print(f"generated {args.conversations:,} conversations / {args.messages:,} messages in {took:.1f} s")
    procs, admin, agent_keys = start(url, args.workers, args.drainers)
    try:
        configure(admin)
        report = load(args, agent_keys, url, procs)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT count(*), count(DISTINCT external_id) FROM conversation_messages "
                              "WHERE external_id LIKE 'wamid.BENCH%'").fetchone()
    assert stored is not None
    report["stored"], report["stored_distinct"] = stored
    report["no_message_stored_twice"] = stored[0] == stored[1]
    report["every_accepted_message_threaded"] = stored[1] == report["messages_ok"]  # else: backlog left at the end
    print(json.dumps(report, indent=2))
    print(f"{machine()}; {postgres_version(url)}")
    if not args.keep:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and of its children that are still alive (uvicorn's workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


class PostgresCpu:
    """CPU seconds of the bench database's PostgreSQL backends (/proc of each backend: same host), sampled while the
    run goes: a backend first seen after the start counts from 0, one that ended counts what it had at its last
    sample. The sampling connection's own backend is left out."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.own = self.conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.started = False

    def sample(self) -> None:
        pids = [r[0] for r in self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
        for pid in pids:
            used = cpu_seconds_of(pid)
            if used is None:
                continue
            self.start.setdefault(pid, used if not self.started else 0.0)
            self.last[pid] = used
        self.started = True

    def seconds(self) -> float:
        return sum(self.last[pid] - self.start[pid] for pid in self.last)

    def close(self) -> None:
        self.conn.close()


def cpu_seconds_of(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threaded_count(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM conversation_messages WHERE external_id LIKE 'wamid.BENCH%'"
                           ).fetchone()
    return int(row[0]) if row else 0


def outbox_pending(url: str) -> int:
    """Events not handed to the worker's handlers yet (the bot's turn, routing, automations…)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM outbox WHERE dispatched_at IS NULL").fetchone()
    return int(row[0]) if row else 0


def load(args: argparse.Namespace, agent_keys: list[str], url: str,
         procs: list[subprocess.Popen[bytes]]) -> dict[str, Any]:
    base = f"http://127.0.0.1:{PORT}"
    stop = threading.Event()
    go = threading.Event()
    hook_ms: list[float] = []
    list_ms: list[float] = []
    thread_ms: list[float] = []
    errors: dict[str, int] = {}
    sent_ok: set[str] = set()
    lock = threading.Lock()
    counter = iter(range(10**9))

    def error(kind: str) -> None:
        with lock:
            errors[kind] = errors.get(kind, 0) + 1

    def hooks(seed: int) -> None:
        rng = random.Random(seed)
        client = LeanClient(base)
        mine: list[float] = []
        ok_ids: list[str] = []
        interval = args.per_payload * args.hooks / args.rate if args.rate > 0 else 0.0
        go.wait()
        due = time.perf_counter() + interval * rng.random()  # the threads' schedules spread over one interval
        while not stop.is_set():
            if interval:
                wait = due - time.perf_counter()
                if wait > 0 and stop.wait(wait):
                    break
                due += interval
            senders = []
            for _ in range(args.per_payload):
                n = next(counter)
                wa_id = (str(34_600_000_000 + rng.randint(1, args.conversations)) if rng.random() < 0.7
                         else str(NEW_PHONE_BASE + rng.randint(1, 10**7)))
                senders.append((wa_id, f"wamid.BENCH{n:012d}"))
            body, headers = webhook(senders, "¿Dónde está mi pedido? Lo necesito ya")
            t0 = time.perf_counter()
            try:
                answer = client.post("/api/v1/connectors/meta/webhooks", body, headers)
            except CLIENT_ERRORS:
                error("webhook connection")
                continue
            mine.append((time.perf_counter() - t0) * 1000)
            if answer.status_code == 200 and answer.json().get("status") == "accepted":
                ok_ids.extend(wamid for _, wamid in senders)
            else:
                error(f"webhook {answer.status_code} {answer.content[:80]!r}")
        client.close()
        with lock:
            hook_ms.extend(mine)
            sent_ok.update(ok_ids)

    def agent(key: str, seed: int) -> None:
        rng = random.Random(seed)
        client = LeanClient(base, {"Authorization": f"Bearer {key}"})
        lists: list[float] = []
        threads: list[float] = []
        interval = args.agents / args.agent_rate if args.agent_rate > 0 else 0.0
        queues = ["/api/v1/conversations?status=open&limit=25", "/api/v1/conversations?assignee=none&limit=25",
                  "/api/v1/conversations?team=returns&status=open&limit=25",
                  "/api/v1/conversations?breaching=soon&limit=25", "/api/v1/conversations?assignee=me&limit=25"]
        go.wait()
        due = time.perf_counter() + interval * rng.random()
        while not stop.is_set():
            if interval:  # paced: a list and a thread every `interval` s, catching up when behind
                wait = due - time.perf_counter()
                if wait > 0 and stop.wait(wait):
                    break
                due += interval
            t0 = time.perf_counter()
            try:
                answer = client.get(rng.choice(queues))
            except CLIENT_ERRORS:
                error("list connection")
                continue
            lists.append((time.perf_counter() - t0) * 1000)
            if answer.status_code != 200:
                error(f"list {answer.status_code}")
                continue
            items = answer.json()["items"]
            if not items:
                continue
            t0 = time.perf_counter()
            try:
                opened = client.get(f"/api/v1/conversations/{rng.choice(items)['id']}")
            except CLIENT_ERRORS:
                error("thread connection")
                continue
            threads.append((time.perf_counter() - t0) * 1000)
            if opened.status_code != 200:
                error(f"thread {opened.status_code}")
        client.close()
        with lock:
            list_ms.extend(lists)
            thread_ms.extend(threads)

    workers = [threading.Thread(target=hooks, args=(i,)) for i in range(args.hooks)]
    workers += [threading.Thread(target=agent, args=(agent_keys[i % len(agent_keys)], 1000 + i))
                for i in range(args.agents)]
    samples: list[tuple[float, int]] = []
    sampling = threading.Event()

    postgres = PostgresCpu(url)
    postgres.sample()

    def sample() -> None:  # messages threaded so far and the backends' CPU, once a second
        while not sampling.is_set():
            samples.append((time.perf_counter(), threaded_count(url)))
            postgres.sample()
            sampling.wait(1.0)

    api_procs, drain_procs = procs[:1], procs[1:]
    cpu0 = ([cpu_seconds(p.pid) for p in api_procs], [cpu_seconds(p.pid) for p in drain_procs])
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    timer = threading.Timer(args.seconds, stop.set)
    timer.start()
    go.set()
    load_avg = [os.getloadavg()]
    wall, client_cpu = run_clients(workers, go)
    load_avg.append(os.getloadavg())
    api_cpu = sum(cpu_seconds(p.pid) for p in api_procs) - sum(cpu0[0])
    accepted = len(sent_ok)
    outbox_at_end_of_load = outbox_pending(url)
    threaded_at_end_of_load = threaded_count(url)
    settle_until = time.perf_counter() + args.settle
    while time.perf_counter() < settle_until and (not samples or samples[-1][1] < accepted):
        time.sleep(0.5)
    sampling.set()
    sampler.join()
    drain_cpu = sum(cpu_seconds(p.pid) for p in drain_procs) - sum(cpu0[1])
    postgres.sample()
    postgres_cpu = postgres.seconds()
    postgres.close()
    load_avg.append(os.getloadavg())
    first = samples[0]
    done_at = next((t for t, n in samples if n >= accepted), samples[-1][0])
    threaded = samples[-1][1] - first[1]
    during = [n for t, n in samples if t - first[0] <= wall]
    for values in (hook_ms, list_ms, thread_ms):
        values.sort()

    def figures(values: list[float]) -> dict[str, Any]:
        return {"n": len(values), "p50_ms": round(percentile(values, 50), 1), "p99_ms": round(percentile(values, 99),
                                                                                            1)}

    return {"seconds": round(wall, 1), "per_payload": args.per_payload, "drainers": args.drainers,
            "agent_cycles_per_s": args.agent_rate or "as fast as answered",
            "offered_messages_per_s": args.rate or "as fast as answered",
            "accepted_messages_per_s": round(accepted / wall, 1),
            "drained_messages_per_s_during_load": round(((during[-1] if during else 0) - first[1]) / wall, 1),
            "drained_messages_per_s_until_backlog_gone": round(threaded / max(done_at - first[0], 1e-9), 1),
            "backlog_gone_after_s": round(done_at - first[0], 1) if samples[-1][1] >= accepted else None,
            "backlog_at_end_of_load": accepted - threaded_at_end_of_load,
            "backlog_at_end": accepted - samples[-1][1], "threaded": threaded,
            "outbox_not_dispatched_at_end_of_load": outbox_at_end_of_load,
            "outbox_not_dispatched_at_end": outbox_pending(url),
            "api_cpu_ms_per_accepted_message": round(api_cpu * 1000 / max(accepted, 1), 2),
            "worker_cpu_ms_per_drained_message": round(drain_cpu * 1000 / max(threaded, 1), 2),
            "postgres_cpu_ms_per_drained_message": round(postgres_cpu * 1000 / max(threaded, 1), 2),
            "total_cpu_ms_per_message": round((api_cpu + drain_cpu + postgres_cpu) * 1000 / max(threaded, 1), 2),
            "load_average_start_end_settled": [round(a[0], 1) for a in load_avg],
            "webhooks": figures(hook_ms),
            "lists": figures(list_ms), "threads": figures(thread_ms), "errors": errors,
            "messages_ok": len(sent_ok), "load_generator_cores": round(client_cpu, 2),
            "conversations": args.conversations, "messages": args.messages}


if __name__ == "__main__":
    main()
