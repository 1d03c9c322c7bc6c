"""The job table in one SQLite file (WAL), so jobs outlive the service.

Jobs are claimed in submission order (``seq``) by one conditional UPDATE, so two
executor threads never take the same job and the oldest queued job always goes
first: nothing starves. State changes are conditional on the current state, which
settles races between a worker finishing and a user cancelling in the database, not
in the callers.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nsight_lab.analysis_models import JobInfo, JobProgress, JobState, JobWarning
from nsight_lab.servicekit import SQLiteFile

OUTPUT_ROOT = "analysis"

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    recipe TEXT NOT NULL,
    args TEXT NOT NULL,
    options TEXT NOT NULL,
    tag TEXT NOT NULL,
    session_id TEXT,
    collection_id TEXT,
    reports TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    phase TEXT NOT NULL DEFAULT 'queued',
    warnings TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    worker TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, seq);
"""

ACTIVE = (JobState.QUEUED.value, JobState.RUNNING.value)


def output_prefix(job_id: str) -> str:
    return f"{OUTPUT_ROOT}/{job_id}/"


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=timezone.utc)


class JobDB(SQLiteFile):
    """Typed queries over the job table."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, SCHEMA)
        # Each report's sha256 and file id, which find its converted trace.
        self.add_columns("jobs", {"report_files": "TEXT NOT NULL DEFAULT '[]'"})

    # --- reads ----------------------------------------------------------------------

    def get(self, job_id: str) -> JobInfo | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else _to_info(row)

    def list_jobs(
        self,
        *,
        state: JobState | None = None,
        tag: str | None = None,
        session_id: str | None = None,
        limit: int = 200,
    ) -> list[JobInfo]:
        """Newest first."""
        where, params = [], []
        for column, value in (
            ("state", state.value if state else None),
            ("tag", tag),
            ("session_id", session_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        with self._lock:
            rows = self._conn.execute(sql, (*params, limit)).fetchall()
        return [_to_info(r) for r in rows]

    def queue_position(self, job_id: str) -> int | None:
        """How many queued jobs are ahead of this one (None unless it is queued)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT seq, state FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            if row is None or row["state"] != JobState.QUEUED.value:
                return None
            ahead = self._conn.execute(
                "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND seq < ?", (row["seq"],)
            ).fetchone()[0]
        return int(ahead)

    # --- writes ---------------------------------------------------------------------

    def create(
        self,
        *,
        recipe: str,
        args: dict[str, Any],
        options: dict[str, Any],
        tag: str,
        session_id: str | None,
        collection_id: str | None,
        reports: Sequence[str],
        report_files: Sequence[Mapping[str, Any]] = (),
    ) -> JobInfo:
        job_id = uuid.uuid4().hex[:16]
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (job_id, recipe, args, options, tag, session_id, collection_id,"
                " reports, state, created_at, total, report_files) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job_id,
                    recipe,
                    json.dumps(args),
                    json.dumps(options),
                    tag,
                    session_id,
                    collection_id,
                    json.dumps(list(reports)),
                    JobState.QUEUED.value,
                    time.time(),
                    len(reports),
                    json.dumps([dict(f) for f in report_files]),
                ),
            )
        found = self.get(job_id)
        assert found is not None
        return found

    def report_files(self, job_id: str) -> list[dict[str, Any]]:
        """The job's reports as the scope listed them (key, sha256, file id, ...)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT report_files FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
        return [] if row is None else list(json.loads(row["report_files"]))

    def claim_next(self, worker: str) -> JobInfo | None:
        """Move the oldest queued job to running and return it; None when none waits."""
        with self.transaction() as conn:
            row = conn.execute(
                "UPDATE jobs SET state = 'running', started_at = ?, worker = ?, phase = 'staging'"
                " WHERE job_id = (SELECT job_id FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT 1)"
                " RETURNING *",
                (time.time(), worker),
            ).fetchone()
        return None if row is None else _to_info(row)

    def set_worker(self, job_id: str, worker: str) -> None:
        """Name who runs a claimed job once that name is known (``kubernetes:<job name>``)."""
        with self.transaction() as conn:
            conn.execute("UPDATE jobs SET worker = ? WHERE job_id = ?", (worker, job_id))

    def set_progress(
        self,
        job_id: str,
        *,
        done: int | None = None,
        total: int | None = None,
        phase: str | None = None,
    ) -> None:
        sets, params = [], []
        for column, value in (("done", done), ("total", total), ("phase", phase)):
            if value is not None:
                sets.append(f"{column} = ?")
                params.append(value)
        if not sets:
            return
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE jobs SET {', '.join(sets)} WHERE job_id = ? AND state = 'running'",
                (*params, job_id),
            )

    def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        error: str | None = None,
        warnings: Sequence[JobWarning] | None = None,
        from_states: Sequence[str] = ACTIVE,
    ) -> bool:
        """Move an active job to a final state; False when it had finished already."""
        assert state.finished
        marks = ",".join("?" for _ in from_states)
        sets = "state = ?, finished_at = ?, error = ?, phase = 'finished'"
        params: list[Any] = [state.value, time.time(), error]
        if warnings is not None:
            sets += ", warnings = ?"
            params.append(json.dumps([w.model_dump() for w in warnings]))
        with self.transaction() as conn:
            cur = conn.execute(
                f"UPDATE jobs SET {sets} WHERE job_id = ? AND state IN ({marks})",
                (*params, job_id, *from_states),
            )
        return cur.rowcount == 1

    def fail_interrupted(self, reason: str, *, keep_worker_prefix: str | None = None) -> list[str]:
        """At start-up: jobs left running by a service that died can never finish; fail them.

        Jobs whose worker starts with ``keep_worker_prefix`` run outside this process
        (Kubernetes Jobs) and may still finish: those are kept running.
        """
        keep = "" if keep_worker_prefix is None else " AND coalesce(worker, '') NOT LIKE ? || '%'"
        params: tuple[Any, ...] = (time.time(), reason)
        if keep_worker_prefix is not None:
            params += (keep_worker_prefix,)
        with self.transaction() as conn:
            rows = conn.execute(
                "UPDATE jobs SET state = 'failed', finished_at = ?, error = ?, phase = 'finished'"
                f" WHERE state = 'running'{keep} RETURNING job_id",
                params,
            ).fetchall()
        return [r["job_id"] for r in rows]

    def delete(self, job_id: str) -> bool:
        with self.transaction() as conn:
            cur = conn.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))
        return cur.rowcount == 1


def _to_info(row: sqlite3.Row) -> JobInfo:
    options = json.loads(row["options"])
    return JobInfo(
        job_id=row["job_id"],
        recipe=row["recipe"],
        args=json.loads(row["args"]),
        tag=row["tag"],
        session_id=row["session_id"],
        collection_id=row["collection_id"],
        state=JobState(row["state"]),
        created_at=_dt(row["created_at"]),
        started_at=_dt(row["started_at"]),
        finished_at=_dt(row["finished_at"]),
        progress=JobProgress(done=row["done"], total=row["total"], phase=row["phase"]),
        reports=json.loads(row["reports"]),
        warnings=[JobWarning(**w) for w in json.loads(row["warnings"])],
        error=row["error"],
        output_prefix=output_prefix(row["job_id"]),
        worker=row["worker"],
        **options,
    )
