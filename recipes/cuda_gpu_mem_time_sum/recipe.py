"""cuda_gpu_mem_time_sum: GPU time of memory copies and sets, by operation.

Operations are labelled as nsys labels them (`[CUDA memcpy Host-to-Device]`,
`[CUDA memset]`, ...) and the count column is `Count`, as in nsys's report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.cuda import operation_labels
from nsight_lab.recipe.stats import key_durations, reduce_summaries

SPEC = RecipeSpec(
    name="cuda_gpu_mem_time_sum",
    display_name="CUDA GPU MemOps Summary (by Time)",
    description=(
        "Statistics of the GPU time of memory operations (memcpy, memset), grouped by "
        "operation, over all reports and per report."
    ),
    tables=("memops",),
    columns={"memops": ("start", "end", "kind", "copy_kind")},
    notebook="stats.ipynb",
    question="How much GPU time do memory copies and sets take, by kind?",
    sources=("nsys", "kineto"),
    counterpart="nsys cuda_gpu_mem_time_sum",
    aliases=("gpumemtimesum",),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    memops = ctx.trace.tables["memops"]
    labels = operation_labels(memops)
    return {"durations": key_durations(labels, pc.subtract(memops["end"], memops["start"]))}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    out = reduce_summaries(
        [(info, tables["durations"]) for info, tables in parts], key_column="Operation"
    )
    return {
        name: table.rename_columns(["Count" if c == "Instances" else c for c in table.column_names])
        for name, table in out.items()
    }
