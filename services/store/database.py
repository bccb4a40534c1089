"""Connections to the one SQLite file every part of the bot shares.

Each thread gets its own connection (SQLite connections must not be shared
across threads), all in WAL mode with a busy timeout so that the Bolt
listener threads, the worker and the scheduler can write without tripping
over each other. Connections run in autocommit mode; multi-statement changes
go through `transaction()`, which takes the write lock up front
(`BEGIN IMMEDIATE`) so a compare-and-set can never be interleaved.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from services.errors import UserFacingError

BUSY_TIMEOUT_MS = 10_000


class StoreError(UserFacingError):
    """The database cannot be opened or is at a schema this code does not know."""


def _enable_wal(conn: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch to WAL. Switching needs a moment alone with a new file, and SQLite answers
    "locked" at once instead of waiting when several processes open it together."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02)


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                timeout=BUSY_TIMEOUT_MS / 1000,
                # Used by one thread only; the flag just lets close() run from any thread.
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise StoreError(
                f"Cannot open the database {self.path}: {exc}",
                hint="Check that the store.path directory exists and is writable.",
            ) from exc
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._connections.append(conn)
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils' view of this thread's connection, for queries and introspection."""
        db: sqlite_utils.Database | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite_utils.Database(self.conn)
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction on this thread's connection."""
        conn = self.conn
        if conn.in_transaction:
            # Nested use joins the outer transaction: the outer block commits.
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def query(
        self, sql: str, params: Mapping[str, Any] | tuple[Any, ...] = ()
    ) -> list[dict[str, Any]]:
        return [dict(row) for row in self.conn.execute(sql, params)]

    def query_one(
        self, sql: str, params: Mapping[str, Any] | tuple[Any, ...] = ()
    ) -> dict[str, Any] | None:
        row = self.conn.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
