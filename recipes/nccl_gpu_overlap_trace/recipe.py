"""NCCL GPU Overlap Trace: how much of each NCCL kernel ran alongside compute.

Communication that overlaps compute on the same device is (mostly) free; exposed
communication is what scaling efforts chase. Compute means every non-NCCL kernel on
the device, on any stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import gpu_activity, nccl
from nsight_lab.recipe.analysis.parts import concat_with_rank, to_table

SPEC = RecipeSpec(
    name="nccl_gpu_overlap_trace",
    display_name="NCCL GPU Overlap Trace",
    description=(
        "One row per NCCL kernel (name starting with 'nccl') with its collective type, "
        "start, duration, device and stream, and the time (ns and %) during which "
        "non-NCCL kernels ran on the same device."
    ),
    tables=("kernels",),
    columns={"kernels": ("start", "end", "pid", "device_id", "stream_id", "name")},
    notebook="overlap.ipynb",
    question="How much of each NCCL kernel ran alongside compute kernels?",
    sources=("nsys", "kineto"),
    counterpart="nsys nccl_gpu_overlap_trace",
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    ops = gpu_activity.gpu_ops(ctx.trace.tables, memops=False)
    return {"overlap": to_table(nccl.compute_overlap(ops))}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return {"overlap": concat_with_rank(parts, "overlap")}
