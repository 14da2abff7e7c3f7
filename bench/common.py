"""Small helpers shared by the bench scripts: latency percentiles, the machine's description, API calls.

Kept dependency-light (httpx, rich) so a bench runs from the project's venv without extras."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import threading
import time
from typing import Any

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
