"""file_access_sum: the file calls among the OS runtime calls, statistics equal to SQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from nsight_lab.recipe import run_recipe
from tests.recipes.conftest import CLOVERLEAF
from tests.recipes.expect import assert_summary

# What CloverLeaf called that touches files, and what it called that does not.
FILE_CALLS = {"open64", "open", "fopen", "fopen64", "read", "write", "fread", "fwrite", "fgets",
              "fclose", "fflush"}  # fmt: skip
OTHER_CALLS = {"ioctl", "mmap", "mmap64", "munmap", "poll", "sem_timedwait", "pthread_create",
               "socket", "bind", "connect", "pipe2", "fcntl"}  # fmt: skip


def test_file_calls_match_sql(fixtures_dir: Path, tmp_path: Path) -> None:
    sqlite = fixtures_dir / CLOVERLEAF
    groups: dict[str, list[int]] = {}
    threads: dict[str, int] = {}
    with sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True) as con:
        rows = con.execute(
            "SELECT s.value, o.end - o.start, o.globalTid FROM OSRT_API o"
            " JOIN StringIds s ON s.id = o.nameId WHERE o.eventClass = 27"
        ).fetchall()
    seen = {name for name, _, _ in rows}
    assert seen >= FILE_CALLS and seen >= OTHER_CALLS
    for name, dur, gtid in rows:
        if name in FILE_CALLS:
            groups.setdefault(name, []).append(dur)
            key = f"{(gtid >> 24) & 0xFFFFFF}/{gtid & 0xFFFFFF}"
            threads[key] = threads.get(key, 0) + 1
    result = run_recipe("file_access_sum", [sqlite], tmp_path / "o", notebook=False)
    assert_summary(result.tables["stats"], groups, count="Num Calls")
    per_thread = result.tables["thread_stats"].to_pylist()
    assert {r["PID/TID"]: r["Num Calls"] for r in per_thread} == threads
