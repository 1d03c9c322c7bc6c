"""osrt_sum: time spent in each OS runtime function (libc, pthread, I/O calls).

nsys traces these when OS runtime tracing is on (`-t osrt`); other sources leave the
table empty and the summary is then empty too. Only the calls themselves count: the
importer keeps the `OSRT_API` rows of the OS-runtime event class, not nsys's "profiling
started/finished" markers. The count column is `Num Calls`, as `nsys stats` prints it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.stats import key_durations, reduce_summaries

SPEC = RecipeSpec(
    name="osrt_sum",
    display_name="OS Runtime Summary",
    description="Statistics of the time spent in each traced OS runtime function, over all reports and per report.",
    tables=("osrt",),
    columns={"osrt": ("start", "end", "name")},
    notebook="stats.ipynb",
    question="Which C library and system calls (I/O, locks, waits) took the host's time?",
    sources=("nsys",),
    counterpart="nsys osrt_sum",
    aliases=("osrtsum",),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    osrt = ctx.trace.tables["osrt"]
    return {"durations": key_durations(osrt["name"], pc.subtract(osrt["end"], osrt["start"]))}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return reduce_summaries(
        [(info, tables["durations"]) for info, tables in parts], count_column="Num Calls"
    )
