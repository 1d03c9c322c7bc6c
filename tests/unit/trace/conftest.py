"""Builders for the trace tests: small SQLite exports in the shapes no fixture covers."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

NSYS_FIXTURE = Path("nsys-sqlite") / "cloverleaf-a100.sqlite"
KINETO_DIR = Path("kineto")

# A globalTid the way nsys packs it: PID in bits 24..47, TID in bits 0..23.
PID, TID = 4242, 4243
GTID = (PID << 24) | TID
GPID = PID << 24


def create_export(
    path: Path,
    *,
    metadata_table: str | None = "META_DATA_EXPORT",
    nvtx: str | None = "textId",
    with_kernels: bool = True,
    with_strings: bool = True,
    with_enums: bool = False,
    with_memset: bool = False,
) -> Path:
    """A minimal nsys-style export: 2 kernels launched by 2 runtime calls, 1 memcpy."""
    con = sqlite3.connect(path)
    if with_strings:
        con.execute("CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT NOT NULL)")
        con.executemany(
            "INSERT INTO StringIds VALUES (?, ?)",
            [(1, "cudaLaunchKernel_v7000"), (2, "void k_add<float>(float*)"), (3, "k_add"),
             (4, "step"), (5, "my-domain"), (6, "inner")],
        )  # fmt: skip
    if metadata_table:
        con.execute(f"CREATE TABLE {metadata_table} (name TEXT NOT NULL, value TEXT)")
        con.executemany(
            f"INSERT INTO {metadata_table} VALUES (?, ?)",
            [("EXPORT_PRODUCT_VERSION", "2021.2.1.58"), ("EXPORT_SCHEMA_VERSION", "2.7.1")],
        )
    con.execute(
        "CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME (start INTEGER NOT NULL, end INTEGER NOT NULL,"
        " eventClass INTEGER NOT NULL, globalTid INTEGER, correlationId INTEGER, nameId INTEGER NOT NULL,"
        " returnValue INTEGER NOT NULL)"
    )
    con.executemany(
        "INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (?, ?, 0, ?, ?, 1, 0)",
        [(100, 150, GTID, 7), (200, 260, GTID, 8)],
    )
    if with_kernels:
        con.execute(
            "CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INTEGER NOT NULL, end INTEGER NOT NULL,"
            " deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, streamId INTEGER NOT NULL,"
            " correlationId INTEGER, globalPid INTEGER, demangledName INTEGER NOT NULL,"
            " shortName INTEGER NOT NULL, gridX INTEGER, gridY INTEGER, gridZ INTEGER, blockX INTEGER,"
            " blockY INTEGER, blockZ INTEGER, registersPerThread INTEGER, staticSharedMemory INTEGER,"
            " dynamicSharedMemory INTEGER)"
        )
        con.executemany(
            "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (?, ?, 0, 1, 7, ?, ?, 2, 3, 65536, 3, 2, 1024, 2, 1,"
            " 255, 48000, 100000)",
            [(300, 400, 7, GPID), (500, 650, 8, GPID)],
        )
    con.execute(
        "CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER NOT NULL, end INTEGER NOT NULL,"
        " deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, streamId INTEGER NOT NULL,"
        " correlationId INTEGER, globalPid INTEGER, bytes INTEGER NOT NULL, copyKind INTEGER NOT NULL,"
        " srcKind INTEGER, dstKind INTEGER)"
    )
    con.execute(
        "INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY VALUES (700, 710, 0, 1, 7, 9, ?, 64, 2, 2, 1)",
        (GPID,),
    )
    if with_memset:
        con.execute(
            "CREATE TABLE CUPTI_ACTIVITY_KIND_MEMSET (start INTEGER NOT NULL, end INTEGER NOT NULL,"
            " deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, streamId INTEGER NOT NULL,"
            " correlationId INTEGER, globalPid INTEGER, value INTEGER NOT NULL, bytes INTEGER NOT NULL,"
            " memKind INTEGER)"
        )
        con.execute(
            "INSERT INTO CUPTI_ACTIVITY_KIND_MEMSET VALUES (800, 805, 0, 1, 7, 10, ?, 0, 128, 2)",
            (GPID,),
        )
    if with_enums:
        con.execute(
            "CREATE TABLE ENUM_CUDA_MEMCPY_OPER (id INTEGER PRIMARY KEY, name TEXT, label TEXT)"
        )
        con.execute("INSERT INTO ENUM_CUDA_MEMCPY_OPER VALUES (2, 'X', 'Custom-DtoH-Label')")
    if nvtx == "text":  # schema 2.x: the string inline
        con.execute(
            "CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT NULL,"
            " rangeId INTEGER, category INTEGER, color INTEGER, text TEXT, globalTid INTEGER,"
            " endGlobalTid INTEGER, domainId INTEGER)"
        )
        con.executemany(
            "INSERT INTO NVTX_EVENTS VALUES (?, ?, ?, NULL, NULL, NULL, ?, ?, NULL, ?)",
            [(0, None, 75, "my-domain", GTID, 1), (50, 900, 59, "step", GTID, 1),
             (60, None, 34, "marker", GTID, 0)],
        )  # fmt: skip
    elif nvtx == "textId":  # schema 3.x: registered strings by id, text may still be inline
        con.execute(
            "CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT NULL,"
            " rangeId INTEGER, category INTEGER, color INTEGER, text TEXT, globalTid INTEGER,"
            " endGlobalTid INTEGER, textId INTEGER, domainId INTEGER)"
        )
        con.executemany(
            "INSERT INTO NVTX_EVENTS VALUES (?, ?, ?, NULL, NULL, NULL, ?, ?, NULL, ?, ?)",
            [(0, None, 75, None, GTID, 5, 1), (50, 900, 59, None, GTID, 4, 1),
             (55, 800, 60, "inline", GTID, None, 0)],
        )  # fmt: skip
    con.commit()
    con.close()
    return path


@pytest.fixture
def make_export(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def build(**kwargs: object) -> Path:
        return create_export(tmp_path / f"export-{next(counter)}.sqlite", **kwargs)  # type: ignore[arg-type]

    return build
