"""Ground truth for GPU-activity recipes, computed with plain SQL on an nsys export.

The recipes work on the normalized trace through numpy; these queries read the
SQLite file directly with window functions, so the two paths share no code.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

OPS = """
    SELECT start, end, deviceId, (globalPid >> 24) & 0xFFFFFF AS pid FROM CUPTI_ACTIVITY_KIND_KERNEL
    UNION ALL
    SELECT start, end, deviceId, (globalPid >> 24) & 0xFFFFFF AS pid FROM CUPTI_ACTIVITY_KIND_MEMCPY
    {memset}
"""

GAPS = """
WITH ops AS ({ops}),
ordered AS (
    SELECT pid, deviceId, start,
           MAX(end) OVER (PARTITION BY pid, deviceId ORDER BY start, end
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
    FROM ops WHERE end > start
)
SELECT pid, deviceId, prev_end AS gap_start, start AS gap_end
FROM ordered WHERE prev_end IS NOT NULL AND start > prev_end
ORDER BY start - prev_end DESC, prev_end
"""


def _ops(con: sqlite3.Connection) -> str:
    has_memset = con.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'CUPTI_ACTIVITY_KIND_MEMSET'"
    ).fetchone()
    memset = (
        "UNION ALL SELECT start, end, deviceId, (globalPid >> 24) & 0xFFFFFF FROM CUPTI_ACTIVITY_KIND_MEMSET"
        if has_memset
        else ""
    )
    return OPS.format(memset=memset)


def all_gaps(db: Path) -> list[tuple[int, int, int, int]]:
    """Every idle stretch (pid, device, start, end) between kernels and memory operations."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in con.execute(GAPS.format(ops=_ops(con)))]
    finally:
        con.close()


def activity_span(db: Path) -> dict[tuple[int, int], tuple[int, int]]:
    """(pid, device) -> (first start, last end) of GPU operations."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            f"SELECT pid, deviceId, MIN(start), MAX(end) FROM ({_ops(con)}) GROUP BY pid, deviceId"
        )
        return {(p, d): (s, e) for p, d, s, e in rows}
    finally:
        con.close()
