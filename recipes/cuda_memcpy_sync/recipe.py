"""cuda_memcpy_sync: copies performed synchronously with respect to the host.

A copy is flagged when the API that launched it (joined on pid and correlation id)
is a copy call without ``Async`` (``cudaMemcpy``, ``cudaMemcpy2D``, ``cuMemcpyHtoD``...):
the calling thread blocks until it is done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.cuda import COPY_READS, flag_copies, merge_copy_parts

SPEC = RecipeSpec(
    name="cuda_memcpy_sync",
    display_name="CUDA Synchronous Memcpy",
    description="Memory copies launched by synchronous copy APIs (cudaMemcpy without Async), which block the calling CPU thread.",
    tables=("memops", "api"),
    columns=COPY_READS,
    notebook="stats.ipynb",
    question="Which copies were synchronous with the host?",
    sources=("nsys", "kineto"),
    counterpart="nsys cuda_memcpy_sync",
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    rows, kinds = flag_copies(ctx.trace.tables["memops"], ctx.trace.tables["api"], "sync")
    return {"rows": rows, "kinds": kinds}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    rows, kinds = merge_copy_parts(
        [(info.index, info.name, tables["rows"], tables["kinds"]) for info, tables in parts]
    )
    return {"memcpy_sync": rows, "memcpy_kinds": kinds}
