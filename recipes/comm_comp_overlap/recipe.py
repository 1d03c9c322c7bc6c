"""comm_comp_overlap: how much of each rank's communication is hidden behind compute.

Per process and device, the NCCL kernels' time (every stream merged), the part of it
during which a compute kernel also ran, and the exposed rest. 100% means the
collectives cost nothing extra; exposed communication is what overlapping (bucketing,
prefetching) would win back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import breakdown, gpu_activity
from nsight_lab.recipe.analysis.parts import concat_with_rank, to_table
from nsight_lab.recipe.display import human_ns

SPEC = RecipeSpec(
    name="comm_comp_overlap",
    display_name="Communication/Computation Overlap",
    description=(
        "Per rank and device: communication (NCCL kernel) time, the part overlapped by compute "
        "kernels, the exposed rest, and the overlap in %."
    ),
    tables=("kernels",),
    columns={"kernels": gpu_activity.OPS_READS["kernels"]},
    notebook="overlap.ipynb",
    question="How much of each rank's communication runs hidden behind computation?",
    sources=("nsys", "kineto"),
    counterpart="HTA get_comm_comp_overlap",
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    ops = gpu_activity.gpu_ops(ctx.trace.tables, memops=False)
    return {"overlap": to_table(breakdown.comm_comp_overlap(ops))}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return {"overlap": concat_with_rank(parts, "overlap", rank_first=True)}


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    rows = [r for r in tables["overlap"].to_pylist() if r["Communication (ns)"]]
    if not rows:
        return "No communication (NCCL) kernels in these reports."
    comm = sum(r["Communication (ns)"] for r in rows)
    exposed = sum(r["Exposed (ns)"] for r in rows)
    worst = min(rows, key=lambda r: r["Overlap (%)"])
    return (
        f"{100 * (comm - exposed) / comm:.1f}% of {human_ns(comm)} of communication overlaps "
        f"compute; least on rank {worst['Rank']} device {worst['Device ID']} "
        f"({worst['Overlap (%)']:.1f}%)."
    )
