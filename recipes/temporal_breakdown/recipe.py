"""temporal_breakdown: each rank's GPU time split into compute, communication, memory, idle.

Per process and device, every stream merged, over the device's span (first to last
operation): time any compute kernel ran is compute; time only NCCL kernels ran is
communication; time only memcpy/memset ran is memory; the rest is idle. The four add
up to the span. Ranks side by side show which one computes less and waits more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis import breakdown, gpu_activity
from nsight_lab.recipe.analysis.parts import concat_with_rank, to_table

SPEC = RecipeSpec(
    name="temporal_breakdown",
    display_name="Temporal Breakdown",
    description=(
        "Per rank and device: time in compute kernels, communication (NCCL) kernels, memory "
        "operations and idle, in ns and % of the device's active span."
    ),
    tables=("kernels", "memops"),
    columns=gpu_activity.OPS_READS,
    notebook="breakdown.ipynb",
    question="How much of each rank's GPU time is compute, communication, memory and idle?",
    sources=("nsys", "kineto"),
    counterpart="HTA get_temporal_breakdown",
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    ops = gpu_activity.gpu_ops(ctx.trace.tables)
    return {"breakdown": to_table(breakdown.temporal(ops))}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return {"breakdown": concat_with_rank(parts, "breakdown", rank_first=True)}


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    rows = tables["breakdown"].to_pylist()
    if not rows:
        return "No GPU operations in these reports."
    idle = max(rows, key=lambda r: r["Idle (%)"])
    compute = sum(r["Compute (ns)"] for r in rows) / max(1, sum(r["Span (ns)"] for r in rows))
    return (
        f"Over {len(rows)} rank/device pairs, compute kernels fill {100 * compute:.1f}% of the "
        f"GPU span; the idlest is rank {idle['Rank']} device {idle['Device ID']} at "
        f"{idle['Idle (%)']:.1f}% idle."
    )
