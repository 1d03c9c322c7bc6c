"""NVTX GPU Projection Trace: each CPU range re-timed to the GPU work it launched.

Output ``trace.parquet`` has the columns and Arrow types of ``nsys recipe
nvtx_gpu_proj_trace`` so scripts written for nsys (nsys-jax, for one) read ours.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import projection
from nsight_lab.recipe.analysis.parts import rank_of

SPEC = RecipeSpec(
    name="nvtx_gpu_proj_trace",
    display_name="NVTX GPU Projection Trace",
    description=(
        "Projects every CPU range (NVTX, nsight_lab.annotate, PyTorch record_function) onto "
        "the GPU: a range's projected start and end are the first start and last end of the "
        "kernels and memory operations launched from inside it on the same thread. One row "
        "per range that launched GPU work, with nesting level, parent and range stack."
    ),
    tables=("ranges", "api", "kernels", "memops"),
    columns={
        "ranges": ("start", "end", "pid", "tid", "name", "domain", "kind", "source"),
        "api": ("start", "end", "pid", "tid", "correlation_id"),
        "kernels": ("start", "end", "pid", "correlation_id"),
        "memops": ("start", "end", "pid", "correlation_id"),
    },
    notebook="trace.ipynb",
    question="When did the GPU actually run the work of each annotated range?",
    sources=("nsys", "kineto", "annotations"),
    counterpart="nsys nvtx_gpu_proj_trace",
    args=(
        Arg(
            "cpu_ops",
            type=bool,
            default=False,
            help="Also project PyTorch operator ranges (Kineto cpu_op), like nsys --pytorch=autograd-nvtx.",
        ),
    ),
)


def sources(args: Mapping[str, Any]) -> tuple[str, ...]:
    extra = ("cpu_op",) if args.get("cpu_ops") else ()
    return projection.DEFAULT_SOURCES + extra


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    return {"trace": projection.project(ctx.trace.tables, sources(args))}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    tables = [
        t["trace"].append_column(
            "Rank", pa.array([rank_of(info)] * t["trace"].num_rows, pa.int64())
        )
        for info, t in sorted(parts, key=lambda p: p[0].index)
    ]
    schema = projection.TRACE_SCHEMA.append(pa.field("Rank", pa.int64()))
    return {"trace": pa.concat_tables(tables) if tables else schema.empty_table()}
