"""An nsys export with NVTX ranges, made from the real CloverLeaf export.

The CloverLeaf fixture recorded no NVTX. Copying it and adding an ``NVTX_EVENTS``
table whose ranges sit around known runtime calls gives a real report (real kernels,
memcpys and launches) with ranges whose right projection SQL can compute.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

PUSH_POP = 59
START_END = 60
MARK = 34
DOMAIN_CREATE = 75
NVTX_TABLE = (
    "CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT NULL,"
    " rangeId INTEGER, category INTEGER, color INTEGER, text TEXT, globalTid INTEGER,"
    " endGlobalTid INTEGER, textId INTEGER, domainId INTEGER)"
)


def _busiest_thread_calls(con: sqlite3.Connection) -> tuple[int, list[tuple[int, int]]]:
    (gtid,) = con.execute(
        "SELECT globalTid FROM CUPTI_ACTIVITY_KIND_RUNTIME GROUP BY globalTid ORDER BY COUNT(*) DESC"
    ).fetchone()
    calls = con.execute(
        "SELECT start, end FROM CUPTI_ACTIVITY_KIND_RUNTIME WHERE globalTid = ? ORDER BY start",
        (gtid,),
    ).fetchall()
    return gtid, calls


def add_nccl_ranges(src: Path, dst: Path) -> list[tuple[str, int, int]]:
    """Copy ``src`` with NVTX ranges in NCCL's domain (as NCCL itself emits them).

    Also adds what must not count as an NCCL call: a same-named range in the default
    domain, a mark and a never-ended range in the NCCL domain. Returns the calls
    (name, start, end).
    """
    shutil.copy(src, dst)
    dst.chmod(0o644)
    con = sqlite3.connect(dst)
    try:
        gtid, calls = _busiest_thread_calls(con)
        con.execute(NVTX_TABLE)
        con.execute(
            "INSERT INTO NVTX_EVENTS (start, eventType, text, globalTid, domainId)"
            " VALUES (0, ?, 'NCCL', ?, 1)",
            (DOMAIN_CREATE, gtid),
        )
        made = [("ncclAllReduce", calls[i][0], calls[i + 3][1]) for i in range(200, 260, 10)] + [
            ("ncclGroupEnd", calls[i][0], calls[i][1] + 7) for i in range(300, 320, 5)
        ]
        rows = [(s, e, PUSH_POP, n, gtid, 1) for n, s, e in made]
        rows += [
            (calls[500][0], calls[501][1], PUSH_POP, "ncclAllReduce", gtid, 0),  # default domain
            (calls[510][0], None, MARK, "ncclAllReduce", gtid, 1),
            (calls[520][0], None, PUSH_POP, "ncclAllReduce", gtid, 1),  # never ended
        ]
        con.executemany(
            "INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid, domainId)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        con.commit()
    finally:
        con.close()
    return made


def add_ranges(src: Path, dst: Path) -> dict[str, tuple[int, int, int]]:
    """Copy ``src`` to ``dst`` with NVTX ranges; returns name -> (start, end, globalTid)."""
    shutil.copy(src, dst)
    dst.chmod(0o644)
    con = sqlite3.connect(dst)
    try:
        gtid, calls = _busiest_thread_calls(con)
        other_tid = gtid + 1  # a thread that launched nothing
        ranges = {
            "outer": (calls[100][0] - 10, calls[400][1] + 10, gtid, PUSH_POP),
            "inner_a": (calls[120][0], calls[180][1], gtid, PUSH_POP),
            "inner_b": (calls[300][0] - 1, calls[350][1] + 1, gtid, PUSH_POP),
            "leaf": (calls[130][0], calls[140][1], gtid, PUSH_POP),
            "async": (calls[1000][0], calls[1500][1], gtid, START_END),
            "idle_thread": (calls[100][0], calls[400][1], other_tid, PUSH_POP),
        }
        con.execute(NVTX_TABLE)
        for name, (start, end, tid, kind) in ranges.items():
            con.execute(
                "INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid, domainId) VALUES (?, ?, ?, ?, ?, 0)",
                (start, end, kind, name, tid),
            )
        con.execute(
            "INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid, domainId) VALUES (?, NULL, ?, 'tick', ?, 0)",
            (calls[150][0], MARK, gtid),
        )
        con.commit()
    finally:
        con.close()
    return {name: (s, e, t) for name, (s, e, t, _) in ranges.items()}


PROJECTION = """
WITH ops AS (
    SELECT start, end, correlationId, globalPid FROM CUPTI_ACTIVITY_KIND_KERNEL
    UNION ALL SELECT start, end, correlationId, globalPid FROM CUPTI_ACTIVITY_KIND_MEMCPY
)
SELECT MIN(op.start), MAX(op.end), COUNT(DISTINCT r.correlationId)
FROM ops AS op
JOIN CUPTI_ACTIVITY_KIND_RUNTIME AS r
  ON op.correlationId = r.correlationId AND op.globalPid = (r.globalTid & ~0xFFFFFF)
WHERE r.globalTid = ? AND r.start >= ? AND r.end <= ?
"""


def expected_projection(
    db: Path, start: int, end: int, gtid: int
) -> tuple[int | None, int | None, int]:
    """(projected start, projected end, number of GPU ops) by the nsys rule, in SQL."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return tuple(con.execute(PROJECTION, (gtid, start, end)).fetchone())  # type: ignore[return-value]
    finally:
        con.close()


UNRANGED = """
WITH ops AS (
    SELECT start, end, correlationId, globalPid FROM CUPTI_ACTIVITY_KIND_KERNEL
    UNION ALL SELECT start, end, correlationId, globalPid FROM CUPTI_ACTIVITY_KIND_MEMCPY
)
SELECT r.globalTid, MIN(op.start), MAX(op.end), COUNT(DISTINCT r.correlationId)
FROM ops AS op
JOIN CUPTI_ACTIVITY_KIND_RUNTIME AS r
  ON op.correlationId = r.correlationId AND op.globalPid = (r.globalTid & ~0xFFFFFF)
WHERE NOT EXISTS (
    SELECT 1 FROM NVTX_EVENTS AS n
    WHERE n.eventType IN (59, 60) AND n.end IS NOT NULL AND n.globalTid = r.globalTid
      AND n.start <= r.start AND r.end <= n.end
)
GROUP BY r.globalTid
"""


def expected_unranged(db: Path) -> dict[int, tuple[int, int, int]]:
    """globalTid -> (first start, last end, ops) of GPU work launched outside every range."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {g: (s, e, n) for g, s, e, n in con.execute(UNRANGED)}
    finally:
        con.close()
