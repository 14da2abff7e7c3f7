"""Benchmark: the console's inbox pages on a large service desk (PostgreSQL), timed through HTTP as an agent.

    python bench/inbox_pages.py                          # 50,000 conversations, 4 messages each
    python bench/inbox_pages.py --conversations 200000   # bigger

(1) Makes a PostgreSQL database (default `omnihub_bench_inbox`, dropped and re-created) and generates the
customers, conversations (statuses, priorities, assignees spread like a working desk) and their messages inside
PostgreSQL in bulk (`INSERT … SELECT … FROM generate_series`); (2) starts `omnihub serve` on 127.0.0.1:19110,
creates an agent with `omnihub user create` and logs in through the login form; (3) times each page the agent
uses (`--repeat` calls after two warm-ups, one at a time): the queues' first pages, a page deep in a queue (by
its cursor), the filters, one conversation with its 360 panel, and the live thread fragment (204 when nothing
changed). Prints p50/p99 in milliseconds as the client sees them on localhost.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, machine, percentile, postgres_version

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PORT = 19110
SECRET = "bench-inbox-secret-key"


def fresh_database(name: str) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    from omnihub.core.migrate import upgrade

    upgrade(url)
    return url


def generate(url: str, conversations: int, per: int, agent: str) -> float:
    """Customers, one conversation each, `per` messages each (in, out, in, …), in bulk. A fifth are resolved, a
    tenth snoozed, a tenth pending; a third assigned (a twentieth to the benchmark's agent)."""
    started = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("""INSERT INTO customers (id, name, status, created_at, updated_at)
            SELECT 'cus_b' || g, 'Cliente ' || g, 'active', now() - interval '90 days', now()
            FROM generate_series(1, %(n)s) g""", {"n": conversations})
        conn.execute("""INSERT INTO conversations (id, customer_id, owner_id, active_for, status, snoozed_until,
                assignee, priority, priority_reasons, reply_token, last_channel, last_message_at, created_at,
                updated_at)
            SELECT 'cnv_b' || lpad(g::text, 8, '0'), 'cus_b' || g, 'cus_b' || g,
                   CASE WHEN g %% 5 = 0 THEN NULL ELSE 'cus_b' || g END,
                   CASE WHEN g %% 5 = 0 THEN 'resolved' WHEN g %% 10 = 1 THEN 'snoozed'
                        WHEN g %% 10 = 2 THEN 'pending' ELSE 'open' END,
                   CASE WHEN g %% 10 = 1 THEN now() + interval '2 days' END,
                   CASE WHEN g %% 20 = 3 THEN %(agent)s WHEN g %% 3 = 0 THEN 'user:other' END,
                   CASE WHEN g %% 7 = 0 THEN 'high' WHEN g %% 31 = 0 THEN 'urgent' ELSE 'normal' END,
                   CASE WHEN g %% 7 = 0 THEN '[{"rule": "refund_asked", "why": "The customer asks for a refund."}]'
                        ELSE '[]' END::json,
                   md5(g::text), (ARRAY['email','whatsapp','instagram','webchat'])[1 + g %% 4],
                   now() - (g || ' seconds')::interval, now() - interval '30 days', now()
            FROM generate_series(1, %(n)s) g""", {"n": conversations, "agent": agent})
        conn.execute("""INSERT INTO conversation_messages (id, conversation_id, origin_conversation_id, channel,
                direction, author, text, attachments, address, status, attempts, at, updated_at)
            SELECT 'cmsg_b' || g || '_' || k, 'cnv_b' || lpad(g::text, 8, '0'), 'cnv_b' || lpad(g::text, 8, '0'),
                   (ARRAY['email','whatsapp','instagram','webchat'])[1 + g %% 4],
                   CASE WHEN k %% 2 = 1 THEN 'in' ELSE 'out' END,
                   CASE WHEN k %% 2 = 1 THEN 'cus_b' || g ELSE 'user:other' END,
                   CASE WHEN k %% 2 = 1 THEN 'Hola, ¿dónde está mi pedido ' || g || '?' ELSE 'Lo miramos ya.' END,
                   '[]'::json, 'c' || g || '@correo.es',
                   CASE WHEN k %% 2 = 1 THEN 'received' ELSE 'sent' END, 0,
                   now() - (g || ' seconds')::interval - ((%(per)s - k) || ' minutes')::interval, now()
            FROM generate_series(1, %(n)s) g, generate_series(1, %(per)s) k""",
                     {"n": conversations, "per": per})
        conn.execute("ANALYZE")
    return time.perf_counter() - started


def start_server(url: str) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    env = {**os.environ, "OMNIHUB_DATABASE_URL": url, "OMNIHUB_SECRET_KEY": SECRET}
    omnihub = str(Path(sys.executable).parent / "omnihub")
    server = subprocess.Popen([omnihub, "serve", "--port", str(PORT)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/healthz", timeout=1).status_code == 200:
                return server, env
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the server did not come up")


def agent_session(env: dict[str, str]) -> tuple[httpx.Client, str]:
    omnihub = str(Path(sys.executable).parent / "omnihub")
    email = "agente@bench.es"
    password = subprocess.run([omnihub, "user", "create", "--email", email, "--role", "agent"], env=env, check=True,
                              capture_output=True, text=True).stdout.strip().splitlines()[-1]
    client = httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=30, follow_redirects=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert answer.status_code == 200 and "/inbox" in str(answer.url), answer.status_code
    with psycopg.connect(env["OMNIHUB_DATABASE_URL"]) as conn:
        user_id = conn.execute("SELECT id FROM console_users WHERE email = %s", (email,)).fetchone()[0]
    return client, f"user:{user_id}"


def timed(client: httpx.Client, path: str, repeat: int, expect: int = 200) -> dict[str, float]:
    for _ in range(2):
        client.get(path)
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        answer = client.get(path)
        samples.append((time.perf_counter() - t) * 1000)
        assert answer.status_code == expect, (path, answer.status_code)
    samples.sort()
    return {"p50": percentile(samples, 50), "p99": percentile(samples, 99), "max": samples[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument("--messages", type=int, default=4, help="messages per conversation")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database", default="omnihub_bench_inbox")
    args = parser.parse_args()

    url = fresh_database(args.database)
    server, env = start_server(url)
    try:
        client, agent = agent_session(env)
        seconds = generate(url, args.conversations, args.messages, agent)
        print(f"{machine()}; {postgres_version(url)}; commit {git_revision()}")
        print(f"generated {args.conversations:,} conversations, {args.conversations * args.messages:,} messages "
              f"in {seconds:.1f} s")
        deep = "/inbox?queue=open"
        for _ in range(20):  # 20 pages of 50 down the open queue
            found = re.search(r"cursor=([^\"&]+)", client.get(deep).text)
            deep = f"/inbox?queue=open&cursor={found.group(1)}"
        middle = f"cnv_b{args.conversations // 2:08d}"
        version = re.search(r'data-version="([0-9a-f]+)"', client.get(f"/inbox/{middle}").text).group(1)
        pages = {
            "mine (first page)": "/inbox?queue=mine",
            "unassigned": "/inbox?queue=unassigned",
            "all open": "/inbox?queue=open",
            "all open, page 21 (cursor)": deep,
            "resolved": "/inbox?queue=resolved",
            "open + priority high": "/inbox?queue=open&priority=high",
            "open + channel whatsapp": "/inbox?queue=open&channel=whatsapp",
            "open + search (text in messages)": f"/inbox?queue=open&q=pedido%20{args.conversations - 7}%3F",
            "one conversation (thread + 360 panel)": f"/inbox/{middle}",
            "reply templates": "/reply-templates",
        }
        print(f"{'page':42} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for name, path in pages.items():
            r = timed(client, path, args.repeat)
            print(f"{name:42} {r['p50']:8.1f} {r['p99']:8.1f} {r['max']:8.1f}")
        r = timed(client, f"/inbox/{middle}/thread?v={version}", args.repeat, expect=204)
        print(f"{'live thread fragment (204, unchanged)':42} {r['p50']:8.1f} {r['p99']:8.1f} {r['max']:8.1f}")
    finally:
        server.terminate()
        server.wait(timeout=15)


if __name__ == "__main__":
    main()
