"""What DuckDB reads of a SQLite database: a snapshot file, never the live one.

DuckDB's SQLite scanner carries its own copy of the SQLite library. Two copies of SQLite in one process must
never open the same file (sqlite.org/howtocorrupt.html §2.2): POSIX locks belong to the process, so when DuckDB
closes its handle on the database, the locks the hub's own connections hold on it are gone too. The next
process that closes its last connection then believes it is alone, checkpoints and deletes the WAL file the
hub's connections are still writing to — and every write they make afterwards is lost to other processes
(the worker no longer saw the imports and replies the server had queued).

So the hub's own SQLite (Python's `sqlite3`, the library its connections use) copies the database with the
backup API into a private file whenever it changed (`PRAGMA data_version`), and only DuckDB opens that copy.
The copy is also one consistent state of the whole database. Its cost grows with the file: big shops run on
PostgreSQL, which DuckDB reads over the network instead.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class SharedLock:
    """Many readers or one writer. A thread already reading may read again (the snapshot stays still for it)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._mine = threading.local()

    def held(self) -> bool:
        return getattr(self._mine, "depth", 0) > 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        if self.held():
            self._mine.depth += 1
            try:
                yield
            finally:
                self._mine.depth -= 1
            return
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        self._mine.depth = 1
        try:
            yield
        finally:
            self._mine.depth = 0
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._readers:
                self._cond.wait()
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class SqliteSnapshots:
    """Snapshot files of one SQLite database, made by the hub's own SQLite library."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.folder = Path(tempfile.mkdtemp(prefix="omnihub-analytics-"))
        self.count = 0
        self._version: int | None = None
        self._watch: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.folder), True)

    def _watcher(self) -> sqlite3.Connection:
        if self._watch is None:
            # A plain connection that never writes: in autocommit mode it holds no transaction between reads.
            self._watch = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        return self._watch

    def changed(self) -> bool:
        """Whether anything was committed since the last snapshot (or there is none yet)."""
        with self._lock:
            version = self._watcher().execute("PRAGMA data_version").fetchone()[0]
            return self._version is None or version != self._version

    def take(self) -> Path:
        """A new snapshot file (in rollback-journal mode: DuckDB opens it read-only, with no WAL beside it)."""
        with self._lock:
            watch = self._watcher()
            self._version = watch.execute("PRAGMA data_version").fetchone()[0]  # before the copy: never misses one
            self.count += 1
            target = self.folder / f"snapshot{self.count}.db"
            copy = sqlite3.connect(target, isolation_level=None)
            try:
                watch.backup(copy)
                copy.execute("PRAGMA journal_mode=DELETE")
            finally:
                copy.close()
            return target

    @staticmethod
    def discard(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()

    def close(self) -> None:
        with self._lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
        self._finalizer()
