"""cuda_api_sync: CUDA calls that make the host wait for the GPU.

Synchronising calls are the explicit waits (device, stream, event synchronise and
query) and copies/sets without `Async` (synchronous with respect to the host); see
`nsight_lab.recipe.cuda.is_sync_api`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.cuda import is_sync_api, strip_api_version
from nsight_lab.recipe.stats import key_durations, reduce_summaries

SPEC = RecipeSpec(
    name="cuda_api_sync",
    display_name="CUDA Synchronization APIs",
    description=(
        "Total host time per CUDA API call that synchronises with the GPU "
        "(cudaDeviceSynchronize, cudaStreamSynchronize, cudaEventSynchronize, synchronous "
        "cudaMemcpy/cudaMemset, and their driver equivalents)."
    ),
    tables=("api",),
    columns={"api": ("start", "end", "name")},
    notebook="stats.ipynb",
    question="Which CUDA calls made the host wait for the GPU, and for how long?",
    sources=("nsys", "kineto"),
    counterpart="nsys cuda_api_sync",
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    api = ctx.trace.tables["api"]
    names = strip_api_version(api["name"])
    uniques = pc.unique(names).to_pylist()
    sync = pa.array([n for n in uniques if n is not None and is_sync_api(n)], pa.string())
    keep = pc.is_in(names, value_set=sync)
    durations = pc.subtract(api["end"], api["start"])
    return {"durations": key_durations(names.filter(keep), durations.filter(keep))}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return reduce_summaries([(info, tables["durations"]) for info, tables in parts])
