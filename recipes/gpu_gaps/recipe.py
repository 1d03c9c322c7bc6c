"""GPU Gaps: stretches where a device ran nothing, longest first.

A device is busy while any kernel or memory operation runs on it (on any stream);
a gap is the idle time between two busy stretches, within the device's first and
last operation. Each gap names the operation that ended before it and the one that
started after it, the first clue to what the host was doing meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import gpu_activity
from nsight_lab.recipe.analysis.parts import concat_with_rank, to_table

SPEC = RecipeSpec(
    name="gpu_gaps",
    display_name="GPU Gaps",
    description=(
        "Finds the intervals where each GPU was idle (no kernel, memcpy or memset on any "
        "stream) for at least --min-gap nanoseconds, between its first and last operation, "
        "and names the operations just before and after each gap."
    ),
    tables=("kernels", "memops"),
    columns={
        "kernels": ("start", "end", "pid", "device_id", "stream_id", "name"),
        "memops": ("start", "end", "pid", "device_id", "stream_id", "kind", "copy_kind"),
    },
    notebook="gaps.ipynb",
    question="Where was each GPU idle for longer than a threshold, and between what?",
    sources=("nsys", "kineto"),
    counterpart="nsys gpu_gaps",
    args=(
        Arg(
            "min_gap",
            type=int,
            default=1_000_000,
            minimum=1,
            help="Shortest gap to report, in ns (default 1 ms).",
        ),
        Arg(
            "memops",
            type=bool,
            default=True,
            help="Count memcpy/memset as GPU activity, not only kernels.",
        ),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    ops = gpu_activity.gpu_ops(ctx.trace.tables, memops=bool(args["memops"]))
    return {"gaps": to_table(gpu_activity.device_gaps(ops, int(args["min_gap"])))}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    gaps = concat_with_rank(parts, "gaps")
    if gaps.num_rows:
        gaps = gaps.sort_by(
            [("Duration (ns)", "descending"), ("Rank", "ascending"), ("Start (ns)", "ascending")]
        )
    return {"gaps": gaps}
