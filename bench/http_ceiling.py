"""The HTTP stack's own ceiling: how many trivial requests per second the running server answers.

    python bench/http_ceiling.py --url http://127.0.0.1:8000 --key ADMIN_KEY

Puts the other benches in context: a write transaction cannot go faster than an authenticated one-query read
(`GET /api/v1/locations`) on the same machine, nor that faster than `GET /healthz` (no auth, no database).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import LeanClient


def rate(url: str, key: str, path: str, clients: int, requests: int) -> float:
    done = [0]
    lock = threading.Lock()

    def client() -> None:
        with LeanClient(url, {"Authorization": f"Bearer {key}"}, timeout=30) as http:
            for _ in range(requests):
                status = http.get(path).status_code
                if status != 200:
                    raise SystemExit(f"GET {path} -> {status}")
                with lock:
                    done[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=300, help="per client")
    args = parser.parse_args()
    table = Table("path", "requests/s", title=f"HTTP ceiling, {args.clients} keep-alive clients")
    for path in ("/healthz", "/api/v1/locations"):
        table.add_row(path, f"{rate(args.url, args.key, path, args.clients, args.requests):,.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
