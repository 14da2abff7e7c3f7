"""The agents' reads of the service desk, one at a time: server CPU and SQL statements per request.

    python bench/inbox_reads.py                                      # 200,000 conversations / 1,000,000 messages
    python bench/inbox_reads.py --conversations 20000 --messages 100000 --repeat 100   # a quick run

`bench/inbox.py` times the same requests under webhook load, where the figures depend on everything else the
host does. This one isolates what a read costs, which does not: (1) generates the same data as `bench/inbox.py`
(same function, database `--db`; with `--reuse`, one already holding the data is migrated and kept); (2) starts
`omnihub serve --workers 1` on `--port` and makes an agent key; (3) for each request of `bench/inbox.py`'s agent
loop — the open, unassigned, team, "breaching soon" and "mine" queues, and a conversation opened from them (thread,
the customer's 360 summary and orders) — sends `--repeat` requests one at a time after warm-ups and prints the
server process's CPU milliseconds per request (utime + stime from /proc), p50/p99 as the client sees them, and
(4) the SQL statements one request executes and the round trips they take (reads sent together in PostgreSQL's
pipeline, `omnihub.core.reads`, are one), counted in-process with the same app.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, machine, percentile, postgres_version
from inbox import ADMIN_URL, SECRET, cpu_seconds, generate

QUEUES = {
    "list: open": "/api/v1/conversations?status=open&limit=25",
    "list: unassigned": "/api/v1/conversations?assignee=none&limit=25",
    "list: team returns, open": "/api/v1/conversations?team=returns&status=open&limit=25",
    "list: breaching soon": "/api/v1/conversations?breaching=soon&limit=25",
    "list: mine": "/api/v1/conversations?assignee=me&limit=25",
}


def database(args: argparse.Namespace) -> str:
    """The database with the generated desk: re-made unless `--reuse` finds it holding the same data."""
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + args.db
    env = {**os.environ, "OMNIHUB_DATABASE_URL": url, "OMNIHUB_SECRET_KEY": SECRET}
    migrate = [str(Path(sys.executable).parent / "omnihub"), "migrate"]
    if args.reuse:
        try:
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT count(*) FROM conversations WHERE id LIKE 'cnv_b%'").fetchone()
            if row and row[0] == args.conversations:
                subprocess.run(migrate, env=env, check=True, capture_output=True)  # this revision's indexes
                return url
        except psycopg.Error:
            pass
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {args.db}")
    subprocess.run(migrate, env=env, check=True, capture_output=True)
    took = generate(url, args.conversations, args.messages)
    print(f"generated {args.conversations:,} conversations / {args.messages:,} messages in {took:.1f} s")
    return url


def start(url: str, port: int) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "OMNIHUB_DATABASE_URL": url, "OMNIHUB_SECRET_KEY": SECRET}
    omnihub = str(Path(sys.executable).parent / "omnihub")
    key = subprocess.run([omnihub, "apikey", "create", "--role", "agent"], env=env, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    server = subprocess.Popen([omnihub, "serve", "--port", str(port), "--workers", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server, key
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the server did not come up")


def timed(client: httpx.Client, pid: int, paths: list[str], repeat: int) -> dict[str, float]:
    """`repeat` requests cycling through `paths`, one at a time: server CPU ms per request, client p50/p99."""
    for path in paths[:5]:
        assert client.get(path).status_code == 200, path
    samples = []
    cpu0 = cpu_seconds(pid)
    for i in range(repeat):
        t = time.perf_counter()
        answer = client.get(paths[i % len(paths)])
        samples.append((time.perf_counter() - t) * 1000)
        assert answer.status_code == 200, (paths[i % len(paths)], answer.status_code)
    cpu = cpu_seconds(pid) - cpu0
    samples.sort()
    return {"cpu": cpu * 1000 / repeat, "p50": percentile(samples, 50), "p99": percentile(samples, 99)}


def statements(url: str, key: str, paths: dict[str, str]) -> dict[str, tuple[int, int]]:
    """SQL statements and round trips per request, counted in-process with the same app (the second call: caches
    warm). Reads sent together (`omnihub.core.reads`, PostgreSQL's pipeline) are one round trip for all their
    statements; they do not pass through SQLAlchemy's cursor, so they are counted where they are sent."""
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from omnihub.app import create_app
    from omnihub.config import get_settings
    from omnihub.core import reads
    from omnihub.customers import queries as customers_queries
    from omnihub.service import queries as service_queries

    os.environ.update({"OMNIHUB_DATABASE_URL": url, "OMNIHUB_SECRET_KEY": SECRET})
    get_settings.cache_clear()
    count = [0, 0]  # statements, round trips

    def counted(*_args: Any) -> None:
        count[0] += 1
        count[1] += 1

    read_together = reads.read_together

    def together(conn: Any, batch: Any) -> Any:
        count[0] += len(batch)
        count[1] += 1
        return read_together(conn, batch)

    for module in (customers_queries, service_queries):
        module.read_together = together  # type: ignore[attr-defined]
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", counted)
    out = {}
    with TestClient(create_app()) as client:
        for name, path in paths.items():
            for _ in range(2):
                count[:] = [0, 0]
                answer = client.get(path, headers={"Authorization": f"Bearer {key}"})
                assert answer.status_code == 200, (path, answer.status_code)
            out[name] = (count[0], count[1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=300, help="requests per line")
    parser.add_argument("--port", type=int, default=19011)
    parser.add_argument("--db", default="omnihub_bench_inbox_reads")
    parser.add_argument("--reuse", action="store_true", help="keep the database if it holds the same data")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    url = database(args)
    server, key = start(url, args.port)
    load = [os.getloadavg()[0]]
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=30,
                              headers={"Authorization": f"Bearer {key}"})
        opened: list[str] = []
        for path in QUEUES.values():
            opened += [f"/api/v1/conversations/{c['id']}" for c in client.get(path).json()["items"][:10]]
        print(f"{machine()}; {postgres_version(url)}; commit {git_revision()}")
        print(f"{'request':28} {'CPU ms/req':>10} {'p50 ms':>8} {'p99 ms':>8} {'SQL/req':>8} {'trips/req':>9}")
        results = {name: timed(client, server.pid, [path], args.repeat) for name, path in QUEUES.items()}
        results["thread (360 + orders)"] = timed(client, server.pid, opened, args.repeat)
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    load.append(os.getloadavg()[0])
    counts = statements(url, key, {**QUEUES, "thread (360 + orders)": opened[0]})
    for name, r in results.items():
        print(f"{name:28} {r['cpu']:10.2f} {r['p50']:8.1f} {r['p99']:8.1f} {counts[name][0]:8d} {counts[name][1]:9d}")
    print(f"load average (1 min) before/after: {load[0]:.2f} / {load[1]:.2f}")
    if not args.keep:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {args.db} WITH (FORCE)")


if __name__ == "__main__":
    main()
