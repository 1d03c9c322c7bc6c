"""file_access_sum: time in file access calls (open, read, write, close, sync...).

The OS runtime calls nsys traces (``-t osrt``) narrowed to the ones that touch files,
with the ``nsys stats`` columns, over all reports and per process and thread: where a
job stalls on checkpoints, logs or data loading from disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.stats import key_durations, reduce_summaries, summary_table

FILE_FUNCTIONS = frozenset(
    {
        "open", "open64", "openat", "openat64", "creat", "creat64", "close",
        "fopen", "fopen64", "fdopen", "freopen", "fclose", "fflush",
        "read", "pread", "pread64", "readv", "preadv", "preadv2",
        "write", "pwrite", "pwrite64", "writev", "pwritev", "pwritev2",
        "fread", "fwrite", "fgets", "fputs", "fgetc", "fputc", "getline", "getdelim",
        "lseek", "lseek64", "fseek", "fseeko", "ftell", "ftello",
        "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "msync",
        "stat", "stat64", "fstat", "fstat64", "lstat", "lstat64", "fstatat", "statx",
        "access", "unlink", "unlinkat", "rename", "renameat", "mkdir", "rmdir",
        "truncate", "ftruncate", "fallocate", "posix_fallocate", "posix_fadvise",
        "readdir", "opendir", "closedir", "aio_read", "aio_write", "io_submit", "io_getevents",
    }
)  # fmt: skip
"""libc and system calls that open, read, write, sync or look up files."""

SPEC = RecipeSpec(
    name="file_access_sum",
    display_name="OS Runtime File Access Summary",
    description=(
        "Statistics of the time spent in file access functions (open, read, write, fsync, "
        "stat...) among the traced OS runtime calls, over all reports and per thread."
    ),
    tables=("osrt",),
    columns={"osrt": ("start", "end", "pid", "tid", "name")},
    notebook="stats.ipynb",
    question="How much time did the job spend opening, reading, writing and syncing files?",
    sources=("nsys",),
    counterpart="nsys file_access_sum",
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    osrt = ctx.trace.tables["osrt"]
    names = osrt["name"].cast(pa.string())
    rows = osrt.filter(
        pc.fill_null(pc.is_in(names, value_set=pa.array(sorted(FILE_FUNCTIONS))), False)
    )
    durations = pc.subtract(rows["end"], rows["start"])
    thread = pc.binary_join_element_wise(
        rows["pid"].cast(pa.string()), rows["tid"].cast(pa.string()), "/"
    )
    return {
        "durations": key_durations(rows["name"].cast(pa.string()), durations),
        "threads": key_durations(thread, durations),
    }


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    out = reduce_summaries([(info, t["durations"]) for info, t in parts], count_column="Num Calls")
    threads = []
    for info, t in parts:
        one = summary_table(t["threads"]["key"], t["threads"]["duration"], "PID/TID", "Num Calls")
        threads.append(one.append_column("Rank", pa.array([info.index] * one.num_rows, pa.int64())))
    per_thread = pa.concat_tables(threads, promote_options="permissive")
    return {**out, "thread_stats": per_thread}
