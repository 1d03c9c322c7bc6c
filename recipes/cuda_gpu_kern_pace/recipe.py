"""cuda_gpu_kern_pace: the rhythm of one kernel, instance by instance.

For the kernel called `--name` (demangled or short name), each instance's start,
end and duration, and the time since the previous instance on the same report:
`Delta (ns)` from the previous end (the gap) and `Period (ns)` from the previous
start. Both are null for the first instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from nsight_lab.recipe import Arg, RecipeSpec, ReportContext, ReportInfo
from nsight_lab.recipe.analysis.pace import describe_pace, pace_table, reduce_pace

SPEC = RecipeSpec(
    name="cuda_gpu_kern_pace",
    display_name="CUDA GPU Kernel Pace",
    description=(
        "Start, end, duration and the gap before every instance of one CUDA kernel, per "
        "report, to see whether it runs at a steady pace or stalls."
    ),
    tables=("kernels",),
    columns={"kernels": ("start", "end", "name", "short_name", "device_id", "stream_id")},
    notebook="pace.ipynb",
    question="Does one kernel run at a steady pace, or does it stall between instances?",
    sources=("nsys", "kineto"),
    counterpart="nsys cuda_gpu_kern_pace",
    args=(
        Arg("name", type=str, required=True, help="Kernel name (demangled or short) to follow."),
        Arg(
            "base",
            type=bool,
            default=False,
            help="Show the short name in the output instead of the demangled one.",
        ),
    ),
)


def map_report(ctx: ReportContext, args: Mapping[str, Any]) -> dict[str, pa.Table]:
    kernels = ctx.trace.tables["kernels"]
    wanted = args["name"]
    match = pc.or_(
        pc.equal(kernels["name"].cast(pa.string()), wanted),
        pc.equal(kernels["short_name"].cast(pa.string()), wanted),
    )
    rows = kernels.filter(pc.fill_null(match, False)).sort_by(
        [("start", "ascending"), ("end", "ascending")]
    )
    table = pace_table(
        ctx.report,
        rows["start"].to_numpy(),
        rows["end"].to_numpy(),
        rows["short_name" if args.get("base") else "name"],
        {"Device ID": rows["device_id"], "Stream ID": rows["stream_id"]},
    )
    return {"pace": table}


def reduce(
    parts: Sequence[tuple[ReportInfo, dict[str, pa.Table]]], args: Mapping[str, Any]
) -> dict[str, pa.Table]:
    return reduce_pace([t["pace"] for _, t in parts])


def summarize(tables: Mapping[str, pa.Table], args: Mapping[str, Any]) -> str:
    return describe_pace(tables, f"kernel `{args['name']}`")
