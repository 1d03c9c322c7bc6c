"""An nsys export whose NVTX projection must be exactly the real nsys output we hold.

The report behind ``nsys-recipe-output/nvtx_gpu_proj_trace`` is not published, but
its ``trace.parquet`` says enough to rebuild one input that nsys would project to
the same rows: every range (name, thread, CPU start and duration) and, per range, how
many GPU operations it launched and the GPU span they cover. Ranges nest on the CPU
and their operation counts add up (checked below), so each range gets its own
launches in the parts of its CPU span that no child covers; one of its kernels spans
its projected extent exactly, the others sit inside it. The thread whose GPU work is
outside every range gets its launches where it has no range at all.

A recipe run over this export must then reproduce the real output value by value;
nothing here looks at how the recipe computes anything.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

PUSH_POP = 59
DOMAIN_CREATE = 75
LAUNCH = "cudaLaunchKernel_v7000"
KERNEL = "replayed_kernel"


def gtid(pid: int, tid: int) -> int:
    return (pid << 24) | tid


def _free_slots(lo: int, hi: int, children: list[tuple[int, int]], need: int) -> list[int]:
    """``need`` start times t of 1 ns calls [t, t+1] inside [lo, hi] but inside no child.

    A call lies wholly inside child [cs, ce] exactly when cs <= t <= ce - 1.
    """
    out: list[int] = []
    t = lo
    blocked = sorted((cs, ce - 1) for cs, ce in children)
    i = 0
    while len(out) < need and t + 1 <= hi:
        while i < len(blocked) and blocked[i][1] < t:
            i += 1
        if i < len(blocked) and blocked[i][0] <= t:
            t = blocked[i][1] + 1
            continue
        out.append(t)
        t += 2
    if len(out) < need:
        raise AssertionError(f"no room for {need} launches in [{lo}, {hi}]")
    return out


def build(real: pd.DataFrame, dst: Path) -> None:
    """Write an nsys SQLite export to ``dst`` that projects to ``real`` (trace.parquet)."""
    ranges = real[real["Name"].notna()].sort_values("RangeId")
    children = ranges[ranges["ParentId"].notna()].groupby("ParentId")
    child_ops = children["NumGPUOps"].sum()
    con = sqlite3.connect(dst)
    con.executescript(
        """
        CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT NULL,
            rangeId INTEGER, category INTEGER, color INTEGER, text TEXT, globalTid INTEGER,
            endGlobalTid INTEGER, textId INTEGER, domainId INTEGER);
        CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME (start INTEGER NOT NULL, end INTEGER NOT NULL,
            eventClass INTEGER NOT NULL, globalTid INTEGER, correlationId INTEGER,
            nameId INTEGER NOT NULL, returnValue INTEGER NOT NULL);
        CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INTEGER NOT NULL, end INTEGER NOT NULL,
            deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, streamId INTEGER NOT NULL,
            correlationId INTEGER, globalPid INTEGER, demangledName INTEGER NOT NULL,
            shortName INTEGER NOT NULL);
        """
    )
    con.executemany("INSERT INTO StringIds VALUES (?, ?)", [(0, LAUNCH), (1, KERNEL)])
    domains: dict[tuple[int, str], int] = {}
    nvtx: list[tuple[object, ...]] = []
    for name in ranges["Name"]:
        dom = str(name).split(":", 1)[0]
        for pid in ranges["PID"].unique():
            if (int(pid), dom) not in domains:
                domains[(int(pid), dom)] = len(domains) + 1
    for (pid, dom), did in domains.items():
        nvtx.append((0, None, DOMAIN_CREATE, dom, gtid(pid, pid), did))
    for row in ranges.itertuples(index=False):
        dom, text = str(row.Name).split(":", 1)
        start = int(row._3)  # Orig Start
        nvtx.append(
            (
                start,
                start + int(row._4),  # Orig Duration
                PUSH_POP,
                text,
                gtid(int(row.PID), int(row.TID)),
                domains[(int(row.PID), dom)],
            )
        )
    con.executemany(
        "INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid, domainId)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        nvtx,
    )
    calls: list[tuple[int, int, int, int]] = []
    kernels: list[tuple[int, int, int, int]] = []

    def launch(pid: int, tid: int, at: int, gpu_start: int, gpu_end: int) -> None:
        corr = len(calls) + 1
        calls.append((at, at + 1, gtid(pid, tid), corr))
        kernels.append((gpu_start, gpu_end, corr, pid << 24))

    spans: dict[float, list[tuple[int, int]]] = {}
    for parent, start, dur in zip(
        ranges["ParentId"], ranges["Orig Start"], ranges["Orig Duration"], strict=True
    ):
        if not pd.isna(parent):
            spans.setdefault(parent, []).append((int(start), int(start + dur)))
    for row in ranges.itertuples(index=False):
        own = int(row.NumGPUOps - child_ops.get(row.RangeId, 0))
        if own <= 0:
            continue
        lo, hi = int(row._3), int(row._3 + row._4)  # Orig Start, + Orig Duration
        p_lo = int(row._1)  # Projected Start
        p_hi = p_lo + int(row._2)
        for k, at in enumerate(_free_slots(lo, hi, spans.get(row.RangeId, []), own)):
            end = p_hi if k == 0 else min(p_lo + 1, p_hi)
            launch(int(row.PID), int(row.TID), at, p_lo, end)
    for row in real[real["Name"].isna()].itertuples(index=False):
        p_lo = int(row._1)  # Projected Start
        p_hi = p_lo + int(row._2)
        base = 1 + 10 * len(calls)
        for k in range(int(row.NumGPUOps)):
            launch(int(row.PID), int(row.TID), base + 2 * k, p_lo, p_hi if k == 0 else p_lo + 1)
    con.executemany("INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (?, ?, 0, ?, ?, 0, 0)", calls)
    con.executemany(
        "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (?, ?, 0, 1, 7, ?, ?, 1, 1)", kernels
    )
    con.commit()
    con.close()
