"""CUDA GPU Time Utilization Map: a heatmap of busy time, one row per rank and device.

The same measure as gpu_time_util, laid out for many ranks at once: every report's
span is cut into the same number of bins, so a slow rank or a rank that idles while
others work stands out as a stripe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import gpu_activity
from nsight_lab.recipe.analysis.parts import concat_with_rank, to_table

SPEC = RecipeSpec(
    name="cuda_gpu_time_util_map",
    display_name="CUDA GPU Time Utilization Heatmap",
    description=(
        "Cuts each report's GPU activity span into --bins equal bins and reports the "
        "utilisation (%) of every device in every bin, as a long table (Rank, PID, Device "
        "ID, Bin) that the notebook draws as a rank x time heatmap."
    ),
    tables=("kernels", "memops"),
    columns={
        "kernels": ("start", "end", "pid", "device_id", "stream_id", "name"),
        "memops": ("start", "end", "pid", "device_id", "stream_id", "kind", "copy_kind"),
    },
    notebook="heatmap.ipynb",
    question="Which rank and device idles when, over the run (a heatmap)?",
    sources=("nsys", "kineto"),
    counterpart="nsys cuda_gpu_time_util_map",
    args=(
        Arg("bins", type=int, default=30, minimum=1, help="Number of time bins per report."),
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
    df = gpu_activity.utilisation(ops, chunks=int(args["bins"]))
    df = df.rename(columns={"Window": "Bin"})
    return {
        "util_map": to_table(
            df[["PID", "Device ID", "Bin", "Start (ns)", "Duration (ns)", "Utilization (%)"]]
        )
    }


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return {"util_map": concat_with_rank(parts, "util_map", rank_first=True)}
