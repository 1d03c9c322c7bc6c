"""cuda_gpu_kern_sum: time spent in each CUDA kernel, in the ``nsys stats`` layout.

Kernels are grouped by demangled name (as nsys does by default) or, with
``--base``, by the short name, which folds template instantiations together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.stats import key_durations, reduce_summaries

SPEC = RecipeSpec(
    name="cuda_gpu_kern_sum",
    display_name="CUDA GPU Kernel Summary",
    description=(
        "Total, average, median, min, max and standard deviation of the GPU time of each "
        "CUDA kernel, over all reports and per report. Start here to find the kernels that "
        "dominate GPU time."
    ),
    tables=("kernels",),
    columns={"kernels": ("start", "end", "name", "short_name")},
    notebook="stats.ipynb",
    question="Which CUDA kernels take the most GPU time?",
    sources=("nsys", "kineto"),
    counterpart="nsys cuda_gpu_kern_sum",
    aliases=("gpukernsum",),
    args=(
        Arg(
            "base",
            type=bool,
            default=False,
            help="Group by the kernel's short (base) name instead of its demangled name.",
        ),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    kernels = ctx.trace.tables["kernels"]
    names = kernels["short_name" if args.get("base") else "name"]
    return {"durations": key_durations(names, pc.subtract(kernels["end"], kernels["start"]))}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return reduce_summaries([(info, tables["durations"]) for info, tables in parts])
