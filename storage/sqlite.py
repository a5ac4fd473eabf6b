"""The base of Lore's SQLite stores (metadata, API keys, upload jobs, entity merges)."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import ClassVar, Self


def open_sqlite(path: Path, schema: str, *pragmas: str) -> sqlite3.Connection:
    """A connection for Lore's SQLite stores: shared across threads (each store serialises it
    with its own lock), autocommit unless a store opens a transaction, rows by name, WAL so
    readers never wait for the writer, and ``schema`` applied (idempotent DDL)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    created = not path.exists()
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    if created:
        # Owner-only, like the data dir; SQLite gives its -wal and -shm files the same mode.
        os.chmod(path, 0o600)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    for pragma in pragmas:
        conn.execute(pragma)
    conn.executescript(schema)
    return conn


class SqliteStore:
    """Base of Lore's SQLite stores: ``open()``/``close()`` (or ``with``), and one connection
    shared across threads, serialised by ``_lock``: simple, and fast enough for metadata
    look-ups next to model inference."""

    schema: ClassVar[str] = ""
    pragmas: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    def open(self) -> Self:
        if self._conn is None:
            conn = open_sqlite(self.path, self.schema, *self.pragmas)
            self._migrate(conn)
            self._conn = conn
        return self

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring a database made by an older version up to date (nothing by default)."""

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"{type(self).__name__} is not open; call open()")
        return self._conn
