"""cuda_memset_sync: memsets that block the host.

A memset is flagged when the API that launched it (joined on pid and correlation id)
is synchronous (``cudaMemset`` without ``Async``), or when it sets pinned host memory
or a Unified Memory region, where even ``cudaMemsetAsync`` makes the host wait:
nsys's rule for this recipe. ``Reason`` says which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.cuda import COPY_READS, flag_memsets, merge_copy_parts
from nsight_lab.recipe.display import fmt_number

SPEC = RecipeSpec(
    name="cuda_memset_sync",
    display_name="CUDA Synchronous Memset",
    description=(
        "Memsets that block the calling CPU thread: launched by a synchronous API, or "
        "on pinned host memory or a Unified Memory region."
    ),
    tables=("memops", "api"),
    columns=COPY_READS,
    notebook="stats.ipynb",
    question="Which memsets made the host wait (synchronous calls, pinned or managed memory)?",
    sources=("nsys", "kineto"),
    counterpart="nsys cuda_memset_sync",
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    rows, kinds = flag_memsets(ctx.trace.tables["memops"], ctx.trace.tables["api"])
    return {"rows": rows, "kinds": kinds}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    rows, kinds = merge_copy_parts(
        [(info.index, info.name, t["rows"], t["kinds"]) for info, t in parts],
        group=("API Name", "Memory Kind"),
    )
    return {"memset_sync": rows, "memset_kinds": kinds}


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    rows, kinds = tables["memset_sync"], tables["memset_kinds"]
    total = sum(kinds["Count"].to_pylist())
    if rows.num_rows == 0:
        return f"None of the {fmt_number(total)} memsets blocked the host."
    return (
        f"**{fmt_number(rows.num_rows)} of {fmt_number(total)} memsets** blocked the host "
        f"({fmt_number(sum(rows['Duration (ns)'].to_pylist()))} ns of GPU time)."
    )
