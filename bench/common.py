"""Small helpers shared by the bench scripts: latency percentiles, the machine's description, API calls, and
the lean keep-alive client the load loops use.

Kept dependency-light (httpx, rich) so a bench runs from the project's venv without extras."""

from __future__ import annotations

import http.client
import json
import os
import platform
import resource
import subprocess
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100); 0.0 for an empty list."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def machine() -> str:
    """One line to paste next to the figures: cores, memory, Python, OS."""
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def postgres_version(db_url: str) -> str:
    try:
        import psycopg

        with psycopg.connect(db_url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return f"PostgreSQL {row[0]}" if row else "PostgreSQL ?"
    except Exception as exc:  # a description, never a reason to fail the bench
        return f"PostgreSQL (unknown: {exc})"


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except Exception:
        return "unknown"


class ApiError(RuntimeError):
    pass


def call(client: httpx.Client, method: str, path: str, expect: tuple[int, ...] = (200, 201),
         **kwargs: Any) -> Any:
    """One set-up call; anything unexpected stops the bench with the server's problem document."""
    response = client.request(method, path, **kwargs)
    if response.status_code not in expect:
        raise ApiError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
    return response.json() if response.content else None


def run_clients(threads: list[threading.Thread], start: threading.Event) -> tuple[float, float]:
    """Start the client threads, release them together, wait for all. Returns (wall seconds, load generator
    CPU in cores busy), so every bench reports its own cost beside the server's figures."""
    for thread in threads:
        thread.start()
    start.wait()
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    return wall, (cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime) / wall


class Response:
    """What a load loop needs from an answer: the status, the body, and the body as JSON."""

    __slots__ = ("content", "status_code")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content

    def json(self) -> Any:
        return json.loads(self.content) if self.content else {}


class LeanClient:
    """One keep-alive HTTP/1.1 connection (the standard library's http.client) for one load thread.

    Why not httpx in the load loops: on the 2-core box 16 httpx client threads topped out at ~730 GET /healthz
    per second while `wrk` got 2,236/s from the same server — the load generator, not the hub, set the figure.
    http.client costs a fraction of that per request. Set-up and checks still use httpx."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._timeout = timeout
        self._headers = dict(headers or {})
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> Response:
        """Raises OSError / http.client.HTTPException when the connection fails (a fresh one is used next)."""
        payload = body.encode() if isinstance(body, str) else body
        merged = {**self._headers, **(headers or {})}
        if payload is not None:
            merged.setdefault("Content-Type", "application/json")
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            reused = self._conn.sock is not None
            try:
                self._conn.request(method, path, body=payload, headers=merged)
                answer = self._conn.getresponse()
                content = answer.read()
                if answer.will_close:
                    self.close()
                return Response(answer.status, content)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if not (reused and attempt == 1):  # only a stale kept-alive connection earns a retry
                    raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, body: bytes | str, headers: dict[str, str] | None = None) -> Response:
        return self.request("POST", path, body, headers)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> LeanClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


CLIENT_ERRORS = (OSError, http.client.HTTPException)
