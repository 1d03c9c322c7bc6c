"""cuda_memcpy_async: asynchronous copies that use pageable host memory.

CUDA stages pageable memory through a pinned buffer, so such copies block the host
and overlap nothing. What our tables let us detect: a copy is flagged when the API
that launched it (joined on pid and correlation id) has ``Async`` in its name and its
source or destination memory kind is ``Pageable``. Copies whose memory kinds are
unknown (some Kineto traces) cannot be flagged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.cuda import COPY_READS, flag_copies, merge_copy_parts

SPEC = RecipeSpec(
    name="cuda_memcpy_async",
    display_name="CUDA Async Memcpy with Pageable Memory",
    description="Asynchronous memory copies (cudaMemcpyAsync and friends) whose host buffer is pageable, which makes them synchronous in practice.",
    tables=("memops", "api"),
    columns=COPY_READS,
    notebook="stats.ipynb",
    question="Which asynchronous copies use pageable memory and so block the host?",
    sources=("nsys", "kineto"),
    counterpart="nsys cuda_memcpy_async",
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    rows, kinds = flag_copies(ctx.trace.tables["memops"], ctx.trace.tables["api"], "async_pageable")
    return {"rows": rows, "kinds": kinds}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    rows, kinds = merge_copy_parts(
        [(info.index, info.name, tables["rows"], tables["kinds"]) for info, tables in parts]
    )
    return {"memcpy_async": rows, "memcpy_kinds": kinds}
