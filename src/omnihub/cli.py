"""The `omnihub` command: serve, worker, demo, migrate, import, import-erp, apikey, user, inventory, export."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from omnihub.config import get_settings, secret_problem

app = typer.Typer(help="omnihub: one catalog, one inventory, one order flow, one customer, every channel.",
                  no_args_is_help=True, add_completion=False)
apikey = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
inventory = typer.Typer(help="Inventory maintenance.", no_args_is_help=True)
user = typer.Typer(help="People who log in to the console (the browser pages).", no_args_is_help=True)
app.add_typer(apikey, name="apikey")
app.add_typer(user, name="user")
app.add_typer(inventory, name="inventory")
export = typer.Typer(help="Export data for other systems.", no_args_is_help=True)
app.add_typer(export, name="export")
payments = typer.Typer(help="Payments at providers: reconciliation, reference exchange rates.", no_args_is_help=True)
app.add_typer(payments, name="payments")
console = Console(stderr=True)


@app.callback()
def _house() -> None:
    """Every command runs in a wired house (`omnihub.bootstrap`): a merge made here moves orders like one made
    through the API."""
    from omnihub.bootstrap import bootstrap

    bootstrap()


def _database():  # type: ignore[no-untyped-def]
    from omnihub.core.db import database_from_settings

    return database_from_settings()


@app.command()
def migrate() -> None:
    """Create or upgrade the schema (Alembic) on OMNIHUB_DATABASE_URL."""
    from omnihub.core.migrate import upgrade

    url = get_settings().database_url
    with console.status(f"Migrating {_redact(url)} ..."):
        upgrade(url)
    console.print(f"[green]Schema is up to date[/green] on {_redact(url)}")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000,
          workers: Annotated[int, typer.Option(help="Server processes (use PostgreSQL for more than 1).")] = 1,
          log_level: str = "warning") -> None:
    """Run the API."""
    _require_secret()
    _start_serving(host, port, workers, log_level)


def _require_secret() -> None:
    problem = secret_problem(get_settings().secret_key)
    if problem:
        console.print(f"[red]error[/red] {problem}", highlight=False, soft_wrap=True)
        raise typer.Exit(2)


def _start_serving(host: str, port: int, workers: int, log_level: str) -> None:
    console.print(f"omnihub API on [bold]http://{host}:{port}[/bold]  (docs: /docs)")
    if workers <= 1:
        _serve_process(host, port, log_level, reuse_port=False)
        return
    _serve_processes(host, port, workers, log_level)


def _serve_process(host: str, port: int, log_level: str, *, reuse_port: bool) -> None:
    import socket

    import uvicorn

    config = uvicorn.Config("omnihub.app:create_app", factory=True, host=host, port=port, log_level=log_level,
                            access_log=False)
    server = uvicorn.Server(config)
    if not reuse_port:
        server.run()
        return
    # Each process listens on its own SO_REUSEPORT socket, so the kernel spreads connections evenly between
    # processes (one shared socket lets a single process take most keep-alive connections).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    server.run(sockets=[sock])


def _serve_processes(host: str, port: int, workers: int, log_level: str) -> None:
    import multiprocessing
    import signal

    context = multiprocessing.get_context("spawn")
    children = [context.Process(target=_serve_process, args=(host, port, log_level), kwargs={"reuse_port": True},
                                name=f"omnihub-serve-{i}") for i in range(workers)]
    for child in children:
        child.start()

    def stop(_signum: int, _frame: object) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.join()


@app.command()
def worker(once: Annotated[bool, typer.Option(help="Drain what is due now, then exit.")] = False,
           log_level: str = "INFO") -> None:
    """Run the background worker: events, webhooks, NATS, reservation expiry, reconciliation."""
    from omnihub.worker import run_worker

    _require_secret()
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_worker(get_settings(), once=once)


@app.command("import")
def import_(
    data: Annotated[list[Path], typer.Argument(help="CSV or Excel files, read in this order.", exists=True,
                                               dir_okay=False)],
    mapping: Annotated[Path, typer.Option(help="The YAML mapping (docs/imports.md).", exists=True, dir_okay=False)],
    dry_run: Annotated[bool, typer.Option(help="Read and check everything, write nothing.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write the full report (every rejected row) as JSON.")] = None,
) -> None:
    """Import customers, products, prices, stock and orders from files through a declarative mapping."""
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from omnihub.connectors.imports.rules import MappingError, compile_mapping
    from omnihub.connectors.imports.service import Importer
    from omnihub.core.clock import SystemClock

    _house()
    try:
        compiled = compile_mapping(mapping.read_text(encoding="utf-8"))
    except MappingError as exc:
        console.print(f"[red]error[/red] {mapping}: {exc}", highlight=False)
        raise SystemExit(2) from None
    with Progress(TextColumn("import"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        task = bar.add_task("import", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        try:
            result = Importer(_database(), SystemClock(), compiled, data, dry_run=dry_run, progress=progress).run()
        except (MappingError, ValueError) as exc:
            console.print(f"[red]error[/red] {exc}", highlight=False)
            raise SystemExit(2) from None
    out = result.as_dict()
    if report is not None:
        report.write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
    rows = out["rows"]
    console.print(f"{'dry run: ' if dry_run else ''}{rows['read']} rows: {rows['imported']} imported, "
                  f"{rows['unchanged']} unchanged, {rows['rejected']} rejected; created "
                  + (", ".join(f"{n} {what}" for what, n in out["created"].items()) or "nothing")
                  + f"; {len(out['dirty'])} dirty findings", highlight=False)
    for rejected in out["rejected"][:10]:
        console.print(f"  rejected {rejected['file']}:{rejected['line']}: {rejected['reason']}", highlight=False)
    for finding in out["dirty"][:10]:
        console.print(f"  dirty {finding['what']} {finding['key']}: kept {finding['kept']!r} (line "
                      f"{finding['kept_from_line']}), line {finding['line']} says {finding['other']!r}",
                      highlight=False)


@app.command("import-erp")
def import_erp(
    kind: Annotated[str, typer.Argument(help="stock or prices")],
    data: Annotated[Path, typer.Argument(help="The ERP's CSV export, in its own column names.", exists=True,
                                         dir_okay=False)],
    dry_run: Annotated[bool, typer.Option(help="Check every line, write nothing.")] = False,
    report: Annotated[Path | None, typer.Option(help="Write every line's outcome as JSON.")] = None,
) -> None:
    """Stock or prices from the ERP's file through the configured ERP mapping (docs/erp.md, "Inbound")."""
    import json

    from omnihub.connectors.erp import inbound
    from omnihub.connectors.erp.rules import csv_lines
    from omnihub.core.clock import SystemClock
    from omnihub.core.errors import DomainError

    if kind not in ("stock", "prices"):
        console.print("[red]the kind is stock or prices[/red]")
        raise typer.Exit(2)
    try:
        numbered = csv_lines(data.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        console.print(f"[red]error[/red] {data}: {exc}", highlight=False)
        raise typer.Exit(2) from None

    class _DryRun(Exception):
        pass

    _house()
    db = _database()
    out: dict[str, Any] = {}
    try:
        with db.transaction() as conn:
            out = inbound.apply_lines(conn, SystemClock(), kind, [line for _, line in numbered],
                                      numbers=[n for n, _ in numbered], actor="import-erp")
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except DomainError as exc:
        console.print(f"[red]error[/red] {exc.detail}", highlight=False)
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    if report is not None:
        report.write_text(json.dumps(out, indent=1), encoding="utf-8")
    counts = out["counts"]
    console.print(f"{'dry run: ' if dry_run else ''}{len(numbered)} lines: {counts['applied']} applied, "
                  f"{counts['unchanged']} unchanged, {counts['rejected']} rejected", highlight=False)
    for line in [ln for ln in out["lines"] if ln["outcome"] == "rejected"][:10]:
        console.print(f"  rejected line {line['line']}: {line['reason']}", highlight=False)


@apikey.command("create")
def apikey_create(
    role: Annotated[str, typer.Option(help="admin, channel, associate, agent or marketer")],
    channel: Annotated[str | None, typer.Option(help="Channel code (role channel)")] = None,
    location: Annotated[str | None, typer.Option(help="Location code (role associate)")] = None,
    name: Annotated[str | None, typer.Option(help="A note to recognise the key by")] = None,
) -> None:
    """Create a key. The key itself is printed alone on the last line; only its hash is stored."""
    from omnihub.catalog import queries as catalog
    from omnihub.core.clock import SystemClock
    from omnihub.core.errors import DomainError
    from omnihub.core.security import create_api_key
    from omnihub.inventory import queries as inventory_queries

    db = _database()
    try:
        with db.transaction() as conn:
            if channel and role == "channel":
                catalog.get_channel(conn, channel, field="channel")
            if location and role == "associate":
                inventory_queries.get_location(conn, location, field="location")
            key_id, raw = create_api_key(conn, SystemClock(), get_settings().secret_key, role=role,
                                         channel=channel, location=location, name=name)
    except DomainError as exc:
        console.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    console.print(f"Created {role} key {key_id}. Store it now: it is not shown again.")
    print(raw)


@apikey.command("list")
def apikey_list() -> None:
    """Keys with their role and scope (never the key itself)."""
    import sqlalchemy as sa

    from omnihub.core.security import api_keys

    db = _database()
    with db.read() as conn:
        rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at)).all()
    db.dispose()
    table = Table("id", "prefix", "role", "channel", "location", "name", "created", "revoked")
    for r in rows:
        table.add_row(r.id, r.prefix + "…", r.role, r.channel or "", r.location or "", r.name or "",
                      str(r.created_at)[:19], str(r.revoked_at)[:19] if r.revoked_at else "")
    Console().print(table)


@apikey.command("revoke")
def apikey_revoke(key_id: str) -> None:
    """Revoke a key by id (servers forget it within OMNIHUB_API_KEY_CACHE_SECONDS)."""
    from omnihub.core.clock import SystemClock
    from omnihub.core.security import revoke_api_key

    db = _database()
    with db.transaction() as conn:
        done = revoke_api_key(conn, SystemClock(), key_id)
    db.dispose()
    if not done:
        console.print(f"[red]No active key {key_id}[/red]")
        raise typer.Exit(1)
    console.print(f"Revoked {key_id}")


@user.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="The e-mail the person logs in with")],
    role: Annotated[str, typer.Option(help="admin, associate, agent or marketer")],
    location: Annotated[str | None, typer.Option(help="Store code (role associate)")] = None,
    locale: Annotated[str | None, typer.Option(help="en or es (default: from the browser)")] = None,
) -> None:
    """Create a console user. A generated password is printed alone on the last line (change it on /profile)."""
    from omnihub.console import service as console_service
    from omnihub.core.clock import SystemClock
    from omnihub.core.errors import DomainError

    db = _database()
    try:
        with db.transaction() as conn:
            created, password = console_service.create_user(conn, SystemClock(), email=email, role=role,
                                                            location=location, locale=locale)
    except DomainError as exc:
        console.print(f"[red]error[/red] {exc.code}: {exc.detail}")
        raise typer.Exit(2) from None
    finally:
        db.dispose()
    console.print(f"Created {created['role']} user {created['email']} ({created['id']}). "
                  "Hand over this password; it is not shown again:")
    print(password)


@user.command("list")
def user_list() -> None:
    """Console users with their role and store (never a password)."""
    from omnihub.console import queries as console_queries

    db = _database()
    with db.read() as conn:
        users = console_queries.list_users(conn)
    db.dispose()
    table = Table("id", "e-mail", "role", "location", "language", "created", "disabled")
    for u in users:
        table.add_row(u["id"], u["email"], u["role"], u["location"] or "", u["locale"] or "",
                      str(u["created_at"])[:19], "yes" if u["disabled"] else "")
    Console().print(table)


@inventory.command("check")
def inventory_check() -> None:
    """Verify every level against its ledger, live reservations and quotas. The result goes to stdout;
    exit 0 when clean, 1 on any drift (progress goes to stderr)."""
    from omnihub.core.clock import SystemClock
    from omnihub.inventory.stock import check_inventory

    db = _database()
    with console.status("Reconciling stock levels with the ledger and reservations ..."), db.transaction() as conn:
        drifts = check_inventory(conn, SystemClock())
    db.dispose()
    out = Console()  # the result is the command's output: stdout, so it can be piped and checked
    if not drifts:
        out.print("[green]No drift:[/green] every level equals its ledger, reservations and quotas.")
        return
    table = Table("location", "sku", "check", "expected", "actual", "rows involved", title="Inventory drift")
    for d in drifts:
        table.add_row(d["location"], d["sku"], d["check"], str(d["expected"]), str(d["actual"]),
                      ", ".join(d["rows"][:5]) + (" …" if len(d["rows"]) > 5 else ""))
    out.print(table)
    raise typer.Exit(1)


@export.command("erp")
def export_erp(
    date_from: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    date_to: Annotated[str, typer.Option("--to", help="Last day (included), YYYY-MM-DD.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write the CSV here instead of stdout.")] = None,
) -> None:
    """The CSV journal of the period's invoices and credit notes in the ERP's codes and date format (docs/erp.md)."""
    from datetime import date

    from omnihub.connectors.erp import queries, rules

    try:
        start, end = date.fromisoformat(date_from), date.fromisoformat(date_to)
    except ValueError:
        console.print("[red]--from and --to must be dates as YYYY-MM-DD[/red]")
        raise typer.Exit(2) from None
    if end < start:
        console.print("[red]--to is before --from[/red]")
        raise typer.Exit(2)
    db = _database()
    with db.read() as conn:
        documents = queries.journal_documents(conn, start, end)
    db.dispose()
    text = rules.journal_csv(documents)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"{len(documents)} documents written to {out}")
def _when(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@payments.command("reconcile")
def payments_reconcile(
    provider: Annotated[str, typer.Option(help="stripe, btcpay…")],
    since: Annotated[str, typer.Option("--from", help="ISO date or time (UTC unless it says)")],
    until: Annotated[str, typer.Option("--to", help="ISO date or time, exclusive")],
    channel: Annotated[str, typer.Option(help="The channel whose account is compared")] = "web",
) -> None:
    """Compare the provider's records (its list API) with the hub's for one channel's account. The report (JSON)
    goes to stdout; exit 0 when they agree, 1 on any difference."""
    import json

    from omnihub.billing.reconcile import reconcile
    from omnihub.config import get_settings
    from omnihub.core.outbound import OutboundGuard

    settings = get_settings()
    db = _database()
    try:
        report = reconcile(db, secret_key=settings.secret_key, guard=OutboundGuard(settings.outbound_allow),
                           provider=provider, channel=channel, since=_when(since), until=_when(until))
    finally:
        db.dispose()
    typer.echo(json.dumps(report, indent=2, default=str))
    if not report["clean"]:
        raise typer.Exit(1)


@payments.command("import-rates")
def payments_import_rates(path: Annotated[Path, typer.Argument(help="An ECB reference-rate CSV")]) -> None:
    """Import the ECB's euro reference rates (eurofxref.csv or eurofxref-hist.csv), for reporting only."""
    from omnihub.billing.rates import import_ecb

    db = _database()
    try:
        with db.transaction() as conn:
            count = import_ecb(conn, path.read_text(encoding="utf-8"))
    finally:
        db.dispose()
    typer.echo(f"{count} rates imported")


@app.command()
def demo(host: str = "127.0.0.1", port: int = 8000,
         serve_it: Annotated[bool, typer.Option("--serve/--no-serve", help="Start server and worker.")] = True
         ) -> None:
    """Migrate, load a realistic demo business (once), start API + worker, print the URL and the admin key.

    The port is checked before anything is loaded or printed; the admin key is made once and kept in a file
    only its owner can read (beside a SQLite database, else ./omnihub-demo.key), and later runs print that one."""
    from omnihub.core.clock import SystemClock
    from omnihub.core.migrate import upgrade
    from omnihub.demo import load_demo

    settings = get_settings()
    if serve_it:
        busy = _port_in_use(host, port)
        if busy:
            console.print(f"[red]Port {port} on {host} is not free[/red] ({busy}). Nothing was started. "
                          f"Stop what uses it, or choose another: omnihub demo --port N (make demo PORT=N).")
            raise typer.Exit(1)
    with console.status("Migrating ..."):
        upgrade(settings.database_url)
    db = _database()
    try:
        summary = load_demo(db, SystemClock(), console=console)
        key, key_file, made = _demo_admin_key(db, settings.database_url, settings.secret_key)
    finally:
        db.dispose()
    console.print(summary)
    if serve_it:
        url = f"http://{host}:{port}"
        console.print(f"\n[bold green]omnihub demo[/bold green] at [bold]{url}[/bold]  (API docs: {url}/docs)",
                      soft_wrap=True)
    console.print(("Admin key made for the demo" if made else "The demo's admin key")
                  + f" (kept in {key_file}; send as 'Authorization: Bearer <key>'):",
                  soft_wrap=True)  # a path to copy: never broken by Rich's line wrapping
    print(key, flush=True)
    if not serve_it:
        return
    worker_process = subprocess.Popen([sys.executable, "-m", "omnihub.worker", "--log-level", "WARNING", "--demo"],
                                      env=os.environ.copy())
    _stop_child_on_sigterm(worker_process)
    try:
        _start_serving(host, port, 1, "warning")
    finally:
        _stop(worker_process)


def _port_in_use(host: str, port: int) -> str | None:
    """Why the port cannot be listened on (None when it is free): the same bind the server will make."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _demo_key_file(database_url: str) -> Path:
    """Beside a SQLite database file (one key per demo database); ./omnihub-demo.key for a server database."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().with_name(Path(url.database).name + ".demo-key")
    return Path("omnihub-demo.key").resolve()


def _demo_admin_key(db: Any, database_url: str, secret_key: str) -> tuple[str, Path, bool]:
    """The demo's admin key: the one kept in its file while it still works, else a new one, kept there (0600).
    Returns (key, file, made now)."""
    from omnihub.core.clock import SystemClock
    from omnihub.core.errors import DomainError
    from omnihub.core.security import KeyAuthenticator, Role, create_api_key

    path = _demo_key_file(database_url)
    if path.exists():
        kept = path.read_text().strip()
        try:
            if KeyAuthenticator(secret_key, cache_seconds=0).authenticate(db.read, kept).role is Role.ADMIN:
                return kept, path, False
        except DomainError:  # revoked, or made for another database or secret: make a new one
            pass
    with db.transaction() as conn:
        _, key = create_api_key(conn, SystemClock(), secret_key, role="admin", name="demo")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
    os.chmod(path, 0o600)  # also when the file existed with wider permissions
    return key, path, True


def _stop_child_on_sigterm(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM ends the demo and its worker together. The server restores this handler when it stops and
    re-raises the signal, so the worker is stopped here before the process exits (it used to be left running,
    re-parented)."""
    import signal

    def stop(signum: int, _frame: object) -> None:
        _stop(child)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def main() -> None:
    """The `omnihub` entry point: a database that cannot be reached is one clear line and exit code 3, not a
    traceback."""
    from omnihub.core.db import is_unavailable

    try:
        app()
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        orig = getattr(exc, "orig", None) or exc
        reason = (str(orig).splitlines() or [""])[0][:200]
        console.print(f"[red]error[/red] database unavailable at {_redact(get_settings().database_url)}: "
                      f"{type(orig).__name__}: {reason}", highlight=False, soft_wrap=True)
        raise SystemExit(3) from None


if __name__ == "__main__":
    main()
