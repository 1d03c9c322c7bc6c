"""A service's SQLite state file: one connection, WAL, explicit transactions.

Both services keep their state in SQLite so that a restart loses nothing. WAL with
``synchronous=NORMAL`` survives a process crash (only an OS crash can drop the last
commits, which agents and jobs recover from); one connection behind a re-entrant lock
keeps writers from tripping over each other without a connection pool.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


class SQLiteFile:
    def __init__(self, path: Path, schema: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=5000")
        with self._lock:
            # executescript commits on its own, so the script carries its transaction.
            self._conn.executescript(f"BEGIN IMMEDIATE;\n{schema}\nCOMMIT;")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def add_columns(self, table: str, columns: dict[str, str], *, after: str = "") -> None:
        """Add ``columns`` (name -> SQL declaration) that ``table`` lacks, then run ``after``.

        How a state file written by an older release gains a newer release's
        columns in place: ``CREATE TABLE IF NOT EXISTS`` keeps the old table as it
        was. ``after`` holds statements needing the new columns (their indexes).
        Names come from the services' own code, never from requests.
        """
        with self.transaction() as conn:
            present = {row["name"] for row in conn.execute(f'PRAGMA table_info("{table}")')}
            for name, declaration in columns.items():
                if name not in present:
                    conn.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {declaration}')
            for statement in filter(None, (s.strip() for s in after.split(";"))):
                conn.execute(statement)
