"""cuda_api_sum: host time spent in each CUDA runtime and driver API call.

Names lose their ABI version suffix (`cudaMemcpy_v3020` -> `cudaMemcpy`) by nsys's
rule (`_v` and four characters), and the count column is `Num Calls`, as `nsys stats`
prints them, so results compare across tools and CUDA versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.cuda import strip_api_version
from nsight_lab.recipe.stats import key_durations, reduce_summaries

SPEC = RecipeSpec(
    name="cuda_api_sum",
    display_name="CUDA API Summary",
    description=(
        "Statistics of the host time spent in each CUDA runtime and driver API function, "
        "over all reports and per report."
    ),
    tables=("api",),
    columns={"api": ("start", "end", "name")},
    notebook="stats.ipynb",
    question="Which CUDA API calls cost the host the most time?",
    sources=("nsys", "kineto"),
    counterpart="nsys cuda_api_sum",
    aliases=("cudaapisum",),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    api = ctx.trace.tables["api"]
    names = strip_api_version(api["name"])
    return {"durations": key_durations(names, pc.subtract(api["end"], api["start"]))}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return reduce_summaries(
        [(info, tables["durations"]) for info, tables in parts], count_column="Num Calls"
    )
