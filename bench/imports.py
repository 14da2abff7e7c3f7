"""Import throughput and memory: the superstore export xN through `omnihub import` on PostgreSQL.

Each copy gets its own order ids (`US-2019-103800` → `US-2019-103800-2`), so every copy is new orders for the
same customers and products, as a multi-year ERP export would be. The import runs as a child process; its peak
memory is the child's maximum resident set (`getrusage(RUSAGE_CHILDREN)`), measured once per size so that
sizes can be compared (flat memory: the peak does not grow with N).

    .venv/bin/python bench/imports.py --db-url postgresql://postgres@127.0.0.1:5432/omnihub_b_imports --copies 1 5
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

EXPORT = Path("/work/shared/datasets/superstore/superstore_orders.csv")
ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "examples" / "mappings" / "superstore.yaml"


def build(copies: int, folder: Path) -> tuple[Path, int]:
    """The export x copies, one header, BOM kept; order ids made unique per copy."""
    raw = EXPORT.read_bytes().split(b"\r\n")
    header, rows = raw[0], [r for r in raw[1:] if r]
    path = folder / f"superstore_x{copies}.csv"
    with path.open("wb") as out:
        out.write(header + b"\r\n")
        for copy in range(copies):
            for row in rows:
                fields = row.split(b",", 2)  # Row ID, Order ID, rest (quoted names come later)
                out.write(b",".join([fields[0], fields[1] + f"-{copy}".encode(), fields[2]]) + b"\r\n")
    return path, copies * len(rows)


def fresh_database(url: str) -> None:
    base, _, name = url.rpartition("/")
    admin = sa.create_engine(f"{base}/postgres".replace("postgresql://", "postgresql+psycopg://", 1),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    env = {**os.environ, "OMNIHUB_DATABASE_URL": url}
    subprocess.run([str(ROOT / ".venv/bin/omnihub"), "migrate"], check=True, env=env, capture_output=True)
    setup = ("from omnihub.bootstrap import bootstrap; from omnihub.core.db import Database;"
             "from omnihub.core.clock import SystemClock; from omnihub.catalog import service;"
             f"bootstrap(); db = Database({url!r})\n"
             "with db.transaction() as c: service.create_channel(c, SystemClock(), {'code': 'superstore', "
             "'name': 'Superstore', 'kind': 'web', 'currency': 'USD'})")
    subprocess.run([sys.executable, "-c", setup], check=True, env=env)


def _env(url: str) -> dict[str, str]:
    """The child's environment: bytecode cached, as an installed hub has it (with PYTHONDONTWRITEBYTECODE set,
    every run would compile its ~700 modules again: a second or two of CPU that is no import's)."""
    env = {**os.environ, "OMNIHUB_DATABASE_URL": url}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run(url: str, path: Path, rows: int) -> dict[str, float]:
    env = _env(url)
    subprocess.run([str(ROOT / ".venv/bin/omnihub"), "--help"], env=env, capture_output=True, check=True)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = usage.ru_maxrss
    cpu_before = usage.ru_utime + usage.ru_stime
    load = os.getloadavg()
    started = time.perf_counter()
    done = subprocess.run([str(ROOT / ".venv/bin/omnihub"), "import", "--mapping", str(MAPPING), str(path)],
                          env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stderr)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime - cpu_before
    summary = " ".join(done.stdout.split() + done.stderr.split())
    summary = summary[summary.find(f"{rows} rows:"):][:160]
    return {"rows": rows, "seconds": elapsed, "rows_per_s": rows / elapsed, "peak_mib": peak / 1024,
            "peak_grew": peak > before, "summary": summary, "cpu": cpu, "rows_per_cpu_s": rows / cpu,
            "load": " ".join(f"{x:.1f}" for x in load)}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", required=True, help="a PostgreSQL database this bench may drop and create")
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 5])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as folder:
        for copies in args.copies:  # smallest first: ru_maxrss of children only grows, so a flat peak shows
            path, rows = build(copies, Path(folder))
            fresh_database(args.db_url)
            first = run(args.db_url, path, rows)
            print(f"x{copies}: {rows} rows in {first['seconds']:.1f} s = {first['rows_per_s']:,.0f} rows/s "
                  f"(import process CPU {first['cpu']:.1f} s = {first['rows_per_cpu_s']:,.0f} rows per CPU-s; "
                  f"load average {first['load']}), peak RSS so far {first['peak_mib']:.0f} MiB "
                  f"({'grew' if first['peak_grew'] else 'flat'}) | {first['summary']}", flush=True)
            again = run(args.db_url, path, rows)
            print(f"x{copies} re-run (all unchanged): {again['seconds']:.1f} s = {again['rows_per_s']:,.0f} rows/s "
                  f"(CPU {again['cpu']:.1f} s = {again['rows_per_cpu_s']:,.0f} rows per CPU-s; load average "
                  f"{again['load']}) | {again['summary']}", flush=True)


if __name__ == "__main__":
    main()
