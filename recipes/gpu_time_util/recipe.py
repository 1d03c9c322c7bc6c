"""GPU Time Utilization: the share of each time window a device spent running anything.

Time (not SM occupancy): a window where one tiny kernel runs throughout counts as
100 %. Low windows are where to look for launch overhead, synchronisation or a
starved input pipeline; see gpu_gaps for the individual idle stretches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import gpu_activity
from nsight_lab.recipe.analysis.parts import concat_with_rank, to_table

SPEC = RecipeSpec(
    name="gpu_time_util",
    display_name="GPU Time Utilization",
    description=(
        "Splits each report's GPU activity span into --chunks equal windows (or windows of "
        "--interval ns) and reports, per process and device, the busy time and utilisation "
        "(%) of each window, counting kernels and memory operations on all streams once."
    ),
    tables=("kernels", "memops"),
    columns={
        "kernels": ("start", "end", "pid", "device_id", "stream_id", "name"),
        "memops": ("start", "end", "pid", "device_id", "stream_id", "kind", "copy_kind"),
    },
    notebook="util.ipynb",
    question="Which time windows had low GPU utilisation?",
    sources=("nsys", "kineto"),
    counterpart="nsys gpu_time_util",
    args=(
        Arg(
            "chunks",
            type=int,
            default=30,
            minimum=1,
            help="Number of equal windows over the GPU activity span.",
        ),
        Arg(
            "interval",
            type=int,
            default=0,
            minimum=0,
            help="Window length in ns; overrides --chunks when > 0.",
        ),
        Arg(
            "memops",
            type=bool,
            default=True,
            help="Count memcpy/memset as GPU activity, not only kernels.",
        ),
    ),
)


def utilisation_table(ctx: ReportContext, args: Mapping[str, Any]) -> pa.Table:
    ops = gpu_activity.gpu_ops(ctx.trace.tables, memops=bool(args["memops"]))
    interval = int(args["interval"] or 0)
    df = gpu_activity.utilisation(ops, chunks=int(args["chunks"]), interval=interval or None)
    return to_table(df)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    return {"util": utilisation_table(ctx, args)}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return {"util": concat_with_rank(parts, "util", rank_first=True)}
