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


def add_ranges(src: Path, dst: Path) -> dict[str, tuple[int, int, int]]:
    """Copy ``src`` to ``dst`` with NVTX ranges; returns name -> (start, end, globalTid)."""
    shutil.copy(src, dst)
    dst.chmod(0o644)
    con = sqlite3.connect(dst)
    try:
        (gtid,) = con.execute(
            "SELECT globalTid FROM CUPTI_ACTIVITY_KIND_RUNTIME GROUP BY globalTid ORDER BY COUNT(*) DESC"
        ).fetchone()
        calls = con.execute(
            "SELECT start, end FROM CUPTI_ACTIVITY_KIND_RUNTIME WHERE globalTid = ? ORDER BY start",
            (gtid,),
        ).fetchall()
        other_tid = gtid + 1  # a thread that launched nothing
        ranges = {
            "outer": (calls[100][0] - 10, calls[400][1] + 10, gtid, PUSH_POP),
            "inner_a": (calls[120][0], calls[180][1], gtid, PUSH_POP),
            "inner_b": (calls[300][0] - 1, calls[350][1] + 1, gtid, PUSH_POP),
            "leaf": (calls[130][0], calls[140][1], gtid, PUSH_POP),
            "async": (calls[1000][0], calls[1500][1], gtid, START_END),
            "idle_thread": (calls[100][0], calls[400][1], other_tid, PUSH_POP),
        }
        con.execute(
            "CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT NULL,"
            " rangeId INTEGER, category INTEGER, color INTEGER, text TEXT, globalTid INTEGER,"
            " endGlobalTid INTEGER, textId INTEGER, domainId INTEGER)"
        )
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
