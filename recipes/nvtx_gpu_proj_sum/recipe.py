"""NVTX GPU Projection Summary: per range name, how long its GPU work took.

Columns follow ``nsys stats --report nvtx_gpu_proj_sum`` (Range, Style, Total Proj
Time, Total Range Time, Range Instances, Proj Avg/Med/Min/Max/StdDev, Total GPU Ops,
Avg GPU Ops, Avg Range Lvl, Avg Num Child), with the ``Time (%)`` share in front.
GPU work launched outside every range is one more row with a null Range and Style.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import projection

SPEC = RecipeSpec(
    name="nvtx_gpu_proj_sum",
    display_name="NVTX GPU Projection Summary",
    description=(
        "Summarises CPU ranges projected onto the GPU (see nvtx_gpu_proj_trace) by range "
        "name: total, average, median, min, max and standard deviation of the projected "
        "duration beside the original CPU duration, and how many GPU operations each "
        "range launched."
    ),
    tables=("ranges", "api", "kernels", "memops"),
    columns={
        "ranges": ("start", "end", "pid", "tid", "name", "domain", "kind", "source"),
        "api": ("start", "end", "pid", "tid", "correlation_id"),
        "kernels": ("start", "end", "pid", "correlation_id"),
        "memops": ("start", "end", "pid", "correlation_id"),
    },
    notebook="stats.ipynb",
    question="How long did the GPU work of each annotated phase take?",
    sources=("nsys", "kineto", "annotations"),
    counterpart="nsys nvtx_gpu_proj_sum",
    args=(
        Arg(
            "cpu_ops",
            type=bool,
            default=False,
            help="Also project PyTorch operator ranges (Kineto cpu_op), like nsys --pytorch=autograd-nvtx.",
        ),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    extra = ("cpu_op",) if args.get("cpu_ops") else ()
    return {
        "projected": projection.project(
            ctx.trace.tables, projection.DEFAULT_SOURCES + extra
        ).select(projection.SUMMARY_INPUT)
    }


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return {"stats": projection.summarise_parts([t["projected"] for _, t in parts])}
