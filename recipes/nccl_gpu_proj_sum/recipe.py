"""nccl_gpu_proj_sum: NCCL calls projected onto the GPU, summarised by call.

Each NCCL call (an NVTX range of the NCCL domain, or a c10d ``nccl:`` op) is re-timed
to the GPU work it launched, by the rule of nvtx_gpu_proj_trace; the summary has the
columns of nvtx_gpu_proj_sum. Host time in a call (``Total Range Time``) beside the
GPU time of its kernels (``Total Proj Time``) shows whether communication is bound on
the host or on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import nccl, projection
from nsight_lab.recipe.summary import describe_top

SPEC = RecipeSpec(
    name="nccl_gpu_proj_sum",
    display_name="NCCL GPU Projection Summary",
    description=(
        "Projects NCCL calls (NVTX NCCL domain, c10d nccl: ops) onto the GPU work they "
        "launched and summarises them by call: projected and CPU time, instances, median, "
        "standard deviation and GPU operations."
    ),
    tables=("ranges", "api", "kernels", "memops"),
    columns=projection.PROJECTION_READS,
    notebook="stats.ipynb",
    question="How long did the GPU work of each NCCL call take, beside its host time?",
    sources=("nsys", "kineto"),
    counterpart="nsys nccl_gpu_proj_sum",
)

SOURCES = (*projection.DEFAULT_SOURCES, "cpu_op")


def _nccl(df: pd.DataFrame) -> Any:
    return nccl.is_nccl_frame(df)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    projected = projection.project(ctx.trace.tables, SOURCES, select=_nccl, unranged=False)
    return {"projected": projected.select(projection.SUMMARY_INPUT)}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return {"stats": projection.summarise_parts([t["projected"] for _, t in parts])}


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    return (
        describe_top(tables["stats"], "NCCL calls on the GPU") or "No NCCL calls launched GPU work."
    )
