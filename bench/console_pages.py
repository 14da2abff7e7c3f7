"""Every console page's server time on the demo data: p50 / p99 per page, goal p99 < 100 ms.

Builds the demo business on a fresh database (`omnihub demo --no-serve`), makes an admin and an associate with
`omnihub user create`, starts `omnihub serve`, logs both in through the login form, then requests each page
`--rounds` times one after another (after a warm-up) over a keep-alive connection. The time measured is the
client's, on the loopback: the server's time plus well under a millisecond of HTTP.

    .venv/bin/python bench/console_pages.py [--db sqlite:///… | postgresql+psycopg://…] [--port 19160]
        [--rounds 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_revision, machine, percentile

SECRET = "bench-console-secret-key"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "omnihub.cli", *args], env=env, capture_output=True, text=True,
                          timeout=900, check=True)
    return done.stdout.strip().splitlines()[-1]


def log_in(url: str, email: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    form = client.get("/login")
    found = CSRF.search(form.text)
    assert found, "no CSRF token on the login page"
    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": found.group(1)})
    assert answer.status_code in (200, 303), answer.text[:300]
    return client


def wait_up(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not come up")


def targets(api: httpx.Client) -> dict[str, str]:
    """Ids the pages need, taken from the demo through the API."""
    orders = api.get("/api/v1/orders", params={"limit": 50}).json()["items"]
    order = next(o for o in orders if o["customer_id"] and o["status"] in ("collected", "delivered", "shipped"))
    customer = order["customer_id"]
    with_cart = None
    for page_ in api.get("/api/v1/customers", params={"limit": 200}).json()["items"]:
        view = api.get(f"/api/v1/customers/{page_['id']}").json()
        if view.get("open_cart"):
            with_cart = next(i["value"] for i in view["identities"] if i["kind"] == "email")
            break
    line = order["lines"][0]
    return {"order": order["id"], "customer": customer, "cart_email": with_cart or "",
            "location": line["location"] or "store-madrid", "sku": line["sku"]}


def pages(t: dict[str, str]) -> list[tuple[str, str, str]]:
    """(who, name, path) for every console page."""
    return [
        ("admin", "dashboard", "/dashboard"),
        ("admin", "orders", "/orders"),
        ("admin", "order", f"/orders/{t['order']}"),
        ("associate", "counter", "/counter"),
        ("associate", "counter pickups (polled)", "/counter/pickups"),
        ("associate", "counter sale (cart found)", f"/counter/sale?q={t['cart_email']}"),
        ("admin", "customers search", "/customers"),
        ("admin", "customer 360", f"/customers/{t['customer']}"),
        ("admin", "inventory", "/inventory"),
        ("admin", "inventory ledger + availability", f"/inventory/{t['location']}/{t['sku']}"),
        ("admin", "inventory reconciliation", "/inventory/reconciliation"),
        ("admin", "catalog", "/catalog"),
        ("admin", "webhooks", "/webhooks"),
        ("admin", "profile", "/profile"),
    ]


def cpu_ms(pid: int) -> float:
    """CPU time (user + system) the server process has used so far, in ms: on a shared, loaded host the wall
    time includes waiting for a core, the CPU time per request does not."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def measure(client: httpx.Client, path: str, rounds: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    return sorted(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--port", type=int, default=19160)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="omnihub-bench-console-"))
    url_db = args.db or f"sqlite:///{folder / 'demo.db'}"
    env = {**os.environ, "OMNIHUB_DATABASE_URL": url_db, "OMNIHUB_SECRET_KEY": SECRET}
    print(f"demo data on {url_db.split('@')[-1]} ...", flush=True)
    key = cli(env, "demo", "--no-serve")
    users = {}
    for role, location in (("admin", None), ("associate", "store-madrid")):
        email = f"{role}-{uuid.uuid4().hex[:6]}@bench.es"
        users[role] = (email, cli(env, "user", "create", "--email", email, "--role", role,
                                  *(["--location", location] if location else [])))
    url = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen([sys.executable, "-m", "omnihub.cli", "serve", "--port", str(args.port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: list[dict[str, Any]] = []
    try:
        wait_up(url)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
            t = targets(api)
        clients = {role: log_in(url, *users[role]) for role in users}
        print(f"{'page':36} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'CPU ms/req':>10}")
        for who, name, path in pages(t):
            before = cpu_ms(server.pid)
            times = measure(clients[who], path, args.rounds, args.warmup)
            cpu = (cpu_ms(server.pid) - before) / (args.rounds + args.warmup)
            row = {"page": name, "path": path, "as": who, "p50_ms": round(percentile(times, 50), 1),
                   "p99_ms": round(percentile(times, 99), 1), "max_ms": round(times[-1], 1),
                   "server_cpu_ms_per_request": round(cpu, 1)}
            results.append(row)
            print(f"{name:36} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} {row['max_ms']:8.1f} {cpu:10.1f}"
                  f"{'  over 100 ms' if row['p99_ms'] >= 100 else ''}", flush=True)
        for client in clients.values():
            client.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    worst = max(r["p99_ms"] for r in results)
    load = os.getloadavg()[0]
    print(f"\nworst p99: {worst:.1f} ms (goal < 100 ms) · load average {load:.1f} · {machine()} · "
          f"rev {git_revision()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "revision": git_revision(), "db": url_db.split(
            "@")[-1], "rounds": args.rounds, "pages": results}, indent=2))


if __name__ == "__main__":
    main()
