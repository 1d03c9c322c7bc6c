"""The real CloverLeaf export, enriched with what that capture did not record.

CloverLeaf ran with CUDA, OS runtime and sampling traces only. Recipes for NVTX
steps, MPI, memsets and CUDA memory usage need those tables too, so this copies the
real file and adds them in nsys's own schema, anchored on the real CUDA API calls of
the real main thread (a step spans real launches; each allocation event sits on a
real cudaMalloc). Tests then compute what to expect with plain SQL on the result, as
they would on any export.
"""

from __future__ import annotations

import itertools
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from tests.recipes.nvtx_db import NVTX_TABLE, PUSH_POP, _busiest_thread_calls

STEP = "step"
STEPS = 8
MPI = {
    "MPI_P2P_EVENTS": ("MPI_Send", "MPI_Recv"),
    "MPI_COLLECTIVES_EVENTS": ("MPI_Allreduce", "MPI_Barrier"),
    "MPI_START_WAIT_EVENTS": ("MPI_Wait",),
    "MPI_OTHER_EVENTS": ("MPI_Comm_rank",),
}
MEM_PINNED, MEM_DEVICE, MEM_MANAGED = 1, 2, 4


@dataclass(frozen=True)
class Rich:
    path: Path
    gtid: int
    steps: list[tuple[int, int]]


def _string(con: sqlite3.Connection, value: str) -> int:
    row = con.execute("SELECT id FROM StringIds WHERE value = ?", (value,)).fetchone()
    if row:
        return int(row[0])
    (top,) = con.execute("SELECT COALESCE(MAX(id), 0) FROM StringIds").fetchone()
    con.execute("INSERT INTO StringIds (id, value) VALUES (?, ?)", (top + 1, value))
    return int(top + 1)


def _steps(
    con: sqlite3.Connection, gtid: int, calls: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    per = len(calls) // (STEPS + 1)
    steps = [(calls[k * per + 10][0], calls[(k + 1) * per][1]) for k in range(STEPS)]
    con.execute(NVTX_TABLE)
    con.executemany(
        "INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid, domainId)"
        " VALUES (?, ?, ?, ?, ?, 0)",
        [(s, e, PUSH_POP, STEP, gtid) for s, e in steps],
    )
    return steps


def _mpi(con: sqlite3.Connection, gtid: int, calls: list[tuple[int, int]]) -> None:
    """MPI calls in the host gaps between CUDA calls (they never overlap them)."""
    gaps = [(a[1], b[0]) for a, b in itertools.pairwise(calls) if b[0] - a[1] > 20]
    at = 0
    for table, names in MPI.items():
        con.execute(
            f"CREATE TABLE {table} (start INTEGER NOT NULL, end INTEGER NOT NULL,"
            " globalTid INTEGER, textId INTEGER)"
        )
        rows = []
        for k in range(12):
            lo, hi = gaps[(at * 37) % len(gaps)]
            at += 1
            width = max(1, (hi - lo) // (2 + k % 3))
            rows.append((lo + 1, lo + 1 + width, gtid, _string(con, names[k % len(names)])))
        con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?)", rows)


def _memory(con: sqlite3.Connection) -> None:
    """An allocation event on every real cudaMalloc, a free on every real cudaFree."""
    con.execute(
        "CREATE TABLE CUDA_GPU_MEMORY_USAGE_EVENTS (start INTEGER NOT NULL, globalPid INTEGER,"
        " deviceId INTEGER, contextId INTEGER, address INTEGER, pc INTEGER, bytes INTEGER,"
        " memKind INTEGER, memoryOperationType INTEGER, name TEXT, correlationId INTEGER)"
    )
    calls = con.execute(
        "SELECT r.end, r.globalTid & ~0xFFFFFF, s.value, r.correlationId"
        " FROM CUPTI_ACTIVITY_KIND_RUNTIME r JOIN StringIds s ON s.id = r.nameId"
        " WHERE s.value IN ('cudaMalloc_v3020', 'cudaFree_v3020') ORDER BY r.start"
    ).fetchall()
    live: list[tuple[int, int]] = []
    rows = []
    for k, (end, gpid, name, corr) in enumerate(calls):
        if name.startswith("cudaMalloc"):
            size = (k % 7 + 1) * 1_048_576
            address = 0x7F0000000000 + k * 0x10000000
            live.append((address, size))
            rows.append((end - 1, gpid, 0, address, size, MEM_DEVICE, 0, corr))
        elif live:
            address, size = live.pop(0)
            rows.append((end - 1, gpid, 0, address, size, MEM_DEVICE, 1, corr))
    con.executemany(
        "INSERT INTO CUDA_GPU_MEMORY_USAGE_EVENTS (start, globalPid, deviceId, address, bytes,"
        " memKind, memoryOperationType, correlationId) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _memsets(con: sqlite3.Connection, gtid: int, calls: list[tuple[int, int]]) -> None:
    """Memsets launched by new runtime rows: synchronous, async on device, async on pinned."""
    con.execute(
        "CREATE TABLE CUPTI_ACTIVITY_KIND_MEMSET (start INTEGER NOT NULL, end INTEGER NOT NULL,"
        " deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, streamId INTEGER NOT NULL,"
        " correlationId INTEGER, globalPid INTEGER, value INTEGER NOT NULL, bytes INTEGER NOT NULL,"
        " graphNodeId INTEGER, memKind INTEGER NOT NULL)"
    )
    (corr,) = con.execute("SELECT MAX(correlationId) FROM CUPTI_ACTIVITY_KIND_RUNTIME").fetchone()
    (gpu_end,) = con.execute("SELECT MAX(end) FROM CUPTI_ACTIVITY_KIND_KERNEL").fetchone()
    plan = [("cudaMemset_v3020", MEM_DEVICE)] * 3 + [("cudaMemsetAsync_v3020", MEM_DEVICE)] * 4
    plan += [("cudaMemsetAsync_v3020", MEM_PINNED)] * 2 + [("cudaMemsetAsync_v3020", MEM_MANAGED)]
    runtime, memsets = [], []
    last = calls[-1][1]
    for k, (api, kind) in enumerate(plan):
        corr += 1
        start = last + 100 + k * 1000
        runtime.append((start, start + 200, gtid, corr, _string(con, api)))
        g = gpu_end + 1000 + k * 1000
        memsets.append((g, g + 300 + k, corr, gtid & ~0xFFFFFF, 4096 * (k + 1), kind))
    con.executemany(
        "INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME (start, end, eventClass, globalTid,"
        " correlationId, nameId, returnValue) VALUES (?, ?, 0, ?, ?, ?, 0)",
        runtime,
    )
    con.executemany(
        "INSERT INTO CUPTI_ACTIVITY_KIND_MEMSET (start, end, deviceId, contextId, streamId,"
        " correlationId, globalPid, value, bytes, memKind) VALUES (?, ?, 0, 1, 7, ?, ?, 0, ?, ?)",
        memsets,
    )


def build(src: Path, dst: Path) -> Rich:
    shutil.copy(src, dst)
    dst.chmod(0o644)
    con = sqlite3.connect(dst)
    try:
        gtid, calls = _busiest_thread_calls(con)
        steps = _steps(con, gtid, calls)
        _mpi(con, gtid, calls)
        _memory(con)
        _memsets(con, gtid, calls)
        con.commit()
    finally:
        con.close()
    return Rich(dst, gtid, steps)


def memory_events(db: Path) -> list[tuple[int, int, int]]:
    """(timestamp, signed bytes, bytes in use after) of the CUDA memory events, by SQL."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        raw = con.execute(
            "SELECT start, CASE memoryOperationType WHEN 0 THEN bytes ELSE -bytes END"
            " FROM CUDA_GPU_MEMORY_USAGE_EVENTS ORDER BY start"
        ).fetchall()
    out, used = [], 0
    for t, signed in raw:
        used += signed
        out.append((t, signed, used))
    return out
